"""The admin API: every control over HTTP in its JSON form, the token guarding changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from lbplay.model.config import PoolSpec
from lbplay.net.admin import AdminApi
from lbplay.net.lab import Lab
from tests.labs import quiet


@pytest.fixture
async def admin() -> AsyncIterator[AdminApi]:
    """A running lab of two backends and a pool "api" of two, with its admin API."""
    config = quiet(backends=2, pools=(PoolSpec("api", 2),))
    async with Lab(config) as lab, AdminApi(lab) as api:
        yield api


async def call(
    admin: AdminApi, method: str, path: str, body: Any = None, *, token: str | None = "ok"
) -> tuple[int, Any]:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {admin.token if token == 'ok' else token}"
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, admin.url + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


async def test_state_is_json_of_the_snapshot(admin: AdminApi) -> None:
    status, state = await call(admin, "GET", "/state", token=None)
    assert status == 200
    assert state["mode"] == "l7"
    assert state["algorithm"] == "round_robin"
    assert [b["name"] for b in state["backends"]] == ["s1", "s2", "api-1", "api-2"]
    assert state["backends"][0]["health"] == "UP"
    assert state["backends"][0]["admin"] == "active"
    assert state["proxy_url"] == admin.lab.proxy_url
    assert "p99" in state["metrics"]["total"]


async def test_changes_need_the_token(admin: AdminApi) -> None:
    kill = {"control": "kill", "backend": "s1"}
    assert (await call(admin, "POST", "/control", kill, token=None))[0] == 401
    assert (await call(admin, "POST", "/control", kill, token="wrong"))[0] == 401
    assert (await call(admin, "POST", "/backends/s1/kill", token="wrong"))[0] == 401
    assert admin.lab.fleet.fakes["s1"].state == "alive"


async def test_every_backend_control_by_path(admin: AdminApi) -> None:
    for control, body in [
        ("kill", None),
        ("revive", None),
        ("weight", {"weight": 3}),
        ("slow", {"ms": 20}),
        ("errors", {"rate": 0.25}),
        ("latency", {"kind": "lognormal", "ms": 15, "sigma": 0.3}),
        ("capacity", {"limit": 4}),
        ("hang", None),
        ("hang", {"off": True}),
        ("brownout", None),
        ("max-conns", {"limit": 5}),
        ("max_conns", {"limit": None}),
        ("backup", None),
        ("backup", {"off": True}),
        ("disable", None),
        ("enable", None),
        ("drain", {"timeout": 5}),
    ]:
        status, answer = await call(admin, "POST", f"/backends/s1/{control}", body)
        assert status == 200, (control, answer)
    fake = admin.lab.fleet.fakes["s1"]
    assert (fake.slow_ms, fake.error_rate, fake.capacity, fake.brownout) == (20, 0.25, 4, True)
    assert admin.lab.balancer.get("s1").weight == 3
    assert str(fake.latency).startswith("lognormal median 15 ms")
    assert admin.lab.balancer.status("s1").admin == "drained"  # nothing was in flight


async def test_a_backend_of_another_pool_is_found_by_name(admin: AdminApi) -> None:
    """Found broken: the admin API only looked in the default pool (404 for api-1)."""
    status, answer = await call(admin, "POST", "/backends/api-1/kill")
    assert status == 200, answer
    assert answer["action"] == "api-1 killed"
    assert admin.lab.fleet.fakes["api-1"].state == "killed"
    assert (await call(admin, "POST", "/control", {"control": "revive", "backend": "api-1"}))[
        0
    ] == 200
    status, answer = await call(admin, "POST", "/backends/api-2/weight", {"weight": 4})
    assert status == 200
    assert admin.lab.pools["api"].get("api-2").weight == 4


async def test_lab_wide_controls_in_their_json_form(admin: AdminApi) -> None:
    status, answer = await call(admin, "POST", "/control", {"control": "add", "weight": 2})
    assert (status, answer["result"]) == (200, {"added": "s3"})
    assert (await call(admin, "POST", "/control", {"control": "remove", "backend": "s3"}))[0] == 200
    answer = (
        await call(admin, "POST", "/control", {"control": "algorithm", "algorithm": "maglev"})
    )[1]
    assert answer["result"] == {"algorithm": "maglev", "pool": "default"}
    assert answer["control"] == "algorithm maglev"
    mode = (await call(admin, "POST", "/control", {"control": "mode", "mode": "L4"}))[1]
    assert mode["action"] == "mode L4"
    assert (await call(admin, "POST", "/control", {"control": "rate", "rate": 30}))[0] == 200
    assert (await call(admin, "POST", "/control", {"control": "pause"}))[0] == 200
    assert admin.lab.running_traffic().paused
    assert (await call(admin, "POST", "/control", {"control": "burst", "count": 10}))[0] == 200
    status, events = await call(admin, "GET", "/events?limit=3", token=None)
    assert status == 200
    assert events["events"][-1]["type"] in ("ConnectionCompleted", "ControlAction")
    status, algorithms = await call(admin, "GET", "/algorithms", token=None)
    assert "maglev" in [a["name"] for a in algorithms]
    status, controls = await call(admin, "GET", "/controls", token=None)
    assert {"name": "slow", "usage": "slow BACKEND MS"}.items() <= controls[2].items()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/backends/nope/kill", None, 404, "no backend named 'nope'"),
        ("POST", "/backends/s1/explode", None, 404, "no control 'explode'"),
        ("POST", "/backends/s1/rate", None, 404, "not a control of one backend"),
        ("POST", "/backends/s1/weight", {"weight": "x"}, 400, "weight: 'weight'"),
        ("POST", "/backends/s1/weight", {"weight": 0}, 400, "bad weight 0"),
        ("POST", "/backends/s1/weight", {"backend": "s2"}, 400, "named in the path"),
        ("POST", "/backends/s1/errors", {"rate": 7}, 400, "error rate"),
        (
            "POST",
            "/control",
            {"control": "algorithm", "algorithm": "leastconn"},
            400,
            "did you mean least_connections",
        ),
        (
            "POST",
            "/control",
            {"control": "algorithm", "algorithm": "maglev", "options": {"table_size": 10}},
            400,
            "prime",
        ),
        ("POST", "/control", {"control": "mode", "mode": "l3"}, 400, "l7 or l4"),
        ("POST", "/control", {"control": "rate", "rate": "fast"}, 400, "'rate'"),
        ("POST", "/control", {"control": "burst", "count": 10, "x": 1}, 400, "no field 'x'"),
        ("POST", "/control", {"control": "frob"}, 400, "no control 'frob'"),
        ("POST", "/control", [1, 2], 400, "JSON object"),
        ("POST", "/control", {"control": "kill"}, 400, "kill needs 'backend'"),
        ("GET", "/events?since=x", None, 400, "since must be a whole number"),
        ("GET", "/events?limit=-1", None, 400, "limit must be a whole number"),
    ],
)
async def test_bad_requests_get_a_clear_error(
    admin: AdminApi, method: str, path: str, body: Any, status: int, message: str
) -> None:
    got, answer = await call(admin, method, path, body)
    assert got == status
    assert message in answer["error"]


async def test_sessions_sticky_pools_and_routes(admin: AdminApi) -> None:
    status, answer = await call(
        admin, "POST", "/control", {"control": "sessions", "mode": "cookie"}
    )
    assert status == 200
    assert answer["detail"] == "signed affinity cookie; sessions in each backend's memory"
    sticky = await call(admin, "POST", "/control", {"control": "sticky", "sticky": "ip/24"})
    assert sticky[1]["detail"] == "ip/24"
    pool = {"control": "pool add", "name": "web", "backends": 1}
    assert (await call(admin, "POST", "/control", pool))[0] == 200
    routes = {"control": "routes", "rules": ["path=/web->web"]}
    assert (await call(admin, "POST", "/control", routes))[0] == 200
    state = (await call(admin, "GET", "/state", token=None))[1]
    assert state["routes"] == ["path=/web->web"]
    assert {n: p["algorithm"] for n, p in state["pools"].items()} == {
        "default": "round_robin",
        "api": "round_robin",
        "web": "round_robin",
    }
    remove = {"control": "pool_remove", "name": "web"}
    assert (await call(admin, "POST", "/control", remove))[0] == 400  # a route still uses it
    assert (await call(admin, "POST", "/control", {"control": "routes", "rules": []}))[0] == 200
    assert (await call(admin, "POST", "/control", remove))[0] == 200
    bad = await call(
        admin, "POST", "/control", {"control": "store", "store": "redis://127.0.0.1:1/0"}
    )
    assert bad[0] == 400
    assert "cannot reach Redis" in bad[1]["error"]
    bad_rules = {"control": "routes", "rules": "path=/x->y"}
    assert (await call(admin, "POST", "/control", bad_rules))[0] == 400


async def test_events_by_kind_and_backend_outlive_the_request_flood(admin: AdminApi) -> None:
    """A DOWN from a minute ago is still there at hundreds of requests a second: the
    Lab keeps health, control and session events apart from requests."""
    lab = admin.lab
    await lab.apply("weight s2 3")
    await lab.apply("burst 1500")  # more requests than the all-kinds ring keeps
    status, answer = await call(admin, "GET", "/events?kind=control&backend=s2", token=None)
    assert status == 200
    assert [e["text"] for e in answer["events"]][-1].startswith("s2 weight: now 3")
    assert all(e["type"] == "ControlAction" for e in answer["events"])
    status, answer = await call(admin, "GET", "/events?kind=request&limit=5", token=None)
    assert [e["type"] for e in answer["events"]] == ["RequestCompleted"] * 5
    last = answer["last"]
    assert (await call(admin, "GET", f"/events?since={last}", token=None))[1]["events"] == []
    for query, message in (
        ("kind=gossip", "no kind of event 'gossip'"),
        ("backend=a b", "bad backend name"),
    ):
        status, answer = await call(admin, "GET", f"/events?{query}", token=None)
        assert (status, message in answer["error"]) == (400, True)
