"""The L7 proxy's client to its backends: lbplay's own HTTP/1.1 client.

Each backend has a stack of idle keep-alive connections (``asyncio.Protocol``s), taken
last-in first-out so the warmest is reused and the rest can time out. The reuse rules
are nginx's ``keepalive``: a connection goes back to the stack only when its response
was read to the end, the request body was sent whole, the backend did not ask to
close, and nothing arrived after the response; after an error, a timeout, a close or
an unread body it is closed. Idle connections the backend closes are dropped when
found closed.

A request goes out as the client sent it: the raw path and query byte for byte (an
empty query ``/p?`` included), the headers as ``net.forwarding`` rewrote them, and the
request line, headers and a buffered body in one write. A buffered body is sent with
its Content-Length; a streamed one with its Content-Length if the client gave one,
else chunked, written as it is read, with backpressure (the backend's TCP window
pauses the upload). Responses are parsed by httptools (llhttp, as in Node.js and
uvicorn): strict framing, so a response with both Content-Length and
Transfer-Encoding, two lengths, or a malformed line is a bad response. Interim 1xx
answers are skipped; a 101 the client never asked for is a bad response. A response
to HEAD, or a 204 or 304, has no body whatever its headers say. A body of unknown
length ends when the backend closes.

Timeouts: ``connect_timeout`` for the TCP handshake, ``read_timeout`` between two
reads of the response (nginx's ``proxy_read_timeout``). Each connection keeps one
deadline, moved forward by every read, and one timer that checks it — no timer per
read.

A pooled connection that the backend closed just as a request went out is not the
backend's failure: such a request is sent again on a fresh connection to the same
backend, if it may be retried at all (``net.retry``) — so a GET succeeds and a POST is
answered 502, never sent twice.

The rest of the proxy sees a ``Response`` (what the relay reads of an answer),
``ResponseError`` (what reading its body raises when the backend fails mid-body) and
``Failure`` (a try that failed before the answer's head arrived).
"""

from __future__ import annotations

import asyncio
import operator
import re
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import httptools

from lbplay.core.backends import Backend
from lbplay.model.config import ProxyConfig
from lbplay.net.attempt import ClientFailed, Failure
from lbplay.net.http1 import LAST_CHUNK, RequestHead, encode_chunk
from lbplay.net.outbox import Outbox
from lbplay.net.retry import may_retry

if TYPE_CHECKING:
    from lbplay.net.bodies import Body

#: Fresh connections tried after pooled ones that turned out closed, per try.
STALE_RETRIES = 2
#: Seconds an idle keep-alive connection is kept (nginx ``keepalive_timeout`` 60 s;
#: lbplay's fake backends keep theirs 75 s, so the proxy lets go first).
IDLE_TIMEOUT = 30.0
#: Idle connections kept per backend (nginx ``keepalive 32`` is a common setting).
MAX_IDLE = 64
#: Bytes of a response body buffered before the backend is asked to wait (the
#: client reads slower than the backend writes).
HIGH_WATER = 256 * 1024
_NO_BODY_STATUS = frozenset({204, 304})
#: What no header value may hold, whatever the parser lets through (NUL, CR, LF, ...).
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
#: A header pair's name and value.
_name = operator.itemgetter(0)
_value = operator.itemgetter(1)


class ResponseError(Exception):
    """The backend failed, or sent something invalid, in the middle of a response body."""


class Response:
    """A backend's answer whose head has arrived; its body arrives into it.

    ``content`` is the response itself: ``read_nowait()`` takes what has arrived,
    ``read_any()`` waits for more. ``release()`` ends it: the connection goes
    back to the idle stack if it may be reused, else it is closed.
    """

    __slots__ = (
        "status",
        "reason",
        "raw_headers",
        "content_length",
        "_conn",
        "_chunks",
        "_buffered",
        "_done",
        "_error",
        "_waiter",
        "_released",
    )

    def __init__(
        self,
        conn: _Connection,
        status: int,
        reason: str,
        raw_headers: tuple[tuple[bytes, bytes], ...],
        content_length: int | None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.raw_headers = raw_headers
        self.content_length = content_length
        self._conn = conn
        # (A list: a deque allocates a 64-slot block, and most bodies are one chunk.)
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._released = False

    @property
    def content(self) -> Response:
        return self

    # What the connection feeds in.

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER:
            self._conn.pause_reading()
        self._wake()

    def _finish(self, error: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # What the relay reads.

    def read_nowait(self, n: int = -1) -> bytes:
        """Everything that has arrived and not been read, without waiting."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        self._conn.resume_reading()
        return data

    @property
    def at_end(self) -> bool:
        """The whole body has arrived and been read, without error: nothing to wait for
        (most small responses arrive with their head)."""
        return self._done and not self._chunks and self._error is None

    @property
    def complete(self) -> bool:
        """The whole body has arrived, without error (some of it may be unread)."""
        return self._done and self._error is None

    async def read_any(self) -> bytes:
        """What has arrived and not been read, waiting for some if need be; b"" once
        the whole body has been read.

        Raises ``ResponseError`` when the backend fails mid-body and ``TimeoutError``
        when it sends nothing for ``read_timeout``. (A coroutine, not an async
        generator: mypyc compiles this module, and not those.)
        """
        while not self._chunks:
            if self._done:
                if self._error is not None:
                    raise self._error
                return b""
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            self._conn.waiting()
            await waiter
        return self.read_nowait()

    def release(self) -> None:
        """Done with the response: reuse its connection if it may be, else close it."""
        if self._released:
            return
        self._released = True
        self._conn.release(self._done and self._error is None)


class _Connection(asyncio.Protocol):
    """One keep-alive connection to a backend: one request at a time."""

    def __init__(self, upstream: Upstream, key: str) -> None:
        self.upstream = upstream
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        #: Taken from the idle stack (so a failure may be a stale connection).
        self.reused = False
        self.idle_since = 0.0
        self._timeout = upstream.config.read_timeout
        # The exchange in progress.
        self._parser: httptools.HttpResponseParser | None = None
        #: The parser of the last response read to its end, for the next.
        self._spare: httptools.HttpResponseParser | None = None
        self._head: asyncio.Future[Response] | None = None
        #: Called with ``_head`` once it is done, instead of a callback on the future.
        self._on_head: Callable[[asyncio.Future[Response]], None] | None = None
        self._response: Response | None = None
        self._name = ""
        self._head_only = False
        self._status = 0
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._keep_alive = False
        self._eof_body = False
        self._reusable = True
        self._upload: asyncio.Task[None] | None = None
        self._upload_done = True
        self._writable: asyncio.Future[None] | None = None
        self._paused = False
        # Read deadline: moved by every read, checked by one timer.
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:  # nothing asked: a backend talking out of turn
            self._reusable = False
            self.close()
            return
        self._deadline = self.loop.time() + self._timeout
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail_head("bad response", f"{self._name} switched protocols unasked")
        except (httptools.HttpParserError, ValueError) as error:
            first_line = str(error).strip().split("\n")[0].rstrip(":")
            message = f"{self._name} sent an invalid response ({first_line})"
            if self._response is None:
                self._fail_head("bad response", message)
            else:
                self._fail_body(ResponseError(message))
        self._settled()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._reusable = False
        self._cancel_timer()
        self.resume_writing()  # an upload waiting to write finds the connection closed
        upload = self._upload
        if upload is not None and not upload.done():
            upload.cancel()
        if self._head is not None and not self._head.done():
            name = self._name
            if exc is None:
                message = f"{name} closed the connection before answering"
                self._fail_head("closed", message, kind="reset", sent=True)
            else:
                self._fail_head("reset", f"{name} reset the connection before answering")
        response = self._response
        if response is not None and not response._done:
            if self._eof_body and exc is None:
                response._finish()  # a body of unknown length ends with the connection
            else:
                response._finish(ResponseError(f"{self._name} closed mid-response"))
        self.upstream._forget(self)
        self._settled()

    def pause_writing(self) -> None:
        self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        headers = self._headers
        # Control bytes in any value (tabs are allowed, so values joined by tabs can be
        # searched at once): llhttp lets some through that no proxy should pass on.
        if _CONTROL.search(b"\t".join(map(_value, headers))) is not None:
            raise ValueError("Invalid header value char")
        status = parser.get_status_code()
        if 100 <= status < 200:
            if status == 101:
                raise httptools.HttpParserUpgrade(0)
            self._reason = b""  # an interim answer (100 Continue, 103): the real one follows
            self._headers = []
            return
        # The framing headers by lower-case name (the last of each, as llhttp reads
        # them), found without a Python loop over every header.
        framing = dict(
            zip(map(bytes.lower, map(_name, headers)), map(_value, headers), strict=True)
        )
        length: int | None = None
        chunked = False
        if b"content-length" in framing:
            length = int(framing[b"content-length"])
        if b"transfer-encoding" in framing:  # chunked only if it is the last coding
            coding = framing[b"transfer-encoding"].rsplit(b",", 1)[-1]
            chunked = coding.strip().lower() == b"chunked"
        no_body = self._head_only or status in _NO_BODY_STATUS
        self._eof_body = not no_body and length is None and not chunked
        self._keep_alive = parser.should_keep_alive() and not self._eof_body
        response = Response(
            self,
            status,
            self._reason.decode("latin-1"),
            tuple(self._headers),
            None if chunked else length,
        )
        self._response = response
        if no_body:
            self._parser = None  # a HEAD's Content-Length promises nothing: done
            response._finish()
        head = self._head
        if head is not None and not head.done():
            head.set_result(response)
        elif head is not None and head.cancelled():
            self._abandoned()

    def on_body(self, body: bytes) -> None:
        response = self._response
        if response is not None and not response._done:
            response._feed(body)
        else:
            self._reusable = False

    def on_message_begin(self) -> None:
        if self._parser is None:
            # A second message in the same read, after the answer: out of turn. The
            # parser is in it now, so neither it nor the connection may be used again.
            self._reusable = False
            self._spare = None

    def on_message_complete(self) -> None:
        response = self._response
        if response is None:  # the end of an interim 1xx answer
            return
        headers, count = self._headers, len(response.raw_headers)
        # Trailers (after the head's headers) are dropped, but checked as the head was.
        if len(headers) > count and _CONTROL.search(b"\t".join(map(_value, headers[count:]))):
            raise ValueError("Invalid header value char")
        # Anything more before the next request is out of turn. The parser is back at
        # the start of a message: the next exchange can use it (see on_message_begin).
        self._spare, self._parser = self._parser, None
        response._finish()

    # The exchange

    def begin(
        self,
        name: str,
        request: bytes,
        stream: AsyncIterator[bytes] | None,
        chunked: bool,
        head_only: bool,
        on_head: Callable[[asyncio.Future[Response]], None] | None = None,
    ) -> asyncio.Future[Response]:
        """Send ``request`` (then ``stream``, if any); the future of the response,
        done once its head is in (or with the ``Failure`` of the try). ``on_head``:
        called with the future when it is done (unless it was cancelled), right after
        the read that completed it."""
        assert self.transport is not None
        self._on_head = on_head
        self._name = name
        self._head_only = head_only
        self._timeout = self.upstream.config.read_timeout
        parser, self._spare = self._spare, None
        if parser is None:
            parser = httptools.HttpResponseParser(self)
            # Tolerated, as RFC 9112 allows a recipient: obs-fold (read as a space) and
            # a lone LF ending a line. Control bytes in a value are refused in
            # on_headers_complete.
            parser.set_dangerous_leniencies(
                lenient_headers=True, lenient_optional_cr_before_lf=True
            )
        self._parser = parser
        self._head = self.loop.create_future()
        self._reason = b""
        self._headers = []
        self._response = None
        self._reusable = True
        self._upload_done = stream is None
        if stream is None:
            # Written at the end of this pass of the loop, with the others (net.outbox).
            self.upstream.outbox.write(self.transport, request)
        else:
            self.transport.write(request)
            self._upload = self.loop.create_task(self._send_stream(stream, chunked))
        self.waiting()
        return self._head

    async def _send_stream(self, stream: AsyncIterator[bytes], chunked: bool) -> None:
        """Write a streamed request body as it is read from the client."""
        transport = self.transport
        assert transport is not None
        try:
            async for chunk in stream:
                if self.closed:
                    return
                if chunk:
                    transport.write(encode_chunk(chunk) if chunked else chunk)
                if self._writable is not None:
                    await self._writable
            if chunked and not self.closed:
                transport.write(LAST_CHUNK)
            self._upload_done = True
        except Exception:  # the client's body failed (it notes that on the body)
            self._reusable = False
            self.abort()

    def waiting(self) -> None:
        """Someone starts to wait for the backend: it has ``read_timeout`` to send.

        The timer is left running when an exchange ends (it finds nobody waiting and
        stops), so that the next request on the connection need not make one."""
        deadline = self._deadline = self.loop.time() + self._timeout
        if self._timer is None or self._timer_at > deadline:
            self._cancel_timer()
            self._timer = self.loop.call_at(deadline, self._check_deadline)
            self._timer_at = deadline

    def _check_deadline(self) -> None:
        self._timer = None
        head = self._head
        if head is not None and head.cancelled():
            self._abandoned()
            return
        response = self._response
        head_waits = head is not None and not head.done()
        body_waits = response is not None and response._waiter is not None
        if not (head_waits or body_waits):
            return  # nobody waits (a slow client holds the body): no timeout
        if self.loop.time() < self._deadline:
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)
            self._timer_at = self._deadline
            return
        message = f"{self._name} did not answer within {self._timeout:g} s"
        if head_waits:
            self._fail_head("timeout", message, kind="timeout", sent=True, status=504)
            self._settled()
        else:
            self._fail_body(TimeoutError(message))

    def _settled(self) -> None:
        """Tell ``begin``'s ``on_head`` that the head is in (or the try failed).

        Called at the end of the protocol's and the timer's callbacks, never from the
        parser's (``on_head`` may answer the client, release this connection and begin
        the next request on it). That saves the future a pass of the loop: its own
        callbacks run from the loop's queue, after everything else that is ready."""
        on_head = self._on_head
        if on_head is not None:
            head = self._head
            if head is not None and head.done():
                self._on_head = None
                if not head.cancelled():
                    on_head(head)

    def _abandoned(self) -> None:
        """Whoever waited for the answer cancelled (a request cut off in the proxy's
        callbacks by an unexpected error): nobody will read or release it, so the
        connection is closed, when the answer arrives or at the read timeout."""
        self._reusable = False
        self.abort()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fail_head(
        self,
        outcome: str,
        message: str,
        *,
        kind: str = "reset",
        sent: bool = True,
        status: int = 502,
    ) -> None:
        head = self._head
        if head is not None and not head.done():
            head.set_exception(Failure(outcome, status, message, sent=sent, kind=kind))
        self._reusable = False
        self.abort()

    def _fail_body(self, error: BaseException) -> None:
        response = self._response
        if response is not None:
            response._finish(error)
        self._reusable = False
        self.abort()

    def pause_reading(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def release(self, complete: bool) -> None:
        """The response is done with: back to the idle stack, or closed."""
        upload = self._upload
        if upload is not None:
            self._upload = None
            if not upload.done():
                upload.cancel()
        self._head = None
        self._on_head = None
        self._response = None
        if (
            complete
            and self._reusable
            and self._keep_alive
            and self._upload_done
            and self._parser is None
            and not self._paused
            and not self.closed
        ):
            self.upstream._park(self)
        else:
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()


class Upstream:
    """The connection pool to every backend, and one try of a request on one."""

    def __init__(self, config: ProxyConfig, outbox: Outbox | None = None) -> None:
        self.config = config
        #: Where pooled requests are written from (see ``net.outbox``).
        self.outbox = outbox or Outbox()
        self._idle: dict[str, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        """Ready to send (connections are made as requests need them)."""

    async def close(self) -> None:
        """Close every connection, idle or busy."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._open):
            conn.abort()
        self._open.clear()
        self._idle.clear()

    async def send(
        self,
        backend: Backend,
        head: RequestHead,
        header_lines: str,
        body: Body,
        *,
        fresh: bool = False,
    ) -> Response:
        """One try: send the request, return the response once its head arrived.

        ``fresh``: on a new connection, even if an idle one is at hand by now (the
        pool was found empty: it grows to what the load needs, so that requests
        find an idle connection and are served without a task: ``send_pooled``).
        Raises ``Failure`` when the backend could not be reached or failed before its
        head was complete, ``ClientFailed`` when the client's body failed meanwhile.
        """
        name = backend.name
        address = backend.address
        if address is None:
            message = f"backend {name} has no address"
            raise Failure("no address", 502, message, sent=False, kind=None)
        head_only = head.method == "HEAD"
        for stale in range(STALE_RETRIES + 1):
            payload = body.payload()
            request, stream = _request_bytes(head, header_lines, payload, address)
            chunked = stream is not None and head.body.kind != "length"
            conn = None if fresh else self._idle_connection(address)
            if conn is None:
                conn = await self._connect(name, address)
            try:
                return await conn.begin(name, request, stream, chunked, head_only)
            except Failure as failure:
                if body.error is not None:
                    raise ClientFailed(body.error) from None
                if conn.reused and stale < STALE_RETRIES and self.stale(failure, head, body):
                    continue  # a pooled connection the backend had closed: not its fault
                raise
            except BaseException:
                conn.abort()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def send_pooled(
        self,
        backend: Backend,
        head: RequestHead,
        header_lines: str,
        body: Body,
        on_head: Callable[[asyncio.Future[Response]], None] | None = None,
    ) -> asyncio.Future[Response] | None:
        """``send`` without waiting, for a request whose body is already read, when an
        idle connection to ``backend`` is at hand: the future of the response (done
        once its head is in, or with the try's ``Failure``); None when a connection
        would have to be made (then ``send``). ``on_head``: see ``_Connection.begin``.

        The connection was pooled: a ``Failure`` for which ``stale`` is true is not
        the backend's fault, and ``send`` may try the request again.
        """
        address = backend.address
        if address is None:
            return None
        conn = self._idle_connection(address)
        if conn is None:
            return None
        request, stream = _request_bytes(head, header_lines, body.payload(), address)
        assert stream is None, "send_pooled is for a body already read"
        return conn.begin(backend.name, request, None, False, head.method == "HEAD", on_head)

    def stale(self, failure: Failure, head: RequestHead, body: Body) -> bool:
        """Whether ``failure`` on a pooled connection looks like one the backend had
        closed just before (not its fault), and the request may be sent again."""
        return failure.outcome in ("closed", "reset") and may_retry(
            head.method, body, self.config.retry, sent=True
        )

    def _idle_connection(self, address: str) -> _Connection | None:
        stack = self._idle.get(address)
        while stack:
            conn = stack.pop()
            if not conn.closed:
                conn.reused = True
                return conn
        return None

    async def _connect(self, name: str, address: str) -> _Connection:
        host, _, port = address.rpartition(":")
        loop = asyncio.get_running_loop()
        timeout = self.config.connect_timeout
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, address), host.strip("[]"), int(port)
                )
        except TimeoutError:
            message = f"{name} did not accept a connection within {timeout:g} s"
            raise Failure("connect timeout", 504, message, sent=False, kind="connect") from None
        except OSError as error:
            why = "refused" if isinstance(error, ConnectionRefusedError) else "unreachable"
            message = f"could not connect to {name} ({why})"
            raise Failure(why, 502, message, sent=False, kind="connect") from None
        self._open.add(conn)
        return conn

    def _park(self, conn: _Connection) -> None:
        """A connection whose exchange ended cleanly: keep it for the next request."""
        stack = self._idle.setdefault(conn.key, [])
        if len(stack) >= MAX_IDLE:
            conn.close()
            return
        conn.reused = False
        conn.idle_since = conn.loop.time()
        stack.append(conn)
        if self._sweeper is None:
            self._sweeper = conn.loop.call_later(IDLE_TIMEOUT, self._sweep)

    def _sweep(self) -> None:
        """Close connections idle for longer than ``IDLE_TIMEOUT``."""
        self._sweeper = None
        loop = asyncio.get_running_loop()
        cutoff = loop.time() - IDLE_TIMEOUT
        for stack in self._idle.values():
            # The stack is oldest first: drop from the bottom while too old.
            stale = 0
            while stale < len(stack) and (stack[stale].closed or stack[stale].idle_since < cutoff):
                stack[stale].close()
                stale += 1
            del stack[:stale]
        if any(self._idle.values()):
            self._sweeper = loop.call_later(IDLE_TIMEOUT, self._sweep)

    def _forget(self, conn: _Connection) -> None:
        self._open.discard(conn)


def _request_bytes(
    head: RequestHead,
    header_lines: str,
    payload: bytes | AsyncIterator[bytes] | None,
    address: str,
) -> tuple[bytes, AsyncIterator[bytes] | None]:
    """The request line and headers (with a buffered body), ready to write, and the
    stream to send after them (None: nothing more).

    ``header_lines`` are ``net.forwarding.request_header_lines``: text whose UTF-8
    encoding is the bytes the client sent, so values reach the backend byte for byte.
    They carry a Content-Length when the client framed the body by one; another body
    gets one here (bytes) or is sent chunked (a stream). A request without Host
    (HTTP/1.0 may send none) gets the backend's ``address``, as nginx's
    ``$proxy_host``."""
    target = head.path if head.query is None else f"{head.path}?{head.query}"
    extra = "" if head.host is not None else f"Host: {address}\r\n"
    if head.body.kind != "length":
        if isinstance(payload, bytes):
            extra += f"Content-Length: {len(payload)}\r\n"
        elif payload is not None:
            extra += "Transfer-Encoding: chunked\r\n"
    data = f"{head.method} {target} HTTP/1.1\r\n{header_lines}{extra}\r\n".encode()
    if isinstance(payload, bytes):
        return data + payload, None
    return data, payload
