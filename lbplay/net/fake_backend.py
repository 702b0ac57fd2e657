"""Fake backends: real aiohttp servers on loopback that can be slowed, broken and killed.

Everything a learner sees in lbplay is measured from real requests, so the servers
behind the balancer are real too: each ``FakeBackend`` listens on 127.0.0.1 with an
OS-assigned port, in this process, and has knobs that can be turned while it runs.

Knobs (validated; a bad value raises ``ConfigError``):

* ``latency`` — a ``LatencyModel``: fixed, uniform or lognormal (heavy-tailed),
  in milliseconds; ``slow_ms`` is an extra delay on top ("make s2 slow").
* ``error_rate`` — the chance, 0..1, that a request is answered 500. A failing request
  answers after ``error_ms`` (1 ms by default) instead of its sampled latency: a
  server whose database is down fails fast, which is what fools latency-aware
  balancing (``slow_ms`` is still added).
* ``capacity`` — most requests served at once (None: unlimited). The excess waits in
  FIFO order, so overload shows up as latency, as it does on a real server.
* ``hang`` — requests are read but never answered, until hang is turned off (they then
  carry on normally) or the backend is killed or stopped (they are dropped).
* ``brownout`` — ``/health`` keeps answering 200 while every other request is
  answered 500 (after ``error_ms``): a shallow health check lies.

One request goes through: hang (every path, ``/health`` too) → ``/health`` answers at
once, ignoring latency, capacity, errors and brownout, because a shallow check proves
only that the process answers → wait for a capacity slot → decide whether it fails
(brownout, or an injected error) → sleep ``error_ms`` if so, else the sampled latency,
plus ``slow_ms``, while holding the slot → a failing request answers 500 →
otherwise the route's handler runs (still holding the slot, so ``/bytes`` streams count
as busy). A client that gives up does not free the slot: like a real server, the
backend keeps working on a request nobody waits for, which is why retries add load.

Lifecycle: ``start()`` → ``kill()`` ⇄ ``revive()`` → ``stop()``.

* ``kill`` is a crash: the listening socket closes (new connections are refused), open
  connections are reset (RST, via SO_LINGER 0, so clients see "connection reset", not a
  clean close), in-flight requests are dropped and the aiohttp application is torn
  down, so anything it kept in memory is lost.
* ``revive`` is a restart: a fresh application listens again on the *same* port
  (SO_REUSEADDR), so the balancer's address for the backend stays valid.
* ``stop`` is the end: listener closed, in-flight requests cancelled, connections
  closed, no task or socket left behind.

Endpoints: ``/health``; ``/bytes?n=N`` streams N bytes (for least_bandwidth); ``/ws``
is a WebSocket that answers each message with "<name>: <message>" (a long-lived
connection, for L4 versus L7); any other
path echoes what the backend saw as JSON (backend, method, raw path, headers, body
length). Every response carries ``X-Backend: <name>``.

Extension seam: pass ``installers`` — callables ``(app, backend) -> None`` run by
``build_app`` after the built-in routes and before the catch-all echo — to add routes
such as ``/login`` and ``/profile`` without editing this module. Their routes go
through the same faults (a browned-out backend fails logins too). Handlers reach the
backend with ``request.app[BACKEND_KEY]``; per-process state belongs in the
``Application`` (set it up in ``on_startup`` or ``cleanup_ctx``), so a kill loses it
exactly as a crash loses a server's in-memory sessions.

Randomness is injected: pass a seeded ``random.Random``; the default is seeded from the
name (string seeds are hashed with SHA-512, not the salted ``hash()``), so the same
fleet gives the same latencies and errors on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from aiohttp import WSMsgType, hdrs, web
from aiohttp.typedefs import Handler

from lbplay.core.backends import check_name
from lbplay.errors import ConfigError, LbplayError
from lbplay.model.faults import LatencyModel, check_ms
from lbplay.model.wire import FAKE_BACKEND_HEADER
from lbplay.net.service import Service, host_port

BackendState = Literal["stopped", "alive", "killed"]

#: Installs extra routes (or middlewares, signals) on a backend's fresh application.
Installer = Callable[[web.Application, "FakeBackend"], None]

#: ``/bytes`` streams at most 1 GiB per request.
MAX_BYTES = 1 << 30
CHUNK_SIZE = 64 * 1024
#: How long a failing request takes by default: failures are fast (a refused query,
#: a missing dependency), and fast failures are what fool latency-aware balancing.
DEFAULT_ERROR_MS = 1.0
_SHUTDOWN_TIMEOUT = 1.0
#: The route name that marks the shallow health check (exempt from latency and errors).
HEALTH_ROUTE = "health"

_ZEROS = memoryview(bytes(CHUNK_SIZE))
# SO_LINGER on, timeout 0: close() sends RST instead of FIN, as when a host dies.
_LINGER_RESET = struct.pack("ii", 1, 0)


@dataclass(frozen=True, slots=True)
class FakeBackendStats:
    """A snapshot of one backend's counters, for dashboards and lesson checks.

    ``/health`` answers are counted in ``health_checks`` only, so that health checking
    does not pollute the request numbers.
    """

    #: Requests (other than /health) that reached the backend.
    received: int = 0
    #: Requests answered by their route's handler (whatever status it chose).
    served: int = 0
    #: 500s the backend chose to give: injected by ``error_rate`` or ``brownout``.
    errors: int = 0
    #: Requests inside the backend now: hung, queued or being served.
    in_progress: int = 0
    #: Requests waiting for a capacity slot.
    queued: int = 0
    #: Requests held by ``hang``.
    hung: int = 0
    health_checks: int = 0
    #: Body bytes streamed by ``/bytes``.
    bytes_sent: int = 0


class _Gate:
    """A FIFO concurrency limit that can be resized while requests wait on it.

    ``asyncio.Semaphore`` cannot shrink below the permits already handed out; here the
    limit is compared with the number of holders at each release, so lowering it takes
    effect as requests finish.
    """

    def __init__(self, limit: int | None, on_change: Callable[[], None]) -> None:
        self._limit = limit
        self._active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_change = on_change

    @property
    def queued(self) -> int:
        return sum(not fut.done() for fut in self._waiters)

    def set_limit(self, limit: int | None) -> None:
        self._limit = limit
        self._wake()

    def _has_room(self) -> bool:
        return self._limit is None or self._active < self._limit

    def _wake(self) -> None:
        woke = False
        while self._waiters and self._has_room():
            fut = self._waiters.popleft()
            if not fut.done():  # a cancelled waiter gives up its place in line
                self._active += 1
                fut.set_result(None)
                woke = True
        if woke:
            self._on_change()

    async def __aenter__(self) -> None:
        if not self._waiters and self._has_room():
            self._active += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._wake()  # there may be room after all, behind waiters that gave up
        self._on_change()
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # Granted a slot in the same instant as cancelled: hand it on.
                self._active -= 1
                self._wake()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
                self._on_change()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._active -= 1
        self._wake()


def _check_error_rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(f"bad error rate {value!r}: use a fraction from 0 to 1 (0.05 = 5%)")
    return float(value)


def _check_capacity(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"bad capacity {value!r}: use a whole number of concurrent requests, at least 1"
            " (or none for unlimited)"
        )
    return value


def _check_flag(what: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"bad {what} {value!r}: use true or false")
    return value


def _reset(transport: asyncio.Transport) -> None:
    """Drop a connection the way a dying host does: with a TCP reset."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


class FakeBackend(Service):
    """One fake HTTP server; see the module docstring for what its knobs do."""

    def __init__(
        self,
        name: str,
        *,
        rng: random.Random | None = None,
        host: str = "127.0.0.1",
        latency: LatencyModel | None = None,
        slow_ms: float = 0.0,
        error_rate: float = 0.0,
        error_ms: float = DEFAULT_ERROR_MS,
        capacity: int | None = None,
        hang: bool = False,
        brownout: bool = False,
        installers: Sequence[Installer] = (),
    ) -> None:
        self.name = check_name(name)
        self.host = host
        self.rng = rng if rng is not None else random.Random(name)
        self._installers = tuple(installers)

        self._state: BackendState = "stopped"
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        # The application of the current life; None once it starts dying.
        self._app: web.Application | None = None
        self._lifecycle = asyncio.Lock()
        # Handler tasks of requests inside the backend, so kill/stop can drop them.
        self._requests: set[asyncio.Task[object]] = set()
        self._watchers: list[asyncio.Future[None]] = []

        self._received = 0
        self._served = 0
        self._errors = 0
        self._in_progress = 0
        self._hung = 0
        self._health_checks = 0
        self._bytes_sent = 0

        self._latency = LatencyModel()
        self._slow_ms = 0.0
        self._error_rate = 0.0
        self._error_ms = DEFAULT_ERROR_MS
        self._hang = False
        self._brownout = False
        # Set while not hanging; hung requests wait on it.
        self._unhung = asyncio.Event()
        self._unhung.set()
        self._gate = _Gate(None, self._notify)

        self.latency = latency if latency is not None else LatencyModel()
        self.slow_ms = slow_ms
        self.error_rate = error_rate
        self.error_ms = error_ms
        self.capacity = capacity
        self.hang = hang
        self.brownout = brownout

    def __repr__(self) -> str:
        where = self.address if self._port is not None else "no port"
        return f"FakeBackend({self.name!r}, {self._state}, {where})"

    # -- knobs ---------------------------------------------------------------------

    @property
    def latency(self) -> LatencyModel:
        return self._latency

    @latency.setter
    def latency(self, model: LatencyModel) -> None:
        if not isinstance(model, LatencyModel):
            raise ConfigError(f"bad latency {model!r}: expected a LatencyModel")
        self._latency = model

    @property
    def slow_ms(self) -> float:
        """Extra delay, in milliseconds, added to every sampled latency."""
        return self._slow_ms

    @slow_ms.setter
    def slow_ms(self, value: float) -> None:
        self._slow_ms = check_ms("slow delay", value)

    @property
    def error_ms(self) -> float:
        """How long a failing request takes, in milliseconds (before ``slow_ms``)."""
        return self._error_ms

    @error_ms.setter
    def error_ms(self, value: float) -> None:
        self._error_ms = check_ms("error latency", value)

    @property
    def error_rate(self) -> float:
        return self._error_rate

    @error_rate.setter
    def error_rate(self, value: float) -> None:
        self._error_rate = _check_error_rate(value)

    @property
    def capacity(self) -> int | None:
        return self._capacity

    @capacity.setter
    def capacity(self, value: int | None) -> None:
        self._capacity = _check_capacity(value)
        self._gate.set_limit(self._capacity)

    @property
    def hang(self) -> bool:
        return self._hang

    @hang.setter
    def hang(self, value: bool) -> None:
        self._hang = _check_flag("hang", value)
        if self._hang:
            self._unhung.clear()
        else:
            self._unhung.set()

    @property
    def brownout(self) -> bool:
        return self._brownout

    @brownout.setter
    def brownout(self, value: bool) -> None:
        self._brownout = _check_flag("brownout", value)

    # -- where and how it is ---------------------------------------------------------

    @property
    def state(self) -> BackendState:
        return self._state

    @property
    def alive(self) -> bool:
        """True while listening (started and not killed)."""
        return self._state == "alive"

    @property
    def port(self) -> int:
        """The port it listens on (kept across kill and revive)."""
        if self._port is None:
            raise RuntimeError(f"backend {self.name!r} has not been started")
        return self._port

    @property
    def address(self) -> str:
        """``host:port``, the form ``Backend.address`` uses."""
        return host_port(self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def stats(self) -> FakeBackendStats:
        return FakeBackendStats(
            received=self._received,
            served=self._served,
            errors=self._errors,
            in_progress=self._in_progress,
            queued=self._gate.queued,
            hung=self._hung,
            health_checks=self._health_checks,
            bytes_sent=self._bytes_sent,
        )

    async def wait_until(self, predicate: Callable[[FakeBackendStats], bool]) -> FakeBackendStats:
        """Wait until ``predicate(stats)`` holds; return those stats.

        Re-checked on every counter change, so tests and lesson checks can wait for
        "two requests queued" without polling or sleeping.
        """
        while not predicate(stats := self.stats):
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._watchers.append(fut)
            try:
                await fut
            finally:
                with contextlib.suppress(ValueError):
                    self._watchers.remove(fut)
        return stats

    def _notify(self) -> None:
        watchers, self._watchers = self._watchers, []
        for fut in watchers:
            if not fut.done():
                fut.set_result(None)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        """Start listening; ``port`` 0 lets the OS choose (read it back from ``port``)."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"bad port {port!r}: use 0 (any free port) or 1-65535")
        async with self._lifecycle:
            if self._state != "stopped":
                raise RuntimeError(f"backend {self.name!r} is already started")
            await self._listen(port)
            self._set_state("alive")

    async def stop(self) -> None:
        """Stop for good: close the listener and every connection, drop in-flight work."""
        async with self._lifecycle:
            if self._state == "alive":
                await self._die(reset=False)
            self._set_state("stopped")

    async def kill(self) -> None:
        """Crash: refuse new connections, reset open ones, lose in-flight requests."""
        async with self._lifecycle:
            if self._state == "stopped":
                raise RuntimeError(f"backend {self.name!r} is not started; nothing to kill")
            if self._state == "alive":
                await self._die(reset=True)
                self._set_state("killed")

    async def revive(self) -> None:
        """Restart after a kill, on the same port, with a fresh application."""
        async with self._lifecycle:
            if self._state == "stopped":
                raise RuntimeError(f"backend {self.name!r} is not started; use start()")
            if self._state == "killed":
                await self._listen(self.port)
                self._set_state("alive")

    def _set_state(self, state: BackendState) -> None:
        self._state = state
        self._notify()

    async def _listen(self, port: int) -> None:
        app = self.build_app()
        # handler_cancellation stays off (aiohttp's default) on purpose: a client hanging
        # up does not cancel its request's work, as on most real servers. shutdown_timeout
        # only bounds the graceful wait for handlers _die could not cancel (0 would mean
        # "wait forever" to aiohttp).
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self.host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise LbplayError(
                f"backend {self.name!r} cannot listen on {self.host} port {port}: {exc.strerror}"
            ) from exc
        self._runner, self._app = runner, app
        self._port = runner.addresses[0][1]

    async def _die(self, *, reset: bool) -> None:
        runner, self._runner, self._app = self._runner, None, None
        assert runner is not None
        assert runner.server is not None
        # Listener first, so nothing new slips in while the rest goes down.
        for site in runner.sites:
            await site.stop()
        if reset:
            for conn in runner.server.connections:
                if conn.transport is not None:
                    _reset(conn.transport)
        requests = set(self._requests)
        for task in requests:
            task.cancel()
        if requests:
            await asyncio.wait(requests)
        await runner.cleanup()

    # -- the application -----------------------------------------------------------

    def build_app(self) -> web.Application:
        """A fresh application for one life of this backend (start or revive).

        Order matters only for the catch-all echo, which must come last; the
        ``installers`` slot in just before it.
        """
        app = web.Application(middlewares=[self._faults])
        app[BACKEND_KEY] = self
        app.on_response_prepare.append(self._stamp)
        app.router.add_get("/health", self._health, name=HEALTH_ROUTE)
        app.router.add_route("*", "/bytes", self._bytes, name="bytes")
        app.router.add_get("/ws", self._websocket, name="websocket")
        for install in self._installers:
            install(app, self)
        app.router.add_route("*", "/{tail:.*}", self._echo, name="echo")
        return app

    async def _stamp(self, request: web.Request, response: web.StreamResponse) -> None:
        # A signal, not the middleware: streamed responses are prepared inside the
        # handler, too late for a middleware to add headers.
        response.headers[FAKE_BACKEND_HEADER] = self.name

    def _error(self, status: int, reason: str) -> web.Response:
        return web.json_response({"backend": self.name, "error": reason}, status=status)

    @web.middleware
    async def _faults(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.app is not self._app:
            # Parsed just before a kill or stop, but its task had not started yet, so
            # _die could not cancel it; this life is over.
            return self._error(503, "shutting down")
        task = asyncio.current_task()
        if task is not None:
            self._requests.add(task)
        health = request.match_info.route.name == HEALTH_ROUTE
        if not health:
            self._received += 1
        self._in_progress += 1
        self._notify()
        try:
            if self._hang:
                self._hung += 1
                self._notify()
                try:
                    await self._unhung.wait()
                finally:
                    self._hung -= 1
            if health:
                self._health_checks += 1
                return await handler(request)
            async with self._gate:
                sampled = self._latency.sample(self.rng)
                fails = self._brownout or (
                    self._error_rate > 0 and self.rng.random() < self._error_rate
                )
                delay = (self._error_ms / 1000.0 if fails else sampled) + self._slow_ms / 1000.0
                if delay > 0:
                    await asyncio.sleep(delay)
                if fails:
                    self._errors += 1
                    if self._brownout:
                        why = "brownout: the health check says ok, but it is not"
                    else:
                        why = f"injected error (error rate {self._error_rate:g})"
                    return self._error(500, why)
                response = await handler(request)
                self._served += 1
                return response
        finally:
            self._in_progress -= 1
            if task is not None:
                self._requests.discard(task)
            self._notify()

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "backend": self.name})

    async def _bytes(self, request: web.Request) -> web.StreamResponse:
        raw = request.query.get("n", "")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or int(raw) > MAX_BYTES:
            return self._error(400, f"bad n {raw!r}: use /bytes?n=N with N from 0 to {MAX_BYTES}")
        remaining = int(raw)
        # Streamed in fixed chunks from one shared buffer, so memory stays flat for 1 GiB.
        response = web.StreamResponse(headers={hdrs.CONTENT_TYPE: "application/octet-stream"})
        response.content_length = remaining
        await response.prepare(request)
        if request.method == "HEAD":
            remaining = 0  # aiohttp's StreamResponse would otherwise send a body to HEAD
        while remaining:
            size = min(remaining, CHUNK_SIZE)
            await response.write(_ZEROS[:size])
            remaining -= size
            self._bytes_sent += size
            self._notify()
        await response.write_eof()
        return response

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get(hdrs.UPGRADE, "").lower() != "websocket":
            return self._error(426, "/ws is a WebSocket: connect with Upgrade: websocket")
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                await socket.send_str(f"{self.name}: {message.data}")
        return socket

    async def _echo(self, request: web.Request) -> web.Response:
        body_bytes = 0
        # Counted, not read into memory: a large upload must not cost its size in RAM.
        async for chunk in request.content.iter_chunked(CHUNK_SIZE):
            body_bytes += len(chunk)
        # Repeated headers are joined with ", " (RFC 9110 §5.3), under the first spelling
        # seen, so a proxy that duplicates X-Forwarded-For still shows both values.
        headers: dict[str, str] = {}
        spelling: dict[str, str] = {}
        for key, value in request.headers.items():
            first = spelling.setdefault(key.lower(), key)
            headers[first] = f"{headers[first]}, {value}" if first in headers else value
        return web.json_response(
            {
                "backend": self.name,
                "method": request.method,
                "path": request.raw_path,
                "headers": headers,
                "body_bytes": body_bytes,
            }
        )


#: How handlers added by an installer find their backend: ``request.app[BACKEND_KEY]``.
BACKEND_KEY = web.AppKey("lbplay_fake_backend", FakeBackend)
