"""Published results the simulator must reproduce, and the table that checks it.

* **M/M/1** — random routing splits a Poisson stream into independent Poisson
  streams, so each of n FIFO servers with exponential service is an M/M/1 queue: the
  mean time in system is 1 / (1 − λ) mean service times.
* **The supermarket model** (Mitzenmacher 2001) — each arrival joins the shortest of
  d queues drawn at random; as n → ∞ the mean time in system is
  T_d(λ) = Σ_{i≥1} λ^((d^i − d)/(d − 1)). ``power_of_two_choices`` with ``choices =
  d`` is exactly that policy (draws with replacement, the first drawn on a tie; at n =
  1,000 a repeat draw is rare and the finite-n gap is well under 1%).
* **Ring hash spread** — k virtual nodes per server put k random points on the ring
  per server, so a server's share of the key space is a sum of k spacings: n × share
  is Gamma(k)/k, standard deviation 1/√k. Measured on the ring the core's
  ``ring_hash`` picker uses (``core.ring.build_ring``), from the exact arc lengths.

``CASES`` is the full grid (``pytest -m slow`` and ``benchmarks/sim_accuracy.py``),
``QUICK`` the few a plain ``pytest`` checks; ``measure`` runs one case and returns a
``Row`` of the table, so the tests and the script share one copy of the logic.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Literal

from lbplay.core.backends import Backend
from lbplay.core.ring import build_ring
from lbplay.sim.config import SimConfig
from lbplay.sim.engine import simulate

RING = 1 << 64


def mm1(load: float) -> float:
    """Mean time in system of an M/M/1 queue at utilisation ``load`` (service mean 1)."""
    return 1.0 / (1.0 - load)


def supermarket(load: float, d: int) -> float:
    """Mitzenmacher's T_d(λ): the mean time in system with d choices, n → ∞."""
    if d == 1:
        return mm1(load)
    total = 0.0
    i = 1
    while True:
        term = float(load ** ((d**i - d) / (d - 1)))
        total += term
        if term < 1e-15:
            return total
        i += 1


def ring_spread(servers: int, vnodes: int) -> float:
    """Standard deviation of n × (each server's share of the key space) on the core's
    ring with ``vnodes`` points per server (1 would be perfectly even)."""
    backends = [Backend(f"s{i + 1}") for i in range(servers)]
    ring = build_ring(backends, vnodes)
    share = [0] * servers
    previous = ring.points[-1] - RING  # the arc that wraps around to the first point
    for point, owner in zip(ring.points, ring.owners, strict=True):
        share[owner] += point - previous
        previous = point
    return statistics.pstdev([s * servers / RING for s in share])


Kind = Literal["mm1", "supermarket", "ring"]


@dataclass(frozen=True)
class Case:
    """One published figure to reproduce."""

    kind: Kind
    #: Load λ (mm1, supermarket) or virtual nodes k (ring).
    x: float
    d: int = 1
    servers: int = 1000
    requests: int = 1_000_000
    warmup: float = 0.1
    #: Largest relative error that still agrees.
    tolerance: float = 0.03
    seed: int = 1

    @property
    def label(self) -> str:
        if self.kind == "mm1":
            return f"random → M/M/1, λ={self.x:g}"
        if self.kind == "supermarket":
            return f"power of d={self.d} choices, λ={self.x:g}"
        return f"ring hash, k={self.x:g} vnodes"


@dataclass(frozen=True)
class Row:
    """A line of the theory table."""

    case: Case
    simulated: float
    theory: float
    #: Wall-clock seconds the measurement took.
    seconds: float

    @property
    def error(self) -> float:
        return self.simulated / self.theory - 1.0

    @property
    def ok(self) -> bool:
        return abs(self.error) <= self.case.tolerance


def _mm1(load: float, requests: int) -> Case:
    # n = 10 servers: random routing makes each an independent M/M/1 queue, so fewer
    # servers give each a longer stretch of time; at λ = 0.9 the queue forgets its
    # start only after hundreds of service times and its mean converges slowly.
    return Case("mm1", load, servers=10, requests=requests, warmup=0.05, tolerance=0.02)


def _choices(load: float, d: int, requests: int = 1_000_000) -> Case:
    return Case("supermarket", load, d=d, requests=requests, warmup=0.2, tolerance=0.03)


def _ring(vnodes: int) -> Case:
    return Case("ring", vnodes, servers=1000, requests=0, tolerance=0.10)


#: The full grid of issue 16.
CASES: tuple[Case, ...] = (
    _mm1(0.5, 1_000_000),
    _mm1(0.7, 2_000_000),
    _mm1(0.9, 10_000_000),
    *(_choices(load, d) for d in (2, 3) for load in (0.5, 0.7, 0.8, 0.9)),
    *(_ring(k) for k in (10, 100, 1000)),
)
#: What a plain ``pytest`` checks (a few seconds): one of each kind.
QUICK: tuple[Case, ...] = (_mm1(0.5, 1_000_000), _choices(0.9, 2), _ring(100))


def measure(case: Case) -> Row:
    """Run ``case`` and compare it with its theory."""
    started = time.perf_counter()
    if case.kind == "ring":
        simulated = ring_spread(case.servers, int(case.x))
        theory = 1.0 / math.sqrt(case.x)
    else:
        algorithm = "random" if case.kind == "mm1" else "power_of_two_choices"
        config = SimConfig(
            servers=case.servers,
            load=case.x,
            algorithms=(algorithm,),
            options={"choices": case.d} if case.kind == "supermarket" else {},
            requests=case.requests,
            warmup=case.warmup,
            seed=case.seed,
        )
        simulated = simulate(config, algorithm).latency.mean
        theory = mm1(case.x) if case.kind == "mm1" else supermarket(case.x, case.d)
    return Row(case, simulated, theory, time.perf_counter() - started)


def expected_mean(config: SimConfig, algorithm: str) -> float | None:
    """The mean time in system theory gives for ``algorithm`` under ``config`` (as
    n → ∞), or None when no formula above applies: it needs one balancer with a live
    view, Poisson arrivals, exponential service, equal single-lane FIFO servers and
    no outages, queue limit or slow server; then random is M/M/1 and the power of d
    choices is T_d(λ)."""
    plain = (
        config.balancers == 1
        and config.arrivals.kind == "poisson"
        and config.service.kind == "exp"
        and config.discipline == "fifo"
        and config.concurrency == 1
        and not config.outages
        and not config.queue_limit
        and config.slow == 1
        and all(s == config.speeds[0] for s in config.speeds)
        and config.load < 1
    )
    if not plain:
        return None
    if algorithm == "random":
        return mm1(config.load) * config.service.mean
    if algorithm == "power_of_two_choices":
        d = int(config.options_for(algorithm).get("choices", 2))
        return supermarket(config.load, d) * config.service.mean
    return None
