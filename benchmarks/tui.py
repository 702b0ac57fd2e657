"""How quickly the dashboard reacts under load, and how long a chart takes to redraw.

Key-press latency: the real app runs headless (Pilot, ``run_test``) at 120 × 36 with
its Lab generating 500 requests per second through the real proxy, in the same event
loop. Keys are sent as a terminal would send them (``App.simulate_key``), and each
sample is the time from sending the key until a frame that *shows* its effect
leaves the compositor: every frame Textual would write to a terminal is rendered to
text (what the terminal driver would do) and searched for a marker of the change —
"traffic paused", the selected backend's chart title, "+500 ms" in the fleet table,
the new weight in the timeline. Target (issue 6): p95 under 100 ms.

Chart redraw: one full redraw of a live chart of 60 points (the dashboard's
``Chart.draw``: braille cells, then styled strips) at the size it has on screen, and
the plotting alone at a large size. Target: under 16 ms.

Run: ``python benchmarks/tui.py`` (``--quick`` for a smoke run: fewer samples,
less traffic; ``--samples N``, ``--rate R``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from lbplay.model.config import LabConfig
from lbplay.tui.app import LbplayApp
from lbplay.tui.palette import SERIES_DARK
from lbplay.tui.plot import line_cells, stacked_cells
from lbplay.tui.screens.dashboard import DashboardScreen
from lbplay.tui.widgets.chart import Chart, Line, cells_to_strips

SIZE = (120, 36)
KEY_TARGET_MS = 100.0
CHART_TARGET_MS = 16.0
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass
class Frames:
    """Every frame the compositor emitted, as plain text with the time it left."""

    frames: list[tuple[float, str]]

    def find(self, start: int, marker: str) -> float | None:
        for at, text in self.frames[start:]:
            if marker in text:
                return at
        return None


def capture_frames(app: LbplayApp) -> Frames:
    """Record each compositor update as the text a terminal would receive.

    Headless apps skip writing to a terminal; this puts the write back (rendering
    the update's segments, as the real driver does) so a change counts only once it
    is on a frame. Private Textual API: a benchmark may lean on it, the app may not.
    """
    from textual._compositor import CompositorUpdate

    frames = Frames([])
    original = app._display

    def display(screen: object, renderable: object) -> None:
        original(screen, renderable)  # type: ignore[arg-type]
        if isinstance(renderable, CompositorUpdate):
            text = _ANSI.sub("", renderable.render_segments(app.console))
            frames.frames.append((time.perf_counter(), text))

    app._display = display  # type: ignore[method-assign]
    return frames


Step = tuple[str, Callable[[DashboardScreen], str]]


def steps() -> list[Step]:
    """Keys to press in turn, each with the text that proves it took effect.

    The cycle leaves the lab as it found it: slow goes round to 0, weight goes up
    then down, pause is pressed twice, the selection returns to s1.
    """
    return [
        ("2", lambda s: "latency · s2"),
        ("s", lambda s: "+100 ms"),
        ("s", lambda s: "+500 ms"),
        ("s", lambda s: "+2000 ms"),
        ("s", lambda s: "s2 slow: 2000 → 0 ms"),
        ("1", lambda s: "latency · s1"),
        ("plus", lambda s: "s1 weight: now 2"),
        ("minus", lambda s: "s1 weight: now 1"),
        ("p", lambda s: "traffic paused"),
        ("p", lambda s: "traffic resumed"),
    ]


async def key_latencies(
    samples: int, rate: float, warmup: float
) -> tuple[list[tuple[str, float]], float, int, list[float]]:
    """Press keys under load; return (key, latency ms) pairs, the measured request
    rate, the number of timeouts and the chart redraw times (ms) measured in the
    running app."""
    app = LbplayApp(LabConfig(rate=rate))
    latencies: list[tuple[str, float]] = []
    misses = 0
    rng = random.Random(6)
    async with app.run_test(size=SIZE) as pilot:
        frames = capture_frames(app)
        await asyncio.sleep(warmup)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        cycle = steps()
        for sample in range(samples):
            key, marker_of = cycle[sample % len(cycle)]
            marker = marker_of(screen)
            start = len(frames.frames)
            sent = time.perf_counter()
            app.simulate_key(key)
            deadline = sent + 2.0
            seen: float | None = None
            while seen is None and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
                seen = frames.find(start, marker)
            if seen is None:
                misses += 1
            else:
                latencies.append((key, (seen - sent) * 1000))
            # Like a person: a pause between keys, so one key's work does not queue
            # behind the last one's.
            await asyncio.sleep(rng.uniform(0.05, 0.15))
        measured_rate = app.lab.snapshot().metrics.total.rps
        redraws = chart_in_app(screen)
        await pilot.pause()
    return latencies, measured_rate, misses, redraws


def chart_in_app(screen: DashboardScreen, runs: int = 50) -> list[float]:
    """Time ``Chart.draw`` of the on-screen latency chart with 60 fresh points."""
    chart = screen.query_one("#chart-latency", Chart)
    rng = random.Random(3)
    times = []
    for _ in range(runs):
        p50 = [rng.uniform(10, 30) for _ in range(60)]
        p99 = [v * rng.uniform(2, 4) for v in p50]
        chart.plot([Line("p99", p99, "#f0a93b"), Line("p50", p50, "#4ea1ff")], floor=10)
        started = time.perf_counter()
        chart.draw()
        times.append((time.perf_counter() - started) * 1000)
    return times


def chart_offline(width: int, height: int, runs: int = 50) -> tuple[float, float]:
    """Plot 60 points (two lines) and 60 stacked columns of 8 backends at a size, ms."""
    rng = random.Random(4)
    lines = [[rng.uniform(0, 100) for _ in range(60)] for _ in range(2)]
    columns = [[rng.uniform(0, 50) for _ in range(8)] for _ in range(60)]
    colors = list(SERIES_DARK)

    def best(draw: Callable[[], object]) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            draw()
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    line_ms = best(lambda: cells_to_strips(line_cells(lines, width, height, 100), colors))
    stack_ms = best(lambda: cells_to_strips(stacked_cells(columns, width, height), colors))
    return line_ms, stack_ms


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--samples", type=int, default=None, help="key presses (default 60)")
    parser.add_argument("--rate", type=float, default=None, help="requests/s (default 500)")
    args = parser.parse_args()
    samples = args.samples or (10 if args.quick else 60)
    rate = args.rate if args.rate is not None else (100.0 if args.quick else 500.0)
    warmup = 1.0 if args.quick else 3.0

    print(
        f"# {platform.python_implementation()} {platform.python_version()},"
        f" {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )
    pairs, measured, misses, in_app = asyncio.run(key_latencies(samples, rate, warmup))
    latencies = [ms for _, ms in pairs]
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    print(
        f"key press → visible at {rate:g} req/s (measured {measured:.0f} req/s),"
        f" {len(latencies)} samples, {misses} timeouts"
    )
    print(f"  p50 {p50:.1f} ms  p95 {p95:.1f} ms  max {max(latencies):.1f} ms")
    by_key: dict[str, list[float]] = {}
    for key, ms in pairs:
        by_key.setdefault(key, []).append(ms)
    print(
        "  by key (median/max ms): "
        + ", ".join(f"{key} {statistics.median(v):.0f}/{max(v):.0f}" for key, v in by_key.items())
    )
    verdict = "ok" if p95 < KEY_TARGET_MS and not misses else "MISS"
    print(f"  target p95 < {KEY_TARGET_MS:g} ms: {verdict}")
    redraw = statistics.median(in_app)
    print(
        f"chart redraw (60 points, on-screen size): median {redraw:.2f} ms,"
        f" max {max(in_app):.2f} ms"
    )
    for width, height in ((28, 7), (100, 20)):
        line_ms, stack_ms = chart_offline(width, height)
        print(
            f"  plot alone at {width}×{height}: lines {line_ms:.2f} ms, stacked {stack_ms:.2f} ms"
        )
    verdict = "ok" if max(in_app) < CHART_TARGET_MS else "MISS"
    print(f"  target < {CHART_TARGET_MS:g} ms per redraw: {verdict}")


if __name__ == "__main__":
    main()
