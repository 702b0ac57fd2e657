"""The dashboard's timeline: the Lab's events worth a line, with floods coalesced.

``EventLog`` subscribes to the Lab and keeps what the timeline shows: health
transitions with their evidence, ejections, drains, control actions with what to
watch for, notices. Requests are not lines of their own — at 500 per second they
would bury everything — so retried requests and lost sessions (``SessionLost``) are
counted as they happen and written as one summary line per second ("37 requests retried: s2
refused ×37"). The learner's own requests (from outside the traffic generator) are
remembered separately so the feed can keep showing them after the flood moves on.

Each event costs the subscriber a type check and a few comparisons; nothing here
touches Textual, so one message per request never reaches the UI.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import groupby
from typing import Literal

from lbplay.core.events import (
    BackendStateChanged,
    ControlAction,
    Event,
    Notice,
    RequestCompleted,
    SessionLost,
)
from lbplay.model.status import Level
from lbplay.tui.model import OUTSIDE_PREFIX

Kind = Literal["control", "health", "retry", "session", "notice", "tui"]

#: States that take a backend out of rotation, shown as bad news.
_BAD_STATES = ("down", "ejected", "unavailable", "killed")
#: Kinds that are news about the fleet (not an echo of the learner's own key press):
#: the timeline makes them stand out.
IMPORTANT_KINDS: frozenset[Kind] = frozenset({"health", "retry", "session"})


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the timeline."""

    at: float
    kind: Kind
    text: str
    level: Level = "info"
    #: What to watch for next (control actions), shown after the text.
    watch: str = ""
    #: The Lab event it came from (``restate`` finds it by this), if any.
    source: object = field(default=None, compare=False, repr=False)

    @property
    def important(self) -> bool:
        """Health transitions, retries and lost sessions: what the fleet did, as
        opposed to what the learner did."""
        return self.kind in IMPORTANT_KINDS or self.level in ("bad", "panic")


class EventLog:
    """Timeline entries from Lab events; call ``flush`` a few times a second."""

    def __init__(self, clock: Callable[[], float], *, keep: int = 300, outside: int = 20) -> None:
        self.clock = clock
        self.entries: deque[Entry] = deque(maxlen=keep)
        #: Requests from outside the traffic generator, newest last.
        self.outside: deque[RequestCompleted] = deque(maxlen=outside)
        #: Bumped on every change, so widgets redraw only when needed.
        self.version = 0
        #: Entries ever added (``entries`` forgets the oldest).
        self.added = 0
        self._retries: Counter[str] = Counter()
        self._retried = 0
        self._losses: Counter[str] = Counter()
        self._lost = 0
        self._last_flush = clock()

    # -- the subscriber ------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        """Take one Lab event (the Lab calls this for every event it publishes)."""
        if type(event) is RequestCompleted:
            if len(event.attempts) > 1:
                self._retried += 1
                for attempt in event.attempts[:-1]:
                    self._retries[f"{attempt.backend} {attempt.outcome}"] += 1
            if event.client.startswith(OUTSIDE_PREFIX):
                self.outside.append(event)
                self.version += 1
            return
        if isinstance(event, ControlAction):
            detail = f": {event.detail}" if event.detail else ""
            self.add(
                Entry(
                    event.at,
                    "control",
                    f"{event.action}{detail}",
                    "info",
                    watch=event.watch,
                    source=event,
                )
            )
        elif isinstance(event, BackendStateChanged):
            level: Level = "bad" if event.new.lower() in _BAD_STATES else "ok"
            if event.new.lower() not in _BAD_STATES and event.new.lower() != "up":
                level = "warn"
            self.add(Entry(event.at, "health", transition_text(event), level, source=event))
        elif isinstance(event, SessionLost):
            self._lost += 1
            self._losses[_loss_text(event)] += 1
        elif isinstance(event, Notice):
            level = "warn" if event.level in ("warning", "warn") else "info"
            self.add(Entry(event.at, "notice", event.text, level))

    def add(self, entry: Entry) -> None:
        """Append a line (the TUI adds its own, e.g. when it starts)."""
        self.entries.append(entry)
        self.added += 1
        self.version += 1

    def restate(self, source: object, text: str) -> bool:
        """Say the line made from the event ``source`` in other words (a key that
        cycles says where it went: ``s1 slow: 100 → 500 ms``); False if it is gone."""
        # The line is among the newest: the Lab published it a moment ago.
        for index in range(len(self.entries) - 1, max(len(self.entries) - 50, 0) - 1, -1):
            entry = self.entries[index]
            if entry.source is source:
                self.entries[index] = replace(entry, text=text)
                self.version += 1
                return True
        return False

    # -- coalescing ----------------------------------------------------------------

    def flush(self, *, every: float = 1.0) -> None:
        """Write the counted retries and session losses as summary lines, at most
        once per ``every`` seconds."""
        now = self.clock()
        if now - self._last_flush < every:
            return
        self._last_flush = now
        if self._retried:
            self.add(
                Entry(
                    now,
                    "retry",
                    f"{_requests(self._retried)} retried: {_top(self._retries)}"
                    " → served by another backend",
                    "warn",
                )
            )
            self._retried = 0
            self._retries.clear()
        if self._lost:
            self.add(
                Entry(
                    now,
                    "session",
                    f"{self._lost} session{'s' * (self._lost > 1)} lost: {_top(self._losses)}",
                    "panic",
                )
            )
            self._lost = 0
            self._losses.clear()


def transition_text(event: BackendStateChanged) -> str:
    """``s2 UP → DOWN: after 3 consecutive failures: connection refused ×3``."""
    text = f"{event.backend} {event.old} → {event.new}"
    evidence = event.evidence
    for prefix in (f"{event.backend} {event.new} ", f"{event.backend} "):
        if evidence.startswith(prefix):
            evidence = evidence[len(prefix) :]
            break
    return f"{text}: {compress_list(evidence)}" if evidence else text


def compress_list(text: str) -> str:
    """Runs of one item in a comma-separated tail become ``item ×n``:
    ``failures: timeout, timeout, refused`` → ``failures: timeout ×2, refused``."""
    head, sep, tail = text.rpartition(": ")
    items = tail.split(", ")
    if len(items) < 2:
        return text
    runs = [(item, len(list(group))) for item, group in groupby(items)]
    joined = ", ".join(f"{item} ×{n}" if n > 1 else item for item, n in runs)
    return f"{head}{sep}{joined}"


def _requests(n: int) -> str:
    return f"{n} request{'s' * (n > 1)}"


def _top(counter: Counter[str], limit: int = 3) -> str:
    """``s2 refused ×37, s3 timeout ×2`` (the most common few)."""
    parts = [f"{what} ×{n}" for what, n in counter.most_common(limit)]
    if len(counter) > limit:
        parts.append("…")
    return ", ".join(parts)


def _loss_text(event: SessionLost) -> str:
    """Why a session was lost, in a few words: ``s2 did not know s1's session``, or
    for the shared store the reason it gives (``... switching stores does not copy
    sessions ...``)."""
    if event.home == "shared store":
        return f"not in the shared store: {event.reason}"
    return f"{event.backend} did not know {event.home}'s session"
