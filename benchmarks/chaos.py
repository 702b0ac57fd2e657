"""Chaos: kill and revive one of three backends, again and again, under steady traffic.

A Lab with three fake backends (lognormal latency, median 20 ms), health checks at the
playground preset (every 1 s, timeout 0.5 s, rise 2, fall 3) and the default retries
(3 tries; connection failures always retried, timeouts and resets for GET) takes
``--rate`` GET requests per second (Poisson arrivals from lbplay's own traffic
generator, 20 virtual clients) while one backend, chosen at random, is killed and
revived ``--cycles`` times. Most kills are short (0.2-1.5 s: over before the health
checker can notice, so only retries save the requests that meet the dead backend);
every fifth lasts longer than the health checker's detection time (fall × interval +
timeout, plus half an interval), so the checker takes the backend out and, after the
revive, brings it back after ``rise`` good checks.

Target (issue "Failure handling"): 50 kills under 200 requests/s with 0 errors seen by
the clients — every request answered 200, whatever was killed while it was on its way.
A miss is reported, not raised: the exit status is 0 either way.

Printed: the machine (CPUs, load average, Python), one row per kill (backend, how long
it was dead, whether the health checker marked it DOWN, the requests that were retried
away from it), the requests sent, the client-visible errors by status or kind (with the
first few, to see what happened), the retries performed (requests whose attempts > 1)
and the verdict, "0 client-visible errors: ok" or "MISS".

Run: ``python benchmarks/chaos.py`` (about two minutes; ``--quick`` for a smoke run of
a few seconds with the health checks scaled to a tenth; ``--cycles N``, ``--rate R``,
``--seed S``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from lbplay.core.events import BackendStateChanged, Event, RequestCompleted
from lbplay.core.health import HealthCheckConfig, preset
from lbplay.model import controls
from lbplay.model.config import LabConfig, RetryPolicy
from lbplay.net.clients import TrafficResult
from lbplay.net.lab import Lab
from lbplay.net.traffic import TrafficGenerator

BACKENDS = 3
#: Every LONG_EVERY-th kill outlasts the health checker's detection time.
LONG_EVERY = 5
#: Errors listed one by one under the summary.
SHOWN_ERRORS = 10


@dataclass(frozen=True)
class Plan:
    """How a run kills: short kills, long ones, and the gaps between them (seconds)."""

    cycles: int
    rate: float
    seed: int
    health: HealthCheckConfig
    short: tuple[float, float]
    gap: tuple[float, float]
    #: Seconds of traffic before the first kill and after the last revive.
    settle: float

    @property
    def long(self) -> float:
        return self.health.detection_time + 0.5 * self.health.interval

    def schedule(self, rng: random.Random, names: list[str]) -> list[tuple[str, float, float]]:
        """(victim, seconds dead, seconds alive after) for every cycle, from the seed."""
        cycles = []
        for number in range(1, self.cycles + 1):
            victim = rng.choice(names)
            down = self.long if number % LONG_EVERY == 0 else rng.uniform(*self.short)
            cycles.append((victim, down, rng.uniform(*self.gap)))
        return cycles


@dataclass
class Kill:
    number: int
    backend: str
    started: float
    ended: float = 0.0
    noticed: bool = False
    #: Requests retried because their attempt on the dead backend failed.
    retried: int = 0

    @property
    def lasted(self) -> float:
        return self.ended - self.started


@dataclass
class Record:
    """Everything the run saw: the clients' results and the proxy's events."""

    results: list[TrafficResult] = field(default_factory=list)
    requests: list[RequestCompleted] = field(default_factory=list)
    changes: list[BackendStateChanged] = field(default_factory=list)

    def event(self, event: Event) -> None:
        if isinstance(event, RequestCompleted):
            self.requests.append(event)
        elif isinstance(event, BackendStateChanged):
            self.changes.append(event)


class Load:
    """lbplay's traffic generator, keeping every result, that can wait for the last one."""

    def __init__(self, url: str, rate: float, seed: int, record: Record) -> None:
        self.record = record
        self._idle = asyncio.Event()
        self.generator = TrafficGenerator(
            url, rate=rate, rng=random.Random(seed), on_result=self._result
        )

    def _result(self, result: TrafficResult) -> None:
        self.record.results.append(result)
        if self.generator.paused and not self.generator.stats().in_flight:
            self._idle.set()

    async def finish(self, timeout: float = 30.0) -> None:
        """Send nothing new; wait for every request in flight to be answered."""
        self.generator.pause()
        if self.generator.stats().in_flight:
            await asyncio.wait_for(self._idle.wait(), timeout)
        await self.generator.stop()


async def run(plan: Plan) -> tuple[Record, list[Kill], float]:
    record = Record()
    kills: list[Kill] = []
    config = LabConfig(backends=BACKENDS, rate=0.0, health=plan.health)
    rng = random.Random(plan.seed)
    async with Lab(config) as lab:
        lab.subscribe(record.event)
        load = Load(lab.proxy_url, plan.rate, plan.seed, record)
        await load.generator.start()
        began = time.monotonic()
        try:
            await asyncio.sleep(plan.settle)
            for number, (victim, down, gap) in enumerate(
                plan.schedule(rng, list(lab.backend_names())), start=1
            ):
                kill = Kill(number, victim, time.monotonic())
                await lab.apply(controls.Kill(victim))
                await asyncio.sleep(down)
                await lab.apply(controls.Revive(victim))
                kill.ended = time.monotonic()
                kills.append(kill)
                await asyncio.sleep(gap)
            await asyncio.sleep(plan.settle)
            await load.finish()
        finally:
            await load.generator.stop()
        took = time.monotonic() - began
    attribute(record, kills)
    return record, kills, took


def attribute(record: Record, kills: list[Kill]) -> None:
    """Which kill each DOWN and each retry away from a dead backend belongs to."""
    for kill, following in zip(kills, [*kills[1:], None], strict=True):
        until = following.started if following else float("inf")
        kill.noticed = any(
            c.backend == kill.backend and c.new == "DOWN" and kill.started <= c.at < until
            for c in record.changes
        )
        kill.retried = sum(
            1
            for r in record.requests
            if kill.started <= r.at < until
            and any(a.backend == kill.backend and a.outcome != "ok" for a in r.attempts[:-1])
        )


def error_kind(result: TrafficResult) -> str:
    return result.error or f"HTTP {result.status}"


def report(record: Record, kills: list[Kill], took: float) -> None:
    results = record.results
    errors = [r for r in results if r.error or r.status != 200]
    retried = sum(1 for r in record.requests if r.retried)
    print(f"{'kill':>4}  {'backend':<7}  {'dead s':>6}  {'health':<6}  {'retried':>7}")
    for kill in kills:
        print(
            f"{kill.number:>4}  {kill.backend:<7}  {kill.lasted:>6.2f}"
            f"  {'DOWN' if kill.noticed else '-':<6}  {kill.retried:>7}"
        )
    lasted = [k.lasted for k in kills]
    print(f"requests sent: {len(results)} in {took:.1f} s ({len(results) / took:.0f}/s)")
    kinds = Counter(error_kind(r) for r in errors)
    detail = ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common()) or "none"
    print(f"client-visible errors: {len(errors)} ({detail})")
    start = results[0].started if results else 0.0
    for r in sorted(errors, key=lambda r: r.started)[:SHOWN_ERRORS]:
        tried = ", ".join(r.tried) or "-"
        print(f"#   at {r.started - start:7.3f} s: {error_kind(r)} (tried {tried})")
    print(f"retries performed: {retried} requests with more than one attempt")
    if lasted:
        noticed = sum(k.noticed for k in kills)
        print(
            f"kills: {len(kills)}, dead for min {min(lasted):.2f} s, median"
            f" {statistics.median(lasted):.2f} s, max {max(lasted):.2f} s;"
            f" {noticed} marked DOWN by the health checker"
        )
    verdict = "0 client-visible errors: ok" if not errors else f"MISS ({len(errors)} errors)"
    print(f"verdict: {verdict}")


def machine() -> str:
    load1, load5, load15 = os.getloadavg()
    return (
        f"# machine: {os.cpu_count()} CPUs ({platform.machine()}), load average"
        f" {load1:.2f} {load5:.2f} {load15:.2f}; Python {platform.python_version()}"
        f" ({platform.python_implementation()}), {platform.system()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, help="kills and revives (default 50; quick 5)")
    parser.add_argument("--rate", type=float, help="GET requests per second (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="seed of victims, times, traffic")
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    if args.quick:
        plan = Plan(
            cycles=args.cycles or LONG_EVERY,
            rate=args.rate or 100.0,
            seed=args.seed,
            health=preset("playground", 0.1),
            short=(0.05, 0.15),
            gap=(0.05, 0.15),
            settle=0.2,
        )
    else:
        plan = Plan(
            cycles=args.cycles or 50,
            rate=args.rate or 200.0,
            seed=args.seed,
            health=preset("playground"),
            short=(0.2, 1.5),
            gap=(0.3, 1.0),
            settle=1.0,
        )
    if plan.cycles < 1 or plan.rate <= 0:
        parser.error("--cycles and --rate must be positive")
    print(
        f"# chaos: kill and revive one of {BACKENDS} backends {plan.cycles} times under"
        f" {plan.rate:g} GET/s, retries on ({RetryPolicy().tries} tries), seed {plan.seed}"
    )
    print(machine())
    print(
        f"# health checks: {plan.health.describe()}; kills last"
        f" {plan.short[0]:g}-{plan.short[1]:g} s, every {LONG_EVERY}th {plan.long:.2f} s"
        f" (detection time {plan.health.detection_time:g} s)"
    )
    record, kills, took = asyncio.run(run(plan))
    report(record, kills, took)


if __name__ == "__main__":
    main()
