"""A lesson played on a real Lab: the session's moves, and the headless player that
``lbplay lessons check --run`` runs in CI."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lbplay.core.events import RequestCompleted, SessionLost
from lbplay.course.catalog import load_course
from lbplay.course.lesson import load
from lbplay.course.progress import Store
from lbplay.course.session import LessonSession
from lbplay.course.verify import play
from lbplay.net.lab import Lab

FIXTURES = Path(__file__).parent / "fixtures"


def weights_lesson():
    [lesson] = load_course(FIXTURES / "good")
    return lesson


async def until(session: LessonSession, done: bool = True, timeout: float = 10.0) -> None:
    """Poll as the lesson pane does, until the step's state is ``done``."""
    async with asyncio.timeout(timeout):
        while session.poll().done is not done:
            await asyncio.sleep(0.05)


async def test_the_good_lesson_plays_green_on_a_real_lab() -> None:
    report = await play(weights_lesson())
    assert report.passed, report.failure
    assert len(report.lines) == 6
    assert "the Lab served: s1 s2 s3 s1 s1 s2 s1 s3 s2 s1 (the same)" in report.lines[1]
    assert "the Lab took" in report.lines[5]


async def test_a_lesson_that_teaches_something_false_fails_at_its_step() -> None:
    [lesson] = load_course(FIXTURES / "false")
    report = await play(lesson)
    assert not report.passed
    assert report.failure.startswith("step 2 (observe, line 19): not as expected")
    assert "share.s1 33% over 60 requests (wanted at least 80%)" in report.failure


async def test_a_session_moves_only_when_the_lab_shows_the_step_happened(
    tmp_path: Path,
) -> None:
    lesson = weights_lesson()
    store = Store(tmp_path / "progress.json")
    async with Lab(lesson.setup) as lab:
        session = LessonSession(lab, lesson, store=store)
        try:
            await session.begin()
            assert session.step.kind == "read"
            assert session.next()
            # predict: cannot move on before answering and seeing it run
            assert not session.next()
            assert not session.answer("s1 s1 s1 s1 s1 s2 s2 s2 s3 s3").correct
            assert "s1 s2 s3 s1 s1 s2 s1 s3 s2 s1" in (await session.reveal())
            assert session.next()
            await until(session)  # observe 200 requests
            assert session.state.values["share.s1"] == pytest.approx(0.5, abs=0.06)
            assert session.next()
            # do: the check is not met until the Lab's weight really changes
            assert not session.poll().done
            assert not session.next()
            assert session.hint() == "Select s3 and press + three times."
            assert "palette" in session.hint()
            assert session.hint() == "solution: weight s3 5"
            await lab.apply("weight s3 5")
            await until(session)
            assert "backend.s3.weight is 5" in session.state.status
            saved = store.load().lessons["weights"]
            assert saved.done == [0, 1, 2, 3]
            assert saved.current == 3
            assert saved.predictions == 1
            assert saved.predictions_right == 0
            # back and forth keeps what was done
            session.back()
            assert session.state.done
            assert session.next()
            # restart: the Lab is the lesson's setup again, and progress starts over
            await session.restart()
            assert session.index == 0
            assert lab.snapshot().backend("s3").weight == 2
            assert store.load().lessons["weights"].done == []
        finally:
            session.close()


async def test_a_session_resumes_where_the_learner_left(tmp_path: Path) -> None:
    lesson = weights_lesson()
    store = Store(tmp_path / "progress.json")
    progress = store.load()
    progress.lesson("weights").current = 3
    store.save(progress)
    async with Lab(lesson.setup) as lab:
        session = LessonSession(lab, lesson, store=store, progress=store.load())
        try:
            await session.begin()
            assert session.index == 3
            assert session.step.kind == "do"
            assert store.load().last == "weights"
        finally:
            session.close()


async def test_an_observation_counts_lost_sessions_over_the_requests_it_shows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "01-window.toml"
    path.write_text(
        'title = "t"\ngoals = ["g"]\nsyllabus = ["sessions"]\n'
        '[setup]\nbackends = 2\nrate = 0.0\nlatency = { kind = "fixed", ms = 1.0 }\n'
        '[[steps]]\nkind = "observe"\nid = "o"\ntext = "Watch."\n'
        'wait = { requests = 5 }\nshow = ["session_losses"]\n'
    )
    lesson = load(path, "window", 1)

    def lost(at: float) -> SessionLost:
        return SessionLost(at=at, session="x", backend="s2", home="s1", reason="it lives on s1")

    def done(at: float) -> RequestCompleted:
        return RequestCompleted(
            at=at, client="127.0.0.1", method="GET", path="/", status=200, latency=0.001,
            backend="s1",
        )  # fmt: skip

    async with Lab(lesson.setup) as lab:
        session = LessonSession(lab, lesson)
        try:
            await session.begin(resume=False)
            # Three sessions lost early, then ten requests with one more loss among the
            # last five: the observation shows (and judges) only the last five requests.
            for n in range(3):
                lab.events.publish(lost(n))
            for n in range(10):
                lab.events.publish(done(10 + n))
                if n == 7:
                    lab.events.publish(lost(10 + n))
            state = session.poll()
            assert state.done
            assert state.values["session_losses"] == 1
            assert state.status == "session_losses 1"
        finally:
            session.close()
