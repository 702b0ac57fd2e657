"""Helpers for the dashboard's tests: quiet labs, screen text, a frozen demo state.

SVG snapshots must be identical run to run, so anything live is frozen:

* the Lab runs with no generated traffic, fixed seeds and a ``FakeClock`` that only
  moves when a test moves it (timeline times, metrics seconds);
* a *lens* (``LbplayApp(lens=...)``) replaces what still varies in each snapshot:
  the proxy's port always, and for the "busy" pictures the metrics, the recent
  requests and the fleet's states, with data built here from a seeded RNG through
  the real ``Metrics`` class.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from textual.app import App
from textual.pilot import Pilot

from lbplay.core.events import Attempt, BackendStateChanged, ControlAction, RequestCompleted
from lbplay.core.metrics import Metrics, MetricsSnapshot
from lbplay.model.config import LabConfig
from lbplay.model.snapshot import BackendView, LabSnapshot, TrafficStats
from lbplay.tui.app import LbplayApp
from lbplay.tui.model import LatencyHistory
from lbplay.tui.screens.dashboard import DashboardScreen
from tests import labs
from tests.labs import FakeClock

#: What the header shows instead of the real, random port.
FIXED_URL = "http://127.0.0.1:8080"
SIZE = (120, 36)


def quiet(**changes: object) -> LabConfig:
    """The dashboard tests' lab: 4 fast backends, no generated traffic, seed 7."""
    return labs.quiet(**{"backends": 4, "seed": 7, **changes})


def screen_text(app: App[Any]) -> str:
    """Everything on screen now, as plain text (one line per terminal row)."""
    # The compositor is private API; tests may read it, the app may not.
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


def widget_text(app: App[Any], selector: str) -> str:
    """The text inside one widget on screen, its lines joined by spaces and runs of
    spaces squeezed: what wraps across lines reads as one sentence."""
    region = app.screen.query_one(selector).content_region
    lines = screen_text(app).splitlines()[region.y : region.bottom]
    return " ".join(" ".join(line[region.x : region.right] for line in lines).split())


#: How often ``wait_for`` and ``eventually`` look again while the app runs.
POLL = 0.02


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``condition()`` holds (or fail after ``timeout``, showing
    the screen as it was)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for the dashboard; the screen:\n"
                + screen_text(pilot.app)
            )
        await pilot.pause(POLL)


async def eventually(pilot: Pilot[None], check: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the app run until ``check()`` passes: it asserts what a key press should
    bring about (the Lab's state and the screen, together). After ``timeout`` its last
    ``AssertionError`` is raised, so a failure reads as the assertion that never held.

    The app redraws from a timer and after each control: several things that must
    show up together are checked in one ``check``, never one after another.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            check()
        except AssertionError:
            if loop.time() > deadline:
                raise
        else:
            return
        await pilot.pause(POLL)


# -- the real app over a quiet lab ----------------------------------------------------


@asynccontextmanager
async def running(
    *,
    size: tuple[int, int] = SIZE,
    lens: Callable[[LabSnapshot], LabSnapshot] | None = None,
    **config: object,
) -> AsyncIterator[tuple[LbplayApp, Pilot[None]]]:
    """The real app over a quiet lab (``config`` changes it), ready: the whole fleet
    on screen and the arrow keys going to the fleet table."""
    app = LbplayApp(quiet(**config), lens=lens)
    async with app.run_test(size=size) as pilot:

        def ready() -> None:
            screen = dashboard(app)
            assert screen.focused is screen.fleet  # where the arrow keys go first
            text = screen_text(app)
            assert " · sessions " in text.splitlines()[0]  # the header, laid out
            assert "■ s4 " in text  # the whole fleet

        await eventually(pilot, ready)
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


def notified(app: LbplayApp, text: str) -> bool:
    """Whether a notification (a toast) says ``text``."""
    return any(text in n.message for n in app._notifications)


def snapshot(**changes: object) -> LabSnapshot:
    """A LabSnapshot built by hand (for the pure view-model tests)."""
    metrics = demo_metrics()
    values: dict[str, Any] = {
        "at": 1000.0,
        "mode": "l7",
        "algorithm": "round_robin",
        "options": {},
        "proxy_url": FIXED_URL,
        "backends": demo_backends(),
        "metrics": metrics,
        "client_metrics": metrics,
        "traffic": TrafficStats(
            mode="open",
            rate=50.0,
            users=0,
            think_time=1.0,
            paused=False,
            running=True,
            clients=20,
            sent=0,
            completed=0,
            in_flight=0,
            dropped=0,
            bytes=0,
            status={},
            errors={},
        ),
        "rate": 50.0,
        "paused": False,
        "recent": demo_requests(),
    }
    values.update(changes)
    return LabSnapshot(**values)


def fixed_url(snap: LabSnapshot) -> LabSnapshot:
    """The lens for pictures of a real, idle lab: only the port varies."""
    return replace(snap, proxy_url=FIXED_URL)


# -- a busy lab, frozen ---------------------------------------------------------------

_STATES: dict[str, dict[str, object]] = {
    "s1": {"weight": 2},
    "s2": {"process": "killed", "failing": 2},  # UP, failing 2/3
    "s3": {"health": "DOWN", "recovering": 1, "slow_ms": 500.0, "eligible": False},
    "s4": {"admin": "draining", "eligible": False},
    "s5": {"slow_start": 0.4, "error_rate": 0.1},
    "s6": {"backup": True, "brownout": True, "eligible": False},
}


def demo_backends() -> tuple[BackendView, ...]:
    """Six backends, one in each state the fleet table colours."""
    views = []
    for name, state in _STATES.items():
        values: dict[str, object] = {
            "name": name,
            "address": "127.0.0.1:9000",
            "available": state.get("process", "alive") == "alive",
            "in_flight": {"s1": 3, "s2": 1, "s5": 1}.get(name, 0),
            "completed": 100,
            "ewma_latency": 0.02,
            **state,
        }
        views.append(BackendView(**values))  # type: ignore[arg-type]
    return tuple(views)


def demo_metrics(history: LatencyHistory | None = None) -> MetricsSnapshot:
    """Sixty seconds of seeded traffic through the real ``Metrics``; if ``history`` is
    given, it sees every second go by, as the dashboard's would."""
    clock = FakeClock(940.0)
    metrics = Metrics(clock)
    rng = random.Random(11)
    shares = {"s1": 0.34, "s2": 0.12, "s3": 0.06, "s4": 0.08, "s5": 0.24, "s6": 0.16}
    for second in range(60):
        for _ in range(50):
            name = rng.choices(list(shares), weights=list(shares.values()))[0]
            if name == "s2" and second > 45:
                name = "s1"
            slow = 0.5 if name == "s3" else 0.0
            latency = rng.lognormvariate(-3.9, 0.5) + slow + (0.05 if second > 40 else 0.0)
            status = 500 if (name == "s5" and rng.random() < 0.1) else 200
            metrics.record(name, status, latency, 512, now=clock.now + rng.random() * 0.99)
        if second > 48:
            metrics.count("session_losses", rng.randrange(3), backend="s2", now=clock.now)
        clock.advance(1.0)
        if history is not None:
            history.update(metrics.snapshot(clock.now))
    return metrics.snapshot(clock.now, in_flight={"s1": 3, "s2": 1, "s5": 1})


def demo_requests() -> tuple[RequestCompleted, ...]:
    """A dozen finished requests, one of them retried, one from the learner's curl."""
    rng = random.Random(5)
    events = []
    rotation = ["s1", "s5", "s1", "s6", "s5", "s1"]
    for number in range(12):
        name = rotation[number % len(rotation)]
        latency = round(rng.uniform(0.008, 0.040), 4)
        attempts: tuple[Attempt, ...] = (
            Attempt(name, f"{name}: next in rotation ({number % 4 + 1} of 4)", "ok", 200, latency),
        )
        if number == 3:
            attempts = (
                Attempt("s2", "s2: next in rotation (2 of 4)", "refused", None, 0.0004),
                *attempts,
            )
        events.append(
            RequestCompleted(
                at=1000.0,
                seq=100 + number,
                client="127.0.0.1" if number == 11 else f"127.0.{number + 1}.1",
                method="GET",
                path="/hello" if number == 11 else "/",
                status=200,
                latency=latency,
                backend=name,
                attempts=attempts,
                reason=attempts[-1].reason,
            )
        )
    return tuple(events)


def demo_events() -> list[object]:
    """What happened in the demo, for the timeline (times relative to 1000.0)."""
    return [
        ControlAction(
            at=1004.0,
            action="s2 killed",
            detail="it refuses connections now",
            watch="the health checker needs 3 failed checks, at most 3 s, before it stops"
            " sending traffic there",
        ),
        BackendStateChanged(
            at=1006.0,
            backend="s3",
            old="UP",
            new="DOWN",
            evidence="s3 DOWN after 3 consecutive failures: timeout, timeout, timeout",
        ),
        ControlAction(at=1009.0, action="s4 draining", detail="no new requests"),
    ]


def demo_lens(history: LatencyHistory | None = None) -> Callable[[LabSnapshot], LabSnapshot]:
    """A lens that shows a busy, frozen lab (whatever the real one is doing)."""
    metrics = demo_metrics(history)
    backends = demo_backends()
    recent = demo_requests()

    def lens(snap: LabSnapshot) -> LabSnapshot:
        return replace(
            snap,
            proxy_url=FIXED_URL,
            backends=backends,
            metrics=metrics,
            client_metrics=metrics,
            recent=recent,
            rate=50.0,
            paused=True,
        )

    return lens
