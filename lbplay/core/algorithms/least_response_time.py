"""Least response time: the lowest peak-EWMA cost, as Finagle and Linkerd weigh hosts.

cost = latency estimate × (in flight + 1). The latency estimate is a *decaying
peak*: a latency above the estimate replaces it at once (one slow response is
believed immediately), and with time the estimate fades toward zero with time
constant ``decay``. That is what Finagle's and Linkerd's (tower's) PeakEwma do: every
load read decays the estimate toward 0, so a backend that was slow once is tried
again rather than starved, and a response faster than the estimate only lets it keep
fading. A new backend starts *pessimistic*, at ``initial_latency`` (Linkerd's default
RTT, 30 ms), and earns traffic as the others get busy or its estimate fades.

By default a failed request counts as the time it took, as nginx's ``least_time``
times every answer: so a server that answers 500 in 1 ms looks like the fastest
server and draws the traffic — the lesson that latency-aware balancing is fooled by
fast errors (the fake backends fail fast by default, as real ones usually do). Set
``failure_penalty`` (e.g. ``-o failure_penalty=1``) to make a failure count as that
many seconds when larger, as Linkerd penalises fast failures, and watch it stop.

Invariant: the chosen backend has the lowest cost at the moment of the pick.

Worked example: a has an estimate of 10 ms and 3 in flight (cost 40 ms); b has 30 ms
and 0 in flight (cost 30 ms) -> b, although a is faster per request.

Real balancers: nginx ``least_time`` (NGINX Plus; in open source since 1.31);
Linkerd and Finagle use peak EWMA with power of two choices; not in HAProxy, Envoy or
the AWS ALB.

How it stays fast: a cost that decays as exp(-t/decay) keeps its *order* with the
others, so each backend's heap key ln(estimate) + t_set/decay + ln(in_flight + 1)
only changes when that backend's own state changes; a lazy heap finds the minimum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lbplay.core.backends import Backend
from lbplay.core.lazyheap import LazyMinHeap
from lbplay.core.picker import SHOW_ALL, BasePicker, Pick, PickContext, PickerEnv
from lbplay.core.registry import AlgorithmInfo, Option

TINY = 1e-12


class LeastResponseTime(BasePicker):
    """Lowest decaying-peak latency × (in flight + 1)."""

    tracks_load = True

    def __init__(self, backends: Sequence[Backend], env: PickerEnv) -> None:
        self.decay = float(env.options["decay"])
        self.initial = float(env.options["initial_latency"])
        self.penalty = float(env.options["failure_penalty"])
        self._estimates: dict[str, tuple[float, float]] = {}
        super().__init__(backends, env)

    def update(self, backends: Sequence[Backend]) -> None:
        now = self.env.clock()
        self.backends = list(backends)
        self._position = {b: i for i, b in enumerate(self.backends)}
        # Estimates survive fleet changes; a backend never seen starts pessimistic.
        self._est = [self._estimates.get(b.name, (self.initial, now)) for b in self.backends]
        self._pending = [b.stats.in_flight for b in self.backends]
        self._heap = LazyMinHeap([self._key(i) for i in range(len(self.backends))])

    def _key(self, i: int) -> float:
        estimate, at = self._est[i]
        return math.log(max(estimate, TINY)) + at / self.decay + math.log(self._pending[i] + 1)

    def estimate(self, i: int, now: float) -> float:
        """Backend ``i``'s latency estimate in seconds at time ``now``."""
        value, at = self._est[i]
        return value * math.exp(-(now - at) / self.decay)

    def pick(self, ctx: PickContext) -> Pick:
        heap = self._heap
        if ctx.avoid:
            allowed = [b.name not in ctx.avoid for b in self.backends]
            index = heap.smallest_allowed(allowed)
            if index < 0:
                index = heap.top()
        else:
            index = heap.top()
        heap.set(index, heap.keys[index])  # rotate among exact ties
        now = self.env.clock()
        costs = None
        if len(self.backends) <= SHOW_ALL:
            costs = tuple(
                self.estimate(i, now) * (self._pending[i] + 1) for i in range(len(self.backends))
            )
        return Pick(
            self.backends[index],
            _explain,
            (self.backends, index, self.estimate(index, now), self._pending[index], costs),
        )

    def on_begin(self, backend: Backend) -> None:
        i = self._position.get(backend)
        if i is not None:
            self._pending[i] += 1
            self._heap.set(i, self._key(i))

    def on_end(self, backend: Backend, latency: float, ok: bool) -> None:
        i = self._position.get(backend)
        if i is None:
            return
        now = self.env.clock()
        if self._pending[i] > 0:
            self._pending[i] -= 1
        sample = latency if ok else max(latency, self.penalty)
        self._est[i] = (max(sample, self.estimate(i, now)), now)
        self._estimates[backend.name] = self._est[i]
        self._heap.set(i, self._key(i))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _explain(
    backends: Sequence[Backend],
    index: int,
    estimate: float,
    pending: int,
    costs: tuple[float, ...] | None,
) -> str:
    name = backends[index].name
    cost = estimate * (pending + 1)
    if costs is not None:
        among = " ".join(f"{b.name}={c * 1000:.1f}" for b, c in zip(backends, costs, strict=True))
        among = f"lowest of {among} ms"
    else:
        among = f"lowest of {len(backends)} backends"
    return f"{name}: {_ms(estimate)} × ({pending} in flight + 1) = {_ms(cost)}, {among}"


INFO = AlgorithmInfo(
    name="least_response_time",
    family="load-aware",
    idea=(
        "lowest peak-EWMA latency × (in flight + 1); fast servers get more — so do fast"
        " errors, unless failures are penalised"
    ),
    factory=LeastResponseTime,
    nginx="least_time (Plus)",
    envoy="— (Linkerd/Finagle: peak EWMA)",
    uses_load=True,
    options={
        "decay": Option(10.0, "seconds for the latency estimate to fade by a factor e"),
        "initial_latency": Option(0.03, "seconds a new backend is assumed to take"),
        "failure_penalty": Option(
            0.0, "seconds a failed request counts as, when larger (0 = its real time)"
        ),
    },
)
