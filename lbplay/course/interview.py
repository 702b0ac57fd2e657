"""Interview practice: system-design prompts as data, and a timed session over one.

**Prompts** live in ``lessons/interview/NN-<id>.toml`` (``lessons/interview/README.md``
is the authoring guide): the question, four timed phases, the interviewer's
follow-up questions, a rubric over the model answer's seven dimensions, red flags,
the model answer (Markdown), a model design (``course.design``) and an incident
script (``course.prove``). ``load_prompts`` reads and checks every file; a mistake is
a ``PromptError`` naming the file and line — and the model design must build as a
real ``LabConfig`` in its incident's world, or the prompt does not load.

An **InterviewSession** is one practice run: the phases with a clock (injected, so
tests and a shortened timer need no waiting), follow-ups revealed one at a time, notes
that autosave atomically as the candidate types (``Notes``), self-scores per rubric
dimension and red flags, the model answer, a prove scorecard if one was run, and the
whole of it exported as Markdown::

    session = InterviewSession(prompt, clock=clock, notes_store=Notes.new(prompt.id))
    session.start()
    session.tick()                     # a few times a second: the clock, auto-advance
    session.reveal_follow_up()         # the interviewer's next question
    session.set_notes(text)            # saved at once, whole
    session.score("availability", 2)
    session.flag("sticky-is-ha")
    session.reveal_model_answer()
    await session.prove(design, on_progress=show)   # or session.attach(result)
    markdown = session.export_markdown()
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lbplay import __version__
from lbplay.atomic import write_atomic
from lbplay.course.design import Design, KeyedError, key_line, template
from lbplay.course.design import parse as parse_design
from lbplay.course.lesson import LessonError, read_toml
from lbplay.course.progress import data_dir
from lbplay.course.prove import Incident, ProgressCallback, ProveResult, parse_incident
from lbplay.course.prove import markdown as prove_markdown
from lbplay.course.prove import prove as run_prove
from lbplay.course.syllabus import MISCONCEPTIONS, SOURCE_ERRORS
from lbplay.errors import ConfigError
from lbplay.resources import lessons_dir

#: The phases of every interview, in order: key → title.
PHASES: dict[str, str] = {
    "clarify": "Clarify requirements",
    "design": "High-level design",
    "deep-dive": "Deep dive",
    "wrap-up": "Wrap-up",
}
#: The model answer's dimensions, which every rubric covers: key → title.
DIMENSIONS: dict[str, str] = {
    "architecture": "Architecture",
    "algorithm": "Algorithm choice",
    "availability": "High availability",
    "performance": "Performance",
    "monitoring": "Monitoring",
    "scaling": "Scaling",
    "trade-offs": "Trade-offs",
}
#: Self-scores per dimension.
SCORES: dict[int, str] = {0: "missing", 1: "mentioned", 2: "solid", 3: "strong"}
FOLDER = "interview"
MIN_FOLLOW_UPS = 3
MIN_RED_FLAGS = 4
_FILE = re.compile(r"(\d{2})-([a-z0-9][a-z0-9-]{0,40})\.toml")
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")
_TOP = (
    "title",
    "prompt",
    "source",
    "template_servers",
    "source_errors",
    "misconceptions",
    "model_answer",
    "phases",
    "follow_ups",
    "rubric",
    "red_flags",
    "model_design",
    "incident",
)


class PromptError(LessonError):
    """An interview prompt file that cannot be used: where, and what is wrong."""


# -- prompts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    key: str
    title: str
    minutes: float
    #: What the candidate should get done in this phase, for this prompt.
    goal: str


@dataclass(frozen=True)
class FollowUp:
    question: str
    #: What a strong answer to it covers.
    listen_for: str


@dataclass(frozen=True)
class RubricItem:
    dimension: str
    title: str
    #: What a strong answer says on this dimension.
    strong: str


@dataclass(frozen=True)
class RedFlag:
    id: str
    flag: str
    #: Why an interviewer hears it as a problem.
    why: str
    misconceptions: tuple[int, ...] = ()


@dataclass(frozen=True)
class Prompt:
    """One interview question with everything to practise and prove it."""

    id: str
    number: int
    title: str
    prompt: str
    phases: tuple[Phase, ...]
    follow_ups: tuple[FollowUp, ...]
    rubric: tuple[RubricItem, ...]
    red_flags: tuple[RedFlag, ...]
    model_answer: str
    model_design: Design
    incident: Incident
    path: Path
    #: The explainer's own question (its model answer corrected where it is wrong).
    source: bool = False
    #: The main pool's servers in the template, when the model's count is part of the
    #: answer (None: the model's).
    template_servers: int | None = None
    source_errors: tuple[int, ...] = ()
    misconceptions: tuple[int, ...] = ()

    @property
    def minutes(self) -> float:
        return sum(p.minutes for p in self.phases)

    def template(self) -> str:
        """A design file to start from: the prompt's pools, neutral choices."""
        return template(
            self.model_design, title=self.title, prompt=self.id, servers=self.template_servers
        )

    def describe(self) -> dict[str, Any]:
        """The prompt as ``lbplay interview --list --json`` prints it."""
        return {
            "id": self.id,
            "number": self.number,
            "title": self.title,
            "prompt": self.prompt,
            "source": self.source,
            "phases": [{"key": p.key, "title": p.title, "minutes": p.minutes} for p in self.phases],
            "minutes": self.minutes,
            "follow_ups": len(self.follow_ups),
            "red_flags": len(self.red_flags),
            "incident": self.incident.title,
        }


def prompts_dir() -> Path:
    """Where the shipped prompts are (``lessons/interview``, or ``LBPLAY_LESSONS``'s)."""
    return lessons_dir() / FOLDER


def load_prompts(folder: Path | None = None) -> list[Prompt]:
    """Every prompt in ``folder``, in the order of their numbers; ``PromptError`` at the
    first problem (stray files and numbers used twice included)."""
    folder = folder or prompts_dir()
    if not folder.is_dir():
        raise PromptError(folder, 0, "there is no interview folder")
    prompts = []
    for path in sorted(folder.glob("*.toml")):
        match = _FILE.fullmatch(path.name)
        if not match:
            raise PromptError(path, 0, "not a prompt file name: use NN-<id>.toml")
        prompts.append(load_prompt(path, match.group(2), int(match.group(1))))
    numbers = [p.number for p in prompts]
    twice = sorted({n for n in numbers if numbers.count(n) > 1})
    if twice:
        path = next(p.path for p in prompts if p.number == twice[0])
        raise PromptError(path, 0, f"two prompts are number {twice[0]:02d}")
    if not prompts:
        raise PromptError(folder, 0, "there are no prompts (NN-<id>.toml)")
    return prompts


def find_prompt(prompts: Sequence[Prompt], which: str) -> Prompt:
    """A prompt by id ("rest-api") or number ("1"); ``ConfigError`` listing them."""
    for prompt in prompts:
        if which in (prompt.id, str(prompt.number), f"{prompt.number:02d}"):
            return prompt
    listed = ", ".join(p.id for p in prompts)
    raise ConfigError(f"no interview prompt {which!r} (prompts: {listed})")


class _Reader:
    """Reads one prompt file, raising ``PromptError`` at the line of the bad key."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def error(self, key: str, message: str) -> PromptError:
        return PromptError(self.path, key_line(self.text, key), message)

    def text_of(self, data: Mapping[str, Any], key: str, where: str = "") -> str:
        value = data.get(key)
        full = f"{where}.{key}" if where else key
        if not isinstance(value, str) or not value.strip():
            raise self.error(full, f"{full} must be some text")
        return value.strip()

    def numbers(
        self, data: Mapping[str, Any], key: str, known: Mapping[int, str], where: str = ""
    ) -> tuple[int, ...]:
        value = data.get(key, [])
        full = f"{where}.{key}" if where else key
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v in known for v in value
        ):
            raise self.error(
                full, f"{full} must be a list of numbers from {min(known)} to {max(known)}"
            )
        return tuple(value)

    def tables(self, data: Mapping[str, Any], key: str, least: int) -> list[Mapping[str, Any]]:
        value = data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.error(key, f"a prompt needs [[{key}]] tables")
        if len(value) < least:
            raise self.error(
                key, f"a prompt needs at least {least} [[{key}]] (it has {len(value)})"
            )
        return value

    def only(self, data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        extra = sorted(set(data) - set(allowed))
        if extra:
            raise self.error(
                f"{where}.{extra[0]}",
                f"{where} has no key {extra[0]!r} (keys: {', '.join(allowed)})",
            )


def load_prompt(path: Path, prompt_id: str, number: int) -> Prompt:
    """Read and check the prompt at ``path``; ``PromptError`` says where it is wrong."""
    text, data = read_toml(path, PromptError)
    if not _ID.fullmatch(prompt_id):
        raise PromptError(path, 0, "a prompt's id is lowercase letters, digits and '-'")
    read = _Reader(path, text)
    extra = sorted(set(data) - set(_TOP))
    if extra:
        raise read.error(
            extra[0], f"no setting {extra[0]!r} in a prompt (settings: {', '.join(_TOP)})"
        )
    title = read.text_of(data, "title")
    question = read.text_of(data, "prompt")
    source = data.get("source", False)
    if not isinstance(source, bool):
        raise read.error("source", "source must be true or false")
    template_servers = data.get("template_servers")
    if template_servers is not None and (
        isinstance(template_servers, bool)
        or not isinstance(template_servers, int)
        or not 1 <= template_servers <= 32
    ):
        raise read.error("template_servers", "template_servers must be a whole number, 1 to 32")
    source_errors = read.numbers(data, "source_errors", SOURCE_ERRORS)
    misconceptions = read.numbers(data, "misconceptions", MISCONCEPTIONS)
    model_answer = read.text_of(data, "model_answer")
    phases = _phases(read, data)
    follow_ups = []
    for index, raw in enumerate(read.tables(data, "follow_ups", MIN_FOLLOW_UPS)):
        where = f"follow_ups[{index}]"
        read.only(raw, ("question", "listen_for"), where)
        follow_ups.append(
            FollowUp(read.text_of(raw, "question", where), read.text_of(raw, "listen_for", where))
        )
    rubric = _rubric(read, data)
    flags: list[RedFlag] = []
    for index, raw in enumerate(read.tables(data, "red_flags", MIN_RED_FLAGS)):
        where = f"red_flags[{index}]"
        read.only(raw, ("id", "flag", "why", "misconceptions"), where)
        flag_id = raw.get("id")
        if not isinstance(flag_id, str) or not _ID.fullmatch(flag_id):
            raise read.error(f"{where}.id", f"{where}.id must be lowercase letters, digits and '-'")
        if any(f.id == flag_id for f in flags):
            raise read.error(f"{where}.id", f"two red flags have the id {flag_id!r}")
        flags.append(
            RedFlag(
                flag_id,
                read.text_of(raw, "flag", where),
                read.text_of(raw, "why", where),
                read.numbers(raw, "misconceptions", MISCONCEPTIONS, where),
            )
        )
    try:
        design = parse_design(data.get("model_design", {}), "model_design")
        incident = parse_incident(data.get("incident"), "incident")
        incident.lab(design)  # it builds in its world, or the prompt is broken
    except KeyedError as error:
        raise read.error(error.key or "model_design", error.message) from None
    except ConfigError as error:
        raise read.error("model_design", f"the model design does not build: {error}") from None
    return Prompt(
        id=prompt_id,
        number=number,
        title=title,
        prompt=question,
        phases=phases,
        follow_ups=tuple(follow_ups),
        rubric=rubric,
        red_flags=tuple(flags),
        model_answer=model_answer,
        model_design=design,
        incident=incident,
        path=path,
        source=source,
        template_servers=template_servers,
        source_errors=source_errors,
        misconceptions=misconceptions,
    )


def _phases(read: _Reader, data: Mapping[str, Any]) -> tuple[Phase, ...]:
    raw_phases = read.tables(data, "phases", len(PHASES))
    keys = [raw.get("key") for raw in raw_phases]
    if keys != list(PHASES):
        raise read.error("phases", f"phases must be, in order: {', '.join(PHASES)} (not {keys})")
    phases = []
    for index, raw in enumerate(raw_phases):
        where = f"phases[{index}]"
        read.only(raw, ("key", "minutes", "goal"), where)
        minutes = raw.get("minutes")
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, int | float)
            or not 1 <= minutes <= 60
        ):
            raise read.error(f"{where}.minutes", f"{where}.minutes must be 1 to 60")
        key = str(raw["key"])
        phases.append(Phase(key, PHASES[key], float(minutes), read.text_of(raw, "goal", where)))
    return tuple(phases)


def _rubric(read: _Reader, data: Mapping[str, Any]) -> tuple[RubricItem, ...]:
    items: list[RubricItem] = []
    for index, raw in enumerate(read.tables(data, "rubric", len(DIMENSIONS))):
        where = f"rubric[{index}]"
        read.only(raw, ("dimension", "strong"), where)
        dimension = raw.get("dimension")
        if dimension not in DIMENSIONS:
            raise read.error(
                f"{where}.dimension", f"{where}.dimension must be one of {', '.join(DIMENSIONS)}"
            )
        if any(i.dimension == dimension for i in items):
            raise read.error(f"{where}.dimension", f"the rubric has {dimension!r} twice")
        items.append(
            RubricItem(dimension, DIMENSIONS[dimension], read.text_of(raw, "strong", where))
        )
    missing = [d for d in DIMENSIONS if not any(i.dimension == d for i in items)]
    if missing:
        raise read.error("rubric", f"the rubric misses {', '.join(missing)}")
    order = list(DIMENSIONS)
    return tuple(sorted(items, key=lambda item: order.index(item.dimension)))


# -- notes ---------------------------------------------------------------------------------


def sessions_dir() -> Path:
    """Where interview sessions are kept: the user data folder's ``interview``."""
    return data_dir() / FOLDER


class Notes:
    """The candidate's notes for one session: one Markdown file, saved whole.

    ``save`` writes atomically (``atomic.write_atomic``), so the TUI can call it on
    every change of the editor: a crash mid-write leaves the previous save intact.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def new(
        cls, prompt_id: str, started: datetime | None = None, folder: Path | None = None
    ) -> Notes:
        """Notes for a session of ``prompt_id`` begun at ``started`` (now), in ``folder``
        (``sessions_dir()``): ``<prompt>-<YYYYmmdd-HHMMSS>.notes.md``."""
        stamp = (started or datetime.now()).strftime("%Y%m%d-%H%M%S")
        return cls((folder or sessions_dir()) / f"{prompt_id}-{stamp}.notes.md")

    def load(self) -> str:
        """What was saved ("" before the first save)."""
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return ""

    def save(self, text: str) -> None:
        write_atomic(self.path, text, parents=True)

    @property
    def state_path(self) -> Path:
        """The session's state (timings, scores, flags) beside the notes."""
        return self.path.with_name(self.path.name.removesuffix(".notes.md") + ".session.json")

    @property
    def export_path(self) -> Path:
        """Where ``InterviewSession.export`` writes the Markdown by default."""
        return self.path.with_name(self.path.name.removesuffix(".notes.md") + ".md")


# -- a session -----------------------------------------------------------------------------


@dataclass
class PhaseClock:
    """One phase's plan and what happened: minutes planned, when it began and ended."""

    phase: Phase
    minutes: float
    started: float | None = None
    ended: float | None = None

    @property
    def seconds(self) -> float:
        return self.minutes * 60

    def spent(self, now: float) -> float:
        if self.started is None:
            return 0.0
        return (self.ended if self.ended is not None else now) - self.started


@dataclass(frozen=True)
class ClockState:
    """What the session's clock shows now."""

    #: The current phase (None before the start and after the finish).
    phase: Phase | None
    index: int
    elapsed: float
    #: Seconds left in the phase (negative: over time).
    remaining: float
    over: bool
    total: float
    finished: bool

    def show(self) -> str:
        """``Deep dive 12:30 left`` / ``Wrap-up 0:45 over``."""
        if self.finished:
            return f"finished after {fmt_clock(self.total)}"
        if self.phase is None:
            return "not started"
        if self.over:
            return f"{self.phase.title} {fmt_clock(-self.remaining)} over"
        return f"{self.phase.title} {fmt_clock(self.remaining)} left"


def fmt_clock(seconds: float) -> str:
    """``754`` → ``12:34``; an hour or more → ``1:02:03``."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class Revealed:
    """A follow-up the interviewer asked, and when."""

    follow_up: FollowUp
    number: int
    phase: str
    at: float


@dataclass
class InterviewSession:
    """One timed practice run of a prompt (module docstring).

    ``clock`` gives seconds (monotonic; a test's fake clock); ``minutes`` overrides
    phases' minutes by key (``{"deep-dive": 20}``, or small numbers for a quick
    run); ``auto_advance`` moves to the next phase when one runs out (the last one
    runs over instead); ``notes`` is where notes and state autosave (None: nowhere);
    ``wall`` is the wall clock, for the export's date.
    """

    prompt: Prompt
    clock: Callable[[], float] = time.monotonic
    minutes: Mapping[str, float] = field(default_factory=dict)
    auto_advance: bool = True
    notes_store: Notes | None = None
    wall: Callable[[], float] = time.time
    phases: list[PhaseClock] = field(init=False)
    index: int = field(init=False, default=-1)
    notes: str = field(init=False, default="")
    revealed: list[Revealed] = field(init=False, default_factory=list)
    scores: dict[str, int] = field(init=False, default_factory=dict)
    flags: set[str] = field(init=False, default_factory=set)
    model_answer_shown: bool = field(init=False, default=False)
    proof: ProveResult | None = field(init=False, default=None)
    started: float | None = field(init=False, default=None)
    finished: float | None = field(init=False, default=None)
    started_wall: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.minutes) - set(PHASES))
        if unknown:
            raise ConfigError(f"no phase {unknown[0]!r} (phases: {', '.join(PHASES)})")
        for key, value in self.minutes.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 < value <= 240
            ):
                raise ConfigError(f"minutes for {key} must be above 0 and at most 240")
        self.phases = [
            PhaseClock(phase, float(self.minutes.get(phase.key, phase.minutes)))
            for phase in self.prompt.phases
        ]
        if self.notes_store is not None:
            self.notes = self.notes_store.load()

    # -- the clock -----------------------------------------------------------------------

    def start(self) -> ClockState:
        """Begin the first phase now."""
        if self.started is None:
            now = self.clock()
            self.started = now
            self.started_wall = self.wall()
            self.index = 0
            self.phases[0].started = now
            self._save_state()
        return self.tick()

    @property
    def current(self) -> PhaseClock | None:
        if 0 <= self.index < len(self.phases) and self.finished is None:
            return self.phases[self.index]
        return None

    def tick(self) -> ClockState:
        """The clock now; with ``auto_advance``, move past phases whose time ran out
        (each next phase begins when the last one's time ended, not at this tick)."""
        now = self.clock()
        moved = False
        while (
            self.auto_advance and self.finished is None and 0 <= self.index < len(self.phases) - 1
        ):
            phase = self.phases[self.index]
            assert phase.started is not None
            end = phase.started + phase.seconds
            if now < end:
                break
            self._advance(end)
            moved = True
        if moved:
            self._save_state()
        return self.state()

    def state(self) -> ClockState:
        """The clock now, without moving anything."""
        now = self.clock()
        total = 0.0
        if self.started is not None:
            total = (self.finished if self.finished is not None else now) - self.started
        phase = self.current
        if phase is None:
            return ClockState(None, self.index, 0.0, 0.0, False, total, self.finished is not None)
        elapsed = phase.spent(now)
        remaining = phase.seconds - elapsed
        return ClockState(phase.phase, self.index, elapsed, remaining, remaining < 0, total, False)

    def next_phase(self) -> ClockState:
        """End the current phase now and begin the next (after the last: finish)."""
        if self.current is None:
            return self.state()
        if self.index == len(self.phases) - 1:
            return self.finish()
        self._advance(self.clock())
        self._save_state()
        return self.state()

    def _advance(self, at: float) -> None:
        self.phases[self.index].ended = at
        self.index += 1
        self.phases[self.index].started = at

    def finish(self) -> ClockState:
        """End the session now (the phase in progress ends with it)."""
        if self.started is None:
            self.start()
        if self.finished is None:
            now = self.clock()
            phase = self.current
            if phase is not None:
                phase.ended = now
            self.finished = now
            self._save_state()
        return self.state()

    # -- the interviewer -----------------------------------------------------------------

    def reveal_follow_up(self) -> FollowUp | None:
        """The interviewer's next follow-up question (None when all were asked)."""
        if len(self.revealed) >= len(self.prompt.follow_ups):
            return None
        follow_up = self.prompt.follow_ups[len(self.revealed)]
        phase = self.current
        self.revealed.append(
            Revealed(
                follow_up,
                len(self.revealed) + 1,
                phase.phase.key if phase else "",
                self.clock() - (self.started if self.started is not None else self.clock()),
            )
        )
        self._save_state()
        return follow_up

    @property
    def follow_ups_left(self) -> int:
        return len(self.prompt.follow_ups) - len(self.revealed)

    # -- the candidate -------------------------------------------------------------------

    def set_notes(self, text: str) -> None:
        """The notes now; saved at once, atomically (call it as the candidate types)."""
        self.notes = text
        if self.notes_store is not None:
            self.notes_store.save(text)

    def score(self, dimension: str, value: int) -> None:
        """Self-score one rubric dimension: 0 missing, 1 mentioned, 2 solid, 3 strong."""
        if dimension not in DIMENSIONS:
            raise ConfigError(f"no rubric dimension {dimension!r} ({', '.join(DIMENSIONS)})")
        if isinstance(value, bool) or value not in SCORES:
            raise ConfigError("a score is 0 (missing), 1 (mentioned), 2 (solid) or 3 (strong)")
        self.scores[dimension] = value
        self._save_state()

    def flag(self, flag_id: str, raised: bool = True) -> None:
        """Tick (or untick) a red flag the candidate caught in their own answer."""
        if not any(f.id == flag_id for f in self.prompt.red_flags):
            known = ", ".join(f.id for f in self.prompt.red_flags)
            raise ConfigError(f"no red flag {flag_id!r} ({known})")
        if raised:
            self.flags.add(flag_id)
        else:
            self.flags.discard(flag_id)
        self._save_state()

    def reveal_model_answer(self) -> str:
        """The model answer (Markdown); the export notes that it was read."""
        self.model_answer_shown = True
        self._save_state()
        return self.prompt.model_answer

    def attach(self, result: ProveResult) -> None:
        """Keep a prove run's scorecards for the export."""
        self.proof = result
        self._save_state()

    async def prove(
        self, design: Design, *, on_progress: ProgressCallback | None = None
    ) -> ProveResult:
        """Play the prompt's incident on ``design`` and on the model design, one after
        the other on real Labs (about 20 s), and keep the result for the export.
        ``on_progress`` hears where the run is, a few times a second."""
        result = await run_prove(
            design,
            self.prompt.model_design,
            self.prompt.incident,
            prompt=self.prompt.id,
            on_progress=on_progress,
        )
        self.attach(result)
        return result

    @property
    def total_score(self) -> tuple[int, int]:
        """Points scored and the most possible."""
        return sum(self.scores.values()), 3 * len(self.prompt.rubric)

    # -- keeping it ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The session's state (the notes are in their own file)."""
        now = self.clock()
        return {
            "lbplay": __version__,
            "prompt": self.prompt.id,
            "started": self.started_wall,
            "phases": [
                {"key": p.phase.key, "minutes": p.minutes, "spent": round(p.spent(now), 1)}
                for p in self.phases
            ],
            "current": self.current.phase.key if self.current else None,
            "finished": self.finished is not None,
            "follow_ups": [r.number for r in self.revealed],
            "scores": dict(self.scores),
            "flags": sorted(self.flags),
            "model_answer_shown": self.model_answer_shown,
            "prove": self.proof.to_json() if self.proof else None,
        }

    def _save_state(self) -> None:
        if self.notes_store is not None:
            write_atomic(
                self.notes_store.state_path, json.dumps(self.to_json(), indent=1), parents=True
            )

    def export(self, path: Path | None = None) -> Path:
        """Write the Markdown export (atomically) and return where it went."""
        if path is None:
            if self.notes_store is None:
                raise ConfigError("this session keeps no files: give the export a path")
            path = self.notes_store.export_path
        write_atomic(path, self.export_markdown(), parents=True)
        return path

    def export_markdown(self) -> str:
        """The whole session as Markdown: the prompt, timings per phase, notes,
        follow-ups seen, self-scores, red flags, the model answer and the scorecard."""
        prompt = self.prompt
        now = self.clock()
        when = (
            datetime.fromtimestamp(self.started_wall).strftime("%Y-%m-%d %H:%M")
            if self.started_wall is not None
            else "not started"
        )
        out = [
            f"# Interview practice: {prompt.title}",
            "",
            f"*lbplay {__version__} · {when} · prompt `{prompt.id}`*",
            "",
            "## The prompt",
            "",
            *(f"> {line}" if line else ">" for line in prompt.prompt.splitlines()),
            "",
            "## Timings",
            "",
            "| phase | planned | spent |",
            "|---|---|---|",
        ]
        for clock in self.phases:
            spent = fmt_clock(clock.spent(now)) if clock.started is not None else "—"
            out.append(f"| {clock.phase.title} | {fmt_clock(clock.seconds)} | {spent} |")
        total = self.state().total
        out += [
            f"| **total** | {fmt_clock(sum(c.seconds for c in self.phases))}"
            f" | {fmt_clock(total)} |",
            "",
        ]
        out += ["## Notes", "", self.notes.strip() or "*(no notes)*", ""]
        out += ["## Follow-up questions", ""]
        if not self.revealed:
            out.append("*(none asked)*")
        for item in self.revealed:
            where = PHASES.get(item.phase, "")
            out += [
                f"{item.number}. **{item.follow_up.question}**"
                + (f" *(asked in {where.lower()}, at {fmt_clock(item.at)})*" if where else ""),
                f"   A strong answer covers: {item.follow_up.listen_for}",
            ]
        unasked = len(prompt.follow_ups) - len(self.revealed)
        if unasked:
            out.append(f"\n*{unasked} more follow-up{'s' if unasked > 1 else ''} not asked.*")
        scored, most = self.total_score
        out += ["", "## Self-scores", "", f"**{scored} of {most}**", ""]
        out += ["| dimension | score | what a strong answer says |", "|---|---|---|"]
        for rubric in prompt.rubric:
            value = self.scores.get(rubric.dimension)
            shown = f"{value} {SCORES[value]}" if value is not None else "—"
            out.append(f"| {rubric.title} | {shown} | {_cell(rubric.strong)} |")
        out += ["", "## Red flags", ""]
        for flag in prompt.red_flags:
            mark = "x" if flag.id in self.flags else " "
            out.append(f"- [{mark}] **{flag.flag}** — {flag.why}")
        out += ["", "## Model answer", ""]
        if not self.model_answer_shown:
            out += ["*(revealed in this export; it was not read during the session)*", ""]
        out += [prompt.model_answer.strip(), ""]
        out += ["## Proven on the Lab", ""]
        out.append(prove_markdown(self.proof) if self.proof else "*(not run)*")
        return "\n".join(out).rstrip() + "\n"


def _cell(text: str) -> str:
    """Text that fits in one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")
