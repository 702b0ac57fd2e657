"""Random: every eligible backend equally likely, independently on every pick.

Invariant: each of n backends is picked with probability 1/n; over 10,000 seeded
picks each share is within a few percent of 1/n (the tests check 10% relative).

Worked example: with a, b, c a run might go ``b a b c c a ...`` — no pattern, no
state, and no coordination needed between many balancers, which is why it is
popular in client-side load balancing.

Real balancers: nginx ``random``; HAProxy ``random(1)``; Envoy ``RANDOM``; the AWS
ALB offers only the weighted variant (``weighted_random``).

Randomness comes from the injected ``random.Random``, so a seed replays the run.
"""

from __future__ import annotations

from lbplay.core.picker import BasePicker, Pick, PickContext
from lbplay.core.registry import AlgorithmInfo


class Random(BasePicker):
    """Uniformly random choice."""

    def pick(self, ctx: PickContext) -> Pick:
        backends = self.backends
        n = len(backends)
        backend = backends[int(self.env.rng.random() * n)]
        if ctx.avoid and backend.name in ctx.avoid:
            allowed = [b for b in backends if b.name not in ctx.avoid]
            if allowed:
                backend = allowed[int(self.env.rng.random() * len(allowed))]
                n = len(allowed)
        return Pick(backend, _explain, (backend.name, n))


def _explain(name: str, n: int) -> str:
    return f"{name}: drawn at random, 1 of {n} (each {100 / n:.0f}%)"


INFO = AlgorithmInfo(
    name="random",
    uses_random=True,
    family="random",
    idea="uniformly at random; no state, no coordination, evens out only on average",
    factory=Random,
    nginx="random",
    haproxy="random(1)",
    envoy="RANDOM",
)
