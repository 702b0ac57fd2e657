"""The proxy's HTTP/1.1 front end: every bad input of REFERENCE.md's catalogue is refused.

Most cases run on ``parse_head`` (pure bytes in, head or ``HttpError`` out). Reading
and body streaming use a real ``asyncio.StreamReader`` fed by hand, so what stays in the
reader after a call (the body, a pipelined request) can be checked exactly. The only
sleep is the slow client of the slowloris test.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbplay.errors import LbplayError
from lbplay.net import http1, relay
from lbplay.net.bodies import iter_body
from lbplay.net.forwarding import HOP_BY_HOP, request_header_lines, response_header_lines
from lbplay.net.http1 import (
    CHUNKED,
    CONTINUE_RESPONSE,
    LAST_CHUNK,
    NO_BODY,
    BodyFraming,
    BodyIncomplete,
    BodyTimeout,
    HeaderTimeout,
    HeadIncomplete,
    HttpError,
    RequestHead,
    encode_chunk,
    parse_head,
    read_head,
    response_head,
    simple_response,
)

GET = b"GET / HTTP/1.1\r\nHost: a\r\n"


def head(*lines: str | bytes, request_line: bytes = b"GET / HTTP/1.1") -> bytes:
    """A complete head from a request line and header lines."""
    raw = [line.encode("latin-1") if isinstance(line, str) else line for line in lines]
    return b"".join(part + b"\r\n" for part in [request_line, *raw]) + b"\r\n"


def status_of(data: bytes, **limits: int) -> int:
    with pytest.raises(HttpError) as caught:
        parse_head(data, **limits)
    assert caught.value.reason
    return caught.value.status


def reader_with(data: bytes = b"", *, eof: bool = True, limit: int = 2**16) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=limit)
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


async def collect(
    reader: asyncio.StreamReader,
    framing: BodyFraming,
    *,
    max_body: int | None = None,
    timeout: float = 1.0,
    chunk_size: int = 65536,
    max_head: int = 16384,
) -> bytes:
    pieces = iter_body(
        reader,
        framing,
        max_body=max_body,
        timeout=timeout,
        chunk_size=chunk_size,
        max_head=max_head,
    )
    return b"".join([piece async for piece in pieces])


# -- the catalogue, on parse_head ---------------------------------------------------

BAD_HEADS: list[tuple[str, bytes, int]] = [
    # body framing: the request-smuggling classics
    ("cl and te", head("Host: a", "Content-Length: 3", "Transfer-Encoding: chunked"), 400),
    ("te and cl", head("Host: a", "Transfer-Encoding: chunked", "Content-Length: 3"), 400),
    ("duplicate cl", head("Host: a", "Content-Length: 3", "Content-Length: 3"), 400),
    ("cl list", head("Host: a", "Content-Length: 3, 3"), 400),
    ("cl plus", head("Host: a", "Content-Length: +3"), 400),
    ("cl minus", head("Host: a", "Content-Length: -1"), 400),
    ("cl hex", head("Host: a", "Content-Length: 0x10"), 400),
    ("cl letters", head("Host: a", "Content-Length: 3a"), 400),
    ("cl space inside", head("Host: a", "Content-Length: 1 0"), 400),
    ("cl empty", head("Host: a", "Content-Length:"), 400),
    ("cl overflow", head("Host: a", "Content-Length: " + "9" * 19), 400),
    ("te twice in one", head("Host: a", "Transfer-Encoding: chunked, chunked"), 400),
    ("te twice", head("Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), 400),
    ("te xchunked", head("Host: a", "Transfer-Encoding: xchunked"), 400),
    ("te gzip chunked", head("Host: a", "Transfer-Encoding: gzip, chunked"), 400),
    ("te gzip", head("Host: a", "Transfer-Encoding: gzip"), 400),
    ("te identity", head("Host: a", "Transfer-Encoding: identity"), 400),
    ("te trailing comma", head("Host: a", "Transfer-Encoding: chunked,"), 400),
    ("te vertical tab", head("Host: a", b"Transfer-Encoding: \x0bchunked"), 400),
    (
        "te on 1.0",
        head("Transfer-Encoding: chunked", request_line=b"POST / HTTP/1.0"),
        400,
    ),
    # line structure
    ("obs-fold space", head("Host: a", "X-A: 1", " continued"), 400),
    ("obs-fold tab", head("Host: a", "X-A: 1", "\tcontinued"), 400),
    ("bare lf in header", b"GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n", 400),
    ("bare lf request line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
    ("bare lf at end", b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
    ("all bare lf", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("nul in value", head("Host: a", b"X-A: a\x00b"), 400),
    ("nul in name", head("Host: a", b"X-\x00A: b"), 400),
    ("nul in target", head("Host: a", request_line=b"GET /\x00 HTTP/1.1"), 400),
    ("cr in value", head("Host: a", b"X-A: a\rb"), 400),
    ("cr in request line", head("Host: a", request_line=b"GET /\r HTTP/1.1"), 400),
    ("control in value", head("Host: a", b"X-A: a\x1bb"), 400),
    ("del in value", head("Host: a", b"X-A: a\x7fb"), 400),
    ("no terminator", b"GET / HTTP/1.1\r\nHost: a\r\n", 400),
    ("empty", b"", 400),
    ("only crlf", b"\r\n\r\n", 400),
    ("bytes after head", head("Host: a") + b"X", 400),
    ("too many empty lines", b"\r\n" * 5 + head("Host: a"), 400),
    # header names
    ("underscore name", head("Host: a", "X_Forwarded_For: 1.2.3.4"), 400),
    ("dot name", head("Host: a", "X.A: b"), 400),
    ("at name", head("Host: a", "X@A: b"), 400),
    ("non-ascii name", head("Host: a", b"X-\xe9: b"), 400),
    ("space before colon", head("Host: a", "X-A : b"), 400),
    ("tab before colon", head("Host: a", "X-A\t: b"), 400),
    ("space in name", head("Host: a", "X A: b"), 400),
    ("no colon", head("Host: a", "X-A b"), 400),
    ("empty name", head("Host: a", ": b"), 400),
    # host
    ("missing host", head("X-A: b"), 400),
    ("duplicate host", head("Host: a", "Host: a"), 400),
    ("duplicate host other case", head("Host: a", "host: b"), 400),
    ("host with space", head("Host: a b"), 400),
    ("host with userinfo", head("Host: u@a"), 400),
    ("host bad port", head("Host: a:8x"), 400),
    ("absolute host mismatch", head("Host: a", request_line=b"GET http://b/ HTTP/1.1"), 400),
    (
        "absolute port mismatch",
        head("Host: a:8080", request_line=b"GET http://a/ HTTP/1.1"),
        400,
    ),
    ("absolute userinfo", head("Host: a", request_line=b"GET http://u@a/ HTTP/1.1"), 400),
    ("absolute no host", head("Host: a", request_line=b"GET http:/// HTTP/1.1"), 400),
    ("absolute missing host header", head(request_line=b"GET http://a/ HTTP/1.1"), 400),
    ("ftp scheme", head("Host: a", request_line=b"GET ftp://a/ HTTP/1.1"), 400),
    # request line
    ("double space", head("Host: a", request_line=b"GET  / HTTP/1.1"), 400),
    ("trailing space", head("Host: a", request_line=b"GET / HTTP/1.1 "), 400),
    ("leading space", head("Host: a", request_line=b" GET / HTTP/1.1"), 400),
    ("tab separator", head("Host: a", request_line=b"GET\t/ HTTP/1.1"), 400),
    ("space in target", head("Host: a", request_line=b"GET /a b HTTP/1.1"), 400),
    ("tab in target", head("Host: a", request_line=b"GET /a\tb HTTP/1.1"), 400),
    ("del in target", head("Host: a", request_line=b"GET /a\x7f HTTP/1.1"), 400),
    ("non-ascii target", head("Host: a", request_line=b"GET /caf\xc3\xa9 HTTP/1.1"), 400),
    ("fragment", head("Host: a", request_line=b"GET /a#b HTTP/1.1"), 400),
    ("lowercase method", head("Host: a", request_line=b"get / HTTP/1.1"), 400),
    ("method with slash", head("Host: a", request_line=b"GE/T / HTTP/1.1"), 400),
    ("http/0.9 style", head("Host: a", request_line=b"GET /"), 400),
    ("lowercase version", head("Host: a", request_line=b"GET / http/1.1"), 400),
    ("long version", head("Host: a", request_line=b"GET / HTTP/1.10"), 400),
    ("relative target", head("Host: a", request_line=b"GET index.html HTTP/1.1"), 400),
    ("authority target", head("Host: a", request_line=b"GET a:80 HTTP/1.1"), 400),
    ("star for get", head("Host: a", request_line=b"GET * HTTP/1.1"), 400),
    ("star with path", head("Host: a", request_line=b"OPTIONS */x HTTP/1.1"), 400),
    ("tls client hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    # versions and methods this proxy does not speak
    ("http/2.0", head("Host: a", request_line=b"GET / HTTP/2.0"), 505),
    ("http/1.2", head("Host: a", request_line=b"GET / HTTP/1.2"), 505),
    ("http/0.9", head("Host: a", request_line=b"GET / HTTP/0.9"), 505),
    ("connect", head("Host: a:443", request_line=b"CONNECT a:443 HTTP/1.1"), 501),
]


@pytest.mark.parametrize(
    ("data", "status"), [c[1:] for c in BAD_HEADS], ids=[c[0] for c in BAD_HEADS]
)
def test_bad_heads_are_refused(data: bytes, status: int) -> None:
    assert status_of(data) == status


def test_limits() -> None:
    long_target = b"GET /" + b"a" * 100 + b" HTTP/1.1"
    assert status_of(head("Host: a", request_line=long_target), max_uri=100) == 414
    # max_uri bounds the whole request line, method and version included
    assert parse_head(head("Host: a", request_line=long_target), max_uri=len(long_target))
    many = head("Host: a", *(f"X-{i}: {i}" for i in range(10)))
    assert status_of(many, max_headers=10) == 431
    assert parse_head(many, max_headers=11).get("X-9") == "9"
    assert status_of(many, max_head=len(many) - 1) == 431
    assert parse_head(many, max_head=len(many)).host == "a"


def test_errors_are_lbplay_errors_with_a_readable_reason() -> None:
    with pytest.raises(LbplayError, match="smuggling"):
        parse_head(head("Host: a", "Content-Length: 3", "Transfer-Encoding: chunked"))
    with pytest.raises(HttpError) as caught:
        parse_head(head("Host: a", b"X-A: a\x00b"))
    assert str(caught.value) == caught.value.reason == "NUL byte in the request head"


def test_reasons_quote_client_bytes_short_and_escaped() -> None:
    with pytest.raises(HttpError) as caught:
        parse_head(head("Host: a", "X_" + "y" * 500 + ": 1"))
    assert len(caught.value.reason) < 150
    assert "\n" not in caught.value.reason


# -- valid requests -------------------------------------------------------------------


def test_simple_get() -> None:
    parsed = parse_head(head("Host: example.com", "Accept: */*", "X-Trace: a, b"))
    assert parsed == RequestHead(
        method="GET",
        target="/",
        version="HTTP/1.1",
        headers=[("Host", "example.com"), ("Accept", "*/*"), ("X-Trace", "a, b")],
        keep_alive=True,
        body=NO_BODY,
        expect_continue=False,
        host="example.com",
        form="origin",
        path="/",
        query=None,
    )


def test_target_is_raw_and_split_for_routing() -> None:
    target = b"/public/%2e%2E/admin%2Fx;p?q=%20a&b=/c?d"
    parsed = parse_head(head("Host: a", request_line=b"GET " + target + b" HTTP/1.1"))
    assert parsed.target == target.decode()
    assert parsed.path == "/public/%2e%2E/admin%2Fx;p"
    assert parsed.query == "q=%20a&b=/c?d"
    assert parse_head(head("Host: a", request_line=b"GET /a? HTTP/1.1")).query == ""
    assert parse_head(head("Host: a", request_line=b"GET //x HTTP/1.1")).path == "//x"


@pytest.mark.parametrize(
    ("target", "host", "path", "query"),
    [
        (b"http://example.com/a?b", "example.com", "/a", "b"),
        (b"HTTP://Example.COM:80/a", "example.com", "/a", None),
        (b"http://example.com", "example.com:80", "/", None),
        (b"http://example.com?x=1", "EXAMPLE.com", "/", "x=1"),
        (b"https://example.com:443/", "example.com", "/", None),
        (b"http://[::1]:8080/x", "[::1]:8080", "/x", None),
        (b"http://127.0.0.1:9/", "127.0.0.1:9", "/", None),
    ],
)
def test_absolute_form(target: bytes, host: str, path: str, query: str | None) -> None:
    parsed = parse_head(head(f"Host: {host}", request_line=b"GET " + target + b" HTTP/1.1"))
    assert parsed.form == "absolute"
    assert parsed.target == target.decode()
    assert (parsed.host, parsed.path, parsed.query) == (host, path, query)


def test_http10_without_host() -> None:
    parsed = parse_head(head(request_line=b"GET /x HTTP/1.0"))
    assert (parsed.version, parsed.host, parsed.keep_alive) == ("HTTP/1.0", None, False)
    absolute = parse_head(head(request_line=b"GET http://b:81/ HTTP/1.0"))
    assert absolute.host == "b:81"


@pytest.mark.parametrize(
    ("version", "connection", "keep_alive"),
    [
        (b"HTTP/1.1", [], True),
        (b"HTTP/1.1", ["Connection: close"], False),
        (b"HTTP/1.1", ["Connection: Keep-Alive, CLOSE"], False),
        (b"HTTP/1.1", ["Connection: keep-alive", "connection: close"], False),
        (b"HTTP/1.1", ["Connection: upgrade"], True),
        (b"HTTP/1.0", [], False),
        (b"HTTP/1.0", ["Connection: keep-alive"], True),
        (b"HTTP/1.0", ["Connection: X-A,  Keep-Alive"], True),
        (b"HTTP/1.0", ["Connection: keep-alive, close"], False),
    ],
)
def test_keep_alive_rules(version: bytes, connection: list[str], keep_alive: bool) -> None:
    parsed = parse_head(head("Host: a", *connection, request_line=b"GET / " + version))
    assert parsed.keep_alive is keep_alive


@pytest.mark.parametrize(
    ("version", "value", "expected"),
    [
        (b"HTTP/1.1", "100-continue", True),
        (b"HTTP/1.1", "100-Continue", True),
        (b"HTTP/1.1", "something-else", False),
        (b"HTTP/1.0", "100-continue", False),  # RFC 9110 §10.1.1: ignored on 1.0
    ],
)
def test_expect_continue(version: bytes, value: str, expected: bool) -> None:
    data = head(
        "Host: a", "Content-Length: 5", f"Expect: {value}", request_line=b"PUT / " + version
    )
    assert parse_head(data).expect_continue is expected


@pytest.mark.parametrize(
    ("lines", "framing"),
    [
        ([], NO_BODY),
        (["Content-Length: 0"], BodyFraming("length", 0)),
        (["Content-Length:  42 "], BodyFraming("length", 42)),
        (["Content-Length: 007"], BodyFraming("length", 7)),
        (["Content-Length: " + "9" * 18], BodyFraming("length", 10**18 - 1)),
        (["Transfer-Encoding: chunked"], CHUNKED),
        (["transfer-encoding:  Chunked\t"], CHUNKED),
    ],
)
def test_body_framing(lines: list[str], framing: BodyFraming) -> None:
    assert parse_head(head("Host: a", *lines, request_line=b"POST / HTTP/1.1")).body == framing
    assert framing.has_body is (framing.kind == "chunked" or framing.length > 0)


def test_other_valid_forms() -> None:
    star = parse_head(head("Host: a", request_line=b"OPTIONS * HTTP/1.1"))
    assert (star.form, star.path, star.query) == ("asterisk", "*", None)
    assert parse_head(head("Host: a", request_line=b"M-SEARCH / HTTP/1.1")).method == "M-SEARCH"
    assert parse_head(b"\r\n\r\n" + head("Host: a")).target == "/"  # stray CRLFs skipped
    assert parse_head(head("Host:")).host == ""  # empty Host is allowed (RFC 9110 §7.2)
    assert parse_head(head("Host: a", "X-Empty:", "X-Tab:\tv\t")).get_all("x-tab") == ["v"]
    latin = parse_head(head("Host: a", b"X-Name: caf\xe9"))
    assert latin.get("x-name", "").encode("latin-1") == b"caf\xe9"


def test_header_lookup_is_case_insensitive_and_ordered() -> None:
    parsed = parse_head(head("Host: a", "X-A: 1", "x-b: 2", "X-a: 3"))
    assert parsed.get("x-A") == "1"
    assert parsed.get_all("X-A") == ["1", "3"]
    assert parsed.get("missing") is None
    assert parsed.get("missing", "d") == "d"
    assert parsed.get_all("missing") == []
    assert [name for name, _ in parsed.headers] == ["Host", "X-A", "x-b", "X-a"]


# -- reading heads from a stream --------------------------------------------------------


async def test_read_head_leaves_body_and_next_request_in_the_reader() -> None:
    first = head("Host: a", "Content-Length: 5", request_line=b"POST /up HTTP/1.1")
    second = head("Host: a", request_line=b"GET /next HTTP/1.1")
    reader = reader_with(first + b"hello" + second)
    parsed = await read_head(reader, timeout=1)
    assert parsed is not None
    assert (parsed.method, parsed.path, parsed.body) == ("POST", "/up", BodyFraming("length", 5))
    assert await collect(reader, parsed.body) == b"hello"
    following = await read_head(reader, timeout=1)
    assert following is not None
    assert following.path == "/next"
    assert await read_head(reader, timeout=1) is None


@pytest.mark.parametrize("data", [b"", b"\r\n", b"\r\n\r\n"])
async def test_clean_eof_is_none(data: bytes) -> None:
    assert await read_head(reader_with(data), timeout=1) is None


@pytest.mark.parametrize("data", [b"G", b"GET / HTTP/1.1\r\n", GET, b"\r\nGET / HTTP/1.1"])
async def test_eof_inside_the_head(data: bytes) -> None:
    with pytest.raises(HeadIncomplete) as caught:
        await read_head(reader_with(data), timeout=1)
    assert caught.value.status == 400


async def read_whole(data: bytes) -> RequestHead | None:
    """``read_head`` of ``data`` buffered whole before it starts."""
    return await read_head(reader_with(data), timeout=1)


async def read_line_by_line(data: bytes) -> RequestHead | None:
    """``read_head`` of ``data`` arriving one line at a time, each read before the next
    arrives: the line-by-line path, not the one for a head already buffered whole."""
    reader = asyncio.StreamReader()
    reading = asyncio.create_task(read_head(reader, timeout=5))
    for line in data.splitlines(keepends=True):
        reader.feed_data(line)
        for _ in range(3):  # let read_head take the line (it runs on the next turns)
            await asyncio.sleep(0)
        if reading.done():
            break
    reader.feed_eof()
    return await reading


@pytest.mark.parametrize("arrival", ["whole", "line by line"])
async def test_read_head_agrees_with_parse_head(arrival: str) -> None:
    # read_head sees a stream, not one head: EOF after nothing but CRLFs is a clean
    # close, and bytes after the head are the next request. A head that is buffered
    # whole is parsed in one go; one that trickles in, line by line: same answers.
    read = read_line_by_line if arrival == "line by line" else read_whole
    for name, data, status in BAD_HEADS:
        if name in ("empty", "only crlf", "bytes after head"):
            continue
        with pytest.raises(HttpError) as caught:
            await read(data)
        assert caught.value.status == status, data


@pytest.mark.parametrize(
    "data",
    [
        b"GET /a?b HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nConnection: close\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n",
        b"GET http://h:80/x HTTP/1.0\r\n\r\n",
    ],
)
async def test_a_head_parses_the_same_whichever_way_it_arrives(data: bytes) -> None:
    whole = await read_head(reader_with(data), timeout=1)
    assert whole is not None
    assert await read_line_by_line(data) == whole
    assert whole == parse_head(data.lstrip(b"\r\n"))


async def test_slow_trickle_is_cut_at_the_timeout() -> None:
    reader = asyncio.StreamReader()
    data = GET + b"X-Slow: " + b"a" * 100 + b"\r\n\r\n"

    async def slowloris() -> None:
        for i in range(len(data)):
            reader.feed_data(data[i : i + 1])
            await asyncio.sleep(0.02)  # the slow client itself, not synchronisation

    client = asyncio.create_task(slowloris())
    started = time.monotonic()
    try:
        with pytest.raises(HeaderTimeout) as caught:
            await read_head(reader, timeout=0.2)
    finally:
        client.cancel()
    assert 0.2 <= time.monotonic() - started < 0.7
    assert caught.value.status == 408


async def test_silent_client_times_out() -> None:
    started = time.monotonic()
    with pytest.raises(HeaderTimeout):
        await read_head(asyncio.StreamReader(), timeout=0.1)
    assert time.monotonic() - started < 0.6


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\n",  # bare LF: refused on the first line
        b"\x16\x03\x01\x02\x00\x01\r\n",  # TLS spoken to the plain port
        b"GET / HTTP/2.0\r\n",
        GET + b"X_A: b\r\n",
    ],
)
async def test_refused_without_waiting_for_the_rest(data: bytes) -> None:
    reader = reader_with(data, eof=False)
    async with asyncio.timeout(0.5):  # the head timeout is far longer: no waiting for it
        with pytest.raises(HttpError) as caught:
            await read_head(reader, timeout=30)
    assert caught.value.status in (400, 505)


async def test_oversized_head_stops_at_the_limit() -> None:
    max_head = 1024
    line = b"X-Pad: " + b"a" * 20 + b"\r\n"
    flood = GET + line * 200  # no end, no EOF: an endless head
    reader = reader_with(flood, eof=False, limit=max_head)
    async with asyncio.timeout(0.5):
        with pytest.raises(HttpError) as caught:
            await read_head(reader, timeout=30, max_head=max_head)
    assert caught.value.status == 431
    reader.feed_eof()
    consumed = len(flood) - len(await reader.read())
    assert max_head < consumed <= max_head + len(line)


async def test_one_endless_line_stops_at_the_limit() -> None:
    # The reader's limit is below max_head: the line is taken in pieces, never past it.
    reader = reader_with(GET + b"X-Pad: " + b"a" * 10_000, eof=False, limit=256)
    async with asyncio.timeout(0.5):
        with pytest.raises(HttpError) as caught:
            await read_head(reader, timeout=30, max_head=2048)
    assert caught.value.status == 431
    reader.feed_eof()
    assert len(GET) + 10_007 - len(await reader.read()) <= 2048


async def test_line_longer_than_the_reader_limit_but_within_max_head() -> None:
    value = "v" * 3000
    reader = reader_with(head("Host: a", f"X-Big: {value}"), limit=256)
    parsed = await read_head(reader, timeout=1, max_head=4096)
    assert parsed is not None
    assert parsed.get("x-big") == value


async def test_endless_request_line_is_414() -> None:
    reader = reader_with(b"GET /" + b"a" * 50_000, eof=False, limit=1024)
    async with asyncio.timeout(0.5):
        with pytest.raises(HttpError) as caught:
            await read_head(reader, timeout=30, max_uri=4096)
    assert caught.value.status == 414


async def test_too_many_headers_while_reading() -> None:
    reader = reader_with(GET + b"X-A: 1\r\n" * 1000, eof=False)
    with pytest.raises(HttpError) as caught:
        await read_head(reader, timeout=30, max_headers=50)
    assert caught.value.status == 431


# -- bodies -----------------------------------------------------------------------------


async def test_content_length_body_is_exact() -> None:
    reader = reader_with(b"0123456789" + b"NEXT")
    body = await collect(reader, BodyFraming("length", 10), chunk_size=3)
    assert body == b"0123456789"
    assert await reader.read() == b"NEXT"


async def test_pieces_respect_chunk_size() -> None:
    reader = reader_with(b"x" * 100)
    body = iter_body(reader, BodyFraming("length", 100), max_body=None, timeout=1, chunk_size=7)
    pieces = [piece async for piece in body]
    assert all(0 < len(p) <= 7 for p in pieces)
    assert sum(map(len, pieces)) == 100


@pytest.mark.parametrize("framing", [NO_BODY, BodyFraming("length", 0)])
async def test_no_body_reads_nothing(framing: BodyFraming) -> None:
    reader = reader_with(b"GET")
    assert await collect(reader, framing) == b""
    assert await reader.read() == b"GET"


async def test_chunked_body_with_extensions_and_trailers() -> None:
    wire = (
        b"5;name=value;flag\r\nhello\r\n"
        b"1\r\n \r\n"
        b'0000A;q="quoted;"\r\n0123456789\r\n'
        b"0;last\r\n"
        b"X-Checksum: abc\r\nX-Other: 1\r\n\r\n"
    )
    reader = reader_with(wire + b"GET / HTTP/1.1\r\n")
    assert await collect(reader, CHUNKED, chunk_size=4) == b"hello 0123456789"
    assert await reader.read() == b"GET / HTTP/1.1\r\n"


@pytest.mark.parametrize(
    "line",
    [
        b"0x5",
        b"+5",
        b"-5",
        b" 5",
        b"5 ",
        b"5 ;ext",
        b"5\t",
        b"1 0",
        b"",
        b"g",
        b"5\x00",
        b"5;ext\x00",
        b"5;ext\x1b",
        b"1" * 17,
        b"5\rx",
    ],
)
async def test_bad_chunk_sizes(line: bytes) -> None:
    reader = reader_with(line + b"\r\nhello\r\n0\r\n\r\n")
    with pytest.raises(HttpError) as caught:
        await collect(reader, CHUNKED)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "wire",
    [
        b"5\nhello\r\n0\r\n\r\n",  # bare LF after the size
        b"5\r\nhelloX\r\n0\r\n\r\n",  # data longer than its size
        b"5\r\nhell\r\n0\r\n\r\n",  # data shorter than its size
        b"5\r\nhello\r\n0\r\nX_A: b\r\n\r\n",  # malformed trailer
        b"5\r\nhello\r\n0\r\n obs-fold\r\n\r\n",
        b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n",  # endless extensions
    ],
)
async def test_bad_chunked_framing(wire: bytes) -> None:
    with pytest.raises(HttpError) as caught:
        await collect(reader_with(wire), CHUNKED)
    assert caught.value.status == 400


async def test_trailers_are_bounded() -> None:
    wire = b"0\r\n" + b"X-T: " + b"t" * 100 + b"\r\n" * 1 + b"X-T: 1\r\n" * 100 + b"\r\n"
    with pytest.raises(HttpError) as caught:
        await collect(reader_with(wire), CHUNKED, max_head=512)
    assert caught.value.status == 431


async def test_content_length_over_max_body_is_413_before_reading() -> None:
    reader = asyncio.StreamReader()  # nothing sent: iter_body must not wait for it
    with pytest.raises(HttpError) as caught:
        iter_body(reader, BodyFraming("length", 101), max_body=100, timeout=1)
    assert caught.value.status == 413
    assert await collect(reader_with(b"x" * 100), BodyFraming("length", 100), max_body=100)


async def test_chunked_over_max_body_is_413_when_crossing() -> None:
    wire = encode_chunk(b"a" * 60) + encode_chunk(b"b" * 60) + LAST_CHUNK
    got = bytearray()

    async def consume() -> None:
        async for piece in iter_body(reader_with(wire), CHUNKED, max_body=100, timeout=1):
            got.extend(piece)

    with pytest.raises(HttpError) as caught:
        await consume()
    assert caught.value.status == 413
    assert got == b"a" * 60  # the second chunk was refused before any of it was read
    exact = encode_chunk(b"a" * 60) + encode_chunk(b"b" * 40) + LAST_CHUNK
    assert len(await collect(reader_with(exact), CHUNKED, max_body=100)) == 100


@pytest.mark.parametrize(
    ("framing", "wire"),
    [
        (BodyFraming("length", 10), b"12345"),
        (CHUNKED, b""),
        (CHUNKED, b"5\r\nhel"),
        (CHUNKED, b"5\r\nhello"),
        (CHUNKED, b"5\r\nhello\r"),
        (CHUNKED, b"5\r\nhello\r\n0\r\n"),
        (CHUNKED, b"5\r\nhello\r\n0\r\nX-T: 1\r\n"),
        (CHUNKED, b"5;ext"),
    ],
)
async def test_truncated_body(framing: BodyFraming, wire: bytes) -> None:
    with pytest.raises(BodyIncomplete) as caught:
        await collect(reader_with(wire), framing)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("framing", "wire"), [(BodyFraming("length", 10), b"123"), (CHUNKED, b"5\r\nhe")]
)
async def test_stalled_body_times_out(framing: BodyFraming, wire: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(BodyTimeout) as caught:
        await collect(reader_with(wire, eof=False), framing, timeout=0.1)
    assert caught.value.status == 408
    assert time.monotonic() - started < 0.6


async def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        iter_body(asyncio.StreamReader(), CHUNKED, max_body=None, timeout=1, chunk_size=0)
    with pytest.raises(ValueError, match="empty chunk"):
        encode_chunk(b"")


# -- answers the proxy makes ----------------------------------------------------------


def split_response(raw: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    return status_line, [tuple(line.split(": ", 1)) for line in lines], body  # type: ignore[misc]


@pytest.mark.parametrize("keep_alive", [True, False])
def test_simple_response(keep_alive: bool) -> None:
    raw = simple_response(
        431, "héaders too large", keep_alive=keep_alive, extra_headers=[("Retry-After", "5")]
    )
    status_line, headers, body = split_response(raw)
    assert status_line == "HTTP/1.1 431 Request Header Fields Too Large"
    assert body == "héaders too large\n".encode()
    assert ("Content-Type", "text/plain; charset=utf-8") in headers
    assert ("Content-Length", str(len(body))) in headers
    assert (
        ("Connection", "close") in headers if not keep_alive else "Connection" not in dict(headers)
    )
    assert headers[-1] == ("Retry-After", "5")


def test_simple_response_keeps_a_final_newline_and_refuses_injection() -> None:
    assert simple_response(503, "down\n", keep_alive=True).endswith(b"\r\n\r\ndown\n")
    with pytest.raises(ValueError, match="control character"):
        simple_response(400, "x", keep_alive=True, extra_headers=[("X-A", "a\r\nSet-Cookie: x")])
    with pytest.raises(ValueError, match="header name"):
        simple_response(400, "x", keep_alive=True, extra_headers=[("X-A:", "a")])
    with pytest.raises(ValueError, match="set by simple_response"):
        simple_response(400, "x", keep_alive=True, extra_headers=[("content-length", "9")])
    with pytest.raises(ValueError, match="cannot carry a body"):
        simple_response(204, "x", keep_alive=True)


def test_response_head() -> None:
    assert response_head(299, [], reason="Odd") == b"HTTP/1.1 299 Odd\r\n\r\n"
    assert response_head(599, []) == b"HTTP/1.1 599 Unknown\r\n\r\n"
    assert response_head(100, []) == CONTINUE_RESPONSE
    with pytest.raises(ValueError, match="Latin-1"):
        response_head(200, [("X-A", "€")])


def forwarded(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client headers ``request_header_lines`` passes on for a GET with ``headers``
    (a Host among them), as (name, value) pairs, without the X-Forwarded-* it adds."""
    parsed = parse_head(head(*(f"{n}: {v}" for n, v in headers)))
    lines = request_header_lines(parsed, "10.0.0.1", False).split("\r\n")[:-1]
    pairs = [(n, v) for n, _, v in (line.partition(": ") for line in lines)]
    assert [n for n, _ in pairs[-2:]] == ["X-Forwarded-For", "X-Forwarded-Proto"]
    return pairs[:-2]


def end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The rule, written out for the tests: neither hop-by-hop headers nor those named
    in a Connection header (which cannot name Host) are passed on."""
    named = {
        token.strip(" \t").lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    named.discard("host")
    return [
        (n, v)
        for n, v in headers
        if n.lower() not in HOP_BY_HOP | named and not n.lower().startswith("proxy")
    ]


def test_hop_by_hop_headers_are_not_forwarded_example() -> None:
    headers = [
        ("Host", "a"),
        ("Connection", "keep-alive, X-Secret"),
        ("Keep-Alive", "timeout=5"),
        ("x-secret", "s"),
        ("TE", "trailers"),
        ("Proxy-Authorization", "Basic x"),
        ("Accept", "*/*"),
        ("connection", "Accept-Language"),
        ("Accept-Language", "en"),
    ]
    assert forwarded(headers) == [("Host", "a"), ("Accept", "*/*")]


# -- properties --------------------------------------------------------------------------

SPECIAL = {"host", "content-length", "transfer-encoding"}
names = st.text("ABCXYZabcxyz019-", min_size=1, max_size=12).filter(
    lambda n: n.lower() not in SPECIAL
)
values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@settings(max_examples=150)
@given(st.lists(st.tuples(names, values), max_size=20))
def test_headers_round_trip(headers: list[tuple[str, str]]) -> None:
    lines = [f"{name}: {value}" for name, value in headers]
    parsed = parse_head(head("Host: h", *lines))
    # Only the optional whitespace around a value is not part of it (RFC 9112 §5).
    assert parsed.headers == [("Host", "h"), *((n, v.strip(" ")) for n, v in headers)]


# (Not Transfer-Encoding: in a request it is framing, refused or read by the parser.)
hop_names = st.sampled_from(
    [*(HOP_BY_HOP - {"transfer-encoding"}), "Connection", "TE", "Keep-Alive", "UPGRADE"]
)
any_names = st.one_of(names, hop_names)


@settings(max_examples=150)
@given(
    st.lists(
        st.one_of(
            st.tuples(any_names, values),
            st.tuples(st.just("Connection"), st.lists(any_names, max_size=3).map(", ".join)),
        ),
        max_size=15,
    )
)
def test_hop_by_hop_headers_are_not_forwarded_properties(
    headers: list[tuple[str, str]],
) -> None:
    named = {
        token.strip(" \t").lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    headers = [("Host", "h"), *headers]
    kept = forwarded(headers)
    for name, _ in kept:
        assert name.lower() not in HOP_BY_HOP
        assert name.lower() not in named
    # Forwarded as parsed (values without the whitespace around them), a repeated name
    # in its first spelling.
    assert [(n.lower(), v) for n, v in kept] == [
        (n.lower(), v.strip(" ")) for n, v in end_to_end(headers)
    ]


@settings(max_examples=150)
@given(
    st.lists(
        st.one_of(
            st.tuples(any_names, values),
            st.tuples(st.sampled_from(["Content-Length", "Proxy", "X-Drop"]), values),
            st.tuples(st.just("Connection"), st.lists(any_names, max_size=3).map(", ".join)),
        ),
        max_size=15,
    )
)
def test_response_header_lines_keep_what_the_request_side_keeps(
    headers: list[tuple[str, str]],
) -> None:
    # The response side works on bytes; it must keep exactly what the request side's
    # rules keep, minus framing and the names it is told to drop.
    raw = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    expected = "".join(
        f"{n}: {v}\r\n"
        for n, v in end_to_end(headers)
        if n.lower() not in ("content-length", "transfer-encoding", "x-drop")
    )
    assert response_header_lines(raw, frozenset({b"x-drop"})) == expected.encode("latin-1")


def test_the_relay_remembers_header_lines_but_not_a_cookie_it_sets() -> None:
    plain = ((b"Server", b"nginx"), (b"Content-Type", b"text/plain"))
    cookie = ((b"Server", b"nginx"), (b"set-COOKIE", b"session=secret"))
    assert relay._header_lines(plain) == b"Server: nginx\r\nContent-Type: text/plain\r\n"
    assert relay._header_lines(cookie) == b"Server: nginx\r\nset-COOKIE: session=secret\r\n"
    assert plain in relay._HEADER_LINES
    assert cookie not in relay._HEADER_LINES


def chunked(data: bytes, cuts: Sequence[int], extension: bytes) -> bytes:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    wire = bytearray()
    for piece in pieces:
        size_line, rest = encode_chunk(piece).split(b"\r\n", 1)
        wire += size_line + extension + b"\r\n" + rest
    return bytes(wire) + LAST_CHUNK


@settings(max_examples=100)
@given(
    st.binary(max_size=300),
    st.lists(st.integers(0, 300), max_size=10),
    st.sampled_from([b"", b";a", b';a=b;c="d e"']),
    st.integers(1, 50),
)
def test_chunked_round_trip(data: bytes, cuts: list[int], extension: bytes, size: int) -> None:
    async def decode() -> tuple[bytes, bytes]:
        reader = reader_with(chunked(data, cuts, extension) + b"NEXT")
        body = await collect(reader, CHUNKED, chunk_size=size)
        return body, await reader.read()

    assert asyncio.run(decode()) == (data, b"NEXT")


# -- parse_head's two paths agree --------------------------------------------------------

_plain_lines = st.tuples(
    st.sampled_from(["GET", "POST", "HEAD", "OPTIONS", "M-1"]),
    st.sampled_from(["/", "/a?b=1", "/%2F", "/a/../b", "/?"]),
    st.sampled_from(["HTTP/1.1", "HTTP/1.0"]),
).map(" ".join)
_plain_fields = st.lists(
    st.tuples(
        st.sampled_from(["Host", "host", "X-A", "Content-Length", "Connection", "Expect"]),
        st.sampled_from(["a", " a ", "", "h:1", "5", "close", "keep-alive", "\tx\t", "\xe9"]),
    ),
    max_size=5,
)
#: What a mutation inserts: bytes the whole-head check must not let through unjudged.
_odd = st.sampled_from(
    [
        "\x00",
        "\x7f",
        "\x01",
        "\r",
        "\n",
        " ",
        "\t",
        "#",
        "_",
        ":",
        "\x80",
        "\r\n",
        "\r\n ",
        "Transfer-Encoding: chunked\r\n",
        "Host: b\r\n",
        "\r\n\r\n",
        "a",
    ]
)


@given(
    _plain_lines,
    _plain_fields,
    st.lists(st.tuples(st.integers(min_value=0), _odd), max_size=2),
    st.integers(min_value=2, max_value=6),
)
@settings(max_examples=1500, deadline=None)
def test_the_whole_head_check_judges_as_the_line_by_line_path(
    line: str, fields: list[tuple[str, str]], inserts: list[tuple[int, str]], max_headers: int
) -> None:
    text = "\r\n".join([line, "Host: a", *(f"{n}:{v}" for n, v in fields)]) + "\r\n\r\n"
    for at, odd in inserts:  # a plain head, then an odd byte or line or two slipped in
        at %= len(text) + 1
        text = text[:at] + odd + text[at:]
    data = text.encode("latin-1")
    limits = {"max_uri": 24, "max_headers": max_headers}

    def judge(parse: Callable[..., RequestHead]) -> RequestHead | tuple[int, str]:
        try:
            return parse(data, **limits)
        except HttpError as error:
            return (error.status, error.reason)

    assert judge(parse_head) == judge(http1._parse_lines)
