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

Every decision goes through ``core.Balancer``; every request ends in exactly one
``RequestCompleted`` event carrying each attempt and the balancer's reason, and one
``Metrics.record``. This module holds the proxy's life, its connections, and the way
of one request: content routing, session affinity, then the forward flow, which ties
the other parts together:

* ``net.pool_queue``: waiting for room when every backend is at its ``max_conns``;
* ``net.attempt``: one try on one backend, begun when picked and ended exactly once;
* ``net.upstream``: lbplay's own HTTP/1.1 client to the backends, with keep-alive pools;
* ``net.retry``: whether and where to try again (nginx's ``proxy_next_upstream``);
* ``net.relay``: the request body on its way out, the response on its way back.

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
from collections.abc import Callable, Mapping
from http import HTTPStatus

from multidict import CIMultiDict

from lbplay.core.affinity import COOKIE as AFFINITY_COOKIE
from lbplay.core.affinity import Affinity, Lookup, without_cookie
from lbplay.core.balancer import Balancer
from lbplay.core.events import Attempt, EventBus, RequestCompleted
from lbplay.core.metrics import Metrics
from lbplay.core.picker import Pick, PickContext
from lbplay.core.routing import DEFAULT_POOL, PathError, Router
from lbplay.errors import AllBackendsFull, ConfigError, NoBackendAvailable
from lbplay.model.config import ProxyConfig
from lbplay.net.attempt import ClientFailed, Failure, Try
from lbplay.net.forwarding import TrustedProxies, request_headers, upgrade_wanted
from lbplay.net.http1 import (
    NO_BODY,
    HeaderTimeout,
    HttpError,
    IncompleteRequest,
    RequestHead,
    read_head,
    simple_response,
)
from lbplay.net.pool_queue import PoolQueues
from lbplay.net.relay import BACKEND_HEADER, Body, read_body, relay
from lbplay.net.retry import may_retry, next_pick
from lbplay.net.service import Service, cancel_all, host_port
from lbplay.net.upstream import Upstream

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
        self._upstream = Upstream(self.config)
        self._connections: set[asyncio.StreamWriter] = set()
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
            await self._upstream.close()
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port}: {error.strerror}"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
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
        for writer in list(self._connections):
            writer.transport.abort()
        await cancel_all(self._tasks)
        if server is not None:
            await server.wait_closed()
        await self._upstream.close()

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
        loop = asyncio.get_running_loop()
        while True:
            try:
                head = await read_head(
                    reader,
                    timeout=config.header_timeout,
                    max_head=config.max_head,
                    max_uri=config.max_uri,
                    max_headers=config.max_headers,
                    loop=loop,
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
            protocol = upgrade_wanted(head)
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
            headers = request_headers(head, peer_ip, peer_ip in self._trusted)
            req.lookup = self.affinity.lookup(client_ip, head.get_all, head.query)
            if self.affinity.mode == "cookie":
                _strip_affinity_cookie(headers)
            req.body = await read_body(head, reader, writer, self.config)
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

    async def _forward(self, req: _Request, headers: CIMultiDict[str]) -> bool:
        """Try backends until one answers or the retry rules say stop; reply to the client."""
        try:
            pick = await self._first_pick(req)
        except NoBackendAvailable as error:
            failure = Failure("no backend", 503, str(error), sent=False, kind=None)
            return await self._fail(req, failure)
        retry_policy = self.config.retry
        while True:
            req.tried.append(pick.backend.name)
            attempt = Try(req.balancer, pick, self.clock)
            try:
                response = await self._upstream.send(pick.backend, req.head, headers, req.body)
            except Failure as failed:
                req.attempts.append(attempt.failed(failed.outcome, failed.kind))
                retry = self._may_retry(req, sent=failed.sent) and self._next_pick(req, 0)
                if not retry:
                    return await self._fail(req, failed)
                pick = retry
                continue
            except ClientFailed as failed:
                # The client's fault, not the backend's; the backend saw a cut-off request.
                bad = failed.error
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
                    pick = retry
                    continue
            req.session, cookie = self.affinity.bind(
                req.lookup, pick.backend.name, repinned=req.repinned
            )
            keep_alive, record, sent, trouble, counted = await relay(
                req.head, req.writer, req.body, response, attempt, req.tried, cookie
            )
            req.attempts.append(record)
            self._finish(req, status, record.backend, record.reason, sent, trouble, counted=counted)
            return keep_alive

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
        config = self.config
        return await self._queues.pick(
            req.balancer, context, why, timeout=config.queue_timeout, limit=config.max_queue
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
        client_ip: str,
        balancer: Balancer,
    ) -> None:
        self.head = head
        self.reader = reader
        self.writer = writer
        self.started = started
        #: The client's address (from X-Forwarded-For when the peer is trusted).
        self.client_ip = client_ip
        #: The balancer of the pool the request was routed to.
        self.balancer = balancer
        #: Until the body is read (a request refused before has none).
        self.body = Body(NO_BODY, b"", None)
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


#: Until the affinity is looked up (a refused request is not); frozen, so shared.
_NO_LOOKUP = Lookup()


def _strip_affinity_cookie(headers: CIMultiDict[str]) -> None:
    """Remove the balancer's own affinity cookie before forwarding (HAProxy "indirect")."""
    values = headers.getall("Cookie", [])
    if not values:
        return
    del headers["Cookie"]
    for value in values:
        kept = without_cookie(value, AFFINITY_COOKIE)
        if kept:
            headers.add("Cookie", kept)
