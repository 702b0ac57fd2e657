"""The pieces of ``benchmarks/proxy.py`` that run in processes of their own.

* servers: the static backend (raw asyncio, a fixed 3-byte answer on every port), the
  fake backends (lbplay's ``FakeBackend``, zero latency), lbplay's L7 and L4 proxies,
  two aiohttp proxies: the pooled one (one ``ClientSession`` for the process's life,
  keep-alive connections reused) and the naive one (a new session per request), and
  the floor proxy (uvloop and httptools with nothing else: what any Python proxy pays);
* load clients: a closed loop (N keep-alive connections, each sending its next request
  the moment the answer arrived: wrk's model) and an open loop (requests at a fixed
  mean rate, Poisson arrivals, whatever the server does);
* what the parent needs to drive real tools: nginx and HAProxy configurations and the
  parser of wrk's output.

Both clients speak just enough HTTP/1.1 to be fast in Python: one pre-built
``GET / HTTP/1.1`` request, responses framed by Content-Length (every server here sends
one), no header parsing beyond that. Latency is measured with ``time.perf_counter``
from the write of the request to the last byte of the answer.

Servers print ``READY <port>...`` on stdout once listening and stop on SIGTERM, SIGINT
or when stdin closes (the parent died). Every process here runs on uvloop when it is
importable, like the L7 proxy under test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass
from typing import Any, cast
from urllib.parse import urlsplit

#: What the static backend answers to everything (nginx is configured to say the same).
STATIC_BODY = b"ok\n"
STATIC_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
    b"Connection: keep-alive\r\n\r\n" + STATIC_BODY
)
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
#: Headers the classic Flask + requests proxy drops from the response it copies back.
_NAIVE_DROPPED = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection"}
)
#: Hop-by-hop headers (RFC 9110 7.6.1), which a proxy does not forward either way.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Not copied from the client's request: aiohttp writes its own Host and framing.
_POOLED_REQUEST_DROPPED = _HOP_BY_HOP | {"host", "content-length"}
#: Not copied from the backend's answer: aiohttp's server frames the body itself.
_POOLED_RESPONSE_DROPPED = _HOP_BY_HOP | {"content-length"}


def run(main: Coroutine[Any, Any, None]) -> str:
    """Run ``main`` on uvloop when importable, else on asyncio's loop; name the loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return "asyncio"
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)
    return "uvloop"


def announce(*ports: int) -> None:
    print("READY", *ports, flush=True)


async def until_stopped() -> None:
    """Wait for SIGTERM, SIGINT or the end of stdin (the parent went away)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()


# -- servers ------------------------------------------------------------------------


class _StaticResponder(asyncio.Protocol):
    """Answers every request on the connection with ``STATIC_RESPONSE`` (pipelining too)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not isinstance: uvloop's transports do not subclass asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        answers = 0
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            found = _CONTENT_LENGTH.search(buffer, 0, end)
            size = end + 4 + (int(found[1]) if found else 0)
            if len(buffer) < size:
                break
            buffer = buffer[size:]
            answers += 1
        self.buffer = buffer
        if answers and self.transport is not None:
            self.transport.write(STATIC_RESPONSE * answers)


async def serve_static(count: int) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(_StaticResponder, "127.0.0.1", 0, backlog=1024)
        for _ in range(count)
    ]
    announce(*(server.sockets[0].getsockname()[1] for server in servers))
    await until_stopped()
    for server in servers:
        server.close()


async def serve_fake(count: int) -> None:
    from lbplay.net.fake_backend import FakeBackend

    fakes = [FakeBackend(f"b{i}") for i in range(1, count + 1)]
    try:
        for fake in fakes:
            await fake.start()
        announce(*(fake.port for fake in fakes))
        await until_stopped()
    finally:
        for fake in fakes:
            await fake.stop()


def _balancer(addresses: list[str]) -> Any:
    from lbplay.core.backends import Backend
    from lbplay.core.balancer import Balancer

    backends = [Backend(f"b{i}", address=a) for i, a in enumerate(addresses, start=1)]
    return Balancer(backends, "round_robin")


async def serve_l7(addresses: list[str], *, telemetry: bool) -> None:
    from lbplay.core.events import EventBus
    from lbplay.core.metrics import Metrics
    from lbplay.model.config import ProxyConfig
    from lbplay.net.proxy_http import HttpProxy

    proxy = HttpProxy(
        _balancer(addresses),
        ProxyConfig(),
        events=EventBus() if telemetry else None,
        metrics=Metrics() if telemetry else None,
    )
    async with proxy:
        announce(proxy.port)
        await until_stopped()


async def serve_l4(addresses: list[str], *, telemetry: bool) -> None:
    from lbplay.core.events import EventBus
    from lbplay.net.proxy_tcp import TcpProxy

    proxy = TcpProxy(_balancer(addresses), events=EventBus() if telemetry else None)
    async with proxy:
        announce(proxy.port)
        await until_stopped()


async def _serve_app(app: Any) -> None:
    """Serve an aiohttp ``app`` on a free port of 127.0.0.1, announce the port, and run
    until stopped (the naive and pooled proxies)."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    try:
        announce(runner.addresses[0][1])
        await until_stopped()
    finally:
        await runner.cleanup()


async def serve_naive(addresses: list[str]) -> None:
    """A proxy written the simple way, as in the classic Flask + requests example.

    Read the whole request body, open a new client (``requests.request`` opens a new
    connection per call), read the whole response, copy it back. Deliberately not
    fixed: its row shows what a new client session per request costs; the pooled
    proxy above is the fair baseline.
    """
    import aiohttp
    from aiohttp import web

    upstreams = itertools.cycle(addresses)

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        url = f"http://{next(upstreams)}{request.rel_url}"
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            ) as upstream,
        ):
            data = await upstream.read()
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in _NAIVE_DROPPED}
            return web.Response(body=data, status=upstream.status, headers=kept)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    await _serve_app(app)


async def serve_pooled(addresses: list[str]) -> None:
    """The simplest proxy done right: what a user who knows aiohttp would write.

    One ``ClientSession`` for the life of the process, its ``TCPConnector`` keeping
    connections to the backends alive and reusing them; the request's method, path and
    query (as received), headers (less hop-by-hop ones) and body forwarded; the
    answer's status, headers (duplicates such as Set-Cookie kept) and body copied back.
    Bodies are read whole, as in the naive proxy: every answer here is 3 bytes.
    """
    import aiohttp
    from aiohttp import web
    from multidict import CIMultiDict
    from yarl import URL

    upstreams = itertools.cycle(addresses)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=256, limit_per_host=0),
        auto_decompress=False,  # pass bodies through as they are, Content-Encoding too
        timeout=aiohttp.ClientTimeout(total=30),
    )

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        url = URL(f"http://{next(upstreams)}{request.raw_path}", encoded=True)
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _POOLED_REQUEST_DROPPED
        )
        async with session.request(
            request.method, url, headers=headers, data=body or None, allow_redirects=False
        ) as upstream:
            data = await upstream.read()
            kept = CIMultiDict(
                (k, v)
                for k, v in upstream.headers.items()
                if k.lower() not in _POOLED_RESPONSE_DROPPED
            )
            return web.Response(body=data, status=upstream.status, headers=kept)

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    try:
        await _serve_app(app)
    finally:
        await session.close()


class _FloorBackend(asyncio.Protocol):
    """The floor proxy's keep-alive connection to one backend (see ``serve_floor``)."""

    def __init__(self, idle: list[_FloorBackend]) -> None:
        import httptools

        self.idle = idle
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.client: _FloorClient | None = None
        self.chunks: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def send(self, client: _FloorClient, request: bytes) -> None:
        assert self.transport is not None
        self.client = client
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        answer, self.chunks = b"".join(self.chunks), []
        self.idle.append(self)
        if client is not None:
            client.answered(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self in self.idle:
            self.idle.remove(self)
        if self.client is not None:
            self.client.failed()


class _FloorClient(asyncio.Protocol):
    """One client connection of the floor proxy (see ``serve_floor``)."""

    def __init__(self, pools: Iterator[tuple[str, list[_FloorBackend]]]) -> None:
        import httptools

        self.pools = pools
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.lines: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception:  # httptools' HttpParserError and friends: not HTTP, go away
            self.failed()

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.lines.append(name + b": " + value + b"\r\n")

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        request = b"%s %s HTTP/1.1\r\n%s\r\n" % (method, self.url, b"".join(self.lines))
        self.lines = []
        address, idle = next(self.pools)
        if idle:
            idle.pop().send(self, request)
        else:
            asyncio.get_running_loop().create_task(self._connect(address, idle, request))

    async def _connect(self, address: str, idle: list[_FloorBackend], request: bytes) -> None:
        host, port = address.rsplit(":", 1)
        try:
            _, backend = await asyncio.get_running_loop().create_connection(
                lambda: _FloorBackend(idle), host, int(port)
            )
        except OSError:
            self.failed()
            return
        backend.send(self, request)

    def answered(self, answer: bytes) -> None:
        if self.transport is not None:
            self.transport.write(answer)

    def failed(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def serve_floor(addresses: list[str]) -> None:
    """The floor of Python proxies: the least a proxy on this machine's Python can do.

    uvloop and httptools on both sides, round robin, a stack of idle keep-alive
    connections per backend, each answer written as its last byte arrives, and nothing
    else: no validation beyond httptools', no limits or timeouts, no hop-by-hop headers
    removed, no X-Forwarded-For, no balancer, metrics or events, no retries, and no
    request bodies (every request the load tools send here is a GET). Nobody should use
    it; its row shows how much of lbplay's CPU per request any Python proxy pays, and so
    how much is left for what lbplay does on top.
    """
    pools = itertools.cycle([(address, []) for address in addresses])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _FloorClient(pools), "127.0.0.1", 0, backlog=1024)
    announce(server.sockets[0].getsockname()[1])
    try:
        await until_stopped()
    finally:
        server.close()


# -- load clients -------------------------------------------------------------------


@dataclass
class LoadResult:
    """What one load run saw; latencies in milliseconds."""

    rps: float
    p50: float
    p99: float
    requests: int
    errors: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadResult:
        data = json.loads(text)
        return cls(
            rps=float(data["rps"]),
            p50=float(data["p50"]),
            p99=float(data["p99"]),
            requests=int(data["requests"]),
            errors=int(data["errors"]),
        )


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def summarize(latencies: list[float], seconds: float, errors: int) -> LoadResult:
    ordered = sorted(latencies)
    return LoadResult(
        rps=len(ordered) / seconds if seconds > 0 else 0.0,
        p50=percentile(ordered, 0.50) * 1000,
        p99=percentile(ordered, 0.99) * 1000,
        requests=len(ordered),
        errors=errors,
    )


class _Client(asyncio.Protocol):
    """One keep-alive connection sending one request at a time."""

    def __init__(
        self,
        request: bytes,
        on_answer: Callable[[_Client, int], None],
        on_lost: Callable[[_Client], None],
    ) -> None:
        self.request = request
        self.on_answer = on_answer
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.need = -1  # bytes of the whole answer, once its head arrived
        self.status = 0
        self.started = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not isinstance: uvloop's transports do not subclass asyncio's.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, started: float) -> None:
        assert self.transport is not None
        self.started = started
        self.busy = True
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.need < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            found = _CONTENT_LENGTH.search(self.buffer, 0, end)
            if found is None:  # not framed by length: none of our servers does that
                assert self.transport is not None
                self.transport.abort()
                return
            self.need = end + 4 + int(found[1])
            self.status = int(self.buffer[9:12])
        if len(self.buffer) >= self.need:
            self.buffer = self.buffer[self.need :]
            self.need = -1
            self.busy = False
            self.on_answer(self, self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.on_lost(self)


def _target(url: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("ascii")
    return host, port, request


async def closed_loop(url: str, connections: int, seconds: float) -> LoadResult:
    """``connections`` connections, each sending again as soon as it has its answer."""
    loop = asyncio.get_running_loop()
    host, port, request = _target(url)
    latencies: list[float] = []
    record = latencies.append
    clock = time.perf_counter
    errors = 0
    live = 0
    finished = loop.create_future()
    deadline = 0.0
    reconnecting: set[asyncio.Task[None]] = set()

    def answered(client: _Client, status: int) -> None:
        nonlocal errors
        now = clock()
        record(now - client.started)
        if not 200 <= status < 400:
            errors += 1
        if now < deadline:
            client.send(now)
        elif client.transport is not None:
            client.transport.close()

    def lost(client: _Client) -> None:
        nonlocal errors, live
        live -= 1
        if client.busy:
            errors += 1
            if clock() < deadline:  # the server dropped us mid-run: reconnect
                task = loop.create_task(open_one())
                reconnecting.add(task)
                task.add_done_callback(reconnecting.discard)
                return
        if live <= 0 and not finished.done():
            finished.set_result(None)

    async def open_one() -> None:
        nonlocal errors, live
        try:
            _, client = await loop.create_connection(
                lambda: _Client(request, answered, lost), host, port
            )
        except OSError:
            errors += 1
            if live <= 0 and not finished.done():
                finished.set_result(None)
            return
        live += 1
        client.send(clock())

    clients = [
        (await loop.create_connection(lambda: _Client(request, answered, lost), host, port))[1]
        for _ in range(connections)
    ]
    live = len(clients)
    started = clock()
    deadline = started + seconds
    for client in clients:
        client.send(clock())
    try:
        await asyncio.wait_for(finished, seconds + 10)
    except TimeoutError:
        errors += sum(client.busy for client in clients)
    return summarize(latencies, clock() - started, errors)


async def open_loop(url: str, rate: float, seconds: float, connections: int) -> LoadResult:
    """Requests at ``rate`` per second (Poisson arrivals) over a pool of connections.

    A request is sent when it is due, on any idle connection, whether or not earlier
    ones were answered. If every connection is busy it waits for one, and its latency
    then counts from when it was due, so a saturated server cannot hide its queue.
    """
    loop = asyncio.get_running_loop()
    host, port, request = _target(url)
    clock = time.perf_counter
    latencies: list[float] = []
    errors = 0
    idle: deque[_Client] = deque()
    freed: asyncio.Event = asyncio.Event()
    outstanding = 0
    all_done = asyncio.Event()

    def answered(client: _Client, status: int) -> None:
        nonlocal errors, outstanding
        latencies.append(clock() - client.started)
        if not 200 <= status < 400:
            errors += 1
        outstanding -= 1
        idle.append(client)
        freed.set()
        if outstanding == 0:
            all_done.set()

    def lost(client: _Client) -> None:
        nonlocal errors, outstanding
        if client.busy:
            errors += 1
            outstanding -= 1
            if outstanding == 0:
                all_done.set()
        with_client = [c for c in idle if c is not client]
        idle.clear()
        idle.extend(with_client)

    for _ in range(connections):
        _, client = await loop.create_connection(
            lambda: _Client(request, answered, lost), host, port
        )
        idle.append(client)
    rng = random.Random(7)
    count = max(1, round(rate * seconds))
    due = clock() + 0.01
    started = due
    for _ in range(count):
        due += rng.expovariate(rate)
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        waited = False
        while not idle:
            waited = True
            freed.clear()
            try:
                await asyncio.wait_for(freed.wait(), 10)
            except TimeoutError:
                return summarize(latencies, clock() - started, errors + count - len(latencies))
        client = idle.popleft()
        outstanding += 1
        all_done.clear()
        client.send(due if waited else clock())
    if outstanding:
        try:
            await asyncio.wait_for(all_done.wait(), 10)
        except TimeoutError:
            errors += outstanding
    result = summarize(latencies, clock() - started, errors)
    for client in list(idle):
        if client.transport is not None:
            client.transport.close()
    return result


# -- real tools: nginx, HAProxy, wrk ------------------------------------------------


def nginx_conf(temp: str, server_block: str, upstream_block: str = "") -> str:
    """A self-contained nginx.conf: foreground, one worker, every path under ``temp``."""
    paths = "\n".join(
        f"    {kind}_temp_path {temp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
daemon off;
worker_processes 1;
pid {temp}/nginx.pid;
error_log {temp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{paths}
    # wrk keeps its connections for the whole run; do not close them every 1000 requests.
    keepalive_requests 1000000;
{upstream_block}
{server_block}
}}
"""


def nginx_backend_conf(temp: str, *, ports: list[int]) -> str:
    listens = "\n".join(f"        listen 127.0.0.1:{port} backlog=1024;" for port in ports)
    server = f"""\
    server {{
{listens}
        location / {{ default_type text/plain; return 200 "ok\\n"; }}
    }}"""
    return nginx_conf(temp, server)


def nginx_proxy_conf(temp: str, *, port: int, addresses: list[str]) -> str:
    servers = "\n".join(f"        server {address};" for address in addresses)
    upstream = f"""\
    upstream backends {{
{servers}
        keepalive 32;
        keepalive_requests 1000000;
    }}"""
    server = f"""\
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}"""
    return nginx_conf(temp, server, upstream)


def haproxy_conf(port: int, addresses: list[str]) -> str:
    # One thread, as nginx gets one worker and each Python proxy one event loop.
    servers = "\n".join(f"    server b{i} {a}" for i, a in enumerate(addresses, start=1))
    return f"""\
global
    nbthread 1
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    http-reuse safe

frontend bench
    bind 127.0.0.1:{port}
    default_backend backends

backend backends
    balance roundrobin
{servers}
"""


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_WRK_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_WRK_TOTAL = re.compile(r"^\s*(\d+) requests in", re.MULTILINE)
_WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def _wrk_latency(output: str, label: str) -> float:
    found = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    if found is None:
        raise ValueError(f"no {label}% latency line in wrk's output")
    return float(found[1]) * _WRK_UNITS[found[2]]


def parse_wrk(output: str) -> LoadResult:
    """Requests/s, p50 and p99 (ms) and errors from ``wrk --latency`` output."""
    rps = _WRK_RPS.search(output)
    total = _WRK_TOTAL.search(output)
    if rps is None or total is None:
        raise ValueError("no 'Requests/sec' line in wrk's output")
    errors = 0
    if found := _WRK_NON_2XX.search(output):
        errors += int(found[1])
    if found := _WRK_SOCKET.search(output):
        errors += sum(int(n) for n in found.groups())
    return LoadResult(
        rps=float(rps[1]),
        p50=_wrk_latency(output, "50"),
        p99=_wrk_latency(output, "99"),
        requests=int(total[1]),
        errors=errors,
    )
