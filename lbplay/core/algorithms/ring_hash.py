"""Ring hash (consistent hashing, ketama style) with virtual nodes.

Each backend owns ``vnodes × weight`` points on a 64-bit ring at
``hash64("<name>-<i>")``; a key goes to the owner of the first point clockwise from
``hash64(key)``.

Invariants: removing one of n backends moves only the keys it owned (about 1/n);
adding it back restores the original mapping exactly, because points depend only on
names. Balance depends on the number of points: a backend's share varies with a
standard deviation of about 1/sqrt(vnodes) — 100 points per backend ≈ 10%,
1,000 ≈ 3%. Consistent hashing is not balanced by itself.

Worked example: with a, b, c and 160 points each, ``user42`` hashes to some 64-bit
value h; the next point after h might be ``b-97``, so b serves user42 until b goes
away, when the next point after that (say ``a-12``) takes over.

Real balancers: nginx ``hash $key consistent`` (ketama, 160 points per unit of
weight); HAProxy ``hash-type consistent``; Envoy ``RING_HASH`` (minimum ring 1024
entries); memcached clients (ketama). Not in the AWS ALB.

A retry (``avoid``) walks on clockwise to the next allowed backend, as Envoy does.
"""

from __future__ import annotations

from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.hashing import hash64
from lbplay.core.picker import BasePicker, Pick, PickContext, PickerEnv
from lbplay.core.registry import AlgorithmInfo, Option
from lbplay.core.ring import build_ring
from lbplay.errors import ConfigError


class RingHash(BasePicker):
    """Owner of the first ring point clockwise from the key's hash."""

    def __init__(self, backends: Sequence[Backend], env: PickerEnv) -> None:
        self.vnodes = int(env.options["vnodes"])
        if not 1 <= self.vnodes <= 10_000:
            raise ConfigError(f"vnodes must be from 1 to 10000, not {self.vnodes}")
        super().__init__(backends, env)

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        self.ring = build_ring(self.backends, self.vnodes)

    def pick(self, ctx: PickContext) -> Pick:
        key = ctx.key()
        h = hash64(key)
        position = self.ring.locate(h)
        index = self.ring.owners[position]
        skipped = 0
        if ctx.avoid and self.backends[index].name in ctx.avoid:
            for candidate in self.ring.walk(position):
                if self.backends[candidate].name not in ctx.avoid:
                    index = candidate
                    break
                skipped += 1
        return Pick(self.backends[index], _explain, (self.backends[index].name, key, h, skipped))


def _explain(name: str, key: str, h: int, skipped: int) -> str:
    walk = f", walking past {skipped} avoided backend(s)" if skipped else ""
    return f"{name}: {key!r} hashes to {h:#018x}; next point clockwise is {name}'s{walk}"


INFO = AlgorithmInfo(
    name="ring_hash",
    family="consistent hashing",
    idea="next point clockwise on a ring of virtual nodes; removing 1 of N moves ~1/N keys",
    factory=RingHash,
    nginx="hash $key consistent",
    haproxy="hash-type consistent",
    envoy="RING_HASH",
    uses_key=True,
    uses_weights=True,
    options={"vnodes": Option(160, "ring points per unit of weight (nginx ketama: 160)")},
)
