"""``atomic.write_atomic``: whole or nothing, with the mode a shell's ``>`` would give."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbplay.atomic import write_atomic


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_0666_less_the_umask(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "nginx.conf"
    write_atomic(path, "events {}\n")
    assert path.read_text() == "events {}\n"
    assert mode(path) == 0o644  # not mkstemp's 0600


def test_an_existing_file_keeps_its_mode(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "notes.md"
    path.write_text("old")
    path.chmod(0o640)
    write_atomic(path, "new")
    assert path.read_text() == "new"
    assert mode(path) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    path.write_text("kept")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "\ud800")  # cannot be written as UTF-8: fails mid-write
    assert path.read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.json"]


def test_missing_folders_are_made_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.txt"
    with pytest.raises(FileNotFoundError):
        write_atomic(path, "x")
    assert not (tmp_path / "a").exists()
    write_atomic(path, "x", parents=True)
    assert path.read_text() == "x"


def test_a_mode_given_wins_over_the_old_files_and_the_umask(
    tmp_path: Path, umask_022: None
) -> None:
    path = tmp_path / "serve.json"
    write_atomic(path, "{}", mode=0o600)  # a secret: nobody else reads it
    assert mode(path) == 0o600
    path.chmod(0o644)
    write_atomic(path, "{}", mode=0o600)
    assert mode(path) == 0o600


def test_bytes_are_written_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    data = b"\x89PNG\r\n\x1a\n\x00\xff"
    write_atomic(path, data)
    assert path.read_bytes() == data
    write_atomic(path, "café\n")  # text: UTF-8
    assert path.read_bytes() == "café\n".encode()
