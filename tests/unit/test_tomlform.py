"""A lab model round-trips through TOML, and a bad file names the key that is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbplay.core import registry
from lbplay.core.affinity import AffinityConfig
from lbplay.core.health import PRESETS, preset
from lbplay.core.passive import NginxPassive, OutlierDetection
from lbplay.core.routing import Rule
from lbplay.errors import ConfigError
from lbplay.model.config import (
    BackendSpec,
    LabConfig,
    PoolSpec,
    ProxyConfig,
    RetryPolicy,
    fleet,
)
from lbplay.model.faults import LatencyModel
from lbplay.model.tomlform import dumps, loads


def test_the_default_lab_is_an_empty_file() -> None:
    assert dumps(LabConfig()) == ""
    assert loads("") == LabConfig()


def test_a_lesson_setup_reads_as_written() -> None:
    config = loads(
        """
        algorithm = "weighted_round_robin"
        backends = ["s1:5", "s2:3", "s3:2", "s4!backup"]
        rate = 50
        health = "haproxy"
        routes = ["path=/api->api"]
        sticky = "cookie"
        sessions = "shared"

        [[pools]]
        name = "api"
        backends = 2
        algorithm = "least_connections"
        """
    )
    assert [b.describe() for b in config.backends] == ["s1:5", "s2:3", "s3:2", "s4!backup"]
    assert config.health == PRESETS["haproxy"]
    assert config.pools == (PoolSpec("api", 2, "least_connections"),)
    assert [b.name for b in config.pools[0].fleet] == ["api-1", "api-2"]
    assert config.sticky == AffinityConfig("cookie")


def test_everything_round_trips() -> None:
    config = LabConfig(
        backends=fleet("s1:5,s2:3,s3:2"),
        backups=1,
        algorithm="ring_hash",
        options={"vnodes": 100},
        mode="l4",
        rate=120.5,
        clients=40,
        latency=LatencyModel.uniform(5, 15),
        seed=9,
        health=preset("aws-alb", 0.1),
        passive_nginx=NginxPassive(2, 5.0),
        passive_outlier=OutlierDetection(consecutive=3),
        panic_threshold=0.3,
        slow_start=10.0,
        drain_timeout=60.0,
        max_conns=20,
        pools=(PoolSpec("api", 3, "least_connections", {}),),
        routes=(Rule.parse("path=/api->api"), Rule.parse("host=*.admin.test,method=GET->api")),
        sticky=AffinityConfig("cookie", cookie_ttl=60),
        sessions="redis://127.0.0.1:6379/0",
        logins=True,
        proxy=ProxyConfig(read_timeout=2.0, retry=RetryPolicy(tries=2, on_status=frozenset({503}))),
    )
    assert loads(dumps(config)) == config
    assert loads(dumps(config, full=True)) == config


def test_real_servers_keep_their_addresses() -> None:
    config = LabConfig(real_backends=("http://127.0.0.1:8080", "http://[::1]:9090"))
    assert [b.address for b in config.backends] == ["127.0.0.1:8080", "[::1]:9090"]
    assert loads(dumps(config)) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate = 'x'", "rate must be a number, not 'x'"),
        ("rate = inf", "rate must be a number, not inf"),
        ("rate = 1e9", "bad traffic rate"),
        ("speed = 1", "the lab has no setting 'speed'"),
        ("health = 'sometimes'", "health must be off, a table or one of playground"),
        ("health = {interval = -1}", "health: health check interval"),
        ("health = {every = 1}", "health has no setting 'every'"),
        ("backends = ['a:0']", "backends[0]: bad weight 0"),
        ("backends = ['a', 'a']", "backend name used twice: a"),
        ("backends = []", "backends must be a count or a list"),
        ("routes = ['path=/a->zz']", "a route names no pool zz (pools: default)"),
        ("proxy = {retry = {tries = 99}}", "proxy.retry: bad retry tries 99"),
        ("proxy = {read_timeout = true}", "proxy.read_timeout must be a number, not True"),
        ("[[pools]]\nname = 'default'", "pools[0]: the default pool is the main fleet"),
        ("[[pools]]\nname = 'api'\ncolour = 1", "pools[0] has no setting 'colour'"),
        ("algorithm = 'fastest'", "unknown algorithm 'fastest'"),
        ("options = {vnodes = 'many'}", "options.vnodes must be a number or true/false"),
        ("passive = {envoy = {}}", "passive has no setting 'envoy'"),
        ("sticky = 'glue'", "sticky: unknown sticky mode"),
        ("mode = 'l3'", "mode must be 'l7' or 'l4'"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_a_bad_file_names_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(text)
    assert message in str(caught.value)


# -- any lab survives the round trip ------------------------------------------------------

NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)


@st.composite
def labs(draw: st.DrawFn) -> LabConfig:
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    backends = tuple(
        BackendSpec(
            name,
            draw(st.integers(1, 10)),
            draw(st.booleans()),
            draw(st.none() | st.integers(1, 100)),
            capacity=draw(st.none() | st.integers(1, 50)),
            slow_ms=draw(st.sampled_from([0.0, 0.5, 200.0])),
        )
        for name in names
    )
    pools = ()
    if draw(st.booleans()):
        pools = (
            PoolSpec(
                "pool-x", draw(st.integers(1, 4)), draw(st.sampled_from(["random", "maglev"]))
            ),
        )
    health = draw(
        st.none()
        | st.sampled_from(list(PRESETS.values()))
        | st.builds(preset, st.sampled_from(list(PRESETS)), st.sampled_from([0.1, 0.5, 2.0]))
    )
    return LabConfig(
        backends=backends,
        algorithm=draw(st.sampled_from(registry.names())),
        mode=draw(st.sampled_from(["l7", "l4"])),
        rate=draw(st.floats(0, 5000, allow_nan=False)),
        seed=draw(st.integers(0, 2**31)),
        health=health,
        panic_threshold=draw(st.floats(0, 1)),
        max_conns=draw(st.none() | st.integers(1, 1000)),
        pools=pools,
        routes=(Rule("pool-x", path="/x"),) if pools and draw(st.booleans()) else (),
        sticky=AffinityConfig.parse(draw(st.sampled_from(["none", "ip/24", "query:u"]))),
        sessions=draw(st.sampled_from(["local", "shared"])),
        logins=draw(st.booleans()),
    )


@settings(max_examples=200, deadline=None)
@given(labs())
def test_any_lab_round_trips(config: LabConfig) -> None:
    assert loads(dumps(config)) == config
