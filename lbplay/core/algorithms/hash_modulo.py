"""Modulo hashing: hash(key) % N. The naive scheme, kept on purpose to show its flaw.

Invariant: the same key goes to the same backend while the fleet does not change.
But the backend depends on N: add or remove one backend and almost every key moves
(with 10 backends, removing one moves about 90% of keys). Caches behind it go cold
all at once. Compare ring_hash, maglev, rendezvous and jump_hash, which move ~1/N.

Worked example: ``hash64("user42") % 3`` picks among a, b, c; with weights the
remainder is taken modulo the total weight and mapped onto weight spans (nginx's
walk over the peer list): weights a=2, b=1 send remainders 0-1 to a and 2 to b.

Real balancers: nginx ``hash $key`` without ``consistent``; HAProxy ``hash-type
map-based`` (the default for ``balance source``, ``uri``, ``hdr``); the AWS NLB's
flow hash works per flow in the same spirit.

A retry (``avoid``) re-hashes the key with the attempt number, as nginx does, up to
20 times, then takes the next allowed backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.hashing import hash64
from lbplay.core.picker import BasePicker, Pick, PickContext
from lbplay.core.registry import AlgorithmInfo
from lbplay.core.weighted import WeightedIndex

MAX_REHASH = 20


class HashModulo(BasePicker):
    """``hash64(key) % total_weight`` mapped onto weight spans."""

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        self._index = WeightedIndex(self.backends)

    def pick(self, ctx: PickContext) -> Pick:
        key = ctx.key()
        total = self._index.total
        h = hash64(key)
        backend = self.backends[self._index.find(h % total)]
        attempt = 0
        if ctx.avoid and backend.name in ctx.avoid:
            for attempt in range(1, MAX_REHASH + 1):
                h = hash64(f"{attempt}{key}")
                backend = self.backends[self._index.find(h % total)]
                if backend.name not in ctx.avoid:
                    break
            else:
                backend = self.first_allowed(self.backends, ctx.avoid)
        return Pick(backend, _explain, (backend.name, key, h, total, attempt))


def _explain(name: str, key: str, h: int, total: int, attempt: int) -> str:
    again = f" (re-hashed {attempt}×: earlier choices were avoided)" if attempt else ""
    return f"{name}: hash({key!r}) % {total} = {h % total}{again}"


INFO = AlgorithmInfo(
    name="hash_modulo",
    family="hashing",
    idea="hash(key) % N; sticky per key, but changing N moves almost every key",
    factory=HashModulo,
    nginx="hash $key",
    haproxy="hash-type map-based",
    aws="NLB flow hash (5-tuple)",
    uses_key=True,
    uses_weights=True,
)
