"""Rendezvous hashing, or highest random weight (Thaler & Ravishankar, 1996).

Every backend scores the key — ``XXH3-64(key, seed = XXH3-64(name))`` — and the
highest score wins. Weighted: the score becomes ``-w / ln(u)`` with u the hash
scaled into (0, 1), which picks each backend with probability weight / total.

Invariants: removing a backend moves only the keys it won (exactly 1/n in
expectation) and each moves to its second-highest scorer; adding it back restores
the original mapping. Balance is as good as the hash, with no virtual nodes. The
cost: every pick scores every backend, O(n) — fine for tens of backends, the one
algorithm here whose pick grows with the fleet.

Worked example: scores for ``user42``: a=0x91…, b=0xe3…, c=0x2f… -> b. If b goes,
a (the next highest) takes user42; keys of a and c do not move.

Real balancers: not in nginx, HAProxy, Envoy or the AWS ALB; used in CDNs, caches
(Microsoft's CARP), Apache Ignite, Twitter's EventBus, Guava-style client libraries.

A retry (``avoid``) takes the highest-scoring allowed backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xxhash import xxh3_64_intdigest

from lbplay.core.backends import Backend
from lbplay.core.hashing import hash64
from lbplay.core.picker import BasePicker, Pick, PickContext
from lbplay.core.registry import AlgorithmInfo

TWO64 = float(1 << 64)


class Rendezvous(BasePicker):
    """Highest score of (key, backend)."""

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        self._seeds = [hash64(b.name) for b in self.backends]
        self._weighted = len({b.weight for b in self.backends}) > 1

    def score(self, index: int, key_bytes: bytes) -> float:
        """Backend ``index``'s score for the key (higher wins)."""
        h = xxh3_64_intdigest(key_bytes, seed=self._seeds[index])
        if not self._weighted:
            return float(h)
        return -self.backends[index].weight / math.log((h + 0.5) / TWO64)

    def pick(self, ctx: PickContext) -> Pick:
        key = ctx.key()
        data = key.encode("utf-8")
        best = -1
        best_score = -math.inf
        skipped = 0
        for index, backend in enumerate(self.backends):
            if ctx.avoid and backend.name in ctx.avoid:
                skipped += 1
                continue
            s = self.score(index, data)
            if s > best_score:
                best, best_score = index, s
        if best < 0:
            return self.pick(PickContext(ctx.client_ip, ctx.hash_key))
        name = self.backends[best].name
        return Pick(self.backends[best], _explain, (name, key, len(self.backends), skipped))


def _explain(name: str, key: str, n: int, skipped: int) -> str:
    avoided = f" ({skipped} avoided)" if skipped else ""
    return f"{name}: highest score for {key!r} among {n} backends{avoided}"


INFO = AlgorithmInfo(
    name="rendezvous",
    family="consistent hashing",
    idea="every backend scores the key, highest wins; minimal movement, O(N) per pick",
    factory=Rendezvous,
    aws="— (CDNs, CARP, client libraries)",
    uses_key=True,
    uses_weights=True,
)
