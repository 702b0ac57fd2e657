"""Seeded ratio tests: 10,000 picks, shares within a stated tolerance."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lbplay.core import Balancer, PickContext, parse_backends

N = 10_000
#: Relative tolerance on each share: 10,000 picks give a standard error of about
#: 1.5% relative for a 1/3 share, so 10% is over six standard errors.
TOLERANCE = 0.10


def shares(balancer: Balancer, keyed: bool = False) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for i in range(N):
        ctx = PickContext(hash_key=f"user{i}") if keyed else PickContext()
        counts[balancer.pick(ctx).backend.name] += 1
    return {name: c / N for name, c in counts.items()}


@pytest.mark.parametrize(
    ("algorithm", "spec", "expected"),
    [
        ("random", "a,b,c", {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}),
        ("weighted_random", "a:5,b:1,c:1", {"a": 5 / 7, "b": 1 / 7, "c": 1 / 7}),
        ("power_of_two_choices", "a:2,b:1,c:1", {"a": 0.5, "b": 0.25, "c": 0.25}),
        ("weighted_round_robin", "a:5,b:1,c:1", {"a": 5 / 7, "b": 1 / 7, "c": 1 / 7}),
    ],
)
def test_shares_follow_weights(algorithm: str, spec: str, expected: dict[str, float]) -> None:
    got = shares(Balancer(parse_backends(spec), algorithm, rng=random.Random(1234)))
    for name, share in expected.items():
        assert got[name] == pytest.approx(share, rel=TOLERANCE), (name, got)


@pytest.mark.parametrize(
    "algorithm", ["hash_modulo", "ring_hash", "jump_hash", "maglev", "rendezvous", "bounded_load"]
)
def test_hashing_spreads_keys_evenly(algorithm: str) -> None:
    names = ",".join(f"s{i}" for i in range(5))
    got = shares(Balancer(parse_backends(names), algorithm), keyed=True)
    # Ring hash with 160 points per backend varies by about 1/sqrt(160) = 8%: allow 25%.
    for share in got.values():
        assert share == pytest.approx(0.2, rel=0.25)


@pytest.mark.parametrize("algorithm", ["ring_hash", "maglev", "rendezvous", "hash_modulo"])
def test_weighted_hashing_follows_weights(algorithm: str) -> None:
    got = shares(Balancer(parse_backends("a:3,b:1"), algorithm), keyed=True)
    assert got["a"] == pytest.approx(0.75, rel=TOLERANCE)


def test_ring_spread_narrows_with_more_points() -> None:
    def spread(vnodes: int) -> float:
        fleet = parse_backends(",".join(f"s{i}" for i in range(20)))
        balancer = Balancer(fleet, "ring_hash", options={"vnodes": vnodes})
        got = shares(balancer, keyed=True)
        return max(got.values()) / min(got.values())

    assert spread(1000) < spread(10)
