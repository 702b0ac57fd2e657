"""Every key: the action reaches the Lab (its state changes) and the screen shows it.

Each test runs the real app over a real, quiet Lab (4 fast fake backends, no
generated traffic) in a headless terminal of 120 × 36, presses a key, then waits
(``eventually``) until the Lab's snapshot and the screen's text both show what the
key did — never for a fixed time: a key's handler awaits the Lab, and the screen
redraws after it and on a timer.
"""

from __future__ import annotations

import aiohttp
import pytest
from textual.command import CommandPalette

from lbplay.tui import bindings
from lbplay.tui.screens.algorithm import AlgorithmChooser
from lbplay.tui.screens.dashboard import DashboardScreen
from lbplay.tui.screens.explain import ExplainScreen
from lbplay.tui.screens.health import HealthChooser
from lbplay.tui.screens.help import HelpScreen
from lbplay.tui.screens.sessions import SessionChooser
from lbplay.tui.themes import HIGH_CONTRAST
from tests.tui.support import (
    backend,
    dashboard,
    eventually,
    fleet_line,
    lab,
    notified,
    running,
    screen_text,
    wait_for,
    widget_text,
)


def test_every_binding_has_a_test() -> None:
    """The tests below (and test_lesson_pane's, for the lesson keys) name the ids they
    cover; no binding is left out."""
    tested = {
        "lesson.next",
        "lesson.back",
        "lesson.hint",
        "lesson.solution",
        "lesson.restart",
        "lesson.menu",
        "lesson.down",
        "lesson.up",
        "demo.pause",
        "demo.step",
        "select.up",
        "select.down",
        "select.number",
        "fleet.kill",
        "fleet.slow",
        "fleet.errors",
        "fleet.brownout",
        "fleet.weight_up",
        "fleet.weight_down",
        "fleet.drain",
        "fleet.add",
        "fleet.remove",
        "balancer.algorithm",
        "balancer.sessions",
        "balancer.mode",
        "balancer.health",
        "traffic.faster",
        "traffic.slower",
        "traffic.pause",
        "traffic.burst",
        "traffic.reset",
        "view.feed",
        "view.events",
        "view.next",
        "view.theme",
        "view.quiz",
        "view.scale",
        "app.help",
        "app.palette",
        "app.quit",
    }
    ids = {b.id for b in bindings.only_bindings([*bindings.DASHBOARD, *bindings.APP])}
    assert ids == tested


# -- select ---------------------------------------------------------------------------


async def test_arrows_select_a_backend() -> None:
    async with running() as (app, pilot):
        screen = dashboard(app)
        await pilot.press("down")  # the fleet table has focus: its cursor moves

        def on_s2() -> None:
            assert screen.fleet.current == "s2"
            assert "latency · s2" in screen_text(app)

        await eventually(pilot, on_s2)
        screen.set_focus(None)  # with nothing focused, the screen's own binding acts
        await pilot.press("down", "down", "up")

        def on_s3() -> None:
            assert screen.fleet.current == "s3"
            assert "latency · s3" in screen_text(app)

        await eventually(pilot, on_s3)


async def test_digits_select_a_backend() -> None:
    async with running() as (app, pilot):
        await pilot.press("3")

        def on_s3() -> None:
            assert dashboard(app).fleet.current == "s3"
            assert "latency · s3" in screen_text(app)

        await eventually(pilot, on_s3)
        await pilot.press("9")  # there is no backend 9: a notice, no crash
        await wait_for(pilot, lambda: notified(app, "There is no backend 9"))
        assert dashboard(app).fleet.current == "s3"


# -- break things ---------------------------------------------------------------------


async def test_kill_then_revive() -> None:
    async with running() as (app, pilot):
        await pilot.press("2", "k")

        def killed() -> None:
            assert backend(app, "s2").process == "killed"
            assert "killed" in fleet_line(app, "s2")
            # The Lab said what it did and what to watch for; the timeline shows it.
            text = screen_text(app)
            assert "s2 killed" in text
            assert "watch:" in text

        await eventually(pilot, killed)
        await pilot.press("k")

        def revived() -> None:
            assert backend(app, "s2").process == "alive"
            assert "killed" not in fleet_line(app, "s2")

        await eventually(pilot, revived)


async def test_slow_cycles_latency() -> None:
    async with running() as (app, pilot):
        await pilot.press("s")

        def slowed() -> None:
            assert backend(app, "s1").slow_ms == 100
            assert "+100 ms" in fleet_line(app, "s1")
            # The timeline says where the key went, and where it goes next.
            assert "s1 slow: 0 → 100 ms added (s again: 500 ms)" in widget_text(app, "#timeline")

        await eventually(pilot, slowed)
        await pilot.press("s", "s", "s")  # 500, 2000, then back to none

        def back_to_normal() -> None:
            assert backend(app, "s1").slow_ms == 0
            assert "+" not in fleet_line(app, "s1")

        await eventually(pilot, back_to_normal)


async def test_errors_cycle_the_error_rate() -> None:
    async with running() as (app, pilot):
        for percent in (10, 50):
            await pilot.press("e")

            def failing(percent: int = percent) -> None:
                assert backend(app, "s1").error_rate == pytest.approx(percent / 100)
                assert f"{percent}% err" in fleet_line(app, "s1")
                assert f"→ {percent}% answered 500" in widget_text(app, "#timeline")

            await eventually(pilot, failing)


async def test_brownout_toggles() -> None:
    async with running() as (app, pilot):
        await pilot.press("o")

        def browned_out() -> None:
            assert backend(app, "s1").brownout
            assert "brownout" in fleet_line(app, "s1")

        await eventually(pilot, browned_out)
        await pilot.press("o")

        def healthy_again() -> None:
            assert not backend(app, "s1").brownout
            assert "brownout" not in fleet_line(app, "s1")

        await eventually(pilot, healthy_again)


async def test_weight_up_and_down() -> None:
    async with running() as (app, pilot):
        await pilot.press("plus", "plus")

        def three() -> None:
            assert backend(app, "s1").weight == 3
            assert "s1 weight: now 3" in screen_text(app)

        await eventually(pilot, three)
        await pilot.press("minus")

        def two() -> None:
            assert backend(app, "s1").weight == 2
            # The timeline is a log, newest at the bottom: "now 2" (again) below "now 3".
            text = screen_text(app)
            assert -1 < text.find("s1 weight: now 3") < text.rfind("s1 weight: now 2")

        await eventually(pilot, two)


async def test_weight_below_one_is_a_notification_not_a_crash() -> None:
    async with running() as (app, pilot):
        await pilot.press("minus")
        await wait_for(pilot, lambda: notified(app, "bad weight 0"))
        assert backend(app, "s1").weight == 1


async def test_drain_then_undrain() -> None:
    async with running() as (app, pilot):
        await pilot.press("d")

        def drained() -> None:
            assert backend(app, "s1").admin in ("draining", "drained")
            assert "drain" in fleet_line(app, "s1")

        await eventually(pilot, drained)
        await pilot.press("d")

        def active() -> None:
            assert backend(app, "s1").admin == "active"
            assert "UP" in fleet_line(app, "s1")

        await eventually(pilot, active)


async def test_add_backend_selects_it() -> None:
    async with running() as (app, pilot):
        await pilot.press("n")

        def added() -> None:
            assert [b.name for b in lab(app).backends] == ["s1", "s2", "s3", "s4", "s5"]
            assert "UP" in fleet_line(app, "s5")
            assert dashboard(app).fleet.current == "s5"

        await eventually(pilot, added)


async def test_remove_backend() -> None:
    async with running() as (app, pilot):
        await pilot.press("4", "x")

        def removed() -> None:
            assert [b.name for b in lab(app).backends] == ["s1", "s2", "s3"]
            assert "■ s4 " not in screen_text(app)
            assert dashboard(app).fleet.current == "s3"

        await eventually(pilot, removed)


# -- the balancer ---------------------------------------------------------------------


async def test_algorithm_chooser_applies_live() -> None:
    async with running() as (app, pilot):
        await pilot.press("a")

        def chooser() -> None:
            assert isinstance(app.screen, AlgorithmChooser)
            text = screen_text(app)
            assert "least_connections" in text
            assert "HAProxy leastconn" in text  # real-world names beside the idea

        await eventually(pilot, chooser)
        await pilot.press(*"least_conn", "enter")  # typing filters; the best match is first

        def applied() -> None:
            assert lab(app).algorithm == "least_connections"
            assert "least_connections" in screen_text(app).splitlines()[0]

        await eventually(pilot, applied)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AlgorithmChooser))
        await pilot.press("down", "down", "enter")  # from no row: the first, then the second

        def by_arrows() -> None:
            assert lab(app).algorithm == "weighted_round_robin"
            assert "weighted_round_robin" in screen_text(app).splitlines()[0]

        await eventually(pilot, by_arrows)


async def test_algorithm_chooser_escape_changes_nothing() -> None:
    async with running() as (app, pilot):
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AlgorithmChooser))
        await pilot.press("down", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert lab(app).algorithm == "round_robin"
        assert "round_robin" in screen_text(app).splitlines()[0]


async def test_session_chooser() -> None:
    async with running() as (app, pilot):
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionChooser))
        await pilot.press(*"cook", "enter")

        def cookie() -> None:
            assert lab(app).session_mode == "cookie"
            assert "sessions cookie" in screen_text(app)

        await eventually(pilot, cookie)


async def test_l4_l7_toggle() -> None:
    async with running() as (app, pilot):
        port = lab(app).proxy_url
        await pilot.press("l")

        def l4() -> None:
            assert lab(app).mode == "l4"
            assert " L4 " in screen_text(app).splitlines()[0]

        await eventually(pilot, l4)
        assert lab(app).proxy_url == port
        await pilot.press("l")

        def l7() -> None:
            assert lab(app).mode == "l7"
            assert " L7 " in screen_text(app).splitlines()[0]

        await eventually(pilot, l7)


async def test_health_chooser() -> None:
    async with running() as (app, pilot):
        await pilot.press("h")

        def chooser() -> None:
            assert isinstance(app.screen, HealthChooser)
            assert "aws-alb ×0.1" in screen_text(app)

        await eventually(pilot, chooser)
        await pilot.press(*"aws", "enter")  # aws-alb ×0.1 comes first of the two

        def applied() -> None:
            assert lab(app).health_name == "aws-alb ×0.1"
            assert "health aws-alb ×0.1" in screen_text(app)

        await eventually(pilot, applied)


# -- traffic --------------------------------------------------------------------------


async def test_faster_and_slower() -> None:
    async with running(rate=50.0) as (app, pilot):
        await pilot.press("right_square_bracket")

        def faster() -> None:
            assert lab(app).rate == 100
            assert "traffic target 100/s" in screen_text(app)
            assert "traffic: 50 → 100 requests/s (] again: 200)" in widget_text(app, "#timeline")

        await eventually(pilot, faster)
        await pilot.press("left_square_bracket", "left_square_bracket")

        def slower() -> None:
            assert lab(app).rate == 20
            assert "traffic target 20/s" in screen_text(app)
            assert "traffic: 50 → 20 requests/s ([ again: 10)" in widget_text(app, "#timeline")

        await eventually(pilot, slower)


async def test_pause_and_resume() -> None:
    async with running(rate=5.0) as (app, pilot):
        await pilot.press("p")

        def paused() -> None:
            assert lab(app).paused
            assert "traffic paused" in screen_text(app)

        await eventually(pilot, paused)
        await pilot.press("space")

        def resumed() -> None:
            assert not lab(app).paused
            assert "traffic target 5/s" in screen_text(app)

        await eventually(pilot, resumed)


async def test_burst_sends_requests_and_the_feed_shows_them() -> None:
    async with running() as (app, pilot):
        await pilot.press("b")

        def sent() -> None:
            assert lab(app).traffic.completed >= 300
            text = screen_text(app)
            assert "burst: 300 requests at once" in text
            assert "next in rotation" in text  # the feed's reasons

        await eventually(pilot, sent, timeout=20)


async def test_reset_brings_the_fleet_back() -> None:
    async with running() as (app, pilot):
        await pilot.press("k", "n", "plus")

        def changed() -> None:
            assert len(lab(app).backends) == 5
            assert backend(app, "s1").process == "killed"
            assert backend(app, "s5").weight == 2  # the new backend is selected
            assert "killed" in fleet_line(app, "s1")

        await eventually(pilot, changed)
        await pilot.press("R")

        def reset() -> None:
            snap = lab(app)
            assert [b.name for b in snap.backends] == ["s1", "s2", "s3", "s4"]
            assert all(b.process == "alive" and b.weight == 1 for b in snap.backends)
            assert "reset: back to the starting fleet" in screen_text(app)
            assert "killed" not in fleet_line(app, "s1")

        await eventually(pilot, reset)


# -- view -----------------------------------------------------------------------------


async def test_hold_the_feed_and_explain_a_request() -> None:
    async with running() as (app, pilot):
        async with (
            aiohttp.ClientSession() as session,
            session.get(lab(app).proxy_url + "/hello") as response,
        ):
            assert response.status == 200
        screen = dashboard(app)
        # The feed shows the learner's own request at its next redraw.
        await wait_for(pilot, lambda: "you 127.0.0.1" in screen_text(app))
        await pilot.press("f")

        def held() -> None:
            assert screen.feed.held
            text = screen_text(app)
            assert "held" in text
            assert "you 127.0.0.1" in text
            # One key away, under the feed, the charts still in view: the whole reason.
            assert "request 127.0.0.1 GET /hello → s1" in text
            assert "why     s1: next in rotation (1 of 4)" in text
            assert "latency · all" in text
            assert app.screen is screen

        await eventually(pilot, held)
        await pilot.press("enter")

        def explained() -> None:
            assert isinstance(app.screen, ExplainScreen)
            text = screen_text(app)
            assert "GET /hello" in text
            assert "next in rotation" in text  # the core's reason
            assert "round_robin picks this way" in text

        await eventually(pilot, explained)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen and screen.feed.held)  # still held
        await pilot.press("escape")  # leave the feed: it goes live again
        await wait_for(pilot, lambda: not screen.feed.held and "held" not in screen_text(app))


async def test_next_view_shows_one_panel_large() -> None:
    async with running() as (app, pilot):
        screen = dashboard(app)
        assert screen.view == "all"
        shown = {
            # view: (on screen, not on screen)
            "feed": ("Requests", "latency · all"),
            "charts": ("latency · all", "Requests"),
            "timeline": ("Welcome", "latency · all"),
            "all": ("latency · all", "v: next panel"),
        }
        for view, (present, absent) in shown.items():
            await pilot.press("v")

            def showing(view: str = view, present: str = present, absent: str = absent) -> None:
                assert screen.view == view
                text = screen_text(app)
                assert present in text
                assert absent not in text

            await eventually(pilot, showing)


async def test_theme_cycles_dark_light_high_contrast() -> None:
    async with running() as (app, pilot):
        screen = dashboard(app)
        assert app.theme == "textual-dark"
        for theme, contrast in (
            ("textual-light", False),
            (HIGH_CONTRAST.name, True),
            ("textual-dark", False),
        ):
            await pilot.press("t")

            def switched(theme: str = theme, contrast: bool = contrast) -> None:
                assert app.theme == theme
                assert screen.palette.contrast == contrast
                assert app.has_class(f"-theme-{theme}")

            await eventually(pilot, switched)


# -- the app --------------------------------------------------------------------------


async def test_help_lists_every_binding() -> None:
    async with running() as (app, pilot):
        await pilot.press("question_mark")

        def help_shown() -> None:
            assert isinstance(app.screen, HelpScreen)
            text = " ".join(screen_text(app).split())
            for row in bindings.help_rows()[:8]:  # the rest is below the fold
                assert " ".join(row.help.split())[:40] in text

        await eventually(pilot, help_shown)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("f1")
        await eventually(pilot, help_shown)


async def test_command_palette_runs_a_lab_action() -> None:
    async with running() as (app, pilot):
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"algorithm maglev")
        # The palette searches in the background: Enter runs what it has found.
        await wait_for(pilot, lambda: "run: algorithm maglev" in screen_text(app))
        await pilot.press("enter")

        def applied() -> None:
            assert lab(app).algorithm == "maglev"
            assert "maglev" in screen_text(app).splitlines()[0]

        await eventually(pilot, applied)


async def test_quit_stops_the_app_and_the_lab() -> None:
    async with running() as (app, pilot):
        await pilot.press("q")
        await wait_for(pilot, lambda: app._exit)
    assert app.lab.proxy is None


async def test_clicking_a_request_explains_it_and_a_backend_selects_it() -> None:
    async with running() as (app, pilot):
        await pilot.press("b")

        def sent() -> None:
            assert lab(app).traffic.completed >= 300
            assert "burst: 300 requests at once" in screen_text(app)  # and it is over

        await eventually(pilot, sent, timeout=20)
        await pilot.click("#fleet", offset=(3, 3))  # header line, then s1, s2
        await wait_for(pilot, lambda: dashboard(app).fleet.current == "s2")
        assert "latency · s2" in screen_text(app)
        await pilot.click("#feed-table", offset=(3, 1))  # the newest request

        def explained() -> None:
            assert isinstance(app.screen, ExplainScreen)
            assert "next in rotation" in screen_text(app)

        await eventually(pilot, explained)
