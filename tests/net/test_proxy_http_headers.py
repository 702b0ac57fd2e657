"""What the L7 proxy changes in a request and a response, and what it must leave alone.

Hop-by-hop headers are stripped both ways, X-Forwarded-For/-Proto are written from
the socket peer, and everything else passes byte for byte: path and query, header
values, compressed bodies, redirects. The fake backend echoes the headers it saw as
JSON; a raw backend shows the exact bytes.
"""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbplay.model.config import ProxyConfig
from lbplay.model.wire import BACKEND_HEADER
from lbplay.net.fake_backend import FakeBackend
from tests.net.proxy_http_support import (
    RawBackend,
    RawConnection,
    Rig,
    answer_each,
    exchange,
    get,
    ok_response,
    parse_response,
    request,
    rig,
)

#: What the proxy adds to every forwarded request from 127.0.0.1.
ADDED = {"x-forwarded-for": "127.0.0.1", "x-forwarded-proto": "http"}


async def seen(the_rig: Rig, headers: list[tuple[str, str]], **kwargs: Any) -> dict[str, Any]:
    """The echo of a request with exactly ``headers`` (plus Connection: close)."""
    data = request(headers=[*headers, ("Connection", "close")], **kwargs)
    response = await parse_response(await exchange(the_rig.port, data))
    assert response.status == 200, response.body
    echo: dict[str, Any] = response.json()
    echo["headers"] = {k.lower(): v for k, v in echo["headers"].items()}
    return echo


# -- hop-by-hop, request side -----------------------------------------------------------


async def test_repeated_headers_spelled_differently_all_arrive(two_backends: Rig) -> None:
    """aiohttp's client merges headers case-sensitively; "c: 2" after "C: 1" must not
    replace it (found by the hypothesis test below)."""
    echo = await seen(two_backends, [("Host", "test"), ("C", "1"), ("c", "2"), ("X-A", "")])
    assert echo["headers"]["c"] == "1, 2"
    assert echo["headers"]["x-a"] == ""


async def test_hop_by_hop_request_headers_are_stripped() -> None:
    headers = [
        ("Host", "test"),
        ("Connection", "X-Named, keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "websocket"),
        ("Proxy-Authorization", "Basic c2VjcmV0"),
        ("Proxy-Connection", "keep-alive"),
        ("Proxy-Anything", "1"),
        ("Proxy", "http://attacker:8080"),  # httpoxy: would become HTTP_PROXY in CGI
        ("X-Named", "named in Connection"),
        ("x-named", "twice"),
        ("X-Kept", "yes"),
    ]
    async with rig() as the_rig:
        echo = await seen(the_rig, headers)
        assert echo["headers"] == {"host": "test", "x-kept": "yes", **ADDED}


async def test_connection_cannot_strip_host() -> None:
    async with rig() as the_rig:
        echo = await seen(the_rig, [("Host", "test"), ("Connection", "host")])
        assert echo["headers"]["host"] == "test"


SPECIAL = {
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "expect",
    "x-forwarded-for",
    "x-forwarded-proto",
}
HOP_NAMES = [
    "Keep-Alive",
    "TE",
    "Trailer",
    "Upgrade",
    "Proxy-Authorization",
    "Proxy-Connection",
    "Proxy-Authenticate",
    "Proxy-X",
    "Proxy",
]
names = st.from_regex(r"[A-Za-z0-9-]{1,10}", fullmatch=True).filter(
    lambda n: n.lower() not in SPECIAL
)
values = st.one_of(st.just(""), st.from_regex(r"[!-~]([ !-~]{0,15}[!-~])?", fullmatch=True))


def expected_at_backend(headers: list[tuple[str, str]], connection: list[str]) -> dict[str, str]:
    """The model: drop hop-by-hop names, Proxy-*, and names listed in Connection."""
    named = {token.lower() for token in connection} - {"host"}
    hop = {n.lower() for n in HOP_NAMES}
    out: dict[str, list[str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in hop or lower.startswith("proxy-") or lower in named:
            continue
        out.setdefault(lower, []).append(value)
    return {"host": "test", **{k: ", ".join(v) for k, v in out.items()}, **ADDED}


@pytest.fixture
async def two_backends() -> Any:
    async with rig() as the_rig:
        yield the_rig


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # one proxy, many requests
)
@given(data=st.data())
async def test_exactly_the_end_to_end_headers_arrive(two_backends: Rig, data: Any) -> None:
    pool = st.one_of(names, st.sampled_from(HOP_NAMES))
    headers = data.draw(st.lists(st.tuples(pool, values), max_size=15))
    present = [n for n, _ in headers] or ["X-None"]
    token = st.one_of(st.sampled_from(present), pool).map(
        lambda t: data.draw(st.sampled_from([t, t.lower(), t.upper()]))
    )
    connection = data.draw(st.lists(token, max_size=4))
    # Spread the tokens over one or two Connection headers, "close" among them.
    split = data.draw(st.integers(0, len(connection)))
    groups = [connection[:split], connection[split:]]
    lines = [
        ("Connection", ", ".join([*g, "close"] if i == 0 else g)) for i, g in enumerate(groups)
    ]
    lines = [(n, v) for n, v in lines if v]
    echo = await seen(two_backends, [("Host", "test"), *headers, *lines])
    assert echo["headers"] == expected_at_backend(headers, connection)


# -- hop-by-hop, response side ----------------------------------------------------------

HOP_RESPONSE = [
    "Connection: X-Named",
    "Keep-Alive: timeout=5, max=100",
    "Proxy-Authenticate: Basic realm=x",
    "Proxy-Connection: keep-alive",
    "Proxy-Status: backend",
    "Trailer: X-Checksum",
    "Upgrade: h2c",
    "TE: trailers",
    "X-Named: secret",
    "X-Kept: yes",
    f"{BACKEND_HEADER}: spoofed",
]


async def hop_backend(conn: RawConnection) -> None:
    """Answers each request chunked (GET /chunked) or with a length, hop-by-hop galore."""
    while (req := await conn.read_request()) is not None:
        head = "\r\n".join(["HTTP/1.1 200 OK", *HOP_RESPONSE])
        if req.startswith(b"GET /chunked"):
            data = head + "\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        else:
            data = head + "\r\nContent-Length: 5\r\n\r\nhello"
        conn.writer.write(data.encode())
        await conn.writer.drain()


@pytest.mark.parametrize("path", ["/chunked", "/length"])
@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
async def test_hop_by_hop_response_headers_are_stripped(path: str, version: str) -> None:
    async with rig(RawBackend("r1", hop_backend)) as the_rig:
        data = request(
            target=path, headers=[("Host", "a"), ("Connection", "close")], version=version
        )
        response = await parse_response(await exchange(the_rig.port, data))
        assert response.status == 200
        assert response.body == b"hello"
        names = response.header_names()
        assert names - {"content-length", "transfer-encoding"} == {
            "x-kept",
            "connection",
            BACKEND_HEADER.lower(),
        }
        assert response.header("connection") == "close"
        assert response.header(BACKEND_HEADER) == "r1"
        # Re-framed by the proxy: a length stays a length; chunked stays chunked for a
        # 1.1 client and becomes close-delimited for a 1.0 client, which has no chunked.
        framing = {"/length": "length", "/chunked": "chunked"}[path]
        if version == "HTTP/1.0" and framing == "chunked":
            framing = "close"
        assert response.framing == framing


async def test_response_header_bytes_pass_unchanged() -> None:
    async def latin1(conn: RawConnection) -> None:
        await answer_each(
            conn, b"HTTP/1.1 200 Fine Thanks\r\nX-A: caf\xe9 \xff\r\nContent-Length: 0\r\n\r\n"
        )

    async with rig(RawBackend("r1", latin1)) as the_rig:
        answer = await exchange(
            the_rig.port, request(headers=[("Host", "a"), ("Connection", "close")])
        )
        assert answer.startswith(b"HTTP/1.1 200 Fine Thanks\r\n")
        assert b"\r\nX-A: caf\xe9 \xff\r\n" in answer


# -- X-Forwarded-For ---------------------------------------------------------------------


async def test_untrusted_forwarded_for_is_dropped() -> None:
    async with rig() as the_rig:
        echo = await seen(
            the_rig,
            [
                ("Host", "test"),
                ("X-Forwarded-For", "203.0.113.7"),
                ("X-Forwarded-For", "10.0.0.1"),
                ("X-Forwarded-Proto", "https"),
            ],
        )
        assert echo["headers"] == {"host": "test", **ADDED}
        [event] = await the_rig.requests_done(1)
        assert event.client == "127.0.0.1"


@pytest.mark.parametrize("trusted", [("127.0.0.1",), ("10.0.0.0/8", "127.0.0.0/8")])
async def test_trusted_forwarded_for_is_kept_and_appended(trusted: tuple[str, ...]) -> None:
    async with rig(config=ProxyConfig(trusted_proxies=trusted)) as the_rig:
        echo = await seen(
            the_rig,
            [
                ("Host", "test"),
                ("X-Forwarded-For", "203.0.113.7, 10.0.0.1"),
                ("X-Forwarded-Proto", "https"),
            ],
        )
        headers = echo["headers"]
        assert headers["x-forwarded-for"] == "203.0.113.7, 10.0.0.1, 127.0.0.1"
        assert headers["x-forwarded-proto"] == "https"
        [event] = await the_rig.requests_done(1)
        # The client is the right-most hop that is not a trusted proxy.
        assert event.client == ("10.0.0.1" if len(trusted) == 1 else "203.0.113.7")


async def test_forwarded_for_is_added_without_one() -> None:
    async with rig(config=ProxyConfig(trusted_proxies=("127.0.0.1",))) as the_rig:
        echo = await seen(the_rig, [("Host", "test")])
        assert echo["headers"] == {"host": "test", **ADDED}


# -- left alone ------------------------------------------------------------------------


async def test_raw_path_and_query_reach_the_backend_byte_for_byte() -> None:
    target = "/a%2Fb/../c/./%2e%2E/d?x=%2F&y=%zz&z=a+b&&=#"[:-1]
    async with rig(RawBackend("r1", lambda c: answer_each(c, ok_response()))) as the_rig:
        data = request(target=target, headers=[("Host", "a"), ("Connection", "close")])
        assert (await parse_response(await exchange(the_rig.port, data))).status == 200
        [head] = the_rig.raws["r1"].requests
        assert head.startswith(f"GET {target} HTTP/1.1\r\n".encode())


async def test_absolute_form_is_forwarded_in_origin_form_with_its_host() -> None:
    async with rig(RawBackend("r1", lambda c: answer_each(c, ok_response()))) as the_rig:
        data = request(target="http://Example.org/p?q", headers=[], version="HTTP/1.0")
        assert (await parse_response(await exchange(the_rig.port, data))).status == 200
        [head] = the_rig.raws["r1"].requests
        assert head.startswith(b"GET /p?q HTTP/1.1\r\n")
        assert b"\r\nHost: Example.org\r\n" in head


async def test_a_request_without_host_names_the_backend_it_is_retried_on() -> None:
    # HTTP/1.0 may send no Host: each try names its own backend (nginx's $proxy_host).
    b1 = FakeBackend("b1")
    async with rig(b1, RawBackend("r1", lambda c: answer_each(c, ok_response()))) as the_rig:
        await b1.kill()
        data = request(headers=[], version="HTTP/1.0")
        assert (await parse_response(await exchange(the_rig.port, data))).status == 200
        [head] = the_rig.raws["r1"].requests
        assert f"\r\nHost: {the_rig.raws['r1'].address}\r\n".encode() in head


async def test_an_empty_query_is_forwarded_as_sent() -> None:
    # (aiohttp's client, which lbplay used before its own, forwarded "/p?" as "/p".)
    async with rig(RawBackend("r1", lambda c: answer_each(c, ok_response()))) as the_rig:
        data = request(target="/p?", headers=[("Host", "test"), ("Connection", "close")])
        assert (await parse_response(await exchange(the_rig.port, data))).status == 200
        [head] = the_rig.raws["r1"].requests
        assert head.startswith(b"GET /p? HTTP/1.1\r\n")


async def test_utf8_header_value_reaches_the_backend_byte_for_byte() -> None:
    async with rig(RawBackend("r1", lambda c: answer_each(c, ok_response()))) as the_rig:
        value = "café ☕".encode().decode("latin-1")  # as the parser hands it over
        data = request(headers=[("Host", "a"), ("X-U", value), ("Connection", "close")])
        assert (await parse_response(await exchange(the_rig.port, data))).status == 200
        [head] = the_rig.raws["r1"].requests
        assert "\r\nX-U: café ☕\r\n".encode() in head


async def test_no_headers_added_that_the_client_did_not_send() -> None:
    async with rig() as the_rig:
        echo = await seen(the_rig, [("Host", "test")])
        assert echo["headers"] == {"host": "test", **ADDED}
        echo = await seen(
            the_rig, [("Host", "test"), ("Content-Length", "3")], method="POST", body=b"abc"
        )
        assert echo["headers"] == {"host": "test", "content-length": "3", **ADDED}


async def test_a_bodyless_post_is_forwarded_as_sent() -> None:
    # (aiohttp's client, which lbplay used before its own, added Content-Length: 0.)
    async with rig() as the_rig:
        echo = await seen(the_rig, [("Host", "test")], method="POST")
        assert echo["headers"] == {"host": "test", **ADDED}


PLAIN = b"compressible " * 200
GZIPPED = gzip.compress(PLAIN)


def extra_routes(app: web.Application, backend: FakeBackend) -> None:
    async def gzipped(request: web.Request) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
        return web.Response(body=GZIPPED, headers=headers)

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/elsewhere"})

    app.router.add_get("/gzip", gzipped)
    app.router.add_get("/redirect", redirect)


async def test_compressed_response_is_not_decompressed() -> None:
    async with rig(FakeBackend("b1", installers=[extra_routes])) as the_rig:
        status, headers, body = await get(the_rig.url + "/gzip")
        assert status == 200
        assert headers["Content-Encoding"] == "gzip"
        assert body == GZIPPED
        assert headers["Content-Length"] == str(len(GZIPPED))


async def test_redirect_is_passed_on_not_followed() -> None:
    async with rig(FakeBackend("b1", installers=[extra_routes])) as the_rig:
        status, headers, _ = await get(the_rig.url + "/redirect")
        assert status == 302
        assert headers["Location"] == "/elsewhere"
        assert the_rig.received() == {"b1": 1}


# -- how a body is framed on the way to the backend -------------------------------------


@pytest.mark.parametrize("size", [10, 5000], ids=["buffered", "streamed"])
async def test_content_length_body_is_forwarded_with_its_length(size: int) -> None:
    async with rig(config=ProxyConfig(replay_limit=1000)) as the_rig:
        echo = await seen(
            the_rig,
            [("Host", "test"), ("Content-Length", str(size))],
            method="PUT",
            body=b"z" * size,
        )
        assert echo["headers"]["content-length"] == str(size)
        assert "transfer-encoding" not in echo["headers"]
        assert echo["body_bytes"] == size


@pytest.mark.parametrize("size", [0, 10, 5000], ids=["empty", "buffered", "streamed"])
async def test_chunked_body_is_forwarded_chunked(size: int) -> None:
    body = (b"%x\r\n" % size + b"z" * size + b"\r\n" if size else b"") + b"0\r\n\r\n"
    async with rig(config=ProxyConfig(replay_limit=1000)) as the_rig:
        echo = await seen(
            the_rig,
            [("Host", "test"), ("Transfer-Encoding", "chunked")],
            method="POST",
            body=body,
        )
        assert echo["headers"]["transfer-encoding"] == "chunked"
        assert "content-length" not in echo["headers"]
        assert echo["body_bytes"] == size


# -- X-Lbplay-Backend -----------------------------------------------------------------


async def test_backend_header_names_the_backend() -> None:
    async with rig() as the_rig:
        answers = [(await get(the_rig.url + "/"))[1][BACKEND_HEADER] for _ in range(4)]
        assert answers == ["b1", "b2", "b1", "b2"]


async def test_backend_header_lists_every_attempt_in_order() -> None:
    b1, b2, b3 = FakeBackend("b1"), FakeBackend("b2"), FakeBackend("b3")
    async with rig(b1, b2, b3) as the_rig:
        await b1.kill()
        await b2.kill()
        status, headers, _ = await get(the_rig.url + "/")
        assert status == 200
        assert headers[BACKEND_HEADER] == "b1, b2, b3"
