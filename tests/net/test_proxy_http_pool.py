"""The L7 proxy's keep-alive pool to its backends (``lbplay.net.upstream``): one
connection reused while it may be, a new one when the backend asks to close, idle ones
let go after the idle timeout, and no more kept idle than the cap."""

from __future__ import annotations

import asyncio

import pytest

from lbplay.net import upstream
from tests.net.proxy_http_support import (
    PROMPT,
    RawBackend,
    RawConnection,
    answer_each,
    get,
    ok_response,
    rig,
)


class Closes:
    """A handler that answers every request and notes when the proxy hangs up."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.hung_up = asyncio.Event()
        self.closed = 0

    async def __call__(self, conn: RawConnection) -> None:
        await answer_each(conn, self.response)  # returns at EOF: the proxy closed it
        self.closed += 1
        self.hung_up.set()


async def test_sequential_requests_share_one_connection() -> None:
    async with rig(RawBackend("r1", lambda c: answer_each(c, ok_response()))) as the_rig:
        for _ in range(5):
            assert (await get(the_rig.url + "/"))[0] == 200
        raw = the_rig.raws["r1"]
        assert [len(c.requests) for c in raw.connections] == [5]


async def test_a_backend_that_says_close_gets_a_new_connection_each_time() -> None:
    closing = ok_response(b"ok", "Connection: close")

    async def once(conn: RawConnection) -> None:
        if await conn.read_request() is not None:
            conn.writer.write(closing)
            await conn.writer.drain()

    async with rig(RawBackend("r1", once)) as the_rig:
        for _ in range(3):
            assert (await get(the_rig.url + "/"))[0] == 200
        assert [len(c.requests) for c in the_rig.raws["r1"].connections] == [1, 1, 1]


async def test_an_idle_connection_is_let_go_after_the_idle_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upstream, "IDLE_TIMEOUT", 0.05)
    handler = Closes(ok_response())
    async with rig(RawBackend("r1", handler)) as the_rig:
        assert (await get(the_rig.url + "/"))[0] == 200
        async with asyncio.timeout(PROMPT):
            await handler.hung_up.wait()  # the proxy closed the idle connection
        assert (await get(the_rig.url + "/"))[0] == 200
        assert [len(c.requests) for c in the_rig.raws["r1"].connections] == [1, 1]


async def test_no_more_than_the_cap_is_kept_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "MAX_IDLE", 2)
    release = asyncio.Event()
    arrived: list[RawConnection] = []
    all_in = asyncio.Event()
    closed = asyncio.Event()
    count = {"closed": 0}

    async def held(conn: RawConnection) -> None:
        while await conn.read_request() is not None:
            arrived.append(conn)
            if len(arrived) == 5:
                all_in.set()
            await release.wait()  # answer only once all five are in flight
            conn.writer.write(ok_response())
            await conn.writer.drain()
        count["closed"] += 1
        if count["closed"] == 3:
            closed.set()

    async with rig(RawBackend("r1", held)) as the_rig:
        requests = [asyncio.create_task(get(the_rig.url + "/")) for _ in range(5)]
        async with asyncio.timeout(PROMPT):
            await all_in.wait()
            release.set()
            statuses = [(await r)[0] for r in requests]
            await closed.wait()  # five connections, two kept: three let go
        assert statuses == [200] * 5
        assert len(the_rig.raws["r1"].connections) == 5
        assert count["closed"] == 3
