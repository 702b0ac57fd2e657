"""Simulated requests per second of ``lbplay sim``, against SimPy as the anchor.

The model (issue 16 §3): 1,000 FIFO servers with exponential service of mean 1,
Poisson arrivals at load 0.9. Measured, in interleaved rounds (each round runs every
row once, so a busy moment of the machine touches them all alike), each row's median:

* ``lbplay round_robin`` and ``lbplay power_of_two_choices``: ``sim.engine.simulate``
  with the core's pickers, as ``lbplay sim`` runs them;
* ``simpy``: the same model written the usual SimPy way (a ``Resource`` of capacity 1
  per server, a process per request, round-robin routing), SimPy being the standard
  pure-Python discrete-event library.

For each: requests per second (wall clock), CPU seconds per million requests, and
lbplay's ratio to SimPy. Then peak RSS of a fresh process that simulates 1M and 10M
requests (``resource.getrusage``): statistics are streamed, so memory must not grow
with the number of requests. Targets: >= 300,000 requests/s for both lbplay rows and
>= 5x SimPy.

Run: ``python benchmarks/sim.py`` (``--quick`` for a smoke run, ``--rounds N``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lbplay.sim.config import SimConfig
from lbplay.sim.engine import simulate

ROOT = Path(__file__).resolve().parents[1]
SERVERS = 1000
LOAD = 0.9
TARGET_RATE = 300_000
TARGET_RATIO = 5.0

#: (requests, wall seconds, CPU seconds, mean time in system)
Sample = tuple[int, float, float, float]


def lbplay_row(algorithm: str, requests: int) -> Sample:
    config = SimConfig(
        servers=SERVERS, load=LOAD, algorithms=(algorithm,), requests=requests, seed=1
    )
    result = simulate(config, algorithm)
    return requests, result.wall, result.cpu, result.latency.mean


def simpy_row(requests: int) -> Sample:
    """The same model in SimPy: Poisson arrivals, round robin to 1,000 FIFO servers."""
    import simpy

    env = simpy.Environment()
    servers = [simpy.Resource(env, capacity=1) for _ in range(SERVERS)]
    rng = random.Random(1)
    rate = LOAD * SERVERS
    total = [0.0]

    def request(server: simpy.Resource, service: float):  # type: ignore[no-untyped-def]
        began = env.now
        with server.request() as turn:
            yield turn
            yield env.timeout(service)
        total[0] += env.now - began

    def source():  # type: ignore[no-untyped-def]
        for i in range(requests):
            yield env.timeout(rng.expovariate(rate))
            env.process(request(servers[i % SERVERS], rng.expovariate(1.0)))

    env.process(source())
    wall, cpu = time.perf_counter(), time.process_time()
    env.run()
    return requests, time.perf_counter() - wall, time.process_time() - cpu, total[0] / requests


def peak_rss(requests: int) -> float:
    """Peak resident memory, MiB, of a fresh process simulating ``requests``."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(requests)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(done.stdout)["rss_mib"])


def child(requests: int) -> None:
    lbplay_row("power_of_two_choices", requests)
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mib = rss / 1024 / (1024 if sys.platform == "darwin" else 1)
    print(json.dumps({"rss_mib": mib}))


def commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--requests", type=int, default=1_000_000, help="per lbplay run")
    parser.add_argument("--simpy-requests", type=int, default=200_000, help="per SimPy run")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    rounds, requests, simpy_requests = (
        (1, 20_000, 5_000) if args.quick else (args.rounds, args.requests, args.simpy_requests)
    )
    rss_sizes = (100_000, 1_000_000) if args.quick else (1_000_000, 10_000_000)
    print(
        f"# lbplay sim benchmark — commit {commit()}, Python {platform.python_version()},"
        f" {platform.machine()}, {os.cpu_count()} CPUs; load average before: {load_average()}"
    )
    print(
        f"# model: {SERVERS:,} FIFO servers, exponential service (mean 1), Poisson arrivals"
        f" at load {LOAD}; {rounds} interleaved round(s); lbplay {requests:,} requests per"
        f" run, SimPy {simpy_requests:,}"
    )
    rows: dict[str, Callable[[], Sample]] = {
        "lbplay round_robin": lambda: lbplay_row("round_robin", requests),
        "lbplay power_of_two_choices": lambda: lbplay_row("power_of_two_choices", requests),
        "simpy (round robin)": lambda: simpy_row(simpy_requests),
    }
    samples: dict[str, list[Sample]] = {name: [] for name in rows}
    for _ in range(rounds):
        for name, run in rows.items():
            samples[name].append(run())
    rates = {n: statistics.median(r / w for r, w, _, _ in s) for n, s in samples.items()}
    cpu = {n: statistics.median(c / r * 1e6 for r, _, c, _ in s) for n, s in samples.items()}
    anchor = rates["simpy (round robin)"]
    print(f"{'row':30} {'requests/s':>12} {'CPU s / 1M':>11} {'x SimPy':>8} {'mean T':>8}  verdict")
    misses = 0
    for name in rows:
        ratio = rates[name] / anchor
        mean = statistics.median(m for _, _, _, m in samples[name])
        verdict = ""
        if name.startswith("lbplay"):
            problems = []
            if rates[name] < TARGET_RATE:
                problems.append(f"< {TARGET_RATE:,}/s")
            if ratio < TARGET_RATIO:
                problems.append(f"< {TARGET_RATIO:g}x SimPy")
            misses += bool(problems)
            verdict = "ok" if not problems else "MISS: " + "; ".join(problems)
        print(
            f"{name:30} {rates[name]:>12,.0f} {cpu[name]:>11.2f} {ratio:>8.1f}"
            f" {mean:>8.3f}  {verdict}"
        )
    for size in rss_sizes:
        print(f"peak RSS, power_of_two_choices, {size:>12,} requests: {peak_rss(size):7.1f} MiB")
    print(f"# load average after: {load_average()}; {misses} lbplay row(s) miss a target")


if __name__ == "__main__":
    main()
