"""Backends that fail, and what the L7 proxy does about it: retry, 502/503/504, abort.

Retries follow nginx's ``proxy_next_upstream``: refused connections are retried for
every method, timeouts and resets only for methods other than POST, PATCH and LOCK;
chosen statuses only when configured; within a tries and a time budget, avoiding the
backends already tried. Counting what each backend received shows that nothing is
sent twice that must not be. Every test also checks (in ``rig``) that the balancer
has nothing left in flight and that the proxy logged no unexpected error.
"""

from __future__ import annotations

import asyncio
import random
import time

import aiohttp
import pytest

from lbplay.core.passive import NginxPassive, PassiveHealth
from lbplay.model.config import ProxyConfig, RetryPolicy
from lbplay.model.wire import BACKEND_HEADER
from lbplay.net.fake_backend import FakeBackend
from tests.net.proxy_http_support import (
    PROMPT,
    RawBackend,
    RawConnection,
    RawHandler,
    answer_each,
    client,
    connect,
    exchange,
    get,
    ok_response,
    read_response,
    request,
    reset,
    rig,
)

FAST = ProxyConfig(read_timeout=0.2)


async def resets(conn: RawConnection) -> None:
    """Reads a request, then resets the connection without answering."""
    if await conn.read_request() is not None:
        reset(conn.writer)


async def closes(conn: RawConnection) -> None:
    """Reads a request, then closes the connection (FIN) without answering."""
    await conn.read_request()


# -- backend faults ----------------------------------------------------------------------


async def test_refused_is_retried_on_another_backend() -> None:
    b1, b2 = FakeBackend("b1"), FakeBackend("b2")
    async with rig(b1, b2) as the_rig:
        await b1.kill()
        status, headers, _ = await get(the_rig.url + "/")
        assert status == 200
        assert headers[BACKEND_HEADER] == "b1, b2"
        [event] = await the_rig.requests_done(1)
        assert [(a.backend, a.outcome) for a in event.attempts] == [("b1", "refused"), ("b2", "ok")]
        assert event.backend == "b2"


@pytest.mark.parametrize("method", ["POST", "PATCH", "LOCK"])
async def test_non_idempotent_is_retried_when_refused(method: str) -> None:
    # Refused means nothing was sent: retrying cannot run the request twice.
    b1, b2 = FakeBackend("b1"), FakeBackend("b2")
    async with rig(b1, b2) as the_rig:
        await b1.kill()
        status, headers, _ = await get(the_rig.url + "/", method=method, data=b"once")
        assert (status, headers[BACKEND_HEADER]) == (200, "b1, b2")
        assert the_rig.received() == {"b1": 0, "b2": 1}


async def test_all_refused_is_502_saying_why() -> None:
    b1, b2 = FakeBackend("b1"), FakeBackend("b2")
    async with rig(b1, b2) as the_rig:
        await b1.kill()
        await b2.kill()
        status, headers, body = await get(the_rig.url + "/")
        assert status == 502
        assert headers["Content-Type"].startswith("text/plain")
        text = body.decode()
        assert text.startswith("502 Bad Gateway: could not connect to b2 (refused)")
        assert "tried b1: refused; b2: refused" in text
        assert headers[BACKEND_HEADER] == "b1, b2"
        [event] = await the_rig.requests_done(1)
        assert event.status == 502
        assert event.error == text.strip()


@pytest.mark.parametrize(("fault", "outcome"), [(resets, "reset"), (closes, "closed")])
async def test_reset_or_close_before_response_is_502(fault: RawHandler, outcome: str) -> None:
    async with rig(RawBackend("r1", fault)) as the_rig:
        status, headers, body = await get(the_rig.url + "/")
        assert status == 502
        assert headers[BACKEND_HEADER] == "r1"
        assert f"tried r1: {outcome}" in body.decode()
        # One request: the client library's silent retry is off, retries are the proxy's.
        assert the_rig.received() == {"r1": 1}
        await the_rig.requests_done(1)


async def test_hang_is_504_after_the_read_timeout() -> None:
    async with rig(FakeBackend("b1", hang=True), config=ProxyConfig(read_timeout=0.3)) as the_rig:
        started = time.monotonic()
        status, _, body = await get(the_rig.url + "/")
        elapsed = time.monotonic() - started
        assert status == 504
        assert 0.3 <= elapsed < 1.3
        assert "b1 did not answer within 0.3 s" in body.decode()
        [event] = await the_rig.requests_done(1)
        assert event.attempts[0].outcome == "timeout"


BAD_RESPONSES = {
    "garbage": b"HELLO WORLD\r\n\r\n",
    "cl-and-te": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    ),
    "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "bad-length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello",
    "bad-status": b"HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n",
    "unasked-101": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
    # Malformed header lines (the probe's response faults); obs-fold and bare LF below.
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 2\r\n\r\nok",
    "nul-in-value": b"HTTP/1.1 200 OK\r\nX-A: 1\x002\r\nContent-Length: 2\r\n\r\nok",
}


@pytest.mark.parametrize("response", BAD_RESPONSES.values(), ids=BAD_RESPONSES.keys())
async def test_bad_response_is_502_and_its_connection_is_not_reused(response: bytes) -> None:
    async def bad(conn: RawConnection) -> None:
        await answer_each(conn, response)  # and would read the next request, if any

    async with rig(RawBackend("r1", bad)) as the_rig:
        for _ in range(2):
            status, _, body = await get(the_rig.url + "/")
            assert status == 502
            assert "tried r1: bad response" in body.decode()
        raw = the_rig.raws["r1"]
        assert [len(c.requests) for c in raw.connections] == [1, 1]


async def test_bytes_after_a_response_make_its_connection_unusable() -> None:
    async def extra(conn: RawConnection) -> None:
        await answer_each(conn, ok_response(b"ok") + b"HTTP/1.1 200 OK\r\n\r\n")

    async with rig(RawBackend("r1", extra)) as the_rig:
        for _ in range(2):
            assert (await get(the_rig.url + "/"))[::2] == (200, b"ok")
        assert [len(c.requests) for c in the_rig.raws["r1"].connections] == [1, 1]


TOLERATED = {
    # RFC 9112 §5.2: a proxy may replace obs-fold with SP instead of answering 502.
    "obs-fold": (b"X-A: 1\r\n b\r\n", "1 b"),
    # RFC 9112 §2.2: a recipient may read a lone LF as the end of a line.
    "bare-lf": (b"X-A: 1\n", "1"),
}


@pytest.mark.parametrize(("lines", "value"), TOLERATED.values(), ids=TOLERATED.keys())
async def test_tolerated_header_lines_are_rewritten_clean(lines: bytes, value: str) -> None:
    """What the client gets is a clean head lbplay wrote itself: no CR, LF or NUL in a
    value, one framing, whatever the backend's line endings were."""
    response = b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 2\r\n\r\nok"

    async def sends(conn: RawConnection) -> None:
        await answer_each(conn, response)

    async with rig(RawBackend("r1", sends)) as the_rig, connect(the_rig.port) as (reader, writer):
        writer.write(request())
        head = await reader.readuntil(b"\r\n\r\n")
        assert f"\r\nX-A: {value}\r\n".encode() in head
        assert b"\n" not in head.replace(b"\r\n", b"")
        assert b"\r" not in head.replace(b"\r\n", b"")
        assert head.count(b"Content-Length: 2\r\n") == 1
        assert await reader.readexactly(2) == b"ok"


@pytest.mark.parametrize("method", ["HEAD", "GET"])
async def test_a_response_injected_after_a_bodyless_one_is_never_relayed(method: str) -> None:
    """A HEAD answer (or a 204) has no body by definition; bytes after it are not the
    next response, whatever they look like (response splitting)."""
    injected = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED"
    status = 200 if method == "HEAD" else 204
    head = (
        f"HTTP/1.1 {status} OK\r\nContent-Length: 5\r\n\r\n"
        if method == "HEAD"
        else ("HTTP/1.1 204 No Content\r\n\r\n")
    )

    async def splits(conn: RawConnection) -> None:
        await answer_each(conn, head.encode() + injected)

    async with rig(RawBackend("r1", splits)) as the_rig, connect(the_rig.port) as (reader, writer):
        for _ in range(2):
            writer.write(request(method, "/"))
            response = await read_response(reader, head_request=method == "HEAD")
            # The answer itself, or a 502 when the client library chokes on what
            # follows it: never the injected response.
            assert response.status in (status, 502)
            assert b"INJECTED" not in response.body
            assert response.header("content-length") != "8"
        # Each request went out on a fresh connection: the tainted one was not reused.
        assert [len(c.requests) for c in the_rig.raws["r1"].connections] == [1, 1]


MID_BODY = {
    "length": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10,
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
}


@pytest.mark.parametrize("start", MID_BODY.values(), ids=MID_BODY.keys())
@pytest.mark.parametrize("ending", ["close", "reset", "stall"])
async def test_backend_failing_mid_body_aborts_the_client(start: bytes, ending: str) -> None:
    async def breaks(conn: RawConnection) -> None:
        if await conn.read_request() is None:
            return
        conn.writer.write(start)
        await conn.writer.drain()
        if ending == "reset":
            reset(conn.writer)
        elif ending == "stall":
            await conn.reader.read()  # until the proxy gives up on it

    async with rig(RawBackend("r1", breaks), config=FAST) as the_rig:
        async with client() as session, session.get(the_rig.url + "/") as response:
            assert response.status == 200  # the head went out before the failure
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
        [event] = await the_rig.requests_done(1)
        assert event.error == f"r1 {'stalled' if ending == 'stall' else 'failed'} mid-response"
        assert the_rig.metrics.snapshot().total.status["failed"] == 1


async def test_killed_backend_mid_download_aborts_the_client() -> None:
    b1 = FakeBackend("b1")
    async with rig(b1) as the_rig:
        reader_writer = connect(the_rig.port)
        async with reader_writer as (reader, writer):
            writer.write(request(target="/bytes?n=50000000"))
            head = await read_response(reader, head_request=True)  # the head only
            assert head.status == 200
            length = int(head.header("content-length") or 0)
            await b1.wait_until(lambda s: s.bytes_sent > 0)
            await b1.kill()
            with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
                await asyncio.wait_for(reader.readexactly(length), PROMPT)
        await the_rig.requests_done(1)


async def test_the_proxys_own_answer_to_head_has_no_body() -> None:
    """Found: a 503 (or 502) answered by the proxy to a HEAD carried a body, which a
    client reads as the start of the next response."""
    async with rig(FakeBackend("b1")) as the_rig, connect(the_rig.port) as (reader, writer):
        the_rig.balancer.set_available("b1", False)
        the_rig.balancer.set_panic_threshold(0)
        writer.write(request("HEAD", "/") + request("HEAD", "/again"))
        for _ in range(2):
            response = await read_response(reader, head_request=True)
            assert response.status == 503
            assert int(response.header("content-length") or 0) > 0


async def test_no_eligible_backend_is_503() -> None:
    # Panic off: with every backend down the balancer fails closed.
    async with rig(panic_threshold=0) as the_rig:
        the_rig.balancer.set_available("b1", False)
        the_rig.balancer.set_available("b2", False)
        status, headers, body = await get(the_rig.url + "/")
        assert status == 503
        assert body.decode().startswith("503 Service Unavailable: no backend is available")
        assert BACKEND_HEADER not in headers
        assert the_rig.received() == {"b1": 0, "b2": 0}
        [event] = await the_rig.requests_done(1)
        assert (event.backend, event.attempts, event.reason) == (None, (), "")
        assert the_rig.metrics.snapshot().no_backend.requests == 1


async def test_disabled_backends_are_503_even_in_panic() -> None:
    async with rig() as the_rig:
        the_rig.balancer.disable("b1")
        the_rig.balancer.disable("b2")
        assert (await get(the_rig.url + "/"))[0] == 503


async def test_all_unhealthy_fails_open_in_panic_mode() -> None:
    # The balancer's default (Envoy's panic threshold, the ALB): traffic goes to all.
    async with rig() as the_rig:
        the_rig.balancer.set_available("b1", False)
        the_rig.balancer.set_available("b2", False)
        assert (await get(the_rig.url + "/"))[0] == 200


# -- retry rules -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD", "OPTIONS"])
@pytest.mark.parametrize("fault", ["timeout", "reset", "closed"])
async def test_idempotent_is_retried_after_timeout_or_reset(method: str, fault: str) -> None:
    first = (
        FakeBackend("b1", hang=True)
        if fault == "timeout"
        else RawBackend("b1", resets if fault == "reset" else closes)
    )
    async with rig(first, FakeBackend("b2"), config=FAST) as the_rig:
        status, headers, _ = await get(the_rig.url + "/", method=method, data=b"x" * 100)
        assert (status, headers[BACKEND_HEADER]) == (200, "b1, b2")
        assert the_rig.received() == {"b1": 1, "b2": 1}
        [event] = await the_rig.requests_done(1)
        assert [a.outcome for a in event.attempts] == [fault, "ok"]


@pytest.mark.parametrize("method", ["POST", "PATCH", "LOCK"])
@pytest.mark.parametrize("fault", ["timeout", "reset"])
async def test_non_idempotent_is_never_retried_once_sent(method: str, fault: str) -> None:
    first = FakeBackend("b1", hang=True) if fault == "timeout" else RawBackend("b1", resets)
    async with rig(first, FakeBackend("b2"), config=FAST) as the_rig:
        status, headers, _ = await get(the_rig.url + "/", method=method, data=b"pay once")
        assert (status, headers[BACKEND_HEADER]) == (504 if fault == "timeout" else 502, "b1")
        assert the_rig.received() == {"b1": 1, "b2": 0}


async def test_non_idempotent_retry_can_be_allowed() -> None:
    config = ProxyConfig(read_timeout=0.2, retry=RetryPolicy(non_idempotent=True))
    async with rig(FakeBackend("b1", hang=True), FakeBackend("b2"), config=config) as the_rig:
        status, _, _ = await get(the_rig.url + "/", method="POST", data=b"twice is fine")
        assert status == 200
        assert the_rig.received() == {"b1": 1, "b2": 1}


async def test_streamed_body_is_not_retried_once_sent() -> None:
    # Over replay_limit the body is not kept, so it cannot be sent again, even for PUT.
    config = ProxyConfig(read_timeout=0.2, replay_limit=1000)
    async with rig(FakeBackend("b1", hang=True), FakeBackend("b2"), config=config) as the_rig:
        status, _, _ = await get(the_rig.url + "/", method="PUT", data=b"x" * 5000)
        assert status == 504
        assert the_rig.received() == {"b1": 1, "b2": 0}


async def test_5xx_is_passed_on_unless_configured() -> None:
    async with rig(FakeBackend("b1", error_rate=1.0), FakeBackend("b2")) as the_rig:
        status, headers, _ = await get(the_rig.url + "/")
        assert (status, headers[BACKEND_HEADER]) == (500, "b1")


async def test_chosen_5xx_is_retried_when_configured() -> None:
    config = ProxyConfig(retry=RetryPolicy(on_status=frozenset({500})))
    async with rig(FakeBackend("b1", error_rate=1.0), FakeBackend("b2"), config=config) as the_rig:
        status, headers, _ = await get(the_rig.url + "/")
        assert (status, headers[BACKEND_HEADER]) == (200, "b1, b2")
        [event] = await the_rig.requests_done(1)
        assert [(a.outcome, a.status) for a in event.attempts] == [("http 500", 500), ("ok", 200)]
        # POST is not retried on a status either: the backend did run it.
        status, headers, _ = await get(the_rig.url + "/", method="POST", data=b"x")
        assert (status, headers[BACKEND_HEADER]) == (500, "b1")
        assert the_rig.received() == {"b1": 2, "b2": 1}


async def test_last_5xx_is_passed_on_when_no_backend_is_left() -> None:
    config = ProxyConfig(retry=RetryPolicy(on_status=frozenset({500})))
    backends = [FakeBackend(f"b{i}", error_rate=1.0) for i in (1, 2)]
    async with rig(*backends, config=config) as the_rig:
        status, headers, body = await get(the_rig.url + "/")
        assert (status, headers[BACKEND_HEADER]) == (500, "b1, b2")
        assert b"injected error" in body  # the backend's own answer, not the proxy's
        [event] = await the_rig.requests_done(1)
        assert [a.outcome for a in event.attempts] == ["http 500", "ok"]


@pytest.mark.parametrize("tries", [1, 2, 3])
async def test_tries_cap(tries: int) -> None:
    backends = [FakeBackend(f"b{i}") for i in range(1, 5)]
    config = ProxyConfig(retry=RetryPolicy(tries=tries))
    async with rig(*backends, config=config) as the_rig:
        for backend in backends:
            await backend.kill()
        status, headers, _ = await get(the_rig.url + "/")
        assert status == 502
        assert headers[BACKEND_HEADER] == ", ".join(f"b{i}" for i in range(1, tries + 1))
        [event] = await the_rig.requests_done(1)
        assert len(event.attempts) == tries


async def test_retry_time_cap() -> None:
    # The first attempt takes the 0.2 s read timeout, past the 0.1 s retry budget.
    config = ProxyConfig(read_timeout=0.2, retry=RetryPolicy(timeout=0.1))
    async with rig(FakeBackend("b1", hang=True), FakeBackend("b2"), config=config) as the_rig:
        status, headers, _ = await get(the_rig.url + "/")
        assert (status, headers[BACKEND_HEADER]) == (504, "b1")
        assert the_rig.received() == {"b1": 1, "b2": 0}


async def test_retries_avoid_backends_already_tried() -> None:
    backends = [FakeBackend(f"b{i}") for i in range(1, 5)]
    config = ProxyConfig(retry=RetryPolicy(tries=4))
    async with rig(*backends, config=config, algorithm="random", rng=random.Random(3)) as the_rig:
        for backend in backends[:3]:
            await backend.kill()
        for _ in range(30):
            status, headers, _ = await get(the_rig.url + "/")
            tried = headers[BACKEND_HEADER].split(", ")
            assert status == 200
            assert len(set(tried)) == len(tried)
            assert tried[-1] == "b4"
        events = await the_rig.requests_done(30)
        assert any(len(e.attempts) == 4 for e in events)


# -- pooled keep-alive connections the backend closed -------------------------------------


async def test_pooled_connection_closed_under_a_request() -> None:
    """The backend answers once per connection, then drops the next request unanswered."""

    async def once_per_connection(conn: RawConnection) -> None:
        if await conn.read_request() is None:
            return
        conn.writer.write(ok_response(f"conn {conn.index}".encode()))
        await conn.writer.drain()
        await conn.read_request()  # then close without answering

    async with rig(RawBackend("r1", once_per_connection)) as the_rig:
        raw = the_rig.raws["r1"]
        assert (await get(the_rig.url + "/"))[::2] == (200, b"conn 0")
        # Pooled connection 0 is closed under the GET: sent again on a fresh one.
        assert (await get(the_rig.url + "/"))[::2] == (200, b"conn 1")
        events = await the_rig.requests_done(2)
        assert [a.outcome for a in events[1].attempts] == ["ok"]
        # Pooled connection 1 is closed under the POST: 502, never sent a second time.
        status, _, body = await get(the_rig.url + "/", method="POST", data=b"pay")
        assert status == 502
        assert "r1: closed" in body.decode()
        posts = [r for r in raw.requests if r.startswith(b"POST")]
        assert len(posts) == 1
        assert len(raw.connections) == 2


async def test_pooled_connection_closed_while_idle_is_not_used() -> None:
    async def closes_after_answering(conn: RawConnection) -> None:
        if await conn.read_request() is not None:
            conn.writer.write(ok_response())  # keep-alive by default, but it closes
            await conn.writer.drain()

    async with rig(RawBackend("r1", closes_after_answering)) as the_rig:
        for method in ("GET", "POST", "POST"):
            status, _, _ = await get(the_rig.url + "/", method=method, data=b"x")
            assert status == 200
        assert [len(c.requests) for c in the_rig.raws["r1"].connections] == [1, 1, 1]


# -- events, metrics, in flight ------------------------------------------------------------


async def test_one_event_per_request_with_attempts_and_reason() -> None:
    b1, b2 = FakeBackend("b1"), FakeBackend("b2")
    async with rig(b1, b2) as the_rig:
        for _ in range(3):
            await get(the_rig.url + "/ok")
        await b2.kill()
        await get(the_rig.url + "/retried")  # b2's turn: refused, then b1
        events = await the_rig.requests_done(4)
        assert len(events) == 4
        assert [e.backend for e in events] == ["b1", "b2", "b1", "b1"]
        for event in events:
            assert event.reason == event.attempts[-1].reason
            assert event.reason.startswith(event.backend or "")
            assert event.client == "127.0.0.1"
        assert [(a.backend, a.outcome, a.status) for a in events[3].attempts] == [
            ("b2", "refused", None),
            ("b1", "ok", 200),
        ]
        assert events[3].retried
        assert events[0].bytes > 0
        assert all(e.latency > 0 for e in events)


async def test_metrics_record_each_request_with_its_status() -> None:
    b1, b2 = FakeBackend("b1"), FakeBackend("b2", hang=True)
    config = ProxyConfig(read_timeout=0.2, retry=RetryPolicy(tries=1))
    async with rig(b1, b2, config=config, panic_threshold=0) as the_rig:
        assert (await get(the_rig.url + "/"))[0] == 200  # b1
        assert (await get(the_rig.url + "/"))[0] == 504  # b2
        await b1.kill()
        assert (await get(the_rig.url + "/"))[0] == 502  # b1
        assert (await exchange(the_rig.port, request(headers=[])))[:12] == b"HTTP/1.1 400"
        the_rig.balancer.set_available("b1", False)
        the_rig.balancer.set_available("b2", False)
        assert (await get(the_rig.url + "/"))[0] == 503
        await the_rig.requests_done(4)
        snapshot = the_rig.metrics.snapshot()
        assert snapshot.total.requests == 4  # the 400 never became a request
        assert snapshot.total.status["2xx"] == 1
        assert snapshot.total.status["5xx"] == 3
        assert snapshot.backends["b1"].status["2xx"] == 1
        assert snapshot.backends["b1"].status["5xx"] == 1
        assert snapshot.backends["b2"].status["5xx"] == 1
        assert snapshot.no_backend.requests == 1


async def test_nothing_left_in_flight_when_the_client_leaves_or_the_proxy_stops() -> None:
    b1 = FakeBackend("b1")
    async with rig(b1, FakeBackend("b2", hang=True), config=ProxyConfig(read_timeout=5)) as the_rig:
        # A client that leaves in the middle of a large download.
        async with connect(the_rig.port) as (reader, writer):
            writer.write(request(target="/bytes?n=100000000"))
            assert (await read_response(reader, head_request=True)).status == 200
            await b1.wait_until(lambda s: s.bytes_sent > 1_000_000)
        [event] = await the_rig.requests_done(1)
        assert event.error == "client went away mid-response"
        # A request hanging on b2 when the proxy stops.
        pending = asyncio.create_task(get(the_rig.url + "/"))
        await the_rig.fakes["b2"].wait_until(lambda s: s.hung == 1)
        assert the_rig.in_flight() == {"b2": 1}
        await the_rig.proxy.stop()
        assert the_rig.in_flight() == {}
        with pytest.raises(aiohttp.ClientError):
            await pending


# -- the balancer's limits and verdicts ------------------------------------------------------


async def test_requests_queue_when_every_backend_is_full() -> None:
    b1 = FakeBackend("b1", hang=True)
    async with rig(b1) as the_rig:
        the_rig.balancer.set_max_conns("b1", 1)
        first = asyncio.create_task(get(the_rig.url + "/first"))
        await b1.wait_until(lambda s: s.hung == 1)
        second = asyncio.create_task(get(the_rig.url + "/second"))
        async with asyncio.timeout(PROMPT):
            while the_rig.proxy.queued < 1:
                await asyncio.sleep(0)  # let the second request reach the queue
        assert b1.stats.received == 1
        b1.hang = False  # the first finishes, its slot goes to the second
        assert [r[0] for r in await asyncio.gather(first, second)] == [200, 200]
        events = await the_rig.requests_done(2)
        assert [e.path for e in events] == ["/first", "/second"]
        assert the_rig.proxy.queued == 0


@pytest.mark.parametrize("queue_timeout", [0.0, 0.2])
async def test_queue_timeout_is_503(queue_timeout: float) -> None:
    b1 = FakeBackend("b1", hang=True)
    async with rig(b1, config=ProxyConfig(queue_timeout=queue_timeout)) as the_rig:
        the_rig.balancer.set_max_conns("b1", 1)
        first = asyncio.create_task(get(the_rig.url + "/"))
        await b1.wait_until(lambda s: s.hung == 1)
        started = time.monotonic()
        status, _, body = await get(the_rig.url + "/")
        assert status == 503
        assert queue_timeout <= time.monotonic() - started < queue_timeout + 1.0
        assert "at its connection limit" in body.decode()
        if queue_timeout:
            assert "waited 0.2 s in the proxy's queue" in body.decode()
        b1.hang = False
        assert (await first)[0] == 200
        assert b1.stats.received == 1


@pytest.mark.parametrize("fault", ["connect", "timeout", "reset", "5xx"])
async def test_failures_reach_passive_health(fault: str) -> None:
    first: FakeBackend | RawBackend
    if fault == "reset":
        first = RawBackend("b1", resets)
    else:
        first = FakeBackend("b1", hang=fault == "timeout", error_rate=float(fault == "5xx"))
    passive = PassiveHealth(nginx=NginxPassive(max_fails=1, counts=frozenset({fault})))
    async with rig(first, FakeBackend("b2"), config=FAST, passive=passive) as the_rig:
        if fault == "connect":
            await the_rig.fakes["b1"].kill()
        await get(the_rig.url + "/")  # b1 fails once: out for fail_timeout
        assert not the_rig.balancer.is_available("b1")
        for _ in range(4):
            status, headers, _ = await get(the_rig.url + "/")
            assert (status, headers[BACKEND_HEADER]) == (200, "b2")
