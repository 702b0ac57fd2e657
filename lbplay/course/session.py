"""A lesson in progress on a real Lab: the steps, their checks judged live, the
predictions graded and then run for real, the learner's own numbers kept.

The dashboard's lesson pane and ``lbplay lessons check --run`` drive the same
``LessonSession``: ``begin`` sets the Lab up as the lesson says, ``poll`` (a few
times a second) judges the current step against what the Lab did since the step
began, ``answer`` grades a prediction and ``reveal`` runs it on the Lab, and
``next``/``back``/``restart`` move through the lesson. Progress is saved as it goes.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from lbplay.core import registry
from lbplay.core.events import BackendStateChanged
from lbplay.course import checks, predict
from lbplay.course.lesson import Lesson, Step, fill_recap
from lbplay.course.progress import LessonProgress, Progress, Store
from lbplay.model import controls
from lbplay.model.numbers import fmt_bytes, fmt_ms
from lbplay.model.wire import FAKE_BACKEND_HEADER
from lbplay.net.lab import Lab
from lbplay.sim.config import SimConfig
from lbplay.sim.engine import Outcome, compare, total_requests
from lbplay.sim.theory import expected_mean

#: Where a prediction's replay requests come from.
REPLAY_ADDRESS = "127.0.0.2"
#: Measures an observe step shows per backend as well as in all.
_PER_BACKEND = (
    "p50",
    "p99",
    "mean",
    "requests",
    "errors",
    "error_rate",
    "bytes",
    "retried",
    "attempts",
)


@dataclass
class StepState:
    """Where the current step stands."""

    #: True once done; False while not yet (a check not met, an observation running).
    done: bool = False
    #: What was measured or seen, in words.
    status: str = ""
    #: Hints shown so far (they escalate: a nudge, then where to look).
    hints: int = 0
    solution_shown: bool = False
    #: predict: the engine's answer, the grade of the learner's, the real outcome.
    answer: predict.Answer | None = None
    grade: predict.Grade | None = None
    real: str = ""
    #: What the Lab really did: the backends it served, or the seconds it took.
    real_value: Any = None
    #: observe: the measured values, by name.
    values: dict[str, Any] = field(default_factory=dict)


class SimJob:
    """A simulation run on a thread of its own, so the Lab and the dashboard go on
    while it runs (a few seconds); ``poll`` reads how far it got."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.total = total_requests(config)
        self.done = 0
        self.outcomes: list[Outcome] | None = None
        self.error = ""
        self._thread = threading.Thread(target=self._run, name="lbplay-sim", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        def advance(count: int) -> None:
            self.done += count

        try:
            self.outcomes = compare(self.config, advance)
        except Exception as error:  # shown to the learner: a bug, but not a crash
            self.error = f"the simulation failed: {error!r}"

    @property
    def finished(self) -> bool:
        return self.outcomes is not None or bool(self.error)


class LessonSession:
    """One lesson on one Lab."""

    def __init__(
        self,
        lab: Lab,
        lesson: Lesson,
        *,
        store: Store | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.lab = lab
        self.lesson = lesson
        self.store = store
        self.progress = progress if progress is not None else Progress()
        self.recorder = checks.Recorder(lab.subscribe)
        self.index = 0
        self.state = StepState()
        self._mark = checks.Mark(0, 0.0)
        self._started = lab.clock()
        self._sim: SimJob | None = None

    @property
    def mine(self) -> LessonProgress:
        return self.progress.lesson(self.lesson.id)

    @property
    def step(self) -> Step:
        return self.lesson.steps[self.index]

    @property
    def finished(self) -> bool:
        return self.mine.finished

    # -- moving --------------------------------------------------------------------------

    async def begin(self, *, resume: bool = True) -> None:
        """Set the Lab up as the lesson says, and go to the step the learner left at."""
        await self.lab.reconfigure(self.lesson.setup)
        self.progress.last = self.lesson.id
        start = self.mine.current if resume else 0
        self._enter(min(start, len(self.lesson.steps) - 1))

    async def restart(self) -> None:
        """A fresh Lab as the lesson sets it up, from the first step."""
        self.mine.done.clear()
        self.mine.finished = False
        self.mine.measured.clear()
        await self.lab.reconfigure(self.lesson.setup)
        self._enter(0)

    def next(self) -> bool:
        """Go on to the next step (a do step must be done first); False at the end."""
        if not self.state.done and self.step.kind in ("do", "observe", "predict"):
            return False
        self._done_here()
        if self.index + 1 >= len(self.lesson.steps):
            self.mine.finished = True
            self._save()
            return False
        self._enter(self.index + 1)
        return True

    def back(self) -> None:
        if self.index > 0:
            self._enter(self.index - 1)

    def _enter(self, index: int) -> None:
        self.index = index
        self.mine.current = index
        self.state = StepState(done=self.step.kind == "read" or index in self.mine.done)
        self._mark = checks.Mark(self.recorder.last_seq, self.lab.clock())
        self._sim = None
        if self.step.sim is not None and not self.state.done:
            self._sim = SimJob(self.step.sim)
        self._save()

    def _done_here(self) -> None:
        if self.index not in self.mine.done:
            self.mine.done.append(self.index)
        self.mine.seconds = self.lab.clock() - self._started

    def _save(self) -> None:
        if self.store is not None:
            self.store.save(self.progress)

    # -- judging the current step ----------------------------------------------------------

    def poll(self) -> StepState:
        """Judge the current step against what the Lab did since it began."""
        step, state = self.step, self.state
        if step.kind == "do" and step.check is not None and not state.done:
            verdict = checks.evaluate(
                step.check, self.recorder, self.lab.snapshot(), self._mark, self.lab.clock()
            )
            state.status = verdict.text
            if verdict.passed:
                state.done = True
                self._done_here()
                self._save()
        elif step.kind == "observe" and not state.done:
            self._observe(step, state)
        return state

    def _observe(self, step: Step, state: StepState) -> None:
        if step.sim is not None:
            self._observe_sim(step, state)
            return
        requests = self.recorder.since(self._mark.seq)
        elapsed = self.lab.clock() - self._mark.at
        if step.wait.requests and len(requests) < step.wait.requests:
            state.status = f"measuring: {len(requests)} of {step.wait.requests} requests"
            return
        if step.wait.seconds and elapsed < step.wait.seconds:
            state.status = f"measuring: {elapsed:.0f} of {step.wait.seconds:g} s"
            return
        window = self._mark
        if step.wait.requests and len(requests) > step.wait.requests:
            # What is shown and what is expected are judged on the same requests:
            # the last ``wait.requests`` of them.
            before = requests[-step.wait.requests - 1]
            window = checks.Mark(before.seq, before.at)
            requests = requests[-step.wait.requests :]
        # Sessions lost over the same window as the requests (and as the expectation).
        losses = len([e for e in self.recorder.events_since(window.seq) if e.KIND == "session"])
        names = [b.name for b in self.lab.snapshot().backends]
        values: dict[str, Any] = {}
        for name in step.show:
            if name == "share":
                for backend in names:
                    values[f"share.{backend}"] = checks.measure("share", requests, backend, losses)
            else:
                values[name] = checks.measure(name, requests, None, losses)
                for backend in names if name in _PER_BACKEND else ():
                    values[f"{name}.{backend}"] = checks.measure(name, requests, backend, losses)
        lines = [describe(name, value) for name, value in values.items()]
        met = True
        if step.expect is not None:
            verdict = checks.evaluate(
                step.expect, self.recorder, self.lab.snapshot(), window, self.lab.clock()
            )
            values.update(verdict.values)
            met = bool(verdict.passed)
            lines.append(("as expected: " if met else "not as expected: ") + verdict.text)
        self._observed(step, state, values, lines)

    def _observed(
        self, step: Step, state: StepState, values: dict[str, Any], lines: list[str]
    ) -> None:
        """An observation is over: show ``lines``, keep ``values`` for the recap."""
        state.values = values
        state.status = "\n".join(lines)
        state.done = True
        for name, value in values.items():
            self.mine.measured[f"{step.id}.{name}"] = value
        self._done_here()
        self._save()

    def _observe_sim(self, step: Step, state: StepState) -> None:
        """An observation at scale: the simulation's figures, per algorithm."""
        job = self._sim
        if job is None:  # started when the step was entered; if not, now
            job = self._sim = SimJob(step.sim) if step.sim is not None else None
        if job is None or not job.finished:
            done, total = (job.done, job.total) if job is not None else (0, 1)
            state.status = f"simulating at scale: {done:,} of {total:,} requests"
            return
        if job.error:
            state.status = f"not as expected: {job.error}"
            state.done = True
            return
        assert job.outcomes is not None
        values: dict[str, Any] = {}
        lines = []
        for outcome in job.outcomes:
            figures = outcome.figures
            cells = []
            for name in step.show:
                value = figures[name].value
                values[f"{name}.{outcome.algorithm}"] = value
                cells.append(f"{name} {value:.3g}")
            theory = expected_mean(job.config, outcome.algorithm)
            if theory is not None and "mean" in step.show:
                cells.append(f"(theory as n → ∞: mean {theory:.3g})")
            lines.append(f"{outcome.algorithm}: " + " · ".join(cells))
        lines.append("times in mean service times")
        self._observed(step, state, values, lines)

    # -- hints and solutions ---------------------------------------------------------------

    def hint(self) -> str:
        """The next hint; after the last one, the solution."""
        step = self.step
        if self.state.hints < len(step.hints):
            self.state.hints += 1
            return step.hints[self.state.hints - 1]
        return self.show_solution()

    def show_solution(self) -> str:
        self.state.solution_shown = True
        words = "; ".join(control.text() for control in self.step.solution)
        return f"solution: {words}" if words else "this step has nothing to do"

    async def apply_solution(self) -> None:
        """Do the step's solution on the Lab (``lessons check --run``, or on request)."""
        for control in self.step.solution:
            await self.lab.apply(control)

    # -- predictions -----------------------------------------------------------------------

    def answer(self, text: str) -> predict.Grade:
        """Grade the learner's prediction against the engine's answer."""
        step = self.step
        assert step.question is not None
        truth = predict.answer(step.question, self.lesson.setup)
        grade = predict.grade(step.question, truth, text)
        self.state.answer, self.state.grade = truth, grade
        self.mine.predictions += 1
        self.mine.predictions_right += grade.correct
        self._save()
        return grade

    async def reveal(self) -> str:
        """Run the prediction on the Lab and say what really happened."""
        step = self.step
        assert step.question is not None
        if self.state.answer is None:
            self.state.answer = predict.answer(step.question, self.lesson.setup)
        truth = self.state.answer
        real, value = await _run_for_real(self, step, truth)
        self.state.real, self.state.real_value = real, value
        self.state.done = True
        self._done_here()
        self._save()
        return real

    # -- the end ---------------------------------------------------------------------------

    def recap(self) -> str:
        """The lesson's recap, quoting the learner's own numbers."""
        return fill_recap(self.lesson.recap, self.mine.measured)

    def close(self) -> None:
        self.recorder.close()


def describe(name: str, value: Any) -> str:
    """``share.s1 49%``, ``p99 41 ms``, ``errors 0``."""
    measure = name.split(".")[0]
    if value is None:
        shown = "—"
    elif measure in ("share", "error_rate"):
        shown = f"{value:.0%}"
    elif measure in ("p50", "p99", "mean"):
        shown = fmt_ms(value)
    elif measure == "bytes":
        shown = fmt_bytes(value)
    else:
        shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{name} {shown}"


# -- predictions, for real ---------------------------------------------------------------------


async def _run_for_real(
    session: LessonSession, step: Step, truth: predict.Answer
) -> tuple[str, Any]:
    question = step.question
    assert question is not None
    lab = session.lab
    if question.kind == "picks" and not question.in_flight:
        info = registry.get(lab.balancer.algorithm)
        if info.uses_key:
            return f"the proxy hashes the same way: {truth.text}", None
        served = await _fresh_picks(lab, question.count)
        same = "the same" if served == truth.value else "not what the engine said"
        return f"the Lab served: {' '.join(served)} ({same})", served
    if question.kind in ("detection", "recovery"):
        wanted = "DOWN" if question.kind == "detection" else "UP"
        mark = lab.clock()
        found: asyncio.Future[BackendStateChanged] = asyncio.get_running_loop().create_future()

        def watch(event: object) -> None:
            if isinstance(event, BackendStateChanged) and event.new == wanted and not found.done():
                found.set_result(event)

        unsubscribe = lab.subscribe(watch)
        try:
            for control in step.run:
                await lab.apply(control)
            high = truth.high if truth.high is not None else 60.0
            event = await asyncio.wait_for(found, high + 10)
        except TimeoutError:
            return f"no backend went {wanted} within {high + 10:g} s", None
        finally:
            unsubscribe()
        took = event.at - mark
        return f"the Lab took {took:.1f} s: {event.backend} {event.old} → {event.new}", took
    for control in step.run:
        await lab.apply(control)
    return f"computed by the engine: {truth.text} ({truth.why})", truth.value


async def _fresh_picks(lab: Lab, count: int) -> list[str]:
    """The backends of ``count`` requests sent one by one with the algorithm started
    afresh and generated traffic paused, as the prediction assumed."""
    traffic = lab.running_traffic()
    paused = traffic.paused
    traffic.pause()
    try:
        await traffic.quiet()  # the last generated requests finish first
        balancer = lab.balancer
        await lab.apply(controls.Algorithm(balancer.algorithm, dict(balancer.options)))
        served = []
        # From an address of its own, so the feed does not call them "you" (the
        # learner's curl comes from 127.0.0.1).
        connector = aiohttp.TCPConnector(local_addr=(REPLAY_ADDRESS, 0))
        async with aiohttp.ClientSession(connector=connector) as client:
            for _ in range(count):
                async with client.get(lab.proxy_url + "/") as response:
                    await response.read()
                    served.append(response.headers.get(FAKE_BACKEND_HEADER, "?"))
        return served
    finally:
        if not paused:
            traffic.resume()
