"""Smooth weighted round robin, exactly as nginx does it.

nginx's rule: on every pick, each backend adds its weight to its *current weight*;
the backend with the largest current weight wins (the first one listed on a tie) and
subtracts the total weight. Over any W consecutive picks (W = sum of weights) each
backend is picked exactly ``weight`` times, and picks are spread out, not bursty.

Worked example, weights a=5, b=1, c=1 (total 7)::

    current after adding    winner   after subtracting 7
    a=5  b=1  c=1            a        a=-2 b=1 c=1
    a=3  b=2  c=2            a        a=-4 b=2 c=2
    a=1  b=3  c=3            b        a=1  b=-4 c=3
    a=6  b=-3 c=4            a        a=-1 b=-3 c=4
    a=4  b=-2 c=5            c        a=4  b=-2 c=-2
    a=9  b=-1 c=-1           a        a=2  b=-1 c=-1
    a=7  b=0  c=0            a        a=0  b=0  c=0   -> a a b a c a a, repeat

Real balancers: nginx's default upstream balancing (``weight=``); HAProxy
``roundrobin`` with weights; Envoy ``ROUND_ROBIN`` with weights (an EDF scheduler,
a different but also smooth order); not offered by the AWS ALB.

How it stays fast: after t picks a backend's current weight is ``t*w - W*k`` where k
is how often it won, so backends of equal weight are always served in list order.
Grouping backends by weight turns nginx's scan of every backend into a scan of the
distinct weights, with the same result. Differences from nginx, on purpose: nginx
lowers a failing peer's effective weight temporarily (health handles that here), and
a retry here advances the schedule past avoided backends instead of skipping them.
"""

from __future__ import annotations

from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.picker import SHOW_ALL, BasePicker, Pick, PickContext
from lbplay.core.registry import AlgorithmInfo


class _Group:
    """Backends sharing one weight; they win in list order, ``picks`` times so far."""

    __slots__ = ("weight", "members", "picks")

    def __init__(self, weight: int) -> None:
        self.weight = weight
        self.members: list[int] = []
        self.picks = 0


class SmoothWeightedRoundRobin(BasePicker):
    """nginx smooth WRR over the eligible backends."""

    def update(self, backends: Sequence[Backend]) -> None:
        # nginx resets current weights when the upstream changes; so do we.
        self.backends = list(backends)
        self.total = sum(b.weight for b in self.backends)
        self.rounds = 0
        groups: dict[int, _Group] = {}
        for index, backend in enumerate(self.backends):
            groups.setdefault(backend.weight, _Group(backend.weight)).members.append(index)
        self._groups = list(groups.values())

    def _step(self) -> Pick:
        t1 = self.rounds + 1
        total = self.total
        best: _Group | None = None
        best_value = 0
        best_index = 0
        for group in self._groups:
            count = len(group.members)
            index = group.members[group.picks % count]
            value = t1 * group.weight - total * (group.picks // count)
            if best is None or value > best_value or (value == best_value and index < best_index):
                best, best_value, best_index = group, value, index
        assert best is not None
        # The reason is formatted later, so capture the state it needs now.
        state = (
            self.backends,
            self._groups,
            total,
            self.rounds,
            tuple(g.picks for g in self._groups),
        )
        best.picks += 1
        self.rounds = t1
        return Pick(self.backends[best_index], _explain, (best_index, *state))

    def pick(self, ctx: PickContext) -> Pick:
        chosen = self._step()
        if ctx.avoid and chosen.backend.name in ctx.avoid:
            first = chosen
            for _ in range(self.total):
                chosen = self._step()
                if chosen.backend.name not in ctx.avoid:
                    return chosen
            return first
        return chosen


def current_weights(
    groups: Sequence[_Group], size: int, total: int, rounds: int, group_picks: Sequence[int]
) -> list[int]:
    """Every backend's current weight, after adding weights, at pick ``rounds + 1``."""
    current = [0] * size
    for group, picks in zip(groups, group_picks, strict=True):
        count = len(group.members)
        for position, index in enumerate(group.members):
            wins = picks // count + (1 if position < picks % count else 0)
            current[index] = (rounds + 1) * group.weight - total * wins
    return current


def _explain(
    index: int,
    backends: Sequence[Backend],
    groups: Sequence[_Group],
    total: int,
    rounds: int,
    group_picks: Sequence[int],
) -> str:
    name = backends[index].name
    current = current_weights(groups, len(backends), total, rounds, group_picks)
    if len(backends) <= SHOW_ALL:
        table = " ".join(f"{b.name}={c}" for b, c in zip(backends, current, strict=True))
        others = f"({table})"
    else:
        others = f"of {len(backends)} backends"
    return f"{name}: highest current weight {current[index]} {others}, then minus total {total}"


INFO = AlgorithmInfo(
    name="weighted_round_robin",
    family="rotation",
    idea="nginx's smooth WRR: weight w gets w of every W picks, interleaved, not in bursts",
    factory=SmoothWeightedRoundRobin,
    nginx="(default) weight=",
    haproxy="roundrobin + weight",
    envoy="ROUND_ROBIN + weights (EDF)",
    uses_weights=True,
)
