"""Reading lesson files: a mistake is reported with its file, its line and what is
wrong; a good lesson reads into steps; the manifest keeps the course in order."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lbplay.course import catalog
from lbplay.course.lesson import LessonError, fill_recap, load, unfilled

GOOD = Path(__file__).parent / "fixtures" / "good"

HEAD = """\
title = "A lesson"
goals = ["a goal"]
syllabus = ["round-robin"]
misconceptions = [3]

[setup]
algorithm = "round_robin"
backends = 3
"""


def broken(tmp_path: Path, steps: str, head: str = HEAD) -> LessonError:
    path = tmp_path / "01-broken.toml"
    path.write_text(head + steps)
    with pytest.raises(LessonError) as caught:
        load(path, "broken", 1)
    return caught.value


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_good_fixture_reads_into_its_steps() -> None:
    lesson = load(GOOD / "01-weights.toml", "weights", 1)
    assert [s.kind for s in lesson.steps] == [
        "read",
        "predict",
        "observe",
        "do",
        "observe",
        "predict",
    ]
    do = lesson.steps[3]
    assert [c.text() for c in do.solution] == ["weight s3 5"]
    assert do.hints[0].startswith("Select s3")
    assert do.timeout == 10
    assert lesson.setup.algorithm == "weighted_round_robin"
    assert [b.weight for b in lesson.setup.backends] == [5, 3, 2]
    assert lesson.slug == "01-weights"


@pytest.mark.parametrize(
    ("steps", "needle", "message"),
    [
        ('[[steps]]\nkind = "lecture"\ntext = "x"\n', 'kind = "lecture"', "kind must be one of"),
        (
            '[[steps]]\nkind = "read"\ntext = "x"\n\n[[steps]]\nkind = "read"\ncolour = 1\n',
            "colour = 1",
            "step 2 (read) has no key 'colour'",
        ),
        (
            '[[steps]]\nkind = "do"\ntext = "x"\nsolution = ["explode s2"]\n'
            'check = { event = "health" }\nhints = ["h"]\n',
            "solution =",
            "solution: 'explode s2'",
        ),
        (
            '[[steps]]\nkind = "do"\ntext = "x"\nsolution = ["kill s2"]\n'
            'check = { event = "health", backend = "s7" }\nhints = ["h"]\n',
            "check =",
            "names backend 's7', which the lesson's lab does not have",
        ),
        (
            '[[steps]]\nkind = "do"\ntext = "x"\nsolution = ["kill s2"]\n'
            'check = { event = "health", mood = "sad" }\nhints = ["h"]\n',
            "check =",
            "a health event has no field 'mood'",
        ),
        (
            '[[steps]]\nkind = "do"\ntext = "x"\nsolution = ["kill s2"]\n'
            'check = { event = "health" }\n',
            "[[steps]]",  # the step's own line, for a key it lacks
            "hints must name at least one",
        ),
        (
            '[[steps]]\nkind = "observe"\ntext = "x"\nid = "look"\nwait = { minutes = 2 }\n',
            "wait =",
            "wait is { requests = N } or { seconds = S }",
        ),
        (
            '[[steps]]\nkind = "observe"\ntext = "x"\nid = "look"\n'
            'wait = { requests = 10 }\nshow = ["vibes"]\n',
            "show =",
            "no measure 'vibes'",
        ),
        (
            '[[steps]]\nkind = "predict"\ntext = "x"\nquestion = "detection"\n',
            "[[steps]]",
            "needs health checks",
        ),
    ],
)
def test_a_broken_step_is_reported_at_its_line(
    tmp_path: Path, steps: str, needle: str, message: str
) -> None:
    head = HEAD.replace("backends = 3\n", 'backends = 3\nhealth = "off"\n')
    error = broken(tmp_path, steps, head if "detection" in steps else HEAD)
    text = (head if "detection" in steps else HEAD) + steps
    assert error.line == line_of(text, needle)
    assert message in error.message
    assert str(error).startswith(f"{tmp_path / '01-broken.toml'}:{error.line}: ")


def test_the_lesson_head_is_checked(tmp_path: Path) -> None:
    step = '[[steps]]\nkind = "read"\ntext = "x"\n'
    assert (
        "no syllabus topic 'quantum'"
        in broken(tmp_path, step, HEAD.replace('["round-robin"]', '["quantum"]')).message
    )
    assert "numbers from 1 to 14" in broken(tmp_path, step, HEAD.replace("[3]", "[99]")).message
    bad_setup = broken(tmp_path, step, HEAD.replace('"round_robin"', '"round_robbin"'))
    assert bad_setup.line == 6  # the [setup] table
    assert "round_robbin" in bad_setup.message
    assert "a lesson needs [[steps]]" in broken(tmp_path, "").message
    invalid = broken(tmp_path, "title = ")
    assert "not valid TOML" in invalid.message
    assert invalid.line == len(HEAD.splitlines()) + 1  # Python 3.11 says it in words only


def test_the_recap_may_quote_only_what_an_observe_step_measures(tmp_path: Path) -> None:
    observe = '[[steps]]\nkind = "observe"\ntext = "x"\nid = "look"\nwait = { requests = 10 }\n'
    head = HEAD.replace("misconceptions = [3]", 'misconceptions = [3]\nrecap = "{seen.share.s1}"')
    assert "no observe step's id (look)" in broken(tmp_path, observe, head).message
    head = HEAD.replace("misconceptions = [3]", 'misconceptions = [3]\nrecap = "{look.joy}"')
    assert "no measure 'joy'" in broken(tmp_path, observe, head).message
    head = HEAD.replace("misconceptions = [3]", 'misconceptions = [3]\nrecap = "{oops}"')
    assert "placeholder lbplay cannot fill: {oops}" in broken(tmp_path, observe, head).message


def test_fill_recap_quotes_the_learners_numbers() -> None:
    measured = {"shares.share.s1": 0.4912, "tail.p99": 0.0412, "tail.requests": 200}
    recap = "s1 took {shares.share.s1:pct}; p99 {tail.p99:ms} over {tail.requests} requests"
    assert fill_recap(recap, measured) == "s1 took 49%; p99 41 ms over 200 requests"
    assert fill_recap("{late.share.s3:pct}", measured) == "—"
    # a sub-millisecond figure keeps its digits: it is often the point
    assert fill_recap("{hop.p50:ms}", {"hop.p50": 0.00062}) == "0.62 ms"
    # a pool's backends are named api-1, api-2: a recap can quote them
    assert fill_recap("{fixed.share.api-1:pct}", {"fixed.share.api-1": 0.25}) == "25%"
    # prose may use a dash; only a placeholder nothing filled is missing
    assert unfilled("s1 — {shares.share.s1:pct}, {late.p99:ms}", measured) == ["{late.p99:ms}"]


# -- the course's manifest ---------------------------------------------------------------------


def copy_good(tmp_path: Path) -> Path:
    folder = tmp_path / "lessons"
    shutil.copytree(GOOD, folder)
    return folder


def test_the_manifest_orders_the_course(tmp_path: Path) -> None:
    folder = copy_good(tmp_path)
    [lesson] = catalog.load_course(folder)
    assert lesson.number == 1
    assert catalog.find([lesson], "1") is lesson
    assert catalog.find([lesson], "weights") is lesson
    assert catalog.find([lesson], "01-weights") is lesson
    with pytest.raises(Exception, match="no lesson 'x' \\(lessons: 1 weights\\)"):
        catalog.find([lesson], "x")


def test_the_manifest_refuses_strays_gaps_and_misnumbered_files(tmp_path: Path) -> None:
    folder = copy_good(tmp_path)
    (folder / "notes.toml").write_text("")
    with pytest.raises(LessonError, match="not a lesson file name"):
        catalog.load_course(folder)
    (folder / "notes.toml").unlink()
    (folder / "02-extra.toml").write_text("")
    with pytest.raises(LessonError, match=r"'extra' is not in course\.toml"):
        catalog.load_course(folder)
    (folder / "02-extra.toml").unlink()
    shutil.copy(folder / "01-weights.toml", folder / "01-extra.toml")
    (folder / "course.toml").write_text('lessons = ["extra", "weights"]\n')
    with pytest.raises(LessonError, match=r"name it 02-weights\.toml"):
        catalog.load_course(folder)
    (folder / "course.toml").write_text('lessons = ["weights", "gone"]\n')
    (folder / "01-extra.toml").unlink()
    with pytest.raises(LessonError, match=r"'gone' has no file 02-gone\.toml"):
        catalog.load_course(folder)
