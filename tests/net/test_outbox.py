"""The outbox: writes held to the end of the loop's pass, on real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from lbplay.net.outbox import Outbox

PROMPT = 5.0


class Peer:
    """A server on 127.0.0.1 that keeps what each connection sent, until it ends."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = b""
        reset = False
        try:
            while chunk := await reader.read(65536):
                data += chunk
        except ConnectionError:
            reset = True
        await self.received.put((data, reset))
        writer.close()

    async def got(self) -> tuple[bytes, bool]:
        """What one connection sent before it ended, and whether it ended in a reset."""
        async with asyncio.timeout(PROMPT):
            return await self.received.get()


@contextlib.asynccontextmanager
async def peer() -> AsyncIterator[tuple[Peer, int]]:
    receiver = Peer()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    try:
        yield receiver, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def connection(port: int) -> asyncio.WriteTransport:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    return transport  # type: ignore[return-value]


async def test_held_writes_go_out_at_the_end_of_the_pass_in_order() -> None:
    async with peer() as (receiver, port):
        transport = await connection(port)
        outbox = Outbox()
        outbox.write(transport, b"first ")
        outbox.write(transport, b"second ")
        transport.write(b"direct ")  # made now, before the held ones
        outbox.close(transport)  # after them
        assert not transport.is_closing()
        assert await receiver.got() == (b"direct first second ", False)


async def test_close_with_nothing_held_is_at_once() -> None:
    async with peer() as (receiver, port):
        transport = await connection(port)
        Outbox().close(transport)
        assert transport.is_closing()
        assert await receiver.got() == (b"", False)


async def test_a_transport_closed_before_the_flush_drops_only_its_own_writes() -> None:
    async with peer() as (receiver, port):
        gone, kept = await connection(port), await connection(port)
        outbox = Outbox()
        outbox.write(gone, b"lost")
        outbox.write(kept, b"kept")
        gone.close()
        await asyncio.sleep(0)  # (the flush was queued first: it has run)
        outbox.close(kept)
        assert sorted([await receiver.got(), await receiver.got()]) == [
            (b"", False),
            (b"kept", False),
        ]


class WriteFails:
    """A real transport whose ``write`` raises (a broken one): aborting it still works."""

    def __init__(self, real: asyncio.WriteTransport) -> None:
        self.real = real

    def is_closing(self) -> bool:
        return self.real.is_closing()

    def write(self, data: bytes) -> None:
        raise RuntimeError("a broken transport")

    def abort(self) -> None:
        self.real.abort()


async def test_a_write_that_raises_aborts_that_transport_and_spares_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with peer() as (receiver, port):
        broken, fine = await connection(port), await connection(port)
        outbox = Outbox()
        outbox.write(WriteFails(broken), b"lost")  # type: ignore[arg-type]
        outbox.write(fine, b"fine")
        outbox.flush()
        assert broken.is_closing()
        assert "unexpected error writing" in caplog.text
        fine.close()
        results = sorted([await receiver.got(), await receiver.got()])
        assert results[1] == (b"fine", False)
        assert results[0][0] == b""  # the broken one: aborted, nothing written


async def test_a_flush_with_nothing_held_and_a_second_pass_both_work() -> None:
    async with peer() as (receiver, port):
        transport = await connection(port)
        outbox = Outbox()
        outbox.flush()  # nothing held: nothing to do
        outbox.write(transport, b"one ")
        await asyncio.sleep(0)
        outbox.write(transport, b"two")  # a later pass schedules its own flush
        outbox.close(transport)
        assert await receiver.got() == (b"one two", False)
