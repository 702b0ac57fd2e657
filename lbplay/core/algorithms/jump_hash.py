"""Jump consistent hash (Lamping & Veach, 2014): no ring, no memory, O(log n) time.

The key's 64-bit hash seeds a linear congruential generator that "jumps" forward
through bucket numbers; the last bucket below n is the answer. Buckets are the
eligible backends in order, 0..n-1.

Invariant: growing from n to n+1 buckets moves exactly the keys that land in the new
last bucket (about 1/(n+1)), and shrinking from n to n-1 moves only the keys of the
last bucket. Jump hash can only grow or shrink *at the end*: removing a backend in
the middle renumbers every backend after it, so their keys move too — with 10
backends, removing the 5th moves about half of all keys, not a tenth. It suits
sharded storage (shards are numbered and only appended); it suits a fleet of servers
that fail in any order poorly. Weights are ignored.

Worked example: with 3 buckets a, b, c, ``user42`` might land in bucket 1 (b); with
a 4th backend d, it stays in b or jumps to d, never to a or c.

Real balancers: none of nginx, HAProxy, Envoy or the AWS ALB; used by libraries
(Guava's ``Hashing.consistentHash``) and sharded stores.

A retry (``avoid``) re-hashes the key with the attempt number, then takes the first
allowed backend.
"""

from __future__ import annotations

from lbplay.core.hashing import MASK64, hash64
from lbplay.core.picker import BasePicker, Pick, PickContext
from lbplay.core.registry import AlgorithmInfo

MAX_REHASH = 20


def jump(key: int, buckets: int) -> int:
    """Lamping & Veach's jump consistent hash of a 64-bit ``key`` into ``buckets``."""
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * 2862933555777866757 + 1) & MASK64
        j = int((b + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return b


class JumpHash(BasePicker):
    """Bucket ``jump(hash64(key), n)`` of the eligible backends in order."""

    def pick(self, ctx: PickContext) -> Pick:
        key = ctx.key()
        n = len(self.backends)
        bucket = jump(hash64(key), n)
        backend = self.backends[bucket]
        attempt = 0
        if ctx.avoid and backend.name in ctx.avoid:
            for attempt in range(1, MAX_REHASH + 1):
                bucket = jump(hash64(f"{attempt}{key}"), n)
                backend = self.backends[bucket]
                if backend.name not in ctx.avoid:
                    break
            else:
                backend = self.first_allowed(self.backends, ctx.avoid)
                bucket = self.backends.index(backend)
        return Pick(backend, _explain, (backend.name, key, bucket, n, attempt))


def _explain(name: str, key: str, bucket: int, n: int, attempt: int) -> str:
    again = f" (re-hashed {attempt}×: earlier choices were avoided)" if attempt else ""
    return f"{name}: jump hash of {key!r} into {n} buckets = bucket {bucket}{again}"


INFO = AlgorithmInfo(
    name="jump_hash",
    family="consistent hashing",
    idea="jump consistent hash into buckets 0..N-1; ~1/N moves, but only at the end",
    factory=JumpHash,
    nginx="—",
    haproxy="—",
    envoy="—",
    aws="— (Guava, sharded stores)",
    uses_key=True,
    fleet_note=(
        "jump hash numbers backends 0..N-1 and can only grow or shrink at the end:"
        " removing any backend but the last renumbers the ones after it, so their keys"
        " move too"
    ),
)
