"""Active health checks against real fake backends, and failover through the Lab."""

from __future__ import annotations

import time

import aiohttp

from lbplay.core.backends import Backend
from lbplay.core.balancer import Balancer
from lbplay.core.events import BackendStateChanged, Event
from lbplay.core.health import HealthCheckConfig
from lbplay.model.config import LabConfig
from lbplay.model.controls import Kill
from lbplay.model.faults import LatencyModel
from lbplay.net.fake_backend import FakeBackend
from lbplay.net.health_checker import HealthChecker
from lbplay.net.lab import Lab
from tests.net.waiting import EventWaiter


def changed(event: Event, backend: str, new: str) -> bool:
    return isinstance(event, BackendStateChanged) and (event.backend, event.new) == (backend, new)


FAST = HealthCheckConfig(interval=0.05, timeout=0.05, rise=2, fall=3, name="test")


async def test_killed_backend_goes_down_with_evidence_and_comes_back() -> None:
    waiter = EventWaiter()
    async with FakeBackend("s1") as s1, FakeBackend("s2") as s2:
        balancer = Balancer(
            [Backend("s1", address=s1.address), Backend("s2", address=s2.address)],
            events=waiter.publish,
            panic_threshold=0,
        )
        checker = HealthChecker(balancer, FAST)
        await checker.start()
        try:
            await s2.kill()
            killed_at = time.monotonic()
            down = await waiter.wait(lambda e: changed(e, "s2", "DOWN"))
            assert isinstance(down, BackendStateChanged)
            took = time.monotonic() - killed_at
            assert down.evidence == (
                "s2 DOWN after 3 consecutive failures: connection refused, connection refused,"
                " connection refused"
            )
            assert took <= FAST.detection_time + 0.5
            assert [b.name for b in balancer.eligible] == ["s1"]
            await s2.revive()
            up = await waiter.wait(lambda e: changed(e, "s2", "UP"))
            assert isinstance(up, BackendStateChanged)
            assert up.evidence == "s2 UP after 2 consecutive successes"
            assert [b.name for b in balancer.eligible] == ["s1", "s2"]
        finally:
            await checker.stop()


async def test_a_hung_backend_fails_by_timeout_and_brownout_stays_green() -> None:
    waiter = EventWaiter()
    async with FakeBackend("s1") as s1, FakeBackend("s2", brownout=True) as s2:
        balancer = Balancer(
            [Backend("s1", address=s1.address), Backend("s2", address=s2.address)],
            events=waiter.publish,
        )
        checker = HealthChecker(balancer, FAST)
        await checker.start()
        try:
            await s2.wait_until(lambda stats: stats.health_checks >= 4)
            assert checker.states["s2"].status == "UP"  # the shallow check lies
            s1.hang = True
            down = await waiter.wait(lambda e: changed(e, "s1", "DOWN"))
            assert isinstance(down, BackendStateChanged)
            assert "timeout, timeout, timeout" in down.evidence
        finally:
            s1.hang = False
            await checker.stop()


async def test_preset_change_and_turning_checks_off() -> None:
    async with FakeBackend("s1") as s1:
        waiter = EventWaiter()
        balancer = Balancer(
            [Backend("s1", address=s1.address)], panic_threshold=0, events=waiter.publish
        )
        checker = HealthChecker(balancer, FAST)
        await checker.start()
        try:
            await s1.kill()
            await waiter.wait(lambda e: changed(e, "s1", "DOWN"))
            checker.set_enabled(False)
            assert balancer.is_available("s1")  # off means everyone counts as UP
            checker.configure(HealthCheckConfig(interval=0.05, timeout=0.05, rise=1, fall=1))
            assert checker.states["s1"].config.fall == 1
        finally:
            await checker.stop()


async def test_lab_kill_is_out_of_rotation_within_detection_time() -> None:
    health = HealthCheckConfig(interval=0.1, timeout=0.1, rise=2, fall=3)
    config = LabConfig(backends=3, rate=0.0, health=health, latency=LatencyModel.fixed(1.0))
    async with Lab(config) as lab:
        waiter = EventWaiter()
        lab.subscribe(waiter.publish)
        await lab.apply(Kill("s2"))
        await waiter.wait(lambda e: changed(e, "s2", "DOWN"))
        async with aiohttp.ClientSession() as session:
            for _ in range(6):
                async with session.get(lab.proxy_url) as response:
                    assert response.headers["X-Lbplay-Backend"] in ("s1", "s3")
        view = {b.name: b for b in lab.snapshot().backends}
        assert view["s2"].health == "DOWN"
        assert not view["s2"].available
        assert view["s2"].last_check == "connection refused"
