"""A candidate's design: read strictly (one line naming the file, line and key for
every mistake) and turned into the real ``LabConfig`` it describes, times scaled."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbplay.core.routing import DEFAULT_POOL
from lbplay.course.design import (
    Design,
    DesignError,
    key_line,
    load,
    loads,
    parse,
    template,
    to_dict,
)
from lbplay.course.interview import load_prompts
from lbplay.model.faults import LatencyModel

GOOD = """\
mode = "l7"
routes = ["path=/static->static"]

[[pools]]
name = "api"
servers = 4
algorithm = "least_connections"
health = { interval = 10, timeout = 2, rise = 2, fall = 3 }
passive = { max_fails = 1, fail_timeout = 10 }
sessions = "shared"
retries = 2
retry_on = [502, 503]
drain_timeout = 30
slow_start = 20
max_conns = 50

[[pools]]
name = "static"
servers = 2
algorithm = "round_robin"
health = { interval = 10, timeout = 2, rise = 2, fall = 3 }
passive = { max_fails = 1, fail_timeout = 10 }
sessions = "shared"
retries = 2
retry_on = [502, 503]
drain_timeout = 30
slow_start = 20
max_conns = 50
"""


def test_a_design_becomes_the_lab_it_describes_with_times_scaled() -> None:
    design = loads(GOOD)
    config = design.lab(
        scale=0.1,
        rate=80,
        clients=30,
        logins=True,
        latency=LatencyModel.fixed(5.0),
        capacity=3,
        seed=7,
    )
    assert [b.name for b in config.backends] == ["api-1", "api-2", "api-3", "api-4"]
    assert all(b.capacity == 3 for b in config.all_backends())
    assert config.algorithm == "least_connections"
    [static] = config.pools
    assert (static.name, [b.name for b in static.fleet]) == ("static", ["static-1", "static-2"])
    # The first pool is the Lab's default pool: routes to it are rewritten.
    assert [(r.path, r.pool) for r in config.routes] == [("/static", "static")]
    assert config.health is not None
    assert (config.health.interval, config.health.timeout) == pytest.approx((1.0, 0.2))
    assert (config.health.rise, config.health.fall) == (2, 3)
    assert config.passive_nginx is not None
    assert config.passive_nginx.fail_timeout == pytest.approx(1.0)
    assert "5xx" in config.passive_nginx.counts  # retried 5xx count as failures, as in nginx
    assert (config.drain_timeout, config.slow_start) == pytest.approx((3.0, 2.0))
    assert config.max_conns == 50
    assert (config.sessions, config.sticky.mode, config.logins) == ("shared", "none", True)
    assert (config.proxy.retry.tries, config.proxy.retry.on_status) == (3, {502, 503})
    assert (config.rate, config.clients, config.seed) == (80, 30, 7)
    assert config.latency == LatencyModel.fixed(5.0)


def test_routes_to_the_main_pool_go_to_the_default_pool() -> None:
    design = loads(GOOD.replace('routes = ["path=/static->static"]', 'routes = ["path=/api->api"]'))
    [rule] = design.lab().routes
    assert rule.pool == DEFAULT_POOL


@pytest.mark.parametrize(
    ("sessions", "sticky", "store"),
    [
        ("none", "none", "local"),
        ("cookie", "cookie", "local"),
        ("ip", "ip", "local"),
        ("shared", "none", "shared"),
    ],
)
def test_session_strategies(sessions: str, sticky: str, store: str) -> None:
    design = loads(f'[[pools]]\nname = "web"\nservers = 3\nsessions = "{sessions}"\n')
    config = design.lab()
    assert (config.sticky.mode, config.sessions) == (sticky, store)


def test_a_design_reads_back_what_it_writes() -> None:
    design = loads(GOOD)
    assert parse(to_dict(design)) == design


def test_every_prompt_has_a_template_that_builds_and_is_not_the_answer() -> None:
    for prompt in load_prompts():
        text = prompt.template()
        assert f"--prompt {prompt.id}" in text
        design = loads(text)
        expected = [(p.name, p.servers) for p in prompt.model_design.pools]
        if prompt.template_servers is not None:  # the count is part of the answer
            expected[0] = (expected[0][0], prompt.template_servers)
            assert prompt.template_servers != prompt.model_design.main.servers
        assert [(p.name, p.servers) for p in design.pools] == expected
        assert design.main.algorithm == "round_robin"
        assert (design.main.sessions, design.main.retries) == ("none", 0)
        prompt.incident.lab(design)
    assert "servers = 7" in template(load_prompts()[0].model_design, servers=7)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ('mode = "l7"', 'mode = "l3"', 1, "mode must be l7 or l4, not 'l3'"),
        ("servers = 4", "servers = 0", 6, "pools[0].servers is how many servers the pool has"),
        ("servers = 4", "servers = 40", 6, "pools[0].servers is how many"),
        (
            'algorithm = "least_connections"',
            'algorithm = "least_connection"',
            7,
            "unknown algorithm 'least_connection'; did you mean least_connections",
        ),
        (
            "health = { interval = 10, timeout = 2, rise = 2, fall = 3 }",
            "health = { interval = 10, timeout = 2 }",
            8,
            "pools[0].health.rise: a health check needs rise (successes in a row before a"
            " server is UP again): checks without thresholds are a red flag",
        ),
        (
            "health = { interval = 10, timeout = 2, rise = 2, fall = 3 }",
            "health = { interval = 0, timeout = 2, rise = 2, fall = 3 }",
            8,
            "health check interval must be 0.01-3600 s",
        ),
        (
            "passive = { max_fails = 1,",
            "passive = { max_fail = 1,",
            9,
            "passive has no setting 'max_fail'",
        ),
        (
            'sessions = "shared"',
            'sessions = "sticky"',
            10,
            "sessions must be one of none, cookie, ip, shared",
        ),
        (
            "retries = 2",
            "retries = 50",
            11,
            "retries is how many more servers a failed request may try",
        ),
        ("retry_on = [502, 503]", "retry_on = [404]", 12, "only 5xx and 429 statuses"),
        (
            "drain_timeout = 30",
            "drain_timeout = -1",
            13,
            "drain_timeout must be a number of seconds",
        ),
        ("max_conns = 50", "max_conns = true", 15, "pools[0].max_conns is requests in flight"),
        ('name = "api"', 'name = "default"', 5, "the Lab's own name for the main pool"),
        ('name = "static"', 'name = "api"', 18, "pools[1].name: two pools are named 'api'"),
        (
            'routes = ["path=/static->static"]',
            'routes = ["path=/x->cdn"]',
            2,
            "names no pool 'cdn'",
        ),
        (
            'algorithm = "round_robin"\nhealth = { interval = 10',
            'algorithm = "round_robin"\nhealth = { interval = 5',
            21,
            "pools[1].health: pool 'static' differs from 'api'; lbplay's Lab applies one health",
        ),
        (
            "slow_start = 20\nmax_conns = 50\n\n",
            "slow_start = 20\nmax_conns = 50\nweight = 3\n\n",
            16,
            "a pool has no setting 'weight'",
        ),
        ('mode = "l7"', 'mode = "l7"\nbalancers = 2', 2, "a design has no setting 'balancers'"),
    ],
)
def test_a_bad_design_is_one_line_with_its_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(DesignError) as caught:
        load(path)
    error = caught.value
    assert message in str(error)
    assert (error.path, error.line) == (path, line), str(error)
    assert str(error).startswith(f"{path}:{line}: ")
    assert "\n" not in str(error)


def test_designs_that_are_not_there_or_not_toml(tmp_path: Path) -> None:
    with pytest.raises(
        DesignError, match=r"no design file .*start from 'lbplay interview template'"
    ):
        load(tmp_path / "missing.toml")
    with pytest.raises(DesignError, match=r"mine\.toml:3: not valid TOML"):
        load(write(tmp_path, '[[pools]]\nname = "a"\nservers = = 3\n'))
    with pytest.raises(DesignError, match=r"mine\.toml:1: pools: a design needs at least one"):
        load(write(tmp_path, 'mode = "l7"\n'))
    with pytest.raises(DesignError, match="an L4 balancer sees connections"):
        loads('mode = "l4"\n[[pools]]\nname = "a"\nservers = 2\nsessions = "cookie"\n')


def test_key_lines_skip_multi_line_strings() -> None:
    text = 'text = """\n[[pools]]\nname = "fake"\n"""\n\n[[pools]]\nname = "real"\nservers = 2\n'
    assert key_line(text, "pools[0].name") == 7
    assert key_line(text, "pools[0].health") == 6  # not written: its table
    assert key_line(text, "pools") == 6
    assert key_line(text, "nowhere") == 1


def test_a_design_is_a_plain_value() -> None:
    design = loads(GOOD)
    assert isinstance(design, Design)
    assert design.main.server_names() == ["api-1", "api-2", "api-3", "api-4"]
    assert "api: 4 servers, least_connections; health every 10 s" in design.describe()[0]
