"""The run file: how ``lbplay ctl`` finds the labs that are running.

Every running lab — ``lbplay serve`` or the dashboard — records itself in
``<user state dir>/lbplay/serve.json`` (via platformdirs): its process id, what it is,
when it started, its proxy and admin URLs, and the token that lets a client change
it. The file is readable only by its user, because the token can kill servers. A lab
removes its entry when it stops; an entry whose process is gone is ignored.

``ctl`` talks to the newest live lab unless told otherwise (``--admin URL``); when
more than one is running, ``choose`` says which it picked, so a learner with a
dashboard and a ``serve`` open knows which lab their commands change.

Writes are atomic (``atomic.write_atomic``, mode 0600: the file holds tokens) and
each change reads, edits and replaces the file under an exclusive lock, so two labs
starting at once cannot lose each other's entry. ``LBPLAY_RUNFILE`` overrides the
path (tests use it).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from platformdirs import user_state_dir

from lbplay.atomic import write_atomic
from lbplay.errors import AdminUnreachable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no lock, the writes stay atomic
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class RunInfo:
    """Where a running lab listens."""

    pid: int
    proxy_url: str
    admin_url: str
    token: str
    #: "serve" or "dashboard".
    kind: str = "serve"
    #: When it started (wall clock, seconds since the epoch).
    started: float = field(default_factory=time.time)

    def describe(self) -> str:
        """``the dashboard (pid 4242, admin http://127.0.0.1:39011)``."""
        what = "the dashboard" if self.kind == "dashboard" else "lbplay serve"
        return f"{what} (pid {self.pid}, admin {self.admin_url})"


def runfile_path() -> Path:
    """The run file's path (``LBPLAY_RUNFILE`` wins)."""
    override = os.environ.get("LBPLAY_RUNFILE")
    if override:
        return Path(override)
    return Path(user_state_dir("lbplay")) / "serve.json"


def alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (one of this user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> list[RunInfo]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    entries = data.get("labs", []) if isinstance(data, dict) and "labs" in data else [data]
    labs = []
    for entry in entries:
        labs.append(
            RunInfo(
                pid=int(entry["pid"]),
                proxy_url=str(entry["proxy_url"]),
                admin_url=str(entry["admin_url"]),
                token=str(entry["token"]),
                kind=str(entry.get("kind", "serve")),
                started=float(entry.get("started", 0.0)),
            )
        )
    return labs


def _write(path: Path, labs: list[RunInfo]) -> None:
    if not labs:
        path.unlink(missing_ok=True)
        return
    write_atomic(path, json.dumps({"labs": [asdict(lab) for lab in labs]}), mode=0o600)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s lock file while the run file is changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock = path.with_name(path.name + ".lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_runfile(info: RunInfo, path: Path | None = None) -> Path:
    """Record ``info`` (replacing any entry of its process, dropping dead ones)."""
    path = path or runfile_path()
    with _locked(path):
        try:
            labs = _read(path)
        except (OSError, ValueError, KeyError, TypeError):
            labs = []  # an unreadable file is replaced: it only ever held addresses
        labs = [lab for lab in labs if lab.pid != info.pid and alive(lab.pid)]
        _write(path, [*labs, info])
    return path


def running_labs(path: Path | None = None) -> list[RunInfo]:
    """The live labs recorded, oldest first; ``AdminUnreachable`` if the file is bad."""
    path = path or runfile_path()
    try:
        labs = _read(path)
    except (OSError, ValueError, KeyError, TypeError):
        raise AdminUnreachable(
            f"the run file {path} is unreadable; restart 'lbplay serve' or the dashboard"
        ) from None
    return sorted((lab for lab in labs if alive(lab.pid)), key=lambda lab: lab.started)


def read_runfile(path: Path | None = None) -> RunInfo:
    """The newest running lab; ``AdminUnreachable`` if none is recorded."""
    labs = running_labs(path)
    if not labs:
        raise AdminUnreachable(
            "no running lab found; start one with 'lbplay' or 'lbplay serve' (or pass --admin URL)"
        )
    return labs[-1]


def remove_runfile(pid: int, path: Path | None = None) -> None:
    """Remove process ``pid``'s entry (and the file, once no lab is left)."""
    path = path or runfile_path()
    with _locked(path):
        try:
            labs = _read(path)
        except (OSError, ValueError, KeyError, TypeError):
            return
        _write(path, [lab for lab in labs if lab.pid != pid and alive(lab.pid)])
