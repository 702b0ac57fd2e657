"""The dashboard's plain-Python parts: numbers, states, rows, charts, the timeline,
the explanations and the key table — no terminal needed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.content import Content

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
    errors_change,
    next_step,
    rate_at_end,
    rate_change,
    rate_step,
    slow_change,
)
from lbplay.tui.eventlog import EventLog, compress_list
from lbplay.tui.model import (
    LatencyHistory,
    TrafficWatch,
    error_totals,
    explain,
    feed_rows,
    fleet_rows,
    fmt_bytes_rate,
    fmt_ms,
    fmt_pct,
    fmt_rate,
    session_losses,
    share_bar,
)
from lbplay.tui.palette import DEFAULT, SERIES_CONTRAST, Palette
from lbplay.tui.plot import band_labels, line_cells, nice_ceiling, stacked_cells
from lbplay.tui.screens.chooser import Item, matches
from lbplay.tui.themes import CYCLE, next_theme
from lbplay.tui.widgets.chart import cells_to_strips
from lbplay.tui.widgets.fleet_table import STATE_MIN, columns_for, fleet_cells
from lbplay.tui.widgets.header_bar import header_lines
from lbplay.tui.widgets.row_table import Column, RowTable, cell, fit, wrap_cell, wrap_spans
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
            for column, pieces in zip(columns, cells, strict=True):
                segments = fit(pieces, column.width, column.justify)
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
    stranded = "made in s1's memory before sessions moved to the shared store"
    log(SessionLost(at=1000.0, session="s1-cd", backend="s3", home="shared store", reason=stranded))
    log.flush()
    assert not log.entries  # less than a second since the last summary
    clock.advance(1.0)
    log.flush()
    texts = [entry.text for entry in log.entries]
    assert texts == [
        "20 requests retried: s2 refused ×20 → served by another backend",
        "4 sessions lost: s2 did not know s1's session ×3, not in the shared store: made in"
        " s1's memory before sessions moved to the shared store ×1",
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


# -- readable by a class, true numbers ------------------------------------------------


def test_fmt_bytes_rate() -> None:
    assert [fmt_bytes_rate(x) for x in (0, 512, 3_300, 12_400, 1_500_000)] == [
        "0 B/s",
        "512 B/s",
        "3.3 KB/s",
        "12 KB/s",
        "1.5 MB/s",
    ]


def test_feed_reasons_drop_the_backend_the_row_already_names() -> None:
    rows, _ = feed_rows((), snapshot(), limit=1)
    assert rows[0].target == "s1"
    assert rows[0].reason == "next in rotation (4 of 4)"  # was "s1: next in rotation ..."


def test_wrap_never_cuts_a_reason() -> None:
    reason = "3 in flight, fewest of s1=5 s2=3 s3=8 s4=9; tied with none of them"
    lines = wrap_cell((("↻2 ", "bold"), (reason, "")), 20)
    assert all(sum(len(text) for text, _ in line) <= 20 for line in lines)
    rejoined = " ".join("".join(text for text, _ in line) for line in lines)
    assert rejoined == "↻2 " + reason
    assert lines[0][0] == ("↻2 ", "bold")  # styles stay with their words
    assert wrap_spans("abcdefghij", 4) == [(0, 4), (4, 8), (8, 10)]  # one long word: cut
    assert wrap_cell((("short", ""),), 20) == [(("short", ""),)]


def test_error_totals_count_the_whole_chart() -> None:
    series = demo_metrics().series
    errors, lost, seconds = error_totals(series)
    assert errors == sum(series.errors) > series.errors[-1]
    assert lost == sum(session_losses(series)) > 0
    assert seconds == len(series.errors) == 60


def _traffic_snap(
    at: float, *, rate: float, sent_per_s: float, dropped: int = 0, **changes: object
) -> object:
    """A snapshot whose generator asked for ``rate`` and got ``sent_per_s`` over a 2 s
    window, with ``dropped`` arrivals so far."""
    metrics = demo_metrics()
    total = replace(metrics.total, requests=round(sent_per_s * 2), rps=sent_per_s, span=2.0)
    measured = replace(metrics, window=2, total=total)
    base = snapshot()
    return snapshot(
        at=at,
        rate=rate,
        metrics=measured,
        client_metrics=measured,
        traffic=replace(base.traffic, rate=rate, dropped=dropped, in_flight=1000),
        **changes,
    )


def test_traffic_watch_says_when_the_generator_cannot_keep_up() -> None:
    watch = TrafficWatch()
    # Just after a change the window still holds the old rate: no alarm yet.
    first = watch.read(_traffic_snap(100.0, rate=2000, sent_per_s=1400))  # type: ignore[arg-type]
    assert (first.target, first.measured, first.behind) == (2000, 1400, "")
    settled = watch.read(_traffic_snap(103.5, rate=2000, sent_per_s=1400))  # type: ignore[arg-type]
    assert settled.behind == "the generator sends only 1.4k of 2.0k/s"
    fine = watch.read(_traffic_snap(104.0, rate=2000, sent_per_s=1950))  # type: ignore[arg-type]
    assert fine.behind == ""


def test_traffic_watch_allows_for_poisson_wobble_at_low_rates() -> None:
    watch = TrafficWatch()
    watch.read(_traffic_snap(100.0, rate=5, sent_per_s=3))  # type: ignore[arg-type]
    # 6 arrivals in 2 s where 10 were expected: chance, not a generator falling behind.
    assert watch.read(_traffic_snap(110.0, rate=5, sent_per_s=3)).behind == ""  # type: ignore[arg-type]


def test_traffic_watch_reports_dropped_arrivals_at_once() -> None:
    watch = TrafficWatch()
    watch.read(_traffic_snap(100.0, rate=500, sent_per_s=500, dropped=10))  # type: ignore[arg-type]
    reading = watch.read(_traffic_snap(101.0, rate=500, sent_per_s=500, dropped=130))  # type: ignore[arg-type]
    assert reading.behind == "120/s dropped: 1000 requests already in flight"
    # Paused: nothing is asked, nothing is behind.
    paused = watch.read(_traffic_snap(102.0, rate=500, sent_per_s=0, dropped=500, paused=True))  # type: ignore[arg-type]
    assert paused.paused
    assert paused.behind == ""


def test_cycling_keys_say_where_they_go() -> None:
    assert slow_change(100, 500) == "slow: 100 → 500 ms added (s again: 2000 ms)"
    assert slow_change(2000, 0) == "slow: 2000 → 0 ms added (s again: 100 ms)"
    assert errors_change(0.1, 0.5) == "errors: 10% → 50% answered 500 (e again: 100%)"
    assert rate_change(200, 500, 1) == "traffic: 200 → 500 requests/s (] again: 1000)"
    assert rate_change(1000, 2000, 1) == "traffic: 1000 → 2000 requests/s (the last step)"
    assert rate_change(5, 0, -1) == "traffic: 5 → 0 requests/s (the last step)"
    assert "already at the top step" in rate_at_end(2000, 1)
    assert "already off" in rate_at_end(0, -1)


def test_event_log_restates_a_control_and_ranks_fleet_news_first() -> None:
    log = EventLog(FakeClock())
    action = ControlAction(at=1.0, action="s1 slow", detail="+500 ms", watch="its p99")
    log(action)
    log(BackendStateChanged(at=2.0, backend="s2", old="UP", new="DOWN", evidence=""))
    version = log.version
    assert log.restate(action, "s1 slow: 100 → 500 ms")
    control, health = log.entries
    assert (control.text, control.watch) == ("s1 slow: 100 → 500 ms", "its p99")
    assert log.version == version + 1
    assert not log.restate(object(), "nothing")
    assert health.important
    assert not control.important


def test_band_labels_name_each_band_on_a_row_inside_it() -> None:
    # s1 60% at the bottom, s2 30%, s3 10% on top; 10 rows.
    rows = band_labels([6.0, 3.0, 1.0], 10)
    assert rows.index(0) >= 4  # s1 named in the lower part
    assert 1 <= rows.index(1) <= 3  # s2 above it
    assert rows.index(2) == 0  # s3 in the top row
    assert band_labels([0.0, 0.0], 4) == [-1] * 4
    # Too thin for a row of its own: unnamed rather than on someone else's band.
    assert 1 not in band_labels([99.0, 1.0], 3)


def test_fleet_columns_show_bytes_for_least_bandwidth_and_still_fit() -> None:
    for width in (80, 120):
        plain = [c.key for c in columns_for(width)]
        bandwidth = columns_for(width, bandwidth=True)
        keys = [c.key for c in bandwidth]
        assert "bytes" in keys
        assert "bytes" not in plain
        assert len(keys) == len(plain)  # a latency column makes room
        state = next(c for c in bandwidth if c.key == "state")
        assert state.width >= STATE_MIN
        assert sum(c.width + 2 for c in bandwidth) + 3 <= width


def test_chooser_matches_names_first_then_descriptions() -> None:
    items = [
        Item("least_connections", Content("x"), (("fewest in flight", ""),)),
        Item("weighted_least_connections", Content("x"), ()),
        Item("ring_hash", Content("x"), (("consistent hashing on a ring", ""),)),
    ]
    assert [i.id for i in matches(items, "least conn")] == [
        "least_connections",
        "weighted_least_connections",
    ]
    assert [i.id for i in matches(items, "WEIGHTED")] == ["weighted_least_connections"]
    assert [i.id for i in matches(items, "consistent")] == ["ring_hash"]
    assert matches(items, "nothing like it") == []
    assert matches(items, "  ") == items


def test_themes_cycle() -> None:
    assert [next_theme(t) for t in CYCLE] == [*CYCLE[1:], CYCLE[0]]
    assert next_theme("monokai") == CYCLE[0]
    contrast = Palette.from_theme({}, dark=True, contrast=True)
    assert contrast.series == SERIES_CONTRAST
    assert contrast.contrast


def test_header_lines_keep_a_small_terminals_header_to_two_lines() -> None:
    def lines(settings: list[str], alerts: list[str], width: int) -> list[str]:
        packed = header_lines(
            [Content(s) for s in settings],
            [Content(a) for a in alerts],
            Content("curl http://127.0.0.1:8080/hello"),
            Content("— it shows up in the feed"),
            [],
            width,
        )
        return [line.plain for line in packed]

    settings = ["least_connections", "L7", "sessions none", "health playground"]
    narrow = lines([*settings, "traffic 58/s of 50/s"], [], 78)
    assert narrow == [
        "least_connections · L7 · sessions none · health playground",
        "traffic 58/s of 50/s · curl http://127.0.0.1:8080/hello",
    ]
    # A warning goes right under the traffic numbers, on a line of its own.
    warned = lines([*settings, "traffic 1.3k/s of 2.0k/s"], ["⚠ cannot keep up: …"], 78)
    assert warned[1].startswith("traffic 1.3k/s of 2.0k/s · curl")
    assert warned[2] == "⚠ cannot keep up: …"
    wide = lines(["round_robin", "traffic target 2.0k/s"], ["⚠ cannot keep up: …"], 118)
    assert wide == [
        "round_robin · traffic target 2.0k/s",
        "⚠ cannot keep up: …",
        "curl http://127.0.0.1:8080/hello — it shows up in the feed",
    ]


async def test_a_whole_rows_table_drops_a_row_the_edge_would_cut() -> None:
    from textual.app import App, ComposeResult

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield RowTable(id="t", whole_rows=True)

    app = One()
    async with app.run_test(size=(30, 6)) as pilot:  # a header and 5 lines
        table = app.query_one(RowTable)
        table.styles.height = 6
        await pilot.pause()
        table.set_columns([Column("why", "why", 10, wrap=True)])
        long = "two lines of words"  # wraps onto 2 lines of 10 cells
        table.set_rows(["a", "b", "c"], [(cell(long),), (cell(long),), (cell(long),)])
        assert table.rows == [(cell(long),), (cell(long),)]  # the third would be cut
        assert table.lines == 4


async def test_a_line_is_what_textuals_strip_steps_would_make() -> None:
    """``RowTable._line`` builds its strip in one pass; it must equal padding to the
    width, styling on the table's background and merging runs, done with ``Strip``'s
    own steps — for lines that fit, lines cut at the edge, and the cursor row."""
    from rich.segment import Segment
    from rich.style import Style
    from textual.app import App, ComposeResult
    from textual.strip import Strip

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield RowTable(id="t")

    app = One()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.query_one(RowTable)
        table.set_columns(
            [Column("a", "a", 6), Column("b", "b", 12, justify="right"), Column("c", "c", 30)]
        )
        await pilot.pause()
        cursor = Style(bgcolor="blue", bold=True)
        marker = Segment("▶", cursor + Style(color="yellow"))
        rows = [
            (cell("s1", "bold"), cell("12.5/s"), cell("ok", "green")),
            (cell("s2"), (("9", "red"), ("/s", "")), cell("a reason far too long " * 3, "dim")),
            (cell("s3", "bold"), cell(""), cell("")),
        ]
        for row in rows:
            for base, mark in ((None, None), (cursor, marker)):
                segments: list[Segment] = []
                pad = Segment(" ", base)
                for index, (column, pieces) in enumerate(zip(table.columns, row, strict=False)):
                    segments.append(mark if index == 0 and mark is not None else pad)
                    segments.extend(fit(pieces, column.width, column.justify, base))
                    segments.append(pad)
                expected = (
                    Strip(segments)
                    .adjust_cell_length(table.size.width, base)
                    .apply_style(table.base_style)
                    .simplify()
                )
                line = table._line(row, base, mark)
                assert list(line) == list(expected)
                assert line.cell_length == table.size.width == 40
