"""The L7 proxy's two ways of serving a client connection.

A plain request (whole head at once, no body, an idle pooled connection to the backend
picked, a response complete on arrival) is served in the connection's callbacks, with
no task; anything else is handed to a task on streams, which hands the connection back
once nothing is buffered. The answers must not depend on the way; these tests check
which way a request took (the proxy's tasks, while a backend holds its answer) and the
hand-overs between them. Every other proxy test runs through both ways too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

from lbplay.core.backends import Backend
from lbplay.core.balancer import Balancer
from lbplay.core.events import RequestCompleted
from lbplay.model.config import ProxyConfig
from lbplay.net import proxy_http
from lbplay.net.bodies import Body
from lbplay.net.forwarding import request_header_lines
from lbplay.net.http1 import NO_BODY, parse_head
from lbplay.net.proxy_http import HttpProxy, _Client
from lbplay.net.upstream import Upstream
from tests.net.proxy_http_support import (
    PROMPT,
    RawBackend,
    RawConnection,
    Rig,
    answer_each,
    connect,
    exchange,
    ok_response,
    read_response,
    request,
    reset,
    rig,
)


class Held:
    """A raw backend handler that answers each request only when the test says so."""

    def __init__(self) -> None:
        self.arrived: asyncio.Queue[bytes] = asyncio.Queue()
        self._answers: asyncio.Queue[bytes] = asyncio.Queue()

    async def handler(self, conn: RawConnection) -> None:
        while (head := await conn.read_request()) is not None:
            await self.arrived.put(head)
            conn.writer.write(await self._answers.get())
            await conn.writer.drain()

    async def next_request(self) -> bytes:
        async with asyncio.timeout(PROMPT):
            return await self.arrived.get()

    def answer(self, body: bytes = b"ok") -> None:
        self._answers.put_nowait(ok_response(body))


async def tasks_done(tasks: set[asyncio.Task[None]]) -> None:
    """Wait for the proxy's tasks of the moment to end (a task hands a connection back
    just after its response)."""
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=PROMPT)
        assert not pending


@contextlib.asynccontextmanager
async def warm_connection(
    the_rig: Rig, held: Held
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter, _Client]]:
    """A client connection served once (its task connects to the backend), so that the
    next plain request finds an idle backend connection and is served in callbacks; and
    the proxy's side of it. Closed on exit."""
    async with connect(the_rig.port) as (reader, writer):
        writer.write(request(target="/warm"))
        await held.next_request()
        held.answer()
        await read_response(reader)
        await tasks_done(the_rig.proxy._tasks)
        (client,) = the_rig.proxy._connections
        yield reader, writer, client


async def test_a_plain_request_on_a_warm_pool_is_served_without_a_task() -> None:
    held = Held()
    async with (
        rig(RawBackend("r1", held.handler)) as the_rig,
        connect(the_rig.port) as (reader, writer),
    ):
        tasks = the_rig.proxy._tasks
        # The first request finds no idle connection to the backend: a task makes one.
        writer.write(request(target="/first"))
        assert (await held.next_request()).startswith(b"GET /first ")
        assert len(tasks) == 1
        held.answer(b"one")
        assert (await read_response(reader)).body == b"one"
        await tasks_done(tasks)
        # Then the pool has one, and the connection is back in callbacks.
        for i in range(3):
            writer.write(request(target=f"/again{i}"))
            assert (await held.next_request()).startswith(f"GET /again{i} ".encode())
            assert tasks == set()
            held.answer(b"%d" % i)
            response = await read_response(reader)
            assert (response.status, response.body) == (200, b"%d" % i)
            assert response.header("connection") == "keep-alive"
        events = await the_rig.requests_done(4)
        assert [(e.path, e.status, e.backend) for e in events] == [
            ("/first", 200, "r1"),
            ("/again0", 200, "r1"),
            ("/again1", 200, "r1"),
            ("/again2", 200, "r1"),
        ]
        assert len(the_rig.raws["r1"].connections) == 1


async def test_a_request_with_a_body_is_served_on_streams_and_the_connection_comes_back() -> None:
    held = Held()
    async with (
        rig(RawBackend("r1", held.handler)) as the_rig,
        warm_connection(the_rig, held) as (reader, writer, _),
    ):
        tasks = the_rig.proxy._tasks

        post = request("POST", "/post", [("Host", "a"), ("Content-Length", "5")], b"hello")
        writer.write(post)
        assert (await held.next_request()).endswith(b"\r\n\r\nhello")
        assert len(tasks) == 1  # a body: on streams
        held.answer(b"posted")
        assert (await read_response(reader)).body == b"posted"
        await tasks_done(tasks)

        writer.write(request(target="/after"))
        await held.next_request()
        assert tasks == set()  # back in callbacks
        held.answer(b"after")
        assert (await read_response(reader)).body == b"after"
        assert [e.path for e in await the_rig.requests_done(3)] == ["/warm", "/post", "/after"]


async def test_pipelined_plain_requests_are_answered_in_order_in_callbacks() -> None:
    held = Held()
    async with (
        rig(RawBackend("r1", held.handler)) as the_rig,
        warm_connection(the_rig, held) as (reader, writer, _),
    ):
        tasks = the_rig.proxy._tasks

        writer.write(b"".join(request(target=f"/p{i}") for i in range(3)))
        for i in range(3):
            # One at a time: the next is not sent on before this one is answered.
            assert (await held.next_request()).startswith(f"GET /p{i} ".encode())
            assert held.arrived.empty()
            assert tasks == set()
            held.answer(b"%d" % i)
            assert (await read_response(reader)).body == b"%d" % i
        assert [e.path for e in await the_rig.requests_done(4)][1:] == ["/p0", "/p1", "/p2"]


async def test_a_client_that_does_not_take_its_answers_is_not_asked_for_more() -> None:
    # Backpressure in callbacks: when the transport to the client is over its
    # high-water mark (it calls pause_writing), a pipelined request waits until the
    # client has taken what it was sent (resume_writing).
    held = Held()
    async with (
        rig(RawBackend("r1", held.handler)) as the_rig,
        warm_connection(the_rig, held) as (reader, writer, client),
    ):
        tasks = the_rig.proxy._tasks
        writer.write(request(target="/p0") + request(target="/p1"))
        assert (await held.next_request()).startswith(b"GET /p0 ")
        client.pause_writing()  # as the transport does when the client stops reading
        held.answer(b"zero")
        assert (await read_response(reader)).body == b"zero"
        assert len(tasks) == 1  # waiting for the client to drain
        assert held.arrived.empty()  # /p1 not sent on
        client.resume_writing()
        assert (await held.next_request()).startswith(b"GET /p1 ")
        held.answer(b"one")
        assert (await read_response(reader)).body == b"one"
        assert [e.path for e in await the_rig.requests_done(3)][1:] == ["/p0", "/p1"]


@pytest.mark.pure_python
async def test_a_client_that_pipelines_and_stops_reading_gets_no_answer_past_the_pause(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same with a real slow reader: a small receive buffer and a client that does not
    # read. Answers are held to the end of the loop's pass (net.outbox); the one that
    # fills the transport must be seen to do so before the next pipelined request goes
    # on, so no answer is made after pause_writing until the client drains.
    answered: list[str] = []
    at_pause: list[int] = []
    at_drain: list[int] = []
    draining = asyncio.Event()
    pause_writing, drained = _Client.pause_writing, _Client._drained

    def paused(self: _Client) -> None:
        at_pause.append(len(answered))
        pause_writing(self)

    def drain(self: _Client) -> Coroutine[Any, Any, bool]:
        at_drain.append(len(answered))
        draining.set()
        return drained(self)

    monkeypatch.setattr(_Client, "pause_writing", paused)
    monkeypatch.setattr(_Client, "_drained", drain)
    body, count = b"x" * 16000, 400
    async with rig(RawBackend("r1", lambda conn: answer_each(conn, ok_response(body)))) as the_rig:
        the_rig.proxy.events.subscribe(  # type: ignore[union-attr]
            lambda e: answered.append(e.path) if isinstance(e, RequestCompleted) else None
        )
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", the_rig.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        try:
            writer.write(request(target="/warm"))
            assert (await read_response(reader)).body == body
            await tasks_done(the_rig.proxy._tasks)
            writer.write(b"".join(request(target=f"/p{i}") for i in range(count)))
            async with asyncio.timeout(PROMPT):
                await draining.wait()
            assert at_pause  # the client did fill its transport
            assert at_drain[0] == at_pause[0]
            for _ in range(count):  # then it reads, and gets every answer in order
                assert (await read_response(reader)).body == body
            assert answered == ["/warm", *(f"/p{i}" for i in range(count))]
        finally:
            writer.transport.abort()


async def test_stopping_writes_the_answers_held_before_it_cuts_connections() -> None:
    # An answer made in callbacks is recorded at once and written at the end of the
    # loop's pass; stop() in between must not drop it.
    held = Held()
    async with (
        rig(RawBackend("r1", held.handler)) as the_rig,
        warm_connection(the_rig, held) as (reader, _, client),
    ):
        the_rig.proxy._outbox.write(client.writer.transport, ok_response(b"held"))
        await the_rig.proxy.stop()
        assert (await read_response(reader)).body == b"held"
        async with asyncio.timeout(PROMPT):
            assert await reader.read() == b""


async def test_stopping_with_a_request_in_flight_in_callbacks_ends_its_try() -> None:
    held = Held()
    async with (
        rig(RawBackend("r1", held.handler)) as the_rig,
        warm_connection(the_rig, held) as (reader, writer, _),
    ):
        writer.write(request(target="/held"))
        await held.next_request()
        assert the_rig.in_flight() == {"r1": 1}
        await the_rig.proxy.stop()
        assert the_rig.in_flight() == {}
        try:
            async with asyncio.timeout(PROMPT):
                left = await reader.read()
        except ConnectionError:  # (closed with a reset)
            left = b""
        assert left == b""  # closed, nothing answered


async def test_a_client_that_half_closes_while_its_request_is_in_flight_gets_the_answer() -> None:
    held = Held()
    async with (
        rig(RawBackend("r1", held.handler)) as the_rig,
        warm_connection(the_rig, held) as (reader, writer, client),
    ):
        writer.write(request(target="/half"))
        writer.write_eof()
        await held.next_request()
        held.answer(b"still here")
        assert (await read_response(reader)).body == b"still here"
        # Then the proxy closes: the client said it would send nothing more.
        async with asyncio.timeout(PROMPT):
            assert await reader.read() == b""
            await client.writer.wait_closed()
        events = await the_rig.requests_done(2)
        assert (events[1].path, events[1].status, events[1].error) == ("/half", 200, "")
        writer.close()


async def gone_mid_request(the_rig: Rig, held: Held, target: str) -> None:
    """A warm client sends a plain request (in callbacks), which the backend holds; the
    client resets the connection, and the proxy has noticed."""
    async with warm_connection(the_rig, held) as (_, writer, client):
        writer.write(request(target=target))
        await held.next_request()
        reset(writer)
        with contextlib.suppress(ConnectionError):
            async with asyncio.timeout(PROMPT):
                await client.writer.wait_closed()


async def test_a_client_gone_while_its_request_is_in_flight_in_callbacks() -> None:
    held = Held()
    async with rig(RawBackend("r1", held.handler)) as the_rig:
        await gone_mid_request(the_rig, held, "/gone")
        # Then the backend answers: the request still ends, once, and nothing is left in
        # flight (the rig checks).
        held.answer()
        events = await the_rig.requests_done(2)
        assert (events[1].path, events[1].status, events[1].backend) == ("/gone", 200, "r1")
        assert events[1].error == "client went away mid-response"


async def test_a_fresh_send_opens_a_new_connection_even_with_one_idle() -> None:
    raw = RawBackend("r1", lambda conn: answer_each(conn, ok_response()))
    async with raw:
        upstream = Upstream(ProxyConfig())
        backend = Backend("r1", address=raw.address)
        head = parse_head(request())
        headers = request_header_lines(head, "127.0.0.1", False)
        try:
            for fresh in (False, False, True):
                response = await upstream.send(
                    backend, head, headers, Body(NO_BODY, b"", None), fresh=fresh
                )
                assert response.status == 200
                response.release()
            # Two sends on one connection, then a new one for the fresh send.
            assert [len(c.requests) for c in raw.connections] == [2, 1]
        finally:
            await upstream.close()


@pytest.mark.parametrize("late_answer", [True, False])
async def test_a_backend_connection_whose_answer_nobody_awaits_is_closed(late_answer: bool) -> None:
    # What _Client.abort() leaves when an unexpected error cuts off a request in flight
    # in callbacks: the future of its answer, cancelled. The connection must be closed,
    # whether the backend answers later or never (then at the read timeout).
    arrived: asyncio.Queue[bytes] = asyncio.Queue()
    cancelled = asyncio.Event()
    ended: asyncio.Queue[None] = asyncio.Queue()

    async def handler(conn: RawConnection) -> None:
        try:
            first = True
            while (head := await conn.read_request()) is not None:
                arrived.put_nowait(head)
                if not first and late_answer:
                    await cancelled.wait()
                if first or late_answer:
                    conn.writer.write(ok_response())
                    await conn.writer.drain()
                first = False
        finally:
            ended.put_nowait(None)  # the proxy closed the connection

    async with RawBackend("r1", handler) as raw:
        upstream = Upstream(ProxyConfig(read_timeout=0.3))
        backend = Backend("r1", address=raw.address)
        head = parse_head(request())
        headers = request_header_lines(head, "127.0.0.1", False)
        body = Body(NO_BODY, b"", None)
        try:
            (await upstream.send(backend, head, headers, body)).release()  # now idle
            pending = upstream.send_pooled(backend, head, headers, body)
            assert pending is not None
            async with asyncio.timeout(PROMPT):
                await arrived.get()
                await arrived.get()
            pending.cancel()
            cancelled.set()
            async with asyncio.timeout(PROMPT):
                await ended.get()
            assert len(raw.connections) == 1
        finally:
            await upstream.close()


async def test_stopping_before_a_handed_over_request_starts_on_streams_ends_its_try() -> None:
    held = Held()
    async with (
        rig(RawBackend("r1", held.handler), RawBackend("r2", held.handler)) as the_rig,
        warm_connection(the_rig, held) as (_, _, client),  # r1 has an idle connection
    ):
        # Round robin picks r2 next, which has none: the request is begun here (r2 is
        # counted in flight) and handed to a task, which the proxy stops before it runs.
        client.data_received(request(target="/to-r2"))
        assert the_rig.in_flight() == {"r2": 1}
        assert len(the_rig.proxy._tasks) == 1
        await the_rig.proxy.stop()
        assert the_rig.in_flight() == {}
        assert held.arrived.empty()  # never sent


@pytest.mark.pure_python
async def test_a_bug_in_the_callbacks_closes_that_connection_and_ends_its_try(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    balancer = Balancer([Backend("b1", address="127.0.0.1:9")], "round_robin")
    proxy = HttpProxy(balancer)
    upstream = proxy._upstream

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(upstream, "send_pooled", broken)  # after the try has begun
    async with proxy:
        answer = await exchange(proxy.port, request(target="/bug"))
        assert answer == b""  # closed, not hung
        assert balancer.backends[0].stats.in_flight == 0
    assert "unexpected error serving 127.0.0.1" in caplog.text


@pytest.mark.pure_python
async def test_a_bug_while_answering_in_callbacks_ends_the_try(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with RawBackend("r1", lambda conn: answer_each(conn, ok_response())) as raw:
        balancer = Balancer([Backend("r1", address=raw.address)], "round_robin")
        async with HttpProxy(balancer) as proxy, connect(proxy.port) as (reader, writer):
            writer.write(request(target="/warm"))
            assert (await read_response(reader)).status == 200
            await tasks_done(proxy._tasks)

            def broken(*args: object, **kwargs: object) -> None:
                raise RuntimeError("a bug")

            monkeypatch.setattr(proxy_http, "relay_now", broken)
            writer.write(request(target="/bug"))
            async with asyncio.timeout(PROMPT):
                assert await reader.read() == b""  # closed, not hung
            assert balancer.backends[0].stats.in_flight == 0
    assert "unexpected error serving 127.0.0.1" in caplog.text


async def test_a_backend_that_sends_more_after_its_answer_is_not_asked_again() -> None:
    async def stray(conn: RawConnection) -> None:
        if await conn.read_request() is not None:  # its answer, then half a head
            conn.writer.write(ok_response(b"one") + b"HTTP/1.1 404 Smuggled\r\nX-Evil: ")
            await answer_each(conn, ok_response(b"never"))

    async def plain(conn: RawConnection) -> None:
        await answer_each(conn, ok_response(b"two"))

    raws = [stray, plain]

    async def handler(conn: RawConnection) -> None:
        await raws[min(conn.index, 1)](conn)

    async with (
        rig(RawBackend("r1", handler)) as the_rig,
        connect(the_rig.port) as (reader, writer),
    ):
        for body in (b"one", b"two", b"two"):
            writer.write(request())
            response = await read_response(reader)
            assert (response.status, response.body) == (200, body)
            assert not any(name.lower() == "x-evil" for name, _ in response.headers)
        assert len(the_rig.raws["r1"].connections) == 2


async def test_a_pipelined_head_after_a_slow_answer_gets_a_whole_header_timeout() -> None:
    held = Held()
    config = ProxyConfig(header_timeout=0.3)
    async with (
        rig(RawBackend("r1", held.handler), config=config) as the_rig,
        warm_connection(the_rig, held) as (reader, writer, _),
    ):
        second = request(target="/second")
        writer.write(request(target="/slow") + second[:10])  # the next head, in pieces
        await held.next_request()
        await asyncio.sleep(0.4)  # the backend takes longer than the header timeout
        held.answer(b"slow")
        assert (await read_response(reader)).body == b"slow"
        writer.write(second[10:])  # within the header timeout of the answer
        await held.next_request()
        held.answer(b"second")
        assert (await read_response(reader)).body == b"second"


async def test_stopping_with_a_gone_clients_request_in_flight_ends_it_and_sends_nothing() -> None:
    held = Held()
    async with rig(RawBackend("r1", held.handler)) as the_rig:
        await gone_mid_request(the_rig, held, "/slow")
        await the_rig.proxy.stop()
        assert the_rig.in_flight() == {}
        assert the_rig.proxy._tasks == set()
        assert held.arrived.empty()


async def test_the_book_is_kept_before_the_client_can_read_the_answer() -> None:
    # Metrics and events are kept at the end of the loop's pass (HttpProxy._book), yet a
    # client that has read its answer finds both already: in callbacks and on streams.
    held = Held()
    async with (
        rig(RawBackend("r1", held.handler)) as the_rig,
        warm_connection(the_rig, held) as (reader, writer, _),
    ):
        posted = request("POST", "/post", [("Host", "a"), ("Content-Length", "2")], b"hi")
        for number, (data, path) in enumerate(
            [(request(target="/plain"), "/plain"), (posted, "/post")]
        ):
            writer.write(data)
            await held.next_request()
            held.answer(path.encode())
            assert (await read_response(reader)).body == path.encode()
            # (No await between the answer read and these.)
            assert the_rig.completed[-1].path == path
            assert the_rig.metrics.snapshot().total.requests == number + 2  # with /warm
            await tasks_done(the_rig.proxy._tasks)
