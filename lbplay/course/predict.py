"""Questions whose answers lbplay's own engine computes, never typed into a lesson.

A predict step (and a generated quiz question) names a kind of question and its
parameters; the answer comes from the core, on the lesson's own setup:

* ``picks`` — the next ``count`` picks of the default pool's algorithm, weights and
  options (``core.explore.pick_sequence``), optionally with requests already in
  flight (``in_flight = { s1 = 20, s2 = 12 }``) for least-connections questions;
* ``share`` — each backend's share of the next ``count`` requests;
* ``keys_moved`` — the share of keys that move when ``change = "add s5"`` or
  ``"remove s2"`` (``core.explore.key_movement``, 10,000 keys), with the setup's
  algorithm or another one the question names (``algorithm = "ring_hash"``, with
  its own ``options``), so one lesson can set modulo and consistent hashing side by
  side;
* ``detection`` — seconds from a backend dying to its DOWN, with the lab's health
  checks (a refused probe fails at once, so between (fall − 1) and fall intervals);
* ``recovery`` — seconds from a revived backend's first good probe window to UP.

``answer`` computes; ``grade`` reads what the learner typed ("s1 s2 s1 …", "3.5",
"50%") and says how close it was.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lbplay.core import registry
from lbplay.core.backends import Backend
from lbplay.core.balancer import Balancer
from lbplay.core.explore import VirtualClock, fresh_backends, key_movement, pick_sequence
from lbplay.core.picker import Pick
from lbplay.errors import ConfigError
from lbplay.model.config import LabConfig

QUESTIONS = ("picks", "share", "keys_moved", "detection", "recovery")


@dataclass(frozen=True)
class Question:
    """What a predict step asks, with its parameters."""

    kind: str
    count: int = 10
    change: str = ""
    in_flight: Mapping[str, int] = field(default_factory=dict)
    #: How far a number may be off and still count (seconds, or share points).
    tolerance: float = 0.0
    #: keys_moved: the algorithm asked about ("" = the setup's) and its options.
    algorithm: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    """The engine's answer: the value, how it is written, and why."""

    value: Any
    text: str
    why: str = ""
    #: For numbers: the range every correct answer lies in.
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Grade:
    correct: bool
    #: 0..1: the share of the answer that was right.
    score: float
    feedback: str


def parse_question(data: Mapping[str, Any], where: str) -> Question:
    kind = data.get("question")
    if kind not in QUESTIONS:
        raise ConfigError(f"{where}: question must be one of {', '.join(QUESTIONS)}, not {kind!r}")
    count = data.get("count", 10)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise ConfigError(f"{where}.count must be a whole number from 1 to 1000")
    change = data.get("change", "")
    if kind == "keys_moved" and not re.fullmatch(r"(add|remove) \S+", str(change)):
        raise ConfigError(f"{where}.change must be 'add NAME' or 'remove NAME'")
    in_flight = data.get("in_flight", {})
    if not isinstance(in_flight, Mapping) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000
        for v in in_flight.values()
    ):
        raise ConfigError(f"{where}.in_flight must map backends to requests in flight")
    tolerance = data.get("tolerance", 0.0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        raise ConfigError(f"{where}.tolerance must be a number, 0 or more")
    algorithm = data.get("algorithm", "")
    options = data.get("options", {})
    if not isinstance(algorithm, str):
        raise ConfigError(f"{where}.algorithm must be an algorithm's name")
    if not isinstance(options, Mapping):
        raise ConfigError(f"{where}.options must be a table like {{ vnodes = 10 }}")
    if (algorithm or options) and kind != "keys_moved":
        raise ConfigError(
            f"{where}: only a keys_moved question may name its own algorithm or options"
            " (the others are about the lab's)"
        )
    if options and not algorithm:
        raise ConfigError(f"{where}.options need the algorithm they are for")
    if algorithm:
        info = registry.get(algorithm)
        info.resolve_options(options)
        algorithm = info.name
    return Question(
        str(kind),
        count,
        str(change),
        dict(in_flight),
        float(tolerance),
        algorithm,
        dict(options),
    )


def _fleet(setup: LabConfig) -> list[Backend]:
    return [Backend(b.name, b.weight, backup=b.backup) for b in setup.backends]


def answer(question: Question, setup: LabConfig) -> Answer:
    """The engine's answer to ``question`` about a lab started from ``setup``."""
    info = registry.get(setup.algorithm)
    if question.kind in ("picks", "share"):
        if info.uses_random:
            raise ConfigError(
                f"{info.name} draws random numbers: its picks cannot be predicted; ask about"
                " a share or use a deterministic algorithm"
            )
        picks = _picks(question, setup)
        names = [name for name, _ in picks]
        if question.kind == "picks":
            why = "\n".join(f"{n}. {reason}" for n, (_, reason) in enumerate(picks, start=1))
            return Answer(names, " ".join(names), why)
        counts = Counter(names)
        shares = {b.name: counts[b.name] / len(names) for b in setup.backends if not b.backup}
        text = " ".join(f"{n}={s:.0%}" for n, s in shares.items())
        return Answer(shares, text, f"over the next {len(names)} picks")
    if question.kind == "keys_moved":
        verb, name = question.change.split()
        fleet = _fleet(setup)
        added = [Backend(name)] if verb == "add" else []
        removed = [name] if verb == "remove" else []
        algorithm, options = (
            (question.algorithm, question.options)
            if question.algorithm
            else (info.name, setup.options)
        )
        movement = key_movement(algorithm, fleet, remove=removed, add=added, options=options)
        moved = movement.moved_share
        return Answer(
            moved,
            f"{moved:.0%}",
            f"{movement.moved:,} of {movement.keys:,} keys move with {algorithm}; the fewest"
            f" possible is {movement.minimum / movement.keys:.0%}",
            max(0.0, moved - question.tolerance),
            moved + question.tolerance,
        )
    health = setup.health
    if health is None:
        raise ConfigError("a health question needs health checks in the lesson's setup")
    intervals = health.fall if question.kind == "detection" else health.rise
    low, high = (intervals - 1) * health.interval, intervals * health.interval
    what = "fail" if question.kind == "detection" else "pass"
    return Answer(
        (low + high) / 2,
        f"{low:g} to {high:g} s",
        f"{_probes(intervals)} must {what} in a row, one every {health.interval:g} s; the"
        f" first comes anywhere within an interval of the change",
        low - question.tolerance,
        high + question.tolerance,
    )


def _probes(count: int) -> str:
    return "1 probe" if count == 1 else f"{count} probes"


def _picks(question: Question, setup: LabConfig) -> list[tuple[str, str]]:
    """(backend, reason) of each of the next ``count`` picks."""
    if not question.in_flight:
        rows = pick_sequence(setup.algorithm, _fleet(setup), question.count, options=setup.options)
        return [(row.backend, row.reason) for row in rows]
    balancer = _loaded(question, setup)
    return [
        (pick.backend.name, pick.reason)
        for pick in (_pick_and_finish(balancer) for _ in range(question.count))
    ]


def _loaded(question: Question, setup: LabConfig) -> Balancer:
    """A balancer of the setup's fleet with ``in_flight`` requests held open."""
    backends = fresh_backends(_fleet(setup))
    balancer = Balancer(backends, setup.algorithm, options=setup.options, clock=VirtualClock())
    by_name = {b.name: b for b in backends}
    for name, count in question.in_flight.items():
        if name not in by_name:
            raise ConfigError(f"in_flight names {name!r}, which is not in the setup")
        for _ in range(count):
            balancer.begin(Pick(by_name[name], "held"))
    return balancer


def _pick_and_finish(balancer: Balancer) -> Pick:
    pick = balancer.pick()
    balancer.end(balancer.begin(pick), latency=0.01)
    return pick


# -- grading --------------------------------------------------------------------------------


def typed(truth: Answer) -> str:
    """The right answer as a learner would type it ("s1 s2 s1", "s1=50% s2=50%", "5")."""
    if isinstance(truth.value, float):
        return f"{truth.value:g}"
    return truth.text


def grade(question: Question, truth: Answer, given: str) -> Grade:
    """How close ``given`` (what the learner typed) is to the engine's answer."""
    text = given.strip()
    if question.kind == "picks":
        names = [word for word in re.split(r"[\s,]+", text) if word]
        right = sum(1 for a, b in zip(names, truth.value, strict=False) if a == b)
        score = right / len(truth.value)
        if names == truth.value:
            return Grade(True, 1.0, f"exactly: {truth.text}")
        return Grade(
            False,
            score,
            f"{right} of {len(truth.value)} in the right place; the engine says {truth.text}",
        )
    if question.kind == "share":
        return _grade_share(truth, text)
    number = _number(text)
    if number is None:
        return Grade(False, 0.0, f"not a number; the engine says {truth.text}")
    if question.kind == "keys_moved" and (text.endswith("%") or number > 1):
        number /= 100
    low = truth.low if truth.low is not None else truth.value
    high = truth.high if truth.high is not None else truth.value
    if low - 1e-9 <= number <= high + 1e-9:
        return Grade(True, 1.0, f"right: {truth.text} ({truth.why})")
    return Grade(False, 0.0, f"the engine says {truth.text} ({truth.why})")


def _grade_share(truth: Answer, text: str) -> Grade:
    given: dict[str, float] = {}
    for part in re.split(r"[\s,]+", text):
        name, sep, value = part.partition("=")
        number = _number(value) if sep else None
        if number is not None:
            given[name] = number / 100 if value.endswith("%") or number > 1 else number
    close = [n for n, s in truth.value.items() if abs(given.get(n, -1) - s) <= 0.05]
    score = len(close) / len(truth.value)
    if score == 1:
        return Grade(True, 1.0, f"right: {truth.text}")
    return Grade(False, score, f"the engine says {truth.text}")


def _number(text: str) -> float | None:
    try:
        value = float(text.strip().rstrip("%s").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
