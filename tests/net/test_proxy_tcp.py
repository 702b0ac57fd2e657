"""The L4 proxy on real loopback sockets: picks, half-close, backpressure, timeouts, stop.

Every server binds 127.0.0.1 port 0 and is closed by its ``async with``. Tests
synchronise on what they wait for (an event, a reply, an EOF), each under a timeout
that only stops a broken proxy from hanging the suite. The only deliberate waits are
the idle timeouts under test (and traffic paced to outlast one) and one short "nothing
moves" window in the backpressure test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

import aiohttp
import pytest

from lbplay.core.backends import Backend
from lbplay.core.balancer import Balancer
from lbplay.core.events import ConnectionCompleted, Event, EventBus
from lbplay.errors import ConfigError
from lbplay.model.wire import FAKE_BACKEND_HEADER as X_BACKEND
from lbplay.net.fake_backend import FakeBackend
from lbplay.net.proxy_tcp import L4_LIMITS, L7_ONLY, TcpProxy

#: Generous bound on anything that should happen "at once"; a hang fails, not blocks.
PROMPT = 2.0

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A throwaway TCP backend running ``handler`` per connection, cleaned up on exit."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.tasks: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        assert self._server is not None
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self.writers:
            if not writer.is_closing():  # 3.11 cannot abort a transport close() finished
                writer.transport.abort()
        for task in self.tasks:
            task.cancel()
        await self.idle()
        await self._server.wait_closed()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        task = asyncio.get_running_loop().create_task(self._run(reader, writer))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.handler(reader, writer)
        except OSError:
            pass
        finally:
            writer.close()

    async def idle(self) -> None:
        """Wait until every connection's handler has finished."""
        if self.tasks:
            await asyncio.wait_for(asyncio.wait(set(self.tasks)), PROMPT)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()


class Completions:
    """Collects the proxy's ConnectionCompleted events and lets a test await them."""

    def __init__(self, bus: EventBus) -> None:
        self._queue: asyncio.Queue[ConnectionCompleted] = asyncio.Queue()
        bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ConnectionCompleted):
            self._queue.put_nowait(event)

    async def next(self) -> ConnectionCompleted:
        return await asyncio.wait_for(self._queue.get(), PROMPT)


def balancer_for(*addresses: str) -> Balancer:
    """Round robin over backends s1, s2, ... at ``addresses`` (no panic mode: with
    nothing available the balancer says so instead of failing open)."""
    return Balancer(
        [Backend(f"s{i}", address=address) for i, address in enumerate(addresses, start=1)],
        "round_robin",
        panic_threshold=0,
    )


def closed_port_address() -> str:
    """An address where nothing listens: bound for a moment, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


async def connect(
    proxy: TcpProxy, *, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if rcvbuf is None:
        return await asyncio.open_connection("127.0.0.1", proxy.port)
    sock = socket.socket()
    try:
        # Set before connecting, so the kernel neither autotunes it nor offers a big window.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", proxy.port))
        return await asyncio.open_connection(sock=sock)
    except BaseException:
        sock.close()
        raise


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), PROMPT)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def completions(bus: EventBus) -> Completions:
    return Completions(bus)


@pytest.fixture
async def echo_server() -> AsyncIterator[RawServer]:
    async with RawServer(echo) as server:
        yield server


# -- the L4 lesson: one pick per connection -------------------------------------------


async def test_requests_on_one_connection_share_a_backend_new_connections_rotate(
    bus: EventBus, completions: Completions
) -> None:
    async with (
        FakeBackend("s1") as s1,
        FakeBackend("s2") as s2,
        TcpProxy(balancer_for(s1.address, s2.address), events=bus) as proxy,
    ):
        one = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=one) as session:
            kept = []
            for _ in range(10):
                async with session.get(f"{proxy.url}/same") as response:
                    await response.read()
                    kept.append(response.headers[X_BACKEND])
        assert len(set(kept)) == 1, kept
        assert (await completions.next()).backend == kept[0]

        fresh = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=fresh) as session:
            each = []
            for _ in range(10):
                async with session.get(f"{proxy.url}/new") as response:
                    await response.read()
                    each.append(response.headers[X_BACKEND])
        assert all(a != b for a, b in itertools.pairwise(each)), each
        assert sorted(each) == ["s1"] * 5 + ["s2"] * 5
        events = [await completions.next() for _ in range(10)]
        assert sorted(e.backend or "" for e in events) == sorted(each)
        assert all(e.error == "" and e.bytes_up > 0 and e.bytes_down > 0 for e in events)
        assert events[0].reason  # the balancer's explanation rides along


def test_the_proxy_says_what_l4_cannot_do() -> None:
    assert TcpProxy.LIMITS is L4_LIMITS
    for feature in ("paths", "headers", "cookie", "X-Forwarded-For"):
        assert feature in L4_LIMITS
    assert {"routing", "cookie_sessions", "request_retries", "x_forwarded_for"} <= set(L7_ONLY)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("idle_timeout", 0),
        ("idle_timeout", float("nan")),
        ("connect_timeout", -1),
        ("max_connect_tries", 0),
        ("port", 70000),
    ],
)
def test_bad_settings_are_config_errors(option: str, value: float) -> None:
    with pytest.raises(ConfigError):
        TcpProxy(Balancer([Backend("s1")]), **{option: value})  # type: ignore[arg-type]


# -- half-close ---------------------------------------------------------------------


async def test_client_half_close_reaches_the_backend_which_still_replies(
    bus: EventBus, completions: Completions
) -> None:
    async def count_then_reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received = await reader.read()  # to EOF: only a forwarded FIN ends this
        writer.write(b"got %d bytes" % len(received))
        await writer.drain()

    async with (
        RawServer(count_then_reply) as server,
        TcpProxy(balancer_for(server.address), events=bus) as proxy,
    ):
        reader, writer = await connect(proxy)
        writer.write(b"x" * 100_000)
        writer.write_eof()
        assert await read_to_eof(reader) == b"got 100000 bytes"
        writer.close()
        event = await completions.next()
    assert (event.backend, event.error) == ("s1", "")
    assert (event.bytes_up, event.bytes_down) == (100_000, len(b"got 100000 bytes"))


async def test_backend_half_close_reaches_the_client_which_can_still_send(
    bus: EventBus, completions: Completions
) -> None:
    heard: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def greet_then_listen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"hello, then FIN")
        writer.write_eof()
        heard.set_result(await reader.read())

    async with (
        RawServer(greet_then_listen) as server,
        TcpProxy(balancer_for(server.address), events=bus) as proxy,
    ):
        reader, writer = await connect(proxy)
        assert await read_to_eof(reader) == b"hello, then FIN"
        writer.write(b"still talking after your FIN")
        writer.write_eof()
        assert await asyncio.wait_for(heard, PROMPT) == b"still talking after your FIN"
        writer.close()
        event = await completions.next()
    assert (event.error, event.bytes_up, event.bytes_down) == ("", 28, 15)


# -- backpressure -------------------------------------------------------------------

TOTAL = 20 * 1024 * 1024
#: What the proxy may hold for one connection: a reader's pause threshold and a
#: transport's high-water mark per side, with room to spare; without ``drain`` it
#: holds megabytes.
BOUNDED = 256 * 1024


async def test_a_client_that_does_not_read_stalls_the_backend_not_the_proxy_memory(
    bus: EventBus, completions: Completions
) -> None:
    sent = 0
    sender_done = asyncio.Event()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        chunk = bytes(64 * 1024)
        while sent < TOTAL:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
        sender_done.set()

    async with (
        RawServer(flood) as server,
        TcpProxy(balancer_for(server.address), events=bus) as proxy,
    ):
        reader, writer = await connect(proxy, rcvbuf=64 * 1024)
        # The client reads nothing for a moment. The backend fills the socket buffers on
        # the way (about 9 MB on Linux loopback) and then its writes block; the proxy
        # stops reading instead of taking the rest into memory.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sender_done.wait(), 0.3)
        stalled_at = sent
        (live,) = proxy.connections()
        most_buffered = live.buffered
        got = 0
        while got < TOTAL and (chunk := await asyncio.wait_for(reader.read(1 << 20), PROMPT)):
            got += len(chunk)
            (live,) = proxy.connections()
            most_buffered = max(most_buffered, live.buffered)
        await asyncio.wait_for(sender_done.wait(), PROMPT)
        writer.close()
        event = await completions.next()
    assert stalled_at < TOTAL
    assert most_buffered <= BOUNDED
    assert got == event.bytes_down == TOTAL


async def test_a_late_reader_gets_every_byte_after_the_backend_hung_up(
    bus: EventBus, completions: Completions
) -> None:
    # The proxy closes a finished connection only once what it holds is delivered
    # (drain stops at the high-water mark, not at empty); aborting would cut the end off.
    size = 1024 * 1024

    async def download(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(bytes(size))
        await writer.drain()

    async with (
        RawServer(download) as server,
        TcpProxy(balancer_for(server.address), events=bus) as proxy,
    ):
        reader, writer = await connect(proxy, rcvbuf=64 * 1024)
        writer.write_eof()
        await server.idle()  # the backend sent everything and closed before we read a byte
        assert len(await read_to_eof(reader)) == size
        writer.close()
        event = await completions.next()
    assert (event.bytes_down, event.error) == (size, "")


# -- idle timeout -------------------------------------------------------------------


async def test_an_idle_connection_is_closed_and_says_why(
    bus: EventBus, completions: Completions, echo_server: RawServer
) -> None:
    async with TcpProxy(balancer_for(echo_server.address), events=bus, idle_timeout=0.3) as proxy:
        reader, writer = await connect(proxy)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), PROMPT) == b"ping"
        started = time.monotonic()
        assert await read_to_eof(reader) == b""  # the proxy hung up on us
        assert time.monotonic() - started >= 0.25
        writer.close()
        event = await completions.next()
        await echo_server.idle()  # the backend side was closed too
    assert (event.backend, event.error) == ("s1", "idle timeout")
    assert proxy.open_connections == 0


async def test_traffic_in_either_direction_keeps_a_connection_alive(
    bus: EventBus, completions: Completions, echo_server: RawServer
) -> None:
    async with TcpProxy(balancer_for(echo_server.address), events=bus, idle_timeout=0.2) as proxy:
        reader, writer = await connect(proxy)
        # Paced traffic is what is under test here: 5 gaps of 0.08 s outlast the timeout.
        for _ in range(5):
            writer.write(b"tick")
            assert await asyncio.wait_for(reader.readexactly(4), PROMPT) == b"tick"
            await asyncio.sleep(0.08)
        writer.write_eof()
        assert await read_to_eof(reader) == b""
        writer.close()
        event = await completions.next()
    assert event.error == ""
    assert event.duration >= 0.4


# -- connecting: refused backends, nobody available -----------------------------------


async def test_a_refused_backend_is_skipped_for_the_next_one(
    bus: EventBus, completions: Completions, echo_server: RawServer
) -> None:
    balancer = balancer_for(closed_port_address(), echo_server.address)
    async with TcpProxy(balancer, events=bus) as proxy:
        reader, writer = await connect(proxy)
        writer.write(b"made it")
        writer.write_eof()
        assert await read_to_eof(reader) == b"made it"
        writer.close()
        event = await completions.next()
    assert event.backend == "s2"
    assert [(a.backend, a.outcome) for a in event.attempts] == [("s1", "refused"), ("s2", "ok")]
    assert event.reason == event.attempts[-1].reason
    assert (balancer.get("s1").stats.completed, balancer.get("s2").stats.completed) == (0, 1)


async def test_no_backend_available_closes_the_client_at_once(
    bus: EventBus, completions: Completions, echo_server: RawServer
) -> None:
    balancer = balancer_for(echo_server.address)
    balancer.set_available("s1", False)
    async with TcpProxy(balancer, events=bus) as proxy:
        reader, writer = await connect(proxy)
        assert await read_to_eof(reader) == b""  # no 503 at L4: just a closed connection
        writer.close()
        event = await completions.next()
    assert event.backend is None
    assert "no backend is available" in event.error
    assert event.attempts == ()
    assert balancer.get("s1").stats.completed == 0


async def test_when_every_try_is_refused_the_event_lists_them(
    bus: EventBus, completions: Completions
) -> None:
    balancer = balancer_for(closed_port_address(), closed_port_address())
    async with TcpProxy(balancer, events=bus, max_connect_tries=3) as proxy:
        reader, writer = await connect(proxy)
        assert await read_to_eof(reader) == b""
        writer.close()
        event = await completions.next()
    assert event.backend is None
    # Two backends, so two tries: the picker offered nothing new for a third.
    assert [a.outcome for a in event.attempts] == ["refused", "refused"]
    assert event.error == "no backend accepted the connection (s1 refused, s2 refused)"


async def test_a_backend_without_an_address_is_a_failed_try_not_a_crash(
    bus: EventBus, completions: Completions, echo_server: RawServer
) -> None:
    balancer = Balancer([Backend("s1"), Backend("s2", address=echo_server.address)])
    async with TcpProxy(balancer, events=bus) as proxy:
        reader, writer = await connect(proxy)
        writer.write(b"ok")
        writer.write_eof()
        assert await read_to_eof(reader) == b"ok"
        writer.close()
        event = await completions.next()
    assert [(a.backend, a.outcome) for a in event.attempts] == [
        ("s1", "backend 's1' has no address"),
        ("s2", "ok"),
    ]


# -- accounting and errors ------------------------------------------------------------


async def test_each_connection_is_one_request_for_the_balancer(
    bus: EventBus, completions: Completions
) -> None:
    async with RawServer(echo) as a, RawServer(echo) as b:
        balancer = balancer_for(a.address, b.address)
        async with TcpProxy(balancer, events=bus) as proxy:
            clients = [await connect(proxy) for _ in range(4)]
            for reader, writer in clients:  # every connection is up once it echoes
                writer.write(b"x" * 1000)
                await asyncio.wait_for(reader.readexactly(1000), PROMPT)
            stats = [backend.stats for backend in balancer.backends]
            assert [s.in_flight for s in stats] == [2, 2]
            assert proxy.open_connections == 4
            live = proxy.connections()
            assert sorted(c.backend or "" for c in live) == ["s1", "s1", "s2", "s2"]
            assert {c.state for c in live} == {"open"}
            for reader, writer in clients:
                writer.write_eof()
                assert await read_to_eof(reader) == b""
                writer.close()
            events = [await completions.next() for _ in clients]
    assert [s.in_flight for s in stats] == [0, 0]
    assert [s.completed for s in stats] == [2, 2]
    assert [s.failures for s in stats] == [0, 0]
    # The balancer counts the backend→client direction; the event has both.
    assert [s.total_bytes for s in stats] == [2000, 2000]
    assert [s.bytes_in_flight for s in stats] == [0, 0]
    assert {(e.bytes_up, e.bytes_down, e.error) for e in events} == {(1000, 1000, "")}


async def test_a_client_reset_resets_the_backend_and_counts_as_a_failure(
    bus: EventBus, completions: Completions
) -> None:
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def listen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ready")
        try:
            await reader.read()
        except ConnectionResetError:
            outcome.set_result("reset")
        else:
            outcome.set_result("eof")

    async with RawServer(listen) as server:
        balancer = balancer_for(server.address)
        async with TcpProxy(balancer, events=bus) as proxy:
            reader, writer = await connect(proxy)
            assert await asyncio.wait_for(reader.readexactly(5), PROMPT) == b"ready"
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # RST, not FIN
            assert await asyncio.wait_for(outcome, PROMPT) == "reset"
            event = await completions.next()
    assert (event.backend, event.error) == ("s1", "client reset")
    stats = balancer.get("s1").stats
    assert (stats.in_flight, stats.completed, stats.failures) == (0, 1, 1)


async def test_a_killed_backend_resets_its_clients_and_the_proxy_keeps_serving(
    bus: EventBus, completions: Completions, echo_server: RawServer
) -> None:
    async with FakeBackend("s1") as fake:
        balancer = balancer_for(fake.address, echo_server.address)
        async with TcpProxy(balancer, events=bus) as proxy:
            reader, writer = await connect(proxy)
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200 OK" in await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PROMPT)
            await fake.kill()
            with contextlib.suppress(ConnectionResetError):
                await read_to_eof(reader)  # the body, then the reset
            writer.close()
            event = await completions.next()
            assert (event.backend, event.error) == ("s1", "backend reset")

            # s1 is dead now: whenever round robin offers it, the connect is refused
            # and the connection lands on s2.
            for _ in range(2):
                reader, writer = await connect(proxy)
                writer.write(b"still serving")
                writer.write_eof()
                assert await read_to_eof(reader) == b"still serving"
                writer.close()
            events = [await completions.next(), await completions.next()]
    assert {e.backend for e in events} == {"s2"}
    assert sorted(len(e.attempts) for e in events) == [1, 2]


# -- stop ---------------------------------------------------------------------------


def proxy_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if "TcpProxy." in t.get_coro().__qualname__}  # type: ignore[union-attr]


async def test_stop_closes_everything_and_leaves_no_task_behind(
    bus: EventBus, completions: Completions, echo_server: RawServer
) -> None:
    before = asyncio.all_tasks()
    proxy = TcpProxy(balancer_for(echo_server.address), events=bus)
    await proxy.start()
    port = proxy.port
    clients = [await connect(proxy) for _ in range(3)]
    for reader, writer in clients:
        writer.write(b"up?")
        await asyncio.wait_for(reader.readexactly(3), PROMPT)
    assert proxy.open_connections == 3
    assert len(proxy_tasks()) == 6  # a handler and a second pump per connection

    await proxy.stop()

    assert proxy.open_connections == 0
    assert not proxy_tasks()
    for reader, writer in clients:
        with contextlib.suppress(ConnectionResetError):
            assert await read_to_eof(reader) == b""
        writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    events = [await completions.next() for _ in clients]
    assert {e.error for e in events} == {"proxy stopped"}
    await echo_server.idle()  # the backend connections were closed too
    assert asyncio.all_tasks() == before
    await proxy.stop()  # a second stop is harmless


class _ClosedSocket:
    """A socket already closed under its transport, as uvloop hands it over."""

    def setsockopt(self, *args: object) -> None:
        raise ValueError("negative file descriptor")


class _Transport(asyncio.WriteTransport):
    def __init__(self) -> None:
        super().__init__()
        self.aborted = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return _ClosedSocket() if name == "socket" else default

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def abort(self) -> None:
        self.aborted = True


def test_a_reset_of_an_already_closed_socket_still_aborts() -> None:
    """Found under uvloop: setsockopt on a closed socket raised ValueError out of
    _abort, and _finish (documented as never raising) skipped its accounting."""
    from lbplay.net.proxy_tcp import _abort

    transport = _Transport()
    _abort(transport, reset=True)
    assert transport.aborted


async def test_the_proxy_tests_run_on_both_loops(request: pytest.FixtureRequest) -> None:
    """Every test here runs twice: on asyncio's loop and on uvloop (tests/conftest.py)."""
    loop = type(asyncio.get_running_loop())
    expected = "uvloop" if request.node.name.endswith("[uvloop]") else "asyncio"
    assert loop.__module__.split(".")[0] == expected
