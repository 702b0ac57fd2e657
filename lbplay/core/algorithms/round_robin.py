"""Round robin: each eligible backend in turn, ignoring weights.

Invariant: over any n consecutive picks from n backends, each backend is picked
exactly once (while the fleet does not change).

Worked example: backends a, b, c give ``a b c a b c ...``. If b is avoided (a retry
after b failed), the turn that would have gone to b goes to the next one, c.

Real balancers: nginx's default with all weights 1; HAProxy ``balance roundrobin``
(dynamic) or ``static-rr``; Envoy ``ROUND_ROBIN``; AWS ALB ``round_robin`` (default).

Round robin equalises request *counts*, not load: a slow request and a fast one
count the same. Picks are precomputed, so a pick is an index and an increment.
"""

from __future__ import annotations

from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.picker import BasePicker, Pick, PickContext, PickerEnv
from lbplay.core.registry import AlgorithmInfo


class RoundRobin(BasePicker):
    """Cycles through the eligible backends in order."""

    def __init__(self, backends: Sequence[Backend], env: PickerEnv) -> None:
        self._next = 0
        self._picks: list[Pick] = []
        super().__init__(backends, env)

    def update(self, backends: Sequence[Backend]) -> None:
        # Keep the turn of the backend that was next, if it is still there.
        upcoming = self.backends[self._next].name if self._picks else None
        self.backends = list(backends)
        n = len(self.backends)
        self._picks = [
            Pick(b, f"{b.name}: next in rotation ({i + 1} of {n})")
            for i, b in enumerate(self.backends)
        ]
        names = [b.name for b in self.backends]
        self._next = names.index(upcoming) if upcoming in names else 0

    def pick(self, ctx: PickContext) -> Pick:
        i = self._next
        picks = self._picks
        n = len(picks)
        if ctx.avoid:
            for step in range(n):
                j = (i + step) % n
                if picks[j].backend.name not in ctx.avoid:
                    i = j
                    break
        self._next = i + 1 if i + 1 < n else 0
        return picks[i]


INFO = AlgorithmInfo(
    name="round_robin",
    family="rotation",
    idea="each backend in turn; equal request counts, blind to load and weight",
    factory=RoundRobin,
    nginx="(default, weight=1)",
    haproxy="roundrobin, static-rr",
    envoy="ROUND_ROBIN",
    aws="ALB round_robin (default)",
)
