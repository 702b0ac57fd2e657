"""z: the dashboard's algorithm at scale, simulated on a worker thread while the
dashboard keeps running, the comparison shown in a modal screen."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette

from lbplay.tui.screens import scale
from lbplay.tui.screens.scale import ScaleScreen
from tests.tui.support import dashboard, running, screen_text, wait_for


@pytest.fixture(autouse=True)
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few thousand requests, so the test takes a second, not the real six."""
    monkeypatch.setattr(scale, "REQUESTS", 20_000)
    monkeypatch.setattr(scale, "PROBE", 1_000)


async def test_z_compares_the_current_algorithm_at_scale() -> None:
    async with running(algorithm="least_response_time") as (app, pilot):
        await pilot.press("z")
        await wait_for(pilot, lambda: isinstance(app.screen, ScaleScreen))
        text = screen_text(app)
        assert "least_response_time at scale: 1,000 servers, load 0.9" in text

        def shown() -> bool:
            screen = app.screen
            return isinstance(screen, ScaleScreen) and screen.outcomes is not None

        await wait_for(pilot, shown, timeout=60)
        text = screen_text(app)
        for name in ("least_response_time", "random", "round_robin", "least_connections"):
            assert name in text
        assert "Theory for the mean" in text
        assert "Latency CDF" in text
        screen = app.screen
        assert isinstance(screen, ScaleScreen)
        assert [o.algorithm for o in screen.outcomes or []] == [
            "least_response_time",
            "random",
            "round_robin",
            "least_connections",
            "power_of_two_choices",
        ]
        assert app.lab.proxy is not None  # the Lab runs on underneath
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is dashboard(app))


async def test_the_palette_finds_it_and_esc_stops_a_run() -> None:
    async with running() as (app, pilot):
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"at scale")
        await wait_for(pilot, lambda: "At scale" in screen_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ScaleScreen))
        assert "round_robin at scale" in screen_text(app)
        await pilot.press("escape")  # at once, mid-run: the worker stops between chunks
        await wait_for(pilot, lambda: app.screen is dashboard(app))
