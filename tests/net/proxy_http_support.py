"""Shared helpers for the L7 proxy tests (``tests/net/test_proxy_http_*.py``).

``rig`` starts fake backends, raw backends and an ``HttpProxy`` on 127.0.0.1 port 0,
collects the proxy's events, and on exit checks that the proxy logged no unexpected
error and left no request in flight, then stops everything. ``RawBackend`` is an
asyncio server whose handler writes whatever bytes a test wants a backend to send.
``exchange`` and ``read_response`` talk to the proxy with raw sockets, for bytes a
normal client would never send. Every wait is bounded by ``PROMPT`` so a broken proxy
fails a test instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import hdrs

from lbplay.core.backends import Backend
from lbplay.core.balancer import Balancer
from lbplay.core.events import Event, EventBus, RequestCompleted
from lbplay.core.metrics import Metrics
from lbplay.model.config import ProxyConfig
from lbplay.net.fake_backend import FakeBackend
from lbplay.net.proxy_http import HttpProxy

#: Bound on anything that should happen "at once": a hang fails the test, never blocks.
PROMPT = 5.0

RawHandler = Callable[["RawConnection"], Awaitable[None]]


@dataclass
class RawConnection:
    """One connection to a ``RawBackend``: its streams and its place in the order."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    #: 0 for the backend's first connection, 1 for the second, ...
    index: int
    #: Request heads read on this connection by ``read_request``.
    requests: list[bytes] = field(default_factory=list)

    async def read_request(self) -> bytes | None:
        """The next request head (through CRLFCRLF) and its body; None at EOF."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                chunked = True
        body = await self.reader.readexactly(length) if length else b""
        if chunked:
            body = await read_chunked(self.reader)
        self.requests.append(head)
        return head + body


class RawBackend:
    """A TCP "backend" running ``handler`` for each connection; cleaned up on exit."""

    def __init__(self, name: str, handler: RawHandler) -> None:
        self.name = name
        self.handler = handler
        self.connections: list[RawConnection] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    @property
    def requests(self) -> list[bytes]:
        """Every request head read, over all connections, in connection order."""
        return [r for c in self.connections for r in c.requests]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self.connections:
            conn.writer.transport.abort()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=PROMPT)
        await self._server.wait_closed()

    async def __aenter__(self) -> RawBackend:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = RawConnection(reader, writer, len(self.connections))
        self.connections.append(conn)
        task = asyncio.get_running_loop().create_task(self._run(conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, conn: RawConnection) -> None:
        try:
            await self.handler(conn)
        except OSError:
            pass
        finally:
            conn.writer.close()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashing host does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def answer_each(conn: RawConnection, response: bytes) -> None:
    """Raw handler body: answer every request on the connection with ``response``."""
    while await conn.read_request() is not None:
        conn.writer.write(response)
        await conn.writer.drain()


def ok_response(body: bytes = b"ok", *extra: str) -> bytes:
    """A well-formed keep-alive 200 with ``body`` and any extra header lines."""
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# -- the rig ---------------------------------------------------------------------------


class _ErrorLog(logging.Handler):
    """Collects error records of the proxy's logger: an unexpected error is a bug."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Rig:
    proxy: HttpProxy
    balancer: Balancer
    events: EventBus
    metrics: Metrics
    fakes: dict[str, FakeBackend]
    raws: dict[str, RawBackend]
    completed: list[RequestCompleted] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def port(self) -> int:
        return self.proxy.port

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RequestCompleted):
            self.completed.append(event)
            self._arrived.set()

    async def requests_done(self, n: int) -> list[RequestCompleted]:
        """Wait until ``n`` requests completed; then nothing may be left in flight."""
        async with asyncio.timeout(PROMPT):
            while len(self.completed) < n:
                self._arrived.clear()
                await self._arrived.wait()
        assert self.in_flight() == {}, f"requests left in flight: {self.in_flight()}"
        return list(self.completed)

    def in_flight(self) -> dict[str, int]:
        return {b.name: b.stats.in_flight for b in self.balancer.backends if b.stats.in_flight}

    def received(self) -> dict[str, int]:
        """Requests each backend received (fake backends' counters, raw backends' heads)."""
        counts = {name: fake.stats.received for name, fake in self.fakes.items()}
        counts.update({name: len(raw.requests) for name, raw in self.raws.items()})
        return counts


@contextlib.asynccontextmanager
async def rig(
    *backends: FakeBackend | RawBackend | tuple[str, str],
    config: ProxyConfig | None = None,
    algorithm: str = "round_robin",
    **balancer_options: Any,
) -> AsyncIterator[Rig]:
    """Backends (started here), a balancer over them in order, and a started proxy.

    A ``(name, address)`` pair is a backend nobody listens on (or someone else runs).
    On exit: the proxy must have logged no error and have nothing in flight.
    """
    if not backends:
        backends = (FakeBackend("b1"), FakeBackend("b2"))
    errors = _ErrorLog()
    # (The outbox makes the callbacks' writes: its errors are the proxy's.)
    loggers = [logging.getLogger(f"lbplay.net.{name}") for name in ("proxy_http", "outbox")]
    for logger in loggers:
        logger.addHandler(errors)
    async with contextlib.AsyncExitStack() as stack:
        fakes: dict[str, FakeBackend] = {}
        raws: dict[str, RawBackend] = {}
        entries: list[Backend] = []
        for item in backends:
            if isinstance(item, tuple):
                entries.append(Backend(item[0], address=item[1]))
                continue
            await stack.enter_async_context(item)
            if isinstance(item, FakeBackend):
                fakes[item.name] = item
            else:
                raws[item.name] = item
            entries.append(Backend(item.name, address=item.address))
        balancer = Balancer(entries, algorithm, **balancer_options)
        events = EventBus()
        metrics = Metrics()
        proxy = HttpProxy(balancer, config, events=events, metrics=metrics)
        the_rig = Rig(proxy, balancer, events, metrics, fakes, raws)
        events.subscribe(the_rig._on_event)
        await stack.enter_async_context(proxy)
        try:
            yield the_rig
        finally:
            for logger in loggers:
                logger.removeHandler(errors)
        assert not errors.records, [r.getMessage() for r in errors.records]
    assert the_rig.in_flight() == {}, f"left in flight: {the_rig.in_flight()}"


def client(**kwargs: Any) -> aiohttp.ClientSession:
    """A client session that leaves responses alone (no decompression, no redirects)."""
    return aiohttp.ClientSession(
        auto_decompress=False,
        skip_auto_headers=(hdrs.USER_AGENT, hdrs.ACCEPT, hdrs.ACCEPT_ENCODING),
        timeout=aiohttp.ClientTimeout(total=PROMPT),
        **kwargs,
    )


async def get(url: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    """One GET (or ``method=``) through a fresh session: status, headers, body."""
    method = kwargs.pop("method", "GET")
    async with (
        client() as session,
        session.request(method, url, allow_redirects=False, **kwargs) as response,
    ):
        return response.status, dict(response.headers), await response.read()


# -- raw sockets -----------------------------------------------------------------------


@dataclass
class Response:
    """A response read off a raw socket."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    #: How the body was delimited: "length", "chunked", "close" or "none".
    framing: str

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def header_names(self) -> set[str]:
        return {n.lower() for n, _ in self.headers}

    def json(self) -> Any:
        return json.loads(self.body)


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        assert await reader.readexactly(2) == b"\r\n"


async def read_response(reader: asyncio.StreamReader, *, head_request: bool = False) -> Response:
    """One response (1xx included) from ``reader``, body decoded from its framing."""
    async with asyncio.timeout(PROMPT):
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        _, status, reason = status_line.split(" ", 2)
        headers = [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines)]
        response = Response(int(status), reason, headers, b"", "none")
        code = response.status
        if head_request or code < 200 or code in (204, 304):
            return response
        if (response.header("transfer-encoding") or "").lower() == "chunked":
            response.body, response.framing = await read_chunked(reader), "chunked"
        elif (length := response.header("content-length")) is not None:
            response.body, response.framing = await reader.readexactly(int(length)), "length"
        else:
            response.body, response.framing = await reader.read(), "close"
        return response


async def parse_response(data: bytes, *, head_request: bool = False) -> Response:
    """The first response in ``data`` (bytes already received in full)."""
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return await read_response(reader, head_request=head_request)


async def at_eof(reader: asyncio.StreamReader) -> bool:
    """True if the peer closed the connection (EOF or reset) with nothing more to read."""
    try:
        async with asyncio.timeout(PROMPT):
            return await reader.read(1) == b""
    except ConnectionError:
        return True


@contextlib.asynccontextmanager
async def connect(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection to the proxy, closed on exit."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.transport.abort()


async def exchange(port: int, data: bytes, *, half_close: bool = False) -> bytes:
    """Send ``data``, then read everything until the proxy closes the connection."""
    async with connect(port) as (reader, writer):
        writer.write(data)
        if half_close:
            writer.write_eof()
        received = bytearray()
        with contextlib.suppress(ConnectionError):
            async with asyncio.timeout(PROMPT):
                while chunk := await reader.read(65536):
                    received += chunk
        return bytes(received)


def request(
    method: str = "GET",
    target: str = "/",
    headers: Sequence[tuple[str, str]] = (("Host", "test"),),
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    """The bytes of one request, exactly as given (no header added)."""
    lines = [f"{method} {target} {version}", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
