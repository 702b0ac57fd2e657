"""Metrics: histogram precision, the sliding window, rates, per-backend views, series."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbplay.core.explore import VirtualClock
from lbplay.core.metrics import (
    BUCKETS,
    HIGHEST,
    LOWEST,
    RELATIVE_ERROR,
    STATUS_CLASSES,
    Metrics,
    MetricsSnapshot,
    bucket_index,
    bucket_value,
    quantiles,
)
from lbplay.errors import ConfigError

# Float rounding at a bucket's edge may put a value a hair past half a bucket away.
TOLERANCE = RELATIVE_ERROR + 1e-9


def exact_quantile(samples: list[float], q: float) -> float:
    """Nearest rank, by sorting: what the histogram approximates."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(q * len(ordered) - 1e-9)) - 1]


def close(reported: float | None, exact: float, tolerance: float = TOLERANCE) -> bool:
    return reported is not None and abs(reported - exact) <= tolerance * exact


def metrics_at(start: float = 0.0, **kwargs: int) -> tuple[Metrics, VirtualClock]:
    clock = VirtualClock(start)
    return Metrics(clock, **kwargs), clock


# -- the histogram -----------------------------------------------------------------


def test_buckets_cover_10us_to_60s_within_two_percent() -> None:
    assert 300 < BUCKETS < 500
    assert RELATIVE_ERROR < 0.02
    x = LOWEST * 1.001
    previous = 0
    while x < HIGHEST:
        index = bucket_index(x)
        assert index >= previous  # order is kept, so a rank lands in the right bucket
        assert close(bucket_value(index), x)
        previous = index
        x *= 1.013


def test_out_of_range_latencies_are_clamped() -> None:
    assert bucket_index(0.0) == bucket_index(-1.0) == bucket_index(math.nan) == 0
    assert bucket_value(0) == LOWEST
    assert bucket_index(3600.0) == BUCKETS - 1
    assert bucket_value(BUCKETS - 1) == pytest.approx(HIGHEST, rel=0.05)


def test_quantiles_of_an_empty_histogram_are_none() -> None:
    assert quantiles([0] * BUCKETS, (0.5, 0.99)) == (None, None)
    assert quantiles([], (0.5,)) == (None,)


def test_uniform_1_to_1000_ms() -> None:
    metrics, _clock = metrics_at()
    for ms in range(1, 1001):
        metrics.record("a", 200, ms / 1000)
    total = metrics.snapshot().total
    assert close(total.p50, 0.500)
    assert close(total.p95, 0.950)
    assert close(total.p99, 0.990)
    assert total.mean is not None
    assert abs(total.mean - 0.5005) <= 0.5005 * TOLERANCE


def test_a_slow_tail_shows_in_p99_not_in_p50() -> None:
    metrics, _clock = metrics_at()
    for i in range(1000):
        metrics.record("a", 200, 2.0 if i % 50 == 0 else 0.010)  # 2% take 2 s
    total = metrics.snapshot().total
    assert close(total.p50, 0.010)
    assert close(total.p95, 0.010)
    assert close(total.p99, 2.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.floats(min_value=LOWEST * 1.01, max_value=HIGHEST * 0.95, allow_nan=False),
        min_size=1,
        max_size=300,
    )
)
def test_percentiles_are_within_a_bucket_of_the_exact_quantile(latencies: list[float]) -> None:
    metrics, _clock = metrics_at()
    for latency in latencies:
        metrics.record("a", 200, latency)
    stats = metrics.snapshot().total
    for q, reported in ((0.5, stats.p50), (0.95, stats.p95), (0.99, stats.p99)):
        assert close(reported, exact_quantile(latencies, q)), (q, reported)


@given(st.floats(min_value=0.0, max_value=1000.0, allow_nan=False))
def test_record_buckets_like_bucket_index(latency: float) -> None:
    # record() inlines the bucket arithmetic for speed; it must agree with bucket_index.
    metrics, _clock = metrics_at()
    metrics.record(None, 200, latency)
    assert metrics.snapshot().total.p50 == bucket_value(bucket_index(latency))


# -- the window --------------------------------------------------------------------


def test_empty_window_gives_none_and_zeros() -> None:
    metrics, clock = metrics_at(start=50.0)
    clock.advance(30)
    snap = metrics.snapshot()
    for stats in (snap.total, snap.no_backend):
        assert stats.requests == stats.errors == stats.bytes == 0
        assert stats.rps == stats.error_rate == stats.bytes_per_second == 0.0
        assert stats.p50 is stats.p95 is stats.p99 is stats.mean is None
        assert stats.status == dict.fromkeys(STATUS_CLASSES, 0)
    assert snap.backends == {}


def test_a_sample_leaves_the_window_exactly_when_its_second_does() -> None:
    metrics, clock = metrics_at(window=10)
    clock.advance(3.5)
    metrics.record("a", 200, 0.1)
    # The window is the current partial second plus the 9 whole seconds before it.
    assert metrics.snapshot(now=12.999).total.requests == 1
    assert metrics.snapshot(now=13.0).total.requests == 0
    assert metrics.snapshot(now=13.0).backends["a"].p50 is None


def test_slots_are_reused_after_the_ring_wraps() -> None:
    metrics, clock = metrics_at(window=3)
    for second in range(10):
        clock.now = second + 0.5
        metrics.record("a", 200, 0.001 * (second + 1), 10 * (second + 1))
    stats = metrics.snapshot().backends["a"]
    assert stats.requests == 3  # seconds 7, 8, 9
    assert stats.bytes == 80 + 90 + 100
    assert close(stats.p50, 0.009)


def test_a_jump_of_minutes_clears_everything() -> None:
    metrics, clock = metrics_at(window=10, history=60)
    for _ in range(100):
        clock.advance(0.05)
        metrics.record("a", 500, 0.2, 100)
        metrics.count("session_losses", backend="a")
    clock.advance(600)
    snap = metrics.snapshot()
    assert snap.total.requests == snap.backends["a"].requests == 0
    assert snap.total.counts == {"session_losses": 0}
    assert set(snap.series.requests) == {0}
    assert set(snap.series.counts["session_losses"]) == {0}
    assert set(snap.series.p99) == {None}
    assert len(snap.series.requests) == 60
    metrics.record("a", 200, 0.003)
    stats = metrics.snapshot().backends["a"]
    assert stats.requests == 1
    assert stats.errors == 0
    assert close(stats.p99, 0.003)


def test_rps_and_error_rate() -> None:
    metrics, clock = metrics_at(window=10)
    statuses = [200, 200, 200, 200, 201, 302, 404, 500, 503, 0]  # 3 of 10 are errors
    for i in range(100):  # 10 requests a second for 10 s
        clock.now = i / 10
        metrics.record("a", statuses[i % 10], 0.01)
    stats = metrics.snapshot(now=10.0).total
    # At 10.0 the window is [1.0, 10.0]: 90 requests over 9 s.
    assert stats.span == pytest.approx(9.0)
    assert stats.requests == 90
    assert stats.rps == pytest.approx(10.0)
    assert stats.errors == 27
    assert stats.error_rate == pytest.approx(0.3)
    assert stats.status == {"2xx": 45, "3xx": 9, "4xx": 9, "5xx": 18, "failed": 9, "other": 0}
    # Halfway through a second the span is 9.5 s and still holds every request since 1.0.
    assert metrics.snapshot(now=10.5).total.rps == pytest.approx(90 / 9.5)


def test_odd_statuses_count_as_other() -> None:
    metrics, _clock = metrics_at()
    for status in (101, 600, 999):
        metrics.record("a", status, 0.01)
    stats = metrics.snapshot().total
    assert stats.status["other"] == 3
    assert stats.errors == 2  # >= 500 is an error even when it is not a real status


def test_rates_early_in_a_run_use_the_time_since_start_but_at_least_a_second() -> None:
    metrics, clock = metrics_at(start=100.0, window=10)
    clock.advance(0.01)
    metrics.record("a", 200, 0.001)
    assert metrics.snapshot().total.rps == pytest.approx(1.0)
    for _ in range(39):
        clock.advance(0.1)
        metrics.record("a", 200, 0.001, 1000)
    stats = metrics.snapshot(now=104.0).total
    assert stats.span == pytest.approx(4.0)
    assert stats.rps == pytest.approx(40 / 4.0)
    assert stats.bytes_per_second == pytest.approx(39_000 / 4.0)


def test_bytes_per_second() -> None:
    metrics, clock = metrics_at(start=1000.0, window=5)
    for i in range(50):
        clock.now = 1000 + i / 10
        metrics.record("a" if i % 2 else "b", 200, 0.01, 2048)
    snap = metrics.snapshot(now=1005.0)  # window [1001, 1005]: 40 requests over 4 s
    assert snap.total.bytes == 40 * 2048
    assert snap.total.bytes_per_second == pytest.approx(40 * 2048 / 4)
    assert snap.backends["a"].bytes_per_second == pytest.approx(20 * 2048 / 4)


def test_a_late_record_counts_in_the_current_second() -> None:
    metrics, _clock = metrics_at(window=2)
    metrics.record("a", 200, 0.01, now=5.2)
    metrics.record("a", 200, 0.01, now=4.9)  # finished earlier, reported after
    assert metrics.snapshot(now=5.5).total.requests == 2
    assert metrics.snapshot(now=5.5).series.requests[-1] == 0  # second 4 stays sealed


def test_retries_are_counted() -> None:
    metrics, _clock = metrics_at()
    metrics.record("a", 200, 0.01, retried=True)
    metrics.record("a", 200, 0.01)
    assert metrics.snapshot().total.retried == 1


# -- per backend -----------------------------------------------------------------


def test_backends_and_total() -> None:
    metrics, _clock = metrics_at()
    for _ in range(30):
        metrics.record("a", 200, 0.010, 100)
    for _ in range(10):
        metrics.record("b", 500, 1.0, 10)
    metrics.record(None, 503, 0.0001)  # the balancer answered: no backend available
    snap = metrics.snapshot(now=1.0)
    assert list(snap.backends) == ["a", "b"]
    a, b, total = snap.backends["a"], snap.backends["b"], snap.total
    assert (a.requests, b.requests, total.requests) == (30, 10, 41)
    assert (a.errors, b.errors, total.errors) == (0, 10, 11)
    assert a.error_rate == 0.0
    assert b.error_rate == 1.0
    assert total.error_rate == pytest.approx(11 / 41)
    assert close(a.p99, 0.010)
    assert close(b.p50, 1.0)
    assert close(total.p50, 0.010)
    assert close(total.p99, 1.0)
    assert total.bytes == 3100
    assert snap.no_backend.requests == 1
    assert snap.no_backend.status["5xx"] == 1


def test_track_and_forget() -> None:
    metrics, _clock = metrics_at()
    metrics.track("c")
    metrics.record("a", 200, 0.01)
    assert metrics.backends == ["c", "a"]
    assert metrics.snapshot().backends["c"].requests == 0
    metrics.forget("a")
    metrics.forget("never-seen")
    snap = metrics.snapshot()
    assert list(snap.backends) == ["c"]
    assert list(snap.series.backends) == ["c"]
    assert snap.total.requests == 1  # the fleet still served it


def test_in_flight_gauges_are_passed_through() -> None:
    metrics, _clock = metrics_at()
    metrics.track("a")
    metrics.track("b")
    snap = metrics.snapshot(in_flight={"a": 3, "b": 4})
    assert snap.total.in_flight == 7
    assert snap.backends["a"].in_flight == 3
    assert metrics.snapshot(in_flight={}).backends["a"].in_flight == 0
    assert metrics.snapshot().total.in_flight is None


def test_named_counts_in_the_window() -> None:
    metrics, _clock = metrics_at(window=5)
    metrics.count("session_losses", backend="a")
    metrics.count("session_losses", 2, backend="b")
    metrics.count("ejections")
    snap = metrics.snapshot()
    assert snap.total.counts == {"session_losses": 3, "ejections": 1}
    assert snap.backends["a"].counts == {"session_losses": 1, "ejections": 0}
    assert snap.backends["b"].counts["session_losses"] == 2
    assert snap.total.requests == 0  # events are not requests
    assert metrics.snapshot(now=5.0).total.counts == {"session_losses": 0, "ejections": 0}


_STEP = st.one_of(
    st.tuples(st.just("advance"), st.floats(0.0, 4.0)),
    st.tuples(st.just("record"), st.sampled_from(["a", "b"]), st.floats(0.0001, 2.0)),
    st.tuples(st.just("count"), st.sampled_from(["a", "b"])),
    st.tuples(st.just("read")),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_STEP, max_size=60))
def test_reading_the_window_often_reads_what_one_read_would(steps: list[tuple]) -> None:
    """The window sums the seconds before the current one once per second and adds
    the current one at each read (a dashboard reads it 5 times a second): every read
    must equal what a recorder that was never read before reports."""
    metrics, clock = metrics_at(window=4)
    log: list[tuple] = []

    def replayed() -> MetricsSnapshot:
        fresh, fresh_clock = metrics_at(window=4)
        for at, kind, backend, latency in log:
            fresh_clock.now = at
            if kind == "record":
                fresh.record(backend, 200 if latency < 1 else 503, latency, 10)
            else:
                fresh.count("session_losses", backend=backend)
        fresh_clock.now = clock.now
        return fresh.snapshot()

    for step in [*steps, ("read",)]:
        if step[0] == "advance":
            clock.advance(step[1])
        elif step[0] == "record":
            metrics.record(step[1], 200 if step[2] < 1 else 503, step[2], 10)
            log.append((clock.now, "record", step[1], step[2]))
        elif step[0] == "count":
            metrics.count("session_losses", backend=step[1])
            log.append((clock.now, "count", step[1], 0.0))
        else:
            snap, expected = metrics.snapshot(), replayed()
            assert snap.total == expected.total
            assert snap.backends == expected.backends


# -- series ----------------------------------------------------------------------


def test_series_has_one_point_per_whole_second_and_a_fixed_length() -> None:
    metrics, clock = metrics_at(start=100.0, history=5)
    per_second = {100: 3, 101: 0, 102: 1, 103: 4, 104: 2, 105: 5, 106: 7}
    for second, n in per_second.items():
        for k in range(n):
            clock.now = second + k / 10
            metrics.record("a" if k % 2 == 0 else "b", 500 if k == 0 else 200, 0.001 * (k + 1))
    clock.now = 106.9
    series = metrics.snapshot().series
    assert series.end == 106
    assert series.seconds == range(101, 106)  # 106 is still going: not drawn yet
    assert series.requests == (0, 1, 4, 2, 5)
    assert series.errors == (0, 1, 1, 1, 1)
    assert series.backends == {"a": (0, 1, 2, 1, 3), "b": (0, 0, 2, 1, 2)}
    assert series.p50[0] is None
    assert close(series.p50[2], 0.002)  # second 103 took 1, 2, 3, 4 ms
    assert close(series.p99[2], 0.004)
    for _ in range(3):
        clock.advance(1)
        series = metrics.snapshot().series
        assert len(series.requests) == len(series.p99) == len(series.backends["a"]) == 5
    assert series.seconds == range(104, 109)
    assert series.requests == (2, 5, 7, 0, 0)


def test_series_of_a_backend_seen_late_lines_up_with_the_others() -> None:
    metrics, _clock = metrics_at(history=4)
    metrics.record("a", 200, 0.01, now=0.5)
    metrics.record("b", 200, 0.01, now=2.5)
    series = metrics.snapshot(now=3.1).series
    assert series.seconds == range(3 - 4, 3)
    assert series.backends == {"a": (0, 1, 0, 0), "b": (0, 0, 0, 1)}


def test_series_of_named_counts() -> None:
    metrics, _clock = metrics_at(history=3)
    metrics.count("session_losses", now=0.2)
    metrics.count("session_losses", 4, now=2.7)
    series = metrics.snapshot(now=3.0).series
    assert series.counts == {"session_losses": (1, 0, 4)}


def test_memory_stays_constant_over_a_long_run() -> None:
    metrics, clock = metrics_at(window=10, history=60)
    for _ in range(3000):
        clock.advance(0.5)
        metrics.record("a", 200, 0.01)
        metrics.count("x")
    view = metrics._views["a"]
    assert len(view.slots) == 10
    assert len(metrics._requests) == len(metrics._count_series["x"]) == 60


# -- rules -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_window_and_history_must_be_whole_seconds(bad: object) -> None:
    with pytest.raises(ConfigError, match="window"):
        Metrics(VirtualClock(), window=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="history"):
        Metrics(VirtualClock(), history=bad)  # type: ignore[arg-type]


def test_metrics_is_pure() -> None:
    code = (
        "import sys, lbplay.core.metrics; "
        "print(' '.join(m for m in ('asyncio', 'aiohttp', 'textual', 'rich', 'numpy')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_each_backend_has_its_own_latency_series() -> None:
    clock = VirtualClock(100.0)
    metrics = Metrics(clock, window=5, history=4)
    metrics.record("a", 200, 0.010)
    metrics.record("b", 200, 0.200)
    clock.advance(1.0)
    metrics.record("a", 200, 0.020)
    clock.advance(1.0)
    series = metrics.snapshot().series
    a50, b50 = series.backend_p50["a"], series.backend_p50["b"]
    assert a50[:2] == (None, None)
    assert a50[2] == pytest.approx(0.010, rel=0.03)
    assert a50[3] == pytest.approx(0.020, rel=0.03)
    assert b50[2] == pytest.approx(0.200, rel=0.03)
    assert b50[3] is None  # b had no request that second
    assert len(series.backend_p99["a"]) == 4
