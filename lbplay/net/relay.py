"""A backend's answer through the L7 proxy, back to the client.

Its head goes to the client together with what the backend already sent of the body,
in one write (one packet for the many small responses); a body of unknown length is
re-framed chunked for an HTTP/1.1 client. A backend that fails in the middle of a
response body makes the proxy abort the client connection, so the client never
mistakes a truncated body for a complete one. (The request's body, on its way to the
backend, is ``net.bodies``.)
"""

from __future__ import annotations

import asyncio
import functools
from http import HTTPStatus

from lbplay.core.events import Attempt
from lbplay.model.wire import BACKEND_HEADER
from lbplay.net.attempt import Try
from lbplay.net.bodies import Body
from lbplay.net.forwarding import response_header_lines
from lbplay.net.http1 import LAST_CHUNK, RequestHead, encode_chunk
from lbplay.net.outbox import Outbox
from lbplay.net.upstream import Response, ResponseError

_DROP = frozenset({BACKEND_HEADER.lower().encode()})  # a backend's own is replaced
_NO_BODY_STATUS = frozenset({204, 304})


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
            while chunk := await response.content.read_any():
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
