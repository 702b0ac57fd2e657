"""Progress: kept atomically; a corrupt or newer file is set aside with a warning,
never erased and never a crash."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lbplay.course import progress as progress_module
from lbplay.course.progress import VERSION, Progress, Store


def store(tmp_path: Path, warnings: list[str]) -> Store:
    return Store(tmp_path / "progress.json", warn=warnings.append)


def test_progress_round_trips(tmp_path: Path) -> None:
    warnings: list[str] = []
    saved = Progress(last="weights", quiz={"asked": 3})
    mine = saved.lesson("weights")
    mine.done = [0, 1, 2]
    mine.current = 3
    mine.predictions, mine.predictions_right = 2, 1
    mine.measured["shares.share.s1"] = 0.49
    store(tmp_path, warnings).save(saved)
    loaded = store(tmp_path, warnings).load()
    assert loaded == saved
    assert json.loads((tmp_path / "progress.json").read_text())["version"] == VERSION
    assert warnings == []


def test_no_file_is_a_fresh_start_without_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    assert store(tmp_path, warnings).load() == Progress()
    assert warnings == []


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[1, 2, 3]",
        '{"version": 1, "lessons": {"weights": {"done": "all"}}}',
        '{"version": 1, "lessons": {"weights": 7}}',
        '{"version": 1, "quiz": []}',
    ],
)
def test_a_corrupt_file_is_set_aside_not_erased(tmp_path: Path, text: str) -> None:
    warnings: list[str] = []
    (tmp_path / "progress.json").write_text(text)
    assert store(tmp_path, warnings).load() == Progress()
    [aside] = tmp_path.glob("progress.json.corrupt-*")
    assert aside.read_text() == text
    assert not (tmp_path / "progress.json").exists()
    [warning] = warnings
    assert "set aside as progress.json.corrupt-" in warning
    assert "\n" not in warning


def test_a_newer_file_is_set_aside_and_kept_whole(tmp_path: Path) -> None:
    warnings: list[str] = []
    text = json.dumps({"version": VERSION + 1, "lessons": {"x": {"done": [0]}}, "new": True})
    (tmp_path / "progress.json").write_text(text)
    assert store(tmp_path, warnings).load() == Progress()
    [aside] = tmp_path.glob("progress.json.newer-*")
    assert aside.read_text() == text
    assert f"newer lbplay (version {VERSION + 1})" in warnings[0]


def test_a_save_that_fails_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    old = Progress(last="weights")
    store(tmp_path, warnings).save(old)
    before = (tmp_path / "progress.json").read_text()

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(progress_module.os, "fsync", crash)
    with pytest.raises(OSError, match="No space left"):
        store(tmp_path, warnings).save(Progress(last="other"))
    assert (tmp_path / "progress.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]  # no temp left behind


def test_the_path_follows_lbplay_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBPLAY_PROGRESS", str(tmp_path / "mine.json"))
    assert Store().path == tmp_path / "mine.json"
    monkeypatch.delenv("LBPLAY_PROGRESS")
    assert Store().path.name == "progress.json"
    assert "lbplay" in str(Store().path)


def test_an_unreadable_file_warns_and_starts_afresh(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        path = tmp_path / "progress.json"
        path.mkdir()  # root reads any file; a folder in its place cannot be read
    else:
        path = tmp_path / "progress.json"
        path.write_text("{}")
        path.chmod(0)
    warnings: list[str] = []
    assert Store(path, warn=warnings.append).load() == Progress()
    assert "cannot read" in warnings[0]
    assert path.exists()
