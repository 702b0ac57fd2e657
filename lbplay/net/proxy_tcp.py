"""The layer 4 proxy: one pick per TCP connection, then bytes copied both ways.

This is the other half of the "L4 balances connections, not requests" lesson. The
proxy accepts a TCP connection, asks the ``Balancer`` once, connects to that backend
and copies bytes until both directions are finished. It never parses HTTP, so every
request that rides a keep-alive connection goes to the backend picked when the
connection opened — exactly what an AWS NLB or HAProxy ``mode tcp`` does. What it
cannot do is spelled out in ``L4_LIMITS`` and ``L7_ONLY`` for the UI to show.

One connection, from accept to close:

* **pick and connect**: ``PickContext(client_ip=peer, hash_key=peer)``; a connection
  that is refused, fails or takes longer than ``connect_timeout`` is retried on another
  backend (``avoid`` grows, HAProxy's ``redispatch``), up to ``max_connect_tries``.
  Each try is an ``Attempt``. If nothing is eligible or every try failed the client is
  simply closed: L4 has no way to say "503".
* **copy**: two pumps, client→backend and backend→client, each ``read`` → ``write`` →
  ``await drain()``. ``drain`` is the backpressure: while a slow receiver has not taken
  what we wrote, the pump does not read, the stream stops reading its socket, and the
  kernel's window pushes back on the fast sender. At most about 64 KiB waits in each
  transport and 128 KiB in each reader, whatever the sender does.
* **half-close**: EOF from one side becomes ``write_eof()`` (a FIN) on the other, and the
  other direction keeps flowing. When both have ended the connection is ``"closing"``
  until the bytes still in its transports are delivered (``drain`` returns at the
  high-water mark, not at empty, so aborting then would cut the end off a download).
* **idle timeout**: one timer per connection, re-armed lazily from the time of the last
  chunk (no per-chunk timer churn); when nothing has moved either way for
  ``idle_timeout`` seconds both sides are closed with the error ``"idle timeout"``.
* **errors**: a reset, broken pipe or any other socket error ends that connection
  only; the surviving side is reset too (SO_LINGER 0), so a reset arrives as a reset.
  Nothing is logged for network errors; the ``ConnectionCompleted`` event says why.

Accounting: ``Balancer.begin`` once the backend connection is up, ``transferred`` for
the bytes moved backend→client (the response direction, as the L7 proxy counts them,
so ``least_bandwidth`` means the same thing in both modes), ``end`` when the
connection closes, with the connection's duration as its latency and ``ok=False``
when it ended with an error. Bytes client→backend are counted in the event
(``bytes_up``) only.

Nothing is done per chunk besides the read itself, a counter, a clock read and the
balancer's byte count: no events, no logging, no timers, no other allocation.
``connections()`` gives live snapshots (state, backend, bytes, bytes held) for a UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from lbplay.core.balancer import Balancer, Ticket
from lbplay.core.events import Attempt, ConnectionCompleted, EventBus
from lbplay.core.picker import Pick, PickContext
from lbplay.errors import ConfigError, LbplayError, NoBackendAvailable
from lbplay.net.service import Service, cancel_all, host_port

log = logging.getLogger(__name__)

#: What L4 mode cannot do, in one paragraph, for the UI and the CLI.
L4_LIMITS = (
    "L4 mode balances TCP connections, not requests: every request on a keep-alive"
    " connection goes to the backend picked when the connection opened. It cannot see"
    " paths, headers or cookies, so content routing, cookie stickiness, retries of"
    " individual requests, X-Forwarded-For and HTTP error pages are unavailable;"
    " stickiness by client IP (ip_hash) still works."
)

#: L7 features the UI may offer, each with why L4 mode cannot provide it.
L7_ONLY: Mapping[str, str] = MappingProxyType(
    {
        "routing": "paths and Host headers are inside the byte stream, which L4 does not read",
        "cookie_sessions": "cookies are HTTP headers; L4 sees only addresses and ports",
        "request_retries": (
            "L4 can retry only the connect; once bytes flowed it cannot tell where one"
            " request ends, so it cannot replay it"
        ),
        "x_forwarded_for": "adding a header means rewriting HTTP; backends see the proxy's address",
        "status_codes": "no HTTP means no 502/503/504: a failure is a closed or reset connection",
        "request_validation": "malformed HTTP passes through untouched; only backends reject it",
    }
)

#: Bytes per read: large enough for bulk transfers, one allocation per chunk.
CHUNK = 64 * 1024
#: Pending connections the kernel queues before we accept them (benchmarks open many).
BACKLOG = 1024
# SO_LINGER on, timeout 0: close() sends RST instead of FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)


#: Where a connection is: picking and connecting, copying, or delivering its last bytes.
ConnectionState = Literal["connecting", "open", "closing"]


@dataclass(frozen=True, slots=True)
class LiveConnection:
    """A snapshot of one open connection, for dashboards and tests."""

    client: str
    state: ConnectionState
    #: The backend's name; None while still connecting.
    backend: str | None
    #: When it was accepted, on the proxy's clock.
    started: float
    bytes_up: int
    bytes_down: int
    #: Bytes the proxy holds in its transports' write buffers, both sides (backpressure
    #: keeps this near the 64 KiB high-water mark per side).
    buffered: int


class _Conn:
    """Everything the proxy knows about one client connection."""

    __slots__ = (
        "client",
        "client_ip",
        "started",
        "client_writer",
        "backend_writer",
        "backend",
        "pick",
        "tries",
        "state",
        "ticket",
        "bytes_up",
        "bytes_down",
        "last",
        "error",
        "reset",
        "timer",
    )

    def __init__(
        self, client: str, client_ip: str, started: float, writer: asyncio.StreamWriter
    ) -> None:
        self.client = client
        self.client_ip = client_ip
        self.started = started
        self.client_writer = writer
        self.backend_writer: asyncio.StreamWriter | None = None
        self.backend: str | None = None
        self.pick: Pick | None = None
        # (pick, outcome, seconds) per try; Attempts (and their reasons, which may be
        # formatted on demand) are built only if somebody listens to events.
        self.tries: list[tuple[Pick, str, float]] = []
        self.state: ConnectionState = "connecting"
        self.ticket: Ticket | None = None
        self.bytes_up = 0
        self.bytes_down = 0
        # Loop time of the last chunk, for the idle timer.
        self.last = 0.0
        # The first error wins: later ones are consequences of it.
        self.error = ""
        self.reset = False
        self.timer: asyncio.TimerHandle | None = None

    def fail(self, error: str, *, reset: bool = False) -> None:
        """Record why the connection is ending and cut both sides now."""
        if not self.error:
            self.error = error
            self.reset = reset
        for writer in (self.client_writer, self.backend_writer):
            if writer is not None:
                _abort(writer.transport, reset=self.reset)


def _abort(transport: asyncio.WriteTransport, *, reset: bool) -> None:
    """Drop a connection at once, with an RST when ``reset`` (as a dying host would).

    A transport that is closing with bytes still to flush is cut off too. One that is
    closing with nothing left to send is left alone: there is nothing to drop, and on
    Python 3.11 ``abort()`` raises AttributeError once ``close()`` has finished after a
    flush.
    """
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # A socket already closed under the transport: OSError here, ValueError
            # ("negative file descriptor") under uvloop. Either way nothing to reset.
            with contextlib.suppress(OSError, ValueError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    if transport.is_closing() and not transport.get_write_buffer_size():
        return
    transport.abort()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, BrokenPipeError):
        return "broken pipe"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _split_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:8001"`` or ``"[::1]:8001"`` → host and port; ValueError if neither."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"bad backend address {address!r}: expected host:port")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _peer(writer: asyncio.StreamWriter) -> tuple[str, str]:
    """The client as ``ip:port`` and its bare IP (``?`` if the socket no longer knows)."""
    peer = writer.get_extra_info("peername")
    if not isinstance(peer, tuple) or len(peer) < 2:
        return "?", "?"
    ip, port = str(peer[0]), peer[1]
    return (f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"), ip


class TcpProxy(Service):
    """A layer 4 load balancer on ``host:port``; see the module docstring."""

    LIMITS = L4_LIMITS

    def __init__(
        self,
        balancer: Balancer,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float = 60.0,
        connect_timeout: float = 2.0,
        max_connect_tries: int = 3,
        events: EventBus | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"bad port {port!r}: use 0 (any free port) or 1-65535")
        for what, value in (("idle timeout", idle_timeout), ("connect timeout", connect_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigError(f"bad {what} {value!r}: use a positive number of seconds")
        if (
            isinstance(max_connect_tries, bool)
            or not isinstance(max_connect_tries, int)
            or max_connect_tries < 1
        ):
            raise ConfigError(
                f"bad max_connect_tries {max_connect_tries!r}: use a whole number, at least 1"
            )
        self.balancer = balancer
        self.host = host
        self.idle_timeout = float(idle_timeout)
        self.connect_timeout = float(connect_timeout)
        self.max_connect_tries = max_connect_tries
        self.events = events
        self.clock = clock
        self._requested_port = port
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._closing = False
        self._conns: set[_Conn] = set()
        # Every task this proxy created (connection handlers and their second pumps),
        # so stop() can cancel and await them all.
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        where = self.address if self._port is not None else "not started"
        return f"TcpProxy({where}, {len(self._conns)} open)"

    # -- where and how it is ---------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on (the OS's choice when asked for 0)."""
        if self._port is None:
            raise RuntimeError("the TCP proxy has not been started")
        return self._port

    @property
    def address(self) -> str:
        """``host:port``, the form ``Backend.address`` uses."""
        return host_port(self.host, self.port)

    @property
    def url(self) -> str:
        """``http://host:port``: what to curl when the backends speak HTTP (L4 does not care)."""
        return f"http://{self.address}"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def open_connections(self) -> int:
        """Client connections accepted and not yet closed (connecting ones included)."""
        return len(self._conns)

    def connections(self) -> tuple[LiveConnection, ...]:
        """A snapshot of every open connection."""
        snapshot = []
        for conn in self._conns:
            buffered = sum(
                w.transport.get_write_buffer_size()
                for w in (conn.client_writer, conn.backend_writer)
                if w is not None and not w.transport.is_closing()
            )
            snapshot.append(
                LiveConnection(
                    conn.client,
                    conn.state,
                    conn.backend,
                    conn.started,
                    conn.bytes_up,
                    conn.bytes_down,
                    buffered,
                )
            )
        return tuple(snapshot)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening; read the real port back from ``port``."""
        if self._server is not None:
            raise RuntimeError(f"the TCP proxy is already listening on {self.address}")
        self._closing = False
        try:
            server = await asyncio.start_server(
                self._accept, self.host, self._requested_port, backlog=BACKLOG
            )
        except OSError as exc:
            raise LbplayError(
                f"the TCP proxy cannot listen on {self.host} port {self._requested_port}:"
                f" {exc.strerror or exc}"
            ) from exc
        self._server = server
        self._port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener and every connection; return once no task of ours runs."""
        server, self._server = self._server, None
        self._closing = True
        if server is not None:
            server.close()
        await cancel_all(self._tasks)
        if server is not None:
            await server.wait_closed()
        # Let the transports we aborted run connection_lost, so their sockets are closed
        # when stop() returns.
        await asyncio.sleep(0)

    # -- one connection ------------------------------------------------------------

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain function, not a coroutine: the task is registered before the loop runs
        # anything else, so stop() can never miss a connection that was just accepted.
        if self._closing:
            writer.transport.abort()
            return
        self._spawn(self._serve(reader, writer))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client, client_ip = _peer(writer)
        conn = _Conn(client, client_ip, self.clock(), writer)
        self._conns.add(conn)
        up: asyncio.Task[None] | None = None
        try:
            backend_reader = await self._connect(conn)
            if backend_reader is None:
                return
            backend_writer = conn.backend_writer
            assert backend_writer is not None
            loop = asyncio.get_running_loop()
            conn.last = loop.time()
            conn.timer = loop.call_at(conn.last + self.idle_timeout, self._check_idle, conn)
            up = self._spawn(self._pump(conn, reader, backend_writer, None))
            await self._pump(conn, backend_reader, writer, conn.ticket)
            # The backend finished sending; the client may still be (half-close).
            await up
            if not conn.error:
                await self._flush(conn)
        except asyncio.CancelledError:
            conn.fail("proxy stopped")
            raise
        except Exception as exc:  # a bug: end this connection, keep the proxy serving
            log.exception("TCP proxy: unexpected error on a connection from %s", conn.client)
            conn.fail(f"proxy error: {exc!r}")
        finally:
            if up is not None and not up.done():
                up.cancel()
            self._finish(conn)

    async def _connect(self, conn: _Conn) -> asyncio.StreamReader | None:
        """Pick and connect, trying other backends on failure; None if nobody answered."""
        tried: set[str] = set()
        ctx = PickContext(client_ip=conn.client_ip, hash_key=conn.client_ip)
        why = ""
        for _ in range(self.max_connect_tries):
            if tried:
                ctx = PickContext(
                    client_ip=conn.client_ip, hash_key=conn.client_ip, avoid=frozenset(tried)
                )
            try:
                pick = self.balancer.pick(ctx)
            except NoBackendAvailable as exc:
                why = str(exc)
                break
            backend = pick.backend
            if backend.name in tried:  # the picker had nothing left that we had not tried
                break
            tried.add(backend.name)
            started = self.clock()
            try:
                if backend.address is None:
                    raise ValueError(f"backend {backend.name!r} has no address")
                host, port = _split_address(backend.address)
                async with asyncio.timeout(self.connect_timeout):
                    reader, writer = await asyncio.open_connection(host, port)
            except (OSError, ValueError) as exc:
                conn.tries.append((pick, _describe(exc), self.clock() - started))
                continue
            conn.tries.append((pick, "ok", self.clock() - started))
            conn.backend_writer = writer
            conn.backend = backend.name
            conn.pick = pick
            conn.ticket = self.balancer.begin(pick)
            conn.state = "open"
            return reader
        if not why:
            tries = ", ".join(
                f"{tried_pick.backend.name} {outcome}" for tried_pick, outcome, _ in conn.tries
            )
            why = f"no backend accepted the connection ({tries})"
        # No 503 at L4: closing is all a connection-level balancer can say.
        conn.error = why
        return None

    async def _pump(
        self,
        conn: _Conn,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        ticket: Ticket | None,
    ) -> None:
        """Copy one direction until EOF, then pass the EOF on (half-close).

        ``ticket`` is given for backend→client only: those are the bytes the balancer
        counts.
        """
        source, sink = ("backend", "client") if ticket is not None else ("client", "backend")
        read, write, drain = reader.read, writer.write, writer.drain
        transport = writer.transport
        transferred = self.balancer.transferred
        now = asyncio.get_running_loop().time
        while True:
            try:
                data = await read(CHUNK)
            except OSError as exc:
                conn.fail(f"{source} {_describe(exc)}", reset=True)
                return
            if not data:
                break
            n = len(data)
            conn.last = now()
            write(data)
            if ticket is not None:
                conn.bytes_down += n
                transferred(ticket, n)
            else:
                conn.bytes_up += n
            if not transport.get_write_buffer_size() and not transport.is_closing():
                continue  # all sent already: drain() would return at once (and costs)
            try:
                await drain()  # the backpressure: no next read until the sink took this
            except OSError as exc:
                conn.fail(f"{sink} {_describe(exc)}", reset=True)
                return
        if writer.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                writer.write_eof()

    async def _flush(self, conn: _Conn) -> None:
        """Close both sides once their last bytes are delivered.

        Up to a high-water mark may still wait in each transport. A peer that never
        takes it is cut off by the idle timer, which is still running.
        """
        conn.state = "closing"
        writers = [w for w in (conn.client_writer, conn.backend_writer) if w is not None]
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _check_idle(self, conn: _Conn) -> None:
        deadline = conn.last + self.idle_timeout
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            conn.timer = None
            conn.fail("idle timeout")
        else:
            conn.timer = loop.call_at(deadline, self._check_idle, conn)

    def _finish(self, conn: _Conn) -> None:
        """Close both sides, settle the accounting and publish the event (never raises)."""
        if conn.timer is not None:
            conn.timer.cancel()
            conn.timer = None
        for writer in (conn.client_writer, conn.backend_writer):
            if writer is None:
                continue
            transport = writer.transport
            try:
                if conn.error or transport.get_write_buffer_size():
                    _abort(transport, reset=conn.reset)
                else:
                    transport.close()
            except Exception:  # a transport that fails to close must not skip the rest
                log.exception("closing a connection of %s failed", conn.client)
        self._conns.discard(conn)
        duration = self.clock() - conn.started
        if conn.ticket is not None:
            self.balancer.end(conn.ticket, ok=not conn.error, latency=duration)
        if self.events is not None:
            self.events.publish(
                ConnectionCompleted(
                    at=self.clock(),
                    client=conn.client,
                    backend=conn.backend,
                    duration=duration,
                    bytes_up=conn.bytes_up,
                    bytes_down=conn.bytes_down,
                    reason=conn.pick.reason if conn.pick is not None else "",
                    error=conn.error,
                    attempts=tuple(
                        Attempt(pick.backend.name, pick.reason, outcome, latency=seconds)
                        for pick, outcome, seconds in conn.tries
                    ),
                )
            )
