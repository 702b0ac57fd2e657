"""The Balancer: eligibility, backups, accounting, algorithm switches."""

from __future__ import annotations

import math
import random

import pytest

from lbplay.core import Backend, Balancer, PickContext, parse_backends
from lbplay.core.explore import VirtualClock
from lbplay.errors import ConfigError, NoBackendAvailable, UnknownAlgorithm


def test_unavailable_backends_get_nothing_and_come_back() -> None:
    balancer = Balancer(parse_backends("a,b,c"), "round_robin")
    balancer.set_available("b", False)
    assert {balancer.pick().backend.name for _ in range(6)} == {"a", "c"}
    balancer.set_available("b", True)
    assert {balancer.pick().backend.name for _ in range(6)} == {"a", "b", "c"}


def test_backups_only_when_every_primary_is_unavailable() -> None:
    balancer = Balancer(parse_backends("a,b,z!backup"), "round_robin")
    assert "z" not in {balancer.pick().backend.name for _ in range(10)}
    balancer.set_available("a", False)
    assert "z" not in {balancer.pick().backend.name for _ in range(10)}
    balancer.set_available("b", False)
    assert {balancer.pick().backend.name for _ in range(4)} == {"z"}
    balancer.set_available("a", True)
    assert {balancer.pick().backend.name for _ in range(4)} == {"a"}


def test_nothing_eligible_raises_with_a_readable_reason() -> None:
    balancer = Balancer(parse_backends("a"), "least_connections", panic_threshold=0)
    balancer.set_available("a", False)
    with pytest.raises(NoBackendAvailable, match=r"no backend is available \(a down\)"):
        balancer.pick()
    with pytest.raises(NoBackendAvailable, match="no backends are configured"):
        Balancer([], "round_robin").pick()


def test_begin_end_accounting() -> None:
    clock = VirtualClock()
    backend = Backend("a")
    balancer = Balancer([backend], clock=clock)
    ticket = balancer.begin(balancer.pick())
    assert backend.stats.in_flight == 1
    balancer.transferred(ticket, 1000)
    assert backend.stats.bytes_in_flight == 1000
    clock.advance(0.25)
    balancer.end(ticket, ok=False, nbytes=500)
    balancer.end(ticket)  # a second end is ignored
    stats = backend.stats
    assert (stats.in_flight, stats.completed, stats.failures) == (0, 1, 1)
    assert stats.ewma_latency == pytest.approx(0.25)
    assert stats.bytes_in_flight == 0
    assert stats.total_bytes == 1500
    # 1000 bytes 0.25 s ago have decayed by exp(-0.25 / 2); rates count bytes / tau.
    expected = 1000 / 2.0 * math.exp(-0.25 / 2.0) + 500 / 2.0
    assert stats.bytes_per_second(clock()) == pytest.approx(expected)


def test_ending_a_removed_backend_is_safe() -> None:
    balancer = Balancer(parse_backends("a,b"), "least_connections")
    ticket = balancer.begin(balancer.pick())
    balancer.remove(ticket.backend.name)
    balancer.end(ticket)
    assert ticket.backend.stats.in_flight == 0
    assert balancer.pick().backend.name == "b"


def test_switching_algorithm_keeps_stats_and_rejects_bad_options() -> None:
    balancer = Balancer(parse_backends("a,b"), "round_robin")
    balancer.begin(balancer.pick())
    balancer.set_algorithm("least_connections")
    assert balancer.pick().backend.name == "b"
    with pytest.raises(ConfigError, match="no option 'nope'"):
        balancer.set_algorithm("ring_hash", {"nope": 1})
    with pytest.raises(ConfigError, match="needs a whole number"):
        balancer.set_algorithm("ring_hash", {"vnodes": "many"})
    with pytest.raises(ConfigError, match="prime"):
        balancer.set_algorithm("maglev", {"table_size": 100})
    assert balancer.algorithm == "least_connections"
    with pytest.raises(UnknownAlgorithm) as caught:
        balancer.set_algorithm("leastconn")
    assert caught.value.suggestions[0] == "least_connections"


def test_weight_and_fleet_changes_reach_the_picker() -> None:
    balancer = Balancer(parse_backends("a,b"), "weighted_round_robin")
    balancer.set_weight("a", 3)
    assert [balancer.pick().backend.name for _ in range(4)].count("a") == 3
    with pytest.raises(ConfigError):
        balancer.set_weight("a", 0)
    with pytest.raises(ConfigError, match="no backend named 'x'"):
        balancer.set_weight("x", 2)
    balancer.add(Backend("c"))
    with pytest.raises(ConfigError, match="already exists"):
        balancer.add(Backend("c"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a:x", "bad weight 'x'"),
        ("a:0", "bad weight 0"),
        ("a:-1", "bad weight '-1'"),
        ("a:1.5", "bad weight '1.5'"),
        ("a,,b", "empty item"),
        ("a,a", "listed twice"),
        ("bad name", "bad backend name"),
        ("a:2000", "bad weight 2000"),
    ],
)
def test_backend_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_backends(spec)


def test_same_seed_same_random_picks_through_the_balancer() -> None:
    def run(seed: int) -> list[str]:
        balancer = Balancer(parse_backends("a,b,c"), "random", rng=random.Random(seed))
        return [balancer.pick(PickContext()).backend.name for _ in range(30)]

    assert run(5) == run(5)
    assert run(5) != run(6)
