"""Exact sequences and worked examples of the deterministic algorithms."""

from __future__ import annotations

import random

import pytest

from lbplay.core import Backend, Balancer, Pick, PickContext, parse_backends
from lbplay.core.algorithms.jump_hash import jump
from lbplay.core.algorithms.maglev import build_table, is_prime
from lbplay.core.explore import VirtualClock, pick_sequence
from lbplay.core.hashing import hash64
from lbplay.core.picker import NO_CONTEXT
from lbplay.errors import ConfigError


def names(balancer: Balancer, n: int, ctx: PickContext = NO_CONTEXT) -> str:
    return " ".join(balancer.pick(ctx).backend.name for _ in range(n))


def test_round_robin_cycles_in_order() -> None:
    balancer = Balancer(parse_backends("a,b,c"), "round_robin")
    assert names(balancer, 7) == "a b c a b c a"


def test_round_robin_skips_avoided_backend() -> None:
    balancer = Balancer(parse_backends("a,b,c"), "round_robin")
    assert balancer.pick().backend.name == "a"
    assert balancer.pick(PickContext(avoid=frozenset({"b"}))).backend.name == "c"
    assert balancer.pick().backend.name == "a"


def test_round_robin_keeps_its_turn_when_fleet_changes() -> None:
    balancer = Balancer(parse_backends("a,b,c"), "round_robin")
    assert names(balancer, 2) == "a b"
    balancer.add(Backend("d"))
    assert names(balancer, 3) == "c d a"


def test_smooth_wrr_matches_nginx() -> None:
    balancer = Balancer(parse_backends("a:5,b:1,c:1"), "weighted_round_robin")
    assert names(balancer, 14) == "a a b a c a a a a b a c a a"


def test_smooth_wrr_matches_a_direct_simulation_of_nginx() -> None:
    weights = [3, 7, 1, 3, 2, 7, 1]
    backends = [Backend(f"s{i}", w) for i, w in enumerate(weights)]
    balancer = Balancer(backends, "weighted_round_robin")
    current = [0] * len(weights)
    total = sum(weights)
    for _ in range(3 * total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= total
        assert balancer.pick().backend.name == f"s{best}"


def test_smooth_wrr_reason_shows_current_weights() -> None:
    balancer = Balancer(parse_backends("a:5,b:1,c:1"), "weighted_round_robin")
    balancer.pick()
    balancer.pick()
    assert balancer.pick().reason == (
        "b: highest current weight 3 (a=1 b=3 c=3), then minus total 7"
    )


def test_least_connections_picks_fewest_with_reason() -> None:
    backends = parse_backends("a,b,c")
    balancer = Balancer(backends, "least_connections")
    held = {"a": 5, "b": 3, "c": 8}
    for backend in backends:
        for _ in range(held[backend.name]):
            balancer.begin(balancer.pick(PickContext(avoid=frozenset(held) - {backend.name})))
    assert {b.name: b.stats.in_flight for b in backends} == held
    pick = balancer.pick()
    assert pick.backend.name == "b"
    assert pick.reason == "b: 3 in flight, fewest of a=5 b=3 c=8"


def test_least_connections_breaks_ties_round_robin() -> None:
    balancer = Balancer(parse_backends("a,b,c"), "least_connections")
    assert names(balancer, 6) == "a b c a b c"


def test_least_connections_follows_requests_ending() -> None:
    backends = parse_backends("a,b")
    balancer = Balancer(backends, "least_connections")
    tickets = [balancer.begin(balancer.pick()) for _ in range(4)]  # a b a b
    assert [t.backend.name for t in tickets] == ["a", "b", "a", "b"]
    balancer.end(tickets[1])  # b drops to 1
    assert balancer.pick().backend.name == "b"


def test_weighted_least_connections_compares_ratios() -> None:
    backends = parse_backends("a:3,b:1")
    balancer = Balancer(backends, "weighted_least_connections")
    for _ in range(4):
        balancer.begin(balancer.pick(PickContext(avoid=frozenset({"b"}))))
    for _ in range(2):
        balancer.begin(balancer.pick(PickContext(avoid=frozenset({"a"}))))
    assert (backends[0].stats.in_flight, backends[1].stats.in_flight) == (4, 2)
    pick = balancer.pick()  # 4/3 < 2/1
    assert pick.backend.name == "a"
    assert "4 in flight / weight 3" in pick.reason


def test_weighted_least_connections_idle_follows_weights() -> None:
    balancer = Balancer(parse_backends("a:5,b:1,c:1"), "weighted_least_connections")
    picks = names(balancer, 70).split()
    assert (picks.count("a"), picks.count("b"), picks.count("c")) == (50, 10, 10)


def test_ip_hash_worked_example_and_slash_24() -> None:
    balancer = Balancer(parse_backends("a,b,c"), "ip_hash")
    pick = balancer.pick(PickContext(client_ip="10.0.0.7"))
    assert pick.backend.name == "a"
    assert "10.0.0.x = 2565" in pick.reason
    for host in range(256):
        assert balancer.pick(PickContext(client_ip=f"10.0.0.{host}")).backend.name == "a"
    mapped = balancer.pick(PickContext(client_ip="::ffff:10.0.0.99"))
    assert mapped.backend.name == "a"


def test_ip_hash_without_address_round_robins() -> None:
    balancer = Balancer(parse_backends("a,b,c"), "ip_hash")
    assert names(balancer, 4) == "a b c a"
    assert "round robin" in balancer.pick().reason


def test_ip_hash_retry_keeps_mixing_like_nginx() -> None:
    balancer = Balancer(parse_backends("a,b,c"), "ip_hash")
    ctx = PickContext(client_ip="10.0.0.7", avoid=frozenset({"a"}))
    pick = balancer.pick(ctx)
    h = 2565
    for _ in range(3):
        h = (h * 113 + 10) % 6271
        h = (h * 113) % 6271
        h = (h * 113) % 6271
        if "abc"[h % 3] != "a":
            break
    assert pick.backend.name == "abc"[h % 3]


def test_jump_hash_moves_keys_only_to_the_new_bucket() -> None:
    for i in range(2000):
        key = hash64(f"k{i}")
        before = jump(key, 10)
        after = jump(key, 11)
        assert after in (before, 10)
        assert 0 <= before < 10


def test_maglev_table_is_full_and_even() -> None:
    table = build_table((("a", 1), ("b", 1), ("c", 1)), 65537)
    counts = [table.count(i) for i in range(3)]
    assert sum(counts) == 65537
    assert max(counts) - min(counts) <= 1


def test_maglev_weighted_table_follows_weights() -> None:
    table = build_table((("a", 3), ("b", 1)), 65537)
    assert abs(table.count(0) / 65537 - 0.75) < 0.01


def test_maglev_rejects_non_prime_table() -> None:
    assert is_prime(65537)
    assert not is_prime(65536)
    with pytest.raises(ConfigError, match="prime"):
        Balancer(parse_backends("a,b"), "maglev", options={"table_size": 1000})


def test_maglev_lookup_is_table_slot() -> None:
    balancer = Balancer(parse_backends("a,b,c"), "maglev", options={"table_size": 7})
    table = build_table((("a", 1), ("b", 1), ("c", 1)), 7)
    for i in range(50):
        key = f"user{i}"
        assert (
            balancer.pick(PickContext(hash_key=key)).backend.name == "abc"[table[hash64(key) % 7]]
        )


def test_least_response_time_worked_example() -> None:
    clock = VirtualClock(100.0)
    backends = parse_backends("a,b")
    balancer = Balancer(
        backends, "least_response_time", clock=clock, options={"initial_latency": 0.001}
    )
    a, b = backends
    # Teach it: a answers in 10 ms, b in 30 ms (a peak is believed at once).
    balancer.end(balancer.begin(balancer.pick(PickContext(avoid=frozenset({"b"})))), latency=0.010)
    balancer.end(balancer.begin(balancer.pick(PickContext(avoid=frozenset({"a"})))), latency=0.030)
    for _ in range(3):
        balancer.begin(balancer.pick(PickContext(avoid=frozenset({"b"}))))
    assert a.stats.in_flight == 3
    pick = balancer.pick()
    assert pick.backend is b
    assert pick.reason.startswith("b: 30.0 ms × (0 in flight + 1) = 30.0 ms")


def test_least_response_time_is_fooled_by_fast_failures_unless_penalised() -> None:
    clock = VirtualClock()
    balancer = Balancer(
        parse_backends("a,b"),
        "least_response_time",
        clock=clock,
        options={"failure_penalty": 1.0},
    )
    for name, ok in (("a", False), ("b", True)):
        avoid = frozenset({"ab".replace(name, "")})
        balancer.end(balancer.begin(balancer.pick(PickContext(avoid=avoid))), ok=ok, latency=0.001)
    assert balancer.pick().backend.name == "b"
    fooled = Balancer(parse_backends("a,b"), "least_response_time", clock=clock)  # the default
    ticket = fooled.begin(fooled.pick(PickContext(avoid=frozenset({"b"}))))
    fooled.end(ticket, ok=False, latency=0.001)
    ticket = fooled.begin(fooled.pick(PickContext(avoid=frozenset({"a"}))))
    fooled.end(ticket, ok=True, latency=0.005)
    assert fooled.pick().backend.name == "a"  # the fast failure looks fastest


def test_least_response_time_estimate_fades() -> None:
    clock = VirtualClock()
    backends = parse_backends("a,b")
    balancer = Balancer(backends, "least_response_time", clock=clock)
    balancer.end(balancer.begin(balancer.pick(PickContext(avoid=frozenset({"b"})))), latency=0.5)
    balancer.end(balancer.begin(balancer.pick(PickContext(avoid=frozenset({"a"})))), latency=0.02)
    assert balancer.pick().backend.name == "b"
    clock.advance(60.0)  # a's slow spike fades below b's steady 20 ms
    balancer.end(balancer.begin(balancer.pick(PickContext(avoid=frozenset({"a"})))), latency=0.02)
    assert balancer.pick().backend.name == "a"


def test_least_bandwidth_prefers_quiet_backend() -> None:
    clock = VirtualClock()
    backends = parse_backends("a,b,c")
    balancer = Balancer(backends, "least_bandwidth", clock=clock)
    volumes = {"a": 4_000_000, "b": 500_000, "c": 1_000_000}
    for name, n in volumes.items():
        ticket = balancer.begin(balancer.pick(PickContext(avoid=frozenset(volumes) - {name})))
        balancer.end(ticket, nbytes=n)
    pick = balancer.pick()
    assert pick.backend.name == "b"
    assert pick.reason.startswith("b: 250.0 kB/s recently")


def owner(balancer: Balancer, key: str) -> str:
    return balancer.pick(PickContext(hash_key=key)).backend.name


def test_bounded_load_worked_example() -> None:
    backends = [Backend(n) for n in "abc"]
    balancer = Balancer(backends, "bounded_load")
    key = next(k for k in (f"k{i}" for i in range(1000)) if owner(balancer, k) == "a")
    for backend, load in zip(backends, (4, 1, 1), strict=True):
        for _ in range(load):
            balancer.begin(Pick(backend, "placed by the test"))
    pick = balancer.pick(PickContext(hash_key=key))
    assert pick.backend.name != "a"
    assert "a full (4 ≥ bound 3)" in pick.reason


def test_power_of_two_with_two_hosts_picks_busier_a_quarter_of_the_time() -> None:
    backends = parse_backends("a,b")
    balancer = Balancer(backends, "power_of_two_choices", rng=random.Random(42))
    balancer.begin(balancer.pick(PickContext(avoid=frozenset({"b"}))))
    for _ in range(5):
        balancer.begin(balancer.pick(PickContext(avoid=frozenset({"b"}))))
    busy = backends[0]
    assert busy.stats.in_flight == 6
    n = 10_000
    hits = sum(balancer.pick().backend is busy for _ in range(n))
    assert abs(hits / n - 0.25) < 0.02


def test_same_seed_same_picks() -> None:
    for algorithm in ("random", "weighted_random", "power_of_two_choices"):
        runs = [
            [r.backend for r in pick_sequence(algorithm, parse_backends("a:2,b,c"), 50, seed=9)]
            for _ in range(2)
        ]
        assert runs[0] == runs[1]
        other = [
            r.backend for r in pick_sequence(algorithm, parse_backends("a:2,b,c"), 50, seed=10)
        ]
        assert other != runs[0]


def test_power_of_two_fast_path_draws_and_explains_as_the_general_one() -> None:
    """d = 2 over equal weights takes a shortcut (no lists, no binary search); it must
    make the same draws, the same choice and give the same reason as the general code."""
    from lbplay.core import registry
    from lbplay.core.picker import PickerEnv

    backends = [Backend(f"s{i}") for i in range(50)]
    for i, backend in enumerate(backends):
        backend.stats.in_flight = (i * 7919) % 13
    fast = registry.create("power_of_two_choices", backends, PickerEnv(random.Random(5), float))
    general = registry.create("power_of_two_choices", backends, PickerEnv(random.Random(5), float))
    general._unit = False  # type: ignore[attr-defined]
    for _ in range(2000):
        one, two = fast.pick(NO_CONTEXT), general.pick(NO_CONTEXT)
        assert one.backend is two.backend
        assert one.reason == two.reason
