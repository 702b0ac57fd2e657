"""The L7 reverse proxy: one real HTTP/1.1 load balancer in front of the backends.

Front side: lbplay's strict parser (``net.http1``), because a teaching proxy must show
how a real one treats hostile input — a header-read timeout against slowloris,
431/414/413 for oversized heads, URIs and bodies, and 400 (never forwarded) for the
framing tricks behind request smuggling. aiohttp's server has no header timeout and
answers oversized headers with 400, so it is not used here. A refused request is
answered, then the connection is half-closed and what the client still sends is read
and dropped for a moment (nginx's lingering close): closing a socket with unread
bytes sends a reset, which can destroy the answer before the client reads it.

Each client connection is an ``asyncio.Protocol`` (``_Client``) that serves a plain
request — its whole head at once, no body, a backend with an idle pooled connection,
an answer complete on arrival, which is nearly every request of a keep-alive client —
in callbacks, with no task and no await: parse, pick, send, and one write of the
answer. Those writes, to the backend and to the client, are held to the end of the
loop's pass and made together (``net.outbox``). Everything else (a body, a head in
pieces, a refusal, the queue, a new backend connection, a retry, a response that
streams) is handed to a task that serves the connection on asyncio streams with the
same code and hands it back when it is done.
Both ways give the same answers and the same events; the tests run through both.

Every decision goes through ``core.Balancer``; every request ends in exactly one
``RequestCompleted`` event carrying each attempt and the balancer's reason, and one
``Metrics.record``, both kept together for the requests that end in one pass of the
loop, at its end (``HttpProxy._book``). This module holds the proxy's life, its
connections, and the way of one request: content routing, session affinity, then the
forward flow, which ties the other parts together:

* ``net.pool_queue``: waiting for room when every backend is at its ``max_conns``;
* ``net.attempt``: one try on one backend, begun when picked and ended exactly once;
* ``net.upstream``: lbplay's own HTTP/1.1 client to the backends, with keep-alive pools;
* ``net.retry``: whether and where to try again (nginx's ``proxy_next_upstream``);
* ``net.relay``: the request body on its way out, the response on its way back;
* ``net.outbox``: the callbacks' writes, held to the end of the loop's pass.

Answers of the proxy itself are short plain text that say what happened: 502 (the
backend failed), 503 (no backend is eligible, or all are full), 504 (the backend timed
out); to a HEAD request, without the text.

WebSocket upgrades are not relayed in L7: a request that asks for one is answered 501
saying so, and L4 mode passes such connections through untouched (the NLB's way).
Relaying them is a tunnel after the 101, which this proxy does not do yet. Other
upgrades (``h2c``) are ignored, as a server may: the request is answered in HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from http import HTTPStatus
from typing import Any

from lbplay.core.affinity import COOKIE as AFFINITY_COOKIE
from lbplay.core.affinity import Affinity, Lookup
from lbplay.core.balancer import Balancer
from lbplay.core.events import Attempt, EventBus, RequestCompleted, make_request_completed
from lbplay.core.metrics import Metrics
from lbplay.core.picker import Pick, PickContext, make_pick_context
from lbplay.core.routing import DEFAULT_POOL, PathError, Router
from lbplay.errors import AllBackendsFull, ConfigError, NoBackendAvailable
from lbplay.model.config import ProxyConfig
from lbplay.net.attempt import ClientFailed, Failure, Try
from lbplay.net.bodies import NO_BODY_AT_ALL, Body, read_body
from lbplay.net.forwarding import TrustedProxies, request_header_lines
from lbplay.net.http1 import (
    NO_BODY,
    HeaderTimeout,
    HttpError,
    IncompleteRequest,
    RequestHead,
    parse_head,
    read_head,
    simple_response,
)
from lbplay.net.outbox import Outbox
from lbplay.net.pool_queue import PoolQueues
from lbplay.net.relay import BACKEND_HEADER, relay, relay_now
from lbplay.net.retry import may_retry, next_pick
from lbplay.net.service import Service, cancel_all, host_port
from lbplay.net.upstream import Response, Upstream

log = logging.getLogger(__name__)

#: Pending connections the listener accepts (Python's default of 100 overflows in bursts).
BACKLOG = 1024
#: After refusing a request or closing, how long and how much to read and drop.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20


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
        self._server: asyncio.Server | None = None
        #: The callbacks' writes, to clients and backends (see ``net.outbox``).
        self._outbox = Outbox()
        #: Requests finished in this pass of the loop, for ``_book``: each one's event and
        #: the status to count in metrics.
        self._finished: list[tuple[RequestCompleted, int]] = []
        self._upstream = Upstream(self.config, self._outbox)
        self._connections: set[_Client] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        # Requests waiting for a backend below its max_conns (all are full).
        self._queues = PoolQueues()
        #: The port asked for (0: any free one), then the port listened on.
        self.port = port

    # -- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{host_port(self.host, self.port)}"

    @property
    def queued(self) -> int:
        """Requests waiting in the queue because every backend is full."""
        return self._queues.waiting

    def set_config(self, config: ProxyConfig) -> None:
        """New retry rules, live (limits and timeouts are read per request too, but the
        Lab changes only retries while running)."""
        self.config = config
        self._upstream.config = config

    def set_pools(self, pools: Mapping[str, Balancer], router: Router | None) -> None:
        """Replace the routing pools (besides "default") and the rules, live."""
        for name, pool in pools.items():
            self._queues.attach(pool)
            if name == DEFAULT_POOL and pool is not self.balancer:
                raise ConfigError("the default pool is the proxy's own balancer")
        self.pools = {DEFAULT_POOL: self.balancer, **pools}
        self.router = router

    async def start(self) -> None:
        """Open the backend connection pool and start listening."""
        self._closing = False
        await self._upstream.open()
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _Client(self, loop),
                self.host,
                self.port,
                reuse_address=True,
                backlog=BACKLOG,
            )
        except OSError as error:
            await self._upstream.close()
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port}: {error.strerror}"
            ) from None
        # (Any: uvloop's server gives a list of sockets, and typeshed says a tuple, which
        # the compiled module would check.)
        server: Any = self._server
        self.port = server.sockets[0].getsockname()[1]
        for pool in self.pools.values():
            self._queues.attach(pool)

    async def stop(self) -> None:
        """Stop listening, close every client connection and the backend pool."""
        self._closing = True
        for pool in self.pools.values():
            self._queues.detach(pool)
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # Answers made and recorded are written before their connections are cut off.
        self._outbox.flush()
        self._book()
        for client in list(self._connections):
            client.abort()
        self._connections.clear()
        await cancel_all(self._tasks)
        self._book()  # (what the cancelled tasks finished)
        if server is not None:
            await server.wait_closed()
        await self._upstream.close()

    # -- connections ---------------------------------------------------------------

    async def _streams(self, client: _Client, first: Awaitable[bool] | None) -> None:
        """Serve ``client`` on streams: finish the request ``first`` (the rest of one
        begun in callbacks, if any), then read requests until the connection ends or
        can go back to callbacks."""
        reader, writer = client.reader, client.writer
        client._handed = None  # running: ``first`` ends its own try if cancelled
        loop = asyncio.get_running_loop()
        try:
            if first is not None and not await first:
                await self._linger(reader, writer)
            elif first is not None and client.resume():
                return  # back to callbacks: the connection stays open
            else:
                # The next head is due header_timeout after a response, or when the
                # callbacks would have wanted it.
                due = client.deadline if first is None else loop.time() + self.config.header_timeout
                if await self._serve(reader, writer, client, max(due - loop.time(), 0.0)):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # never let one connection take the proxy down
            log.exception("unexpected error serving %s", client.peer_ip)
            writer.transport.abort()
        finally:
            client.task = None
            if client._lost:
                self._connections.discard(client)
        if not writer.transport.is_closing():
            writer.close()

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: _Client,
        timeout: float,
    ) -> bool:
        """Read and forward requests until the connection ends (False) or has nothing
        buffered after a response, so callbacks can take over again (True). The first
        head is due within ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        while True:
            config = self.config
            try:
                head = await read_head(
                    reader,
                    timeout=timeout,
                    max_head=config.max_head,
                    max_uri=config.max_uri,
                    max_headers=config.max_headers,
                    loop=loop,
                )
            except HttpError as error:
                await self._refuse(reader, writer, error)
                return False
            if head is None:
                return False
            if not await self._handle(head, reader, writer, client.peer_ip):
                await self._linger(reader, writer)
                return False
            if client.resume():
                return True
            timeout = config.header_timeout

    async def _refuse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, error: HttpError
    ) -> None:
        """Answer a request the proxy will not forward, and close."""
        if not isinstance(error, HeaderTimeout | IncompleteRequest):
            # (A head too slow, or a client gone: nobody waits for an answer to those.)
            writer.write(
                simple_response(
                    error.status, error.reason, keep_alive=False, extra_headers=error.headers
                )
            )
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

    def _prepare(self, req: _Request) -> str:
        """What comes before the body: the checks, the pool, the headers to forward and
        the session affinity. Raises ``HttpError`` for a request refused here."""
        head = req.head
        if head.form == "asterisk":
            raise HttpError(501, "'OPTIONS *' is answered by each server; not forwarded")
        protocol = head.upgrade
        # Other upgrades (h2c from curl --http2) may be ignored, as RFC 9110 allows:
        # the headers are hop-by-hop and the request is answered in HTTP/1.1.
        if protocol is not None and protocol.strip().lower() == "websocket":
            raise HttpError(
                501,
                f"lbplay's L7 proxy does not relay protocol upgrades ({protocol}):"
                " switch to L4 ('lbplay ctl mode l4'), which passes the connection"
                " through, as an NLB would",
            )
        self._route(req)
        affinity = self.affinity
        headers = request_header_lines(
            head,
            req.peer_ip,
            req.trusted,
            # (The balancer's own cookie is not the backend's business: HAProxy's
            # "indirect".)
            drop_cookie=AFFINITY_COOKIE if affinity.mode == "cookie" else None,
        )
        req.lookup = affinity.lookup(req.client_ip, head.get_all, head.query)
        if self.config.hash_header:
            req.hash_key = head.get(self.config.hash_header) or req.client_ip
        return headers

    async def _handle(
        self,
        head: RequestHead,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer_ip: str,
    ) -> bool:
        """Forward one request; return whether the client connection can be reused."""
        req = self._request(head, reader, writer, peer_ip)
        try:
            headers = self._prepare(req)
            req.body = await read_body(head, reader, writer, self.config)
        except HttpError as error:
            return await self._refused(req, error)
        return await self._forward_rest(req, headers)

    def _request(
        self,
        head: RequestHead,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer_ip: str,
    ) -> _Request:
        trusted = peer_ip in self._trusted
        client_ip = self._trusted.client_ip(head, peer_ip) if trusted else peer_ip
        return _Request(
            head, reader, writer, self.clock(), peer_ip, trusted, client_ip, self.balancer
        )

    async def _refused(self, req: _Request, error: HttpError) -> bool:
        """Record and answer a request refused before it was forwarded (not reusable)."""
        self._finish(req, error.status, None, "", 0, error.reason)
        await self._refuse(req.reader, req.writer, error)
        return False

    async def _forward_rest(
        self,
        req: _Request,
        headers: str,
        begun: _Begun | None = None,
    ) -> bool:
        """Forward a prepared request (``begun``: as far as the callbacks took it);
        return whether the client connection can be reused."""
        keep_alive = await self._forward(req, headers, begun)
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

    async def _forward(self, req: _Request, headers: str, begun: _Begun | None = None) -> bool:
        """Try backends until one answers or the retry rules say stop; reply to the
        client. ``begun``: the pick, the try and the response the callbacks began with."""
        if begun is None or begun.pick is None:
            try:
                pick = await self._first_pick(req, None if begun is None else begun.unpicked)
            except NoBackendAvailable as error:
                failure = Failure("no backend", 503, str(error), sent=False, kind=None)
                return await self._fail(req, failure)
            attempt: Try | None = None
            pending: asyncio.Future[Response] | None = None
            fresh = False
        else:
            pick, attempt, pending, fresh = begun.pick, begun.attempt, begun.pending, begun.fresh
        retry_policy = self.config.retry
        while True:
            if attempt is None:
                req.tried.append(pick.backend.name)
                attempt = Try(req.balancer, pick, self.clock)
            try:
                if pending is None:
                    response = await self._upstream.send(
                        pick.backend, req.head, headers, req.body, fresh=fresh
                    )
                else:
                    waiting, pending = pending, None
                    response = await waiting
            except Failure as failed:
                req.attempts.append(attempt.failed(failed.outcome, failed.kind))
                retry = self._may_retry(req, sent=failed.sent) and self._next_pick(req, 0)
                if not retry:
                    return await self._fail(req, failed)
                pick, attempt, fresh = retry, None, False
                continue
            except ClientFailed as client_failed:
                # The client's fault, not the backend's; the backend saw a cut-off request.
                bad = client_failed.error
                record = attempt.ok(f"client failed ({bad.status})")
                req.attempts.append(record)
                self._finish(req, bad.status, record.backend, record.reason, 0, bad.reason)
                await req.body.settle()
                await self._refuse(req.reader, req.writer, bad)
                return False
            except BaseException:  # cancelled by stop(): the ticket must still be closed
                attempt.abandon()
                raise
            status = response.status
            if status in retry_policy.on_status and self._may_retry(req, sent=True):
                retry = self._next_pick(req, 1)
                if retry:
                    response.release()
                    kind = "5xx" if status >= 500 else None
                    req.attempts.append(attempt.failed(f"http {status}", kind, status))
                    pick, attempt, fresh = retry, None, False
                    continue
            cookie = self._bind(req, pick)
            relayed = await relay(
                req.head, req.writer, req.body, response, attempt, req.tried, cookie
            )
            return self._relayed(req, status, relayed)

    def _pick_now(self, req: _Request) -> Pick:
        """The first backend, now: raises ``AllBackendsFull`` when every one is full and
        ``NoBackendAvailable`` when none is eligible.

        A request pinned by session affinity goes to its backend if that one can serve
        (HAProxy keeps sticky traffic even on a draining server); otherwise it is
        balanced afresh and will be re-pinned."""
        pinned = req.lookup.pinned
        if pinned is not None:
            pick = req.balancer.pick_pinned(pinned, f"{pinned}: {req.lookup.note}")
            if pick is not None:
                return pick
            req.repinned = pinned
        return req.balancer.pick(make_pick_context(req.client_ip, req.hash_key, _NOTHING_TRIED))

    def _answer_now(
        self, req: _Request, pick: Pick, attempt: Try, response: Response, transport: Any
    ) -> bool:
        """Relay a response that is complete already, in one write (the callbacks' way of
        ``_forward``'s end); return whether the client connection can be reused."""
        cookie = self._bind(req, pick)
        relayed = relay_now(
            req.head, self._outbox, transport, req.body, response, attempt, req.tried, cookie
        )
        return self._relayed(req, response.status, relayed)

    def _bind(self, req: _Request, pick: Pick) -> str | None:
        """Session affinity remembers ``pick`` for the request: the Set-Cookie value to
        send, if any."""
        req.session, cookie = self.affinity.bind(
            req.lookup, pick.backend.name, repinned=req.repinned
        )
        return cookie

    def _relayed(
        self, req: _Request, status: int, relayed: tuple[bool, Attempt, int, str, int]
    ) -> bool:
        """Record a response relayed by ``relay`` or ``relay_now``; return whether the
        client connection can be reused."""
        keep_alive, record, sent, trouble, counted = relayed
        req.attempts.append(record)
        self._finish(req, status, record.backend, record.reason, sent, trouble, counted=counted)
        return keep_alive

    async def _first_pick(self, req: _Request, unpicked: NoBackendAvailable | None) -> Pick:
        """The first backend; when all are full, wait in the queue (then 503).
        ``unpicked``: what ``_pick_now`` already raised for this request."""
        if unpicked is None:
            try:
                return self._pick_now(req)
            except AllBackendsFull as full:
                unpicked = full
        config = self.config
        if not isinstance(unpicked, AllBackendsFull) or not config.queue_timeout:
            raise unpicked
        context = PickContext(client_ip=req.client_ip, hash_key=req.hash_key)
        return await self._queues.pick(
            req.balancer,
            context,
            str(unpicked),
            timeout=config.queue_timeout,
            limit=config.max_queue,
        )

    def _may_retry(self, req: _Request, *, sent: bool) -> bool:
        return may_retry(req.head.method, req.body, self.config.retry, sent=sent)

    def _next_pick(self, req: _Request, pending: int) -> Pick | None:
        """The backend for another try, or None when the retry budget is spent.

        ``pending``: tries made but not yet in ``req.attempts``.
        """
        return next_pick(
            req.balancer,
            self.config.retry,
            made=len(req.attempts) + pending,
            started=req.started,
            clock=self.clock,
            tried=req.tried,
            client_ip=req.client_ip,
            hash_key=req.hash_key,
        )

    async def _fail(self, req: _Request, failure: Failure) -> bool:
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
            simple_response(
                failure.status,
                text,
                keep_alive=keep_alive,
                extra_headers=extra,
                head=req.head.method == "HEAD",
            )
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
        """Record the request in metrics (as status ``counted`` if given) and publish its
        event, at the end of this pass of the loop (``_book``).

        ``backend`` is the last one tried, also when the proxy answered for it (a 502
        shows on the backend that failed); None when no backend was tried.
        """
        now = self.clock()
        finished = self._finished
        if not finished:
            asyncio.get_running_loop().call_soon(self._book)
        head = req.head
        # (RequestCompleted's fields in order: made faster than by keywords.)
        event = make_request_completed(
            now,
            req.client_ip,
            head.method,
            head.target,
            status,
            now - req.started,
            backend,
            tuple(req.attempts),
            reason,
            req.session,
            req.route,
            nbytes,
            error,
        )
        finished.append((event, status if counted is None else counted))

    def _book(self) -> None:
        """Record and publish the requests finished so far, one after another.

        Done together rather than as each request ends, as the writes are (``Outbox``):
        the metrics' and the events' code then stays in the CPU's caches from one
        request to the next. Measured with ``lbplay serve`` behind ``wrk -c32``: about
        2.6 µs less CPU per request (38.6 -> 36.0). Nobody sees the difference: the
        numbers and the event's time are taken when the request ends, and the book is
        kept before the loop reads from any socket again, so before a client can have
        read the answer (it runs after the pass's writes, in the same turn of the loop).
        """
        finished, self._finished = self._finished, []
        metrics, events = self.metrics, self.events
        for event, counted in finished:
            if metrics is not None:
                metrics.record(
                    event.backend,
                    counted,
                    event.latency,
                    event.bytes,
                    retried=len(event.attempts) > 1,
                    now=event.at,
                )
            if events is not None:
                events.publish(event)


class _Request:
    """One client request on its way through the proxy.

    A plain slotted class, not a dataclass: one is made per request, and default
    factories cost more than the fields they fill.
    """

    __slots__ = (
        "head",
        "reader",
        "writer",
        "started",
        "peer_ip",
        "trusted",
        "client_ip",
        "balancer",
        "body",
        "hash_key",
        "tried",
        "attempts",
        "route",
        "lookup",
        "repinned",
        "session",
    )

    def __init__(
        self,
        head: RequestHead,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        started: float,
        peer_ip: str,
        trusted: bool,
        client_ip: str,
        balancer: Balancer,
    ) -> None:
        self.head = head
        self.reader = reader
        self.writer = writer
        self.started = started
        #: The socket peer's address.
        self.peer_ip = peer_ip
        #: The peer is a trusted proxy (its X-Forwarded-* are believed).
        self.trusted = trusted
        #: The client's address (from X-Forwarded-For when the peer is trusted).
        self.client_ip = client_ip
        #: The balancer of the pool the request was routed to.
        self.balancer = balancer
        #: Until the body is read (a request refused before has none).
        self.body = NO_BODY_AT_ALL
        #: What hash algorithms hash: the client address or ``ProxyConfig.hash_header``.
        self.hash_key = client_ip
        #: Backends tried so far, in order (the X-Lbplay-Backend header).
        self.tried: list[str] = []
        self.attempts: list[Attempt] = []
        #: Why this pool (content routing).
        self.route = ""
        #: Session affinity: where the request was pinned, and a pin it could not keep.
        self.lookup = _NO_LOOKUP
        self.repinned = ""
        self.session = ""


class _Begun:
    """How far the callbacks took a request before handing it to a task: its first pick
    (or what picking raised), the try on it, and the future of the response; ``fresh``:
    the try is to be sent on a new connection (the pool had none idle)."""

    __slots__ = ("pick", "attempt", "pending", "unpicked", "fresh")

    def __init__(
        self,
        pick: Pick | None = None,
        attempt: Try | None = None,
        pending: asyncio.Future[Response] | None = None,
        unpicked: NoBackendAvailable | None = None,
    ) -> None:
        self.pick = pick
        self.attempt = attempt
        self.pending = pending
        self.unpicked = unpicked
        self.fresh = False


class _Client(asyncio.StreamReaderProtocol):
    """One client connection: plain requests served in callbacks, the rest on streams.

    A request is served here, with no task and no await, when it is plain: its whole
    head arrived at once and parses, it has no body, a backend can be picked at once
    and has an idle pooled connection, and the response is complete when its head
    arrives (most small answers come in one packet). That is almost every request of a
    keep-alive client. Anything else — a head in pieces, a body, a refusal, a queue, a
    new backend connection, a failure or retry, a response that streams — is handed,
    with the bytes already received, to a task that serves the connection on streams
    (``HttpProxy._streams``) with the same strictness; it hands the connection back as
    soon as a response is done and nothing is buffered. Requests are answered in order,
    one at a time: what a client pipelines waits in the buffer.

    The header timeout is one deadline per connection, moved on by every response and
    checked by one timer, not a timer per request.
    """

    def __init__(self, proxy: HttpProxy, loop: asyncio.AbstractEventLoop) -> None:
        self.reader = asyncio.StreamReader(limit=proxy.config.max_head, loop=loop)
        super().__init__(self.reader, loop=loop)
        self.proxy = proxy
        self.loop = loop
        self.writer: asyncio.StreamWriter
        self.peer_ip = "unix"
        #: The task serving the connection on streams, while it does.
        self.task: asyncio.Task[None] | None = None
        #: When the next request head is due (the loop's time).
        self.deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        # Bytes that came while a request was in flight (pipelined), and their state.
        self._buffered = b""
        self._reading_paused = False
        #: The transport holds more than its high-water mark for the client.
        self._writing_paused = False
        self._eof_seen = False
        self._lost = False
        # The request in flight in callbacks.
        self._req: _Request | None = None
        self._headers: str | None = None
        self._begun: _Begun | None = None
        # What was handed to the streams task, until it starts.
        self._handed: tuple[Coroutine[Any, Any, bool], _Begun | None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.writer = asyncio.StreamWriter(transport, self, self.reader, self.loop)  # type: ignore[arg-type]
        peer = transport.get_extra_info("peername")
        self.peer_ip = peer[0] if isinstance(peer, tuple) else "unix"
        if self.proxy._closing:
            transport.abort()  # type: ignore[attr-defined]
            return
        self.proxy._connections.add(self)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self.task is not None:
            super().data_received(data)
        elif self._req is not None or self._buffered:
            self._buffered += data
            if len(self._buffered) > 2 * self.proxy.config.max_head and not self._reading_paused:
                self._reading_paused = True
                self.writer.transport.pause_reading()  # type: ignore[attr-defined]
        else:
            try:
                self._serve_now(data)
            except Exception:  # a bug must not leave a try in flight or the client hanging
                log.exception("unexpected error serving %s", self.peer_ip)
                self.abort()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._writing_paused = True

    def resume_writing(self) -> None:
        super().resume_writing()
        self._writing_paused = False

    def eof_received(self) -> bool:
        if self.task is not None:
            return bool(super().eof_received())
        self._eof_seen = True
        if self._req is None:
            # Between requests, the client is done (after the last answer is written).
            self.proxy._outbox.close(self.writer.transport)
        return True  # (keep writing the answer to a request in flight)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._begun is None and self._handed is None and self.task is None:
            # (Else the request goes on, and stop() must still find it.)
            self.proxy._connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    # requests in callbacks

    def _serve_now(self, data: bytes) -> None:
        """Serve the request at the start of ``data`` if it is plain; else hand over."""
        proxy = self.proxy
        config = proxy.config
        end = data.find(b"\r\n\r\n", 0, config.max_head)
        if end < 1:
            self._to_streams(data, None)  # a head in pieces, or empty lines before it
            return
        cut = end + 4
        try:
            head = parse_head(
                data[:cut] if cut < len(data) else data,
                max_head=config.max_head,
                max_uri=config.max_uri,
                max_headers=config.max_headers,
            )
        except HttpError:
            self._to_streams(data, None)  # refused there, exactly as it would be
            return
        if head.body.has_body or head.expect_continue:
            self._to_streams(data, None)
            return
        rest = data[cut:]
        req = proxy._request(head, self.reader, self.writer, self.peer_ip)
        if head.body is not NO_BODY:
            req.body = Body(head.body, b"", None)  # Content-Length: 0
        try:
            headers = proxy._prepare(req)
        except HttpError as error:
            self._to_streams(rest, proxy._refused(req, error))
            return
        try:
            pick = proxy._pick_now(req)
        except NoBackendAvailable as unpicked:
            self._to_streams(rest, proxy._forward_rest(req, headers, _Begun(unpicked=unpicked)))
            return
        req.tried.append(pick.backend.name)
        # In flight from here: abort() ends the try, whatever happens next.
        begun = self._begun = _Begun(pick, Try(req.balancer, pick, proxy.clock))
        self._req, self._headers = req, headers
        pending = proxy._upstream.send_pooled(pick.backend, head, headers, req.body, self._answered)
        if pending is None:  # no idle connection to that backend: the task makes one
            self._req = self._headers = self._begun = None
            begun.fresh = True
            self._to_streams(rest, proxy._forward_rest(req, headers, begun), begun)
            return
        begun.pending = pending
        self._buffered = rest

    def _answered(self, pending: asyncio.Future[Response]) -> None:
        """The response's head is in (or the try failed): answer now, or hand over."""
        try:
            self._answer(pending)
        except Exception:  # as in data_received
            log.exception("unexpected error serving %s", self.peer_ip)
            self.abort()

    def _answer(self, pending: asyncio.Future[Response]) -> None:
        begun = self._begun
        failed = None if pending.cancelled() else pending.exception()
        if begun is None or begun.pending is not pending:
            return  # abandoned by stop()
        req, headers = self._req, self._headers
        assert req is not None
        assert headers is not None
        assert begun.pick is not None
        assert begun.attempt is not None
        proxy = self.proxy
        if failed is None:
            response = pending.result()
            if response.complete and response.status not in proxy.config.retry.on_status:
                transport = self.writer.transport
                keep_alive = proxy._answer_now(req, begun.pick, begun.attempt, response, transport)  # type: ignore[arg-type]
                self._req = self._headers = self._begun = None  # (abort() ends it till here)
                self._next(keep_alive)
                return
        elif isinstance(failed, Failure) and proxy._upstream.stale(failed, req.head, req.body):
            # A pooled connection the backend had closed: not its fault. Send again, on
            # a new connection (the other idle ones are likely closed too).
            begun.pending = None
            begun.fresh = True
        self._req = self._headers = self._begun = None
        self._to_streams(self._take_buffered(), proxy._forward_rest(req, headers, begun), begun)

    def _next(self, keep_alive: bool) -> None:
        """After a response: the next request, if one is buffered, or wait for one."""
        if self.writer.transport.is_closing():
            if self._lost:
                self.proxy._connections.discard(self)
            return
        if not keep_alive:
            self._to_streams(self._take_buffered(), _not_reusable())
            return
        if self._buffered:
            # A pipelined request: the answers held so far are written first, so that a
            # transport they fill past its high-water mark is seen (pause_writing)
            # before another request goes on. (A request that arrives later finds the
            # state of the flush before it.)
            self.proxy._outbox.flush()
        if self._writing_paused:  # the client reads slower than it asks: wait for it
            self._to_streams(self._take_buffered(), self._drained())
        elif self._buffered:
            self._await_head()  # (its clock starts now, also if it is in pieces)
            self._serve_now(self._take_buffered())
        elif self._eof_seen:
            self.proxy._outbox.close(self.writer.transport)  # after the answer
        else:
            self._await_head()

    async def _drained(self) -> bool:
        await self.writer.drain()
        return True

    def _take_buffered(self) -> bytes:
        data, self._buffered = self._buffered, b""
        if self._reading_paused:
            self._reading_paused = False
            self.writer.transport.resume_reading()  # type: ignore[attr-defined]
        return data

    # streams

    def _to_streams(
        self, data: bytes, first: Coroutine[Any, Any, bool] | None, begun: _Begun | None = None
    ) -> None:
        """Serve the connection on streams from here: ``data`` is what was received and
        not served, ``first`` the rest of a request begun here (as far as ``begun``)."""
        if first is not None:
            self._handed = (first, begun)  # until the task starts: see abort()
        if self.proxy._closing:  # stop() has run or is running: no new task
            self.abort()
            return
        reader = self.reader
        if not self._lost:
            if data:
                reader.feed_data(data)
            if self._eof_seen:
                reader.feed_eof()
        proxy = self.proxy
        self.task = task = self.loop.create_task(proxy._streams(self, first))
        proxy._tasks.add(task)
        task.add_done_callback(proxy._tasks.discard)

    def resume(self) -> bool:
        """Back to callbacks, if nothing is buffered (called by the streams task after
        a response; it then ends, leaving the connection open)."""
        reader = self.reader
        # (StreamReader has no public way to ask whether bytes are buffered.)
        if self._lost or getattr(reader, "_buffer", True) or reader.at_eof() or reader.exception():
            return False
        self._await_head()
        return True

    # deadlines and the end

    def _await_head(self) -> None:
        self.deadline = self.loop.time() + self.proxy.config.header_timeout
        if self._timer is None:
            self._timer = self.loop.call_at(self.deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self.task is not None or self._req is not None or self._lost:
            return  # a request in flight, or the streams task keeps its own time
        if self.loop.time() < self.deadline:
            self._timer = self.loop.call_at(self.deadline, self._expire)
            return
        self.writer.close()  # no head in time: an idle keep-alive client, or slowloris

    def abort(self) -> None:
        """Close at once (the proxy stops, or a bug); a try in flight here ends
        unrecorded."""
        begun, self._begun = self._begun, None
        self._req = self._headers = None
        if self._handed is not None:  # the task that was to go on was never run
            first, begun = self._handed
            self._handed = None
            first.close()
        if begun is not None:
            pending = begun.pending
            if pending is not None:
                if pending.done() and not pending.cancelled() and pending.exception() is None:
                    pending.result().release()  # (a response relayed or not: done with)
                pending.cancel()
            if begun.attempt is not None:
                begun.attempt.abandon()  # (nothing if it has ended)
        self.writer.transport.abort()


async def _not_reusable() -> bool:
    """A request already answered on a connection that cannot be reused."""
    return False


_NOTHING_TRIED: frozenset[str] = frozenset()
#: Until the affinity is looked up (a refused request is not); frozen, so shared.
_NO_LOOKUP = Lookup()
