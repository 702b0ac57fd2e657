"""The Lab: the façade every UI drives, tested as a UI would use it."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from lbplay.core.events import ControlAction, Event, RequestCompleted
from lbplay.errors import ConfigError, UnknownBackend
from lbplay.net.fake_backend import LatencyModel
from lbplay.net.lab import Lab, LabConfig, parse_backend_url
from lbplay.net.proxy_http import ProxyConfig


def quiet(**changes: object) -> LabConfig:
    """A lab with no generated traffic and no admin API, unless asked."""
    settings: dict[str, object] = {
        "backends": 3,
        "rate": 0.0,
        "admin": False,
        "latency": LatencyModel.fixed(1.0),
    }
    settings.update(changes)
    return LabConfig(**settings)  # type: ignore[arg-type]


async def backend_of(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        assert response.status == 200
        await response.read()
        return response.headers["X-Lbplay-Backend"]


async def test_lab_routes_real_requests_and_records_them() -> None:
    async with Lab(quiet()) as lab:
        seen: list[Event] = []
        lab.subscribe(seen.append)
        async with aiohttp.ClientSession() as session:
            names = [await backend_of(session, lab.proxy_url + "/x") for _ in range(6)]
        assert names == ["s1", "s2", "s3", "s1", "s2", "s3"]
        completed = [e for e in seen if isinstance(e, RequestCompleted)]
        assert [e.backend for e in completed] == names
        assert completed[0].reason == "s1: next in rotation (1 of 3)"
        view = lab.snapshot()
        assert view.metrics.total.requests == 6
        assert [b.completed for b in view.backends] == [2, 2, 2]
        assert len(view.recent) == 6


async def test_keep_alive_pins_to_one_backend_in_l4_and_spreads_in_l7() -> None:
    """The classic lesson: L4 balances connections, L7 balances requests."""
    async with Lab(quiet(backends=2)) as lab:

        async def over_one_connection() -> set[str]:
            connector = aiohttp.TCPConnector(limit=1)
            async with aiohttp.ClientSession(connector=connector) as session:
                seen = set()
                for _ in range(100):
                    async with session.get(lab.proxy_url + "/") as response:
                        await response.read()
                        seen.add(response.headers["X-Backend"])
                return seen

        assert await over_one_connection() == {"s1", "s2"}
        port = lab.proxy.port  # type: ignore[union-attr]
        await lab.set_mode("l4")
        assert lab.proxy.port == port  # type: ignore[union-attr]  # same URL for the learner
        assert len(await over_one_connection()) == 1
        assert "TCP connections" in lab.snapshot().limits


async def test_kill_revive_weight_and_algorithm_controls() -> None:
    async with Lab(quiet()) as lab:
        actions: list[ControlAction] = []
        lab.subscribe(lambda e: actions.append(e) if isinstance(e, ControlAction) else None)
        await lab.kill("s2")
        assert lab.fakes["s2"].state == "killed"
        async with aiohttp.ClientSession() as session:
            served = [await backend_of(session, lab.proxy_url) for _ in range(3)]
        assert "s2, s3" in served  # refused, retried on the next backend
        await lab.revive("s2")
        lab.set_weight("s1", 3)
        lab.set_algorithm("weighted_round_robin")
        async with aiohttp.ClientSession() as session:
            served = [await backend_of(session, lab.proxy_url) for _ in range(5)]
        assert sorted(served) == ["s1", "s1", "s1", "s2", "s3"]
        assert [a.action for a in actions] == [
            "s2 killed",
            "s2 revived",
            "s1 weight",
            "algorithm weighted_round_robin",
        ]
        assert "health checker" in actions[0].watch or "retries" in actions[0].watch


async def test_add_and_remove_backends() -> None:
    async with Lab(quiet(backends=1)) as lab:
        name = await lab.add_backend(weight=2)
        assert name == "s2"
        assert await lab.add_backend("web-9") == "web-9"
        with pytest.raises(ConfigError, match="already exists"):
            await lab.add_backend("s2")
        await lab.remove_backend("s2")
        assert [b.name for b in lab.snapshot().backends] == ["s1", "web-9"]
        with pytest.raises(UnknownBackend):
            await lab.kill("s2")


async def test_backend_knobs_reach_the_fake_servers() -> None:
    async with Lab(quiet(backends=2)) as lab:
        lab.set_slow("s1", 50)
        lab.set_error_rate("s2", 1.0)
        lab.set_capacity("s1", 2)
        lab.set_brownout("s1", True)
        view = {b.name: b for b in lab.snapshot().backends}
        assert view["s1"].slow_ms == 50
        assert view["s1"].capacity == 2
        assert view["s1"].brownout
        assert view["s2"].error_rate == 1.0
        with pytest.raises(ConfigError):
            lab.set_error_rate("s1", 2.0)


async def test_traffic_controls_and_burst() -> None:
    async with Lab(quiet(backends=2)) as lab:
        await lab.burst(50)
        view = lab.snapshot()
        assert view.traffic.completed == 50
        assert view.metrics.total.requests == 50
        assert view.client_metrics.total.requests == 50
        lab.set_rate(20)
        lab.pause()
        assert lab.snapshot().paused
        lab.resume()
        with pytest.raises(ConfigError):
            lab.set_rate(-1)


async def test_real_backends_are_balanced() -> None:
    async with Lab(quiet(backends=2)) as fakes:
        urls = tuple(f"http://{b.address}" for b in fakes.snapshot().backends)
        async with Lab(quiet(real_backends=urls)) as lab:
            assert [b.process for b in lab.snapshot().backends] == ["real", "real"]
            async with (
                aiohttp.ClientSession() as session,
                session.get(lab.proxy_url + "/via") as response,
            ):
                body = json.loads(await response.read())
            assert body["backend"] == "s1"
            with pytest.raises(ConfigError, match="real server"):
                await lab.kill("b1")


@pytest.mark.parametrize(
    ("url", "message"),
    [("ftp://x:1", "use http://host:port"), ("http://x", "port"), ("http://x:99999", "port")],
)
def test_bad_backend_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_backend_url(url)


async def test_stop_leaves_nothing_running() -> None:
    before = asyncio.all_tasks()
    lab = Lab(quiet(rate=50.0, admin=True))
    await lab.start()
    ports = [lab.proxy.port] + [f.port for f in lab.fakes.values()]  # type: ignore[union-attr]
    assert lab.admin is not None
    ports.append(lab.admin.port)
    await lab.stop()
    await lab.stop()  # twice is fine
    assert asyncio.all_tasks() - before == set()
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)


async def test_a_failed_start_cleans_up() -> None:
    async with Lab(quiet(backends=1)) as taken:
        port = taken.proxy.port  # type: ignore[union-attr]
        config = quiet(backends=2, proxy=ProxyConfig(port=port))
        lab = Lab(config)
        before = asyncio.all_tasks()
        with pytest.raises(ConfigError, match="cannot listen"):
            await lab.start()
        assert all(f.state != "alive" for f in lab.fakes.values())
        assert asyncio.all_tasks() - before == set()


async def test_reset_restores_the_starting_lab() -> None:
    async with Lab(quiet()) as lab:
        await lab.kill("s1")
        lab.set_slow("s2", 100)
        lab.set_weight("s3", 5)
        lab.drain("s3")
        await lab.add_backend()
        lab.set_algorithm("maglev")
        await lab.set_mode("l4")
        lab.pause()
        await lab.reset()
        view = lab.snapshot()
        assert [b.name for b in view.backends] == ["s1", "s2", "s3"]
        assert {b.process for b in view.backends} == {"alive"}
        assert {b.status for b in view.backends} == {"up"}
        assert [b.weight for b in view.backends] == [1, 1, 1]
        assert view.backends[1].slow_ms == 0
        assert (view.algorithm, view.mode, view.paused) == ("round_robin", "l7", False)


async def test_backup_backends_from_the_config() -> None:
    async with Lab(quiet(backends=2, backups=1)) as lab:
        view = {b.name: b for b in lab.snapshot().backends}
        assert view["s3"].backup
        assert view["s3"].status == "backup"
        async with aiohttp.ClientSession() as session:
            served = {await backend_of(session, lab.proxy_url) for _ in range(6)}
        assert served == {"s1", "s2"}
