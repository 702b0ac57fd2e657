"""Where lbplay's shipped files are: ``lessons/`` and ``assets/``.

In a checkout they are top-level folders; in an installed wheel the build copies
them into the package as ``lbplay/_data/<name>`` (see pyproject's force-include).
This module looks in both places, so the same code works either way. It imports
nothing but the standard library, so it can be checked in a bare environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from lbplay.errors import LbplayError

_PACKAGE = Path(__file__).resolve().parent
SHIPPED = ("lessons", "assets")


def data_dir(name: str) -> Path:
    """The folder of shipped files called ``name`` ("lessons" or "assets")."""
    if name not in SHIPPED:
        raise ValueError(f"unknown data folder {name!r}")
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise LbplayError(f"lbplay's {name} folder is missing; reinstall lbplay")


def lessons_dir() -> Path:
    """Lesson content (Markdown + TOML); ``LBPLAY_LESSONS`` points elsewhere (a
    teacher's own course, or a test's)."""
    override = os.environ.get("LBPLAY_LESSONS")
    if override:
        return Path(override)
    return data_dir("lessons")


def assets_dir() -> Path:
    """Screenshots and other static files."""
    return data_dir("assets")
