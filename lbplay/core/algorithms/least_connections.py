"""Least connections: the backend with the fewest requests in flight.

Invariant: the chosen backend's in-flight count is the minimum over the eligible
backends; among equals the choice rotates (nginx breaks ties by round robin).

Worked example: in flight a=5, b=3, c=8 -> b. With a=0, b=0, c=0 and no request
finishing, picks go a, b, c, a, ... exactly like round robin.

Real balancers: nginx ``least_conn`` (weighted there — see weighted_least_connections);
HAProxy ``leastconn`` (which also counts queued requests); Envoy ``LEAST_REQUEST``
when it scans all hosts; AWS ALB ``least_outstanding_requests``.

Pitfalls it teaches: a backend that fails fast has the fewest connections and draws
all the traffic; a recovered backend starts at zero and is flooded (slow start fixes
that); many independent balancers herd onto the same "least" backend.

How it stays fast: backends sit in buckets by in-flight count, each bucket an ordered
dict used as a queue, plus the smallest non-empty count. A pick takes the front of the
smallest bucket and moves it to the back (the round-robin tie-break); a request
starting or ending moves one backend between neighbouring buckets. Nothing scans the
fleet, so a pick costs the same with 10 backends or 1,000. ``weighted=True`` keeps
one set of buckets per distinct weight and compares the groups' minima.
"""

from __future__ import annotations

from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.picker import SHOW_ALL, BasePicker, Pick, PickContext, PickerEnv
from lbplay.core.registry import AlgorithmInfo


class _Tier:
    """Backends of one weight, bucketed by in-flight count."""

    __slots__ = ("weight", "buckets", "low", "current")

    def __init__(self, weight: int) -> None:
        self.weight = weight
        #: Smooth-WRR current weight, used only to break ties between tiers.
        self.current = 0
        self.buckets: dict[int, dict[int, None]] = {}
        self.low = 0

    def add(self, index: int, count: int) -> None:
        self.buckets.setdefault(count, {})[index] = None
        if len(self.buckets) == 1 or count < self.low:
            self.low = count

    def move(self, index: int, old: int, new: int) -> None:
        bucket = self.buckets[old]
        del bucket[index]
        if not bucket:
            del self.buckets[old]
        self.buckets.setdefault(new, {})[index] = None
        if new < self.low or (old == self.low and old not in self.buckets):
            self.low = new


class LeastConnections(BasePicker):
    """Fewest in flight (divided by weight when ``weighted``), ties round-robin."""

    tracks_load = True
    weighted = False

    def __init__(self, backends: Sequence[Backend], env: PickerEnv) -> None:
        self._position: dict[Backend, int] = {}
        super().__init__(backends, env)

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        self._position = {b: i for i, b in enumerate(self.backends)}
        self.counts = [b.stats.in_flight for b in self.backends]
        tiers: dict[int, _Tier] = {}
        self._tier_of: list[_Tier] = []
        for index, backend in enumerate(self.backends):
            weight = backend.weight if self.weighted else 1
            tier = tiers.setdefault(weight, _Tier(weight))
            tier.add(index, self.counts[index])
            self._tier_of.append(tier)
        # Heavier tiers first, so the first of several tied tiers is the heaviest.
        self._tiers = sorted(tiers.values(), key=lambda t: -t.weight)

    def pick(self, ctx: PickContext) -> Pick:
        if ctx.avoid:
            return self._pick_avoiding(ctx.avoid)
        tiers = self._tiers
        best = tiers[0]
        tied = False
        for tier in tiers[1:]:
            # tier.low / tier.weight against best.low / best.weight, without division.
            left, right = tier.low * best.weight, best.low * tier.weight
            if left < right:
                best, tied = tier, False
            elif left == right:
                tied = True
        if tied:
            best = self._break_tie(best)
        bucket = best.buckets[best.low]
        index = next(iter(bucket))
        ties = len(bucket)
        if ties > 1:
            del bucket[index]
            bucket[index] = None
        return self._pick(index, ties)

    def _break_tie(self, best: _Tier) -> _Tier:
        """Smooth weighted round robin among the tiers tied with ``best``, as nginx
        breaks least_conn ties by weighted round robin."""
        tied = [t for t in self._tiers if t.low * best.weight == best.low * t.weight]
        total = 0
        winner = tied[0]
        for tier in tied:
            share = tier.weight * len(tier.buckets[tier.low])
            tier.current += share
            total += share
            if tier.current > winner.current:
                winner = tier
        winner.current -= total
        return winner

    def _pick(self, index: int, ties: int) -> Pick:
        counts = self.counts
        snapshot = tuple(counts) if len(counts) <= SHOW_ALL else None
        return Pick(
            self.backends[index],
            _explain,
            (self.backends, index, counts[index], ties, snapshot, self.weighted),
        )

    def _pick_avoiding(self, avoid: frozenset[str]) -> Pick:
        best = -1
        for index, backend in enumerate(self.backends):
            if backend.name in avoid:
                continue
            if best < 0 or self._less(index, best):
                best = index
        if best < 0:
            return self.pick(PickContext())
        return self._pick(best, 1)

    def _less(self, i: int, j: int) -> bool:
        wi = self.backends[i].weight if self.weighted else 1
        wj = self.backends[j].weight if self.weighted else 1
        return self.counts[i] * wj < self.counts[j] * wi

    def on_begin(self, backend: Backend) -> None:
        index = self._position.get(backend)
        if index is not None:
            old = self.counts[index]
            self.counts[index] = old + 1
            self._tier_of[index].move(index, old, old + 1)

    def on_end(self, backend: Backend, latency: float, ok: bool) -> None:
        index = self._position.get(backend)
        if index is not None and self.counts[index] > 0:
            old = self.counts[index]
            self.counts[index] = old - 1
            self._tier_of[index].move(index, old, old - 1)


def _explain(
    backends: Sequence[Backend],
    index: int,
    count: int,
    ties: int,
    snapshot: tuple[int, ...] | None,
    weighted: bool,
) -> str:
    backend = backends[index]
    if weighted:
        own = f"{count} in flight / weight {backend.weight}"
        cells = [f"{b.name}={c}/{b.weight}" for b, c in zip(backends, snapshot or (), strict=False)]
        lowest = "lowest ratio"
    else:
        own = f"{count} in flight"
        cells = [f"{b.name}={c}" for b, c in zip(backends, snapshot or (), strict=False)]
        lowest = "fewest"
    among = f"of {' '.join(cells)}" if snapshot is not None else f"of {len(backends)} backends"
    tie = f"; tied with {ties - 1} other(s), taken in turn" if ties > 1 else ""
    return f"{backend.name}: {own}, {lowest} {among}{tie}"


INFO = AlgorithmInfo(
    name="least_connections",
    family="load-aware",
    idea="fewest requests in flight right now; ties in turn",
    factory=LeastConnections,
    nginx="least_conn",
    haproxy="leastconn",
    envoy="LEAST_REQUEST (full scan)",
    aws="ALB least_outstanding_requests",
    uses_load=True,
)
