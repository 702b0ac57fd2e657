"""``lbplay lessons check --run``: every lesson played on a real Lab, headless.

For each lesson a fresh Lab starts from its setup; each step is played as a learner
who knows the answers would: a do step applies its solution and waits for its check
(within the step's ``timeout``); a predict step takes the engine's own answer, which
must grade as right, and is run on the Lab, whose outcome must agree (the same
picks, a DOWN within the predicted window); an observe step waits for its window and
must meet what it expects. The recap must fill from what was measured. A lesson that
teaches something the Lab does not do fails here, in CI.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from lbplay.course import predict
from lbplay.course.lesson import Lesson, Step, unfilled
from lbplay.course.session import LessonSession, StepState
from lbplay.net.lab import Lab

#: Polls of a step's check per second while waiting.
POLLS = 20


class LessonFailed(Exception):
    """A step did not do on the Lab what the lesson says it does."""


@dataclass
class LessonReport:
    lesson: Lesson
    passed: bool = True
    seconds: float = 0.0
    #: One line per step: what was checked and seen.
    lines: list[str] = field(default_factory=list)
    failure: str = ""


async def play(lesson: Lesson) -> LessonReport:
    """Play ``lesson`` on a fresh Lab and report each step."""
    report = LessonReport(lesson)
    began = time.monotonic()
    try:
        async with Lab(lesson.setup) as lab:
            session = LessonSession(lab, lesson)
            try:
                await session.begin(resume=False)
                for step in lesson.steps:
                    line = await _play_step(session, step)
                    report.lines.append(f"step {step.index + 1} ({step.kind}): {line}")
                    session.next()
                missing = unfilled(lesson.recap, session.mine.measured)
                if missing:
                    raise LessonFailed(f"nothing measured fills the recap's {missing[0]}")
            finally:
                session.close()
    except LessonFailed as error:
        report.passed = False
        report.failure = str(error)
    report.seconds = time.monotonic() - began
    return report


async def _play_step(session: LessonSession, step: Step) -> str:
    where = f"step {step.index + 1} ({step.kind}, line {step.line})"
    if step.kind == "read":
        return "read"
    if step.kind == "do":
        await session.apply_solution()
        state = await _until_done(session, step.timeout)
        if not state.done:
            raise LessonFailed(
                f"{where}: the check did not pass within {step.timeout:g} s after"
                f" {'; '.join(c.text() for c in step.solution)}: {state.status}"
            )
        return state.status
    if step.kind == "predict" and step.question is not None:
        truth = predict.answer(step.question, session.lesson.setup)
        if not session.answer(predict.typed(truth)).correct:
            raise LessonFailed(f"{where}: the engine's own answer {truth.text!r} grades wrong")
        real = await session.reveal()
        _agrees(session, step, where)
        return f"predicted {truth.text}; {real}"
    # A simulation at scale takes seconds on a free core, more on a busy CI machine.
    timeout = 180.0 if step.sim is not None else step.wait.seconds + 30.0
    state = await _until_done(session, timeout)
    if not state.done:
        raise LessonFailed(f"{where}: the observation did not complete within {timeout:g} s")
    unmet = [line for line in state.status.splitlines() if line.startswith("not as expected")]
    if step.expect is not None and unmet:
        raise LessonFailed(f"{where}: {unmet[0]}")
    return state.status.replace("\n", "; ")


async def _until_done(session: LessonSession, timeout: float) -> StepState:
    """Poll the current step until it is done or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    state = session.poll()
    while not state.done and time.monotonic() < deadline:
        await asyncio.sleep(1 / POLLS)  # the check reads the Lab's state: polled, as the pane does
        state = session.poll()
    return state


def _agrees(session: LessonSession, step: Step, where: str) -> None:
    """The Lab must have done what the engine predicted."""
    question, state = step.question, session.state
    answer, real = state.answer, state.real_value
    if question is None or answer is None:
        return
    if question.kind == "picks" and real is not None and real != answer.value:
        raise LessonFailed(f"{where}: the engine predicted {answer.text}; {state.real}")
    if question.kind in ("detection", "recovery"):
        low, high = answer.low or 0.0, answer.high or 0.0
        # A refused probe fails at once; allow the Lab its scheduling slack.
        if real is None or not low - 0.5 <= real <= high + 1.0:
            raise LessonFailed(f"{where}: predicted {answer.text}; {state.real}")
