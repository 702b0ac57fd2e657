"""The app's life: start, resize, small terminals, a busy port, and a clean quit."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from lbplay.errors import LbplayError
from lbplay.model.faults import LatencyModel
from lbplay.net.lab import Lab
from lbplay.tui.app import LbplayApp
from lbplay.tui.screens.dashboard import DashboardScreen
from tests.tui.support import SIZE, eventually, quiet, running, screen_text, wait_for


def listening_ports() -> set[int]:
    """Ports in LISTEN state on this machine (Linux: /proc/net/tcp and tcp6)."""
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(name)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def port_of(url_or_address: str) -> int:
    return int(url_or_address.rsplit(":", 1)[1].split("/")[0])


async def test_quitting_leaves_no_listening_socket_and_no_task() -> None:
    tasks_before = asyncio.all_tasks()
    # 200 ms backends: the burst below is surely still in flight when q is pressed.
    app = LbplayApp(quiet(rate=20.0, latency=LatencyModel.fixed(200.0)))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        snap = app.lab.snapshot()
        ports = {port_of(snap.proxy_url)}
        ports |= {port_of(b.address) for b in snap.backends if b.address}
        assert len(ports) == 5
        if Path("/proc/net/tcp").exists():
            assert ports <= listening_ports()
        await pilot.press("b")  # a burst still in flight when the learner quits
        await wait_for(pilot, lambda: app.lab.snapshot().traffic.in_flight > 20)
        await pilot.press("q")
    assert all(refuses(port) for port in ports)
    if Path("/proc/net/tcp").exists():
        assert not ports & listening_ports()
    leftover = [t for t in asyncio.all_tasks() if t not in tasks_before and not t.done()]
    assert leftover == []


async def test_a_busy_port_ends_the_app_with_a_readable_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = LbplayApp(lab=Lab(quiet(), port=port))
        await asyncio.wait_for(app.run_async(headless=True, size=SIZE), 20)
    assert isinstance(app.start_error, LbplayError)
    assert str(port) in str(app.start_error)
    assert app.return_code == 1


async def test_80x24_is_compact_and_every_panel_is_reachable() -> None:
    app = LbplayApp(quiet(rate=20.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        screen = app.screen
        assert isinstance(screen, DashboardScreen)

        def compact() -> None:
            assert screen.compact
            text = screen_text(app)
            assert all(f"■ s{n} " in text for n in range(1, 5))  # the whole fleet
            assert "client" in text  # the feed is the first lower panel

        await eventually(pilot, compact)
        for view, shown in (
            ("charts", "latency · all"),
            ("timeline", "Welcome"),
            ("feed", "client"),
        ):
            await pilot.press("v")  # the last one: round again to the feed

            def showing(view: str = view, shown: str = shown) -> None:
                assert screen.view == view
                assert shown in screen_text(app)

            await eventually(pilot, showing)
        # With the timeline hidden, what a key did (and what to watch) is a toast.
        await pilot.press("k")
        await wait_for(pilot, lambda: any("s1 killed" in n.message for n in app._notifications))
        assert "Watch:" in next(n.message for n in app._notifications if "s1 killed" in n.message)


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_resizing_never_crashes(theme: str) -> None:
    app = LbplayApp(quiet(rate=50.0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        app.theme = theme
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        for width, height in [(80, 24), (60, 16), (200, 60), (30, 10), (100, 30), (120, 36)]:
            frames = screen.frames
            await pilot.resize_terminal(width, height)

            def redrawn(width: int = width, height: int = height, frames: int = frames) -> None:
                # A live snapshot drawn since the resize, laid out at the new size.
                assert screen.frames > frames
                lines = screen_text(app).splitlines()
                assert (len(lines[0]), len(lines)) == (width, height)

            await eventually(pilot, redrawn)
            assert screen.compact == (width < 100 or height < 30)
        assert screen.view == "all"
        assert "■ s4 " in screen_text(app)


async def test_an_idle_dashboard_asks_for_no_new_layout_at_each_refresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no traffic nothing on screen moves, so a refresh must not ask Textual to
    lay the screen out again: setting a widget's text or ``display`` does, even to the
    same value, and a layout of the whole screen five times a second was most of an
    idle (or paused, in a classroom) dashboard's CPU."""
    from textual.widget import Widget

    async with running() as (app, pilot):
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        screen.refresh_now()
        await pilot.pause()
        layouts: list[str] = []
        original = Widget.refresh

        def refresh(self: Widget, *regions: object, layout: bool = False, **kw: object) -> Widget:
            if layout:
                layouts.append(f"{type(self).__name__}#{self.id}")
            return original(self, *regions, layout=layout, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(Widget, "refresh", refresh)
        for _ in range(5):
            screen.refresh_now()
            await pilot.pause()
        assert layouts == []
        assert "No traffic. Press ] for some" in screen_text(app)
