"""Writes held to the end of the event loop's pass, then made one after another.

On loopback, most of a ``write`` system call's cost is the receiving side: the kernel
delivers the bytes and wakes the peer that sleeps waiting for them (wrk, a backend),
which on another core means an interrupt. The L7 proxy's callbacks answer requests
one after another, with several microseconds of Python between two writes: long
enough for a fast peer to take the first answer and go back to sleep, so that every
write wakes it again. Held until the pass has read and handled all that was ready,
the writes go out back to back, and a peer woken by the first finds the others
waiting. Measured with ``lbplay serve`` behind ``wrk -c32`` (2 cores), against writing
each answer as it is made: 8-14% less CPU per request, system and user time both.

The flush is one callback (``call_soon``) after those already queued, so a held write
waits for the rest of its pass and, on uvloop, one more turn of the loop (which polls
without blocking first). On a quiet proxy that is about 10 µs: measured at 500 req/s
through ``lbplay serve``, the p50 added over direct went from 0.213 to 0.221 ms (medians
of 3 interleaved runs); under load, answers come sooner than before (p50 1.37 instead of
1.62 ms at wrk -c32).

A transport that closes before the flush drops what was held for it, as it would
drop a write made after its close. ``close`` keeps its place in line: a connection
closed after an answer was held is closed after that answer is written.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)


class Outbox:
    """The held writes of one proxy (one event loop), flushed by one callback."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        #: (transport, bytes to write, or None to close it), in order.
        self._held: list[tuple[asyncio.WriteTransport, bytes | None]] = []

    def write(self, transport: asyncio.WriteTransport, data: bytes) -> None:
        """Write ``data`` to ``transport`` at the end of this pass of the loop."""
        held = self._held
        if not held:
            asyncio.get_running_loop().call_soon(self.flush)
        held.append((transport, data))

    def close(self, transport: asyncio.BaseTransport) -> None:
        """Close ``transport`` after the writes held before (at once if none are)."""
        if self._held:
            self._held.append((transport, None))  # type: ignore[arg-type]
        else:
            transport.close()

    def flush(self) -> None:
        """Make every held write now, in order."""
        held, self._held = self._held, []
        for transport, data in held:
            if transport.is_closing():
                continue
            try:
                if data is None:
                    transport.close()
                else:
                    transport.write(data)
            except Exception:  # one broken transport must not cost the others their writes
                log.exception("unexpected error writing to %r", transport)
                transport.abort()
