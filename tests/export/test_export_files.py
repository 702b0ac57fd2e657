"""Exported configurations: what each says, what it cannot say (as comments), and —
for nginx and HAProxy — that the real programs accept every export."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lbplay.core.affinity import AffinityConfig
from lbplay.core.health import preset
from lbplay.core.passive import NginxPassive, OutlierDetection
from lbplay.core.routing import Rule
from lbplay.errors import ConfigError
from lbplay.model.config import BackendSpec, LabConfig, PoolSpec
from lbplay.model.export import export
from lbplay.model.export_envoy import dump

WRR = LabConfig(backends="s1:5,s2:3,s3:2", algorithm="weighted_round_robin")
RICH = LabConfig(
    backends=(
        BackendSpec("s1", 5, max_conns=100),
        BackendSpec("s2", 3),
        BackendSpec("s3", backup=True),
    ),
    algorithm="least_connections",
    health=preset("haproxy"),
    passive_nginx=NginxPassive(max_fails=2, fail_timeout=10.0),
    slow_start=30.0,
    pools=(PoolSpec("api", 2, "ring_hash", {"vnodes": 100}),),
    routes=(Rule("api", path="/api"), Rule("api", header=("X-API-Version", "v2"))),
)
EVERY = [
    WRR,
    RICH,
    *(LabConfig(backends=3, algorithm=name) for name in (
        "round_robin", "ip_hash", "hash_modulo", "ring_hash", "random", "power_of_two_choices",
        "least_response_time", "maglev", "bounded_load", "least_bandwidth",
    )),
    LabConfig(backends=3, mode="l4"),
    LabConfig(backends=3, sticky=AffinityConfig.parse("cookie")),
    LabConfig(backends=3, sticky=AffinityConfig.parse("ip/24")),
    LabConfig(backends=3, passive_outlier=OutlierDetection(consecutive=5)),
]  # fmt: skip


def test_nginx_says_what_nginx_does_and_comments_what_it_cannot() -> None:
    text = export(RICH, "nginx", addresses={"s1": "127.0.0.1:9001"})
    assert "least_conn;" in text
    assert "server 127.0.0.1:9001 weight=5 max_conns=100 max_fails=2 fail_timeout=10s;" in text
    assert "backup;  # s3" in text
    assert "keepalive 32;" in text
    assert "hash $remote_addr consistent;" in text  # the api pool's ring
    assert "location = /api {" in text
    assert "location /api/ {" in text  # whole segments: /apis is not /api
    assert 'if ($http_x_api_version = "v2")' in text
    assert "# not expressible: active health checks — open-source nginx has only passive" in text
    assert "NGINX Plus: 'server ... slow_start=30s'" in text
    assert "placeholders" in text  # s2, s3 and the api pool had no address given


def test_haproxy_says_what_haproxy_does() -> None:
    text = export(RICH, "haproxy")
    assert "balance leastconn" in text
    assert "option httpchk GET /health" in text
    assert "server s1 127.0.0.1:8001 weight 5 maxconn 100 check inter 2000ms fall 3 rise 2" in text
    assert "slowstart 30s" in text
    assert "backup" in text
    assert "hash-type consistent" in text
    assert "use_backend api if r1_path" in text
    assert "acl r2_header req.hdr(X-API-Version) -m str v2" in text
    assert "# not expressible: panic mode" in text


def test_envoy_is_yaml_with_the_real_policy_names() -> None:
    data = yaml.safe_load(export(RICH, "envoy"))
    clusters = {c["name"]: c for c in data["static_resources"]["clusters"]}
    assert clusters["lbplay"]["lb_policy"] == "LEAST_REQUEST"
    assert clusters["api"]["lb_policy"] == "RING_HASH"
    check = clusters["lbplay"]["health_checks"][0]
    assert (check["interval"], check["unhealthy_threshold"], check["healthy_threshold"]) == (
        "2s",
        3,
        2,
    )
    endpoints = clusters["lbplay"]["load_assignment"]["endpoints"]
    assert [e["priority"] for e in endpoints] == [0, 1]  # the backup at priority 1
    assert endpoints[0]["lb_endpoints"][0]["load_balancing_weight"] == 5
    assert clusters["lbplay"]["common_lb_config"]["healthy_panic_threshold"]["value"] == 50
    routes = data["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"
    ]["route_config"]["virtual_hosts"][0]["routes"]
    assert [r["route"]["cluster"] for r in routes] == ["api", "api", "lbplay"]


def test_the_yaml_emitter_round_trips() -> None:
    value = {"a": [1, 2.5, {"b": "x: y", "c": []}], "d": {}, "e": True, "f": "@type"}
    assert yaml.safe_load("\n".join(dump(value))) == value


def test_bad_targets_and_listen_addresses_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown export target 'traefik'"):
        export(WRR, "traefik")
    with pytest.raises(ConfigError, match="bad listen address"):
        export(WRR, "nginx", listen="8080")


def needs(program: str) -> str:
    """The program's path; without it the test fails saying what to install."""
    found = shutil.which(program)
    assert found, f"this test runs the real {program}: apt-get install {program}"
    return found


@pytest.mark.parametrize("config", EVERY, ids=lambda c: f"{c.algorithm}-{c.mode}")
def test_nginx_accepts_every_export(tmp_path: Path, config: LabConfig) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text(export(config, "nginx", listen="127.0.0.1:18080"))
    (tmp_path / "logs").mkdir()
    done = subprocess.run(
        [needs("nginx"), "-t", "-p", str(tmp_path), "-c", str(conf), "-g", f"pid {tmp_path}/pid;"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("config", EVERY, ids=lambda c: f"{c.algorithm}-{c.mode}")
def test_haproxy_accepts_every_export(tmp_path: Path, config: LabConfig) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(export(config, "haproxy", listen="127.0.0.1:18080"))
    done = subprocess.run(
        [needs("haproxy"), "-c", "-f", str(cfg)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
