"""Scenarios: a story a teacher tells on a real Lab, as data.

A scenario is a TOML file (``lessons/scenarios/<name>.toml``, or a teacher's own)::

    title = "The sticky session that dies with its server"
    story = '''One paragraph: what the class is about to see.'''

    [setup]                        # a lab model, as a lesson's (model.tomlform)
    backends = 4
    sessions = "local"
    logins = true

    [[steps]]
    at = 3                         # seconds from the start (or: after = a check)
    do = ["sessions cookie"]       # controls, as `lbplay ctl` takes them
    say = "Every user is pinned to a backend by a cookie."
    expect = { measure = "session_losses", at_most = 0, over = 200 }
    within = 6                     # seconds the expectation may take (default 10)

A step starts ``at`` seconds after the scenario began (never before the step before
it), or ``after`` a check holds (``after = { event = "health", backend = "s2", new =
"DOWN" }``, judged from the previous step's start), plus an optional ``delay``. It
does its controls, shows its narration and judges its expectation — the same checks
as a lesson's (``course.checks``), from the moment the step ran — passing as soon as
it holds and failing when ``within`` runs out. ``end`` (seconds after the last step)
lets the last expectations finish.

``load`` checks everything (every control, backend, check and key) and reports a
mistake with its file and line; ``ScenarioPlayer`` plays one on a Lab, for the
dashboard (one ``poll`` per redraw, ``pause``, ``step``, a speed factor) and for
``lbplay demo --headless`` (``play``), which reports each expectation: expected,
measured, passed or failed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbplay.core.routing import DEFAULT_POOL
from lbplay.course import checks
from lbplay.course.lesson import LessonError, Lines, added_by, read_toml
from lbplay.errors import ConfigError
from lbplay.model import controls
from lbplay.model.config import LabConfig
from lbplay.model.control_args import Names
from lbplay.model.tomlform import from_dict
from lbplay.net.lab import Lab
from lbplay.resources import lessons_dir

#: Seconds an expectation may take, unless the step says.
DEFAULT_WITHIN = 10.0
#: Seconds after the last step, unless the scenario says.
DEFAULT_END = 2.0
_WANTED = re.compile(r" \(wanted [^)]*\)")
#: ``sim`` is the same story at scale, for ``lbplay sim FILE`` (``sim.config``); a
#: scenario played on a Lab leaves it alone.
_TOP = {"title", "story", "setup", "steps", "end", "sim"}
_STEP = {"at", "after", "delay", "do", "say", "expect", "within"}


class ScenarioError(LessonError):
    """A scenario file that cannot be played: where, and what is wrong."""


@dataclass(frozen=True)
class ScenarioStep:
    index: int
    line: int
    say: str
    do: tuple[controls.Control, ...] = ()
    at: float | None = None
    after: checks.Check | None = None
    delay: float = 0.0
    expect: checks.Check | None = None
    within: float = DEFAULT_WITHIN


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    story: str
    setup: LabConfig
    steps: tuple[ScenarioStep, ...]
    end: float
    path: Path


def scenarios_dir() -> Path:
    """The shipped scenarios (``LBPLAY_LESSONS`` moves them with the lessons)."""
    return lessons_dir() / "scenarios"


def shipped() -> list[Path]:
    """Every shipped scenario file, by name."""
    folder = scenarios_dir()
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def find(which: str) -> Path:
    """A shipped scenario by name, or a file's path (a teacher's own)."""
    path = Path(which)
    if which.endswith(".toml") or "/" in which:
        if not path.is_file():
            raise ConfigError(f"no scenario file {which!r}")
        return path
    for candidate in shipped():
        if candidate.stem == which:
            return candidate
    names = ", ".join(p.stem for p in shipped())
    raise ConfigError(f"no scenario {which!r} (scenarios: {names})")


# -- reading ------------------------------------------------------------------------------


def load(path: Path) -> Scenario:
    """Read and check the scenario at ``path``; ``ScenarioError`` says where it is wrong."""
    text, data = read_toml(path, ScenarioError)
    lines = Lines(path, text)
    extra = sorted(set(data) - _TOP)
    if extra:
        raise ScenarioError(path, lines.key(extra[0]), f"no setting {extra[0]!r} in a scenario")
    title = _text(data, "title", lines)
    story = _text(data, "story", lines)
    try:
        setup = from_dict(data.get("setup", {}), "setup")
    except ConfigError as error:
        raise ScenarioError(path, lines.table("setup"), str(error)) from None
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ScenarioError(path, lines.key("steps"), "a scenario needs [[steps]]")
    backends = [b.name for b in setup.all_backends()]
    pools = [DEFAULT_POOL, *(p.name for p in setup.pools)]
    steps = []
    last_at = 0.0
    for index, raw in enumerate(raw_steps):
        step = _step(raw, index, lines, backends, pools)
        if step.at is not None:
            if step.at < last_at:
                raise ScenarioError(
                    path, step.line, f"step {index + 1} is at {step.at:g} s, before the step before"
                )
            last_at = step.at
        steps.append(step)
    end = data.get("end", DEFAULT_END)
    if not _number(end, 0, 600):
        raise ScenarioError(path, lines.key("end"), "end must be 0 to 600 seconds")
    name = path.stem
    return Scenario(name, title, story, setup, tuple(steps), float(end), path)


def _text(data: Mapping[str, Any], key: str, lines: Lines, start: int = 0) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ScenarioError(lines.path, lines.key(key, start), f"{key} must be some text")
    return value.strip()


def _number(value: Any, low: float, high: float) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high


def _step(
    raw: Any, index: int, lines: Lines, backends: list[str], pools: list[str]
) -> ScenarioStep:
    path = lines.path
    line = lines.step(index)
    start = line - 1
    where = f"step {index + 1}"
    if not isinstance(raw, Mapping):
        raise ScenarioError(path, line, f"{where} must be a table")
    extra = sorted(set(raw) - _STEP)
    if extra:
        raise ScenarioError(
            path,
            lines.key(extra[0], start),
            f"{where} has no key {extra[0]!r} (keys: {', '.join(sorted(_STEP))})",
        )
    say = _text(raw, "say", lines, start)
    if ("at" in raw) == ("after" in raw):
        raise ScenarioError(path, line, f"{where} needs at (seconds) or after (a check), not both")
    at = raw.get("at")
    if at is not None and not _number(at, 0, 3600):
        raise ScenarioError(path, lines.key("at", start), f"{where}: at must be 0 to 3600 s")
    delay = raw.get("delay", 0.0)
    if not _number(delay, 0, 600):
        raise ScenarioError(path, lines.key("delay", start), f"{where}: delay must be 0 to 600 s")
    within = raw.get("within", DEFAULT_WITHIN)
    if not _number(within, 0.1, 600):
        raise ScenarioError(
            path, lines.key("within", start), f"{where}: within must be 0.1 to 600 s"
        )
    do = raw.get("do", [])
    if not isinstance(do, list) or not all(isinstance(d, str) for d in do):
        raise ScenarioError(path, lines.key("do", start), f'{where}: do is a list like ["kill s2"]')
    parsed = []
    for text in do:
        try:
            control = controls.parse(text, Names(tuple(backends), tuple(pools)))
        except ConfigError as error:
            raise ScenarioError(
                path, lines.key("do", start), f"{where}: {text!r}: {error}"
            ) from None
        backends += added_by(control)
        if isinstance(control, controls.PoolAdd):
            pools.append(control.name)
        parsed.append(control)
    after = _check(raw, "after", where, lines, start, backends) if "after" in raw else None
    expect = _check(raw, "expect", where, lines, start, backends) if "expect" in raw else None
    return ScenarioStep(
        index,
        line,
        say,
        tuple(parsed),
        float(at) if at is not None else None,
        after,
        float(delay),
        expect,
        float(within),
    )


def _check(
    raw: Mapping[str, Any], key: str, where: str, lines: Lines, start: int, backends: list[str]
) -> checks.Check:
    try:
        check = checks.parse(raw[key], f"{where}.{key}")
    except ConfigError as error:
        raise ScenarioError(lines.path, lines.key(key, start), str(error)) from None
    unknown = sorted(checks.backends_named(check) - set(backends))
    if unknown:
        raise ScenarioError(
            lines.path,
            lines.key(key, start),
            f"{where}.{key} names backend {unknown[0]!r}, which the scenario's lab does not"
            f" have (backends: {', '.join(backends)})",
        )
    return check


# -- playing ------------------------------------------------------------------------------


@dataclass
class Expectation:
    """One step's expectation as it stands: expected, measured, passed."""

    step: ScenarioStep
    #: When its step ran (Lab clock) and its deadline.
    began: float
    deadline: float
    mark: checks.Mark
    #: None while not yet decided.
    passed: bool | None = None
    measured: str = ""

    @property
    def expected(self) -> str:
        return describe(self.step.expect) if self.step.expect is not None else ""


@dataclass
class StepRun:
    step: ScenarioStep
    #: When it ran (Lab clock), or None before.
    ran: float | None = None
    error: str = ""


@dataclass
class Report:
    scenario: Scenario
    expectations: list[Expectation] = field(default_factory=list)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors and all(e.passed for e in self.expectations)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.scenario.name,
            "title": self.scenario.title,
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "errors": list(self.errors),
            "expectations": [
                {
                    "step": e.step.index + 1,
                    "say": e.step.say,
                    "expected": e.expected,
                    "measured": e.measured,
                    "passed": bool(e.passed),
                }
                for e in self.expectations
            ],
        }


class ScenarioPlayer:
    """Plays a scenario on a Lab: ``poll`` advances it (the dashboard calls it a few
    times a second; ``play`` loops it headless). The scenario's own clock runs at
    ``speed`` × the Lab's and stops while paused."""

    def __init__(self, lab: Lab, scenario: Scenario, *, speed: float = 1.0) -> None:
        if not 0.1 <= speed <= 10:
            raise ConfigError(f"bad speed {speed:g}: use 0.1 to 10")
        self.lab = lab
        self.scenario = scenario
        self.speed = speed
        self.recorder = checks.Recorder(lab.subscribe)
        self.runs = [StepRun(step) for step in scenario.steps]
        self.expectations: list[Expectation] = []
        self.paused = False
        self.errors: list[str] = []
        #: The narration on screen now (the last step that ran).
        self.narration = scenario.story
        self._elapsed = 0.0
        self._last = lab.clock()
        self._next = 0
        self._waiting_since: checks.Mark | None = None
        self._ended_at: float | None = None
        self._forced = False
        #: When (scenario seconds) the waiting step's ``after`` held: its delay runs from then.
        self._delay_started: float | None = None

    async def start(self) -> None:
        """Set the Lab up as the scenario says."""
        await self.lab.reconfigure(self.scenario.setup)
        self._last = self.lab.clock()
        self._waiting_since = self._mark()

    def _mark(self) -> checks.Mark:
        return checks.Mark(self.recorder.last_seq, self.lab.clock())

    @property
    def elapsed(self) -> float:
        """Scenario seconds so far (speed applied, pauses left out)."""
        return self._elapsed

    @property
    def finished(self) -> bool:
        return self._ended_at is not None

    @property
    def current(self) -> StepRun | None:
        """The step that ran last."""
        ran = [run for run in self.runs if run.ran is not None]
        return ran[-1] if ran else None

    def pause(self, paused: bool | None = None) -> None:
        self.paused = not self.paused if paused is None else paused

    def step_now(self) -> None:
        """Run the next step at the next poll, whatever it waits for (→)."""
        self._forced = True

    async def poll(self) -> None:
        """Advance the clock, run the steps that are due, judge the expectations."""
        now = self.lab.clock()
        if not self.paused:
            self._elapsed += (now - self._last) * self.speed
        self._last = now
        self._judge()
        if self.paused and not self._forced:
            return
        while self._next < len(self.runs) and self._due(self.runs[self._next]):
            await self._run(self.runs[self._next])
            self._forced = False
        if self._next >= len(self.runs) and self._ended_at is None:
            undecided = any(e.passed is None for e in self.expectations)
            last = self.runs[-1].ran or now
            if not undecided and (now - last) * self.speed >= self.scenario.end:
                self._ended_at = now

    def _due(self, run: StepRun) -> bool:
        step = run.step
        if self._forced:
            return True
        if step.at is not None:
            return self._elapsed >= step.at
        assert step.after is not None
        assert self._waiting_since is not None
        verdict = checks.evaluate(
            step.after, self.recorder, self.lab.snapshot(), self._waiting_since, self.lab.clock()
        )
        if not verdict.passed:
            return False
        if step.delay and self._delay_started is None:
            self._delay_started = self._elapsed
        return self._delay_started is None or self._elapsed - self._delay_started >= step.delay

    async def _run(self, run: StepRun) -> None:
        step = run.step
        mark = self._mark()
        run.ran = mark.at
        self.narration = step.say
        for control in step.do:
            try:
                await self.lab.apply(control)
            except ConfigError as error:
                run.error = f"step {step.index + 1}: {control.text()}: {error}"
                self.errors.append(run.error)
        if step.expect is not None:
            self.expectations.append(
                Expectation(step, mark.at, mark.at + step.within / self.speed, mark)
            )
        self._next += 1
        self._waiting_since = self._mark()
        self._delay_started = None

    def _judge(self) -> None:
        now = self.lab.clock()
        snapshot = None
        for expectation in self.expectations:
            if expectation.passed is not None or expectation.step.expect is None:
                continue
            snapshot = snapshot or self.lab.snapshot()
            verdict = checks.evaluate(
                expectation.step.expect, self.recorder, snapshot, expectation.mark, now
            )
            # What was measured; what was wanted is the expectation's own text.
            expectation.measured = _WANTED.sub("", verdict.text)
            if verdict.passed is not None:
                expectation.passed = verdict.passed
            elif now >= expectation.deadline:
                expectation.passed = False

    def report(self, seconds: float = 0.0) -> Report:
        return Report(self.scenario, list(self.expectations), seconds, list(self.errors))

    def close(self) -> None:
        self.recorder.close()


async def play(
    scenario: Scenario,
    *,
    speed: float = 1.0,
    lab: Lab | None = None,
    on_step: Callable[[ScenarioStep], None] | None = None,
    polls: float = 20.0,
) -> Report:
    """Play ``scenario`` headless on a fresh Lab (or ``lab``) and report."""
    if lab is None:
        async with Lab(scenario.setup) as fresh:
            return await play(scenario, speed=speed, lab=fresh, on_step=on_step, polls=polls)
    player = ScenarioPlayer(lab, scenario, speed=speed)
    began = lab.clock()
    try:
        await player.start()
        seen = 0
        # However its steps wait, a scenario that runs past this has hung.
        latest = max((s.at or 0.0 for s in scenario.steps), default=0.0)
        limit = latest + sum(s.within + s.delay for s in scenario.steps) + scenario.end + 60
        while not player.finished:
            await player.poll()
            ran = [run for run in player.runs if run.ran is not None]
            if on_step is not None:
                for run in ran[seen:]:
                    on_step(run.step)
            seen = len(ran)
            if lab.clock() - began > limit / speed:
                player.errors.append(f"the scenario did not finish within {limit:g} s")
                break
            await asyncio.sleep(1 / polls)  # the checks read the Lab's state: polled
        return player.report(lab.clock() - began)
    finally:
        player.close()


def describe(check: checks.Check) -> str:
    """A check in words: ``health event backend=s2 new=DOWN within 4 s``."""
    if isinstance(check, checks.AllOf):
        return " and ".join(describe(c) for c in check.checks)
    if isinstance(check, checks.AnyOf):
        return " or ".join(describe(c) for c in check.checks)
    if isinstance(check, checks.EventCheck):
        fields = " ".join(f"{k}={v}" for k, v in check.match.items())
        within = f" within {check.within:g} s" if check.within is not None else ""
        return f"a {check.kind} event {fields}{within}".replace("  ", " ")
    if isinstance(check, checks.SettingCheck):
        return f"{check.path} {check.bounds.describe(str)}"
    over = f" over {check.over} requests" if check.over else ""
    subject = f"{check.measure}.{check.backend}" if check.backend else check.measure
    return f"{subject} {check.bounds.describe(checks.formatter(check.measure))}{over}"
