"""Fake backends: knobs, endpoints and lifecycle, against real loopback sockets.

Synchronisation is by awaiting the backend's own counters (``wait_until``), never by
sleeping; the only waits are the latencies under test and one client-side timeout, each
a tenth of a second or so.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import socket
import statistics
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import hdrs, web

from lbplay.errors import ConfigError, LbplayError
from lbplay.model.faults import MAX_DELAY_MS, LatencyModel
from lbplay.model.wire import FAKE_BACKEND_HEADER as X_BACKEND
from lbplay.net.fake_backend import BACKEND_KEY, MAX_BYTES, FakeBackend

N_SAMPLES = 20_000


@pytest.fixture
async def backend() -> AsyncIterator[FakeBackend]:
    async with FakeBackend("s1", rng=random.Random(7)) as fake:
        yield fake


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_status(client: aiohttp.ClientSession, url: str) -> int:
    async with client.get(url) as response:
        await response.read()
        return response.status


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


# -- latency models (sampled, no waiting) ------------------------------------------


def test_fixed_latency_is_exact() -> None:
    rng = random.Random(1)
    assert {LatencyModel.fixed(25).sample(rng) for _ in range(100)} == {0.025}
    assert LatencyModel().sample(rng) == 0.0


def test_uniform_latency_stays_in_range_with_the_right_mean() -> None:
    model = LatencyModel.uniform(10, 30)
    rng = random.Random(2)
    samples = [model.sample(rng) * 1000 for _ in range(N_SAMPLES)]
    assert min(samples) >= 10
    assert max(samples) <= 30
    assert statistics.fmean(samples) == pytest.approx(20, rel=0.02)
    # evenly spread: each quarter of the range gets about a quarter of the samples
    quarters = [sum(10 + 5 * q <= s < 15 + 5 * q for s in samples) for q in range(4)]
    assert all(count == pytest.approx(N_SAMPLES / 4, rel=0.05) for count in quarters)


def test_lognormal_latency_has_the_median_and_tail_it_promises() -> None:
    model = LatencyModel.lognormal(20, sigma=1.0)
    rng = random.Random(3)
    samples = sorted(model.sample(rng) * 1000 for _ in range(N_SAMPLES))
    assert statistics.median(samples) == pytest.approx(20, rel=0.05)
    p99 = samples[int(0.99 * N_SAMPLES)]
    assert p99 == pytest.approx(model.p99_ms, rel=0.1)
    assert model.p99_ms == pytest.approx(20 * math.exp(2.326), rel=0.001)
    # heavy-tailed: the mean sits well above the median (exp(sigma²/2) ≈ 1.65x)
    assert statistics.fmean(samples) == pytest.approx(20 * math.exp(0.5), rel=0.08)


def test_lognormal_tail_is_clipped() -> None:
    model = LatencyModel.lognormal(MAX_DELAY_MS, sigma=3.0)
    rng = random.Random(4)
    assert max(model.sample(rng) for _ in range(1000)) == MAX_DELAY_MS / 1000


def test_same_seed_same_latencies() -> None:
    model = LatencyModel.lognormal(20, sigma=0.5)
    first, second = random.Random(9), random.Random(9)
    assert [model.sample(first) for _ in range(50)] == [model.sample(second) for _ in range(50)]


def test_latency_describes_itself() -> None:
    assert str(LatencyModel.fixed(20)) == "fixed 20 ms"
    assert str(LatencyModel.uniform(5, 50)) == "uniform 5-50 ms"
    assert str(LatencyModel.lognormal(20, sigma=1.0)) == "lognormal median 20 ms, p99 205 ms"


# -- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: LatencyModel.fixed(-1), "bad latency -1"),
        (lambda: LatencyModel.fixed(math.nan), "bad latency nan"),
        (lambda: LatencyModel.fixed(MAX_DELAY_MS + 1), "from 0 to 60000"),
        (lambda: LatencyModel.fixed(True), "bad latency True"),
        (lambda: LatencyModel.uniform(30, 10), "high end must not be below"),
        (lambda: LatencyModel.lognormal(20, sigma=-0.5), "bad sigma -0.5"),
        (lambda: LatencyModel.lognormal(20, sigma=4), "bad sigma 4"),
        (lambda: LatencyModel("fixed", 10, sigma=1.0), "sigma is only for lognormal"),
        (lambda: LatencyModel("gaussian", 10), "bad latency kind 'gaussian'"),  # type: ignore[arg-type]
    ],
)
def test_bad_latency_models_are_refused(build: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("knob", "value", "message"),
    [
        ("error_rate", 1.5, "bad error rate 1.5"),
        ("error_rate", -0.1, "bad error rate"),
        ("error_rate", math.nan, "bad error rate"),
        ("error_rate", True, "bad error rate"),
        ("capacity", 0, "bad capacity 0"),
        ("capacity", 2.5, "bad capacity 2.5"),
        ("capacity", False, "bad capacity False"),
        ("slow_ms", -5, "bad slow delay -5"),
        ("hang", 1, "bad hang 1"),
        ("brownout", "yes", "bad brownout 'yes'"),
        ("latency", 20, "expected a LatencyModel"),
    ],
)
def test_bad_knob_values_are_refused(knob: str, value: object, message: str) -> None:
    fake = FakeBackend("s1")
    with pytest.raises(ConfigError, match=message):
        setattr(fake, knob, value)
    with pytest.raises(ConfigError, match=message):
        FakeBackend("s1", **{knob: value})  # type: ignore[arg-type]


async def test_bad_name_and_port_are_refused() -> None:
    with pytest.raises(ConfigError, match="bad backend name"):
        FakeBackend("no spaces")
    with pytest.raises(ConfigError, match="bad port"):
        await FakeBackend("s1").start(port=70_000)


def test_default_rng_is_seeded_from_the_name() -> None:
    assert FakeBackend("s1").rng.random() == FakeBackend("s1").rng.random()
    assert FakeBackend("s1").rng.random() != FakeBackend("s2").rng.random()


# -- endpoints -----------------------------------------------------------------------


async def test_any_path_echoes_what_the_backend_saw(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    assert backend.url == f"http://127.0.0.1:{backend.port}"
    assert backend.address == f"127.0.0.1:{backend.port}"
    async with client.post(
        f"{backend.url}/api/items?q=a%20b&x=1", data=b"12345", headers={"X-Trace": "abc"}
    ) as response:
        assert response.status == 200
        assert response.headers[X_BACKEND] == "s1"
        body = await response.json()
    assert body["backend"] == "s1"
    assert body["method"] == "POST"
    assert body["path"] == "/api/items?q=a%20b&x=1"
    assert body["body_bytes"] == 5
    assert body["headers"]["X-Trace"] == "abc"
    assert body["headers"][hdrs.HOST] == backend.address
    assert backend.stats.served == 1


async def test_repeated_headers_are_joined_not_lost(backend: FakeBackend) -> None:
    # A raw socket: aiohttp's client would merge the duplicates before sending.
    reader, writer = await asyncio.open_connection("127.0.0.1", backend.port)
    writer.write(
        b"GET / HTTP/1.1\r\nHost: s1\r\nX-Forwarded-For: 10.0.0.1\r\n"
        b"x-forwarded-for: 10.0.0.2\r\nConnection: close\r\n\r\n"
    )
    response = await read_response(reader)
    writer.close()
    await writer.wait_closed()
    body = json.loads(response.partition(b"\r\n\r\n")[2])
    assert body["headers"]["X-Forwarded-For"] == "10.0.0.1, 10.0.0.2"


async def test_health_answers_ok(backend: FakeBackend, client: aiohttp.ClientSession) -> None:
    async with client.get(f"{backend.url}/health") as response:
        assert response.status == 200
        assert response.headers[X_BACKEND] == "s1"
        assert await response.json() == {"status": "ok", "backend": "s1"}
    assert backend.stats.health_checks == 1
    assert backend.stats.received == 0  # health checks do not count as traffic


async def test_bytes_streams_exactly_n_bytes(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    n = 1_000_003  # not a multiple of the chunk size
    async with client.get(f"{backend.url}/bytes?n={n}") as response:
        assert response.status == 200
        assert response.headers[X_BACKEND] == "s1"
        assert response.headers[hdrs.CONTENT_LENGTH] == str(n)
        received = 0
        async for chunk in response.content.iter_any():
            received += len(chunk)
    assert received == n
    assert backend.stats.bytes_sent == n
    assert await get_status(client, f"{backend.url}/bytes?n=0") == 200


@pytest.mark.parametrize("query", ["", "?n=", "?n=-1", "?n=abc", "?n=1e3", f"?n={MAX_BYTES + 1}"])
async def test_bytes_refuses_a_bad_n(
    backend: FakeBackend, client: aiohttp.ClientSession, query: str
) -> None:
    async with client.get(f"{backend.url}/bytes{query}") as response:
        assert response.status == 400
        assert "bad n" in (await response.json())["error"]


# -- faults --------------------------------------------------------------------------


async def test_fixed_latency_delays_a_real_request(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    backend.latency = LatencyModel.fixed(60)
    backend.slow_ms = 40
    started = time.perf_counter()
    assert await get_status(client, backend.url) == 200
    assert time.perf_counter() - started >= 0.1


async def test_capacity_queues_the_excess_so_overload_shows_as_latency(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    latency = 0.1
    backend.latency = LatencyModel.fixed(latency * 1000)
    backend.capacity = 1

    async def timed() -> float:
        started = time.perf_counter()
        assert await get_status(client, backend.url) == 200
        return time.perf_counter() - started

    first = asyncio.create_task(timed())
    second = asyncio.create_task(timed())
    await backend.wait_until(lambda s: s.queued == 1)
    times = sorted(await asyncio.gather(first, second))
    assert latency <= times[0] < 2 * latency
    assert 2 * latency <= times[1] < 3 * latency


async def test_raising_capacity_releases_queued_requests(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    backend.capacity = 1
    backend.latency = LatencyModel.fixed(MAX_DELAY_MS)
    stuck = asyncio.create_task(get_status(client, backend.url))
    await backend.wait_until(lambda s: s.in_progress == 1)
    backend.latency = LatencyModel.fixed(0)
    waiting = asyncio.create_task(get_status(client, backend.url))
    await backend.wait_until(lambda s: s.queued == 1)
    backend.capacity = 2
    assert await waiting == 200
    await backend.stop()  # drops the request still inside its minute of latency
    with pytest.raises(aiohttp.ClientError):
        await stuck


async def test_error_rate_one_always_fails_zero_never(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    backend.error_rate = 1.0
    async with client.get(backend.url) as response:
        assert response.status == 500
        assert response.headers[X_BACKEND] == "s1"
        assert "injected error" in (await response.json())["error"]
    assert await get_status(client, f"{backend.url}/health") == 200
    backend.error_rate = 0.0
    assert [await get_status(client, backend.url) for _ in range(20)] == [200] * 20
    assert backend.stats.errors == 1
    assert backend.stats.served == 20


async def test_same_seed_same_errors(client: aiohttp.ClientSession) -> None:
    runs = []
    for _ in range(2):
        async with FakeBackend("s1", rng=random.Random(42), error_rate=0.5) as fake:
            runs.append([await get_status(client, fake.url) for _ in range(30)])
    assert runs[0] == runs[1]
    assert 5 < runs[0].count(500) < 25


async def test_brownout_keeps_health_green_while_requests_fail(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    backend.brownout = True
    assert await get_status(client, f"{backend.url}/health") == 200
    assert await get_status(client, f"{backend.url}/") == 500
    assert await get_status(client, f"{backend.url}/bytes?n=10") == 500
    backend.brownout = False
    assert await get_status(client, f"{backend.url}/") == 200


async def test_hang_never_answers_until_released(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    backend.hang = True
    with pytest.raises(asyncio.TimeoutError):
        await client.get(backend.url, timeout=aiohttp.ClientTimeout(total=0.2))
    # The client gave up; the backend, like a real one, still holds the request.
    assert backend.stats.hung == 1
    patient = asyncio.create_task(get_status(client, f"{backend.url}/health"))
    await backend.wait_until(lambda s: s.hung == 2)
    backend.hang = False
    assert await patient == 200
    await backend.wait_until(lambda s: s.in_progress == 0)


async def test_stop_leaves_no_socket_and_no_task() -> None:
    before = asyncio.all_tasks()
    fake = FakeBackend("s1")
    await fake.start()
    port = fake.port
    async with aiohttp.ClientSession() as session:
        # one idle keep-alive connection and one hung request
        assert await get_status(session, fake.url) == 200
        fake.hang = True
        hung = asyncio.create_task(get_status(session, fake.url))
        await fake.wait_until(lambda s: s.hung == 1)
        await fake.stop()
        with pytest.raises(aiohttp.ClientError):
            await hung
    assert fake.state == "stopped"
    assert fake.stats.in_progress == 0
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    assert asyncio.all_tasks() - before == set()


# -- kill and revive -----------------------------------------------------------------


async def test_kill_resets_connections_refuses_new_ones_and_revive_reuses_the_port(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    port = backend.port
    # An idle keep-alive connection, on a raw socket so we see exactly what arrives.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /warm HTTP/1.1\r\nHost: s1\r\n\r\n")
    assert b"200 OK" in await read_response(reader)
    # And a request in progress.
    backend.latency = LatencyModel.fixed(MAX_DELAY_MS)
    in_flight = asyncio.create_task(get_status(client, backend.url))
    await backend.wait_until(lambda s: s.in_progress == 1)

    await backend.kill()

    assert backend.state == "killed"
    assert not backend.alive
    with pytest.raises(ConnectionResetError):
        await reader.read(1)
    writer.close()
    with pytest.raises(aiohttp.ClientError):
        await in_flight
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    assert backend.stats.in_progress == 0
    await backend.kill()  # killing the dead is a no-op

    backend.latency = LatencyModel.fixed(0)
    await backend.revive()
    assert backend.alive
    assert backend.port == port
    assert await get_status(client, backend.url) == 200
    await backend.revive()  # reviving the living is a no-op


async def test_kill_drops_hung_requests(
    backend: FakeBackend, client: aiohttp.ClientSession
) -> None:
    backend.hang = True
    hung = asyncio.create_task(get_status(client, backend.url))
    await backend.wait_until(lambda s: s.hung == 1)
    await backend.kill()
    with pytest.raises(aiohttp.ClientError):
        await hung
    assert backend.stats.hung == 0
    # Still hanging after the restart: a knob is the learner's setting, not process state.
    await backend.revive()
    assert backend.hang


async def test_revive_explains_a_port_taken_meanwhile(backend: FakeBackend) -> None:
    await backend.kill()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", backend.port))
        squatter.listen()
        with pytest.raises(LbplayError, match=f"cannot listen on 127.0.0.1 port {backend.port}"):
            await backend.revive()
        assert backend.state == "killed"
    await backend.revive()
    assert backend.alive


async def test_lifecycle_misuse_is_an_error() -> None:
    fake = FakeBackend("s1")
    with pytest.raises(RuntimeError, match="not been started"):
        _ = fake.port
    with pytest.raises(RuntimeError, match="nothing to kill"):
        await fake.kill()
    with pytest.raises(RuntimeError, match="use start"):
        await fake.revive()
    async with fake:
        with pytest.raises(RuntimeError, match="already started"):
            await fake.start()
    await fake.stop()  # stopping twice is fine
    assert repr(fake).startswith("FakeBackend('s1', stopped, 127.0.0.1:")


# -- the extension seam --------------------------------------------------------------

LOGINS = web.AppKey("logins", list[str])


def install_login(app: web.Application, backend: FakeBackend) -> None:
    """What a session module will do: add routes and per-process state."""
    app[LOGINS] = []

    async def login(request: web.Request) -> web.Response:
        logins = request.app[LOGINS]
        logins.append(request.query["user"])
        return web.json_response({"backend": request.app[BACKEND_KEY].name, "logins": logins})

    app.router.add_post("/login", login)


async def test_installers_add_routes_that_share_the_faults_and_die_with_the_process(
    client: aiohttp.ClientSession,
) -> None:
    async with FakeBackend("s1", installers=[install_login]) as fake:
        for user, expected in (("ann", ["ann"]), ("bob", ["ann", "bob"])):
            async with client.post(f"{fake.url}/login?user={user}") as response:
                assert response.headers[X_BACKEND] == "s1"
                assert await response.json() == {"backend": "s1", "logins": expected}
        fake.brownout = True
        assert (await client.post(f"{fake.url}/login?user=cy")).status == 500
        fake.brownout = False
        await fake.kill()
        await fake.revive()
        async with client.post(f"{fake.url}/login?user=dee") as response:
            assert (await response.json())["logins"] == ["dee"]  # memory lost in the crash
        assert await get_status(client, f"{fake.url}/other") == 200  # echo still catches all


async def test_head_of_bytes_has_the_length_but_no_body() -> None:
    async with FakeBackend("h1") as backend:
        reader, writer = await asyncio.open_connection("127.0.0.1", backend.port)
        writer.write(b"HEAD /bytes?n=5000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Length: 5000" in head
    assert body == b""


async def test_a_failing_request_answers_fast_by_default() -> None:
    """A server whose dependency is gone fails in a millisecond, not after its usual
    latency: the fast failure that fools latency-aware balancing."""
    fake = FakeBackend("s1", latency=LatencyModel.fixed(300), error_rate=1.0)
    async with fake, aiohttp.ClientSession() as client:
        started = time.perf_counter()
        async with client.get(f"{fake.url}/x") as response:
            assert response.status == 500
        assert time.perf_counter() - started < 0.2  # not the 300 ms latency
        fake.error_ms = 250.0
        started = time.perf_counter()
        async with client.get(f"{fake.url}/x") as response:
            assert response.status == 500
        assert time.perf_counter() - started >= 0.25
