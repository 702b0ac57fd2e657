"""Consistent hashing with bounded loads (Mirrokni, Thorup & Zadimoghaddam, 2018).

Like ring_hash, but a backend may hold at most ``ceil(factor × (T + 1) × w / W)``
requests in flight, where T is the fleet's total in flight, w its weight and W the
total weight (with equal weights: ``ceil(factor × mean load)`` counting the new
request). A key walks clockwise past full backends to the first one with room.

Invariants: no backend ever exceeds its bound — so a hot key cannot melt one server —
and while nobody is full the mapping is exactly ring_hash's (removing 1 of n moves
about 1/n of keys). With factor 1.25 no backend carries more than 25% above the mean.

Worked example: factor 1.25, backends a, b, c with 4, 1, 1 in flight (T = 6): the
bound is ceil(1.25 × 7 / 3) = 3. A key whose point belongs to a goes on clockwise:
a is full (4 ≥ 3), the next backend, c, has 1 < 3 -> c.

Real balancers: HAProxy ``hash-balance-factor`` (150 means 1.5× the mean); Envoy
``hash_balance_factor`` on ring hash and Maglev; Vimeo's and Google's deployments.
Not in nginx or the AWS ALB.

A retry (``avoid``) walks on past avoided backends too; if every untried backend is
full, the least loaded untried one takes it anyway — never back to a failed one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.hashing import hash64
from lbplay.core.picker import BasePicker, Pick, PickContext, PickerEnv
from lbplay.core.registry import AlgorithmInfo, Option
from lbplay.core.ring import build_ring
from lbplay.errors import ConfigError


class BoundedLoad(BasePicker):
    """First backend clockwise on the ring whose load is under its bound."""

    tracks_load = True

    def __init__(self, backends: Sequence[Backend], env: PickerEnv) -> None:
        self.factor = float(env.options["balance_factor"])
        self.vnodes = int(env.options["vnodes"])
        if not 1.0 <= self.factor <= 100.0:
            raise ConfigError(f"balance_factor must be from 1.0 to 100, not {self.factor}")
        if not 1 <= self.vnodes <= 10_000:
            raise ConfigError(f"vnodes must be from 1 to 10000, not {self.vnodes}")
        super().__init__(backends, env)

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        self.ring = build_ring(self.backends, self.vnodes)
        self.total_weight = sum(b.weight for b in self.backends)
        self._members = set(self.backends)
        self.total_load = sum(b.stats.in_flight for b in self.backends)

    def bound(self, backend: Backend) -> int:
        """Most requests ``backend`` may hold once the next one is placed."""
        share = (self.total_load + 1) * backend.weight / self.total_weight
        # Round before ceil so 1.25 * 4.0 does not become 5.000000000000001 -> 6.
        return math.ceil(round(self.factor * share, 9))

    def pick(self, ctx: PickContext) -> Pick:
        key = ctx.key()
        position = self.ring.locate(hash64(key))
        home = self.ring.owners[position]
        backends = self.backends
        full: list[tuple[str, int, int]] = []
        chosen = -1
        for index in self.ring.walk(position):
            backend = backends[index]
            if ctx.avoid and backend.name in ctx.avoid:
                continue
            cap = self.bound(backend)
            if backend.stats.in_flight + 1 <= cap:
                chosen = index
                break
            full.append((backend.name, backend.stats.in_flight, cap))
        if chosen < 0:
            if not ctx.avoid:  # cannot happen: the bounds add up to more than the load
                raise AssertionError("bounded_load found no backend under its bound")
            allowed = [i for i in self.ring.walk(position) if backends[i].name not in ctx.avoid]
            if not allowed:  # everything avoided: ignore avoid, keep the bound
                return self.pick(PickContext(ctx.client_ip, ctx.hash_key))
            # A retry must not go back to a failed backend: the least-loaded untried one
            # takes it, even over its bound.
            chosen = min(allowed, key=lambda i: backends[i].stats.in_flight / backends[i].weight)
        backend = backends[chosen]
        args = (
            backend.name,
            key,
            backends[home].name,
            tuple(full),
            backend.stats.in_flight,
            self.bound(backend),
            self.factor,
        )
        return Pick(backend, _explain, args)

    def on_begin(self, backend: Backend) -> None:
        if backend in self._members:
            self.total_load += 1

    def on_end(self, backend: Backend, latency: float, ok: bool) -> None:
        if backend in self._members and self.total_load > 0:
            self.total_load -= 1


def _explain(
    name: str,
    key: str,
    home: str,
    full: tuple[tuple[str, int, int], ...],
    load: int,
    cap: int,
    factor: float,
) -> str:
    if not full and name == home:
        return f"{name}: {key!r} hashes to {name}, which has room ({load} in flight, bound {cap})"
    passed = ", ".join(f"{n} full ({c} ≥ bound {b})" for n, c, b in full)
    passed = passed or f"{home} avoided"
    return (
        f"{name}: {key!r} hashes to {home}; walked past {passed};"
        f" {name} has {load} in flight < bound {cap} (factor {factor:g})"
    )


INFO = AlgorithmInfo(
    name="bounded_load",
    family="consistent hashing",
    idea="ring hash, but a backend over factor × mean load passes the key on clockwise",
    factory=BoundedLoad,
    haproxy="hash-balance-factor",
    envoy="hash_balance_factor",
    uses_key=True,
    uses_load=True,
    uses_weights=True,
    options={
        "balance_factor": Option(1.25, "bound as a multiple of the mean load (HAProxy 125)"),
        "vnodes": Option(160, "ring points per unit of weight"),
    },
)
