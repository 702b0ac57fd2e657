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

Dashboard CPU (``--cpu``, issue 15): the real ``lbplay`` command, exactly as a learner
starts it (its default 50 requests per second), in a pseudo-terminal of 120 × 36 with
``TERM=xterm-256color`` whose output is read as a terminal would; after a warm-up
(5 s), the user+system CPU time of its processes is read from /proc over 20 s (Linux).
Target: under 10% of a core. ``q`` then quits it as a learner would.

Run: ``python benchmarks/tui.py`` (``--quick`` for a smoke run: fewer samples,
less traffic; ``--samples N``, ``--rate R``); ``python benchmarks/tui.py --cpu``
(``--seconds S``, ``--warmup S``, ``--rate R`` to pass ``--rate`` to ``lbplay``;
``--installed`` for the lbplay installed for this Python, compiled if its wheel was,
instead of these sources).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import math
import os
import platform
import random
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _procs import cpu_seconds

from lbplay.model.config import LabConfig
from lbplay.tui.app import LbplayApp
from lbplay.tui.palette import SERIES_DARK
from lbplay.tui.plot import line_cells, stacked_cells
from lbplay.tui.screens.dashboard import DashboardScreen
from lbplay.tui.widgets.chart import Chart, Line, cells_to_strips

SIZE = (120, 36)
KEY_TARGET_MS = 100.0
CHART_TARGET_MS = 16.0
#: The dashboard's own traffic by default (``lbplay --rate``), and its CPU target.
DASHBOARD_RATE = 50.0
CPU_TARGET = 0.10
ROOT = Path(__file__).resolve().parents[1]
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


# -- the dashboard's CPU (--cpu) ----------------------------------------------------


def _cpu(pid: int) -> float:
    used = cpu_seconds([pid])
    if used is None:
        raise SystemExit("tui benchmark: --cpu reads /proc (Linux), and lbplay has gone")
    return used


def lbplay_command() -> str:
    beside = Path(sys.executable).parent / "lbplay"
    found = str(beside) if beside.is_file() else shutil.which("lbplay")
    if found is None:
        raise SystemExit("tui benchmark: no lbplay command beside this Python or on PATH")
    return found


class Terminal:
    """``lbplay`` on a pseudo-terminal whose output is read (and dropped) as it comes."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        columns, rows = SIZE
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        try:
            self.proc = subprocess.Popen(
                argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
            )
        finally:
            os.close(slave)
        self.tail = b""
        self.received = 0

    def pump(self, seconds: float) -> None:
        """Read what the app writes for ``seconds`` (a terminal never stops reading)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.master], [], [], min(left, 0.1))
            if not readable:
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the app has gone
                return
            if not chunk:
                return
            self.received += len(chunk)
            self.tail = (self.tail + chunk)[-65536:]

    def screen_text(self) -> str:
        return _ANSI.sub("", self.tail.decode(errors="replace"))

    def close(self) -> None:
        """Quit as a learner does (q), then SIGTERM, then SIGKILL."""
        with contextlib.suppress(OSError):
            os.write(self.master, b"q")
        deadline = time.monotonic() + 5
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.pump(0.1)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self.master)


def dashboard_cpu(rate: float | None, seconds: float, warmup: float, installed: bool) -> None:
    """Print the dashboard's share of a core at its default rate, and the verdict.

    ``installed``: the lbplay installed for this Python (compiled, if its wheel was), not
    the sources beside this script."""
    argv = [lbplay_command()] + ([] if rate is None else ["--rate", f"{rate:g}"])
    temp = Path(tempfile.mkdtemp(prefix="lbplay-bench-tui-"))
    path = os.environ.get("PYTHONPATH", "")
    first = () if installed else (str(ROOT),)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (*first, path) if p),
        "TERM": "xterm-256color",
        "COLUMNS": str(SIZE[0]),
        "LINES": str(SIZE[1]),
        # The dashboard records itself for lbplay ctl: here, not in the user's list.
        "LBPLAY_RUNFILE": str(temp / "runfile.json"),
    }
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"# {platform.python_implementation()} {platform.python_version()},"
        f" {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs;"
        f" load average before {load} (1/5/15 min)"
    )
    version = subprocess.run(
        [argv[0], "--version"], env=env, capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"# {version}, {'installed' if installed else f'from {ROOT}'}")
    terminal = Terminal(argv, env)
    try:
        terminal.pump(warmup)
        if terminal.proc.poll() is not None:
            raise SystemExit(f"tui benchmark: lbplay exited:\n{terminal.screen_text()[-2000:]}")
        slices: list[float] = []
        step = min(5.0, seconds)
        started, used = time.monotonic(), _cpu(terminal.proc.pid)
        first_wall, first_cpu = started, used
        while (now := time.monotonic()) - first_wall < seconds - 1e-3:
            terminal.pump(min(step, seconds - (now - first_wall)))
            wall, cpu = time.monotonic(), _cpu(terminal.proc.pid)
            slices.append((cpu - used) / (wall - started))
            started, used = wall, cpu
        share = (used - first_cpu) / (started - first_wall)
        if terminal.proc.poll() is not None:
            raise SystemExit(f"tui benchmark: lbplay exited:\n{terminal.screen_text()[-2000:]}")
        measured = re.findall(r"measured (\d[\d,.]*)/s", terminal.screen_text())
    finally:
        terminal.close()
        shutil.rmtree(temp, ignore_errors=True)
    shown = f"{measured[-1]} req/s on its status line" if measured else "its rate not found"
    asked = f"--rate {rate:g}" if rate is not None else f"its default {DASHBOARD_RATE:g} req/s"
    print(
        f"dashboard CPU ({' '.join(Path(a).name if i == 0 else a for i, a in enumerate(argv))},"
        f" {asked}; {shown}; {SIZE[0]}×{SIZE[1]} pty, TERM=xterm-256color):"
        f" {share:.1%} of a core over {started - first_wall:.0f} s after {warmup:g} s warm-up"
    )
    print(f"  per {step:g} s: " + ", ".join(f"{v:.1%}" for v in slices))
    print(f"  terminal output: {terminal.received / 1024 / (warmup + seconds):,.0f} KiB/s")
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"# load average after {load} (1/5/15 min)")
    verdict = "ok" if share < CPU_TARGET else "MISS"
    print(f"  target under {CPU_TARGET:.0%} of a core at {DASHBOARD_RATE:g} req/s: {verdict}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--samples", type=int, default=None, help="key presses (default 60)")
    parser.add_argument(
        "--rate", type=float, default=None, help="requests/s (default 500; --cpu: lbplay's 50)"
    )
    parser.add_argument(
        "--cpu", action="store_true", help="the dashboard process's CPU instead (Linux)"
    )
    parser.add_argument("--seconds", type=float, default=None, help="--cpu: measured (20)")
    parser.add_argument("--warmup", type=float, default=None, help="--cpu: warm-up (5)")
    parser.add_argument(
        "--installed",
        action="store_true",
        help="--cpu: the lbplay installed for this Python (as a user runs it), not these sources",
    )
    args = parser.parse_args()
    if args.cpu:
        seconds = args.seconds or (3.0 if args.quick else 20.0)
        warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 5.0)
        dashboard_cpu(args.rate, seconds, warmup, args.installed)
        return
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
