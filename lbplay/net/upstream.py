"""The L7 proxy's client to its backends: everything that knows aiohttp is here.

One pooled ``aiohttp.ClientSession`` for the whole process, told to leave requests
alone: the raw path and query are forwarded byte for byte
(``yarl.URL(..., encoded=True)``), bodies are not decompressed, no headers are added
that the client did not send, redirects are not followed, and cookies are not kept.
Header rewriting (hop-by-hop, X-Forwarded-*) lives in ``net.forwarding``. A
Content-Length body is sent on with its length, a chunked one chunked. What aiohttp
still does on its own: it sends ``Content-Length: 0`` on a POST, PUT, PATCH or DELETE
without a body, and it cannot send an empty query (``/p?`` arrives as ``/p``) nor
``OPTIONS *`` (the proxy answers that 501 before it gets here).

A pooled keep-alive connection that the backend closed just as a request went out is
not the backend's failure: such a request is sent again on a fresh connection to the
same backend, if it may be retried at all (``net.retry``) — so a GET succeeds and a
POST is answered 502, never sent twice. aiohttp's own silent retry of idempotent
requests is turned off so that every retry is the proxy's, visible in the attempts.

The rest of the proxy sees a ``Response`` (what the relay reads of an answer),
``ResponseError`` (what reading it raises when the backend fails) and ``Failure``
(a try that failed before the answer's head arrived), never aiohttp itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Protocol

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict
from yarl import URL

from lbplay.core.backends import Backend
from lbplay.model.config import ProxyConfig
from lbplay.net.attempt import ClientFailed, Failure
from lbplay.net.http1 import RequestHead
from lbplay.net.retry import may_retry

if TYPE_CHECKING:
    from lbplay.net.relay import Body

#: Fresh connections tried after pooled ones that turned out closed, per try.
STALE_RETRIES = 2
#: What reading a response body raises when the backend fails or stalls mid-body
#: (besides ``TimeoutError``).
ResponseError = aiohttp.ClientError


class ResponseBody(Protocol):
    """The body of a backend's answer, as it arrives."""

    def read_nowait(self, n: int = -1) -> bytes:
        """What has arrived already, without waiting."""
        ...

    def iter_any(self) -> AsyncIterator[bytes]:
        """The rest, in the pieces it arrives in."""
        ...


class Response(Protocol):
    """A backend's answer whose head has arrived: what the relay reads of it."""

    @property
    def status(self) -> int: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def raw_headers(self) -> tuple[tuple[bytes, bytes], ...]: ...

    @property
    def content_length(self) -> int | None: ...

    @property
    def content(self) -> ResponseBody: ...

    def release(self) -> object:
        """Done with it: the connection goes back to the pool, or is closed."""
        ...


class Upstream:
    """The connection pool to every backend, and one try of a request on one."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Create the connection pool (connections are made as requests need them)."""
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

    async def close(self) -> None:
        """Close every pooled connection."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(
        self, backend: Backend, head: RequestHead, headers: CIMultiDict[str], body: Body
    ) -> Response:
        """One try: send the request, return the response once its head arrived.

        Raises ``Failure`` when the backend could not be reached or failed before its
        head was complete, ``ClientFailed`` when the client's body failed meanwhile.
        """
        assert self._session is not None
        name = backend.name
        address = backend.address
        if address is None:
            message = f"backend {name} has no address"
            raise Failure("no address", 502, message, sent=False, kind=None)
        config = self.config
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
                    data=body.payload(),
                    allow_redirects=False,
                    timeout=timeout,
                    compress=None,
                    chunked=None,
                    trace_request_ctx=use,
                )
            except aiohttp.ClientError as error:
                if body.error is not None:
                    raise ClientFailed(body.error) from None
                failure = _failure(error, name, config)
                if (
                    use.reused
                    and stale < STALE_RETRIES
                    and failure.outcome in ("closed", "reset")
                    and may_retry(head.method, body, config.retry, sent=True)
                ):
                    continue  # a pooled connection the backend had closed: not its fault
                raise failure from None
            if response.status < 200:  # 101: the client never asked to switch protocols
                response.close()
                raise Failure(
                    "bad response",
                    502,
                    f"{name} answered {response.status}, switching protocols unasked",
                    sent=True,
                    kind="reset",
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover


async def _mark_reused(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceConnectionReuseconnParams,
) -> None:
    """aiohttp trace hook: the try went out on a pooled keep-alive connection."""
    use = context.trace_request_ctx
    if isinstance(use, SimpleNamespace):
        use.reused = True


def _failure(error: aiohttp.ClientError, name: str, config: ProxyConfig) -> Failure:
    """What a client-library error means for the try (order matters: subclasses)."""
    if isinstance(error, aiohttp.ClientConnectorError):
        why = "refused" if isinstance(error.os_error, ConnectionRefusedError) else "unreachable"
        message = f"could not connect to {name} ({why})"
        return Failure(why, 502, message, sent=False, kind="connect")
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        message = f"{name} did not accept a connection within {config.connect_timeout:g} s"
        return Failure("connect timeout", 504, message, sent=False, kind="connect")
    if isinstance(error, aiohttp.ServerTimeoutError):
        message = f"{name} did not answer within {config.read_timeout:g} s"
        return Failure("timeout", 504, message, sent=True, kind="timeout")
    if isinstance(error, aiohttp.ServerDisconnectedError):
        message = f"{name} closed the connection before answering"
        return Failure("closed", 502, message, sent=True, kind="reset")
    if isinstance(error, aiohttp.ClientResponseError):
        first_line = str(error.message).strip().split("\n")[0].rstrip(":")
        message = f"{name} sent an invalid response ({first_line})"
        return Failure("bad response", 502, message, sent=True, kind="reset")
    message = f"{name} reset the connection before answering"
    return Failure("reset", 502, message, sent=True, kind="reset")
