"""Quiz questions as data: banks of TOML under ``lessons/quiz/``, asked with seeded
shuffles and parameters, graded from what a learner typed, with feedback that names
the misconception a wrong answer reveals.

A bank is any ``lessons/quiz/*.toml`` (``lessons/quiz/README.md`` is the authoring
guide)::

    [[questions]]
    id = "sticky-is-not-ha"
    kind = "choice"            # choice | multiple | numeric | order | explain | predict | generated
    self_check = [5]           # the explainer's self-check items (course.syllabus.SELF_CHECK)
    lesson = "sessions"        # a lesson id from lessons/course.toml
    misconceptions = [7]       # REFERENCE.md's numbers
    text = "Markdown"

    [[questions.choices]]
    text = "..."
    correct = false
    why = "why it is wrong"
    misconception = 7          # or catches = "what it catches, in words"

``load_bank`` reads and checks every bank — ids unique, every tag, lesson and
misconception real, every choice with its feedback, every computed answer computable
and every generated kind drawn for sample seeds — and refuses a mistake with a
``LessonError`` naming the file and line. ``ask`` makes an ``Asked`` (shuffles and
generated parameters from a seed), ``grade`` reads a typed answer and returns a
``Result`` with the feedback. Spaced repetition is ``course.leitner``; a round of
questions with its bookkeeping is ``course.quizround``.
"""

from __future__ import annotations

import math
import random
import re
import tomllib
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from lbplay.course import generators, predict
from lbplay.course.answers import (
    LETTERS,
    AnswerError,
    Choice,
    Drawn,
    Form,
    Number,
    Trap,
    Wrong,
    read_letters,
    read_number,
    read_order,
    read_ticks,
    show,
    unit_words,
)
from lbplay.course.lesson import LessonError, Lines, read_toml
from lbplay.course.syllabus import MISCONCEPTIONS, SELF_CHECK, SOURCE_ERRORS
from lbplay.errors import ConfigError
from lbplay.model.config import LabConfig
from lbplay.model.tomlform import from_dict
from lbplay.resources import lessons_dir

Kind = Literal["choice", "multiple", "numeric", "order", "explain", "predict", "generated"]
KINDS: tuple[Kind, ...] = (
    "choice",
    "multiple",
    "numeric",
    "order",
    "explain",
    "predict",
    "generated",
)
#: The folder of banks inside the course folder.
FOLDER = "quiz"
#: Seeds each generated question is drawn with when a bank is loaded (a test draws
#: hundreds more).
SAMPLE_SEEDS = (0, 1, 2)
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,60}")
_COMMON = {"id", "kind", "self_check", "lesson", "misconceptions", "source_errors", "text", "after"}
_KEYS: dict[str, set[str]] = {
    "choice": _COMMON | {"choices", "shuffle"},
    "multiple": _COMMON | {"choices", "shuffle"},
    "numeric": _COMMON
    | {"answer", "tolerance", "unit", "why", "source", "wrong", "compute", "setup"},
    "order": _COMMON | {"items", "why", "source"},
    "explain": _COMMON | {"checklist", "model", "seconds", "pass"},
    "predict": _COMMON | {"compute", "setup", "why"},
    "generated": _COMMON | {"generator", "params"},
}
_CHOICE_KEYS = {"text", "correct", "why", "misconception", "catches"}
_WRONG_KEYS = {"answer", "why", "misconception", "catches"}
#: How far (a share, 0.05 = 5 points) a computed keys_moved answer may be off unless
#: the question says.
KEYS_MOVED_TOLERANCE = 0.05
#: Units a numeric question may use (a learner may type others that convert).
UNITS = ("s", "ms", "%", "")
#: Makes the error for a key of the question being read: (key, message).
_Error = Callable[[str, str], LessonError]


@dataclass(frozen=True)
class Question:
    """One bank entry, checked."""

    id: str
    kind: Kind
    self_check: tuple[int, ...]
    lesson: str
    misconceptions: tuple[int, ...]
    text: str
    path: Path
    line: int
    source_errors: tuple[int, ...] = ()
    #: Shown after answering, right or wrong: the idea to keep.
    after: str = ""
    # choice, multiple
    choices: tuple[Choice, ...] = ()
    shuffle: bool = True
    # numeric (stored or computed), order, predict: why the answer is right
    why: str = ""
    source: str = ""
    number: Number | None = None
    # numeric with compute, predict: the engine's question and answer on ``setup``
    predicted: tuple[predict.Question, predict.Answer] | None = None
    setup: LabConfig | None = None
    # order: the items in the right order
    items: tuple[str, ...] = ()
    # explain
    checklist: tuple[str, ...] = ()
    model: str = ""
    seconds: int = 60
    pass_mark: int = 0
    # generated
    generator: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def generated(self) -> bool:
        return self.kind == "generated"

    @property
    def computed(self) -> bool:
        """Whether lbplay's engine computes the answer (never typed into the bank)."""
        return self.generated or self.predicted is not None


@dataclass(frozen=True)
class Bank:
    """Every question, in file order."""

    questions: tuple[Question, ...]

    def get(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise ConfigError(f"no question {question_id!r} in the quiz")

    @property
    def ids(self) -> list[str]:
        return [q.id for q in self.questions]


# -- loading -------------------------------------------------------------------------------


class _Lines(Lines):
    """Line numbers in a bank: each ``[[questions]]`` and what is inside it."""

    def question(self, index: int) -> int:
        return self._find(r"\[\[questions\]\]", occurrence=index) or 1

    def nth(self, pattern: str, start: int, index: int) -> int:
        """The line of the ``index``-th line matching ``pattern`` after line ``start``
        (1-based), within the same question; ``start`` itself if none."""
        end = self._find(r"\[\[questions\]\]", start)
        found = self._find(pattern, start, occurrence=index)
        return found if found and (not end or found < end) else start


def course_lessons(folder: Path) -> list[str]:
    """The lesson ids ``course.toml`` in ``folder`` lists (what a question may tag)."""
    manifest = folder / "course.toml"
    try:
        data = tomllib.loads(manifest.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise LessonError(manifest, 0, f"cannot read the course's lessons: {error}") from None
    ids = data.get("lessons")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise LessonError(manifest, 1, 'lessons must be a list of lesson ids: lessons = ["..."]')
    return list(ids)


def bank_folder() -> Path:
    """Where the shipped (or ``LBPLAY_LESSONS``'s) question banks are."""
    return lessons_dir() / FOLDER


def load_bank(
    folder: Path | None = None,
    *,
    lessons: Sequence[str] | None = None,
    seeds: Sequence[int] = SAMPLE_SEEDS,
) -> Bank:
    """Every bank in ``folder`` (default: the course's ``quiz/``), checked against the
    course's ``lessons`` ids; ``LessonError`` with file and line at the first mistake."""
    folder = folder or bank_folder()
    if lessons is None:
        lessons = course_lessons(folder.parent)
    if not folder.is_dir():
        raise LessonError(folder, 0, "no quiz folder here")
    stray = sorted(
        p.name
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.suffix != ".toml" and p.name != "README.md"
    )
    if stray:
        raise LessonError(folder / stray[0], 0, "not a question bank: name it <name>.toml")
    questions: list[Question] = []
    seen: dict[str, Question] = {}
    for path in sorted(folder.glob("*.toml")):
        for question in load_file(path, lessons, seeds):
            if question.id in seen:
                first = seen[question.id]
                raise LessonError(
                    path,
                    question.line,
                    f"id {question.id!r} is used twice (first at {first.path.name}:{first.line})",
                )
            seen[question.id] = question
            questions.append(question)
    if not questions:
        raise LessonError(folder, 0, "no questions here: add a bank, <name>.toml")
    return Bank(tuple(questions))


def load_file(
    path: Path, lessons: Sequence[str], seeds: Sequence[int] = SAMPLE_SEEDS
) -> list[Question]:
    """The questions of one bank file, checked."""
    text, data = read_toml(path)
    lines = _Lines(path, text)
    extra = sorted(set(data) - {"questions"})
    if extra:
        raise LessonError(
            path, lines.key(extra[0]), f"no setting {extra[0]!r} in a bank (only [[questions]])"
        )
    raw = data.get("questions")
    if not isinstance(raw, list) or not raw:
        raise LessonError(path, 1, "a bank needs [[questions]]")
    return [
        _question(entry, lines, lines.question(index), lessons, seeds)
        for index, entry in enumerate(raw)
    ]


def _question(
    raw: Any, lines: _Lines, line: int, lessons: Sequence[str], seeds: Sequence[int]
) -> Question:
    path = lines.path
    start = line - 1

    def error(key: str, message: str) -> LessonError:
        return LessonError(path, lines.key(key, start) if key in raw else line, message)

    if not isinstance(raw, Mapping):
        raise LessonError(path, line, "a question must be a table")
    question_id = raw.get("id")
    if not isinstance(question_id, str) or not _ID.fullmatch(question_id):
        raise error("id", "id must be lowercase letters, digits and '-' (e.g. 'sticky-is-not-ha')")
    where = f"question {question_id!r}"
    kind = raw.get("kind")
    if kind not in KINDS:
        raise error("kind", f"{where}: kind must be one of {', '.join(KINDS)}")
    extra = sorted(set(raw) - _KEYS[kind])
    if extra:
        keys = ", ".join(sorted(_KEYS[kind]))
        raise error(extra[0], f"{where} ({kind}) has no key {extra[0]!r} (keys: {keys})")
    self_check = _numbers(raw, "self_check", SELF_CHECK, error, where, required=True)
    lesson = raw.get("lesson")
    if not isinstance(lesson, str) or lesson not in lessons:
        raise error("lesson", f"{where}: lesson must be a lesson id ({', '.join(lessons)})")
    if "misconceptions" not in raw:
        raise LessonError(path, line, f"{where} needs misconceptions = [...] (may be [])")
    misconceptions = _numbers(raw, "misconceptions", MISCONCEPTIONS, error, where)
    source_errors = _numbers(raw, "source_errors", SOURCE_ERRORS, error, where)
    text = raw.get("text", "")
    if not isinstance(text, str) or (kind != "generated" and not text.strip()):
        raise error("text", f"{where}: text must be the question, in Markdown")
    after = raw.get("after", "")
    if not isinstance(after, str):
        raise error("after", f"{where}: after must be text")
    base = Question(
        question_id,
        kind,
        self_check,
        lesson,
        misconceptions,
        text.strip(),
        path,
        line,
        source_errors,
        after.strip(),
    )
    fields: dict[str, Any] = {}
    if kind in ("choice", "multiple"):
        fields = _choices(raw, kind, base, lines, error, where)
    elif kind == "numeric":
        fields = _numeric(raw, base, lines, error, where)
    elif kind == "order":
        fields = _order(raw, error, where)
    elif kind == "explain":
        fields = _explain(raw, error, where)
    elif kind == "predict":
        fields = _computed(raw, error, where, numeric=False)
    else:
        fields = _generated(raw, error, where, seeds)
    return replace(base, **fields)


def _numbers(
    raw: Mapping[str, Any],
    key: str,
    known: Mapping[int, str],
    error: _Error,
    where: str,
    *,
    required: bool = False,
) -> tuple[int, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v in known for v in value
    ):
        raise error(
            key, f"{where}: {key} must be a list of numbers from {min(known)} to {max(known)}"
        )
    if required and not value:
        raise error(key, f"{where}: {key} must name at least one ({min(known)}-{max(known)})")
    return tuple(value)


def _text(raw: Mapping[str, Any], key: str, error: _Error, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        raise error(key, f"{where}: {key} must be some text")
    return value.strip()


def _caught(
    raw: Mapping[str, Any], what: str, error: _Error, where: str, allowed: Sequence[int]
) -> tuple[int | None, str]:
    """A wrong answer's misconception number or ``catches`` words (exactly one)."""
    number = raw.get("misconception")
    catches = raw.get("catches", "")
    if number is not None and catches:
        raise error("catches", f"{where}: {what} has both misconception and catches: keep one")
    if number is None:
        if not isinstance(catches, str) or not catches.strip():
            raise error(
                "why",
                f"{where}: {what} must name what it catches: misconception = N"
                ' (REFERENCE.md\'s number) or catches = "..."',
            )
        return None, catches.strip()
    if isinstance(number, bool) or not isinstance(number, int) or number not in MISCONCEPTIONS:
        raise error("misconception", f"{where}: {what}: misconception must be 1 to 14")
    if number not in allowed:
        raise error(
            "misconception",
            f"{where}: {what} catches misconception {number}: list it in the question's"
            " misconceptions too",
        )
    return number, ""


def _choices(
    raw: Mapping[str, Any],
    kind: str,
    base: Question,
    lines: _Lines,
    error: _Error,
    where: str,
) -> dict[str, Any]:
    values = raw.get("choices")
    if not isinstance(values, list) or not 2 <= len(values) <= len(LETTERS):
        raise error(
            "choices", f"{where}: choices must be 2 to {len(LETTERS)} [[questions.choices]]"
        )
    start = base.line
    choices = []
    for index, value in enumerate(values):
        line = lines.nth(r"(\[\[questions\.choices\]\]|\{)", start, index)
        what = f"choice {index + 1}"

        def here(key: str, message: str, line: int = line) -> LessonError:
            return LessonError(lines.path, lines.key(key, line - 1) if line else start, message)

        if not isinstance(value, Mapping):
            raise LessonError(lines.path, line, f"{where}: {what} must be a table")
        extra = sorted(set(value) - _CHOICE_KEYS)
        if extra:
            keys = ", ".join(sorted(_CHOICE_KEYS))
            raise here(extra[0], f"{where}: {what} has no key {extra[0]!r} (keys: {keys})")
        text = _text(value, "text", here, f"{where}, {what}")
        correct = value.get("correct")
        if not isinstance(correct, bool):
            raise here("correct", f"{where}: {what} needs correct = true or false")
        why = _text(value, "why", here, f"{where}, {what}")
        if correct:
            if "misconception" in value or "catches" in value:
                raise here(
                    "misconception",
                    f"{where}: {what} is right, so it catches no misconception",
                )
            choices.append(Choice(text, True, why))
        else:
            number, catches = _caught(value, what, here, where, base.misconceptions)
            choices.append(Choice(text, False, why, number, catches))
    right = sum(c.correct for c in choices)
    if kind == "choice" and right != 1:
        raise error("choices", f"{where}: a choice question has exactly one right choice ({right})")
    if kind == "multiple" and (right < 1 or right == len(choices)):
        raise error("choices", f"{where}: a multiple question needs right and wrong choices")
    shuffle = raw.get("shuffle", True)
    if not isinstance(shuffle, bool):
        raise error("shuffle", f"{where}: shuffle must be true or false")
    return {"choices": tuple(choices), "shuffle": shuffle}


def _numeric(
    raw: Mapping[str, Any], base: Question, lines: _Lines, error: _Error, where: str
) -> dict[str, Any]:
    if "compute" in raw:
        if "answer" in raw or "tolerance" in raw or "unit" in raw:
            raise error(
                "answer",
                f"{where}: a computed question takes its answer, tolerance and unit from compute",
            )
        return _computed(raw, error, where, numeric=True)
    answer = raw.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int | float) or not math.isfinite(answer):
        raise error("answer", f"{where}: answer must be a number (or compute the answer)")
    tolerance = raw.get("tolerance", 0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
        raise error("tolerance", f"{where}: tolerance must be a number, 0 or more")
    unit = raw.get("unit", "")
    if unit not in UNITS and not (isinstance(unit, str) and unit.isalpha()):
        raise error("unit", f"{where}: unit must be s, ms, % or a word (requests)")
    why = _text(raw, "why", error, where)
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise error("source", f"{where}: source must be text")
    wrong = _wrongs(raw, base, lines, error, where)
    number = Number(
        float(answer), float(answer - tolerance), float(answer + tolerance), unit, why, wrong
    )
    for index, item in enumerate(wrong):
        if number.counts(item.value):
            line = lines.nth(r"(\[\[questions\.wrong\]\]|\{)", base.line, index)
            raise LessonError(
                lines.path, line, f"{where}: wrong answer {item.value:g} is within the tolerance"
            )
    return {"number": number, "why": why, "source": source.strip()}


def _wrongs(
    raw: Mapping[str, Any], base: Question, lines: _Lines, error: _Error, where: str
) -> tuple[Wrong, ...]:
    values = raw.get("wrong", [])
    if not isinstance(values, list):
        raise error("wrong", f"{where}: wrong must be [[questions.wrong]] tables")
    wrong = []
    for index, value in enumerate(values):
        line = lines.nth(r"(\[\[questions\.wrong\]\]|\{)", base.line, index)
        what = f"wrong answer {index + 1}"

        def here(key: str, message: str, line: int = line) -> LessonError:
            return LessonError(lines.path, lines.key(key, line - 1), message)

        if not isinstance(value, Mapping) or set(value) - _WRONG_KEYS:
            keys = ", ".join(sorted(_WRONG_KEYS))
            raise LessonError(lines.path, line, f"{where}: {what} is a table of {keys}")
        answer = value.get("answer")
        if isinstance(answer, bool) or not isinstance(answer, int | float):
            raise here("answer", f"{where}: {what} needs answer = a number")
        why = _text(value, "why", here, f"{where}, {what}")
        number, catches = _caught(value, what, here, where, base.misconceptions)
        wrong.append(Wrong(float(answer), why, number, catches))
    return tuple(wrong)


def _computed(
    raw: Mapping[str, Any], error: _Error, where: str, *, numeric: bool
) -> dict[str, Any]:
    compute = raw.get("compute")
    if not isinstance(compute, Mapping):
        raise error(
            "compute", f'{where}: compute must be a table like {{ question = "detection" }}'
        )
    if "setup" not in raw:
        raise error("compute", f"{where}: compute needs the [questions.setup] it is about")
    try:
        setup = from_dict(raw["setup"], "setup")
    except ConfigError as exc:
        raise error("setup", f"{where}: {exc}") from None
    try:
        question = predict.parse_question(compute, f"{where}: compute")
        if question.kind == "keys_moved" and "tolerance" not in compute:
            # Nobody predicts 80.34%: within 5 points counts unless the author says.
            question = replace(question, tolerance=KEYS_MOVED_TOLERANCE)
        truth = predict.answer(question, setup)
    except ConfigError as exc:
        raise error("compute", str(exc)) from None
    kinds = ("keys_moved", "detection", "recovery") if numeric else ("picks", "share")
    if question.kind not in kinds:
        other = "predict" if numeric else "numeric"
        raise error(
            "compute",
            f"{where}: a {'numeric' if numeric else 'predict'} question computes"
            f" {' or '.join(kinds)}; ask {question.kind} as a {other} question",
        )
    why = raw.get("why", "")
    if not isinstance(why, str):
        raise error("why", f"{where}: why must be text")
    fields: dict[str, Any] = {
        "predicted": (question, truth),
        "setup": setup,
        "why": why.strip(),
    }
    if numeric:
        fields["number"] = _computed_number(question, truth, why.strip())
    return fields


def _computed_number(question: predict.Question, truth: predict.Answer, why: str) -> Number:
    """The engine's numeric answer in the unit a learner types: % or seconds."""
    reason = why or truth.why
    if question.kind == "keys_moved":
        low = truth.low if truth.low is not None else truth.value
        high = truth.high if truth.high is not None else truth.value
        return Number(100 * truth.value, 100 * low, 100 * high, "%", reason)
    assert truth.low is not None
    assert truth.high is not None
    return Number(float(truth.value), truth.low, truth.high, "s", reason, label=truth.text)


def _order(raw: Mapping[str, Any], error: _Error, where: str) -> dict[str, Any]:
    items = raw.get("items")
    if (
        not isinstance(items, list)
        or not 3 <= len(items) <= 9
        or not all(isinstance(i, str) and i.strip() for i in items)
    ):
        raise error("items", f"{where}: items must be 3 to 9 texts, in the right order")
    if len(set(items)) != len(items):
        raise error("items", f"{where}: two items are the same")
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise error("source", f"{where}: source must be text")
    return {
        "items": tuple(i.strip() for i in items),
        "why": _text(raw, "why", error, where),
        "source": source.strip(),
    }


def _explain(raw: Mapping[str, Any], error: _Error, where: str) -> dict[str, Any]:
    checklist = raw.get("checklist")
    if (
        not isinstance(checklist, list)
        or not 2 <= len(checklist) <= 10
        or not all(isinstance(i, str) and i.strip() for i in checklist)
    ):
        raise error("checklist", f"{where}: checklist must be 2 to 10 points a good answer makes")
    model = _text(raw, "model", error, where)
    seconds = raw.get("seconds", 60)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 10 <= seconds <= 600:
        raise error("seconds", f"{where}: seconds must be a whole number from 10 to 600")
    needed = raw.get("pass", math.ceil(0.75 * len(checklist)))
    if isinstance(needed, bool) or not isinstance(needed, int) or not 1 <= needed <= len(checklist):
        raise error(
            "pass", f"{where}: pass must be 1 to {len(checklist)} (points to count as right)"
        )
    return {
        "checklist": tuple(i.strip() for i in checklist),
        "model": model,
        "seconds": seconds,
        "pass_mark": needed,
    }


def _generated(
    raw: Mapping[str, Any], error: _Error, where: str, seeds: Sequence[int]
) -> dict[str, Any]:
    name = raw.get("generator")
    if not isinstance(name, str) or name not in generators.GENERATORS:
        raise error(
            "generator", f"{where}: generator must be one of {', '.join(generators.GENERATORS)}"
        )
    given = raw.get("params", {})
    if not isinstance(given, Mapping):
        raise error("params", f"{where}: params must be a table")
    try:
        params = generators.resolve(name, given)
    except ConfigError as exc:
        raise error("params", f"{where}: {exc}") from None
    for seed in seeds:
        try:
            generators.draw(name, params, random.Random(seed))
        except ConfigError as exc:
            raise error(
                "params", f"{where}: seed {seed} draws a question lbplay cannot compute: {exc}"
            ) from None
    return {"generator": name, "params": params}


# -- asking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """A question as shown: its text, its options in the shown order and what is
    right, for one seed. ``form`` says how it is answered (``answers.Form``)."""

    question: Question
    seed: int
    form: Form
    #: The question in Markdown (a generated one's parameters filled in).
    text: str
    #: Choices (lettered), items to order or checklist points (numbered), as shown.
    options: tuple[str, ...]
    #: What to type, in a few words: "one letter, a to d".
    prompt: str
    choices: tuple[Choice, ...] = ()
    #: order: the right position of each shown item (0-based).
    positions: tuple[int, ...] = ()
    number: Number | None = None
    predicted: tuple[predict.Question, predict.Answer] | None = None
    traps: tuple[Trap, ...] = ()
    #: How lbplay's engine reached the answer (computed and generated questions).
    reasoning: str = ""
    #: What a generated question drew (algorithm, backends, ...).
    params: Mapping[str, Any] = field(default_factory=dict)
    #: picks and shares: the backend names a learner may type.
    names: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.question.id

    @property
    def model(self) -> str:
        """explain: the model answer, shown after self-grading."""
        return self.question.model

    @property
    def labels(self) -> tuple[str, ...]:
        """What each option is typed as: a, b, c ... or 1, 2, 3 ..."""
        if self.form in ("choice", "multiple"):
            return tuple(LETTERS[: len(self.options)])
        return tuple(str(n) for n in range(1, len(self.options) + 1))


def seed_for(round_seed: int, question_id: str) -> int:
    """The seed a question is asked with in a round: the same question in the same
    round seed is always asked the same way, whatever else the round holds."""
    return zlib.crc32(f"{round_seed}:{question_id}".encode())


def ask(question: Question, seed: int) -> Asked:
    """``question`` as shown for ``seed``: choices and items shuffled, a generated one
    drawn, every answer computed."""
    rng = random.Random(seed)
    kind = question.kind
    if kind in ("choice", "multiple"):
        order = list(range(len(question.choices)))
        if question.shuffle:
            rng.shuffle(order)
        choices = tuple(question.choices[i] for i in order)
        return _asked_choices(question, seed, kind, question.text, choices)
    if kind == "numeric":
        assert question.number is not None
        return Asked(
            question,
            seed,
            "number",
            question.text,
            (),
            _number_prompt(question.number.unit),
            number=question.number,
            predicted=question.predicted,
            reasoning=question.predicted[1].why if question.predicted else "",
        )
    if kind == "order":
        positions = list(range(len(question.items)))
        while positions == sorted(positions):
            rng.shuffle(positions)
        return Asked(
            question,
            seed,
            "order",
            question.text,
            tuple(question.items[p] for p in positions),
            "the numbers in the right order, e.g. "
            + " ".join(str(n) for n in range(len(positions), 0, -1)),
            positions=tuple(positions),
        )
    if kind == "explain":
        return Asked(
            question,
            seed,
            "checklist",
            question.text,
            question.checklist,
            "the numbers of the points you covered, all, or none",
        )
    if kind == "predict":
        assert question.predicted is not None
        assert question.setup is not None
        names = tuple(b.name for b in question.setup.backends)
        return _asked_predicted(question, seed, question.text, question.predicted, names, (), {})
    drawn = generators.draw(question.generator, question.params, rng)
    text = f"{question.text}\n\n{drawn.text}" if question.text else drawn.text
    return _asked_drawn(question, seed, text, drawn)


def _asked_choices(
    question: Question, seed: int, form: Form, text: str, choices: tuple[Choice, ...], **more: Any
) -> Asked:
    last = LETTERS[len(choices) - 1]
    prompt = (
        f"one letter, a to {last}"
        if form == "choice"
        else "the letters of every right answer, e.g. a c"
    )
    return Asked(
        question, seed, form, text, tuple(c.text for c in choices), prompt, choices, **more
    )


def _asked_predicted(
    question: Question,
    seed: int,
    text: str,
    predicted: tuple[predict.Question, predict.Answer],
    names: tuple[str, ...],
    traps: tuple[Trap, ...],
    params: Mapping[str, Any],
    reasoning: str = "",
) -> Asked:
    asked, truth = predicted
    if asked.kind == "picks":
        example = " ".join((names * asked.count)[: min(asked.count, 3)])
        prompt = (
            f"a backend's name ({', '.join(names)})"
            if asked.count == 1
            else f"{asked.count} backend names in order, e.g. {example}"
        )
        form: Form = "picks"
    else:
        prompt = "each backend's share, e.g. " + " ".join(f"{n}=50%" for n in names[:2])
        form = "shares"
    return Asked(
        question,
        seed,
        form,
        text,
        (),
        prompt,
        predicted=predicted,
        traps=traps,
        reasoning=reasoning or truth.why,
        params=params,
        names=names,
    )


def _asked_drawn(question: Question, seed: int, text: str, drawn: Drawn) -> Asked:
    if drawn.form == "choice":
        return _asked_choices(
            question,
            seed,
            "choice",
            text,
            drawn.choices,
            reasoning=drawn.reasoning,
            params=drawn.params,
        )
    if drawn.form == "number":
        assert drawn.number is not None
        return Asked(
            question,
            seed,
            "number",
            text,
            (),
            _number_prompt(drawn.number.unit),
            number=drawn.number,
            reasoning=drawn.reasoning,
            params=drawn.params,
        )
    assert drawn.predicted is not None
    names = tuple(part.split(":")[0] for part in str(drawn.params["backends"]).split(","))
    return _asked_predicted(
        question, seed, text, drawn.predicted, names, drawn.traps, drawn.params, drawn.reasoning
    )


def _number_prompt(unit: str) -> str:
    return f"a number ({unit_words(unit)})" if unit else "a number"


# -- grading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """Feedback on one option of a choice question."""

    label: str
    text: str
    correct: bool
    chosen: bool
    why: str
    #: What choosing it reveals, for a wrong option ("misconception 7: ...").
    caught: str


@dataclass(frozen=True)
class Result:
    """How an answer went, and what to say about it."""

    correct: bool
    #: 0..1: the share that was right (partial credit for multiple, order, picks).
    score: float
    #: The right answer, as it would be typed and in words.
    answer: str
    #: What to tell the learner (plain text, a few lines; Markdown emphasis kept).
    feedback: str
    #: The misconceptions the answer revealed, in words.
    caught: tuple[str, ...] = ()
    #: choice and multiple: feedback per option, in the shown order.
    notes: tuple[Note, ...] = ()


def grade(asked: Asked, typed: str) -> Result:
    """Read what the learner typed and judge it; ``AnswerError`` (one line: what to
    type) when it cannot be read. For an explain question, ``typed`` is the checklist
    points covered (``1 3``, ``all``, ``none``), the learner's own judgement."""
    form = asked.form
    if form in ("choice", "multiple"):
        return _grade_choices(asked, typed)
    if form == "number":
        return _grade_number(asked, typed)
    if form == "order":
        return _grade_order(asked, typed)
    if form == "checklist":
        return _grade_checklist(asked, typed)
    return _grade_predicted(asked, typed)


def _sentence(text: str) -> str:
    """``text`` ending with a full stop (feedback joins authors' and engine's words)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", ")")) else text + "."


def _ending(asked: Asked, lines: list[str]) -> str:
    question = asked.question
    if question.source:
        lines.append(_sentence(f"Source: {question.source}"))
    if question.after:
        lines.append(question.after)
    return "\n".join(line for line in lines if line)


def _grade_choices(asked: Asked, typed: str) -> Result:
    multiple = asked.form == "multiple"
    chosen = set(read_letters(typed, len(asked.choices), multiple=multiple))
    right = {i for i, c in enumerate(asked.choices) if c.correct}
    notes = tuple(
        Note(LETTERS[i], c.text, c.correct, i in chosen, c.why, c.caught)
        for i, c in enumerate(asked.choices)
    )
    answer = " ".join(LETTERS[i] for i in sorted(right))
    correct = chosen == right
    hits, misses = len(chosen & right), len(chosen - right)
    score = 1.0 if correct else max(0.0, (hits - misses) / len(right))
    lines = ["Right." if correct else f"Not quite: the answer is {answer}."]
    for note in notes:
        if note.chosen and not note.correct:
            lines.append(f"You chose {note.label}) {note.text}")
            lines.append(f"  Wrong: {note.why}. That is {note.caught}.")
    for note in notes:
        if note.correct:
            missed = " (you missed it)" if multiple and not note.chosen else ""
            lines.append(f"{note.label}) {note.text}{missed}")
            lines.append(f"  Right: {note.why}.")
    others = [n for n in notes if not n.correct and not n.chosen]
    if others:
        lines.append("The other choices:")
        for note in others:
            lines.append(f"{note.label}) {note.text}")
            lines.append(f"  Wrong: {note.why}. It catches {note.caught}.")
    caught = tuple(n.caught for n in notes if n.chosen and not n.correct)
    return Result(correct, score, answer, _ending(asked, lines), caught, notes)


def _grade_number(asked: Asked, typed: str) -> Result:
    number = asked.number
    assert number is not None
    value = read_number(typed, number.unit)
    correct = number.counts(value)
    lines = [
        f"Right: {number.accepted}." if correct else
        f"Not quite: you said {show(value, number.unit)}; the answer is {number.accepted}."
    ]  # fmt: skip
    caught: list[str] = []
    if not correct:
        for wrong in number.wrong:
            near = max((number.high - number.low) / 2, 0.05 * abs(wrong.value), 1e-9)
            if abs(value - wrong.value) <= near:
                lines.append(f"{show(wrong.value, number.unit)} is a common answer: {wrong.why}.")
                lines.append(f"  That is {wrong.caught}.")
                caught.append(wrong.caught)
                break
    lines.append(_sentence(f"Why: {number.why}"))
    if asked.reasoning and asked.reasoning not in number.why:
        lines.append(_sentence(f"lbplay's engine: {asked.reasoning}"))
    return Result(correct, float(correct), number.text, _ending(asked, lines), tuple(caught))


def _grade_order(asked: Asked, typed: str) -> Result:
    order = read_order(typed, len(asked.options))
    placed = [asked.positions[i] for i in order]
    right = sum(1 for place, position in enumerate(placed) if place == position)
    shown = {position: i for i, position in enumerate(asked.positions)}
    answer = " ".join(str(shown[p] + 1) for p in range(len(asked.positions)))
    correct = right == len(placed)
    lines = [
        "Right." if correct else
        f"{right} of {len(placed)} in the right place; the right order is {answer}:"
    ]  # fmt: skip
    if not correct:
        lines += [f"  {n}. {item}" for n, item in enumerate(asked.question.items, start=1)]
    lines.append(_sentence(f"Why: {asked.question.why}"))
    return Result(correct, right / len(placed), answer, _ending(asked, lines))


def _grade_checklist(asked: Asked, typed: str) -> Result:
    ticked = read_ticks(typed, len(asked.options))
    question = asked.question
    covered = len(ticked)
    correct = covered >= question.pass_mark
    lines = [
        f"You covered {covered} of {len(asked.options)} points"
        + (
            "."
            if correct
            else f"; a strong answer covers at least {question.pass_mark}. Points to add:"
        )
    ]
    if not correct:
        lines += [f"  - {p}" for i, p in enumerate(asked.options) if i not in ticked]
    lines.append(f"A model answer:\n{question.model}")
    answer = "all" if len(asked.options) > 1 else "1"
    return Result(correct, covered / len(asked.options), answer, _ending(asked, lines))


def _grade_predicted(asked: Asked, typed: str) -> Result:
    assert asked.predicted is not None
    question, truth = asked.predicted
    if asked.form == "picks":
        names = [w for w in re.split(r"[\s,]+", typed.strip()) if w]
        known = set(asked.names)
        wanted = question.count
        if len(names) != wanted or not all(n in known for n in names):
            what = "one backend's name" if wanted == 1 else f"{wanted} backend names in order"
            example = " ".join((asked.names * wanted)[:wanted])
            raise AnswerError(f"type {what} from {', '.join(asked.names)}, e.g. {example}")
    elif not re.search(r"\w+\s*=\s*[\d.]+", typed):
        raise AnswerError(f"type each backend's share, e.g. {asked.prompt.split('e.g. ')[-1]}")
    graded = predict.grade(question, truth, typed)
    lines = [f"Right: {truth.text}." if graded.correct else f"Not quite: {graded.feedback}."]
    caught: list[str] = []
    if asked.form == "picks" and not graded.correct:
        given = tuple(w for w in re.split(r"[\s,]+", typed.strip()) if w)
        for trap in asked.traps:
            if trap.answer == given:
                lines.append(f"That answer is a common one: {trap.why}.")
                lines.append(f"  That is {trap.caught}.")
                caught.append(trap.caught)
                break
    if asked.question.why:
        lines.append(_sentence(f"Why: {asked.question.why}"))
    if asked.reasoning:
        lines.append("How lbplay's engine decided:")
        lines += [f"  {line}" for line in asked.reasoning.splitlines()]
    return Result(graded.correct, graded.score, truth.text, _ending(asked, lines), tuple(caught))


# -- describing ----------------------------------------------------------------------------


def describe(bank: Bank) -> list[dict[str, Any]]:
    """Each question as ``lbplay quiz --list --json`` prints it."""
    return [
        {
            "id": q.id,
            "kind": q.kind,
            "self_check": list(q.self_check),
            "lesson": q.lesson,
            "misconceptions": list(q.misconceptions),
            "source_errors": list(q.source_errors),
            "generated": q.generated,
            "generator": q.generator or None,
            "computed": q.computed,
            "file": q.path.name,
        }
        for q in bank.questions
    ]


_EMPHASIS = re.compile(r"\*\*(.+?)\*\*|__(.+?)__|`([^`]+)`")


def plain(markdown: str) -> str:
    """Markdown emphasis and code marks removed, for plain terminals and screen readers
    (``**s2**`` → ``s2``)."""
    return _EMPHASIS.sub(lambda m: next(g for g in m.groups() if g is not None), markdown)
