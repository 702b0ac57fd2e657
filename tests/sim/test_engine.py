"""The simulator's model, piece by piece: each feature against what queueing theory
or plain arithmetic says it must do. Small seeded runs (well under a second each)."""

from __future__ import annotations

import math
import random

import pytest

from lbplay.errors import ConfigError
from lbplay.sim.config import Arrivals, Outage, Service, SimConfig, build, table_values
from lbplay.sim.engine import compare, simulate
from lbplay.sim.stats import Estimate, LogHistogram, queue_tail


def config(**values: object) -> SimConfig:
    base: dict[str, object] = {"servers": 50, "load": 0.7, "requests": 100_000, "seed": 3}
    return build({**base, **values})


def test_same_seed_same_run_and_another_seed_another() -> None:
    one = simulate(config(requests=30_000), "power_of_two_choices")
    two = simulate(config(requests=30_000), "power_of_two_choices")
    other = simulate(config(requests=30_000, seed=4), "power_of_two_choices")
    assert one.latency.counts == two.latency.counts
    assert one.queue == two.queue
    assert one.latency.total == two.latency.total
    assert other.latency.total != one.latency.total


def test_every_algorithm_meets_the_same_requests() -> None:
    """Arrivals and service times come from their own streams: the total work is the
    same whichever algorithm routes it (common random numbers)."""
    works = [sum(simulate(config(), name).utilisation) for name in ("random", "round_robin")]
    assert works[0] == pytest.approx(works[1], rel=1e-3)


def test_warmup_is_discarded() -> None:
    result = simulate(config(requests=10_000, warmup=0.25), "random")
    assert result.requests == 7_500
    assert result.latency.count == 7_500
    assert result.simulated == 10_000
    assert simulate(config(requests=10_000, warmup=1000), "random").requests == 9_000


def test_littles_law() -> None:
    """Poisson arrivals see time averages: the requests an arrival finds at its
    server (itself excluded) average load × mean time in system."""
    result = simulate(config(requests=200_000), "random")
    found = result.mean_queue - 1
    assert found == pytest.approx(0.7 * result.latency.mean, rel=0.03)


def test_processor_sharing_is_insensitive_to_the_service_distribution() -> None:
    """M/G/1-PS: the mean time in system is 1 / (1 − λ) whatever the distribution."""
    for service in ("exp", "det", "lognormal:1.5"):
        result = simulate(
            config(load=0.5, discipline="ps", concurrency=0, service=service, requests=60_000),
            "random",
        )
        assert result.latency.mean == pytest.approx(2.0, rel=0.04), service


def test_fifo_with_two_lanes_is_an_m_m_2_queue() -> None:
    """Random routing to servers that serve 2 at once: Erlang C gives the wait."""
    load, lanes = 0.8, 2
    a = load * lanes
    tail = a**lanes / math.factorial(lanes) / (1 - load)
    erlang_c = tail / (sum(a**k / math.factorial(k) for k in range(lanes)) + tail)
    expected = 1 + erlang_c / (lanes - a)
    result = simulate(
        config(servers=10, load=load, concurrency=lanes, requests=400_000, warmup=0.05),
        "random",
    )
    assert result.latency.mean == pytest.approx(expected, rel=0.03)
    assert sum(result.utilisation) / 10 == pytest.approx(load, rel=0.02)


def test_the_pickers_read_live_load() -> None:
    """least_connections with a live view sees every request: at 70% load almost no
    one waits; random, blind to load, queues."""
    smart = simulate(config(), "least_connections")
    blind = simulate(config(), "random")
    assert smart.latency.mean < 1.1
    assert blind.latency.mean > 2.5
    assert smart.max_queue <= 3


def test_many_balancers_on_stale_views_herd() -> None:
    """Twenty balancers whose view of the servers is refreshed every 2 service times:
    least_connections sends a whole interval's requests to the same few servers;
    two random choices degrade gracefully."""
    few = {"balancers": 20, "requests": 30_000}
    live = simulate(config(**few), "least_connections")
    stale = simulate(config(**few, staleness=2.0), "least_connections")
    p2c = simulate(config(**few, staleness=2.0), "power_of_two_choices")
    assert stale.latency.mean > 2 * live.latency.mean
    assert p2c.latency.mean < stale.latency.mean
    one = simulate(config(staleness=2.0, requests=30_000), "least_connections")
    alone = simulate(config(requests=30_000), "least_connections")
    assert one.latency.counts == alone.latency.counts


def test_a_failed_server_is_found_by_health_checks_and_retries_hide_it() -> None:
    """s1 fails at t=100: requests sent to it fail until three probes, 5 apart, mark
    it down (10 to 15 later); with retries they go elsewhere instead."""
    base = {"fail": "1@100-400", "requests": 60_000, "warmup": 0}
    bare = simulate(config(**base), "round_robin")
    # 50 servers at 0.7 => 35 requests per unit, 1 in 50 to s1, for 10-15 units,
    # plus those queued at s1 when it failed.
    assert 5 <= bare.failed <= 40
    retried = simulate(config(**base, retries=2), "round_robin")
    assert retried.failed < bare.failed
    never_noticed = simulate(
        config(**base, health={"interval": 1e6, "fall": 3, "rise": 2}), "round_robin"
    )
    assert never_noticed.failed > 100


def test_a_queue_limit_rejects_and_caps_the_queue() -> None:
    result = simulate(config(load=0.95, queue_limit=2), "random")
    assert result.rejected > 0
    assert result.max_queue <= 3


def test_a_slow_server_owns_round_robins_tail_but_not_two_choices() -> None:
    rr = simulate(config(slow=3.0), "round_robin")
    p2c = simulate(config(slow=3.0), "power_of_two_choices")
    assert rr.utilisation[0] > 0.99  # 3x slower at 70% load: it cannot keep up
    assert p2c.latency.quantile(0.99) < rr.latency.quantile(0.99) / 3


def test_speeds_repeat_over_the_fleet() -> None:
    fleet = config(speeds="1,2", servers=4)
    assert [fleet.speed_of(i) for i in range(4)] == [1, 2, 1, 2]
    result = simulate(config(speeds="1,2", load=0.5, requests=100_000), "round_robin")
    slow, fast = result.utilisation[0], result.utilisation[1]
    assert slow == pytest.approx(2 * fast, rel=0.1)


@pytest.mark.parametrize("arrivals", ["mmpp:4:0.1:2", "diurnal:0.5"])
def test_bursty_arrivals_keep_the_mean_rate_and_hurt(arrivals: str) -> None:
    calm = simulate(config(requests=100_000, warmup=0), "power_of_two_choices")
    bursty = simulate(config(arrivals=arrivals, requests=100_000, warmup=0), "power_of_two_choices")
    rate = 0.7 * 50
    assert bursty.requests / bursty.span == pytest.approx(rate, rel=0.05)
    assert bursty.latency.quantile(0.99) > calm.latency.quantile(0.99)


def test_hash_algorithms_get_keys() -> None:
    ring = simulate(config(keys=1000), "ring_hash")
    rr = simulate(config(), "round_robin")
    spread = max(ring.utilisation) - min(ring.utilisation)
    assert spread > 2 * (max(rr.utilisation) - min(rr.utilisation))


def test_compare_gives_estimates_over_replications() -> None:
    outcomes = compare(config(compare="random,round_robin", replications=3, requests=20_000))
    assert [o.algorithm for o in outcomes] == ["random", "round_robin"]
    mean = outcomes[0].figures["mean"]
    assert math.isfinite(mean.half_width)
    assert len(outcomes[0].runs) == 3
    assert outcomes[0].latency.count == sum(r.latency.count for r in outcomes[0].runs)


def test_log_histogram_quantiles_are_within_half_a_percent() -> None:
    rng = random.Random(1)
    values = [rng.lognormvariate(0, 1.5) for _ in range(20_000)]
    histogram = LogHistogram()
    for value in values:
        histogram.add(value)
    values.sort()
    for q in (0.5, 0.9, 0.99, 0.999):
        exact = values[math.ceil(q * len(values)) - 1]
        assert histogram.quantile(q) == pytest.approx(exact, rel=0.005)
    assert histogram.mean == pytest.approx(sum(values) / len(values))
    cdf = histogram.cdf(points=10)
    assert cdf[0] == (0.0, 0.0)
    assert cdf[-1][1] == pytest.approx(0.999, abs=0.001)


def test_queue_tail_and_estimates() -> None:
    assert queue_tail([0, 5, 3, 2]) == [1.0, 1.0, 0.5, 0.2]
    assert math.isnan(Estimate.of([1.0]).half_width)
    assert Estimate.of([1.0, 3.0]).half_width == pytest.approx(12.706 * 1.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"servers": 0}, "bad number of servers 0"),
        ({"servers": 10_001}, "bad number of servers 10001"),
        ({"load": math.inf}, "bad load inf"),
        ({"service": "weibull"}, "bad service 'weibull'"),
        ({"service": "pareto:1"}, "bad Pareto alpha 1.0"),
        ({"arrivals": "mmpp:x"}, "bad burst factor 'x'"),
        ({"compare": "random,nope"}, "unknown algorithm 'nope'"),
        ({"compare": "random,random"}, "listed twice"),
        ({"algorithm": "random", "options": {"vnodes": 10}}, "no algorithm here has an option"),
        ({"fail": "99@1"}, "bad outage server 99"),
        ({"fail": "1@5-2"}, "must end after it starts"),
        ({"fail": "1@1-5,1@3-8"}, "overlaps"),
        ({"warmup": 200_000}, "discards every one"),
        ({"discipline": "lifo"}, "bad discipline 'lifo'"),
        ({"discipline": "ps", "concurrency": 0, "fail": "1@1"}, "fifo only"),
        ({"health": {"interval": 0}}, "bad health interval 0"),
    ],
)
def test_bad_configurations_say_what_is_wrong(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config(**values)


def test_specs_round_trip_as_text() -> None:
    for text in ("exp", "det", "lognormal:1.5", "pareto:2.5", "bimodal:0.05:20"):
        assert Service.parse(text).text() == text
    for text in ("poisson", "mmpp:3:0.2:10", "diurnal:0.3:1000"):
        assert Arrivals.parse(text).text() == text
    assert Outage.parse("s3@10-20", 5).text() == "3@10-20"


def test_a_scenario_table_names_its_keys() -> None:
    values = table_values({"servers": 100, "compare": ["random", "round_robin"]})
    assert values == {"servers": 100, "compare": "random,round_robin"}
    with pytest.raises(ConfigError, match="no key 'server'"):
        table_values({"server": 100})
