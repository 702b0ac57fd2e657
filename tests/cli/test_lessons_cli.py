"""``lbplay lessons`` and ``lbplay lessons check`` as a user meets them."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from lbplay.course.catalog import load_course
from lbplay.course.progress import Progress, Store
from lbplay.learn import choose
from tests.cli.test_cli import run

FIXTURES = Path(__file__).parent.parent / "course" / "fixtures"


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The good fixture course as the shipped lessons, progress in a temp folder."""
    folder = tmp_path / "lessons"
    shutil.copytree(FIXTURES / "good", folder)
    monkeypatch.setenv("LBPLAY_LESSONS", str(folder))
    monkeypatch.setenv("LBPLAY_PROGRESS", str(tmp_path / "progress.json"))
    return folder


def test_lessons_json_lists_each_lesson_with_progress(
    capsys: pytest.CaptureFixture[str], course: Path, tmp_path: Path
) -> None:
    progress = Progress()
    progress.lesson("weights").done = [0, 1]
    Store(tmp_path / "progress.json").save(progress)
    code, out, err = run(capsys, "lessons", "--json")
    assert (code, err) == (0, "")
    [row] = json.loads(out)
    assert row["id"] == "weights"
    assert row["title"] == "Weights, for the engine's tests"
    assert row["syllabus"] == ["Weighted round robin"]
    assert row["misconceptions"] == [4]
    assert (row["steps"], row["done"], row["finished"]) == (6, 2, False)


def test_lessons_table_shows_progress(capsys: pytest.CaptureFixture[str], course: Path) -> None:
    code, out, _ = run(capsys, "lessons")
    assert code == 0
    assert "Weights, for the engine's tests" in out
    assert "0/6" in out


def test_a_corrupt_progress_file_is_one_warning(
    capsys: pytest.CaptureFixture[str], course: Path, tmp_path: Path
) -> None:
    (tmp_path / "progress.json").write_text("{broken")
    code, out, err = run(capsys, "lessons", "--json")
    assert code == 0
    assert json.loads(out)[0]["done"] == 0
    assert err.count("\n") == 1
    assert err.startswith("lbplay: warning: progress file")
    assert list(tmp_path.glob("progress.json.corrupt-*"))


def test_a_broken_lesson_is_one_line_with_file_and_line(
    capsys: pytest.CaptureFixture[str], course: Path
) -> None:
    path = course / "01-weights.toml"
    path.write_text(
        path.read_text().replace('solution = ["weight s3 5"]', 'solution = ["wieght s3 5"]')
    )
    code, _out, err = run(capsys, "lessons", "check")
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "wieght" in text)
    assert code == 2
    assert err.startswith(f"lbplay: error: {path}:{line}: solution: 'wieght s3 5'")
    assert err.count("\n") == 1


def test_lessons_check_validates_and_runs(capsys: pytest.CaptureFixture[str], course: Path) -> None:
    code, out, _ = run(capsys, "lessons", "check")
    assert code == 0
    assert "1 lessons valid" in out
    code, out, _ = run(capsys, "lessons", "check", "--run", "weights")
    assert code == 0
    assert "pass 01-weights" in out
    assert "1 of 1 lessons played on a real Lab" in out


def test_lessons_check_run_fails_a_lesson_that_teaches_something_false(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBPLAY_LESSONS", str(FIXTURES / "false"))
    code, out, err = run(capsys, "lessons", "check", "--run")
    assert code == 1
    assert "FAIL 01-false-claim" in out
    assert "01-false-claim.toml: step 2 (observe, line 19): not as expected" in out
    assert "lessons that did not do what they teach: 01-false-claim" in err


def test_an_unknown_lesson_is_named(capsys: pytest.CaptureFixture[str], course: Path) -> None:
    code, _, err = run(capsys, "lessons", "check", "--run", "nope")
    assert code == 2
    assert "no lesson 'nope' (lessons: 1 weights)" in err


def test_learn_opens_the_lesson_asked_for_else_resumes(course: Path) -> None:
    [weights] = load_course(course)
    other = replace(weights, id="other", number=2)
    lessons = [weights, other]
    progress = Progress()
    assert choose(lessons, None, progress) is weights  # a new learner starts at 1
    assert choose(lessons, "2", progress) is other
    assert choose(lessons, "other", progress) is other
    progress.last = "other"
    assert choose(lessons, None, progress) is other  # back where they left
    progress.lesson("other").finished = True
    assert choose(lessons, None, progress) is weights  # the first not finished
    progress.lesson("weights").finished = True
    assert choose(lessons, None, progress) is weights  # all done: from the start
    assert progress.lessons.keys() == {"other", "weights"}
