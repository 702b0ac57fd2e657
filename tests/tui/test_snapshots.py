"""SVG snapshots of the dashboard (dark, light, high contrast, 80 × 24, the feed held),
the algorithm chooser and the help screen.

Deterministic by construction (see ``support``): no generated traffic, fixed seeds,
a clock that stands still, a lens that fixes the proxy's port and — for the busy
pictures — shows a frozen, seeded lab state. Nothing on these screens blinks.
Regenerate with ``pytest tests/tui --snapshot-update`` and look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from lbplay.net.lab import Lab
from lbplay.tui.app import LbplayApp
from lbplay.tui.screens.dashboard import DashboardScreen
from tests.tui.support import (
    SIZE,
    FakeClock,
    demo_events,
    demo_lens,
    fixed_url,
    quiet,
    screen_text,
    wait_for,
)

Compare = Callable[..., bool]
#: Redraws per second: quicker than the app's 5 so that ``settled`` is quick; nothing
#: drawn depends on it (the clock stands still, the lens freezes the data).
REFRESH_HZ = 20.0


def idle_app() -> LbplayApp:
    """The real app over a real, idle lab; only the port is masked."""
    return LbplayApp(lab=Lab(quiet(), clock=FakeClock()), lens=fixed_url, refresh_hz=REFRESH_HZ)


def busy_app() -> LbplayApp:
    """The real app drawing a frozen busy lab (states, charts, requests, events)."""
    lab = Lab(quiet(), clock=FakeClock())
    return LbplayApp(lab=lab, lens=demo_lens(), refresh_hz=REFRESH_HZ)


async def settled(pilot: Pilot[Any]) -> None:
    """Let the dashboard run until one of its redraws changes nothing on screen.

    Its first frames move: the header packs its lines to the real width one redraw
    after the first, and the feed fills to its new height one redraw after that.
    """
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    seen = screen_text(app)
    for _ in range(10):
        frames = screen.frames
        await wait_for(pilot, lambda frames=frames: screen.frames > frames)
        text = screen_text(app)
        if text == seen:
            return
        seen = text
    raise AssertionError(f"the dashboard still changes after 10 redraws:\n{seen}")


async def with_history(pilot: Pilot[Any]) -> None:
    """Give the selected-backend chart a full minute and the timeline its events."""
    app = pilot.app
    assert isinstance(app, LbplayApp)
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    app.lens = demo_lens(screen.history)
    for event in demo_events():
        app.lab.events.publish(event)  # type: ignore[arg-type]
    screen.refresh_now()
    await settled(pilot)


def test_main_screen_busy(snap_compare: Compare) -> None:
    assert snap_compare(busy_app(), terminal_size=SIZE, run_before=with_history)


def test_main_screen_busy_light_theme(snap_compare: Compare) -> None:
    async def light(pilot: Pilot[Any]) -> None:
        await with_history(pilot)
        await pilot.press("t")

    assert snap_compare(busy_app(), terminal_size=SIZE, run_before=light)


def test_main_screen_idle(snap_compare: Compare) -> None:
    assert snap_compare(idle_app(), terminal_size=SIZE, run_before=settled)


def test_main_screen_compact_80x24(snap_compare: Compare) -> None:
    assert snap_compare(busy_app(), terminal_size=(80, 24), run_before=with_history)


def test_algorithm_chooser(snap_compare: Compare) -> None:
    assert snap_compare(idle_app(), terminal_size=SIZE, run_before=settled, press=["a"])


def test_help_screen(snap_compare: Compare) -> None:
    assert snap_compare(idle_app(), terminal_size=SIZE, run_before=settled, press=["question_mark"])


def test_main_screen_busy_high_contrast(snap_compare: Compare) -> None:
    async def high_contrast(pilot: Pilot[Any]) -> None:
        await with_history(pilot)
        await pilot.press("t", "t")  # dark → light → high contrast

    assert snap_compare(busy_app(), terminal_size=SIZE, run_before=high_contrast)


def test_main_screen_feed_held(snap_compare: Compare) -> None:
    """``f``: the feed holds still and explains its top request underneath."""

    async def held(pilot: Pilot[Any]) -> None:
        await with_history(pilot)
        await pilot.press("f")
        await wait_for(pilot, lambda: "why     s1: next in rotation" in screen_text(pilot.app))

    assert snap_compare(busy_app(), terminal_size=SIZE, run_before=held)
