"""The dashboard's plain-Python parts: numbers, states, rows, charts, the timeline,
the explanations and the key table — no terminal needed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lbplay.core.events import (
    Attempt,
    BackendStateChanged,
    ConnectionCompleted,
    ControlAction,
    RequestCompleted,
    SessionLost,
)
from lbplay.tui import bindings
from lbplay.tui.controls import (
    ERROR_STEPS,
    RATE_STEPS,
    SLOW_STEPS,
    next_step,
    rate_step,
)
from lbplay.tui.eventlog import EventLog, compress_list
from lbplay.tui.model import (
    LatencyHistory,
    explain,
    feed_rows,
    fleet_rows,
    fmt_ms,
    fmt_pct,
    fmt_rate,
    session_losses,
    share_bar,
)
from lbplay.tui.palette import DEFAULT
from lbplay.tui.plot import line_cells, nice_ceiling, stacked_cells
from lbplay.tui.widgets.chart import cells_to_strips
from lbplay.tui.widgets.fleet_table import columns_for, fleet_cells
from lbplay.tui.widgets.row_table import fit
from tests.tui.support import FakeClock, demo_metrics, snapshot

# -- numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0.00042, "0.42 ms"), (0.0051, "5.1 ms"), (0.021, "21 ms"), (1.34, "1.3 s")],
)
def test_fmt_ms(seconds: float | None, text: str) -> None:
    assert fmt_ms(seconds) == text


def test_fmt_pct_and_rate() -> None:
    assert [fmt_pct(x) for x in (0, 0.004, 0.12, 1)] == ["0%", "0.4%", "12%", "100%"]
    assert [fmt_rate(x) for x in (0, 5, 4.9, 12.4, 1500, 12000)] == [
        "0",
        "5",
        "4.9",
        "12",
        "1.5k",
        "12k",
    ]


def test_share_bar_fills_in_eighths() -> None:
    assert share_bar(0, 4) == "    "
    assert share_bar(1, 4) == "████"
    assert share_bar(0.5, 3) == "█▌ "
    assert len(share_bar(0.37, 10)) == 10


# -- states and rows ------------------------------------------------------------------


def test_fleet_rows_shares_effective_weights_and_faults() -> None:
    rows = {row.name: row for row in fleet_rows(snapshot())}
    assert sum(row.share for row in rows.values()) == pytest.approx(1.0)
    assert rows["s1"].share > rows["s3"].share
    assert rows["s1"].effective == 2  # weight 2, eligible
    assert rows["s4"].effective == 0  # draining: out of rotation
    assert rows["s5"].effective == pytest.approx(0.4)  # slow start at 40%
    assert rows["s3"].faults == "+500 ms"
    assert rows["s5"].faults == "10% err"
    assert rows["s6"].faults == "brownout"
    assert rows["s2"].level == "bad"


def test_l4_rows_use_the_clients_numbers() -> None:
    empty = replace(demo_metrics(), backends={})
    rows = fleet_rows(snapshot(mode="l4", metrics=empty))
    assert rows[0].rps > 0  # from client_metrics, since an L4 proxy sees no requests


def test_fleet_cells_fit_their_columns() -> None:
    for width in (80, 120, 200):
        columns = columns_for(width)
        for row in fleet_rows(snapshot()):
            cells = fleet_cells(row, DEFAULT, columns)
            for column, cell in zip(columns, cells, strict=True):
                segments = fit(cell, column.width, column.justify)
                assert sum(len(s.text) for s in segments) == column.width


def test_fit_cuts_with_an_ellipsis() -> None:
    segments = fit((("DOWN, recovering 1/2", ""), (" +500 ms", "")), 20, "left")
    text = "".join(s.text for s in segments)
    assert text == "DOWN, recovering 1/…"
    assert "".join(s.text for s in fit((("7", ""),), 3, "right")) == "  7"


def test_feed_rows_newest_first_and_marks_the_learner() -> None:
    rows, events = feed_rows((), snapshot(), limit=5)
    assert [row.seq for row in rows] == [111, 110, 109, 108, 107]
    assert set(events) == {111, 110, 109, 108, 107}
    assert rows[0].outside
    assert rows[0].client == "127.0.0.1"
    assert not rows[1].outside
    retried = feed_rows((), snapshot(), limit=20)[0][-4]
    assert retried.attempts == 2


def test_the_learners_own_request_stays_pinned_on_top_once() -> None:
    snap = snapshot()
    mine = snap.recent[-1]  # seq 111, from 127.0.0.1
    later = replace(snap, recent=snap.recent[:-1])  # the flood moved on
    rows, _ = feed_rows([mine], later, limit=3)
    assert [row.seq for row in rows] == [111, 110, 109]
    rows, _ = feed_rows([mine], snap, limit=3)
    assert [row.seq for row in rows] == [111, 110, 109]  # not twice
    stale = replace(later, at=mine.at + 31)
    assert feed_rows([mine], stale, limit=3)[0][0].seq == 110  # pinned for 30 s only


def test_session_losses_default_to_zeros() -> None:
    series = demo_metrics().series
    assert len(session_losses(series)) == len(series.requests)
    empty = replace(series, counts={})
    assert set(session_losses(empty)) == {0}


# -- explaining -----------------------------------------------------------------------


def test_explain_a_retried_request() -> None:
    event = snapshot().recent[3]
    assert isinstance(event, RequestCompleted)
    explanation = explain(event, "none", "round_robin")
    assert [a[0] for a in explanation.attempts] == ["s2", "s6"]
    assert explanation.attempts[0][1] == "refused"
    assert "retried" in explanation.lesson
    assert "multiply load" in explanation.lesson
    assert "No session affinity" in explanation.session


def test_explain_a_503_and_a_500_and_a_connection() -> None:
    no_backend = RequestCompleted(
        at=1.0,
        client="127.0.1.1",
        method="GET",
        path="/",
        status=503,
        latency=0.001,
        backend=None,
        error="no backend available",
    )
    assert "answered on its own" in explain(no_backend, "none").lesson
    failed = replace(no_backend, status=500, backend="s1", reason="s1: next in rotation")
    assert "not retried" in explain(failed, "none").lesson
    conn = ConnectionCompleted(
        at=1.0,
        client="127.0.1.1",
        backend="s2",
        duration=1.5,
        bytes_up=100,
        bytes_down=2000,
        reason="s2: next in rotation (2 of 4)",
        attempts=(Attempt("s2", "s2: next in rotation (2 of 4)", "ok"),),
    )
    explanation = explain(conn, "none")
    assert "per TCP connection" in explanation.lesson
    assert explanation.why == "s2: next in rotation (2 of 4)"


def test_explain_names_the_session_decision() -> None:
    first = snapshot().recent[0]
    assert isinstance(first, RequestCompleted)
    event = replace(first, session="cookie → s1")
    assert explain(event, "cookie").session == "cookie → s1"


# -- history, timeline ----------------------------------------------------------------


def test_latency_history_follows_the_metrics_series() -> None:
    history = LatencyHistory()
    metrics = demo_metrics()
    assert history.update(metrics)
    assert not history.update(metrics)  # the same second: nothing new
    version = history.version
    later = replace(metrics, series=replace(metrics.series, end=metrics.series.end + 3))
    assert history.update(later)
    assert history.version == version + 1
    p50, p99 = history.series("s1")
    assert p50 == metrics.series.backend_p50["s1"]
    assert p99 == metrics.series.backend_p99["s1"]
    assert history.series("nobody") == ((), ())


def _request(seq: int, client: str = "127.0.3.1", *, retried: bool = False) -> RequestCompleted:
    attempts = [Attempt("s1", "r", "ok", 200)]
    if retried:
        attempts.insert(0, Attempt("s2", "r", "refused"))
    return RequestCompleted(
        at=1000.0,
        seq=seq,
        client=client,
        method="GET",
        path="/",
        status=200,
        latency=0.01,
        backend="s1",
        attempts=tuple(attempts),
    )


def test_event_log_coalesces_retries_and_session_losses() -> None:
    clock = FakeClock()
    log = EventLog(clock)
    for seq in range(40):
        log(_request(seq, retried=seq % 2 == 0))
    for _ in range(3):
        log(SessionLost(at=1000.0, session="s1-ab", backend="s2", home="s1", reason="gone"))
    log.flush()
    assert not log.entries  # less than a second since the last summary
    clock.advance(1.0)
    log.flush()
    texts = [entry.text for entry in log.entries]
    assert texts == [
        "20 requests retried: s2 refused ×20 → served by another backend",
        "3 sessions lost: s2 did not know a session of s1 ×3",
    ]
    clock.advance(1.0)
    log.flush()
    assert len(log.entries) == 2  # nothing new, no line


def test_event_log_keeps_controls_transitions_and_the_learner() -> None:
    log = EventLog(FakeClock())
    log(ControlAction(at=1.0, action="s2 killed", detail="it refuses", watch="3 checks"))
    log(
        BackendStateChanged(
            at=2.0,
            backend="s2",
            old="UP",
            new="DOWN",
            evidence="s2 DOWN after 3 consecutive failures: refused, refused, timeout",
        )
    )
    log(_request(1, client="127.0.0.1"))
    control, health = log.entries
    assert (control.text, control.watch) == ("s2 killed: it refuses", "3 checks")
    assert health.text == "s2 UP → DOWN: after 3 consecutive failures: refused ×2, timeout"
    assert health.level == "bad"
    assert [e.seq for e in log.outside] == [1]


def test_compress_list() -> None:
    assert compress_list("x: a, a, b, a") == "x: a ×2, b, a"
    assert compress_list("no list here") == "no list here"


# -- charts ---------------------------------------------------------------------------


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 3, 7, 11, 240, 600)] == [
        1.0,
        1.0,
        5.0,
        10.0,
        20.0,
        250.0,
        1000.0,
    ]


def test_a_rising_line_goes_from_bottom_left_to_top_right() -> None:
    cells = line_cells([[0.0, 5.0, 10.0]], width=6, height=3, top=10.0)
    assert len(cells) == 3
    assert all(len(row) == 6 for row in cells)
    assert cells[2][0][0] != " "
    assert cells[0][0][0] == " "
    assert cells[0][5][0] != " "
    assert cells[2][5][0] == " "


def test_gaps_stay_blank() -> None:
    cells = line_cells([[None, None, None, 5.0]], width=4, height=2, top=10.0)
    assert all(cell[0] == " " for row in cells for cell in row[:3])


def test_stacked_shares_split_a_column() -> None:
    cells = stacked_cells([[1.0, 1.0]], width=1, height=2)
    # Bottom cell: series 0 in both halves; top cell: series 1 in both halves.
    assert cells[1][0] == ("▀", 0, 0)
    assert cells[0][0] == ("▀", 1, 1)
    assert stacked_cells([[0.0, 0.0]], 1, 1) == [[(" ", -1, -1)]]


def test_a_chart_of_60_points_renders_one_strip_per_row() -> None:
    """Its speed is measured by benchmarks/tui.py, not here (no timed tests)."""
    values = [float(i % 17) for i in range(60)]
    strips = cells_to_strips(line_cells([values, values[::-1]], 40, 8, 20.0), ["red", "blue"])
    assert len(strips) == 8
    assert all(strip.cell_length == 40 for strip in strips)


# -- controls and keys ----------------------------------------------------------------


def test_steps_cycle_and_rates_stop_at_the_ends() -> None:
    assert [next_step(SLOW_STEPS, v) for v in SLOW_STEPS] == [100, 500, 2000, 0]
    assert next_step(ERROR_STEPS, 0.33) == 0  # set elsewhere: back to off
    assert rate_step(50, 1) == 100
    assert rate_step(50, -1) == 20
    assert rate_step(RATE_STEPS[-1], 1) == RATE_STEPS[-1]
    assert rate_step(0, -1) == 0
    assert rate_step(75, 1) == 100
    assert rate_step(75, -1) == 50


def test_every_binding_has_an_id_and_a_help_line() -> None:
    everything = bindings.only_bindings([*bindings.DASHBOARD, *bindings.APP])
    for binding in everything:
        assert binding.id
        assert binding.id.split(".")[0] in bindings.GROUPS
        assert binding.description
        assert binding.tooltip
    ids = [b.id for b in everything if b.id != "select.number"]
    assert len(ids) == len(set(ids))


def test_help_rows_group_the_digits_and_arrows() -> None:
    rows = bindings.help_rows()
    assert rows[0].keys == "↑ / ↓"
    assert rows[1].keys == "1–9"
    assert [row.group for row in rows] == sorted(
        (row.group for row in rows), key=list(bindings.GROUPS).index
    )
    palette = bindings.palette_bindings([*bindings.DASHBOARD, *bindings.APP])
    assert not any(b.id and b.id.startswith("select.") for b in palette)
