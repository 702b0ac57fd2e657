"""Lessons as data: one TOML file per lesson, prose in Markdown, no Python.

``lessons/course.toml`` lists the lessons in order (``lessons = ["why-balance",
...]``); lesson ``n`` is ``lessons/NN-<id>.toml``::

    title = "Weighted round robin: 5, 3, 2"
    goals = ["See shares follow weights", "See nginx interleave instead of bursting"]
    syllabus = ["weighted-round-robin"]      # the explainer's topics (course.syllabus)
    misconceptions = [4]                     # REFERENCE.md's numbers
    source_errors = []                       # where the explainer is wrong, corrected here
    minutes = 8
    recap = "You measured {shares.share.s1} on s1 ..."

    [setup]                                  # a lab model (model.tomlform)
    algorithm = "weighted_round_robin"
    backends = ["s1:5", "s2:3", "s3:2"]

    [[steps]]
    kind = "read"                            # read | do | predict | observe
    text = '''Markdown, one idea.'''

A **do** step has ``solution`` (controls in their text form, as ``lbplay ctl`` takes
them), a ``check`` (``course.checks``), ``hints`` (a nudge, then where to look) and
``timeout`` (how long ``lessons check --run`` waits for the check after the
solution). A **predict** step has ``question`` (``course.predict``: picks, share,
keys_moved, detection, recovery) with its parameters, and may ``run`` controls to
show the real outcome beside the prediction. An **observe** step has ``id``, a
``wait`` (``{ requests = 200 }`` or ``{ seconds = 5 }``), what to ``show`` (measures)
and what to ``expect`` (a check) — or, instead of a wait, a ``sim`` table
(``sim.config``'s keys, as in a scenario's ``[sim]``): the same algorithms run by the
simulator at scale, in the learner's session, each figure of ``show`` (``mean``,
``p99``, ...) kept per algorithm (``{scale.p99.random}``). Any step may have
``after``: what to notice once it is done.

``load`` reads and checks a lesson; every mistake is a ``LessonError`` with the file,
the line and what is wrong.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lbplay.core.routing import DEFAULT_POOL
from lbplay.course import checks, predict
from lbplay.course.syllabus import MISCONCEPTIONS, SOURCE_ERRORS, SYLLABUS
from lbplay.errors import ConfigError, LbplayError
from lbplay.model import controls
from lbplay.model.config import LabConfig
from lbplay.model.control_args import Names
from lbplay.model.numbers import fmt_bytes, fmt_ms
from lbplay.model.tomlform import from_dict
from lbplay.sim import config as sim_config
from lbplay.sim.engine import total_requests

StepKind = Literal["read", "do", "predict", "observe"]
STEP_KINDS: tuple[StepKind, ...] = ("read", "do", "predict", "observe")
#: How long ``lessons check --run`` waits for a do step's check, unless it says.
DEFAULT_TIMEOUT = 20.0
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")


class LessonError(LbplayError):
    """A lesson file that cannot be used: where, and what is wrong (``line`` 0: the file
    as a whole, e.g. missing, so no line is named)."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


@dataclass(frozen=True)
class Wait:
    """How long an observation lasts: ``requests`` more requests, or ``seconds``."""

    requests: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        return f"{self.requests} requests" if self.requests else f"{self.seconds:g} s"


@dataclass(frozen=True)
class Step:
    kind: StepKind
    text: str
    #: 0-based position, and the line of its ``[[steps]]`` in the file.
    index: int
    line: int
    after: str = ""
    # do
    solution: tuple[controls.Control, ...] = ()
    check: checks.Check | None = None
    hints: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    # predict
    question: predict.Question | None = None
    prompt: str = ""
    run: tuple[controls.Control, ...] = ()
    # observe
    id: str = ""
    wait: Wait = field(default_factory=Wait)
    show: tuple[str, ...] = ()
    expect: checks.Check | None = None
    #: observe at scale: the simulation whose figures are shown.
    sim: sim_config.SimConfig | None = None


#: What an observe step with a ``sim`` can show, per algorithm (``sim_cli``'s JSON names).
SIM_SHOWS = ("mean", "p50", "p99", "p999", "mean_queue", "max_queue", "failed", "rejected")
#: The most requests one lesson step may simulate (all algorithms): seconds, not minutes.
SIM_MOST = 3_000_000


@dataclass(frozen=True)
class Lesson:
    id: str
    number: int
    title: str
    goals: tuple[str, ...]
    syllabus: tuple[str, ...]
    misconceptions: tuple[int, ...]
    source_errors: tuple[int, ...]
    minutes: int
    setup: LabConfig
    steps: tuple[Step, ...]
    recap: str
    path: Path

    @property
    def slug(self) -> str:
        return f"{self.number:02d}-{self.id}"


# -- reading ------------------------------------------------------------------------------

_TOP = {
    "title",
    "goals",
    "syllabus",
    "misconceptions",
    "source_errors",
    "minutes",
    "recap",
    "setup",
    "steps",
}
_STEP_KEYS: dict[str, set[str]] = {
    "read": {"kind", "text", "after"},
    "do": {"kind", "text", "after", "solution", "check", "hints", "timeout"},
    "predict": {
        "kind",
        "text",
        "after",
        "question",
        "prompt",
        "count",
        "change",
        "in_flight",
        "tolerance",
        "algorithm",
        "options",
        "run",
    },
    "observe": {"kind", "text", "after", "id", "wait", "show", "expect", "sim"},
}


def load(path: Path, lesson_id: str, number: int) -> Lesson:
    """Read and check the lesson at ``path``; ``LessonError`` says where it is wrong."""
    text, data = read_toml(path)
    lines = Lines(path, text)
    extra = sorted(set(data) - _TOP)
    if extra:
        raise LessonError(path, lines.key(extra[0]), f"no setting {extra[0]!r} in a lesson")
    title = _text(data, "title", lines)
    goals = _strings(data, "goals", lines, required=True)
    syllabus = _strings(data, "syllabus", lines, required=True)
    for topic in syllabus:
        if topic not in SYLLABUS:
            raise lines.error(
                "syllabus", f"no syllabus topic {topic!r} (topics: {', '.join(SYLLABUS)})"
            )
    misconceptions = _numbers(data, "misconceptions", MISCONCEPTIONS, lines)
    source_errors = _numbers(data, "source_errors", SOURCE_ERRORS, lines)
    minutes = data.get("minutes", 10)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 120:
        raise lines.error("minutes", "minutes must be a whole number from 1 to 120")
    setup_data = data.get("setup", {})
    try:
        setup = from_dict(setup_data, "setup")
    except ConfigError as error:
        raise LessonError(path, lines.table("setup"), str(error)) from None
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise lines.error("steps", "a lesson needs [[steps]]")
    names = Names(
        tuple(b.name for b in setup.all_backends()),
        (DEFAULT_POOL, *(p.name for p in setup.pools)),
    )
    steps = tuple(
        _step(raw, index, lines.step(index), setup, names, lines)
        for index, raw in enumerate(raw_steps)
    )
    ids = [s.id for s in steps if s.id]
    if len(set(ids)) != len(ids):
        raise lines.error("steps", f"two observe steps have the same id ({', '.join(ids)})")
    recap = data.get("recap", "")
    if not isinstance(recap, str):
        raise lines.error("recap", "recap must be text")
    _check_recap(recap, steps, lines)
    return Lesson(
        lesson_id,
        number,
        title,
        goals,
        syllabus,
        misconceptions,
        source_errors,
        minutes,
        setup,
        steps,
        recap,
        path,
    )


def read_toml(path: Path, error: type[LessonError] = LessonError) -> tuple[str, dict[str, Any]]:
    """The text of the TOML file at ``path`` and what it holds; ``error`` (a kind of
    ``LessonError``) says so, with the line, if it cannot be read or is not TOML."""
    try:
        text = path.read_text()
    except OSError as failed:
        raise error(path, 0, f"cannot read it: {failed.strerror}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as failed:
        raise error(path, toml_line(failed, text), f"not valid TOML: {failed}") from None


def toml_line(error: tomllib.TOMLDecodeError, text: str = "") -> int:
    """The line a TOML error is on (Python 3.11's error has it only in its message;
    "at end of document" is the last line of ``text``)."""
    line = getattr(error, "lineno", None)
    if isinstance(line, int):
        return line
    found = re.search(r"at line (\d+)", str(error))
    if found:
        return int(found.group(1))
    return len(text.splitlines()) if "end of document" in str(error) else 0


class Lines:
    """Line numbers of keys and tables in a lesson file, for errors."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def _find(self, pattern: str, start: int = 0, occurrence: int = 0) -> int:
        regex = re.compile(pattern)
        seen = 0
        for number, line in enumerate(self.lines[start:], start=start + 1):
            if regex.match(line.strip()):
                if seen == occurrence:
                    return number
                seen += 1
        return 0

    def key(self, key: str, start: int = 0) -> int:
        """The line of ``key =`` at or after line ``start`` (0-based); else the line
        after ``start`` (a step's own line, for a key the step lacks)."""
        return self._find(rf"{re.escape(key)}\s*=", start) or start + 1

    def table(self, name: str) -> int:
        return self._find(rf"\[{re.escape(name)}\]") or 1

    def step(self, index: int) -> int:
        return self._find(r"\[\[steps\]\]", occurrence=index) or 1

    def error(self, key: str, message: str, start: int = 0) -> LessonError:
        return LessonError(self.path, self.key(key, start), message)


def _text(data: Mapping[str, Any], key: str, lines: Lines, start: int = 0) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise LessonError(
            lines.path,
            lines.key(key, start) if key in data else start + 1,
            f"{key} must be some text",
        )
    return value.strip()


def _strings(
    data: Mapping[str, Any], key: str, lines: Lines, *, required: bool = False, start: int = 0
) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise lines.error(key, f"{key} must be a list of text", start)
    if required and not value:
        raise lines.error(key, f"{key} must name at least one", start)
    return tuple(value)


def _numbers(
    data: Mapping[str, Any], key: str, known: Mapping[int, str], lines: Lines
) -> tuple[int, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v in known for v in value
    ):
        raise lines.error(key, f"{key} must be a list of numbers from {min(known)} to {max(known)}")
    return tuple(value)


def _controls(
    values: Any, key: str, names: Names, lines: Lines, start: int
) -> tuple[controls.Control, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise lines.error(key, f'{key} must be a list of controls like "kill s2"', start)
    parsed = []
    backends, pools = list(names.backends), list(names.pools)
    for text in values:
        try:
            control = controls.parse(text, Names(tuple(backends), tuple(pools)))
        except ConfigError as error:
            raise lines.error(key, f"{key}: {text!r}: {error}", start) from None
        # A backend a control adds may be named by later controls and checks.
        backends += added_by(control)
        if isinstance(control, controls.PoolAdd):
            pools.append(control.name)
        parsed.append(control)
    return tuple(parsed)


def added_by(control: controls.Control) -> list[str]:
    """The backends a control brings into the lab (by the names they will have)."""
    if isinstance(control, controls.Add) and control.name:
        return [control.name]
    if isinstance(control, controls.PoolAdd):
        return [f"{control.name}-{n}" for n in range(1, control.backends + 1)]
    return []


def _check(
    value: Any, key: str, names: Names, lines: Lines, start: int, extra: Sequence[str] = ()
) -> checks.Check:
    try:
        check = checks.parse(value, key)
    except ConfigError as error:
        raise lines.error(key, str(error), start) from None
    unknown = sorted(checks.backends_named(check) - set(names.backends) - set(extra))
    if unknown:
        raise lines.error(
            key,
            f"{key} names backend {unknown[0]!r}, which the lesson's lab does not have"
            f" (backends: {', '.join(names.backends)})",
            start,
        )
    return check


def _step(raw: Any, index: int, line: int, setup: LabConfig, names: Names, lines: Lines) -> Step:
    path = lines.path
    start = line - 1
    if not isinstance(raw, Mapping):
        raise LessonError(path, line, f"step {index + 1} must be a table")
    kind = raw.get("kind")
    if kind not in STEP_KINDS:
        raise lines.error(
            "kind", f"step {index + 1}: kind must be one of {', '.join(STEP_KINDS)}", start
        )
    extra = sorted(set(raw) - _STEP_KEYS[kind])
    if extra:
        raise lines.error(
            extra[0],
            f"step {index + 1} ({kind}) has no key {extra[0]!r}"
            f" (keys: {', '.join(sorted(_STEP_KEYS[kind]))})",
            start,
        )
    text = _text(raw, "text", lines, start)
    after = raw.get("after", "")
    if not isinstance(after, str):
        raise lines.error("after", "after must be text", start)
    where = f"step {index + 1} ({kind})"
    if kind == "read":
        return Step(kind, text, index, line, after)
    if kind == "do":
        solution = _controls(raw.get("solution"), "solution", names, lines, start)
        if not solution:
            raise lines.error("solution", f"{where} needs a solution", start)
        added = [name for control in solution for name in added_by(control)]
        if "check" not in raw:
            raise LessonError(path, line, f"{where} needs a check")
        check = _check(raw["check"], "check", names, lines, start, added)
        hints = _strings(raw, "hints", lines, required=True, start=start)
        timeout = raw.get("timeout", DEFAULT_TIMEOUT)
        if not _within(timeout, 1, 300):
            raise lines.error("timeout", f"{where}: timeout must be 1 to 300 seconds", start)
        return Step(kind, text, index, line, after, solution, check, hints, float(timeout))
    if kind == "predict":
        try:
            question = predict.parse_question(raw, where)
            predict.answer(question, setup)  # computable now, or the lesson is broken
        except ConfigError as error:
            raise LessonError(path, line, str(error)) from None
        prompt = raw.get("prompt", "")
        if not isinstance(prompt, str):
            raise lines.error("prompt", f"{where}: prompt must be text", start)
        run = _controls(raw.get("run", []), "run", names, lines, start)
        return Step(kind, text, index, line, after, question=question, prompt=prompt, run=run)
    step_id = raw.get("id")
    if not isinstance(step_id, str) or not _ID.fullmatch(step_id):
        raise LessonError(path, line, f"{where} needs an id: lowercase letters, digits, '-'")
    if "sim" in raw:
        return _sim_step(raw, text, index, line, after, step_id, lines, where)
    wait = raw.get("wait")
    if not isinstance(wait, Mapping) or len(wait) != 1 or not {"requests", "seconds"} & set(wait):
        message = f"{where}: wait is {{ requests = N }} or {{ seconds = S }}"
        raise lines.error("wait", message, start)
    requests = wait.get("requests", 0)
    seconds = wait.get("seconds", 0.0)
    if not _within(requests, 0, 10_000) or not isinstance(requests, int):
        raise lines.error("wait", f"{where}: wait.requests must be 1 to 10000", start)
    if not _within(seconds, 0, 120):
        raise lines.error("wait", f"{where}: wait.seconds must be up to 120", start)
    show = _strings(raw, "show", lines, start=start)
    for item in show:
        if item not in checks.MEASURES:
            raise lines.error(
                "show",
                f"{where}: no measure {item!r} (measures: {', '.join(checks.MEASURES)})",
                start,
            )
    expect = _check(raw["expect"], "expect", names, lines, start) if "expect" in raw else None
    return Step(
        kind,
        text,
        index,
        line,
        after,
        id=step_id,
        wait=Wait(requests, float(seconds)),
        show=show,
        expect=expect,
    )


def _sim_step(
    raw: Mapping[str, Any],
    text: str,
    index: int,
    line: int,
    after: str,
    step_id: str,
    lines: Lines,
    where: str,
) -> Step:
    """An observe step at scale: ``sim`` instead of ``wait``, no ``expect``."""
    start = line - 1
    for key in ("wait", "expect"):
        if key in raw:
            raise lines.error(key, f"{where}: a step with a sim has no {key}", start)
    try:
        config = sim_config.build(sim_config.table_values(raw["sim"], "sim"))
    except ConfigError as error:
        raise lines.error("sim", f"{where}: {error}", start) from None
    if total_requests(config) > SIM_MOST:
        raise lines.error(
            "sim",
            f"{where}: the sim makes {total_requests(config):,} requests in all; a lesson"
            f" step may make {SIM_MOST:,} (seconds, not minutes)",
            start,
        )
    show = _strings(raw, "show", lines, required=True, start=start)
    for item in show:
        if item not in SIM_SHOWS:
            raise lines.error(
                "show", f"{where}: a sim shows {', '.join(SIM_SHOWS)}, not {item!r}", start
            )
    return Step("observe", text, index, line, after, id=step_id, show=show, sim=config)


def _within(value: Any, low: float, high: float) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high


_PLACEHOLDER = re.compile(r"\{([a-z0-9-]+)\.([A-Za-z_0-9.-]+?)(?::(pct|ms|n))?\}")


def _check_recap(recap: str, steps: Sequence[Step], lines: Lines) -> None:
    ids = {s.id for s in steps if s.id}
    for match in _PLACEHOLDER.finditer(recap):
        step_id = match.group(1)
        if step_id not in ids:
            known = ", ".join(sorted(ids)) or "none"
            message = f"recap quotes {step_id!r}, which is no observe step's id ({known})"
            raise lines.error("recap", message)
        measure = match.group(2).split(".")[0]
        if measure not in checks.MEASURES and measure not in SIM_SHOWS:
            raise lines.error("recap", f"recap quotes no measure {measure!r}")
    stray = re.findall(r"\{[^}]*\}", _PLACEHOLDER.sub("", recap))
    if stray:
        raise lines.error("recap", f"recap has a placeholder lbplay cannot fill: {stray[0]}")


def unfilled(recap: str, measured: Mapping[str, Any]) -> list[str]:
    """The recap's placeholders that nothing measured fills (``lessons check --run``)."""
    return [
        match.group(0)
        for match in _PLACEHOLDER.finditer(recap)
        if measured.get(f"{match.group(1)}.{match.group(2)}") is None
    ]


def fill_recap(recap: str, measured: Mapping[str, Any]) -> str:
    """The recap with each ``{id.measure.backend:format}`` replaced by what was measured."""

    def replace(match: re.Match[str]) -> str:
        key = f"{match.group(1)}.{match.group(2)}"
        value = measured.get(key)
        if value is None:
            return "—"
        style = match.group(3)
        if style == "pct":
            return f"{value:.0%}"
        if style == "ms":
            return fmt_ms(value)
        if match.group(2).split(".")[0] == "bytes" and not style:
            return fmt_bytes(value)
        if isinstance(value, float):
            return f"{value:.3g}"
        return str(value)

    return _PLACEHOLDER.sub(replace, recap)
