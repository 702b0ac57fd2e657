"""Maglev hashing (Google, NSDI 2016): a lookup table filled from per-backend
permutations, as Envoy's ``MAGLEV`` policy builds it.

Each backend walks its own permutation of the table's M slots (``offset`` and
``skip`` from two hashes of its name) and, taking turns in proportion to weight,
claims the next free slot on its walk until the table is full. A key goes to
``table[hash64(key) % M]``: one hash and one index, whatever the fleet size.

Invariants: every backend gets M/n slots, give or take one (weighted: in proportion
to weight), so balance is near perfect when n ≪ M; removing a backend moves its own
keys plus a few more — somewhat more than the minimal 1/n, the price of the balance.
M must be prime (so every skip visits every slot); the default 65537 is Envoy's.

Worked example: with M = 7 (too small for real use) and backends a, b, c the table
might be ``[b, a, c, a, b, c, a]``; ``user42`` hashing to 12 goes to slot 12 % 7 = 5,
so c.

Real balancers: Envoy ``MAGLEV`` (table 65537); Google's Maglev network balancer;
Katran, Cilium. Not in nginx, HAProxy or the AWS ALB.

A retry (``avoid``) looks at the following slots until it meets an allowed backend.
Filling 65,537 slots takes a moment in Python, so the last few tables are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from xxhash import xxh3_64_intdigest

from lbplay.core.backends import Backend
from lbplay.core.hashing import hash64
from lbplay.core.picker import BasePicker, Pick, PickContext, PickerEnv
from lbplay.core.registry import AlgorithmInfo, Option
from lbplay.errors import ConfigError


def is_prime(n: int) -> bool:
    """Trial division; table sizes are at most a few million."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


@lru_cache(maxsize=8)
def build_table(spec: tuple[tuple[str, int], ...], size: int) -> list[int]:
    """Envoy's weighted Maglev population: ``table[slot]`` is a backend index."""
    n = len(spec)
    table = [-1] * size
    position = [hash64(name) % size for name, _ in spec]
    skip = [hash64(f"{name}#skip") % (size - 1) + 1 for name, _ in spec]
    weights = [w for _, w in spec]
    top = max(weights)
    target = [0] * n
    filled = 0
    iteration = 0
    while filled < size:
        iteration += 1
        for i in range(n):
            # A backend of the top weight fills a slot every round; one of a third of
            # it, every third round (Envoy's target_weight rule).
            if iteration * weights[i] < target[i]:
                continue
            target[i] += top
            c = position[i]
            while table[c] >= 0:
                c += skip[i]
                if c >= size:
                    c -= size
            table[c] = i
            c += skip[i]
            position[i] = c - size if c >= size else c
            filled += 1
            if filled == size:
                break
    return table


class Maglev(BasePicker):
    """``table[hash64(key) % M]`` over the eligible backends."""

    def __init__(self, backends: Sequence[Backend], env: PickerEnv) -> None:
        self.size = int(env.options["table_size"])
        if not is_prime(self.size) or self.size > 10_000_019:
            raise ConfigError(
                f"maglev table_size must be a prime up to 10000019, not {self.size}"
                " (try 65537, 131071 or 655373)"
            )
        super().__init__(backends, env)

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        if len(self.backends) > self.size:
            raise ConfigError(
                f"maglev table_size {self.size} is smaller than {len(self.backends)} backends"
            )
        self.table = build_table(tuple((b.name, b.weight) for b in self.backends), self.size)
        # The same table holding the backends themselves: one lookup per pick.
        self._owners = [self.backends[i] for i in self.table]

    def pick(self, ctx: PickContext) -> Pick:
        key = ctx.hash_key
        if key is None:
            key = ctx.key()
        slot = xxh3_64_intdigest(key.encode()) % self.size  # == hash64(key) % size, inlined
        backend = self._owners[slot]
        probes = 0
        if ctx.avoid and backend.name in ctx.avoid:
            for probes in range(1, self.size):
                candidate = self.backends[self.table[(slot + probes) % self.size]]
                if candidate.name not in ctx.avoid:
                    backend = candidate
                    break
        return Pick(backend, _explain, (backend.name, key, slot, self.size, probes))


def _explain(name: str, key: str, slot: int, size: int, probes: int) -> str:
    moved = f", {probes} slot(s) on past avoided backends" if probes else ""
    return f"{name}: hash({key!r}) % {size} = slot {slot}, which belongs to {name}{moved}"


INFO = AlgorithmInfo(
    name="maglev",
    family="consistent hashing",
    idea="lookup table filled from per-backend permutations; even spread, O(1) lookups",
    factory=Maglev,
    envoy="MAGLEV",
    aws="— (Google Maglev, Katran)",
    uses_key=True,
    uses_weights=True,
    options={"table_size": Option(65537, "lookup table size M, a prime (Envoy: 65537)")},
)
