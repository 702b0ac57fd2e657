"""Where shared sessions live: an in-process store with Redis semantics, or a real Redis.

When backends share their sessions (``--sessions shared``), any backend can serve any
user and a dead backend loses no session — the lesson is that a shared store, not a
sticky balancer, is what makes sessions survive. Two stores keep the same contract:

* ``MemoryStore`` — the embedded default, so the playground needs nothing installed.
  A dict with per-key expiry that behaves like the Redis commands it stands for.
* ``RedisStore`` — a real Redis through redis-py's asyncio client (``--redis
  redis://host:port/db``), for setups that should transfer to production.

The contract (``SessionStore``) is the subset of Redis a web framework's session
backend uses, with Redis semantics exactly:

* ``set(key, value, ttl)`` replaces the value *and* the expiry; ``ttl=None`` stores the
  key without one (a previous expiry is cleared, as a plain ``SET`` does).
* ``get`` of an expired key answers None, and the key is gone.
* ``expire(key, ttl)`` is False for a missing key; a ttl of 0 or less deletes the key
  (and is True when it existed), as ``PEXPIRE`` does.
* ``delete(key)`` is True when the key existed.

TTLs are seconds as floats; Redis gets milliseconds (``SET PX``, ``PEXPIRE``), so a
test can expire a key in a tenth of a second.

Failure, the part a learner breaks on purpose: a Redis that is down or hung must never
stall a request. Every Redis call is bounded by ``timeout`` (0.5 s by default) and
retried at most once, at once (a pooled connection may be stale after a Redis
restart); past that it raises ``StoreUnavailable`` with a short reason, and the
backend answers 503. At start-up, ``check()`` turns the same failure into a one-line
``ConfigError`` ("cannot reach Redis at redis://127.0.0.1:6390/0: connection refused").

Errors::

    LbplayError
    ├── ConfigError          a bad store spec or URL; an unreachable Redis at start-up
    └── StoreUnavailable     the store failed at run time (down, hung, refused a command)

``open_store("memory" | "shared" | "redis://...")`` builds one from a CLI or scenario
value.
"""

from __future__ import annotations

import asyncio
import heapq
import re
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar
from urllib.parse import SplitResult, unquote, urlsplit

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from lbplay.errors import ConfigError, LbplayError

_T = TypeVar("_T")

#: Longest a Redis call may take before the store counts as unavailable, by default.
DEFAULT_TIMEOUT = 0.5
#: Expired keys a ``MemoryStore`` reclaims per call, besides the one it touches, so a
#: clock jump that expires a million keys costs no single request more than this.
CLEANUP_BATCH = 64
_REDIS_SCHEMES = ("redis", "rediss")
_DB_RE = re.compile(r"/?|/[0-9]{1,5}", re.ASCII)


class StoreUnavailable(LbplayError):
    """The session store failed at run time: ``str()`` is "<store>: <reason>"."""

    def __init__(self, store: str, reason: str) -> None:
        self.store = store
        self.reason = reason
        super().__init__(f"{store}: {reason}")


class SessionStore(Protocol):
    """A key-value store with expiry and Redis semantics (see the module docstring).

    Every method may raise ``StoreUnavailable``, except ``check`` (``ConfigError``),
    ``describe`` and ``close``.
    """

    @property
    def url(self) -> str:
        """The store as the user gave it: "memory" or a Redis URL, password hidden."""
        ...

    def describe(self) -> str:
        """A few words for dashboards and errors: "in-process memory", "redis at h:p"."""
        ...

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def expire(self, key: str, ttl: float) -> bool: ...

    async def ttl(self, key: str) -> float | None:
        """Seconds left; None when the key does not exist or never expires."""
        ...

    async def ping(self) -> None: ...

    async def check(self) -> None:
        """At start-up: raise a one-line ``ConfigError`` if the store cannot be used."""
        ...

    async def close(self) -> None: ...


def _check_ttl(ttl: float | None) -> None:
    if ttl is not None and (isinstance(ttl, bool) or not ttl > 0 or ttl == float("inf")):
        # Redis answers "invalid expire time" to SET PX 0; a programming error here.
        raise ValueError(f"bad ttl {ttl!r}: use a positive number of seconds, or None")


class MemoryStore:
    """An in-process store with Redis semantics: a dict plus per-key deadlines.

    Expiry is lazy, as in Redis: a key that has expired is dropped when it is touched.
    Besides, each call reclaims up to ``CLEANUP_BATCH`` other expired keys, oldest
    deadline first, from a heap of deadlines, so memory does not fill with sessions
    nobody comes back for. ``len(store)`` counts live keys exactly (it reclaims every
    expired one first).

    Re-setting a deadline (sliding expiry does it on every request) leaves the old heap
    entry behind, stale; the heap is rebuilt when stale entries outnumber live deadlines,
    so it stays within twice the number of keys.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, str] = {}
        self._deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    @property
    def url(self) -> str:
        return "memory"

    def describe(self) -> str:
        return "in-process memory"

    def __repr__(self) -> str:
        return f"MemoryStore({len(self._values)} keys)"

    def __len__(self) -> int:
        self._reclaim(self._clock(), limit=None)
        return len(self._values)

    def clear(self) -> None:
        """Forget every key (what a crash does to a process's memory)."""
        self._values.clear()
        self._deadlines.clear()
        self._heap.clear()

    # -- the commands (synchronous underneath; async to fit the protocol) --------------

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        _check_ttl(ttl)
        now = self._clock()
        self._reclaim(now)
        self._values[key] = value
        if ttl is None:
            self._deadlines.pop(key, None)
        else:
            self._set_deadline(key, now + ttl)

    async def delete(self, key: str) -> bool:
        if self._live(key) is None:
            return False
        self._drop(key)
        return True

    async def expire(self, key: str, ttl: float) -> bool:
        if self._live(key) is None:
            return False
        if ttl <= 0:  # PEXPIRE with a deadline in the past deletes the key
            self._drop(key)
        else:
            _check_ttl(ttl)
            self._set_deadline(key, self._clock() + ttl)
        return True

    async def ttl(self, key: str) -> float | None:
        if self._live(key) is None:
            return None
        deadline = self._deadlines.get(key)
        return None if deadline is None else deadline - self._clock()

    async def ping(self) -> None:
        return None

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- expiry --------------------------------------------------------------------

    def _live(self, key: str) -> str | None:
        """The value of ``key`` if it has not expired; an expired key is dropped."""
        now = self._clock()
        self._reclaim(now)
        deadline = self._deadlines.get(key)
        if deadline is not None and deadline <= now:
            self._drop(key)
            return None
        return self._values.get(key)

    def _drop(self, key: str) -> None:
        self._values.pop(key, None)
        self._deadlines.pop(key, None)

    def _set_deadline(self, key: str, deadline: float) -> None:
        self._deadlines[key] = deadline
        heapq.heappush(self._heap, (deadline, key))
        if len(self._heap) > 2 * len(self._deadlines) + CLEANUP_BATCH:
            self._heap = [(d, k) for k, d in self._deadlines.items()]
            heapq.heapify(self._heap)

    def _reclaim(self, now: float, limit: int | None = CLEANUP_BATCH) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now and limit != 0:
            deadline, key = heapq.heappop(heap)
            # Only an entry matching the key's current deadline is live; others are stale.
            if self._deadlines.get(key) == deadline:
                self._drop(key)
            if limit is not None:
                limit -= 1


# -- Redis ---------------------------------------------------------------------------


def _parse_redis_url(url: str) -> SplitResult:
    """Validate ``redis[s]://[user:password@]host[:port][/db]``; raise ConfigError."""
    hint = "use redis://host:port/db, e.g. redis://127.0.0.1:6379/0"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError as exc:
        raise ConfigError(f"bad Redis URL {url!r}: {exc}; {hint}") from None
    if parts.scheme not in _REDIS_SCHEMES:
        raise ConfigError(f"bad Redis URL {url!r}: the scheme must be redis or rediss; {hint}")
    if not parts.hostname:
        raise ConfigError(f"bad Redis URL {url!r}: no host; {hint}")
    if parts.port == 0:
        raise ConfigError(f"bad Redis URL {url!r}: port 0; {hint}")
    if not _DB_RE.fullmatch(parts.path):
        raise ConfigError(f"bad Redis URL {url!r}: {parts.path!r} is not a database number; {hint}")
    if parts.query or parts.fragment:
        # redis-py would let ?socket_timeout=... override the bounds that keep requests
        # from hanging, so options are not taken from the URL.
        raise ConfigError(f"bad Redis URL {url!r}: options (?...) are not supported; {hint}")
    return parts


def _reason(exc: BaseException, timeout: float) -> str:
    """A few words for why a Redis call failed: "connection refused", "no answer ..."."""
    if isinstance(exc, TimeoutError | redis_errors.TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, redis_errors.AuthenticationError | redis_errors.AuthorizationError):
        return f"authentication failed: {exc}"
    # redis-py wraps the socket error; the OSError underneath says it best.
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, socket.gaierror):
        return "unknown host"
    if isinstance(cause, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror.lower()
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class RedisStore:
    """A real Redis through ``redis.asyncio``, every call bounded by ``timeout`` seconds.

    The connection is made on first use; call ``check()`` at start-up to find out at
    once whether Redis answers. ``close()`` releases the connection pool.
    """

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ConfigError(f"bad Redis timeout {timeout!r}: use a positive number of seconds")
        parts = _parse_redis_url(url)
        assert parts.hostname is not None
        self.timeout = float(timeout)
        self.host = parts.hostname
        self.port = parts.port or 6379
        self.db = int(parts.path.lstrip("/") or 0)
        user = unquote(parts.username) if parts.username else None
        # The password never shows: the URL is displayed and goes into error messages.
        userinfo = (user or "") + (":***" if parts.password is not None else "")
        login = f"{userinfo}@" if userinfo else ""
        where = f"[{self.host}]" if ":" in self.host else self.host
        self._url = f"{parts.scheme}://{login}{where}:{self.port}/{self.db}"
        self._describe = f"redis at {where}:{self.port}" + (f"/{self.db}" if self.db else "")
        self._client = Redis(
            host=self.host,
            port=self.port,
            db=self.db,
            username=user,
            password=unquote(parts.password) if parts.password is not None else None,
            ssl=parts.scheme == "rediss",
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            # One immediate retry, for a pooled connection gone stale in a Redis restart;
            # redis-py's default would retry ten times with backoff.
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,
            client_name="lbplay",
        )

    @property
    def url(self) -> str:
        return self._url

    def describe(self) -> str:
        return self._describe

    def __repr__(self) -> str:
        return f"RedisStore({self._url!r})"

    async def _call(self, command: Callable[[], Awaitable[_T]]) -> _T:
        try:
            # The socket timeouts bound each read and connect; this bounds the whole call,
            # retry included, so a hung Redis costs a request at most ``timeout``.
            async with asyncio.timeout(self.timeout):
                return await command()
        except (redis_errors.RedisError, OSError) as exc:  # TimeoutError is an OSError
            raise StoreUnavailable(self._describe, _reason(exc, self.timeout)) from exc

    async def get(self, key: str) -> str | None:
        value = await self._call(lambda: self._client.get(key))
        # decode_responses makes it a str; redis-py's types allow bytes too.
        return value.decode() if isinstance(value, bytes) else value

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        _check_ttl(ttl)
        px = None if ttl is None else max(1, round(ttl * 1000))
        await self._call(lambda: self._client.set(key, value, px=px))

    async def delete(self, key: str) -> bool:
        deleted: int = await self._call(lambda: self._client.delete(key))
        return deleted > 0

    async def expire(self, key: str, ttl: float) -> bool:
        # PEXPIRE with 0 or less deletes the key, as MemoryStore does; a positive ttl under
        # a millisecond still rounds to 1 ms, not to "delete".
        ms = max(1, round(ttl * 1000)) if ttl > 0 else 0
        done: bool = await self._call(lambda: self._client.pexpire(key, ms))
        return bool(done)

    async def ttl(self, key: str) -> float | None:
        ms: int = await self._call(lambda: self._client.pttl(key))
        return ms / 1000 if ms >= 0 else None  # -2: no such key, -1: no expiry

    async def ping(self) -> None:
        await self._call(self._client.ping)

    async def check(self) -> None:
        try:
            await self.ping()
        except StoreUnavailable as exc:
            raise ConfigError(f"cannot reach Redis at {self._url}: {exc.reason}") from None

    async def close(self) -> None:
        await self._client.aclose()


def open_store(
    spec: str,
    clock: Callable[[], float] = time.monotonic,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> SessionStore:
    """The store for a CLI or scenario value: "memory" (or "shared") or a Redis URL.

    ``clock`` drives a memory store's expiry; a Redis keeps its own time.
    """
    text = spec.strip()
    if text.lower() in ("memory", "shared"):
        return MemoryStore(clock)
    if "://" in text:
        return RedisStore(text, timeout=timeout)
    raise ConfigError(
        f"bad session store {spec!r}: use memory or a Redis URL like redis://127.0.0.1:6379/0"
    )
