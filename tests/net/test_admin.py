"""The admin API: every control over HTTP, with the token guarding changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from lbplay.net.fake_backend import LatencyModel
from lbplay.net.lab import Lab, LabConfig


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    config = LabConfig(backends=2, rate=0.0, latency=LatencyModel.fixed(1.0))
    async with Lab(config) as running:
        yield running


async def call(
    lab: Lab, method: str, path: str, body: Any = None, *, token: str | None = "ok"
) -> tuple[int, Any]:
    assert lab.admin is not None
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {lab.admin.token if token == 'ok' else token}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, lab.admin.url + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_state_is_json_of_the_snapshot(lab: Lab) -> None:
    status, state = await call(lab, "GET", "/state", token=None)
    assert status == 200
    assert state["mode"] == "l7"
    assert state["algorithm"] == "round_robin"
    assert [b["name"] for b in state["backends"]] == ["s1", "s2"]
    assert state["proxy_url"] == lab.proxy_url
    assert "p99" in state["metrics"]["total"]


async def test_changes_need_the_token(lab: Lab) -> None:
    assert (await call(lab, "POST", "/backends/s1/kill", token=None))[0] == 401
    assert (await call(lab, "POST", "/backends/s1/kill", token="wrong"))[0] == 401
    assert lab.fakes["s1"].state == "alive"


async def test_every_backend_control(lab: Lab) -> None:
    for action, body in [
        ("kill", None),
        ("revive", None),
        ("weight", {"weight": 3}),
        ("slow", {"ms": 20}),
        ("errors", {"rate": 0.25}),
        ("latency", {"kind": "lognormal", "ms": 15, "sigma": 0.3}),
        ("capacity", {"limit": 4}),
        ("hang", {"on": True}),
        ("hang", {"on": False}),
        ("brownout", {"on": True}),
    ]:
        status, answer = await call(lab, "POST", f"/backends/s1/{action}", body)
        assert status == 200, (action, answer)
    fake = lab.fakes["s1"]
    assert (fake.slow_ms, fake.error_rate, fake.capacity, fake.brownout) == (20, 0.25, 4, True)
    assert lab.balancer.get("s1").weight == 3
    assert str(fake.latency).startswith("lognormal median 15 ms")


async def test_fleet_algorithm_mode_and_traffic(lab: Lab) -> None:
    assert await call(lab, "POST", "/backends", {"weight": 2}) == (201, {"added": "s3"})
    assert (await call(lab, "DELETE", "/backends/s3"))[0] == 200
    answer = (await call(lab, "POST", "/algorithm", {"name": "maglev"}))[1]
    assert answer == {"algorithm": "maglev", "pool": "default"}
    assert (await call(lab, "POST", "/mode", {"mode": "L4"}))[1] == {"mode": "l4"}
    assert (await call(lab, "POST", "/traffic", {"rate": 30}))[1] == {
        "rate": 30.0,
        "paused": False,
    }
    assert (await call(lab, "POST", "/traffic", {"paused": True}))[1]["paused"] is True
    assert (await call(lab, "POST", "/traffic/burst", {"count": 10}))[0] == 200
    status, events = await call(lab, "GET", "/events?limit=3", token=None)
    assert status == 200
    assert events["events"][-1]["type"] in ("ConnectionCompleted", "ControlAction")
    status, algorithms = await call(lab, "GET", "/algorithms", token=None)
    assert "maglev" in [a["name"] for a in algorithms]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/backends/nope/kill", None, 404, "no backend named 'nope'"),
        ("POST", "/backends/s1/explode", None, 404, "no action 'explode'"),
        ("POST", "/backends/s1/weight", {"weight": "x"}, 400, "weight must be a whole number"),
        ("POST", "/backends/s1/weight", {"weight": 0}, 400, "bad weight 0"),
        ("POST", "/backends/s1/errors", {"rate": 7}, 400, "error"),
        ("POST", "/algorithm", {"name": "leastconn"}, 400, "did you mean least_connections"),
        ("POST", "/algorithm", {"name": "maglev", "options": {"table_size": 10}}, 400, "prime"),
        ("POST", "/mode", {"mode": "l3"}, 400, "l7 or l4"),
        ("POST", "/traffic", {"rate": "fast"}, 400, "rate must be a number"),
        ("POST", "/traffic", [1, 2], 400, "JSON object"),
        ("GET", "/events?since=x", None, 400, "whole numbers"),
    ],
)
async def test_bad_requests_get_a_clear_error(
    lab: Lab, method: str, path: str, body: Any, status: int, message: str
) -> None:
    got, answer = await call(lab, method, path, body)
    assert got == status
    assert message in answer["error"]


async def test_sessions_sticky_pools_and_routes(lab: Lab) -> None:
    status, answer = await call(lab, "POST", "/sessions", {"mode": "cookie"})
    assert status == 200
    assert answer == {"mode": "cookie", "store": "each backend's memory", "logins": True}
    assert (await call(lab, "POST", "/sticky", {"mode": "ip/24"}))[1] == {"sticky": "ip/24"}
    assert (await call(lab, "POST", "/pools", {"name": "api", "backends": 1}))[0] == 201
    routes = await call(lab, "POST", "/routes", {"rules": ["path=/api->api"]})
    assert routes == (200, {"routes": ["path=/api->api"]})
    state = (await call(lab, "GET", "/state", token=None))[1]
    assert state["routes"] == ["path=/api->api"]
    assert state["pools"] == {"default": "round_robin", "api": "round_robin"}
    assert (await call(lab, "DELETE", "/pools/api"))[0] == 400  # a route still uses it
    assert (await call(lab, "POST", "/routes", {"rules": []}))[0] == 200
    assert (await call(lab, "DELETE", "/pools/api"))[0] == 200
    bad = await call(lab, "POST", "/sessions", {"store": "redis://127.0.0.1:1/0"})
    assert bad[0] == 400
    assert "cannot reach Redis" in bad[1]["error"]
    assert (await call(lab, "POST", "/routes", {"rules": "path=/x->y"}))[0] == 400
