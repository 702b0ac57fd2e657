"""The L7 reverse proxy: one real HTTP/1.1 load balancer in front of the backends.

Front side: asyncio streams and lbplay's strict parser (``net.http1``), because a
teaching proxy must show how a real one treats hostile input — a header-read
timeout against slowloris, 431/414/413 for oversized heads, URIs and bodies, and 400
(never forwarded) for the framing tricks behind request smuggling. aiohttp's server
has no header timeout and answers oversized headers with 400, so it is not used here.
A refused request is answered, then the connection is half-closed and what the client
still sends is read and dropped for a moment (nginx's lingering close): closing a
socket with unread bytes sends a reset, which can destroy the answer before the
client reads it.

Back side: one pooled ``aiohttp.ClientSession`` for the whole process, told to leave
requests alone: the raw path and query are forwarded byte for byte
(``yarl.URL(..., encoded=True)``), bodies are not decompressed, no headers are added
that the client did not send, redirects are not followed, and cookies are not kept.
Header rewriting (hop-by-hop, X-Forwarded-*) lives in ``net.forwarding``. A
Content-Length body is sent on with its length, a chunked one chunked. What aiohttp
still does on its own: it sends ``Content-Length: 0`` on a POST, PUT, PATCH or DELETE
without a body, and it cannot send an empty query (``/p?`` arrives as ``/p``) nor
``OPTIONS *`` (answered 501 here).

Every decision goes through ``core.Balancer``; every request ends in exactly one
``RequestCompleted`` event carrying each attempt and the balancer's reason, and one
``Metrics.record``. Retries follow nginx's ``proxy_next_upstream`` rules:

* a connection that could not be made (refused, connect timeout) is retried on
  another backend for every method: nothing was sent;
* a timeout or a failure after the request was sent is retried only for methods
  other than POST, PATCH and LOCK, and only when the request body can be replayed
  (bodies up to ``replay_limit`` bytes are read before the first attempt, as nginx's
  ``proxy_request_buffering`` does);
* chosen 5xx statuses are retried only when listed in ``RetryPolicy.on_status``, and
  only if another backend can be tried — otherwise the last answer is passed on;
* never once a byte of the response reached the client;
* at most ``tries`` attempts and ``timeout`` seconds, each avoiding the backends
  already tried.

A pooled keep-alive connection that the backend closed just as a request went out is
not the backend's failure: such a request is sent again on a fresh connection to the
same backend, if it may be retried at all — so a GET succeeds and a POST is answered
502, never sent twice. aiohttp's own silent retry of idempotent requests is turned off
so that every retry is the proxy's, visible in the attempts.

When every eligible backend is at its ``max_conns``, a request waits in a FIFO queue
of at most ``max_queue`` requests for a free slot, at most ``queue_timeout`` seconds,
then gets a 503 (HAProxy's ``maxconn``, ``maxqueue`` and ``timeout queue``); with the
queue full it gets the 503 at once. Each failed attempt is reported to the balancer
with its kind ("connect", "timeout", "reset", "5xx") for passive health; the client's
own faults (a body too large, too slow or cut off) are not held against a backend.

Answers of the proxy itself are short plain text that say what happened: 502 (the
backend failed), 503 (no backend is eligible, or all are full), 504 (the backend timed
out). A backend that fails in the middle of a response body makes the proxy abort the
client connection, so the client never mistakes a truncated body for a complete one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import SimpleNamespace

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict
from yarl import URL

from lbplay.core.affinity import COOKIE as AFFINITY_COOKIE
from lbplay.core.affinity import Affinity, Lookup, without_cookie
from lbplay.core.balancer import Balancer, Ticket
from lbplay.core.events import Attempt, EventBus, RequestCompleted
from lbplay.core.metrics import Metrics
from lbplay.core.picker import Pick, PickContext
from lbplay.core.routing import DEFAULT_POOL, PathError, Router
from lbplay.errors import AllBackendsFull, ConfigError, NoBackendAvailable
from lbplay.model.config import ProxyConfig
from lbplay.net.forwarding import TrustedProxies, request_headers, response_headers
from lbplay.net.http1 import (
    CONTINUE_RESPONSE,
    LAST_CHUNK,
    NO_BODY,
    BodyFraming,
    HttpError,
    IncompleteRequest,
    RequestHead,
    RequestTimeout,
    encode_chunk,
    iter_body,
    read_head,
    simple_response,
)
from lbplay.net.service import Service, cancel_all, host_port

log = logging.getLogger(__name__)

#: nginx never retries these once the request was sent (since 1.9.13).
NON_IDEMPOTENT = frozenset({"POST", "PATCH", "LOCK"})
#: Pending connections the listener accepts (Python's default of 100 overflows in bursts).
BACKLOG = 1024
#: The response header naming every backend tried, like nginx's $upstream_addr.
BACKEND_HEADER = "X-Lbplay-Backend"
#: After refusing a request or closing, how long and how much to read and drop.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20
#: Fresh connections tried after pooled ones that turned out closed, per attempt.
STALE_RETRIES = 2
_NO_BODY_STATUS = frozenset({204, 304})


class _Failure(Exception):
    """An attempt that failed before any response byte reached the client."""

    def __init__(
        self, outcome: str, status: int, message: str, *, sent: bool, kind: str | None
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.status = status
        self.message = message
        #: True when the request may have reached the backend.
        self.sent = sent
        #: What passive health counts it as ("connect", "timeout", "reset"); None: no
        #: fault of a backend.
        self.kind = kind


class _ClientFailed(Exception):
    """The client's body failed (too large, stalled, cut off) while being forwarded."""

    def __init__(self, error: HttpError) -> None:
        super().__init__(error.reason)
        self.error = error


class _Body:
    """A request body: bytes that can be resent, or bytes then a one-shot stream."""

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
        # Held while the client library's upload task reads from the client.
        self._reading = asyncio.Lock()

    @property
    def replayable(self) -> bool:
        return self._stream is None or not self.started

    def payload(self) -> bytes | AsyncIterator[bytes] | None:
        """What to hand aiohttp: None, bytes (sent with their length) or a stream
        (sent chunked, unless the headers carry a Content-Length)."""
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
        async with self._reading:
            pass


class HttpProxy(Service):
    """An HTTP/1.1 reverse proxy balancing over ``balancer``'s backends."""

    def __init__(
        self,
        balancer: Balancer,
        config: ProxyConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        events: EventBus | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        pools: Mapping[str, Balancer] | None = None,
        router: Router | None = None,
        affinity: Affinity | None = None,
    ) -> None:
        self.balancer = balancer
        #: Named pools for content routing; "default" is ``balancer``.
        self.pools: dict[str, Balancer] = {DEFAULT_POOL: balancer, **(pools or {})}
        self.router = router
        #: Session affinity (sticky sessions); mode "none" unless configured.
        self.affinity = affinity or Affinity(clock=clock, wall_clock=time.time)
        self.config = config or ProxyConfig()
        self.host = host
        self.events = events
        self.metrics = metrics
        self.clock = clock
        self._trusted = TrustedProxies(self.config.trusted_networks())
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.config.connect_timeout,
            sock_read=self.config.read_timeout,
        )
        self._server: asyncio.Server | None = None
        self._session: aiohttp.ClientSession | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        # Requests waiting for a backend below its max_conns, first come first served.
        # One queue per pool: capacity freed in one pool wakes that pool's waiters only.
        self._queues: dict[int, deque[asyncio.Future[None]]] = {}
        #: The port asked for (0: any free one), then the port listened on.
        self.port = port

    # -- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{host_port(self.host, self.port)}"

    @property
    def queued(self) -> int:
        """Requests waiting in the queue because every backend is full."""
        return sum(not w.done() for queue in self._queues.values() for w in queue)

    def set_pools(self, pools: Mapping[str, Balancer], router: Router | None) -> None:
        """Replace the routing pools (besides "default") and the rules, live."""
        for name, pool in pools.items():
            pool.on_capacity = self._waker(pool)
            if name == DEFAULT_POOL and pool is not self.balancer:
                raise ConfigError("the default pool is the proxy's own balancer")
        self.pools = {DEFAULT_POOL: self.balancer, **pools}
        self.router = router

    async def start(self) -> None:
        """Open the backend connection pool and start listening."""
        self._closing = False
        reuse = aiohttp.TraceConfig()
        reuse.on_connection_reuseconn.append(_mark_reused)
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, ttl_dns_cache=None)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=(
                hdrs.USER_AGENT,
                hdrs.ACCEPT,
                hdrs.ACCEPT_ENCODING,
                hdrs.CONTENT_TYPE,  # else "application/octet-stream" on every body
            ),
            timeout=aiohttp.ClientTimeout(total=None),
            trace_configs=[reuse],
        )
        # aiohttp resends an idempotent request once, silently, when its connection
        # fails; the proxy makes that decision itself (see the module docstring). There
        # is no public switch; aiohttp's own test client turns it off the same way.
        self._session._retry_connection = False
        try:
            self._server = await asyncio.start_server(
                self._accept,
                self.host,
                self.port,
                reuse_address=True,
                limit=self.config.max_head,  # the parser never needs more buffered
                backlog=BACKLOG,
            )
        except OSError as error:
            await self._session.close()
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port}: {error.strerror}"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        for pool in self.pools.values():
            pool.on_capacity = self._waker(pool)

    async def stop(self) -> None:
        """Stop listening, close every client connection and the backend pool."""
        self._closing = True
        for pool in self.pools.values():
            pool.on_capacity = None
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._connections):
            writer.transport.abort()
        await cancel_all(self._tasks)
        if server is not None:
            await server.wait_closed()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- connections ---------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain function, not a coroutine: the task is registered at once, so stop()
        # cannot miss it, and a cancelled task is not reported as an error by asyncio.
        if self._closing:
            writer.transport.abort()
            return
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        peer = writer.get_extra_info("peername")
        peer_ip = peer[0] if isinstance(peer, tuple) else "unix"
        try:
            await self._serve(reader, writer, peer_ip)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # never let one connection take the proxy down
            log.exception("unexpected error serving %s", peer_ip)
            writer.transport.abort()
        finally:
            self._connections.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer_ip: str
    ) -> None:
        config = self.config
        while True:
            try:
                head = await read_head(
                    reader,
                    timeout=config.header_timeout,
                    max_head=config.max_head,
                    max_uri=config.max_uri,
                    max_headers=config.max_headers,
                )
            except HttpError as error:
                await self._refuse(reader, writer, error)
                return
            if head is None:
                return
            if not await self._handle(head, reader, writer, peer_ip):
                await self._linger(reader, writer)
                return

    async def _refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: HttpError
    ) -> None:
        """Answer a request the proxy will not forward, and close."""
        if not isinstance(error, RequestTimeout | IncompleteRequest):
            # (Too slow, or gone: nobody is waiting for an answer to those.)
            writer.write(simple_response(error.status, error.reason, keep_alive=False))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await self._linger(reader, writer)
        writer.close()

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Half-close, then drop what the client still sends, briefly, before closing.

        Closing with unread bytes in the socket makes the kernel send a reset, and a
        reset can destroy the response the client has not read yet.
        """
        if writer.transport.is_closing():
            return
        with contextlib.suppress(OSError, TimeoutError):
            writer.write_eof()
            left = LINGER_BYTES
            async with asyncio.timeout(LINGER_SECONDS):
                while left > 0 and (data := await reader.read(min(left, 65536))):
                    left -= len(data)

    # -- one request ---------------------------------------------------------------

    async def _handle(
        self,
        head: RequestHead,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer_ip: str,
    ) -> bool:
        """Forward one request; return whether the client connection can be reused."""
        client_ip = self._trusted.client_ip(head, peer_ip)
        req = _Request(head, reader, writer, self.clock(), client_ip, self.balancer)
        try:
            if head.form == "asterisk":
                raise HttpError(501, "'OPTIONS *' is answered by each server; not forwarded")
            self._route(req)
            headers = request_headers(head, peer_ip, peer_ip in self._trusted)
            req.lookup = self.affinity.lookup(client_ip, head.get_all, head.query)
            if self.affinity.mode == "cookie":
                _strip_affinity_cookie(headers)
            req.body = await self._read_body(head, reader, writer)
        except HttpError as error:
            self._finish(req, error.status, None, "", 0, error.reason)
            await self._refuse(reader, writer, error)
            return False
        if self.config.hash_header:
            req.hash_key = head.get(self.config.hash_header) or req.client_ip
        keep_alive = await self._forward(req, headers)
        if not req.body.finished:
            await req.body.settle()
        return keep_alive and req.body.finished

    def _route(self, req: _Request) -> None:
        """Content routing: pick the request's pool (400 for an ambiguous path)."""
        router = self.router
        if router is None or not router.rules:
            return
        head = req.head
        try:
            route = router.route(head.method, head.host or "", head.path, head.get)
        except PathError as error:
            raise HttpError(400, str(error)) from None
        pool = self.pools.get(route.pool)
        if pool is None:
            raise HttpError(503, f"{route.reason}, but pool {route.pool} does not exist")
        req.balancer = pool
        req.route = route.reason

    async def _read_body(
        self, head: RequestHead, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> _Body:
        """Read a small body now (so retries can resend it); stream a large one."""
        framing = head.body
        if framing.kind == "none":
            return _Body(framing, b"", None)
        config = self.config
        if framing.kind == "length" and framing.length > config.max_body:
            raise HttpError(
                413,
                f"request body of {framing.length} bytes is over the limit of {config.max_body}",
            )
        if head.expect_continue:
            writer.write(CONTINUE_RESPONSE)
            await writer.drain()
        stream = iter_body(reader, framing, max_body=config.max_body, timeout=config.body_timeout)
        buffered = bytearray()
        async for chunk in stream:
            buffered += chunk
            if len(buffered) > config.replay_limit:
                return _Body(framing, bytes(buffered), stream)
        return _Body(framing, bytes(buffered), None)

    async def _forward(self, req: _Request, headers: CIMultiDict[str]) -> bool:
        """Try backends until one answers or the retry rules say stop; reply to the client."""
        try:
            pick = await self._first_pick(req)
        except NoBackendAvailable as error:
            failure = _Failure("no backend", 503, str(error), sent=False, kind=None)
            return await self._fail(req, failure)
        while True:
            name = pick.backend.name
            req.tried.append(name)
            ticket = req.balancer.begin(pick)
            attempt_started = self.clock()
            try:
                response = await self._send(pick, req, headers)
            except _Failure as failed:
                latency = self.clock() - attempt_started
                req.balancer.end(ticket, ok=False, latency=latency, failure=failed.kind)
                req.attempts.append(Attempt(name, pick.reason, failed.outcome, None, latency))
                retry = self._may_retry(req, sent=failed.sent) and self._next_pick(req, 0)
                if not retry:
                    return await self._fail(req, failed)
                pick = retry
                continue
            except _ClientFailed as failed:
                # The client's fault, not the backend's; the backend saw a cut-off request.
                latency = self.clock() - attempt_started
                req.balancer.end(ticket, ok=True, latency=latency)
                bad = failed.error
                outcome = f"client failed ({bad.status})"
                req.attempts.append(Attempt(name, pick.reason, outcome, None, latency))
                self._finish(req, bad.status, name, pick.reason, 0, bad.reason)
                await req.body.settle()
                await self._refuse(req.reader, req.writer, bad)
                return False
            except BaseException:  # cancelled by stop(): the ticket must still be closed
                req.balancer.end(ticket, ok=False)
                raise
            status = response.status
            if status in self.config.retry.on_status and self._may_retry(req, sent=True):
                retry = self._next_pick(req, 1)
                if retry:
                    response.release()
                    latency = self.clock() - attempt_started
                    kind = "5xx" if status >= 500 else None
                    req.balancer.end(ticket, ok=False, latency=latency, failure=kind)
                    outcome = f"http {status}"
                    req.attempts.append(Attempt(name, pick.reason, outcome, status, latency))
                    pick = retry
                    continue
            req.attempts.append(Attempt(name, pick.reason, "ok", status, 0.0))
            return await self._relay(req, response, ticket, pick, attempt_started)

    async def _first_pick(self, req: _Request) -> Pick:
        """The first backend; when all are full, wait in the queue (then 503).

        A request pinned by session affinity goes to its backend if that one can serve
        (HAProxy keeps sticky traffic even on a draining server); otherwise it is
        balanced afresh and will be re-pinned."""
        pinned = req.lookup.pinned
        if pinned is not None:
            pick = req.balancer.pick_pinned(pinned, f"{pinned}: {req.lookup.note}")
            if pick is not None:
                return pick
            req.repinned = pinned
        context = PickContext(client_ip=req.client_ip, hash_key=req.hash_key)
        try:
            return req.balancer.pick(context)
        except AllBackendsFull as full:
            if not self.config.queue_timeout:
                raise
            why = str(full)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.queue_timeout
        queue = self._queues.setdefault(id(req.balancer), deque())
        if sum(not w.done() for w in queue) >= self.config.max_queue:
            raise NoBackendAvailable(f"{why}; the queue is full ({self.config.max_queue} waiting)")
        waiter = loop.create_future()
        queue.append(waiter)
        pick = None
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        await waiter
                except TimeoutError:
                    raise NoBackendAvailable(
                        f"{why}; waited {self.config.queue_timeout:g} s in the proxy's queue"
                    ) from None
                try:
                    pick = req.balancer.pick(context)
                    # More room may have appeared than one request fills (a limit was
                    # lifted, a backend came back): let the next waiter try as well.
                    self._wake(queue)
                    return pick
                except AllBackendsFull:
                    # The slot went to somebody else: wait again, at the front.
                    waiter = loop.create_future()
                    queue.appendleft(waiter)
        finally:
            if not waiter.done():
                waiter.cancel()  # a cancelled waiter is skipped when waking
            elif pick is None and not waiter.cancelled():
                self._wake(queue)  # woken but gave up: the slot is the next one's

    def _waker(self, pool: Balancer) -> Callable[[], None]:
        """The callback ``pool`` calls when it has room again: wake its first waiter."""
        queue = self._queues.setdefault(id(pool), deque())
        return lambda: self._wake(queue)

    @staticmethod
    def _wake(queue: deque[asyncio.Future[None]]) -> None:
        """Wake the first request still waiting in ``queue``."""
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _may_retry(self, req: _Request, *, sent: bool) -> bool:
        if req.body.error is not None:
            return False
        if not sent:
            return True  # nothing reached the backend: always safe
        if req.head.method in NON_IDEMPOTENT and not self.config.retry.non_idempotent:
            return False
        return req.body.replayable

    def _next_pick(self, req: _Request, pending: int) -> Pick | None:
        """The backend for another attempt, or None when the retry budget is spent.

        ``pending``: attempts made but not yet in ``req.attempts``.
        """
        policy = self.config.retry
        if len(req.attempts) + pending >= policy.tries:
            return None
        if self.clock() - req.started > policy.timeout:
            return None
        context = PickContext(
            client_ip=req.client_ip, hash_key=req.hash_key, avoid=frozenset(req.tried)
        )
        try:
            pick = req.balancer.pick(context)
        except NoBackendAvailable:
            return None
        return None if pick.backend.name in req.tried else pick  # every eligible one tried

    async def _send(
        self, pick: Pick, req: _Request, headers: CIMultiDict[str]
    ) -> aiohttp.ClientResponse:
        """One attempt: send the request, return the response once its head arrived."""
        assert self._session is not None
        name = pick.backend.name
        address = pick.backend.address
        if address is None:
            message = f"backend {name} has no address"
            raise _Failure("no address", 502, message, sent=False, kind=None)
        config = self.config
        head = req.head
        target = head.path if head.query is None else f"{head.path}?{head.query}"
        url = URL(f"http://{address}{target}", encoded=True)
        timeout = self._timeout
        use = SimpleNamespace(reused=False)
        for stale in range(STALE_RETRIES + 1):
            use.reused = False
            try:
                response = await self._session.request(
                    head.method,
                    url,
                    headers=headers,
                    data=req.body.payload(),
                    allow_redirects=False,
                    timeout=timeout,
                    compress=None,
                    chunked=None,
                    trace_request_ctx=use,
                )
            except aiohttp.ClientError as error:
                if req.body.error is not None:
                    raise _ClientFailed(req.body.error) from None
                failure = _failure(error, name, config)
                if (
                    use.reused
                    and stale < STALE_RETRIES
                    and failure.outcome in ("closed", "reset")
                    and self._may_retry(req, sent=True)
                ):
                    continue  # a pooled connection the backend had closed: not its fault
                raise failure from None
            if response.status < 200:  # 101: the client never asked to switch protocols
                response.close()
                raise _Failure(
                    "bad response",
                    502,
                    f"{name} answered {response.status}, switching protocols unasked",
                    sent=True,
                    kind="reset",
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _relay(
        self,
        req: _Request,
        response: aiohttp.ClientResponse,
        ticket: Ticket,
        pick: Pick,
        attempt_started: float,
    ) -> bool:
        """Stream the backend's response to the client."""
        head, writer = req.head, req.writer
        status = response.status
        no_body = head.method == "HEAD" or status in _NO_BODY_STATUS
        length = response.content_length
        chunked = not no_body and length is None and head.version == "HTTP/1.1"
        keep_alive = (
            head.keep_alive and req.body.finished and (no_body or length is not None or chunked)
        )
        lines = [f"HTTP/1.1 {status} {_reason(response)}\r\n"]
        for name, value in response_headers(response.raw_headers, drop=[BACKEND_HEADER]):
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"{BACKEND_HEADER}: {', '.join(req.tried)}\r\n")
        req.session, cookie = self.affinity.bind(
            req.lookup, pick.backend.name, repinned=req.repinned
        )
        if cookie is not None:
            lines.append(f"Set-Cookie: {cookie}\r\n")
        if length is not None and (not no_body or head.method == "HEAD"):
            lines.append(f"Content-Length: {length}\r\n")
        elif chunked:
            lines.append("Transfer-Encoding: chunked\r\n")
        lines.append(
            "Connection: keep-alive\r\n\r\n" if keep_alive else "Connection: close\r\n\r\n"
        )
        sent = 0
        backend_ok = status < 500
        kind = None if backend_ok else "5xx"
        error = ""
        try:
            head_bytes = "".join(lines).encode("latin-1")
            # What the backend already sent goes out with the head: one write, one
            # packet, for the many small responses (nothing waits for it).
            first = b"" if no_body else response.content.read_nowait()
            if first:
                sent += len(first)
                req.balancer.transferred(ticket, len(first))
                head_bytes += encode_chunk(first) if chunked else first
            writer.write(head_bytes)
            if not no_body:
                async for chunk in response.content.iter_any():
                    sent += len(chunk)
                    req.balancer.transferred(ticket, len(chunk))
                    writer.write(encode_chunk(chunk) if chunked else chunk)
                    await writer.drain()
                if chunked:
                    writer.write(LAST_CHUNK)
            await writer.drain()
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as failed:
            # The head is out: the only honest signal left is to cut the connection.
            if req.body.error is not None:
                error = f"the client's body failed mid-response: {req.body.error.reason}"
            elif isinstance(failed, ConnectionError):
                error = "client went away mid-response"
            else:
                backend_ok = False
                stalled = isinstance(failed, TimeoutError)
                kind = "timeout" if stalled else "reset"
                error = f"{pick.backend.name} {'stalled' if stalled else 'failed'} mid-response"
            writer.transport.abort()
            keep_alive = False
        finally:
            response.release()
            latency = self.clock() - attempt_started
            req.balancer.end(ticket, ok=backend_ok, latency=latency, failure=kind)
        name = pick.backend.name
        req.attempts[-1] = Attempt(name, pick.reason, error or "ok", status, latency)
        # A body the backend broke off counts as "failed" (0) in metrics, not as a 200.
        counted = 0 if error and not backend_ok else status
        self._finish(req, status, name, pick.reason, sent, error, counted=counted)
        return keep_alive

    async def _fail(self, req: _Request, failure: _Failure) -> bool:
        """Answer on the proxy's behalf: 502, 503 or 504 with an explanation."""
        title = f"{failure.status} {HTTPStatus(failure.status).phrase}"
        text = f"{title}: {failure.message}"
        attempts = req.attempts
        if attempts:
            text += " (tried " + "; ".join(f"{a.backend}: {a.outcome}" for a in attempts) + ")"
        extra = [(BACKEND_HEADER, ", ".join(req.tried))] if req.tried else []
        req.session = req.lookup.note
        keep_alive = req.head.keep_alive and req.body.finished
        backend, reason = (attempts[-1].backend, attempts[-1].reason) if attempts else (None, "")
        self._finish(req, failure.status, backend, reason, 0, text)
        req.writer.write(
            simple_response(failure.status, text, keep_alive=keep_alive, extra_headers=extra)
        )
        await req.writer.drain()
        return keep_alive

    def _finish(
        self,
        req: _Request,
        status: int,
        backend: str | None,
        reason: str,
        nbytes: int,
        error: str,
        *,
        counted: int | None = None,
    ) -> None:
        """Record the request in metrics (as status ``counted`` if given); publish its event.

        ``backend`` is the last one tried, also when the proxy answered for it (a 502
        shows on the backend that failed); None when no backend was tried.
        """
        now = self.clock()
        latency = now - req.started
        attempts = tuple(req.attempts)
        if self.metrics is not None:
            self.metrics.record(
                backend,
                status if counted is None else counted,
                latency,
                nbytes,
                retried=len(attempts) > 1,
                now=now,
            )
        if self.events is not None:
            self.events.publish(
                RequestCompleted(
                    at=now,
                    client=req.client_ip,
                    method=req.head.method,
                    path=req.head.target,
                    status=status,
                    latency=latency,
                    backend=backend,
                    attempts=attempts,
                    reason=reason,
                    session=req.session,
                    route=req.route,
                    bytes=nbytes,
                    error=error,
                )
            )


@dataclass(slots=True)
class _Request:
    """One client request on its way through the proxy."""

    head: RequestHead
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    started: float
    #: The client's address (from X-Forwarded-For when the peer is trusted).
    client_ip: str
    #: The balancer of the pool the request was routed to.
    balancer: Balancer
    body: _Body = field(default_factory=lambda: _Body(NO_BODY, b"", None))
    #: What hash algorithms hash: the client address or ``ProxyConfig.hash_header``.
    hash_key: str = ""
    #: Backends tried so far, in order (the X-Lbplay-Backend header).
    tried: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    #: Why this pool (content routing).
    route: str = ""
    #: Session affinity: where the request was pinned, and a pin it could not keep.
    lookup: Lookup = field(default_factory=Lookup)
    repinned: str = ""
    session: str = ""

    def __post_init__(self) -> None:
        self.hash_key = self.hash_key or self.client_ip


async def _mark_reused(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceConnectionReuseconnParams,
) -> None:
    """aiohttp trace hook: the attempt went out on a pooled keep-alive connection."""
    use = context.trace_request_ctx
    if isinstance(use, SimpleNamespace):
        use.reused = True


def _strip_affinity_cookie(headers: CIMultiDict[str]) -> None:
    """Remove the balancer's own affinity cookie before forwarding (HAProxy "indirect")."""
    values = headers.getall(hdrs.COOKIE, [])
    if not values:
        return
    del headers[hdrs.COOKIE]
    for value in values:
        kept = without_cookie(value, AFFINITY_COOKIE)
        if kept:
            headers.add(hdrs.COOKIE, kept)


def _failure(error: aiohttp.ClientError, name: str, config: ProxyConfig) -> _Failure:
    """What a client-library error means for the attempt (order matters: subclasses)."""
    if isinstance(error, aiohttp.ClientConnectorError):
        why = "refused" if isinstance(error.os_error, ConnectionRefusedError) else "unreachable"
        message = f"could not connect to {name} ({why})"
        return _Failure(why, 502, message, sent=False, kind="connect")
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        message = f"{name} did not accept a connection within {config.connect_timeout:g} s"
        return _Failure("connect timeout", 504, message, sent=False, kind="connect")
    if isinstance(error, aiohttp.ServerTimeoutError):
        message = f"{name} did not answer within {config.read_timeout:g} s"
        return _Failure("timeout", 504, message, sent=True, kind="timeout")
    if isinstance(error, aiohttp.ServerDisconnectedError):
        message = f"{name} closed the connection before answering"
        return _Failure("closed", 502, message, sent=True, kind="reset")
    if isinstance(error, aiohttp.ClientResponseError):
        first_line = str(error.message).strip().split("\n")[0].rstrip(":")
        message = f"{name} sent an invalid response ({first_line})"
        return _Failure("bad response", 502, message, sent=True, kind="reset")
    message = f"{name} reset the connection before answering"
    return _Failure("reset", 502, message, sent=True, kind="reset")


def _reason(response: aiohttp.ClientResponse) -> str:
    """The backend's reason phrase if it can be written back as is, else the standard one."""
    reason = response.reason or ""
    if reason.isascii() and reason.isprintable():
        return reason
    try:
        return HTTPStatus(response.status).phrase
    except ValueError:
        return ""
