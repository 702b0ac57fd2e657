"""Request bodies: read from the client as they arrive, and sent on to a backend.

``iter_body`` reads a body framed by Content-Length or chunked, strictly and in
bounded time; ``read_body`` reads a small one before the first try, as nginx's
``proxy_request_buffering`` does, so that a retry can send it again, and streams a
larger one, which cannot be replayed once it has started (``Body``). The client's own
faults (a body too large, too slow or cut off) are noted on the body and are not held
against a backend.

The async generators of the data path live here, apart from the modules a wheel
build compiles with mypyc (``hatch_build.py``), which cannot compile them. Bodies are
rare next to heads: most requests never come here.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TypeVar

from lbplay.model.config import ProxyConfig
from lbplay.net.http1 import (
    CONTINUE_RESPONSE,
    MAX_CHUNK_LINE,
    NO_BODY,
    BodyFraming,
    BodyIncomplete,
    BodyTimeout,
    HttpError,
    RequestHead,
    _bad,
    _chunk_size,
    _parse_field,
    _read_line,
    _strip_crlf,
    _TooLong,
)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Patience:
    """How long a body may take: ``timeout`` per read, and all of it by ``deadline``
    (the event loop's time; ``whole`` seconds after the body began)."""

    timeout: float
    deadline: float
    whole: float

    @classmethod
    def starting_now(cls, timeout: float, whole: float | None) -> _Patience:
        if whole is None:
            return cls(timeout, math.inf, math.inf)
        return cls(timeout, asyncio.get_running_loop().time() + whole, whole)


async def _within(aw: Awaitable[_T], patience: _Patience) -> _T:
    """``await aw`` or raise ``BodyTimeout``: a read may wait ``patience.timeout``
    seconds, and no read goes past the whole body's deadline."""
    left = patience.deadline - asyncio.get_running_loop().time()
    try:
        async with asyncio.timeout(min(patience.timeout, max(left, 0.0))):
            return await aw
    except TimeoutError:
        if left <= patience.timeout:
            raise BodyTimeout(
                f"the request body did not arrive within {patience.whole:g} s"
            ) from None
        raise BodyTimeout(f"the client sent no body bytes for {patience.timeout:g} s") from None


def iter_body(
    reader: asyncio.StreamReader,
    framing: BodyFraming,
    *,
    max_body: int | None,
    timeout: float,
    deadline: float | None = None,
    chunk_size: int = 65536,
    max_head: int = 16384,
) -> AsyncIterator[bytes]:
    """The body's bytes, decoded from chunked if need be, as they arrive.

    Yields pieces of at most ``chunk_size`` bytes, never an empty one, so the proxy can
    stream them on without holding the body. A Content-Length over ``max_body`` raises
    413 *here, at the call*, before a byte is read, so the proxy can answer at once
    (and skip its ``100 Continue``); a chunked body raises 413 while iterating, when
    the total would pass ``max_body``. Chunked trailers are read and dropped, at most
    ``max_head`` bytes of them. Each read waits at most ``timeout`` seconds, and the
    whole body must arrive within ``deadline`` seconds of this call (``BodyTimeout``
    either way: a body trickled a byte at a time resets no clock); EOF before the end
    raises ``BodyIncomplete``.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    patience = _Patience.starting_now(timeout, deadline)
    if framing.kind == "chunked":
        return _chunked_body(reader, max_body, patience, chunk_size, max_head)
    if max_body is not None and framing.length > max_body:
        raise HttpError(
            413, f"request body of {framing.length} bytes is over the limit of {max_body}"
        )
    return _length_body(reader, framing.length, patience, chunk_size)


async def _length_body(
    reader: asyncio.StreamReader, length: int, patience: _Patience, chunk_size: int
) -> AsyncIterator[bytes]:
    left = length
    while left:
        data = await _within(reader.read(min(chunk_size, left)), patience)
        if not data:
            raise BodyIncomplete(
                f"the client closed the connection after {length - left} of {length} body bytes"
            )
        left -= len(data)
        yield data


async def _chunked_body(
    reader: asyncio.StreamReader,
    max_body: int | None,
    patience: _Patience,
    chunk_size: int,
    max_head: int,
) -> AsyncIterator[bytes]:
    total = 0
    while True:
        try:
            line = await _body_line(reader, MAX_CHUNK_LINE, patience)
        except _TooLong:
            raise _bad(f"chunk-size line longer than {MAX_CHUNK_LINE} bytes") from None
        size = _chunk_size(line)
        if size == 0:
            break
        total += size
        if max_body is not None and total > max_body:
            raise HttpError(413, f"chunked request body is over the limit of {max_body} bytes")
        while size:
            data = await _within(reader.read(min(chunk_size, size)), patience)
            if not data:
                raise BodyIncomplete(
                    f"the client closed the connection inside a chunk ({total - size} body "
                    "bytes received)"
                )
            size -= len(data)
            yield data
        try:
            end = await _within(reader.readexactly(2), patience)
        except asyncio.IncompleteReadError:
            raise BodyIncomplete("the client closed the connection after chunk data") from None
        if end != b"\r\n":
            raise _bad("chunk data is not followed by CRLF (chunk size and data disagree)")
    # Trailers are metadata lbplay has no use for; they are checked like headers, then
    # dropped, so a client cannot hide unbounded or malformed bytes there.
    budget = max_head
    while True:
        try:
            line = await _body_line(reader, budget, patience)
        except _TooLong:
            raise HttpError(431, f"trailer section larger than {max_head} bytes") from None
        if not line:
            return
        _parse_field(line)
        budget -= len(line) + 2


async def _body_line(reader: asyncio.StreamReader, budget: int, patience: _Patience) -> bytes:
    """One CRLF-terminated line of chunked framing, without the CRLF."""
    line = await _within(_read_line(reader, budget), patience)
    if not line.endswith(b"\n"):
        raise BodyIncomplete("the client closed the connection inside a chunked body")
    return _strip_crlf(line)


class Body:
    """A request body: bytes that can be resent, or bytes then a one-shot stream."""

    __slots__ = ("framing", "data", "_stream", "started", "finished", "error", "_lock")

    def __init__(
        self, framing: BodyFraming, data: bytes, stream: AsyncIterator[bytes] | None
    ) -> None:
        self.framing = framing
        self.data = data
        self._stream = stream
        self.started = False
        #: Every byte of it was read from the client (the connection can be reused).
        self.finished = stream is None
        #: What went wrong on the client's side while it was being forwarded.
        self.error: HttpError | None = None
        # Held while the upload task reads from the client (made when first needed:
        # most requests have no body to stream).
        self._lock: asyncio.Lock | None = None

    @property
    def _reading(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    @property
    def replayable(self) -> bool:
        return self._stream is None or not self.started

    def payload(self) -> bytes | AsyncIterator[bytes] | None:
        """What to hand the upstream client: None, bytes (sent with their length) or a
        stream (sent chunked, unless the headers carry a Content-Length)."""
        if self.framing.kind == "none":
            return None
        if self.framing.kind == "length" and self._stream is None:
            return self.data
        return self._pump()

    async def _pump(self) -> AsyncIterator[bytes]:
        if self.data:
            self.started = True
            yield self.data
        if self._stream is None:
            return
        while True:
            async with self._reading:
                try:
                    chunk = await anext(self._stream)
                except StopAsyncIteration:
                    break
                except HttpError as error:
                    self.error = error
                    raise
            self.started = True
            yield chunk
        self.finished = True

    async def settle(self) -> None:
        """Wait until nothing reads the client's body any more.

        A response can be complete before the upload is (the backend answered early):
        releasing the response cancels the upload task, but only when it next runs, so
        it may still be inside a read of the client's stream. Nobody else may read
        that stream before it has left.
        """
        if self._lock is not None:
            async with self._lock:
                pass


#: The body of every request that has none (shared: only a stream changes a Body).
NO_BODY_AT_ALL = Body(NO_BODY, b"", None)


async def read_body(
    head: RequestHead,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    config: ProxyConfig,
) -> Body:
    """Read a small body now (so retries can resend it); stream a large one."""
    framing = head.body
    if framing.kind == "none":
        return NO_BODY_AT_ALL
    if framing.kind == "length" and framing.length > config.max_body:
        raise HttpError(
            413,
            f"request body of {framing.length} bytes is over the limit of {config.max_body}",
        )
    if head.expect_continue:
        writer.write(CONTINUE_RESPONSE)
        await writer.drain()
    stream = iter_body(
        reader,
        framing,
        max_body=config.max_body,
        timeout=config.body_timeout,
        deadline=config.body_deadline,
    )
    buffered = bytearray()
    async for chunk in stream:
        buffered += chunk
        if len(buffered) > config.replay_limit:
            return Body(framing, bytes(buffered), stream)
    return Body(framing, bytes(buffered), None)
