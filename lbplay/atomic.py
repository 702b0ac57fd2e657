"""Files written whole or not at all, with the permissions a plain write would give.

A file is written to a temporary name in the same folder, flushed to the disk, and
only then renamed over its path (``os.replace`` is atomic within a file system): a
full disk or a crash mid-write leaves the old file as it was, never half a new one.

The permissions are those of a shell's ``>``: a file that exists keeps its mode, a new
one gets 0666 less the umask (0644 as usual), unless the caller names a mode (0600 for
the run file, which holds the admin token). ``tempfile.mkstemp`` would make every file
0600: right for a secret, wrong for an exported nginx.conf or a chart to be shared.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

#: Tries at a free temporary name (each is 64 random bits: one is plenty).
_TRIES = 8


def write_atomic(
    path: Path, text: str | bytes, *, parents: bool = False, mode: int | None = None
) -> None:
    """Write ``text`` (UTF-8 if it is a str) to ``path`` whole or not at all; raise
    OSError if not.

    ``parents``: make the missing folders on the way (else a missing one is an error);
    ``mode``: the file's permissions whatever the umask and the old file's."""
    folder = path.parent
    if parents:
        folder.mkdir(parents=True, exist_ok=True)
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(path.stat().st_mode)
    fd, temp = _create(folder, path.name)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode() if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _create(folder: Path, name: str) -> tuple[int, Path]:
    """A new file next to ``name``, opened for writing; created with 0666 so that the
    umask decides its mode, as it would for a file written in place."""
    for _ in range(_TRIES):
        temp = folder / f".{name}.{secrets.token_hex(8)}.tmp"
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {folder / name}")
