"""Running lbplay as a user does: real processes with their own run file."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def environment(folder: Path) -> dict[str, str]:
    """The environment of a user whose run file lives in ``folder``."""
    return {
        **os.environ,
        "LBPLAY_RUNFILE": str(folder / "serve.json"),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "200",
    }


def lbplay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``lbplay ARGS`` in a new process, to completion."""
    return subprocess.run(
        [sys.executable, "-m", "lbplay", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@contextmanager
def serving(
    env: dict[str, str], *args: str
) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    """``lbplay serve --no-live ARGS`` running; yields it and its proxy and admin URLs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lbplay", "serve", "--no-live", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    urls: dict[str, str] = {}
    for line in process.stdout:
        key, _, value = line.partition(":")
        if key in ("proxy", "admin"):
            urls[key] = value.strip()
        if len(urls) == 2:
            break
    try:
        assert len(urls) == 2, process.stderr.read() if process.stderr else ""
        yield process, urls
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
