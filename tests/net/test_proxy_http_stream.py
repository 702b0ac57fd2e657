"""Bodies streamed through the L7 proxy, and client connections kept alive (or not).

The memory test reads the resident set size of this process, which runs the backend,
the proxy and the client: a proxy that buffered a body would grow by its size.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lbplay.model.config import ProxyConfig
from lbplay.model.wire import BACKEND_HEADER
from lbplay.net.fake_backend import FakeBackend
from tests.net.proxy_http_support import (
    RawBackend,
    RawConnection,
    answer_each,
    at_eof,
    client,
    connect,
    exchange,
    get,
    ok_response,
    parse_response,
    read_response,
    request,
    rig,
)

DOWNLOAD = 200_000_000
MB = 1 << 20
BIG = ProxyConfig(max_body=100 * MB)


def rss() -> int:
    """Resident set size of this process, in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
async def test_large_download_streams_in_constant_memory() -> None:
    async with rig(FakeBackend("b1")) as the_rig, client() as session:
        # Warm up the pools and buffers, so the baseline is not before their first use.
        await get(the_rig.url + "/bytes?n=10000000")
        before = peak = rss()
        received = 0
        async with session.get(f"{the_rig.url}/bytes?n={DOWNLOAD}") as response:
            assert response.status == 200
            async for chunk in response.content.iter_chunked(1 << 16):
                received += len(chunk)
                if received % (8 * MB) < len(chunk):
                    peak = max(peak, rss())
        assert received == DOWNLOAD
        assert peak - before < 50 * MB, f"grew {(peak - before) / MB:.0f} MB"
        events = await the_rig.requests_done(2)
        assert events[-1].bytes == DOWNLOAD


async def numbered(total: int, piece: int = 1 << 16) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        yield bytes([sent // piece % 251]) * n
        sent += n


async def test_large_chunked_upload_streams_through() -> None:
    size = 30_000_000
    async with rig(FakeBackend("b1"), config=BIG) as the_rig:
        status, _, body = await get(the_rig.url + "/up", method="POST", data=numbered(size))
        assert status == 200
        assert f'"body_bytes": {size}'.encode() in body
        assert b'"Transfer-Encoding": "chunked"' in body


async def test_large_content_length_upload_streams_through_with_its_length() -> None:
    size = 30_000_000
    async with rig(FakeBackend("b1"), config=BIG) as the_rig:
        headers = {"Content-Length": str(size)}
        status, _, body = await get(
            the_rig.url + "/up", method="PUT", data=numbered(size), headers=headers
        )
        assert status == 200
        assert f'"body_bytes": {size}'.encode() in body
        assert f'"Content-Length": "{size}"'.encode() in body


async def test_upload_bytes_arrive_unchanged() -> None:
    received: list[bytes] = []

    async def keeps(conn: RawConnection) -> None:
        while (req := await conn.read_request()) is not None:
            received.append(req.partition(b"\r\n\r\n")[2])
            conn.writer.write(ok_response())
            await conn.writer.drain()

    data = bytes(range(256)) * 4000
    async with rig(RawBackend("r1", keeps), config=ProxyConfig(replay_limit=1000)) as the_rig:

        async def pieces() -> AsyncIterator[bytes]:
            for i in range(0, len(data), 7777):
                yield data[i : i + 7777]

        assert (await get(the_rig.url + "/", method="POST", data=pieces()))[0] == 200
        assert (await get(the_rig.url + "/", method="POST", data=data))[0] == 200
        assert received == [data, data]


# -- keep-alive and HTTP/1.0 ----------------------------------------------------------------


async def test_several_requests_on_one_connection() -> None:
    async with rig() as the_rig, connect(the_rig.port) as (reader, writer):
        for i in range(4):
            writer.write(request(target=f"/r{i}"))
            response = await read_response(reader)
            assert response.status == 200
            assert response.json()["path"] == f"/r{i}"
            assert response.header("connection") == "keep-alive"
        assert [e.path for e in await the_rig.requests_done(4)] == ["/r0", "/r1", "/r2", "/r3"]


async def test_pipelined_requests_are_answered_in_order() -> None:
    body = request("POST", "/p0", [("Host", "a"), ("Content-Length", "3")], b"abc")
    async with rig() as the_rig, connect(the_rig.port) as (reader, writer):
        writer.write(body + request(target="/p1") + request(target="/p2"))
        paths = [(await read_response(reader)).json()["path"] for _ in range(3)]
        assert paths == ["/p0", "/p1", "/p2"]


async def test_connection_close_closes_after_the_response() -> None:
    async with rig() as the_rig, connect(the_rig.port) as (reader, writer):
        writer.write(request(headers=[("Host", "a"), ("Connection", "close")]))
        response = await read_response(reader)
        assert response.status == 200
        assert response.header("connection") == "close"
        assert await at_eof(reader)


async def test_http10_gets_a_length_delimited_response_and_a_close() -> None:
    async with rig() as the_rig:
        answer = await exchange(
            the_rig.port, request(target="/bytes?n=10", headers=[], version="HTTP/1.0")
        )
        response = await parse_response(answer)
        assert (response.status, response.framing, response.body) == (200, "length", bytes(10))
        assert response.header("connection") == "close"


async def chunked_answer(conn: RawConnection) -> None:
    chunks = b"4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n"
    await answer_each(conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)


async def test_http10_gets_a_chunked_backend_response_close_delimited() -> None:
    async with rig(RawBackend("r1", chunked_answer)) as the_rig:
        answer = await exchange(the_rig.port, request(headers=[], version="HTTP/1.0"))
        response = await parse_response(answer)
        assert (response.status, response.framing, response.body) == (200, "close", b"abcdefg")
        assert response.header("transfer-encoding") is None


async def test_http11_gets_a_chunked_backend_response_chunked_and_kept_alive() -> None:
    async with (
        rig(RawBackend("r1", chunked_answer)) as the_rig,
        connect(the_rig.port) as (reader, writer),
    ):
        for _ in range(2):
            writer.write(request())
            response = await read_response(reader)
            assert (response.framing, response.body) == ("chunked", b"abcdefg")


async def test_http10_keep_alive_is_honoured() -> None:
    headers = [("Connection", "keep-alive")]
    async with rig() as the_rig, connect(the_rig.port) as (reader, writer):
        for _ in range(2):
            writer.write(request(target="/bytes?n=5", headers=headers, version="HTTP/1.0"))
            response = await read_response(reader)
            assert (response.status, response.body) == (200, bytes(5))
            assert response.header("connection") == "keep-alive"


async def test_expect_100_continue_gets_100_before_the_body() -> None:
    head = request(
        "POST",
        "/upload",
        [("Host", "a"), ("Content-Length", "5"), ("Expect", "100-continue")],
    )
    async with rig() as the_rig, connect(the_rig.port) as (reader, writer):
        writer.write(head)
        interim = await read_response(reader)
        assert (interim.status, interim.reason) == (100, "Continue")
        writer.write(b"hello")
        response = await read_response(reader)
        assert response.status == 200
        echo = response.json()
        assert echo["body_bytes"] == 5
        assert "Expect" not in echo["headers"]  # the proxy answered it itself


async def test_head_keeps_its_content_length_and_sends_no_body() -> None:
    async with rig() as the_rig, connect(the_rig.port) as (reader, writer):
        writer.write(request("HEAD", "/echo") + request(target="/next"))
        response = await read_response(reader, head_request=True)
        assert response.status == 200
        assert int(response.header("content-length") or 0) > 0
        assert (await read_response(reader)).json()["path"] == "/next"


@pytest.mark.parametrize("status", [204, 304])
async def test_bodyless_statuses_are_relayed_without_a_body(status: int) -> None:
    async def empty(conn: RawConnection) -> None:
        await answer_each(conn, f"HTTP/1.1 {status} Nothing\r\nX-A: 1\r\n\r\n".encode())

    async with rig(RawBackend("r1", empty)) as the_rig, connect(the_rig.port) as (reader, writer):
        for _ in range(2):
            writer.write(request())
            response = await read_response(reader)
            assert (response.status, response.body) == (status, b"")
            assert response.header("x-a") == "1"
            assert response.header(BACKEND_HEADER) == "r1"


async def test_concurrent_clients_are_balanced() -> None:
    async with rig() as the_rig:
        answers = await asyncio.gather(*(get(the_rig.url + "/") for _ in range(20)))
        backends = [headers[BACKEND_HEADER] for _, headers, _ in answers]
        assert sorted(backends) == ["b1"] * 10 + ["b2"] * 10


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_connection_is_reused_after_a_streamed_upload(framing: str) -> None:
    size = 200_000  # over replay_limit: streamed, not buffered
    if framing == "length":
        upload = request("PUT", "/up", [("Host", "a"), ("Content-Length", str(size))], b"u" * size)
    else:
        body = b"%x\r\n" % size + b"u" * size + b"\r\n0\r\n\r\n"
        upload = request("PUT", "/up", [("Host", "a"), ("Transfer-Encoding", "chunked")], body)
    async with rig() as the_rig, connect(the_rig.port) as (reader, writer):
        writer.write(upload)
        response = await read_response(reader)
        assert (response.json()["body_bytes"], response.header("connection")) == (
            size,
            "keep-alive",
        )
        writer.write(request(target="/next"))
        assert (await read_response(reader)).json()["path"] == "/next"


async def test_backend_answering_before_the_upload_ends() -> None:
    # The rest of the body is never read, so the connection cannot carry another
    # request: the proxy says so (Connection: close) and closes after the answer.
    async def early(conn: RawConnection) -> None:
        await conn.reader.readuntil(b"\r\n\r\n")
        conn.writer.write(ok_response(b"early"))
        await conn.writer.drain()
        await conn.reader.read()

    head = request("POST", "/", [("Host", "a"), ("Content-Length", "5000000")])
    async with rig(RawBackend("r1", early)) as the_rig, connect(the_rig.port) as (reader, writer):
        writer.write(head + b"x" * 100_000)
        response = await read_response(reader)
        assert (response.status, response.body) == (200, b"early")
        assert response.header("connection") == "close"
        assert await at_eof(reader)
        await the_rig.requests_done(1)


async def test_close_delimited_backend_response_is_rechunked_for_http11() -> None:
    async def until_close(conn: RawConnection) -> None:
        if await conn.read_request() is not None:
            conn.writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")

    async with (
        rig(RawBackend("r1", until_close)) as the_rig,
        connect(the_rig.port) as (reader, writer),
    ):
        for _ in range(2):
            writer.write(request())
            response = await read_response(reader)
            assert (response.framing, response.body) == ("chunked", b"all of it")
            assert response.header("connection") == "keep-alive"


async def test_a_thousand_idle_keep_alive_connections_do_not_slow_a_request() -> None:
    """Idle connections cost the proxy a timer and a buffer each, not attention: with a
    thousand of them open, a new client is still served promptly."""
    async with rig() as the_rig:
        idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            for _ in range(1000):
                reader, writer = await asyncio.open_connection("127.0.0.1", the_rig.port)
                idle.append((reader, writer))
            for reader, writer in idle[:50]:  # some have had a request, then went quiet
                writer.write(request())
                assert (await read_response(reader)).status == 200
            took = []
            for _ in range(3):
                started = time.perf_counter()
                status, _, _ = await get(the_rig.url + "/now")
                took.append(time.perf_counter() - started)
                assert status == 200
            assert min(took) < 0.050, took
        finally:
            for _, writer in idle:
                writer.transport.abort()
