"""Typed events: what happened, with the evidence a learner needs to understand it.

The proxy, the health checker and the Lab publish events; the TUI's timeline, the
lessons' step checks, the admin API and the tests subscribe. Events are small frozen
dataclasses with a ``text`` property: the one line a timeline shows.

``EventBus`` is synchronous and pure: ``publish`` calls each subscriber in turn and
keeps the most recent events in a ring buffer. Async consumers (a websocket, a
lesson check awaiting an event) wrap a subscriber around their own queue. A
subscriber that raises is dropped, so one broken consumer cannot stop the proxy.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import ClassVar

from lbplay.core.positional import positional_maker


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of a request against one backend."""

    backend: str
    reason: str
    #: "ok", "http 503", "refused", "reset", "timeout", "bad response", ...
    outcome: str
    status: int | None = None
    latency: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event: when (the Lab's clock) and a sequence number."""

    at: float
    seq: int = field(default_factory=itertools.count(1).__next__)
    #: What kind of event it is, for filtering: request, health, control, session, notice.
    KIND: ClassVar[str] = "notice"

    @property
    def text(self) -> str:
        """The event in one line, for timelines and logs."""
        return type(self).__name__

    @property
    def subject(self) -> str | None:
        """The backend the event is about, if it is about one."""
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCompleted(Event):
    """An L7 request finished (or failed) — one per client request, retries inside."""

    client: str
    method: str
    path: str
    status: int
    latency: float
    #: The backend that produced the answer; None when the proxy answered itself.
    backend: str | None
    attempts: tuple[Attempt, ...] = ()
    #: The balancer's reason for the final pick ("" when no backend was picked).
    reason: str = ""
    #: How session affinity decided, when it did ("cookie → s2", "lost: s2 is down").
    session: str = ""
    #: Which routing rule chose the pool ("" without content routing).
    route: str = ""
    bytes: int = 0
    #: What the proxy answered on its own, e.g. "no backend available".
    error: str = ""
    KIND: ClassVar[str] = "request"

    @property
    def subject(self) -> str | None:
        return self.backend

    @property
    def retried(self) -> bool:
        return len(self.attempts) > 1

    @property
    def text(self) -> str:
        target = self.backend or "proxy"
        return (
            f"{self.client} {self.method} {self.path} → {target} {self.status}"
            f" {self.latency * 1000:.1f} ms"
        )


#: ``RequestCompleted(...)`` with every field but ``seq``, positionally, for the proxy.
make_request_completed = positional_maker(RequestCompleted)
#: ``Attempt(backend, reason, outcome, status, latency)``, for the proxy.
make_attempt = positional_maker(Attempt)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionCompleted(Event):
    """An L4 connection closed: one pick per connection, whatever rode on it."""

    client: str
    backend: str | None
    duration: float
    bytes_up: int = 0
    bytes_down: int = 0
    reason: str = ""
    #: Why the proxy closed or refused it ("" for a normal close).
    error: str = ""
    attempts: tuple[Attempt, ...] = ()
    KIND: ClassVar[str] = "request"

    @property
    def subject(self) -> str | None:
        return self.backend

    @property
    def text(self) -> str:
        target = self.backend or "nobody"
        end = f" ({self.error})" if self.error else ""
        return (
            f"{self.client} ⇄ {target}: {self.duration:.2f} s,"
            f" {self.bytes_up} B up, {self.bytes_down} B down{end}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendStateChanged(Event):
    """A backend's state changed, with the evidence ("3 consecutive failures: ...")."""

    backend: str
    old: str
    new: str
    evidence: str = ""
    KIND: ClassVar[str] = "health"

    @property
    def subject(self) -> str | None:
        return self.backend

    @property
    def text(self) -> str:
        why = f": {self.evidence}" if self.evidence else ""
        return f"{self.backend} {self.old} → {self.new}{why}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlAction(Event):
    """Somebody changed something (a key, the admin API, a lesson), and what to watch."""

    action: str
    detail: str = ""
    #: What the learner should look for next.
    watch: str = ""
    #: The backend the control acted on ("" for lab-wide controls).
    backend: str = ""
    KIND: ClassVar[str] = "control"

    @property
    def subject(self) -> str | None:
        return self.backend or None

    @property
    def text(self) -> str:
        parts = [self.action, self.detail, self.watch]
        return ": ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice(Event):
    """Anything else worth a line in the timeline (a warning, an explanation)."""

    message: str
    level: str = "info"

    @property
    def text(self) -> str:
        return self.message


Subscriber = Callable[[Event], None]


#: Every kind of event, in the order a filter lists them.
KINDS = ("request", "health", "control", "session", "notice")


class EventBus:
    """Synchronous publish/subscribe with ring buffers of recent events.

    ``recent`` keeps the latest events of every kind; ``notable`` keeps the latest
    events that are not requests, so at hundreds of requests a second a backend going
    DOWN a minute ago is still there to read.
    """

    def __init__(self, keep: int = 1000, keep_notable: int = 500) -> None:
        self.recent: deque[Event] = deque(maxlen=keep)
        self.notable: deque[Event] = deque(maxlen=keep_notable)
        self._subscribers: list[Subscriber] = []

    def select(
        self,
        kinds: Collection[str] = KINDS,
        *,
        backend: str | None = None,
        since: int = 0,
        limit: int = 200,
    ) -> list[Event]:
        """The latest ``limit`` events of these ``kinds`` (about ``backend``, if given)
        after sequence number ``since``, oldest first; read from ``notable`` when no
        requests are wanted, so the flood does not push them out."""
        source = self.recent if "request" in kinds else self.notable
        found = [
            e
            for e in source
            if e.seq > since and e.KIND in kinds and (backend is None or e.subject == backend)
        ]
        return found[-limit:] if limit > 0 else []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every future event; returns an unsubscribe function."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> None:
        """Record ``event`` and hand it to every subscriber."""
        self.recent.append(event)
        if event.KIND != "request":
            self.notable.append(event)
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # one broken consumer must not stop the proxy
                self._subscribers.remove(subscriber)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionLost(Event):
    """A request reached a backend that does not know its session: the user is logged out.

    The fake backends publish it (through the Lab) when they answer 401 for a session
    cookie they cannot resolve; ``text`` is also the body of that 401.
    """

    #: The session id from the cookie ("s1-3f9a...": it names the backend that made it).
    session: str
    #: The backend the request reached.
    backend: str
    #: Where the session lived: a backend name, or "shared store".
    home: str
    #: Why it is gone: "it lives on s1", "expired or never created", ...
    reason: str
    path: str = ""
    KIND: ClassVar[str] = "session"

    @property
    def subject(self) -> str | None:
        return self.backend

    @property
    def text(self) -> str:
        if self.home == "shared store":
            return f"session {self.session} not found in the shared store ({self.reason})"
        return f"session {self.session} not found on {self.backend} — {self.reason}"
