"""Picks per second for every algorithm, with 10 and with 1,000 backends.

Two measurements per algorithm and fleet size, each the median of several runs:

* pick alone: ``Balancer.pick(ctx)``;
* full cycle: pick + begin + end, with 8 requests kept in flight (the oldest ends
  as a new one begins), so least-* algorithms see real, changing load.

Targets (issue "Foundation"): every algorithm but rendezvous costs at 1,000 backends
no more than 3x what it costs at 10; round_robin and maglev reach 1,000,000 picks/s
for the pick alone and 300,000/s for the full cycle, on one core.

Run: ``python benchmarks/pick.py`` (``--quick`` for a smoke run, ``--runs N``).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections import deque

from lbplay.core import Backend, Balancer, PickContext, registry

SIZES = (10, 1000)
IN_FLIGHT = 8
TARGET_RATIO = 3.0
FAST = {"round_robin": (1_000_000, 300_000), "maglev": (1_000_000, 300_000)}


def make_balancer(algorithm: str, size: int) -> Balancer:
    # Weights 1-3 (three distinct values), as a playground fleet might have.
    backends = [Backend(f"s{i}", 1 + i % 3) for i in range(size)]
    return Balancer(backends, algorithm, rng=random.Random(1))


def contexts() -> list[PickContext]:
    rng = random.Random(2)
    return [
        PickContext(
            client_ip=f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            hash_key=f"user{rng.randrange(1_000_000)}",
        )
        for _ in range(4096)
    ]


def rate_pick(balancer: Balancer, ctxs: list[PickContext], count: int) -> float:
    pick = balancer.pick
    mask = len(ctxs) - 1
    started = time.perf_counter()
    for i in range(count):
        pick(ctxs[i & mask])
    return count / (time.perf_counter() - started)


def rate_cycle(balancer: Balancer, ctxs: list[PickContext], count: int) -> float:
    pick, begin, end = balancer.pick, balancer.begin, balancer.end
    mask = len(ctxs) - 1
    window: deque[object] = deque()
    latencies = [0.002 + 0.001 * (i % 17) for i in range(64)]
    started = time.perf_counter()
    for i in range(count):
        window.append(begin(pick(ctxs[i & mask])))
        if len(window) > IN_FLIGHT:
            end(window.popleft(), latency=latencies[i & 63], nbytes=512)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    while window:
        end(window.popleft())  # type: ignore[arg-type]
    return count / elapsed


def measure(algorithm: str, size: int, runs: int, seconds: float) -> tuple[float, float]:
    balancer = make_balancer(algorithm, size)
    ctxs = contexts()
    # Calibrate the count so one run takes about `seconds`.
    probe = rate_pick(balancer, ctxs, 200)
    count = max(200, int(probe * seconds))
    picks = statistics.median(rate_pick(balancer, ctxs, count) for _ in range(runs))
    cycles = statistics.median(rate_cycle(balancer, ctxs, count // 2) for _ in range(runs))
    return picks, cycles


def fmt(rate: float) -> str:
    return f"{rate:>12,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per cell (median)")
    parser.add_argument("--seconds", type=float, default=0.2, help="length of one run")
    parser.add_argument("--quick", action="store_true", help="one short run per cell")
    parser.add_argument("--only", nargs="*", help="algorithms to run (default: all)")
    args = parser.parse_args()
    runs, seconds = (1, 0.02) if args.quick else (args.runs, args.seconds)
    names = args.only or registry.names()

    print(
        f"# lbplay pick benchmark — Python {platform.python_version()},"
        f" {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f};"
        f" median of {runs} run(s) of ~{seconds}s"
    )
    print(
        f"{'algorithm':28} {'pick/s @10':>12} {'pick/s @1000':>12} {'x cost':>6}"
        f" {'cycle/s @10':>12} {'cycle/s @1000':>13} {'x cost':>6}  verdict"
    )
    failures = 0
    for name in names:
        (p10, c10), (p1k, c1k) = (measure(name, size, runs, seconds) for size in SIZES)
        pick_ratio, cycle_ratio = p10 / p1k, c10 / c1k
        problems = []
        if name != "rendezvous" and max(pick_ratio, cycle_ratio) > TARGET_RATIO:
            problems.append(f"1000 costs >{TARGET_RATIO:g}x 10")
        if name in FAST:
            want_pick, want_cycle = FAST[name]
            if min(p10, p1k) < want_pick:
                problems.append(f"pick < {want_pick:,}/s")
            if min(c10, c1k) < want_cycle:
                problems.append(f"cycle < {want_cycle:,}/s")
        failures += bool(problems)
        verdict = "ok" if not problems else "MISS: " + "; ".join(problems)
        if name == "rendezvous":
            verdict += " (O(n) by design; exempt)"
        print(
            f"{name:28} {fmt(p10)} {fmt(p1k)} {pick_ratio:6.2f} {fmt(c10)} {fmt(c1k):>13}"
            f" {cycle_ratio:6.2f}  {verdict}"
        )
    print(f"# {len(names) - failures} of {len(names)} algorithms meet their targets")


if __name__ == "__main__":
    main()
