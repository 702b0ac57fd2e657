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
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.pilot import Pilot

from lbplay.core.events import Attempt, BackendStateChanged, ControlAction, RequestCompleted
from lbplay.core.metrics import Metrics, MetricsSnapshot
from lbplay.net.fake_backend import LatencyModel
from lbplay.net.lab import BackendView, LabConfig, LabSnapshot
from lbplay.net.traffic import TrafficStats
from lbplay.tui.app import LbplayApp
from lbplay.tui.model import LatencyHistory

#: What the header shows instead of the real, random port.
FIXED_URL = "http://127.0.0.1:8080"
SIZE = (120, 36)


def quiet(**changes: object) -> LabConfig:
    """A lab of 4 fast backends, no generated traffic, no admin API, fixed seed."""
    settings: dict[str, object] = {
        "backends": 4,
        "rate": 0.0,
        "admin": False,
        "seed": 7,
        "latency": LatencyModel.fixed(1.0),
    }
    settings.update(changes)
    return LabConfig(**settings)  # type: ignore[arg-type]


class FakeClock:
    """A clock that stands still until ``advance``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def screen_text(app: LbplayApp) -> str:
    """Everything on screen now, as plain text (one line per terminal row)."""
    # The compositor is private API; tests may read it, the app may not.
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``condition()`` holds (or fail after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the dashboard")
        await pilot.pause(0.02)


def snapshot(**changes: object) -> LabSnapshot:
    """A LabSnapshot built by hand (for the pure view-model tests)."""
    metrics = demo_metrics()
    values: dict[str, Any] = {
        "at": 1000.0,
        "mode": "l7",
        "algorithm": "round_robin",
        "options": {},
        "proxy_url": FIXED_URL,
        "admin_url": None,
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
    return replace(snap, proxy_url=FIXED_URL, admin_url=None)


# -- a busy lab, frozen ---------------------------------------------------------------

_STATES: dict[str, tuple[str, str, str, str, int, dict[str, object]]] = {
    # name: (process, status, health, admin, weight, extra view fields)
    "s1": ("alive", "up", "UP", "active", 2, {}),
    "s2": ("killed", "up", "UP, failing 2/3", "active", 1, {}),
    "s3": ("alive", "down", "DOWN, recovering 1/2", "active", 1, {"slow_ms": 500.0}),
    "s4": ("alive", "draining", "UP", "draining", 1, {}),
    "s5": ("alive", "slow start 40%", "UP", "active", 1, {"slow_start": 0.4, "error_rate": 0.1}),
    "s6": ("alive", "backup", "UP", "active", 1, {"backup": True, "brownout": True}),
}


def demo_backends() -> tuple[BackendView, ...]:
    views = []
    for name, (process, status, health, admin, weight, extra) in _STATES.items():
        values: dict[str, object] = {
            "name": name,
            "address": "127.0.0.1:9000",
            "weight": weight,
            "backup": False,
            "process": process,
            "available": process == "alive",
            "eligible": status in ("up", "slow start 40%"),
            "in_flight": {"s1": 3, "s2": 1, "s5": 1}.get(name, 0),
            "completed": 100,
            "failures": 0,
            "ewma_latency": 0.02,
            "status": status,
            "health": health,
            "admin": admin,
        }
        values.update(extra)
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
            watch="the health checker needs 3 failed checks, about 3.5 s, before it stops"
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
            admin_url=None,
            backends=backends,
            metrics=metrics,
            client_metrics=metrics,
            recent=recent,
            rate=50.0,
            paused=True,
        )

    return lens
