"""Metrics: what the fleet is doing right now, in numbers a dashboard can draw.

For the whole fleet and for each backend, over a sliding window of recent seconds (10
by default): requests per second, error rate, status classes, bytes per second and
latency percentiles (p50, p95, p99); and, for charts, one point per second over the
last minute. The proxy records each finished request (O(1), no allocation); the UI
reads a ``MetricsSnapshot`` a few times a second.

Why a histogram, not a list of samples
--------------------------------------
An exact p99 needs every sample of the window, sorted: memory grows with traffic and
every read costs O(n log n). A dashboard only needs latency to a few percent, so each
sample goes into a bucket whose bounds grow by a fixed ratio (4%: 10 µs, 10.4 µs,
10.8 µs, ... 60 s; about 400 buckets), and a percentile is read by counting up from the
lowest bucket until the requested share of samples is passed. The answer is that
bucket's (geometric) middle, so it is within 2% of the true value whatever the traffic
(``RELATIVE_ERROR``). Memory is fixed, recording is one ``log`` and an increment, and
the histograms of different seconds or backends merge by adding counts — something
percentiles cannot do: the p99 of two seconds is *not* the average of their p99s.
HdrHistogram, Prometheus' native histograms and Envoy's stats work the same way.

Why a ring of seconds
---------------------
A sliding window has to forget. Each second gets a slot in a ring of ``window`` slots,
and a request is counted in the slot of the second it finished in. When a new second
maps to a slot that still holds an old second, the slot is cleared before reuse. A read
adds up only the slots whose second is still inside the window, so a clock that jumps
minutes ahead costs nothing: every slot is simply out of date. The window is the
current, partial second plus the ``window - 1`` whole seconds before it, and rates are
divided by exactly that span, so they do not dip each time a second begins.

Requests the balancer answered itself (a 503 when no backend is available) are
recorded with ``backend=None``: they count in the total and in ``no_backend``, never
in a backend's numbers. In-flight counts live in the ``Balancer`` (``BackendStats``);
pass them to ``snapshot`` to have them alongside.
"""

from __future__ import annotations

import math
import operator
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate

from lbplay.errors import ConfigError

#: Latencies at or below this (10 µs) share the lowest bucket and read as 10 µs.
LOWEST = 10e-6
#: Latencies from about 60 s up share the top bucket and read as about 60 s.
HIGHEST = 60.0
#: Each bucket is 4% wider than the one below it.
RATIO = 1.04
#: Worst relative error of a reported latency: half a bucket on a log scale (~1.98%).
RELATIVE_ERROR = math.sqrt(RATIO) - 1.0

_INV_LOWEST = 1.0 / LOWEST
_INV_LOG_RATIO = 1.0 / math.log(RATIO)
#: Bucket 0 is everything <= LOWEST; bucket i >= 1 holds [LOWEST*RATIO**(i-1), LOWEST*RATIO**i).
BUCKETS = math.ceil(math.log(HIGHEST / LOWEST) * _INV_LOG_RATIO) + 1
#: What a bucket reads as: the geometric middle, so the error is the same at both edges.
_BUCKET_VALUE: tuple[float, ...] = (
    LOWEST,
    *(LOWEST * RATIO ** (i - 0.5) for i in range(1, BUCKETS)),
)

#: Status classes in display order. "failed" is status 0: no response at all
#: (connection refused or reset, timeout), which is not the same lesson as a 5xx.
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "failed", "other")

# One slot is a flat list of ints: a few counters, the status classes, then the latency
# buckets. One list per slot keeps recording to a handful of index operations and lets a
# read merge slots with one zip.
_REQUESTS, _ERRORS, _RETRIED, _BYTES = 0, 1, 2, 3
_CLASS = 4
_HIST = _CLASS + len(STATUS_CLASSES)
_TOP = _HIST + BUCKETS - 1
_SLOT_LEN = _HIST + BUCKETS
_ZERO_SLOT = [0] * _SLOT_LEN
#: Where each status is counted; anything not listed (1xx, >= 600, odd values) is "other".
_CLASS_AT = {
    0: _CLASS + 4,
    **{status: _CLASS + status // 100 - 2 for status in range(200, 600)},
}
_OTHER_AT = _CLASS + 5
#: The stamp of a slot that has never held a second.
_NEVER = -(2**62)

_log = math.log
_floor = math.floor


def bucket_index(seconds: float) -> int:
    """The histogram bucket of a latency, computed (not searched): O(1)."""
    if seconds > LOWEST:  # also false for NaN, which lands in bucket 0
        return min(int(_log(seconds * _INV_LOWEST) * _INV_LOG_RATIO) + 1, BUCKETS - 1)
    return 0


def bucket_value(index: int) -> float:
    """The latency, in seconds, that bucket ``index`` reads as."""
    return _BUCKET_VALUE[index]


def quantiles(buckets: Sequence[int], qs: Iterable[float]) -> tuple[float | None, ...]:
    """Latency quantiles (0 < q <= 1) of a histogram; None for each when it is empty.

    Nearest rank: the q-quantile of n samples is the ceil(q*n)-th smallest, so p99 of
    100 samples is the 99th. One cumulative sum, then a binary search per quantile.
    """
    cumulative = list(accumulate(buckets))
    total = cumulative[-1] if cumulative else 0
    if total == 0:
        return tuple(None for _ in qs)
    # The epsilon keeps 0.07 * 100 (= 7.000000000000001) from ranking as the 8th.
    return tuple(
        _BUCKET_VALUE[bisect_left(cumulative, max(1, math.ceil(q * total - 1e-9)))] for q in qs
    )


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Numbers over the sliding window for the fleet or one backend, ready to render."""

    #: Requests that finished inside the window.
    requests: int
    rps: float
    #: Requests with status >= 500 or 0 (no response).
    errors: int
    #: errors / requests; 0.0 when there were no requests.
    error_rate: float
    #: Requests that needed more than one attempt.
    retried: int
    bytes: int
    bytes_per_second: float
    #: Latency percentiles and mean in seconds (within RELATIVE_ERROR); None: no requests.
    p50: float | None
    p95: float | None
    p99: float | None
    mean: float | None
    #: Requests per status class, keyed by STATUS_CLASSES (all present).
    status: Mapping[str, int]
    #: Named events in the window (see ``Metrics.count``); every known name is present.
    counts: Mapping[str, int]
    #: Seconds the rates are averaged over: window - 1 <= span < window (shorter at start,
    #: never under 1).
    span: float
    #: Requests in flight now, when ``snapshot`` was given them.
    in_flight: int | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """One point per whole second, oldest first, for charts; always ``history`` long.

    Point ``i`` is the clock second ``seconds[i]``; the current, partial second is left
    out (drawn, it would dip at the right edge of every chart). Seconds before the
    metrics existed read as zero / None.
    """

    #: The second after the last point (the current second).
    end: int
    #: Requests finished in each second, i.e. requests per second.
    requests: tuple[int, ...]
    errors: tuple[int, ...]
    p50: tuple[float | None, ...]
    p99: tuple[float | None, ...]
    #: Requests per backend per second: each backend's share of the traffic over time.
    backends: Mapping[str, tuple[int, ...]]
    #: Each backend's own p50 and p99 latency per second (None: no request that second).
    backend_p50: Mapping[str, tuple[float | None, ...]]
    backend_p99: Mapping[str, tuple[float | None, ...]]
    #: Named events per second (``Metrics.count``), e.g. "session_losses".
    counts: Mapping[str, tuple[int, ...]]

    @property
    def seconds(self) -> range:
        return range(self.end - len(self.requests), self.end)


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """Everything the UI draws about traffic, at one instant."""

    #: The clock time the snapshot describes.
    at: float
    #: Window length in seconds.
    window: int
    total: WindowStats
    #: Per backend, in the order they were first seen.
    backends: Mapping[str, WindowStats]
    #: Requests the balancer answered itself (``backend=None``), e.g. 503 with no backend.
    no_backend: WindowStats
    series: Series


class _Window:
    """A ring of ``size`` one-second slots for one backend (or the total)."""

    __slots__ = ("size", "stamps", "slots", "counts", "_sealed_at", "_sealed", "_sealed_counts")

    def __init__(self, size: int) -> None:
        self.size = size
        #: The second each slot holds; a slot whose stamp is out of the window is stale.
        self.stamps = [_NEVER] * size
        self.slots = [list(_ZERO_SLOT) for _ in range(size)]
        #: Named events per slot, allocated only when an event is counted (rare).
        self.counts: list[dict[str, int] | None] = [None] * size
        #: The window's slots before the current second, summed once per second: only
        #: the current second's slot changes, and a dashboard reads the window 5 times a
        #: second (summing every slot at each read was more than half of a snapshot).
        self._sealed_at = _NEVER
        self._sealed: list[int] = _ZERO_SLOT
        self._sealed_counts: dict[str, int] = {}

    def slot(self, second: int) -> list[int]:
        """The slot of ``second``, cleared first if it still holds an older second."""
        i = second % self.size
        if self.stamps[i] != second:
            self.slots[i][:] = _ZERO_SLOT
            self.stamps[i] = second
            self.counts[i] = None
        return self.slots[i]

    def requests_in(self, second: int) -> int:
        i = second % self.size
        return self.slots[i][_REQUESTS] if self.stamps[i] == second else 0

    def _seal(self, second: int) -> None:
        """Sum the slots of the window's seconds before ``second``: they no longer
        change (requests are counted in the current second, and time only moves on)."""
        oldest = second - self.size  # slots stamped after this are in the window
        live = [i for i, stamp in enumerate(self.stamps) if oldest < stamp < second]
        counts: dict[str, int] = {}
        for i in live:
            events = self.counts[i]
            if events:
                for name, n in events.items():
                    counts[name] = counts.get(name, 0) + n
        if not live:
            sealed = _ZERO_SLOT
        elif len(live) == 1:
            sealed = list(self.slots[live[0]])
        else:
            sealed = [sum(column) for column in zip(*(self.slots[i] for i in live), strict=True)]
        self._sealed_at = second
        self._sealed = sealed
        self._sealed_counts = counts

    def stats(
        self, second: int, span: float, names: Iterable[str], in_flight: int | None
    ) -> WindowStats:
        if self._sealed_at != second:
            self._seal(second)
        counts = dict.fromkeys(names, 0)
        counts.update(self._sealed_counts)
        i = second % self.size
        if self.stamps[i] == second:
            merged = list(map(operator.add, self._sealed, self.slots[i]))
            events = self.counts[i]
            if events:
                for name, n in events.items():
                    counts[name] = counts.get(name, 0) + n
        else:
            merged = self._sealed
        requests = merged[_REQUESTS]
        buckets = merged[_HIST:]
        p50, p95, p99 = quantiles(buckets, (0.5, 0.95, 0.99))
        mean = sum(map(operator.mul, buckets, _BUCKET_VALUE)) / requests if requests else None
        return WindowStats(
            requests=requests,
            rps=requests / span,
            errors=merged[_ERRORS],
            error_rate=merged[_ERRORS] / requests if requests else 0.0,
            retried=merged[_RETRIED],
            bytes=merged[_BYTES],
            bytes_per_second=merged[_BYTES] / span,
            p50=p50,
            p95=p95,
            p99=p99,
            mean=mean,
            status=dict(zip(STATUS_CLASSES, merged[_CLASS:_HIST], strict=True)),
            counts=counts,
            span=span,
            in_flight=in_flight,
        )


def _history(length: int) -> deque[int]:
    return deque([0] * length, maxlen=length)


def _whole_seconds(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"bad metrics {what} {value!r}: use a whole number of seconds, 1 or more")
    return value


class Metrics:
    """The recorder for the whole fleet: a total view plus one view per backend.

    ``window`` is the sliding window in seconds; ``history`` the number of one-second
    points kept for charts. Backends are added on first sight (or by ``track``) and
    dropped by ``forget``.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        window: object = 10,
        history: object = 60,
    ) -> None:
        # (Taken as objects and checked here, so that a wrong type is the same
        # ConfigError when this module is compiled: mypyc checks annotated types.)
        self.window = seconds = _whole_seconds("window", window)
        self.history = points = _whole_seconds("history", history)
        self.clock = clock
        self._started = clock()
        #: The latest second seen; every second before it is sealed into the series.
        self._second = _floor(self._started)
        self._total = _Window(seconds)
        #: Per backend, plus ``None`` for requests no backend served.
        self._views: dict[str | None, _Window] = {None: _Window(seconds)}
        self._requests = _history(points)
        self._errors = _history(points)
        self._p50: deque[float | None] = deque([None] * points, maxlen=points)
        self._p99: deque[float | None] = deque([None] * points, maxlen=points)
        self._backend_series: dict[str, deque[int]] = {}
        self._backend_latency: dict[str, tuple[deque[float | None], deque[float | None]]] = {}
        self._count_series: dict[str, deque[int]] = {}
        #: Named events counted in the current second, for the series.
        self._pending: dict[str, int] = {}

    # -- recording ---------------------------------------------------------------

    def record(
        self,
        backend: str | None,
        status: int,
        latency: float,
        nbytes: int = 0,
        *,
        retried: bool = False,
        now: float | None = None,
    ) -> None:
        """Count one finished request: O(1), no allocation (after a backend's first).

        ``status`` is the HTTP status sent to the client, 0 when there was no response;
        ``latency`` is in seconds; ``now`` saves a clock read when the caller has one.
        """
        # Inlined on purpose (bucket_index, _tick, _Window.slot): this runs per request
        # and each Python call costs about as much as the arithmetic.
        if now is None:
            now = self.clock()
        second = _floor(now)
        if second != self._second:
            if second > self._second:
                self._advance(second)
            else:  # a request that finished a moment ago counts in the current second
                second = self._second
        if latency > LOWEST:
            bucket = int(_log(latency * _INV_LOWEST) * _INV_LOG_RATIO) + 1 + _HIST
            if bucket > _TOP:
                bucket = _TOP
        else:
            bucket = _HIST
        at = _CLASS_AT.get(status, _OTHER_AT)
        error = status >= 500 or status == 0

        i = second % self._total.size
        # The same counts go to the whole fleet's window and to the backend's own.
        for view in (self._total, self._views.get(backend) or self._add_view(backend)):
            slot = view.slots[i]
            if view.stamps[i] != second:
                slot = view.slot(second)
            slot[_REQUESTS] += 1
            slot[at] += 1
            slot[bucket] += 1
            slot[_BYTES] += nbytes
            if error:
                slot[_ERRORS] += 1
            if retried:
                slot[_RETRIED] += 1

    def count(
        self, name: str, n: int = 1, *, backend: str | None = None, now: float | None = None
    ) -> None:
        """Count ``n`` named events, e.g. ``count("session_losses", backend="s2")``.

        They show in every ``WindowStats.counts`` (total, and the backend's when given)
        and as a per-second ``Series.counts[name]``. For things that are not requests.
        """
        second = self._tick(now)
        views = [self._total]
        if backend is not None:
            views.append(self._views.get(backend) or self._add_view(backend))
        for view in views:
            view.slot(second)
            i = second % view.size
            events = view.counts[i]
            if events is None:
                events = view.counts[i] = {}
            events[name] = events.get(name, 0) + n
        if name not in self._count_series:
            self._count_series[name] = _history(self.history)
        self._pending[name] = self._pending.get(name, 0) + n

    # -- the fleet ---------------------------------------------------------------

    def track(self, backend: str) -> None:
        """Show ``backend`` (with zeros) before its first request."""
        if backend not in self._views:
            self._add_view(backend)

    def forget(self, backend: str) -> None:
        """Drop a backend's numbers and series (it left the fleet); the total keeps them."""
        self._views.pop(backend, None)
        self._backend_series.pop(backend, None)
        self._backend_latency.pop(backend, None)

    @property
    def backends(self) -> list[str]:
        """Tracked backends, in the order they were first seen."""
        return [name for name in self._views if name is not None]

    def _add_view(self, backend: str | None) -> _Window:
        view = self._views[backend] = _Window(self.window)
        if backend is not None:
            self._backend_series[backend] = _history(self.history)
            self._backend_latency[backend] = (
                deque([None] * self.history, maxlen=self.history),
                deque([None] * self.history, maxlen=self.history),
            )
        return view

    # -- time --------------------------------------------------------------------

    def _tick(self, now: float | None) -> int:
        """The second ``now`` falls in (never earlier than one already seen)."""
        second = _floor(self.clock() if now is None else now)
        if second > self._second:
            self._advance(second)
        return self._second

    def _advance(self, second: int) -> None:
        """Seal the seconds from the latest one seen up to ``second`` into the series."""
        last = self._second
        self._second = second
        # Only the last ``history`` seconds can still be on the chart: a jump of minutes
        # appends at most ``history`` points.
        empty = min(second - last - 1, self.history)
        total = self._total.slots[last % self.window]
        if self._total.stamps[last % self.window] != last:
            total = _ZERO_SLOT
        self._requests.append(total[_REQUESTS])
        self._errors.append(total[_ERRORS])
        p50, p99 = quantiles(total[_HIST:], (0.5, 0.99)) if total[_REQUESTS] else (None, None)
        self._p50.append(p50)
        self._p99.append(p99)
        for name, points in self._backend_series.items():
            points.append(self._views[name].requests_in(last))
        for name, (p50s, p99s) in self._backend_latency.items():
            view = self._views[name]
            slot = view.slots[last % self.window]
            if view.stamps[last % self.window] == last and slot[_REQUESTS]:
                low, high = quantiles(slot[_HIST:], (0.5, 0.99))
            else:
                low = high = None
            p50s.append(low)
            p99s.append(high)
        for name, points in self._count_series.items():
            points.append(self._pending.get(name, 0))
        self._pending.clear()
        if empty > 0:
            zeros = [0] * empty
            nones = [None] * empty
            self._requests.extend(zeros)
            self._errors.extend(zeros)
            self._p50.extend(nones)
            self._p99.extend(nones)
            for points in (*self._backend_series.values(), *self._count_series.values()):
                points.extend(zeros)
            for p50s, p99s in self._backend_latency.values():
                p50s.extend(nones)
                p99s.extend(nones)

    # -- reading -----------------------------------------------------------------

    def snapshot(
        self, now: float | None = None, *, in_flight: Mapping[str, int] | None = None
    ) -> MetricsSnapshot:
        """The window's numbers for the fleet and each backend, plus the series.

        ``in_flight`` (backend name to requests in flight, e.g. from the Balancer's
        ``BackendStats``) fills ``WindowStats.in_flight``; the total is their sum.
        """
        if now is None:
            now = self.clock()
        second = self._tick(now)
        now = max(now, float(second))
        # The window is the current partial second plus window - 1 whole ones; early on it
        # is only as long as the metrics have existed. Never divide by less than a second,
        # or the first request of a run would read as thousands per second.
        span = max(min(self.window - 1 + (now - second), now - self._started), 1.0)
        names = list(self._count_series)
        backends = {
            name: view.stats(
                second, span, names, None if in_flight is None else in_flight.get(name, 0)
            )
            for name, view in self._views.items()
            if name is not None
        }
        total_flight = sum(in_flight.values()) if in_flight is not None else None
        series = Series(
            end=second,
            requests=tuple(self._requests),
            errors=tuple(self._errors),
            p50=tuple(self._p50),
            p99=tuple(self._p99),
            backends={name: tuple(points) for name, points in self._backend_series.items()},
            backend_p50={name: tuple(p[0]) for name, p in self._backend_latency.items()},
            backend_p99={name: tuple(p[1]) for name, p in self._backend_latency.items()},
            counts={name: tuple(points) for name, points in self._count_series.items()},
        )
        return MetricsSnapshot(
            at=now,
            window=self.window,
            total=self._total.stats(second, span, names, total_flight),
            backends=backends,
            no_backend=self._views[None].stats(second, span, names, None),
            series=series,
        )
