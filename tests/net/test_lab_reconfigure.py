"""``Lab.reconfigure``: a running lab becomes another setup (a lesson's), live, on the
same proxy URL, with its faults from the start; and back again."""

from __future__ import annotations

import aiohttp

from lbplay.core.health import preset
from lbplay.model.config import BackendSpec
from lbplay.model.faults import LatencyModel
from lbplay.model.wire import FAKE_BACKEND_HEADER
from lbplay.net.lab import Lab
from tests.labs import quiet


async def served_by(lab: Lab, count: int) -> list[str]:
    async with aiohttp.ClientSession() as client:
        names = []
        for _ in range(count):
            async with client.get(lab.proxy_url + "/") as response:
                await response.read()
                names.append(response.headers[FAKE_BACKEND_HEADER])
        return names


async def test_a_lab_becomes_a_lessons_setup_and_back(quiet_lab: Lab) -> None:
    url = quiet_lab.proxy_url
    lesson = quiet(
        backends=(
            BackendSpec("s1", 5, capacity=2),
            BackendSpec("s2", 3, slow_ms=40.0),
            BackendSpec("s3", 2),
            BackendSpec("s4", backup=True),
        ),
        algorithm="weighted_round_robin",
        health=preset("haproxy", 0.1),
    )
    await quiet_lab.apply("kill s3")
    await quiet_lab.apply("errors s1 100%")
    await quiet_lab.reconfigure(lesson)
    snapshot = quiet_lab.snapshot()
    assert quiet_lab.proxy_url == url
    assert snapshot.algorithm == "weighted_round_robin"
    assert snapshot.health_name == "haproxy ×0.1"
    s1, s2, s3, s4 = (snapshot.backend(name) for name in ("s1", "s2", "s3", "s4"))
    assert (s1.weight, s1.capacity, s1.error_rate) == (5, 2, 0.0)
    assert (s2.weight, s2.slow_ms) == (3, 40.0)
    assert s3.process == "alive"
    assert s4.backup
    smooth = ["s1", "s2", "s3", "s1", "s1", "s2", "s1", "s3", "s2", "s1"]
    assert await served_by(quiet_lab, 10) == smooth
    await quiet_lab.reconfigure(quiet())
    snapshot = quiet_lab.snapshot()
    assert [b.name for b in snapshot.backends] == ["s1", "s2", "s3"]
    assert snapshot.backend("s2").slow_ms == 0.0
    assert snapshot.backend("s1").capacity is None
    assert snapshot.algorithm == "round_robin"


async def test_a_setup_slow_backend_is_slow_from_its_first_request() -> None:
    config = quiet(backends=(BackendSpec("s1", slow_ms=60.0),), latency=LatencyModel.fixed(1.0))
    async with Lab(config) as lab:
        await served_by(lab, 1)
        latencies = [r.latency for r in lab.recent]
        assert latencies
        assert min(latencies) >= 0.060


async def test_added_backends_are_named_on_from_the_setup(quiet_lab: Lab) -> None:
    async def add() -> str:
        return (await quiet_lab.apply("add")).event.backend

    await quiet_lab.apply("remove s1")
    assert await add() == "s4"  # not s1 again: "s1" meant the removed one
    assert await add() == "s5"
    await quiet_lab.apply("reset")
    assert await add() == "s4"
    await quiet_lab.reconfigure(quiet(backends=2))
    assert await add() == "s3"
