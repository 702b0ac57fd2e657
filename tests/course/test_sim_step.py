"""An observe step at scale: a lesson runs the simulator in the learner's session,
keeps each figure per algorithm for the recap, and is checked like any step."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lbplay.course.lesson import LessonError, fill_recap, load
from lbplay.course.session import LessonSession
from lbplay.net.lab import Lab

HEAD = """\
title = "A lesson"
goals = ["a goal"]
syllabus = ["least-connections"]
misconceptions = [5]
recap = "random {scale.mean.random}, two choices {scale.p99.power_of_two_choices}"

[setup]
algorithm = "round_robin"
backends = 3
rate = 0.0
"""
STEP = """
[[steps]]
kind = "observe"
id = "scale"
text = "At scale."
sim = { servers = 200, load = 0.8, requests = 40000, compare = ["random", "power_of_two_choices"] }
show = ["mean", "p99"]
"""


def lesson_at(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "01-scale.toml"
    path.write_text(text)
    return load(path, "scale", 1)


async def test_the_sim_runs_in_the_session_and_fills_the_recap(tmp_path: Path) -> None:
    lesson = lesson_at(tmp_path, HEAD + STEP)
    [step] = lesson.steps
    assert step.sim is not None
    assert step.sim.servers == 200
    async with Lab(lesson.setup) as lab:
        session = LessonSession(lab, lesson)
        try:
            await session.begin(resume=False)
            async with asyncio.timeout(60):
                while not session.poll().done:
                    assert session.state.status.startswith("simulating at scale")
                    await asyncio.sleep(0.05)
            status = session.state.status
            assert "random: mean" in status
            assert "(theory as n → ∞: mean 5)" in status  # 1 / (1 - 0.8)
            measured = session.mine.measured
            assert measured["scale.p99.power_of_two_choices"] < measured["scale.p99.random"]
            recap = fill_recap(lesson.recap, measured)
            assert "—" not in recap
            assert recap.startswith("random ")
        finally:
            session.close()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('show = ["mean", "p99"]', 'show = ["vibes"]', "a sim shows mean, p50"),
        ("requests = 40000", "requests = 4000000", "a lesson step may make 3,000,000"),
        ('text = "At scale."', 'text = "At scale."\nwait = { requests = 10 }', "has no wait"),
        ("load = 0.8", "load = 7e9", "bad load"),
        ("servers = 200", "server = 200", "[sim] has no key 'server'"),
    ],
)
def test_a_bad_sim_step_says_where(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(LessonError) as caught:
        lesson_at(tmp_path, HEAD + STEP.replace(old, new))
    assert message in caught.value.message
    assert caught.value.line > 10
