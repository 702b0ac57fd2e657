"""A request's bytes through the L7 proxy: its body on to a backend, the answer back.

The request body: a small one (up to ``replay_limit`` bytes) is read before the first
try, as nginx's ``proxy_request_buffering`` does, so that a retry can send it again; a
larger one is forwarded as it arrives and cannot be replayed once it has started.
The client's own faults (a body too large, too slow or cut off) are noted on the body
and are not held against a backend.

The response: its head goes to the client together with what the backend already sent
of the body, in one write (one packet for the many small responses); a body of unknown
length is re-framed chunked for an HTTP/1.1 client. A backend that fails in the middle
of a response body makes the proxy abort the client connection, so the client never
mistakes a truncated body for a complete one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from http import HTTPStatus

from lbplay.core.events import Attempt
from lbplay.model.config import ProxyConfig
from lbplay.model.wire import BACKEND_HEADER
from lbplay.net.attempt import Try
from lbplay.net.forwarding import response_header_lines
from lbplay.net.http1 import (
    CONTINUE_RESPONSE,
    LAST_CHUNK,
    NO_BODY,
    BodyFraming,
    HttpError,
    RequestHead,
    encode_chunk,
    iter_body,
)
from lbplay.net.outbox import Outbox
from lbplay.net.upstream import Response, ResponseError

_DROP = frozenset({BACKEND_HEADER.lower().encode()})  # a backend's own is replaced
_NO_BODY_STATUS = frozenset({204, 304})


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


def _response_head(
    head: RequestHead, body: Body, response: Response, tried: list[str], cookie: str | None
) -> tuple[bytes, bool, bool, bool]:
    """The response head for the client, and whether the response has no body, is
    re-framed chunked, and leaves the client connection reusable."""
    status = response.status
    no_body = head.method == "HEAD" or status in _NO_BODY_STATUS
    length = response.content_length
    chunked = not no_body and length is None and head.version == "HTTP/1.1"
    keep_alive = head.keep_alive and body.finished and (no_body or length is not None or chunked)
    lines = [
        _status_line(status, response.reason),
        _header_lines(response.raw_headers),
        _backend_line(", ".join(tried)),
    ]
    if cookie is not None:
        lines.append(f"Set-Cookie: {cookie}\r\n".encode("latin-1"))
    if length is not None and (not no_body or head.method == "HEAD"):
        lines.append(b"Content-Length: %d\r\n" % length)
    elif chunked:
        lines.append(b"Transfer-Encoding: chunked\r\n")
    lines.append(b"Connection: keep-alive\r\n\r\n" if keep_alive else b"Connection: close\r\n\r\n")
    return b"".join(lines), no_body, chunked, keep_alive


def relay_now(
    head: RequestHead,
    outbox: Outbox,
    transport: asyncio.WriteTransport,
    body: Body,
    response: Response,
    attempt: Try,
    tried: list[str],
    cookie: str | None,
) -> tuple[bool, Attempt, int, str, int]:
    """``relay`` for a response already complete (``response.complete``): one write,
    held in ``outbox`` to the end of the loop's pass, nothing to wait for. The same
    answer and record as ``relay``; the caller waits for the client to take the bytes
    if the transport asks it to (``pause_writing``)."""
    data, no_body, chunked, keep_alive = _response_head(head, body, response, tried, cookie)
    sent = 0
    if not no_body:
        rest = response.read_nowait()
        if rest:
            sent = len(rest)
            attempt.transferred(sent)
            data += encode_chunk(rest) if chunked else rest
        if chunked:
            data += LAST_CHUNK
    response.release()
    error = ""
    if transport.is_closing():
        error = "client went away mid-response"
        keep_alive = False
    else:
        outbox.write(transport, data)
    status = response.status
    record, counted = _end(attempt, status, error, _failure_kind(status))
    return keep_alive, record, sent, error, counted


async def relay(
    head: RequestHead,
    writer: asyncio.StreamWriter,
    body: Body,
    response: Response,
    attempt: Try,
    tried: list[str],
    cookie: str | None,
) -> tuple[bool, Attempt, int, str, int]:
    """Stream the backend's response to the client, then end ``attempt``.

    ``tried``: every backend tried (the X-Lbplay-Backend header); ``cookie``: a
    Set-Cookie value to add (session affinity). Returns whether the client connection
    can be reused, the attempt's record, the body bytes sent, what went wrong ("" if
    nothing) and the status to count in metrics (0 for a body the backend broke off).
    """
    status = response.status
    head_bytes, no_body, chunked, keep_alive = _response_head(head, body, response, tried, cookie)
    sent = 0
    kind = _failure_kind(status)
    error = ""
    try:
        # What the backend already sent goes out with the head: one write, one
        # packet, for the many small responses (nothing waits for it).
        first = b"" if no_body else response.content.read_nowait()
        if first:
            sent += len(first)
            attempt.transferred(len(first))
            head_bytes += encode_chunk(first) if chunked else first
        writer.write(head_bytes)
        # (Iterating makes an async generator, which registers with the loop: not for
        # the many responses that are complete already.)
        if not no_body and not response.at_end:
            async for chunk in response.content.iter_any():
                sent += len(chunk)
                attempt.transferred(len(chunk))
                writer.write(encode_chunk(chunk) if chunked else chunk)
                await writer.drain()
        if chunked:
            writer.write(LAST_CHUNK)
        await writer.drain()
    except (TimeoutError, ResponseError, ConnectionError) as failed:
        # The head is out: the only honest signal left is to cut the connection.
        if body.error is not None:
            error = f"the client's body failed mid-response: {body.error.reason}"
        elif isinstance(failed, ConnectionError):
            error = "client went away mid-response"
        else:
            stalled = isinstance(failed, TimeoutError)
            kind = "timeout" if stalled else "reset"
            name = attempt.pick.backend.name
            error = f"{name} {'stalled' if stalled else 'failed'} mid-response"
        writer.transport.abort()
        keep_alive = False
    finally:
        response.release()
        record, counted = _end(attempt, status, error, kind)
    return keep_alive, record, sent, error, counted


def _failure_kind(status: int) -> str | None:
    """What passive health counts a response with ``status`` as (None: no failure)."""
    return None if status < 500 else "5xx"


def _end(attempt: Try, status: int, error: str, kind: str | None) -> tuple[Attempt, int]:
    """End ``attempt``: ok, unless ``kind`` names a failure of the backend's. With it, the
    status metrics count: 0 ("failed") for a body the backend broke off, not a 200."""
    outcome = error or "ok"
    if kind is None:
        return attempt.ok(outcome, status), status
    return attempt.failed(outcome, kind, status), 0 if error else status


# What every response's head repeats, made once: a backend answers with few status
# lines and, but for a date, the same headers again and again. Bounded: a backend that
# sends something new each time only turns the caches over.
_CACHE_LIMIT = 512
_CACHED_LINES_MAX = 2048
_HEADER_LINES: dict[tuple[tuple[bytes, bytes], ...], bytes] = {}
_BACKEND_LINE = BACKEND_HEADER.encode() + b": %s\r\n"


@functools.lru_cache(maxsize=_CACHE_LIMIT)
def _status_line(status: int, reason: str) -> bytes:
    """``HTTP/1.1 200 OK``: the backend's reason phrase if it can be written back as is,
    else the standard one."""
    if not (reason.isascii() and reason.isprintable()):
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")


def _header_lines(raw: tuple[tuple[bytes, bytes], ...]) -> bytes:
    """The backend's headers the client gets (``response_header_lines``).

    Remembered, bounded, unless they are long or set a cookie (so not with
    ``lru_cache``): a cookie is one user's, seldom seen again, and a session token is
    not to be kept in memory longer than its response."""
    lines = _HEADER_LINES.get(raw)
    if lines is None:
        lines = response_header_lines(raw, _DROP)
        if len(lines) <= _CACHED_LINES_MAX and not any(
            name.lower() == b"set-cookie" for name, _ in raw
        ):
            if len(_HEADER_LINES) >= _CACHE_LIMIT:
                _HEADER_LINES.clear()
            _HEADER_LINES[raw] = lines
    return lines


@functools.lru_cache(maxsize=256)
def _backend_line(names: str) -> bytes:
    return _BACKEND_LINE % names.encode("latin-1")
