"""What the dashboard shows, computed from a ``LabSnapshot``: plain Python, no Textual.

Widgets stay thin: they turn these rows into styled cells. Everything here is a pure
function of the snapshot (plus ``LatencyHistory``, which remembers past snapshots),
so it is tested without a terminal and costs O(backends + shown requests) per frame.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lbplay.core import registry
from lbplay.core.events import ConnectionCompleted, Event, RequestCompleted
from lbplay.core.metrics import MetricsSnapshot, Series
from lbplay.model.snapshot import BackendView, LabSnapshot
from lbplay.model.status import Level, StatePart, state_parts, worst

#: Shown where a number does not exist yet (no requests in the window).
NONE = "—"
#: Generated clients never use 127.0.0.0/24 (``model.workload.client_address``), so a request
#: from there came from outside the generator: most likely the learner's own curl.
OUTSIDE_PREFIX = "127.0.0."
#: The Metrics.count name the sessions feature records losses under.
SESSION_LOSSES = "session_losses"


# -- numbers --------------------------------------------------------------------------


def fmt_ms(seconds: float | None) -> str:
    """A latency for a table cell: ``0.42 ms``, ``21 ms``, ``1.3 s``; ``—`` for none."""
    if seconds is None:
        return NONE
    ms = seconds * 1000
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.1f} s"


def fmt_pct(fraction: float) -> str:
    """A share or error rate: ``0%``, ``0.4%``, ``12%``, ``100%``."""
    pct = fraction * 100
    if pct == 0:
        return "0%"
    if pct < 1:
        return f"{pct:.1f}%"
    return f"{pct:.0f}%"


def fmt_rate(rate: float) -> str:
    """Requests per second: ``0``, ``0.4``, ``12``, ``1.2k``."""
    if rate >= 10_000:
        return f"{rate / 1000:.0f}k"
    if rate >= 1000:
        return f"{rate / 1000:.1f}k"
    if rate >= 10 or rate == int(rate):
        return f"{rate:.0f}"
    return f"{rate:.1f}"


def fmt_bytes_rate(per_second: float) -> str:
    """Bytes per second: ``0 B/s``, ``512 B/s``, ``12 KB/s``, ``1.5 MB/s`` (1 KB = 1000 B)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if per_second >= size:
            value = per_second / size
            return f"{value:.1f} {unit}/s" if value < 10 else f"{value:.0f} {unit}/s"
    return f"{per_second:.0f} B/s"


def share_bar(share: float, width: int) -> str:
    """A horizontal bar of ``width`` cells, filled to ``share`` in eighths."""
    share = min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return bar.ljust(width)


def status_level(status: int) -> Level:
    """How an HTTP status reads: 2xx/3xx fine, 4xx a warning, 5xx or none broken."""
    if 200 <= status < 400:
        return "ok"
    if 400 <= status < 500:
        return "warn"
    return "bad"


# -- the snapshot, read the way the dashboard needs it --------------------------------


def traffic_metrics(snap: LabSnapshot) -> MetricsSnapshot:
    """The proxy's own numbers in L7; in L4 the proxy cannot see requests, so the
    traffic generator's client-side numbers stand in."""
    return snap.metrics if snap.mode == "l7" else snap.client_metrics


def session_losses(series: Series) -> tuple[int, ...]:
    """Session losses per second, or zeros when nothing counts them yet."""
    return series.counts.get(SESSION_LOSSES) or (0,) * len(series.requests)


def window_seconds(snap: LabSnapshot) -> int:
    """How many seconds the rates, shares and percentiles are measured over."""
    return traffic_metrics(snap).window


def error_totals(series: Series) -> tuple[int, int, int]:
    """(errors, session losses, seconds) over everything the error chart shows."""
    return sum(series.errors), sum(session_losses(series)), len(series.errors)


# -- the traffic: asked for, measured, keeping up? ------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficReading:
    """What the header says about traffic: the target, what really flows, and why the
    generator falls short when it does."""

    #: Requests per second asked of the generator (open loop), 0 for none.
    target: float
    #: Requests per second measured over the metrics window: through the proxy in L7
    #: (the learner's curls included), at the clients in L4.
    measured: float
    paused: bool
    #: Closed loop: the number of users (the rate is whatever they manage).
    users: int | None
    #: Why the generator is not delivering the target, or "".
    behind: str = ""


#: Below this share of the target (after the window has settled), the header warns.
KEEP_UP_SHARE = 0.9


class TrafficWatch:
    """Reads ``TrafficReading``s from snapshots, remembering what a single snapshot
    cannot say: how long the target has been what it is (a window that still holds
    the old rate is not "falling behind") and whether ``dropped`` is growing."""

    def __init__(self) -> None:
        self._target: tuple[float, bool] | None = None
        self._since = 0.0
        #: (time, dropped so far), the last few seconds.
        self._dropped: deque[tuple[float, int]] = deque()

    def read(self, snap: LabSnapshot) -> TrafficReading:
        traffic = snap.traffic
        now = snap.at
        if (snap.rate, snap.paused) != self._target:
            self._target = (snap.rate, snap.paused)
            self._since = now
        self._dropped.append((now, traffic.dropped))
        while len(self._dropped) > 1 and now - self._dropped[0][0] > 2.0:
            self._dropped.popleft()
        measured = traffic_metrics(snap).total.rps
        if traffic.mode == "closed":
            return TrafficReading(0.0, measured, snap.paused, traffic.users)
        reading = TrafficReading(snap.rate, measured, snap.paused, None)
        if snap.paused or snap.rate <= 0:
            return reading
        first_at, first_dropped = self._dropped[0]
        if traffic.dropped > first_dropped and now > first_at:
            per_second = (traffic.dropped - first_dropped) / (now - first_at)
            return _behind(
                reading,
                f"{fmt_rate(per_second)}/s dropped: {traffic.in_flight} requests already in flight",
            )
        # The generator's own results (not the learner's curls) against its target, once
        # the window holds only the current target. Poisson arrivals wobble: three
        # standard deviations of the window's count are not "falling behind".
        stats = snap.client_metrics.total
        settle = snap.client_metrics.window + 1.0
        if now - self._since < settle:
            return reading
        expected = snap.rate * stats.span
        floor = min(KEEP_UP_SHARE * expected, expected - 3 * math.sqrt(expected))
        if stats.requests < floor:
            return _behind(
                reading,
                f"the generator sends only {fmt_rate(stats.rps)} of {fmt_rate(snap.rate)}/s",
            )
        return reading


def _behind(reading: TrafficReading, why: str) -> TrafficReading:
    return TrafficReading(reading.target, reading.measured, reading.paused, reading.users, why)


# -- the fleet table ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetRow:
    """One backend, ready for the fleet table."""

    name: str
    #: Its position (1-based): the digit key that selects it, when 1-9.
    number: int
    state: tuple[StatePart, ...]
    #: What was done to it: "+500 ms 50% err brownout".
    faults: str
    weight: int
    #: The weight the balancer really uses now: 0 out of rotation, ramped in slow start.
    effective: float
    in_flight: int
    rps: float
    error_rate: float
    p50: float | None
    p99: float | None
    #: Its share of the requests in the window, 0..1.
    share: float
    #: Response bytes per second it sent (what least_bandwidth balances on).
    bytes_per_second: float
    killed: bool
    active: bool

    @property
    def state_text(self) -> str:
        return " · ".join(part.text for part in self.state)

    @property
    def level(self) -> Level:
        """The most serious level among the state parts."""
        return worst(self.state)


def faults(view: BackendView) -> str:
    """The knobs a learner turned on this backend, in a few characters."""
    parts = []
    if view.pool != "default":  # content routing sends this pool its own paths
        parts.append(f"pool {view.pool}")
    if view.slow_ms:
        parts.append(f"+{view.slow_ms:g} ms")
    if view.error_rate:
        parts.append(f"{fmt_pct(view.error_rate)} err")
    if view.brownout:
        parts.append("brownout")
    if view.hang:
        parts.append("hangs")
    if view.capacity is not None:
        parts.append(f"cap {view.capacity}")
    return " ".join(parts)


def fleet_rows(snap: LabSnapshot) -> list[FleetRow]:
    """Every backend as a table row, in fleet order."""
    metrics = traffic_metrics(snap)
    total = sum(stats.requests for stats in metrics.backends.values())
    rows = []
    for number, view in enumerate(snap.backends, start=1):
        stats = metrics.backends.get(view.name)
        effective = view.weight * view.slow_start if view.eligible else 0.0
        rows.append(
            FleetRow(
                name=view.name,
                number=number,
                state=state_parts(view),
                faults=faults(view),
                weight=view.weight,
                effective=effective,
                in_flight=view.in_flight,
                rps=stats.rps if stats else 0.0,
                error_rate=stats.error_rate if stats else 0.0,
                p50=stats.p50 if stats else None,
                p99=stats.p99 if stats else None,
                share=(stats.requests / total) if stats and total else 0.0,
                bytes_per_second=stats.bytes_per_second if stats else 0.0,
                killed=view.killed,
                active=view.admin == "active",
            )
        )
    return rows


# -- the request feed -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One request (L7) or connection (L4), ready for the feed."""

    seq: int
    client: str
    #: The learner's own request (from outside the traffic generator).
    outside: bool
    target: str
    #: "200", "503", "—" for an L4 connection.
    status: str
    level: Level
    #: "21 ms" (L7 latency) or "1.2 s" (L4 connection time).
    latency: str
    #: How many backends were tried (2+ means retried).
    attempts: int
    #: The balancer's reason, in full (never cut on screen: the feed wraps it), without
    #: the backend's name in front when it is the target the row already names.
    reason: str
    what: str


def is_outside(client: str, snap: LabSnapshot) -> bool:
    """Whether ``client`` is not one of the generator's virtual clients.

    When the generator cannot use its own addresses (macOS without aliases), every
    client is 127.0.0.1 and nothing can be told apart.
    """
    return client.startswith(OUTSIDE_PREFIX) and not snap.traffic.warning


def feed_row(event: Event, snap: LabSnapshot) -> FeedRow | None:
    """A feed row for a finished request or connection (None for other events)."""
    if isinstance(event, RequestCompleted):
        return FeedRow(
            seq=event.seq,
            client=event.client,
            outside=is_outside(event.client, snap),
            target=event.backend or "proxy",
            status=str(event.status) if event.status else "none",
            level=status_level(event.status),
            latency=fmt_ms(event.latency),
            attempts=len(event.attempts),
            reason=_why(event.error or event.reason, event.backend),
            what=f"{event.method} {event.path}",
        )
    if isinstance(event, ConnectionCompleted):
        return FeedRow(
            seq=event.seq,
            client=event.client,
            outside=is_outside(event.client, snap),
            target=event.backend or "nobody",
            status="conn",
            level="bad" if event.error else "ok",
            latency=fmt_ms(event.duration),
            attempts=len(event.attempts),
            reason=_why(event.error or event.reason, event.backend),
            what=f"{event.bytes_up} B up, {event.bytes_down} B down",
        )
    return None


def _why(reason: str, backend: str | None) -> str:
    """``s2: next in rotation`` → ``next in rotation`` on a row that already says s2."""
    if backend and reason.startswith(f"{backend}: "):
        return reason[len(backend) + 2 :]
    return reason


#: How long the learner's own request stays pinned on top of the feed.
PIN_SECONDS = 30.0
#: The learner's requests pinned at most.
PIN_MAX = 3
Finished = RequestCompleted | ConnectionCompleted


def feed_rows(
    outside: Iterable[RequestCompleted], snap: LabSnapshot, limit: int
) -> tuple[list[FeedRow], dict[int, Finished]]:
    """The feed's rows, newest first: the learner's own recent requests (``outside``)
    pinned on top, then the newest requests of ``snap``; and each row's event by seq."""
    pinned = [e for e in outside if snap.at - e.at < PIN_SECONDS and is_outside(e.client, snap)][
        -PIN_MAX:
    ]
    rows: list[FeedRow] = []
    chosen: dict[int, Finished] = {}
    for event in [*reversed(pinned), *reversed(snap.recent)]:
        if event.seq in chosen or not isinstance(event, RequestCompleted | ConnectionCompleted):
            continue
        row = feed_row(event, snap)
        if row is None:
            continue
        rows.append(row)
        chosen[event.seq] = event
        if len(rows) >= limit:
            break
    return rows, chosen


# -- explaining one request -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a request went where it went, in the words the Explain screen shows."""

    headline: str
    level: Level
    why: str
    #: (backend, outcome, latency, reason) per attempt, in order.
    attempts: tuple[tuple[str, str, str, str], ...]
    session: str
    lesson: str


def explain(
    event: RequestCompleted | ConnectionCompleted, mode_session: str, algorithm: str = ""
) -> Explanation:
    """Turn a finished request or connection into an explanation (``algorithm``: the
    one in use now, whose idea explains an ordinary pick)."""
    attempts = tuple(
        (
            a.backend,
            a.outcome if a.status is None else f"{a.outcome} ({a.status})",
            fmt_ms(a.latency),
            a.reason,
        )
        for a in event.attempts
    )
    if isinstance(event, ConnectionCompleted):
        target = event.backend or "nobody"
        return Explanation(
            headline=f"{event.client} ⇄ {target}: a TCP connection, {fmt_ms(event.duration)}",
            level="bad" if event.error else "ok",
            why=event.reason or event.error or "no pick was made",
            attempts=attempts,
            session="L4 has no sessions: it never sees a cookie or a header.",
            lesson=(
                "In L4 the balancer picks once per TCP connection: every request that rode"
                f" on this connection ({event.bytes_up} B up, {event.bytes_down} B down) went"
                f" to {target}. Keep-alive clients therefore stick to one backend."
            ),
        )
    target = event.backend or "the proxy itself"
    headline = (
        f"{event.client} {event.method} {event.path} → {target}:"
        f" {event.status or 'no response'} in {fmt_ms(event.latency)}"
    )
    if event.backend is None:
        why = event.error or "no backend could take it"
        lesson = (
            "The proxy answered on its own: no backend was eligible. With every backend"
            " down and panic mode off, there is nothing to send to, so the client gets a 503."
        )
    elif event.retried:
        first = event.attempts[0]
        why = event.reason
        lesson = (
            f"The first pick, {first.backend}, failed ({first.outcome}). The proxy retried"
            " on another backend, avoiding the ones already tried (nginx"
            " proxy_next_upstream, HAProxy retries). The client saw one request — but the"
            " fleet did the work twice: retries multiply load."
        )
    elif event.status >= 500:
        why = event.reason
        lesson = (
            f"{event.backend} answered {event.status}. A 5xx is an answer, not a connection"
            " failure, so it is not retried by default: the client got it. Envoy's outlier"
            " detection counts it (5 in a row eject a backend); nginx's max_fails counts"
            " it only when proxy_next_upstream retries 5xx (here: retries --on 500)."
        )
    else:
        why = event.reason
        lesson = "Picked on the first try and answered."
        if algorithm:
            lesson += f" {algorithm} picks this way: {registry.get(algorithm).idea}."
    session = event.session or (
        "No session affinity: each request is balanced on its own."
        if mode_session == "none"
        else f"Session mode {mode_session}: no session decision was recorded."
    )
    return Explanation(
        headline=headline,
        level=status_level(event.status),
        why=why,
        attempts=attempts,
        session=session,
        lesson=lesson,
    )


# -- per-backend latency over time ------------------------------------------------------


class LatencyHistory:
    """Per-backend p50/p99, one point per second, for the "selected backend" chart.

    The points come from the Lab's metrics series (``Series.backend_p50``/``_p99``);
    this keeps the latest and a version that changes with each new second, so the
    chart knows when to redraw.
    """

    def __init__(self) -> None:
        self._end: int | None = None
        #: Bumped on every new second, so charts know when to redraw.
        self.version = 0
        self._p50: Mapping[str, Sequence[float | None]] = {}
        self._p99: Mapping[str, Sequence[float | None]] = {}

    def update(self, metrics: MetricsSnapshot) -> bool:
        """Take the series of a new second; True when something changed."""
        series = metrics.series
        if series.end == self._end:
            return False
        self._end = series.end
        self.version += 1
        self._p50 = series.backend_p50
        self._p99 = series.backend_p99
        return True

    def series(self, name: str) -> tuple[Sequence[float | None], Sequence[float | None]]:
        """(p50, p99) of ``name``, oldest first; empty when never seen."""
        return tuple(self._p50.get(name, ())), tuple(self._p99.get(name, ()))
