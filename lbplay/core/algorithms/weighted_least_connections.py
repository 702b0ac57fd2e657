"""Weighted least connections: the lowest in-flight / weight.

Invariant: for the chosen backend c and every eligible backend x,
``in_flight(c) * weight(x) <= in_flight(x) * weight(c)`` — the ratio compared by
cross-multiplication, so there is no floating-point rounding.

Worked example: a (weight 3) has 4 in flight, b (weight 1) has 2: 4/3 < 2/1, so a,
although it has more requests. Ties are broken by smooth weighted round robin, as
nginx does, so with nothing in flight weights 5, 1, 1 pick like a a b a c a a
(give or take the order within one round).

Real balancers: nginx ``least_conn`` (always weighted, ties by weighted round robin);
HAProxy ``leastconn`` with weights; Envoy ``LEAST_REQUEST`` with weights.

Shares its bucket structure with least_connections: one set of buckets per distinct
weight, so a pick scans the distinct weights, never the whole fleet.
"""

from __future__ import annotations

from lbplay.core.algorithms.least_connections import LeastConnections
from lbplay.core.registry import AlgorithmInfo


class WeightedLeastConnections(LeastConnections):
    """Least in flight per unit of weight."""

    weighted = True


INFO = AlgorithmInfo(
    name="weighted_least_connections",
    family="load-aware",
    idea="lowest in-flight / weight, so a backend twice as big carries twice the requests",
    factory=WeightedLeastConnections,
    nginx="least_conn + weight=",
    haproxy="leastconn + weight",
    envoy="LEAST_REQUEST + weights",
    uses_load=True,
    uses_weights=True,
)
