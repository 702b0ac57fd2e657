"""The run file: how ``lbplay ctl`` finds the lab that ``lbplay serve`` runs.

``lbplay serve`` writes ``{"pid", "proxy_url", "admin_url", "token"}`` to
``<user state dir>/lbplay/serve.json`` (via platformdirs), readable only by its
user because the token lets a client change the lab, and removes it on exit.
Writes are atomic — a temporary file in the same folder, then ``os.replace`` — so a
reader never sees half a file. ``LBPLAY_RUNFILE`` overrides the path (tests use it).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from platformdirs import user_state_dir

from lbplay.errors import AdminUnreachable


@dataclass(frozen=True)
class RunInfo:
    """Where a running lab listens."""

    pid: int
    proxy_url: str
    admin_url: str
    token: str


def runfile_path() -> Path:
    """The run file's path (``LBPLAY_RUNFILE`` wins)."""
    override = os.environ.get("LBPLAY_RUNFILE")
    if override:
        return Path(override)
    return Path(user_state_dir("lbplay")) / "serve.json"


def write_runfile(info: RunInfo, path: Path | None = None) -> Path:
    """Write ``info`` atomically, readable by this user only."""
    path = path or runfile_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".serve-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(info), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def read_runfile(path: Path | None = None) -> RunInfo:
    """The running lab's addresses; ``AdminUnreachable`` if none is recorded."""
    path = path or runfile_path()
    try:
        data = json.loads(path.read_text())
        return RunInfo(
            pid=int(data["pid"]),
            proxy_url=str(data["proxy_url"]),
            admin_url=str(data["admin_url"]),
            token=str(data["token"]),
        )
    except FileNotFoundError:
        raise AdminUnreachable(
            "no running lab found; start one with 'lbplay serve' (or pass --admin URL)"
        ) from None
    except (OSError, ValueError, KeyError, TypeError):
        raise AdminUnreachable(
            f"the run file {path} is unreadable; restart 'lbplay serve'"
        ) from None


def remove_runfile(pid: int, path: Path | None = None) -> None:
    """Remove the run file if it still belongs to process ``pid``."""
    path = path or runfile_path()
    try:
        if read_runfile(path).pid == pid:
            path.unlink(missing_ok=True)
    except AdminUnreachable:
        pass
