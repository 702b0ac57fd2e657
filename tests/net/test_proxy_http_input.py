"""The L7 proxy against hostile clients: smuggling, oversized input, slow clients, fuzz.

The parser has its own unit tests (``test_http1.py``); these check what the proxy does
end to end, over real sockets: the status it answers, that it closes the connection,
that nothing reached a backend, that it logged no unexpected error, and that the next
client is served normally.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbplay.model.config import ProxyConfig
from tests.net.proxy_http_support import (
    PROMPT,
    Rig,
    at_eof,
    connect,
    exchange,
    get,
    parse_response,
    read_response,
    request,
    rig,
)

POST = "POST / HTTP/1.1\r\nHost: a\r\n"


def raw(text: str) -> bytes:
    return text.encode("latin-1")


# (id, request bytes, status). Each must be refused before a byte reaches a backend.
REFUSED = [
    # Framing: the classic request-smuggling disagreements.
    (
        "cl-and-te",
        raw(
            POST + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
        ),
        400,
    ),
    ("te-and-cl", raw(POST + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"), 400),
    ("duplicate-cl", raw(POST + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"), 400),
    (
        "duplicate-cl-differing",
        raw(POST + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
        400,
    ),
    ("cl-list", raw(POST + "Content-Length: 3, 3\r\n\r\nabc"), 400),
    ("cl-plus", raw(POST + "Content-Length: +3\r\n\r\nabc"), 400),
    ("cl-negative", raw(POST + "Content-Length: -1\r\n\r\n"), 400),
    ("cl-hex", raw(POST + "Content-Length: 0x3\r\n\r\nabc"), 400),
    ("cl-overflow", raw(POST + "Content-Length: 18446744073709551617\r\n\r\n"), 400),
    ("cl-empty", raw(POST + "Content-Length: \r\n\r\n"), 400),
    ("te-chunked-twice", raw(POST + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"), 400),
    (
        "te-two-headers",
        raw(POST + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        400,
    ),
    ("te-xchunked", raw(POST + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"), 400),
    ("te-gzip-chunked", raw(POST + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), 400),
    ("te-identity", raw(POST + "Transfer-Encoding: identity\r\n\r\n"), 400),
    (
        "te-http10",
        raw("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        400,
    ),
    # Line structure.
    ("obs-fold", raw("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n"), 400),
    ("obs-fold-tab", raw("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tfolded\r\n\r\n"), 400),
    ("bare-lf", raw("GET / HTTP/1.1\nHost: a\n\n"), 400),
    ("bare-lf-one-header", raw("GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n"), 400),
    ("bare-cr", raw("GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n"), 400),
    ("nul-in-value", raw("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n"), 400),
    ("nul-in-name", raw("GET / HTTP/1.1\r\nHost: a\r\nX-\x00A: b\r\n\r\n"), 400),
    ("control-in-value", raw("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x1bb\r\n\r\n"), 400),
    # Chunked bodies (read before forwarding: they are small).
    ("chunk-size-not-hex", raw(POST + "Transfer-Encoding: chunked\r\n\r\nzz\r\n"), 400),
    ("chunk-size-negative", raw(POST + "Transfer-Encoding: chunked\r\n\r\n-1\r\n"), 400),
    ("chunk-size-0x", raw(POST + "Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n"), 400),
    (
        "chunk-size-space",
        raw(POST + "Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n"),
        400,
    ),
    (
        "chunk-size-17-digits",
        raw(POST + "Transfer-Encoding: chunked\r\n\r\n" + "f" * 17 + "\r\n"),
        400,
    ),
    ("chunk-size-empty", raw(POST + "Transfer-Encoding: chunked\r\n\r\n\r\n"), 400),
    (
        "chunk-data-too-long",
        raw(POST + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n"),
        400,
    ),
    ("chunk-bare-lf", raw(POST + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n"), 400),
    # Host.
    ("missing-host", raw("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"), 400),
    ("duplicate-host", raw("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400),
    ("host-with-space", raw("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400),
    ("host-with-slash", raw("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400),
    ("absolute-form-other-host", raw("GET http://evil/ HTTP/1.1\r\nHost: good\r\n\r\n"), 400),
    ("absolute-form-other-port", raw("GET http://a:81/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
    ("absolute-form-userinfo", raw("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
    # Header names.
    ("name-underscore", raw("GET / HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n"), 400),
    ("name-space-before-colon", raw("GET / HTTP/1.1\r\nHost: a\r\nX-A : 1\r\n\r\n"), 400),
    ("name-with-space", raw("GET / HTTP/1.1\r\nHost: a\r\nX A: 1\r\n\r\n"), 400),
    ("name-with-at", raw("GET / HTTP/1.1\r\nHost: a\r\nX@A: 1\r\n\r\n"), 400),
    ("name-empty", raw("GET / HTTP/1.1\r\nHost: a\r\n: 1\r\n\r\n"), 400),
    ("no-colon", raw("GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n"), 400),
    ("non-ascii-name", raw("GET / HTTP/1.1\r\nHost: a\r\nX-\xe9: 1\r\n\r\n"), 400),
    # The request line.
    ("double-space", raw("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
    ("lowercase-method", raw("get / HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
    ("space-in-target", raw("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
    ("fragment-in-target", raw("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
    ("non-ascii-target", raw("GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
    ("relative-target", raw("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"), 400),
    ("bad-version", raw("GET / HTTP/x\r\nHost: a\r\n\r\n"), 400),
    ("http2-version", raw("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505),
    ("connect", raw("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), 501),
    # TRACE would echo the request, cookies included (found forwarded; nginx says 405).
    ("trace", raw("TRACE / HTTP/1.1\r\nHost: a\r\nCookie: secret=1\r\n\r\n"), 405),
    ("track", raw("TRACK / HTTP/1.1\r\nHost: a\r\n\r\n"), 405),
    ("no-version", raw("GET /\r\n\r\n"), 400),
    (
        "te-chunked-identity",
        raw(POST + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
        400,
    ),
    ("options-asterisk", raw("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 501),
    # A header value whose bytes the client library would re-encode (not UTF-8).
    ("latin1-value", raw("GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xe9\r\n\r\n"), 400),
]


async def parse(data: bytes) -> tuple[int, bytes, bool]:
    """(status, body, says Connection: close) of the one response in ``data``."""
    response = await parse_response(data)
    return response.status, response.body, response.header("connection") == "close"


async def assert_still_serving(the_rig: Rig) -> None:
    status, headers, _ = await get(the_rig.url + "/after")
    assert status == 200, headers


@pytest.mark.parametrize(("data", "status"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_refused_not_forwarded_and_closed(data: bytes, status: int) -> None:
    async with rig() as the_rig:
        answer = await exchange(the_rig.port, data)  # returns only once the proxy closed
        got, body, closing = await parse(answer)
        assert got == status, answer
        assert closing
        assert answer.endswith(b"\r\n\r\n" + body), "a smuggled second request was answered"
        assert body.strip(), "the refusal says why"
        assert the_rig.received() == {"b1": 0, "b2": 0}
        await assert_still_serving(the_rig)


async def test_trace_is_refused_with_allow_and_other_methods_pass() -> None:
    async with rig() as the_rig:
        response = await parse_response(
            await exchange(the_rig.port, raw("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n"))
        )
        assert response.status == 405
        assert response.header("allow") == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
        status, headers, _ = await get(the_rig.url + "/x", method="PROPFIND")
        assert status == 200, headers  # an unknown method is the backend's to judge


async def test_a_websocket_upgrade_is_refused_clearly_in_l7() -> None:
    upgrade = request(
        headers=[
            ("Host", "a"),
            ("Connection", "keep-alive, Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ]
    )
    async with rig() as the_rig:
        response = await parse_response(await exchange(the_rig.port, upgrade))
        assert response.status == 501
        assert b"does not relay protocol upgrades (websocket)" in response.body
        assert b"mode l4" in response.body
        assert the_rig.received() == {"b1": 0, "b2": 0}
        # Upgrade alone, not named in Connection, is just a header (stripped as hop-by-hop).
        status, _, _ = await get(the_rig.url + "/", headers={"Upgrade": "websocket"})
        assert status == 200


async def test_refusal_reaches_a_client_still_sending() -> None:
    # The proxy refuses after the head while a large body is still arriving: it must
    # not reset the connection (that can destroy the 400 before the client reads it).
    async with rig() as the_rig, connect(the_rig.port) as (reader, writer):
        writer.write(raw(POST + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"))
        writer.write(b"x" * 500_000)
        response = await read_response(reader)
        assert response.status == 400
        assert await at_eof(reader)
        assert the_rig.received() == {"b1": 0, "b2": 0}


# -- limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (request(headers=[("Host", "a"), ("X-Big", "x" * 20_000)]), 431),
        (request(headers=[("Host", "a"), *[(f"X-{i}", "1") for i in range(101)]]), 431),
        (request(target="/" + "a" * 9000), 414),
        (request("POST", headers=[("Host", "a"), ("Content-Length", "1001")]), 413),
        (
            request("POST", headers=[("Host", "a"), ("Content-Length", "1001")], body=b"x" * 1001),
            413,
        ),
    ],
    ids=["header-too-big", "too-many-headers", "uri-too-long", "cl-over-limit", "cl-body-sent"],
)
async def test_limits(data: bytes, status: int) -> None:
    async with rig(config=ProxyConfig(max_body=1000)) as the_rig:
        got, _, closing = await parse(await exchange(the_rig.port, data))
        assert (got, closing) == (status, True)
        assert the_rig.received() == {"b1": 0, "b2": 0}
        await assert_still_serving(the_rig)


async def test_body_at_the_limit_is_forwarded() -> None:
    async with rig(config=ProxyConfig(max_body=1000)) as the_rig:
        status, _, body = await get(the_rig.url + "/", method="POST", data=b"x" * 1000)
        assert status == 200
        assert b'"body_bytes": 1000' in body


async def test_oversized_body_with_expect_gets_413_and_no_100() -> None:
    head = request(
        "POST", headers=[("Host", "a"), ("Content-Length", "5000"), ("Expect", "100-continue")]
    )
    async with rig(config=ProxyConfig(max_body=1000)) as the_rig:
        answer = await exchange(the_rig.port, head)
        assert answer.startswith(b"HTTP/1.1 413 "), answer


def chunked(total: int, piece: int = 1000) -> bytes:
    out = bytearray()
    while total:
        n = min(piece, total)
        out += b"%x\r\n" % n + b"y" * n + b"\r\n"
        total -= n
    return bytes(out) + b"0\r\n\r\n"


async def test_chunked_body_crossing_the_limit_is_413_before_forwarding() -> None:
    # Under replay_limit the body is read whole first, so nothing is forwarded.
    data = request("POST", headers=[("Host", "a"), ("Transfer-Encoding", "chunked")])
    async with rig(config=ProxyConfig(max_body=5000)) as the_rig:
        got, _, closing = await parse(await exchange(the_rig.port, data + chunked(6000)))
        assert (got, closing) == (413, True)
        assert the_rig.received() == {"b1": 0, "b2": 0}
        [event] = await the_rig.requests_done(1)
        assert event.status == 413


async def test_chunked_body_crossing_the_limit_while_streaming_is_413() -> None:
    # Over replay_limit the body streams to a backend, which sees it cut off; the
    # client still gets its 413 (the backend has not answered), never a 502.
    config = ProxyConfig(max_body=50_000, replay_limit=1000)
    data = request("POST", headers=[("Host", "a"), ("Transfer-Encoding", "chunked")])
    async with rig(config=config) as the_rig:
        got, body, closing = await parse(await exchange(the_rig.port, data + chunked(60_000)))
        assert (got, closing) == (413, True), body
        [event] = await the_rig.requests_done(1)
        assert event.status == 413
        assert event.attempts[0].outcome == "client failed (413)"
        await assert_still_serving(the_rig)


# -- slow clients --------------------------------------------------------------------


async def closed_after(port: int, trickle: bytes, every: float) -> float:
    """Seconds until the proxy closes a connection that sends ``trickle`` byte by byte."""
    started = time.monotonic()
    async with connect(port) as (reader, writer):

        async def drip() -> None:
            with contextlib.suppress(OSError):
                for byte in trickle:
                    writer.write(bytes([byte]))
                    await asyncio.sleep(every)  # the slowness under test, not synchronisation

        dripping = asyncio.create_task(drip())
        try:
            assert await at_eof(reader), "the proxy answered a request it never got"
        finally:
            dripping.cancel()
        return time.monotonic() - started


async def test_slowloris_is_closed_at_the_header_timeout() -> None:
    async with rig(config=ProxyConfig(header_timeout=0.5)) as the_rig:
        trickle = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Slow: 1\r\n" * 50
        elapsed = await closed_after(the_rig.port, trickle, every=0.05)
        assert 0.45 <= elapsed < 1.5
        assert the_rig.received() == {"b1": 0, "b2": 0}
        await assert_still_serving(the_rig)


async def test_silent_client_is_closed_at_the_header_timeout() -> None:
    async with rig(config=ProxyConfig(header_timeout=0.5)) as the_rig:
        elapsed = await closed_after(the_rig.port, b"", every=0)
        assert 0.45 <= elapsed < 1.5


async def test_idle_keep_alive_connection_is_closed_at_the_header_timeout() -> None:
    async with (
        rig(config=ProxyConfig(header_timeout=0.5)) as the_rig,
        connect(the_rig.port) as (reader, writer),
    ):
        writer.write(request())
        assert (await read_response(reader)).status == 200
        started = time.monotonic()
        assert await at_eof(reader)
        assert 0.45 <= time.monotonic() - started < 1.5


async def test_stalled_body_is_answered_408_at_the_body_timeout() -> None:
    head = request("POST", headers=[("Host", "a"), ("Content-Length", "10")], body=b"12345")
    async with (
        rig(config=ProxyConfig(body_timeout=0.3)) as the_rig,
        connect(the_rig.port) as (reader, writer),
    ):
        writer.write(head)
        answer = await read_response(reader)
        assert answer.status == 408
        assert b"no body bytes for 0.3 s" in answer.body
        assert await at_eof(reader)
        [event] = await the_rig.requests_done(1)
        assert event.status == 408
        assert the_rig.received() == {"b1": 0, "b2": 0}


async def test_a_body_trickled_a_byte_at_a_time_meets_its_deadline() -> None:
    """Found: each byte reset the per-read timeout, so a body sent at 1 byte/s held
    its connection open for ever. The whole body has a deadline (HAProxy's
    ``timeout http-request``): 408, and nothing reaches a backend."""
    head = request("POST", headers=[("Host", "a"), ("Content-Length", "1000")])
    config = ProxyConfig(body_timeout=0.5, body_deadline=0.6)
    async with rig(config=config) as the_rig, connect(the_rig.port) as (reader, writer):
        writer.write(head)
        answered = asyncio.ensure_future(read_response(reader))
        sent = 0
        while not answered.done() and sent < 100:
            writer.write(b"x")
            sent += 1
            await asyncio.wait([answered], timeout=0.05)  # a byte every 50 ms, forever
        answer = await answered
        assert answer.status == 408
        assert b"did not arrive within 0.6 s" in answer.body
        assert 5 < sent < 100
        [event] = await the_rig.requests_done(1)
        assert event.status == 408
        assert the_rig.received() == {"b1": 0, "b2": 0}


async def test_client_closing_mid_body_is_not_forwarded() -> None:
    data = request("POST", headers=[("Host", "a"), ("Content-Length", "10")], body=b"12345")
    async with rig() as the_rig:
        assert await exchange(the_rig.port, data, half_close=True) == b""
        await the_rig.requests_done(1)
        assert the_rig.received() == {"b1": 0, "b2": 0}


# -- fuzz ----------------------------------------------------------------------------

VALID = (
    b"POST /a/b?c=d HTTP/1.1\r\nHost: example\r\nContent-Length: 5\r\n"
    b"X-Thing: one, two\r\nConnection: keep-alive\r\n\r\nhello"
    b"GET /x HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n0\r\n\r\n"
)
TOKENS = [b"\r\n", b"\n", b"\r", b" ", b":", b"\x00", b"chunked", b"Content-Length: ", b"0\r\n"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["replace", "insert", "delete", "token"]))
        if op == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data[at:at] = draw(st.sampled_from(TOKENS))
    return bytes(data)


@pytest.fixture
async def fuzz_rig() -> AsyncIterator[Rig]:
    config = ProxyConfig(header_timeout=PROMPT / 2, body_timeout=PROMPT / 2)
    async with rig(config=config) as the_rig:
        yield the_rig
        await assert_still_serving(the_rig)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # one proxy, many inputs
)
@given(data=st.one_of(st.binary(max_size=400), mutated()))
async def test_no_crash_on_anything(fuzz_rig: Rig, data: bytes) -> None:
    # Half-closing lets the proxy see the end of the input instead of waiting for more.
    answer = await exchange(fuzz_rig.port, data, half_close=True)
    if answer:
        assert 100 <= (await parse_response(answer)).status <= 599
    status, _, _ = await get(fuzz_rig.url + "/after")
    assert status == 200


async def test_an_h2c_upgrade_is_ignored_as_curl_http2_expects() -> None:
    headers = [("Host", "a"), ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
               ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]  # fmt: skip
    async with rig() as the_rig:
        answer = await exchange(the_rig.port, request(headers=headers), half_close=True)
        response = await parse_response(answer)
        assert response.status == 200
