"""Power of two choices: draw d backends at random, send to the least loaded of them.

Invariant: the chosen backend has the fewest requests in flight among the d drawn
(the first drawn wins a tie). Draws are independent, with replacement, as in Envoy,
so with only two backends the busier one is still picked 25% of the time (both
draws land on it).

Worked example: in flight a=5, b=3, c=8, d=2; draws (c, a) -> a with 5, although b
has fewer: the algorithm never looks at b this time. That is the point: two random
looks are almost as good as looking at everything (Mitzenmacher's supermarket
model), without a global view, and many balancers using it do not herd onto one
"least" backend the way least_connections does.

Real balancers: nginx ``random two least_conn``; HAProxy ``random(2)`` (the default
algorithm since 3.3); Envoy ``LEAST_REQUEST`` (``choice_count`` 2); Linkerd and
Finagle (with peak EWMA). Weights make the draws weighted.

``choices`` (d) is configurable: 1 is plain random, a large d approaches
least_connections.
"""

from __future__ import annotations

from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.picker import BasePicker, Pick, PickContext, PickerEnv
from lbplay.core.registry import AlgorithmInfo, Option
from lbplay.core.weighted import WeightedIndex
from lbplay.errors import ConfigError


class PowerOfTwoChoices(BasePicker):
    """Least in flight among ``choices`` weighted random draws."""

    def __init__(self, backends: Sequence[Backend], env: PickerEnv) -> None:
        self.choices = int(env.options["choices"])
        if not 1 <= self.choices <= 100:
            raise ConfigError(f"choices must be from 1 to 100, not {self.choices}")
        super().__init__(backends, env)

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        self._index = WeightedIndex(self.backends)
        # With every weight 1 the cumulative bounds are 1, 2, ..., n, so the binary
        # search for a point x in [0, n) always lands on int(x): the same draw, found
        # without the search.
        self._unit = all(b.weight == 1 for b in self.backends)

    def pick(self, ctx: PickContext) -> Pick:
        if self.choices == 2 and self._unit and not ctx.avoid:
            return self._pick_two()
        backends = self.backends
        index = self._index
        rnd = self.env.rng.random
        total = index.total
        if ctx.avoid:
            backends = [b for b in backends if b.name not in ctx.avoid] or backends
            index = WeightedIndex(backends)
            total = index.total
        drawn = [backends[index.find(rnd() * total)] for _ in range(self.choices)]
        best = drawn[0]
        for backend in drawn[1:]:
            if backend.stats.in_flight < best.stats.in_flight:
                best = backend
        loads = tuple((b.name, b.stats.in_flight) for b in drawn)
        return Pick(best, _explain, (best.name, loads))

    def _pick_two(self) -> Pick:
        """The common case (d = 2, equal weights, nothing avoided), without lists or
        generators: the same two draws and the same choice as ``pick``'s general path,
        at less than half its cost (the simulator makes millions of these)."""
        backends = self.backends
        rnd = self.env.rng.random
        total = len(backends)
        first = backends[int(rnd() * total)]
        second = backends[int(rnd() * total)]
        load1 = first.stats.in_flight
        load2 = second.stats.in_flight
        best = second if load2 < load1 else first
        return Pick(best, _explain_two, (best.name, first.name, load1, second.name, load2))


def _explain(name: str, loads: tuple[tuple[str, int], ...]) -> str:
    drawn = " ".join(f"{n}={c}" for n, c in loads)
    return f"{name}: fewest in flight of {len(loads)} random draws ({drawn})"


def _explain_two(name: str, first: str, load1: int, second: str, load2: int) -> str:
    return _explain(name, ((first, load1), (second, load2)))


INFO = AlgorithmInfo(
    name="power_of_two_choices",
    uses_random=True,
    family="load-aware",
    idea="draw 2 at random, take the less loaded; nearly as good as least_conn, no herding",
    factory=PowerOfTwoChoices,
    nginx="random two least_conn",
    haproxy="random(2) (default since 3.3)",
    envoy="LEAST_REQUEST (choice_count 2)",
    uses_load=True,
    uses_weights=True,
    options={"choices": Option(2, "how many backends to draw (d)")},
)
