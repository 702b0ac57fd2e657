"""Traffic generator: rates, loops, per-client addresses and cookies, errors, clean stop.

Against a tiny aiohttp server started here (not lbplay's fake backends or proxy), which
records who asked (``request.remote``), which cookie came back and how many requests
were in flight. Synchronisation is by awaiting results (``Collector.wait_for``); the
only sleeps are measurement windows (the rate over one second, "nothing happens while
paused") and the latencies under test.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import math
import random
import socket
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from aiohttp import hdrs, web

from lbplay.core.metrics import STATUS_CLASSES, Metrics
from lbplay.errors import ConfigError
from lbplay.model.wire import BACKEND_HEADER
from lbplay.model.workload import RequestMix, RequestSpec, client_address, next_gap
from lbplay.net import traffic
from lbplay.net.clients import TrafficResult, VirtualClient
from lbplay.net.traffic import TrafficGenerator

N_SAMPLES = 20_000


@dataclass(frozen=True)
class Seen:
    """One request as the test server saw it."""

    remote: str
    cookie: str | None
    method: str
    raw_path: str
    body: int
    accept_encoding: str | None


class EchoServer:
    """Echoes the peer address, hands each new visitor a cookie, counts concurrency."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self._sessions = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/redirect", self.redirect)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        # handler_cancellation: a request its client gave up on stops at once, so the
        # slow-server tests do not wait for abandoned handlers at teardown.
        self.runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            body = await request.read()
            if self.delay:
                await asyncio.sleep(self.delay)
            cookie = request.cookies.get("sid")
            self.seen.append(
                Seen(
                    remote=request.remote or "",
                    cookie=cookie,
                    method=request.method,
                    raw_path=request.raw_path,
                    body=len(body),
                    accept_encoding=request.headers.get(hdrs.ACCEPT_ENCODING),
                )
            )
            response = web.Response(text=request.remote or "")
            # what lbplay's proxy says after a retry: every backend tried, in order
            retried = request.path == "/retried"
            response.headers[BACKEND_HEADER] = "t1, t2" if retried else "t1"
            if cookie is None:
                self._sessions += 1
                response.set_cookie("sid", f"s{self._sessions}")
            return response
        finally:
            self.in_flight -= 1

    def reset_peak(self) -> None:
        self.max_in_flight = self.in_flight


class Collector:
    """An ``on_result`` that lets a test await the n-th result."""

    def __init__(self) -> None:
        self.results: list[TrafficResult] = []
        self._arrived = asyncio.Event()

    def __call__(self, result: TrafficResult) -> None:
        self.results.append(result)
        self._arrived.set()

    async def wait_for(self, n: int, timeout: float = 2.0) -> list[TrafficResult]:
        async with asyncio.timeout(timeout):
            while len(self.results) < n:
                self._arrived.clear()
                await self._arrived.wait()
        return self.results


async def eventually(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    """Wait, polling briefly, until ``predicate()`` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


@pytest.fixture
async def server() -> AsyncIterator[EchoServer]:
    echo = EchoServer()
    await echo.start()
    yield echo
    await echo.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- pure parts: gaps, mix, addresses, validation ----------------------------------


def test_gaps_are_exponential_with_the_target_mean() -> None:
    rng = random.Random(1)
    gaps = [next_gap(200.0, rng) for _ in range(N_SAMPLES)]
    assert statistics.fmean(gaps) == pytest.approx(1 / 200, rel=0.03)
    # exponential: the standard deviation equals the mean, and about 1/e of gaps
    # are longer than the mean
    assert statistics.stdev(gaps) == pytest.approx(1 / 200, rel=0.05)
    longer = sum(g > 1 / 200 for g in gaps) / N_SAMPLES
    assert longer == pytest.approx(math.exp(-1), abs=0.01)
    again = random.Random(1)
    assert [next_gap(200.0, again) for _ in range(100)] == gaps[:100]


def test_request_mix_samples_in_proportion_to_weight() -> None:
    home = RequestSpec("GET", "/", weight=3)
    upload = RequestSpec("POST", "/upload", body_size=1000, weight=1)
    mix = RequestMix.of(home, upload)
    rng = random.Random(2)
    picks = [mix.sample(rng) for _ in range(N_SAMPLES)]
    assert picks.count(home) / N_SAMPLES == pytest.approx(0.75, abs=0.015)
    assert set(picks) == {home, upload}
    assert str(upload) == "POST /upload +1000 B"


def test_client_addresses_give_each_client_its_own_network_by_default() -> None:
    assert [client_address(i) for i in range(3)] == ["127.0.1.1", "127.0.2.1", "127.0.3.1"]
    assert client_address(255) == "127.1.0.1"
    networks = {ipaddress.ip_network(f"{client_address(i)}/24", strict=False) for i in range(1000)}
    assert len(networks) == 1000
    assert ipaddress.ip_network("127.0.0.0/24") not in networks  # the proxy's


def test_client_addresses_can_share_a_network() -> None:
    assert client_address(0, 254) == "127.0.1.1"
    assert client_address(253, 254) == "127.0.1.254"
    assert client_address(254, 254) == "127.0.2.1"
    assert client_address(5, 2) == "127.0.3.2"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RequestSpec("get"), "bad method 'get'"),
        (lambda: RequestSpec(path="api"), "bad path 'api'"),
        (lambda: RequestSpec(path="/a b"), "bad path"),
        (lambda: RequestSpec(path="/café"), "bad path"),
        (lambda: RequestSpec(body_size=-1), "bad body size -1"),
        (lambda: RequestSpec(weight=0), "bad weight 0"),
        (lambda: RequestSpec(weight=math.nan), "bad weight nan"),
        (lambda: RequestMix(()), "empty request mix"),
        (lambda: TrafficGenerator("ftp://127.0.0.1:21"), "bad target URL"),
        (lambda: TrafficGenerator("http://127.0.0.1:80/app"), "paths belong in the request mix"),
        (lambda: TrafficGenerator("http://127.0.0.1:80", clients=0), "bad number of clients 0"),
        (lambda: TrafficGenerator("http://127.0.0.1:80", rate=-1), "bad rate -1"),
        (lambda: TrafficGenerator("http://127.0.0.1:80", mode="half"), "bad traffic mode"),  # type: ignore[arg-type]
        (lambda: TrafficGenerator("http://127.0.0.1:80", timeout=0), "bad timeout 0"),
        (lambda: TrafficGenerator("http://127.0.0.1:80", per_subnet=255), "per subnet 255"),
        (lambda: TrafficGenerator("http://127.0.0.1:80").set_rate(math.inf), "bad rate inf"),
        (lambda: TrafficGenerator("http://127.0.0.1:80").set_users(-1), "bad number of users"),
    ],
)
def test_bad_settings_are_refused(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


# -- open loop -----------------------------------------------------------------------


async def test_open_loop_rate_is_roughly_right(server: EchoServer) -> None:
    async with TrafficGenerator(server.url, rate=200, rng=random.Random(3)) as generator:
        await asyncio.sleep(1.0)
        stats = generator.stats()
    # Poisson: 200 ± 14 (one standard deviation) in a second
    assert 150 <= stats.sent + stats.dropped <= 250
    assert stats.dropped == 0
    assert stats.errors == {}


async def test_pause_stops_arrivals_and_resume_restarts_them(server: EchoServer) -> None:
    collector = Collector()
    async with TrafficGenerator(
        server.url, rate=200, rng=random.Random(4), on_result=collector
    ) as generator:
        await collector.wait_for(5)
        generator.pause()
        assert generator.paused
        await eventually(lambda: generator.stats().in_flight == 0)
        sent = generator.stats().sent
        await asyncio.sleep(0.2)  # 40 arrivals' worth of nothing
        assert generator.stats().sent == sent
        generator.resume()
        await collector.wait_for(sent + 5, timeout=1.0)


async def test_raising_the_rate_takes_effect_at_once(server: EchoServer) -> None:
    seed = 5
    assert random.Random(seed).expovariate(0.1) > 1.0  # the first gap drawn is long
    collector = Collector()
    async with TrafficGenerator(
        server.url, rate=0.1, rng=random.Random(seed), on_result=collector
    ) as generator:
        await asyncio.sleep(0.05)
        assert generator.stats().sent == 0
        began = time.perf_counter()
        generator.set_rate(200)
        await collector.wait_for(5, timeout=0.5)
        assert time.perf_counter() - began < 0.2


async def test_outstanding_requests_are_capped_and_the_excess_counted(server: EchoServer) -> None:
    server.delay = 0.3
    async with TrafficGenerator(
        server.url, rate=500, max_outstanding=5, rng=random.Random(6)
    ) as generator:
        await eventually(lambda: generator.stats().dropped >= 10)
        assert server.max_in_flight <= 5
        assert generator.stats().in_flight <= 5


# -- every client its own peer ----------------------------------------------------------


async def test_each_client_has_its_own_stable_address_and_cookie(server: EchoServer) -> None:
    collector = Collector()
    async with TrafficGenerator(
        server.url,
        clients=5,
        mode="closed",
        think_time=0,
        rng=random.Random(7),
        on_result=collector,
    ) as generator:
        await collector.wait_for(40)  # one user per client, in turn: cookies settle
        generator.set_mode("open")
        generator.set_rate(0)
        await eventually(lambda: generator.stats().in_flight == 0)
        burst = await generator.burst(100, concurrency=10)  # now concurrent, random clients
        addresses = {client.address for client in generator.clients}

    assert addresses == {client_address(i) for i in range(5)}
    assert {seen.remote for seen in server.seen} == addresses
    assert all(r.address == client_address(r.client) for r in collector.results)
    assert len({r.client for r in burst}) == 5
    cookies: dict[str, set[str | None]] = {}
    for seen in server.seen:
        cookies.setdefault(seen.remote, set()).add(seen.cookie)
    # each address: no cookie on its first visit, then always the one it was given
    for remote, seen_cookies in cookies.items():
        first = next(seen for seen in server.seen if seen.remote == remote)
        assert first.cookie is None
        assert len(seen_cookies - {None}) == 1, remote
    given = [next(iter(c - {None})) for c in cookies.values()]
    assert len(set(given)) == 5  # and no two clients share a jar


async def test_clients_share_127_0_0_1_when_addresses_cannot_be_bound(
    server: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(traffic, "can_bind", lambda address: False)
    async with TrafficGenerator(server.url, rate=0, clients=3) as generator:
        assert "ifconfig lo0 alias 127.0.1.1" in generator.warning
        assert "ifconfig" in generator.stats().warning
        results = await generator.burst(10)
    assert {seen.remote for seen in server.seen} == {"127.0.0.1"}
    assert {r.address for r in results} == {""}


async def test_a_target_off_loopback_leaves_the_source_address_to_the_os() -> None:
    async with TrafficGenerator("http://192.0.2.1:80", rate=0, clients=2) as generator:
        assert [client.bound for client in generator.clients] == [None, None]
        assert generator.warning == ""


async def test_requests_go_out_as_written(server: EchoServer) -> None:
    mix = RequestMix.of(
        RequestSpec("GET", "/public/../admin%2Fx?q=%20"),
        RequestSpec("PUT", "/upload", body_size=1000),
        RequestSpec("GET", "/redirect"),
    )
    async with TrafficGenerator(server.url, rate=0, clients=1, mix=mix) as generator:
        results = await generator.burst(30, concurrency=1)
    assert {(s.method, s.raw_path, s.body) for s in server.seen} == {
        ("GET", "/public/../admin%2Fx?q=%20", 0),
        ("PUT", "/upload", 1000),
    }
    assert {s.accept_encoding for s in server.seen} == {None}  # nothing to decompress
    redirects = [r for r in results if r.path == "/redirect"]
    assert redirects
    assert {(r.status, r.status_class, r.ok) for r in redirects} == {(302, "3xx", True)}
    assert {(r.backend, r.bytes) for r in results if r.path != "/redirect"} == {
        ("t1", len(client_address(0)))
    }


async def test_the_backend_is_the_last_one_the_proxy_tried(server: EchoServer) -> None:
    client = VirtualClient(0, client_address(0))
    try:
        once = await client.request(server.url, RequestSpec(path="/"))
        twice = await client.request(server.url, RequestSpec(path="/retried"))
    finally:
        await client.close()
    assert (once.backend, once.tried, once.retried) == ("t1", ("t1",), False)
    assert (twice.backend, twice.tried, twice.retried) == ("t2", ("t1", "t2"), True)


# -- closed loop ---------------------------------------------------------------------


async def test_closed_loop_never_has_more_requests_in_flight_than_users(
    server: EchoServer,
) -> None:
    server.delay = 0.01
    collector = Collector()
    async with TrafficGenerator(
        server.url,
        clients=4,
        mode="closed",
        users=4,
        think_time=0.001,
        rng=random.Random(8),
        on_result=collector,
    ) as generator:
        await collector.wait_for(40)
        assert server.max_in_flight == 4

        generator.set_users(2)
        await collector.wait_for(50)  # the two leaving users finish their requests
        server.reset_peak()
        await collector.wait_for(70)
        assert server.max_in_flight <= 2

        generator.set_users(6)  # more users than clients: the pool grows
        await collector.wait_for(120)
        assert server.max_in_flight <= 6
        assert len(generator.clients) == 6
        addresses = {client.address for client in generator.clients}
    assert {seen.remote for seen in server.seen} == addresses
    assert len(addresses) == 6


async def test_think_time_spaces_out_a_users_requests(server: EchoServer) -> None:
    collector = Collector()
    async with TrafficGenerator(
        server.url,
        clients=1,
        mode="closed",
        think_time=0.02,
        rng=random.Random(9),
        on_result=collector,
    ):
        results = await collector.wait_for(10)
    starts = [r.started for r in results[:10]]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # mean think 20 ms on top of ~1 ms requests; nine exponential draws vary a lot
    assert 0.005 < statistics.fmean(gaps) < 0.06


# -- bursts, errors, metrics -------------------------------------------------------------


async def test_burst_completes_with_every_result(server: EchoServer) -> None:
    server.delay = 0.001
    async with TrafficGenerator(server.url, rate=0, rng=random.Random(10)) as generator:
        results = await generator.burst(300, concurrency=50)
        stats = generator.stats()
    assert len(results) == 300
    assert {(r.status, r.backend, r.error) for r in results} == {(200, "t1", "")}
    assert len(server.seen) == 300
    assert server.max_in_flight <= 50
    assert (stats.sent, stats.completed, stats.in_flight) == (300, 300, 0)
    assert stats.status == {**dict.fromkeys(STATUS_CLASSES, 0), "2xx": 300}


async def test_a_closed_port_gives_failed_results_not_exceptions() -> None:
    collector = Collector()
    async with TrafficGenerator(
        f"http://127.0.0.1:{closed_port()}", rate=200, on_result=collector
    ) as generator:
        await collector.wait_for(5)
        burst = await generator.burst(3)
        stats = generator.stats()
    failed = [*collector.results, *burst]
    assert {(r.status, r.error, r.backend, r.ok) for r in failed} == {
        (0, "connection refused", None, False)
    }
    assert stats.errors == {"connection refused": stats.completed}
    assert stats.status["failed"] == stats.completed


async def test_a_slow_answer_times_out_as_a_result(server: EchoServer) -> None:
    server.delay = 1.0
    async with TrafficGenerator(server.url, rate=0, timeout=0.1) as generator:
        results = await generator.burst(2)
    assert {(r.status, r.error) for r in results} == {(0, "timeout")}
    assert all(0.09 < r.latency < 0.5 for r in results)


async def test_results_are_recorded_in_metrics(server: EchoServer) -> None:
    metrics = Metrics()
    async with TrafficGenerator(server.url, rate=0, metrics=metrics) as generator:
        await generator.burst(20)
    snapshot = metrics.snapshot()
    assert snapshot.total.requests == 20
    assert snapshot.backends["t1"].requests == 20
    assert snapshot.total.p50 is not None


async def test_a_failing_on_result_does_not_stop_the_traffic(
    server: EchoServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(result: TrafficResult) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger=traffic.__name__):
        async with TrafficGenerator(server.url, rate=0, on_result=broken) as generator:
            results = await generator.burst(5)
    assert len(results) == 5
    assert "on_result failed" in caplog.text


async def test_a_stale_keep_alive_connection_is_not_silently_retried() -> None:
    # Answers the first request on each connection and closes the connection when a
    # second one arrives on it: a keep-alive connection that died under the client.
    requests = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        await reader.readuntil(b"\r\n\r\n")
        requests += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        try:
            await reader.readuntil(b"\r\n\r\n")
            requests += 1
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    origin = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    client = VirtualClient(0, client_address(0))
    try:
        first = await client.request(origin, RequestSpec())
        second = await client.request(origin, RequestSpec())
    finally:
        await client.close()
        listener.close()
        await listener.wait_closed()
    assert (first.status, first.error) == (200, "")
    assert (second.status, second.error) == (0, "connection closed")
    assert requests == 2  # aiohttp's default would have sent it a third time


# -- lifecycle ---------------------------------------------------------------------------


def _generator_tasks() -> set[asyncio.Task[object]]:
    """Tasks the generator made: by name, or running a coroutine of its module."""

    def made_here(task: asyncio.Task[object]) -> bool:
        code = getattr(task.get_coro(), "cr_code", None)
        return task.get_name().startswith("lbplay-traffic") or (
            code is not None and code.co_filename == traffic.__file__
        )

    return {task for task in asyncio.all_tasks() if made_here(task)}


async def test_stop_leaves_no_task_and_no_open_session(server: EchoServer) -> None:
    server.delay = 0.5  # so that requests are in flight when it stops
    before = asyncio.all_tasks()
    generator = TrafficGenerator(server.url, rate=300, clients=5, rng=random.Random(11))
    await generator.start()
    burst = asyncio.create_task(generator.burst(50, concurrency=10))
    await eventually(lambda: generator.stats().in_flight >= 15)
    generator.set_mode("closed")  # users too
    await eventually(lambda: generator.stats().in_flight >= 20)
    clients = generator.clients
    assert _generator_tasks()

    await generator.stop()
    partial = await burst

    assert partial == []  # every burst request was still waiting on the server
    assert _generator_tasks() == set()
    assert {t for t in asyncio.all_tasks() - before if t.get_name().startswith("lbplay")} == set()
    assert clients
    assert all(client.closed for client in clients)
    assert generator.stats().in_flight == 0
    assert not generator.running
    await generator.stop()  # a second stop is harmless


async def test_burst_needs_a_running_generator(server: EchoServer) -> None:
    generator = TrafficGenerator(server.url)
    with pytest.raises(RuntimeError, match="start the traffic generator"):
        await generator.burst(1)
