"""``balancer down``: the load balancer itself fails (misconception 14). Every request
fails while every backend stays UP; the clients' failures are the record; ``balancer
up`` (or a reset) brings it back on the same port."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from lbplay.core.events import Event, RequestCompleted
from lbplay.errors import ConfigError
from lbplay.model.faults import LatencyModel
from lbplay.net.lab import Lab
from tests.labs import quiet


async def get(url: str) -> int:
    async with aiohttp.ClientSession() as client, client.get(url + "/") as response:
        await response.read()
        return response.status


@pytest.mark.parametrize("mode", ["l7", "l4"])
async def test_while_the_balancer_is_down_every_request_fails(mode: str) -> None:
    config = quiet(rate=200.0, mode=mode, latency=LatencyModel.fixed(1.0))
    async with Lab(config) as lab:
        url = lab.proxy_url
        failed: asyncio.Queue[RequestCompleted] = asyncio.Queue()

        def hear(event: Event) -> None:
            if isinstance(event, RequestCompleted) and event.reason == "the balancer is down":
                failed.put_nowait(event)

        lab.subscribe(hear)
        outcome = await lab.apply("balancer down")
        assert "every client's connection is refused" in outcome.event.detail
        assert "single point of failure" in outcome.event.watch
        first = await asyncio.wait_for(failed.get(), 5)
        assert (first.status, first.backend) == (0, None)
        assert first.error == "connection refused"
        snapshot = lab.snapshot()
        assert not snapshot.balancer_up
        assert all(b.health == "UP" for b in snapshot.backends)
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(url)
        await lab.apply("balancer up")
        assert lab.proxy_url == url
        assert lab.snapshot().balancer_up
        assert await get(url) == 200


async def test_a_mode_switch_while_down_takes_effect_when_it_comes_back() -> None:
    async with Lab(quiet()) as lab:
        await lab.apply("balancer down")
        await lab.apply("mode l4")
        assert lab.mode == "l4"
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(lab.proxy_url)
        await lab.apply("reset")  # a reset brings the balancer back, in the lab's mode
        assert lab.snapshot().balancer_up
        assert lab.mode == "l7"
        assert await get(lab.proxy_url) == 200


async def test_balancer_takes_down_or_up() -> None:
    async with Lab(quiet()) as lab:
        with pytest.raises(ConfigError, match="down or up"):
            await lab.apply("balancer sideways")
        await lab.apply("balancer up")  # already up: nothing to do
        assert await get(lab.proxy_url) == 200
