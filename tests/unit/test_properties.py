"""Properties that hold for every algorithm, fleet and request sequence (hypothesis)."""

from __future__ import annotations

import math
import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from lbplay.core import Backend, Balancer, PickContext, registry

ALGORITHMS = registry.names()

fleets = st.lists(st.tuples(st.integers(1, 6), st.booleans()), min_size=1, max_size=8).map(
    lambda specs: [(f"s{i}", w, up) for i, (w, up) in enumerate(specs)]
)


@settings(max_examples=60, deadline=None)
@given(
    algorithm=st.sampled_from(ALGORITHMS),
    fleet=fleets,
    seed=st.integers(0, 1000),
    steps=st.lists(st.tuples(st.integers(0, 3), st.sets(st.integers(0, 7))), max_size=40),
)
def test_picks_are_eligible_and_honour_avoid(
    algorithm: str,
    fleet: list[tuple[str, int, bool]],
    seed: int,
    steps: list[tuple[int, set[int]]],
) -> None:
    backends = [Backend(name, weight) for name, weight, _ in fleet]
    balancer = Balancer(backends, algorithm, rng=random.Random(seed), panic_threshold=0)
    for name, _, up in fleet:
        balancer.set_available(name, up)
    eligible = {name for name, _, up in fleet if up}
    if not eligible:
        return
    open_tickets = []
    for i, (action, avoid_ids) in enumerate(steps):
        avoid = frozenset(f"s{j}" for j in avoid_ids)
        ctx = PickContext(client_ip=f"10.0.{i}.1", hash_key=f"key{i % 5}", avoid=avoid)
        pick = balancer.pick(ctx)
        assert pick.backend.name in eligible
        if eligible - avoid:
            assert pick.backend.name not in avoid, (algorithm, pick.reason)
        assert isinstance(pick.reason, str)
        assert pick.reason
        if action:
            open_tickets.append(balancer.begin(pick))
        if action == 2 and open_tickets:
            balancer.end(open_tickets.pop(0), latency=0.01 * (i % 7), nbytes=100 * i)
    for ticket in open_tickets:
        balancer.end(ticket)
    assert all(b.stats.in_flight == 0 for b in backends)


@settings(max_examples=40, deadline=None)
@given(weights=st.lists(st.integers(1, 9), min_size=1, max_size=7))
def test_smooth_wrr_gives_exact_weights_every_period(weights: list[int]) -> None:
    backends = [Backend(f"s{i}", w) for i, w in enumerate(weights)]
    balancer = Balancer(backends, "weighted_round_robin")
    total = sum(weights)
    for _ in range(2):
        counts = Counter(balancer.pick().backend.name for _ in range(total))
        assert counts == {f"s{i}": w for i, w in enumerate(weights)}


@settings(max_examples=30, deadline=None)
@given(weights=st.lists(st.integers(1, 9), min_size=2, max_size=6), seed=st.integers(0, 99))
def test_weighted_random_converges_to_weights(weights: list[int], seed: int) -> None:
    backends = [Backend(f"s{i}", w) for i, w in enumerate(weights)]
    balancer = Balancer(backends, "weighted_random", rng=random.Random(seed))
    n = 20_000
    counts = Counter(balancer.pick().backend.name for _ in range(n))
    total = sum(weights)
    for i, w in enumerate(weights):
        p = w / total
        sigma = math.sqrt(p * (1 - p) / n)
        assert abs(counts[f"s{i}"] / n - p) < 5 * sigma


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 8),
    factor=st.sampled_from([1.0, 1.1, 1.25, 1.5, 2.0]),
    keys=st.lists(st.integers(0, 3), min_size=1, max_size=80),
    ends=st.lists(st.booleans(), max_size=80),
)
def test_bounded_load_never_exceeds_the_bound(
    size: int, factor: float, keys: list[int], ends: list[bool]
) -> None:
    backends = [Backend(f"s{i}") for i in range(size)]
    balancer = Balancer(backends, "bounded_load", options={"balance_factor": factor})
    tickets = []
    for i, key in enumerate(keys):  # few distinct keys: hot keys pile onto one home
        pick = balancer.pick(PickContext(hash_key=f"hot{key}"))
        total = sum(b.stats.in_flight for b in backends)
        bound = math.ceil(round(factor * (total + 1) / size, 9))
        assert pick.backend.stats.in_flight + 1 <= bound
        tickets.append(balancer.begin(pick))
        loads = [b.stats.in_flight for b in backends]
        # Right after placing, the chosen backend holds at most ceil(factor × mean).
        assert pick.backend.stats.in_flight <= math.ceil(round(factor * sum(loads) / size, 9))
        if i < len(ends) and ends[i]:
            balancer.end(tickets.pop(0))  # loads may then exceed the new, lower mean
