"""Weighted random: a backend with weight w is picked with probability w / W.

Invariant: over 10,000 seeded picks each backend's share is within a few percent of
weight / total weight.

Worked example: weights a=5, b=1, c=1 -> a about 71%, b and c about 14% each, in no
particular order (unlike weighted_round_robin, a short run can be lopsided).

Real balancers: nginx ``random`` with ``weight=``; HAProxy ``random(1)`` with
weights; Envoy ``RANDOM`` with weights; AWS ALB ``weighted_random`` (which also
lowers the weight of anomalous targets — anomaly mitigation — not modelled here).
"""

from __future__ import annotations

from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.picker import BasePicker, Pick, PickContext
from lbplay.core.registry import AlgorithmInfo
from lbplay.core.weighted import WeightedIndex


class WeightedRandom(BasePicker):
    """Random choice in proportion to weight (binary search over running totals)."""

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        self._index = WeightedIndex(self.backends)

    def pick(self, ctx: PickContext) -> Pick:
        index = self._index
        backend = self.backends[index.find(self.env.rng.random() * index.total)]
        if ctx.avoid and backend.name in ctx.avoid:
            allowed = [b for b in self.backends if b.name not in ctx.avoid]
            if allowed:
                sub = WeightedIndex(allowed)
                backend = allowed[sub.find(self.env.rng.random() * sub.total)]
                return Pick(backend, _explain, (backend.name, backend.weight, sub.total))
        return Pick(backend, _explain, (backend.name, backend.weight, index.total))


def _explain(name: str, weight: int, total: int) -> str:
    return f"{name}: drawn at random with chance {weight}/{total} ({100 * weight / total:.0f}%)"


INFO = AlgorithmInfo(
    name="weighted_random",
    uses_random=True,
    family="random",
    idea="at random in proportion to weight; right on average, lumpy in the short run",
    factory=WeightedRandom,
    nginx="random + weight=",
    haproxy="random(1) + weight",
    envoy="RANDOM + weights",
    aws="ALB weighted_random",
    uses_weights=True,
)
