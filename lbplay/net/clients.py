"""Virtual clients: each a different peer, sending one real request at a time.

A ``VirtualClient`` is one simulated user: it sends a request (a ``RequestSpec`` from
``model.workload``) to one target (the proxy, or a single backend) and reports what the
*client* saw as a ``TrafficResult``: status, latency including the body, bytes, the
backend that answered (the ``X-Lbplay-Backend`` response header, which lists every
backend the proxy tried) and why a request failed. The ``TrafficGenerator`` in
``net.traffic`` drives a pool of them.

Every client is a different peer
--------------------------------
Each virtual client has its own ``aiohttp.ClientSession``: its own connection pool, its
own cookie jar (so sticky-session cookies behave per client, as per browser) and, when
the target is on IPv4 loopback, its own source address: its sockets are bound to a
distinct 127.x.y.z address, so the proxy sees genuinely different peers, which is what
IP hashing needs. Linux routes the whole of 127.0.0.0/8 to loopback without
configuration; macOS routes only 127.0.0.1 unless aliases are added
(``sudo ifconfig lo0 alias 127.0.1.1``); ``can_bind`` tells which. Which address each
client gets is ``model.workload.client_address``.

Requests are sent as written: the path is not re-encoded (``/public/../admin`` and
``%2F`` reach the proxy byte for byte), redirects are not followed, bodies are not
decompressed (no ``Accept-Encoding`` is sent) and aiohttp's silent retry of an
idempotent request on a stale keep-alive connection is turned off, so the proxy sees
exactly one request per result. Each request has a total timeout (``timeout``).

Errors are results, never exceptions: ``status`` is 0 when no response arrived and
``error`` says why, in a few fixed words a dashboard can count: "connection refused",
"connection reset", "connection closed" (closed before answering), "timeout",
"truncated response" (the body stopped short), "bad response" (not valid HTTP),
"cannot bind source address", "unknown host".

Extension seam: what a client asks for is decided by its ``Script``, one per client,
made by ``script_factory(client)``. The default, ``BrowseMix``, samples the
``RequestMix``; a script that logs in first and then browses (``LogInThenBrowse``)
plugs in the same way, and sees every result of its client through ``observe``.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp import hdrs
from yarl import URL

from lbplay import __version__
from lbplay.model.wire import BACKEND_HEADER
from lbplay.model.workload import USER_PAGES, RequestMix, RequestSpec, status_class

USER_AGENT = f"lbplay-traffic/{__version__}"

DEFAULT_TIMEOUT = 5.0
#: Connections one client may hold open at once (aiohttp's own default); the
#: outstanding cap is what really bounds the total.
CONNECTIONS_PER_CLIENT = 100
CHUNK_SIZE = 64 * 1024


# -- what came back --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficResult:
    """One request as the client saw it."""

    #: The virtual client's number (0-based) and its source address ("" when the OS
    #: chose it, i.e. the target is not on IPv4 loopback).
    client: int
    address: str
    method: str
    path: str
    #: The HTTP status if a response head arrived, else 0.
    status: int
    #: Seconds from sending to the last byte of the body (or to the failure), client-side.
    latency: float
    #: The backend that answered: the last name in the ``X-Lbplay-Backend`` header (None
    #: without one). When the proxy answers itself after failed tries (a 502), it is the
    #: last backend tried, as in the proxy's own events.
    backend: str | None
    #: Body bytes received (as sent on the wire: nothing is decompressed).
    bytes: int
    #: "" when the request completed; otherwise why not (see the module docstring).
    error: str
    #: When it was sent, on the generator's clock.
    started: float
    #: Every backend the proxy tried, in order (its retries); ``backend`` is the last.
    tried: tuple[str, ...] = ()

    @property
    def retried(self) -> bool:
        return len(self.tried) > 1

    @property
    def ok(self) -> bool:
        """A complete response arrived (whatever its status)."""
        return not self.error

    @property
    def status_class(self) -> str:
        """One of ``metrics.STATUS_CLASSES``; a request that failed midway is "failed"."""
        return status_class(self.status if not self.error else 0)


def describe_error(exc: BaseException) -> str:
    """A client error in the few fixed words a dashboard counts (module docstring)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "unknown host"
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        if isinstance(exc.os_error, ConnectionRefusedError) or code == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(exc.os_error, TimeoutError):
            return "timeout"
        if code == errno.EADDRNOTAVAIL:
            return "cannot bind source address"
        return f"cannot connect ({errno.errorcode.get(code or 0, 'error')})"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection closed"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "truncated response"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "bad response"
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return "connection reset"
    if isinstance(exc, OSError) and exc.errno:
        return f"network error ({errno.errorcode.get(exc.errno, exc.errno)})"
    return f"error ({type(exc).__name__})"


# -- what to ask for -------------------------------------------------------------------


class Script(Protocol):
    """Decides what one virtual client asks for next; one instance per client.

    ``next_request`` is called just before each request (open loop, closed loop and
    burst alike) with the generator's rng and current mix; ``observe`` gets every result
    of that client, e.g. to notice that a login worked or a session was lost.
    """

    def next_request(self, rng: random.Random, mix: RequestMix) -> RequestSpec: ...

    def observe(self, result: TrafficResult) -> None: ...


class BrowseMix:
    """The default script: every request is a fresh sample of the request mix."""

    def next_request(self, rng: random.Random, mix: RequestMix) -> RequestSpec:
        return mix.sample(rng)

    def observe(self, result: TrafficResult) -> None:
        pass


ScriptFactory = Callable[["VirtualClient"], Script]


def browse_mix(client: VirtualClient) -> Script:
    return BrowseMix()


class LogInThenBrowse:
    """A user who logs in once, then browses pages that need the session.

    Client i logs in as ``user<i>`` (``POST /login?user=user<i>``), keeps the session
    cookie in its own jar, and then asks for /profile, /cart and /orders. A 401 means
    the session was not found where the request landed — lost — so the user logs in
    again, as a person would after being thrown out. That makes every session mode
    visible: without affinity sessions keep getting lost; with it they survive until
    their backend dies; with a shared store they always survive.
    """

    def __init__(self, client: VirtualClient) -> None:
        self.user = f"user{client.index}"
        # Sent on every request, so header affinity (header:X-User) has a key.
        self.headers = (("X-User", self.user),)
        self.logged_in = False

    def next_request(self, rng: random.Random, mix: RequestMix) -> RequestSpec:
        if not self.logged_in:
            return RequestSpec("POST", f"/login?user={self.user}", headers=self.headers)
        page = USER_PAGES[int(rng.random() * len(USER_PAGES))]
        return RequestSpec("GET", page, headers=self.headers)

    def observe(self, result: TrafficResult) -> None:
        if result.path.startswith("/login"):
            self.logged_in = result.status == 200
        elif result.status == 401:
            self.logged_in = False


def log_in_then_browse(client: VirtualClient) -> Script:
    return LogInThenBrowse(client)


# -- who sends it ----------------------------------------------------------------------


def can_bind(address: str) -> bool:
    """Whether a TCP socket can use ``address`` as its source (macOS: only 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


class VirtualClient:
    """One simulated client: its own source address, connection pool and cookie jar.

    Make it inside a running event loop (a ``ClientSession`` needs one); ``close`` it.
    """

    def __init__(
        self,
        index: int,
        address: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connections: int = CONNECTIONS_PER_CLIENT,
        backend_header: str = BACKEND_HEADER,
        script_factory: ScriptFactory = browse_mix,
    ) -> None:
        self.index = index
        #: The bound source address; None lets the OS choose.
        self.bound = address
        self.address = address or ""
        self.backend_header = backend_header
        # unsafe=True: aiohttp's default jar drops cookies set by hosts that are IP
        # addresses, and the proxy here is always one (127.0.0.1), so every sticky
        # session cookie would silently vanish.
        self.cookie_jar = aiohttp.CookieJar(unsafe=True)
        connector = aiohttp.TCPConnector(
            limit=connections,
            local_addr=(address, 0) if address else None,
            # A 127.x source address cannot reach ::1, which "localhost" may resolve to.
            family=socket.AF_INET if address else socket.AF_UNSPEC,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=self.cookie_jar,
            timeout=aiohttp.ClientTimeout(total=timeout),
            auto_decompress=False,
            skip_auto_headers=(hdrs.ACCEPT_ENCODING,),
            headers={hdrs.USER_AGENT: USER_AGENT},
        )
        # aiohttp resends an idempotent request once when a pooled connection turns out
        # to be closed; the proxy would then see two requests for one result, and a
        # reset the learner caused would be hidden. aiohttp's own TestClient turns it
        # off the same way (there is no public switch).
        if hasattr(self.session, "_retry_connection"):
            self.session._retry_connection = False
        self.script = script_factory(self)
        #: Requests of this client under way, and who waits for them all to end.
        self.busy = 0
        self._idle: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"VirtualClient({self.index}, {self.address or 'any address'})"

    @property
    def closed(self) -> bool:
        return self.session.closed

    async def request(
        self, origin: str, spec: RequestSpec, *, started: float = 0.0
    ) -> TrafficResult:
        """Send one request to ``origin`` (``http://host:port``), read the whole body.

        Never raises for network trouble: a failure is a result with ``error`` set.
        """
        # encoded=True: the path goes out byte for byte, not normalised or re-quoted.
        url = URL(origin + spec.path, encoded=True)
        body = bytes(spec.body_size) if spec.body_size else None
        status = 0
        tried: tuple[str, ...] = ()
        nbytes = 0
        error = ""
        begin = time.perf_counter()
        self.busy += 1
        try:
            async with self.session.request(
                spec.method, url, data=body, allow_redirects=False, headers=spec.headers or None
            ) as response:
                status = response.status
                header = response.headers.get(self.backend_header, "")
                tried = tuple(name for name in map(str.strip, header.split(",")) if name)
                # Read to the end so the latency includes the body, but keep none of it.
                async for chunk in response.content.iter_chunked(CHUNK_SIZE):
                    nbytes += len(chunk)
        except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
            error = describe_error(exc)
        finally:
            self.busy -= 1
            if not self.busy and self._idle is not None:
                self._idle.set()
        return TrafficResult(
            client=self.index,
            address=self.address,
            method=spec.method,
            path=spec.path,
            status=status,
            latency=time.perf_counter() - begin,
            backend=tried[-1] if tried else None,
            bytes=nbytes,
            error=error,
            started=started,
            tried=tried,
        )

    async def close(self) -> None:
        await self.session.close()

    async def close_when_idle(self) -> None:
        """Close once the requests under way have ended (a client being replaced)."""
        if self.busy:
            self._idle = asyncio.Event()
            await self._idle.wait()
        await self.close()
