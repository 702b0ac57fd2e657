"""Least bandwidth: the backend moving the fewest bytes per second recently.

Invariant: the chosen backend has the lowest recent bytes/s (an exponentially
decaying rate with a 2 s time constant, the one in ``BackendStats``); backends with
equal rates — typically all idle at zero — take turns.

Worked example: a is streaming 4 MB/s of downloads, b 0.5 MB/s, c 1 MB/s -> b, even if
b has more requests in flight: the algorithm weighs bytes, not requests, which suits
servers that stream large files.

Real balancers: Citrix NetScaler ``LEASTBANDWIDTH`` (and ``LEASTPACKETS``); not in
nginx, HAProxy, Envoy or the AWS ALB.

How it stays fast: a rate that decays as exp(-t/tau) keeps its order with the
others, so each backend's heap key ln(rate) + t_set/tau only changes when bytes move
on that backend; a lazy heap finds the minimum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lbplay.core.backends import RATE_TAU, Backend
from lbplay.core.lazyheap import LazyMinHeap
from lbplay.core.picker import SHOW_ALL, BasePicker, Pick, PickContext
from lbplay.core.registry import AlgorithmInfo


def _key(backend: Backend) -> float:
    rate = backend.stats.rate_base
    if rate <= 0.0:
        return -math.inf
    return math.log(rate) + backend.stats.rate_at / RATE_TAU


class LeastBandwidth(BasePicker):
    """Lowest recent bytes per second; ties in turn."""

    tracks_load = True

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)
        self._position = {b: i for i, b in enumerate(self.backends)}
        self._heap = LazyMinHeap([_key(b) for b in self.backends])

    def pick(self, ctx: PickContext) -> Pick:
        heap = self._heap
        index = -1
        if ctx.avoid:
            index = heap.smallest_allowed([b.name not in ctx.avoid for b in self.backends])
        if index < 0:
            index = heap.top()
        heap.set(index, heap.keys[index])  # rotate among equal rates
        now = self.env.clock()
        rates = None
        if len(self.backends) <= SHOW_ALL:
            rates = tuple(b.stats.bytes_per_second(now) for b in self.backends)
        rate = self.backends[index].stats.bytes_per_second(now)
        return Pick(self.backends[index], _explain, (self.backends, index, rate, rates))

    def on_bytes(self, backend: Backend, n: int) -> None:
        i = self._position.get(backend)
        if i is not None:
            self._heap.set(i, _key(backend))


def rate_text(rate: float) -> str:
    """Bytes per second for people: ``"0 B/s"``, ``"12.0 kB/s"``, ``"1.5 MB/s"``."""
    for unit, size in (("MB/s", 1e6), ("kB/s", 1e3)):
        if rate >= size:
            return f"{rate / size:.1f} {unit}"
    return f"{rate:.0f} B/s"


def _explain(
    backends: Sequence[Backend], index: int, rate: float, rates: tuple[float, ...] | None
) -> str:
    name = backends[index].name
    if rates is not None:
        among = " ".join(f"{b.name}={rate_text(r)}" for b, r in zip(backends, rates, strict=True))
    else:
        among = f"{len(backends)} backends"
    return f"{name}: {rate_text(rate)} recently, least of {among}"


INFO = AlgorithmInfo(
    name="least_bandwidth",
    family="load-aware",
    idea="fewest bytes per second recently; weighs traffic volume, not request counts",
    factory=LeastBandwidth,
    nginx="—",
    haproxy="—",
    envoy="—",
    aws="— (NetScaler LEASTBANDWIDTH)",
    uses_load=True,
)
