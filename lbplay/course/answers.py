"""What a quiz question's answers are made of, and how typed answers are read.

Shared by the hand-written questions (``course.quiz``) and the generated ones
(``course.generators``), so a generated question is graded by the same code as a
hand-written one of its form:

* ``Choice`` — one option of a choice or multiple-choice question: its text, whether
  it is right, ``why`` (the feedback) and, for a wrong one, the misconception it
  catches (a REFERENCE.md number, or ``catches`` in words);
* ``Number`` — a numeric answer: the value, the range that counts as right, the unit,
  why, and ``Wrong`` values learners often give, each naming its misconception;
* ``Drawn`` — one concrete generated question.

Typed answers are read leniently but never guessed at: ``b``, ``(b)``, ``a c``,
``a,c``; ``60``, ``60 s``, ``1 min``, ``500ms``, ``75%``, ``0.75``, ``3/4``;
``3 1 2``. Anything else is an ``AnswerError`` whose message is one line saying what
to type, so a line-based quiz can re-ask.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lbplay.course import predict
from lbplay.course.syllabus import MISCONCEPTIONS
from lbplay.errors import LbplayError

#: How a question is answered: one letter, letters, a number, an order, a checklist
#: ticked after writing an explanation, backend names in order, or shares.
Form = Literal["choice", "multiple", "number", "order", "checklist", "picks", "shares"]
FORMS: tuple[Form, ...] = ("choice", "multiple", "number", "order", "checklist", "picks", "shares")
LETTERS = "abcdefghij"


class AnswerError(LbplayError):
    """A typed answer that cannot be read; the message says, in one line, what to type."""


def caught_text(misconception: int | None, catches: str) -> str:
    """``misconception 7: sticky sessions are not high availability ...`` or the
    ``catches`` words: what a wrong answer reveals."""
    if misconception is not None:
        return f"misconception {misconception}: {MISCONCEPTIONS[misconception]}"
    return catches


@dataclass(frozen=True)
class Choice:
    """One option of a choice or multiple-choice question."""

    text: str
    correct: bool
    #: Why it is right, or why it is wrong: shown once the question is answered.
    why: str
    #: A wrong option's misconception (REFERENCE.md's number) ...
    misconception: int | None = None
    #: ... or, when it is no numbered one, what it catches, in words.
    catches: str = ""

    @property
    def caught(self) -> str:
        """What choosing this wrong option reveals ("" for a right one)."""
        return "" if self.correct else caught_text(self.misconception, self.catches)


@dataclass(frozen=True)
class Wrong:
    """A wrong number learners often give, and the misconception behind it."""

    value: float
    why: str
    misconception: int | None = None
    catches: str = ""

    @property
    def caught(self) -> str:
        return caught_text(self.misconception, self.catches)


@dataclass(frozen=True)
class Trap:
    """A wrong sequence of picks learners often give, and what it reveals."""

    answer: tuple[str, ...]
    why: str
    misconception: int | None = None
    catches: str = ""

    @property
    def caught(self) -> str:
        return caught_text(self.misconception, self.catches)


@dataclass(frozen=True)
class Number:
    """A numeric answer: right when the typed value (in ``unit``) is within
    ``low``..``high``."""

    value: float
    low: float
    high: float
    #: "s", "ms", "%" or a word ("requests"); "" for a bare number.
    unit: str
    why: str
    wrong: tuple[Wrong, ...] = ()

    #: How to write the answer when the value alone would mislead ("4 to 6 s").
    label: str = ""

    @property
    def text(self) -> str:
        """The right answer as written: ``60 s``, ``75%``, ``4 to 6 s``."""
        return self.label or show(self.value, self.unit)

    @property
    def accepted(self) -> str:
        """The answer and, when a range counts, the range: ``14.3% (9.55% to 19.1%
        counts)``."""
        if self.label or self.high - self.low <= max(1e-6, 0.02 * abs(self.value)):
            return self.text
        return f"{self.text} ({show(self.low, self.unit)} to {show(self.high, self.unit)} counts)"

    def counts(self, value: float) -> bool:
        """Whether ``value`` (in ``unit``) is a right answer."""
        return self.low - 1e-9 <= value <= self.high + 1e-9


def show(value: float, unit: str) -> str:
    """A number with its unit: ``60 s``, ``75%``, ``3 requests``, ``0.5``."""
    number = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if unit == "%":
        return f"{number}%"
    return f"{number} {unit}" if unit else number


@dataclass(frozen=True)
class Drawn:
    """One generated question, concrete: what to show and what is right.

    Exactly one of ``choices`` (choice form), ``number`` (number form) or
    ``predicted`` (picks form: the predict question and the engine's answer) is set.
    """

    form: Form
    text: str
    choices: tuple[Choice, ...] = ()
    number: Number | None = None
    predicted: tuple[predict.Question, predict.Answer] | None = None
    #: Wrong picks learners often give (picks form).
    traps: tuple[Trap, ...] = ()
    #: How the engine reached the answer, in words (shown after answering).
    reasoning: str = ""
    #: What was drawn (algorithm, backends, weights, keys, ...): for replaying the
    #: question elsewhere (a test replays picks on a real Lab) and for display.
    params: Mapping[str, Any] = field(default_factory=dict)


# -- reading typed answers ------------------------------------------------------------------


def read_letters(text: str, count: int, *, multiple: bool) -> list[int]:
    """The options chosen, as 0-based indexes: ``b`` → [1]; ``a c`` / ``a,c`` / ``ac``
    → [0, 2] (multiple only)."""
    last = LETTERS[count - 1]
    what = (
        f"type the letters of every right answer, a to {last} (e.g. a c)"
        if multiple
        else f"type one letter, a to {last}"
    )
    tokens = [t.strip("().").lower() for t in re.split(r"[\s,;]+", text.strip()) if t.strip("().")]
    if len(tokens) == 1 and len(tokens[0]) > 1 and tokens[0].isalpha() and multiple:
        tokens = list(tokens[0])
    if not tokens or any(len(t) != 1 or t not in LETTERS[:count] for t in tokens):
        raise AnswerError(what)
    if not multiple and len(tokens) != 1:
        raise AnswerError(what)
    return sorted({LETTERS.index(t) for t in tokens})


def read_order(text: str, count: int) -> list[int]:
    """An order of the shown items, 0-based: ``3 1 2`` → [2, 0, 1] (``312`` too, up to
    nine items); each item exactly once."""
    what = f"type the numbers 1 to {count} in the right order, each once (e.g. 2 3 1)"
    tokens = [t for t in re.split(r"[\s,;>-]+", text.strip()) if t]
    if len(tokens) == 1 and count <= 9 and tokens[0].isdigit() and len(tokens[0]) == count:
        tokens = list(tokens[0])
    if not all(t.isdigit() for t in tokens):
        raise AnswerError(what)
    numbers = [int(t) for t in tokens]
    if sorted(numbers) != list(range(1, count + 1)):
        raise AnswerError(what)
    return [n - 1 for n in numbers]


def read_ticks(text: str, count: int) -> set[int]:
    """Checklist items ticked, 0-based: ``1 3``, ``all`` or ``none``."""
    what = f"type the numbers of the points you covered (1 to {count}), all, or none"
    words = text.strip().lower()
    if words == "all":
        return set(range(count))
    if words in ("none", "0", "-"):
        return set()
    tokens = [t for t in re.split(r"[\s,;]+", words) if t]
    if not tokens or not all(t.isdigit() and 1 <= int(t) <= count for t in tokens):
        raise AnswerError(what)
    return {int(t) - 1 for t in tokens}


_NUMBER = re.compile(r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:\s*/\s*\d+(?:\.\d*)?)?)\s*([a-z%]*)")
#: Seconds per time unit a learner may type.
_TIME = {
    "ms": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
}


def read_number(text: str, unit: str) -> float:
    """The typed number in the question's ``unit``.

    Times convert (``1 min`` for seconds is 60, ``500ms`` is 0.5); for a percentage,
    ``75``, ``75%``, ``0.75`` and ``3/4`` are all 75 (a bare number below 1 with a
    decimal point, or a fraction, is read as a fraction of the whole).
    """
    what = f"type a number{f' ({unit_words(unit)})' if unit else ''}, e.g. {_example(unit)}"
    match = _NUMBER.fullmatch(text.strip().lower().replace(",", ""))
    if not match:
        raise AnswerError(what)
    figure, given = match.group(1), match.group(2)
    top, slash, bottom = figure.partition("/")
    try:
        value = float(top) / float(bottom) if slash else float(top)
    except (ValueError, ZeroDivisionError):
        raise AnswerError(what) from None
    if not math.isfinite(value):
        raise AnswerError(what)
    fraction = bool(slash) or ("." in top and abs(value) < 1)
    if unit == "%":
        if given == "%":
            return value
        if given:
            raise AnswerError(what)
        return value * 100 if fraction else value
    if unit in _TIME:
        if not given:
            return value
        if given not in _TIME:
            raise AnswerError(what)
        return value * _TIME[given] / _TIME[unit]
    if given and given != unit.lower() and given.rstrip("s") != unit.lower().rstrip("s"):
        raise AnswerError(what)
    return value


def unit_words(unit: str) -> str:
    """``seconds``, ``a percentage``, ``milliseconds`` or the unit itself."""
    return {"s": "seconds", "ms": "milliseconds", "%": "a percentage", "min": "minutes"}.get(
        unit, unit
    )


def _example(unit: str) -> str:
    return {"s": "60 or 60 s", "ms": "250 or 250 ms", "%": "75 or 75%"}.get(
        unit, f"12 {unit}".strip()
    )
