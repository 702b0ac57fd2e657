"""Readable by a class, true now: each point of the issue, through the real app.

Like ``test_bindings``, every test runs the real app over a quiet Lab and waits
(``eventually``/``wait_for``) until the screen shows what it should — never for a
fixed time. The "busy" ones draw the frozen demo lab of ``support`` through a lens.
"""

from __future__ import annotations

import re
from dataclasses import replace

from lbplay.model.controls import Algorithm, Pause, Rate, parse
from lbplay.model.snapshot import LabSnapshot
from lbplay.net.lab import Lab
from lbplay.tui.app import LbplayApp
from lbplay.tui.eventlog import Entry
from lbplay.tui.model import fmt_rate, traffic_metrics
from lbplay.tui.screens.algorithm import AlgorithmChooser
from lbplay.tui.screens.help import HelpScreen
from lbplay.tui.widgets.chart import Chart
from tests.tui.support import (
    SIZE,
    FakeClock,
    dashboard,
    demo_lens,
    demo_metrics,
    eventually,
    fleet_line,
    lab,
    notified,
    quiet,
    running,
    screen_text,
    wait_for,
    widget_text,
)

# -- A. readable by a class ---------------------------------------------------------


async def test_the_selected_backend_is_marked_by_a_symbol_not_only_colour() -> None:
    async with running() as (app, pilot):
        await pilot.press("2")

        def marked() -> None:
            assert "▶2 ■ s2 " in fleet_line(app, "s2")
            assert "▶" not in fleet_line(app, "s1")

        await eventually(pilot, marked)


async def test_the_feeds_why_wraps_instead_of_being_cut() -> None:
    # 80 columns and least_connections, whose reasons are long: they cannot fit a line.
    async with running(size=(80, 24), rate=20.0) as (app, pilot):
        await app.lab.apply(Algorithm("least_connections"))
        screen = dashboard(app)
        table = screen.feed.table

        def whole() -> None:
            assert table.rows
            reason = "".join(text for text, _ in table.rows[0][-1])
            assert "fewest of" in reason
            lines = screen_text(app).splitlines()
            tops = [i for i, line in enumerate(lines) if "client" in line and "why" in line]
            assert tops, "the feed's header is on screen"  # (mid-redraw it may not be yet)
            top = tops[0]
            x = lines[top].index("why")
            column = " ".join(line[x:-1].strip() for line in lines[top + 1 : top + 5])
            assert reason in " ".join(column.split())  # every word, in order, on screen
            assert "…" not in column
            assert table.lines > len(table.rows)  # some reason took more than a line

        await eventually(pilot, whole)


async def test_events_are_a_log_and_a_held_one_reads_in_full() -> None:
    async with running() as (app, pilot):
        screen = dashboard(app)
        await pilot.press("k", "s")

        def logged() -> None:
            text = screen_text(app)
            killed, slowed = text.find("s1 killed"), text.find("s1 slow: 0 → 100")
            assert -1 < text.find("Welcome") < killed < slowed  # newest at the bottom
            # ... and the newest again, in full, under the list.
            assert "least_response_time shift traffic away from it" in widget_text(
                app, "#events-detail"
            )

        await eventually(pilot, logged)
        await pilot.press("E")

        def held() -> None:
            assert screen.timeline.held
            assert "Events · held" in screen_text(app)

        await eventually(pilot, held)
        await pilot.press("up")

        def previous_in_full() -> None:
            text = widget_text(app, "#events-detail")
            assert "s1 killed: it refuses connections now — watch: the health checker" in text

        await eventually(pilot, previous_in_full)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.timeline.held and screen.focused is screen.fleet)


async def test_health_news_stands_out_from_routine_lines() -> None:
    app = LbplayApp(lab=Lab(quiet(), clock=FakeClock()), lens=demo_lens(), refresh_hz=20)
    async with app.run_test(size=SIZE) as pilot:
        from tests.tui.test_snapshots import with_history

        await with_history(pilot)
        table = dashboard(app).timeline.table

        def styles(words: str) -> str:
            row = next(r for r in table.rows if any(words in t for t, _ in r[-1]))
            return next(style for text, style in row[-1] if words in text)

        assert "bold" in styles("s3 UP → DOWN")  # what the fleet did
        assert "bold" not in styles("s4 draining")  # what the learner did


async def test_cycling_keys_say_where_they_went_and_go_next_in_a_small_terminal() -> None:
    async with running(size=(80, 24)) as (app, pilot):
        await pilot.press("s", "s")  # the timeline is hidden: a toast says it

        def one_toast() -> None:
            assert notified(app, "s1 slow: 100 → 500 ms added (s again: 2000 ms)")
            # Keys pressed together leave one toast, not a pile over the screen.
            assert len(app._notifications) == 1

        await eventually(pilot, one_toast)


async def test_rate_keys_at_the_ends_say_so() -> None:
    async with running() as (app, pilot):  # a quiet lab: 0 requests per second
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: notified(app, "Traffic is already off"))
        await app.lab.apply(Pause())
        await app.lab.apply(Rate(2000))
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: notified(app, "already at the top step, 2000"))
        assert lab(app).rate == 2000


async def test_choosers_open_on_no_row_so_enter_says_what_to_do() -> None:
    async with running() as (app, pilot):
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AlgorithmChooser))
        await pilot.press("enter")

        def still_choosing() -> None:
            assert isinstance(app.screen, AlgorithmChooser)
            assert "Nothing picked yet: type a name or press ↓" in screen_text(app)

        await eventually(pilot, still_choosing)
        await pilot.press(*"ring")

        def filtered() -> None:
            text = screen_text(app)
            assert "▶  ring_hash" in text  # highlighted by a symbol too
            assert "least_connections" not in text

        await eventually(pilot, filtered)
        await pilot.press("ctrl+a", "ctrl+k", *"round", "enter")  # the one in use
        await wait_for(pilot, lambda: notified(app, "already round_robin: nothing changed"))
        assert lab(app).algorithm == "round_robin"


async def test_share_chart_names_its_bands_and_the_error_total_counts_the_minute() -> None:
    app = LbplayApp(lab=Lab(quiet(), clock=FakeClock()), lens=demo_lens(), refresh_hz=20)
    series = demo_metrics().series
    async with app.run_test(size=SIZE) as pilot:

        def drawn() -> None:
            share = app.screen.query_one("#chart-share", Chart)
            labels = " ".join(strip.text for strip in share.draw())
            assert {"s1", "s5", "s6"} <= set(labels.split())
            text = screen_text(app)
            assert f"60 s: {sum(series.errors)} err" in text
            assert "■s1■s2■s3■s4■s5■s6" in text  # the legend names them all too

        await eventually(pilot, drawn)


async def test_help_says_what_the_numbers_are_measured_over() -> None:
    async with running() as (app, pilot):
        window = lab(app).metrics.window
        await pilot.press("question_mark")

        def said() -> None:
            assert isinstance(app.screen, HelpScreen)
            text = " ".join(screen_text(app).split())
            assert f"percentiles (fleet table, header) are over the last {window} s" in text

        await eventually(pilot, said)


# -- B. true numbers ------------------------------------------------------------------


async def test_header_shows_the_measured_rate_beside_the_target() -> None:
    async with running(rate=20.0) as (app, pilot):
        screen = dashboard(app)

        def measured() -> None:
            header = screen_text(app).splitlines()[0]
            assert "traffic target 20/s" in header
            found = re.search(r"measured (\S+)/s", header)
            assert found
            assert screen.snapshot is not None
            assert found.group(1) == fmt_rate(traffic_metrics(screen.snapshot).total.rps)
            assert found.group(1) != "0"

        await eventually(pilot, measured)


async def test_header_warns_when_the_generator_cannot_keep_up() -> None:
    dropped = 0

    def dropping(snap: LabSnapshot) -> LabSnapshot:
        nonlocal dropped
        dropped += 40  # arrivals the generator could not send, growing every frame
        traffic = replace(snap.traffic, dropped=dropped, in_flight=1000)
        return replace(snap, traffic=traffic, rate=500.0, paused=False)

    async with running(lens=dropping) as (app, pilot):

        def warned() -> None:
            header = " ".join(screen_text(app).splitlines()[:3])
            assert "⚠ cannot keep up:" in header
            assert "dropped: 1000 requests already in flight" in header

        await eventually(pilot, warned)


async def test_a_bytes_column_under_least_bandwidth() -> None:
    async with running() as (app, pilot):

        def header_line() -> str:
            return next(line for line in screen_text(app).splitlines() if "backend" in line)

        assert "bytes/s" not in header_line()
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AlgorithmChooser))
        await pilot.press(*"least_band", "enter")

        def bytes_shown() -> None:
            assert lab(app).algorithm == "least_bandwidth"
            assert "bytes/s" in header_line()
            assert " B/s" in fleet_line(app, "s1")

        await eventually(pilot, bytes_shown)


# -- 80 × 24 -----------------------------------------------------------------------


async def test_in_a_small_terminal_E_shows_the_events_held() -> None:
    async with running(size=(80, 24)) as (app, pilot):
        screen = dashboard(app)
        await pilot.press("E")

        def events() -> None:
            assert screen.view == "timeline"
            assert screen.timeline.held
            assert "Welcome" in screen_text(app)

        await eventually(pilot, events)


async def test_the_cursor_mark_follows_the_cursor_in_a_scrolled_list() -> None:
    """More events than lines: the list is scrolled, and ▶ must still be drawn on the
    entry the detail shows (a line refreshed at the wrong height left it behind)."""
    async with running() as (app, pilot):
        for number in range(40):
            app.event_log.add(Entry(app.lab.clock(), "control", f"entry number {number}"))
        screen = dashboard(app)
        await wait_for(pilot, lambda: "entry number 39" in widget_text(app, "#events-list"))
        await pilot.press("E", "up", "up")

        def marked() -> None:
            assert screen.timeline.held
            assert "entry number 37" in widget_text(app, "#events-detail")
            lines = screen_text(app).splitlines()
            assert [line for line in lines if "▶" in line and "entry number" in line] == [
                next(line for line in lines if "entry number 37" in line and "▶" in line)
            ]

        await eventually(pilot, marked)


async def test_the_header_says_when_the_balancer_itself_is_down() -> None:
    async with running() as (app, pilot):
        await dashboard(app).apply(parse("balancer down"))

        def down() -> None:
            assert "BALANCER DOWN: every request fails" in screen_text(app)

        await eventually(pilot, down)
        await dashboard(app).apply(parse("balancer up"))
        await wait_for(pilot, lambda: "BALANCER DOWN" not in screen_text(app))
