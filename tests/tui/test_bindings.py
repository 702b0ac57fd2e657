"""Every key: the action reaches the Lab (its state changes) and the screen shows it.

Each test runs the real app over a real, quiet Lab (4 fast fake backends, no
generated traffic) in a headless terminal of 120 × 36, presses a key, then checks
the Lab through its snapshot and the screen through its text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot

from lbplay.model.snapshot import BackendView, LabSnapshot
from lbplay.tui import bindings
from lbplay.tui.app import LbplayApp
from lbplay.tui.screens.algorithm import AlgorithmChooser
from lbplay.tui.screens.dashboard import DashboardScreen
from lbplay.tui.screens.explain import ExplainScreen
from lbplay.tui.screens.health import HealthChooser
from lbplay.tui.screens.help import HelpScreen
from lbplay.tui.screens.sessions import SessionChooser
from tests.tui.support import SIZE, quiet, screen_text, wait_for


@asynccontextmanager
async def running(**config: object) -> AsyncIterator[tuple[LbplayApp, Pilot[None]]]:
    app = LbplayApp(quiet(**config))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.pause()
        yield app, pilot


def lab(app: LbplayApp) -> LabSnapshot:
    return app.lab.snapshot()


def backend(app: LbplayApp, name: str) -> BackendView:
    return next(b for b in lab(app).backends if b.name == name)


def dashboard(app: LbplayApp) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return screen


def fleet_line(app: LbplayApp, name: str) -> str:
    """The fleet table's row of ``name``, as on screen."""
    for line in screen_text(app).splitlines():
        if f"■ {name} " in line:
            return line
    raise AssertionError(f"{name} is not on screen")


async def settle(pilot: Pilot[None]) -> None:
    """Let workers finish and the screen redraw."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def test_every_binding_has_a_test() -> None:
    """The tests below name the ids they cover; no binding is left out."""
    tested = {
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
        "view.next",
        "view.theme",
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
        await pilot.pause()
        assert screen.fleet.current == "s2"
        assert "latency · s2" in screen_text(app)
        screen.set_focus(None)  # with nothing focused, the screen's own binding acts
        await pilot.press("down", "down", "up")
        await pilot.pause()
        assert screen.fleet.current == "s3"
        assert "latency · s3" in screen_text(app)


async def test_digits_select_a_backend() -> None:
    async with running() as (app, pilot):
        await pilot.press("3")
        await pilot.pause()
        assert dashboard(app).fleet.current == "s3"
        assert "latency · s3" in screen_text(app)
        await pilot.press("9")  # there is no backend 9: a notice, no crash
        await pilot.pause()
        assert dashboard(app).fleet.current == "s3"


# -- break things ---------------------------------------------------------------------


async def test_kill_then_revive() -> None:
    async with running() as (app, pilot):
        await pilot.press("2", "k")
        await settle(pilot)
        assert backend(app, "s2").process == "killed"
        assert "killed" in fleet_line(app, "s2")
        # The Lab said what it did and what to watch for; the timeline shows it.
        text = screen_text(app)
        assert "s2 killed" in text
        assert "watch:" in text
        await pilot.press("k")
        await settle(pilot)
        assert backend(app, "s2").process == "alive"
        assert "killed" not in fleet_line(app, "s2")


async def test_slow_cycles_latency() -> None:
    async with running() as (app, pilot):
        await pilot.press("s")
        await settle(pilot)
        assert backend(app, "s1").slow_ms == 100
        assert "+100 ms" in fleet_line(app, "s1")
        await pilot.press("s", "s", "s")
        await settle(pilot)
        assert backend(app, "s1").slow_ms == 0
        assert "+" not in fleet_line(app, "s1")


async def test_errors_cycle_the_error_rate() -> None:
    async with running() as (app, pilot):
        await pilot.press("e")
        await settle(pilot)
        assert backend(app, "s1").error_rate == pytest.approx(0.1)
        assert "10% err" in fleet_line(app, "s1")
        await pilot.press("e")
        await settle(pilot)
        assert backend(app, "s1").error_rate == pytest.approx(0.5)
        assert "50% err" in fleet_line(app, "s1")


async def test_brownout_toggles() -> None:
    async with running() as (app, pilot):
        await pilot.press("o")
        await settle(pilot)
        assert backend(app, "s1").brownout
        assert "brownout" in fleet_line(app, "s1")
        await pilot.press("o")
        await settle(pilot)
        assert not backend(app, "s1").brownout


async def test_weight_up_and_down() -> None:
    async with running() as (app, pilot):
        await pilot.press("plus", "plus")
        await settle(pilot)
        assert backend(app, "s1").weight == 3
        assert "s1 weight: now 3" in screen_text(app)
        await pilot.press("minus")
        await settle(pilot)
        assert backend(app, "s1").weight == 2
        assert "s1 weight: now 2" in screen_text(app)


async def test_weight_below_one_is_a_notification_not_a_crash() -> None:
    async with running() as (app, pilot):
        await pilot.press("minus")
        await settle(pilot)
        assert backend(app, "s1").weight == 1
        assert any("bad weight 0" in n.message for n in app._notifications)


async def test_drain_then_undrain() -> None:
    async with running() as (app, pilot):
        await pilot.press("d")
        await settle(pilot)
        assert backend(app, "s1").admin in ("draining", "drained")
        assert "drain" in fleet_line(app, "s1")
        await pilot.press("d")
        await settle(pilot)
        assert backend(app, "s1").admin == "active"
        assert "UP" in fleet_line(app, "s1")


async def test_add_backend_selects_it() -> None:
    async with running() as (app, pilot):
        await pilot.press("n")
        await settle(pilot)
        assert [b.name for b in lab(app).backends] == ["s1", "s2", "s3", "s4", "s5"]
        assert "UP" in fleet_line(app, "s5")
        assert dashboard(app).fleet.current == "s5"


async def test_remove_backend() -> None:
    async with running() as (app, pilot):
        await pilot.press("4", "x")
        await settle(pilot)
        assert [b.name for b in lab(app).backends] == ["s1", "s2", "s3"]
        assert "■ s4 " not in screen_text(app)
        assert dashboard(app).fleet.current == "s3"


# -- the balancer ---------------------------------------------------------------------


async def test_algorithm_chooser_applies_live() -> None:
    async with running() as (app, pilot):
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, AlgorithmChooser)
        text = screen_text(app)
        assert "least_connections" in text
        assert "HAProxy leastconn" in text  # real-world names beside the idea
        await pilot.press("down", "down", "enter")
        await settle(pilot)
        assert lab(app).algorithm == "least_connections"
        assert "least_connections" in screen_text(app).splitlines()[0]


async def test_algorithm_chooser_escape_changes_nothing() -> None:
    async with running() as (app, pilot):
        await pilot.press("a", "down", "escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert lab(app).algorithm == "round_robin"


async def test_session_chooser() -> None:
    async with running() as (app, pilot):
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, SessionChooser)
        await pilot.press("down", "enter")  # none → cookie
        await settle(pilot)
        assert lab(app).session_mode == "cookie"
        assert "sessions cookie" in screen_text(app)


async def test_l4_l7_toggle() -> None:
    async with running() as (app, pilot):
        port = lab(app).proxy_url
        await pilot.press("l")
        await settle(pilot)
        assert lab(app).mode == "l4"
        assert lab(app).proxy_url == port
        assert " L4 " in screen_text(app).splitlines()[0]
        await pilot.press("l")
        await settle(pilot)
        assert lab(app).mode == "l7"


async def test_health_chooser() -> None:
    async with running() as (app, pilot):
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HealthChooser)
        assert "aws-alb ×0.1" in screen_text(app)
        await pilot.press("down", "down", "enter")  # playground → haproxy → aws-alb ×0.1
        await settle(pilot)
        assert lab(app).health_name == "aws-alb ×0.1"
        assert "health aws-alb ×0.1" in screen_text(app)


# -- traffic --------------------------------------------------------------------------


async def test_faster_and_slower() -> None:
    async with running(rate=50.0) as (app, pilot):
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert lab(app).rate == 100
        assert "traffic 100/s" in screen_text(app)
        await pilot.press("left_square_bracket", "left_square_bracket")
        await settle(pilot)
        assert lab(app).rate == 20
        assert "traffic 20/s" in screen_text(app)


async def test_pause_and_resume() -> None:
    async with running(rate=5.0) as (app, pilot):
        await pilot.press("p")
        await settle(pilot)
        assert lab(app).paused
        assert "traffic paused" in screen_text(app)
        await pilot.press("space")
        await settle(pilot)
        assert not lab(app).paused
        assert "traffic 5/s" in screen_text(app)


async def test_burst_sends_requests_and_the_feed_shows_them() -> None:
    async with running() as (app, pilot):
        await pilot.press("b")
        await wait_for(pilot, lambda: lab(app).traffic.completed >= 300, timeout=20)
        await pilot.pause(0.3)
        assert "burst: 300 requests at once" in screen_text(app)
        assert "next in rotation" in screen_text(app)  # the feed's reasons


async def test_reset_brings_the_fleet_back() -> None:
    async with running() as (app, pilot):
        await pilot.press("k", "n", "plus")
        await settle(pilot)
        assert len(lab(app).backends) == 5
        await pilot.press("R")
        await settle(pilot)
        snap = lab(app)
        assert [b.name for b in snap.backends] == ["s1", "s2", "s3", "s4"]
        assert all(b.process == "alive" and b.weight == 1 for b in snap.backends)
        assert "reset: back to the starting fleet" in screen_text(app)
        assert "killed" not in fleet_line(app, "s1")


# -- view -----------------------------------------------------------------------------


async def test_hold_the_feed_and_explain_a_request() -> None:
    async with running() as (app, pilot):
        async with (
            aiohttp.ClientSession() as session,
            session.get(lab(app).proxy_url + "/hello") as response,
        ):
            assert response.status == 200
        await pilot.pause(0.3)
        await pilot.press("f")
        await pilot.pause()
        screen = dashboard(app)
        assert screen.feed.held
        assert "held" in screen_text(app)
        assert "you 127.0.0.1" in screen_text(app)  # the learner's own request
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExplainScreen)
        text = screen_text(app)
        assert "GET /hello" in text
        assert "next in rotation" in text  # the core's reason
        assert "round_robin picks this way" in text
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")  # leave the feed: it goes live again
        await pilot.pause()
        assert not screen.feed.held


async def test_next_view_shows_one_panel_large() -> None:
    async with running() as (app, pilot):
        screen = dashboard(app)
        seen = [screen.view]
        for _ in range(4):
            await pilot.press("v")
            await pilot.pause()
            seen.append(screen.view)
            text = screen_text(app)
            if screen.view == "feed":
                assert "latency · all" not in text
            if screen.view == "charts":
                assert "latency · all" in text
                assert "client" not in text
        assert seen == ["all", "feed", "charts", "timeline", "all"]


async def test_theme_toggle() -> None:
    async with running() as (app, pilot):
        assert app.current_theme.dark
        await pilot.press("t")
        await pilot.pause()
        assert not app.current_theme.dark
        await pilot.press("t")
        await pilot.pause()
        assert app.current_theme.dark


# -- the app --------------------------------------------------------------------------


async def test_help_lists_every_binding() -> None:
    async with running() as (app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(screen_text(app).split())
        for row in bindings.help_rows()[:8]:  # the rest is below the fold
            assert " ".join(row.help.split())[:40] in text
        await pilot.press("escape")
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_command_palette_runs_a_lab_action() -> None:
    async with running() as (app, pilot):
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"algorithm maglev")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert lab(app).algorithm == "maglev"
        assert "maglev" in screen_text(app).splitlines()[0]


async def test_quit_stops_the_app_and_the_lab() -> None:
    async with running() as (app, pilot):
        await pilot.press("q")
        await pilot.pause()
        assert app._exit
    assert app.lab.proxy is None


async def test_clicking_a_request_explains_it_and_a_backend_selects_it() -> None:
    async with running() as (app, pilot):
        await pilot.press("b")
        await wait_for(pilot, lambda: lab(app).traffic.completed >= 300, timeout=20)
        await pilot.pause(0.3)
        await pilot.click("#fleet", offset=(3, 3))  # header line, then s1, s2
        await pilot.pause()
        assert dashboard(app).fleet.current == "s2"
        await pilot.click("#feed-table", offset=(3, 1))  # the newest request
        await pilot.pause()
        assert isinstance(app.screen, ExplainScreen)
        assert "next in rotation" in screen_text(app)
