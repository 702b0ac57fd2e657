"""Session stores: the same Redis semantics from MemoryStore and from a real Redis.

The contract tests run twice: against ``MemoryStore`` on a virtual clock, and against
``RedisStore`` talking to a real ``redis-server`` started by ``tests/redis_server.py``.
Time moves by ``advance``: the virtual clock jumps, a real Redis is waited for (TTLs of
a tenth of a second, so that costs little). Failure tests stop or freeze a Redis of
their own and check that the store answers within its timeout.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from lbplay.core.explore import VirtualClock
from lbplay.errors import ConfigError
from lbplay.net.session_store import (
    CLEANUP_BATCH,
    MemoryStore,
    RedisStore,
    SessionStore,
    StoreUnavailable,
    open_store,
)
from tests.redis_server import RedisServer

#: A short TTL, and a wait that certainly outlasts it on a real Redis (ms precision).
TTL = 0.1
PAST_TTL = 0.15


@dataclass
class Subject:
    store: SessionStore
    advance: Callable[[float], Awaitable[None]]
    #: A key of this test's own, so tests can share one Redis.
    prefix: str

    def key(self, name: str) -> str:
        return self.prefix + name


@pytest.fixture(params=["memory", "redis"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    prefix = f"test:{uuid.uuid4().hex}:"
    if request.param == "memory":
        clock = VirtualClock(1000.0)

        async def jump(seconds: float) -> None:
            clock.advance(seconds)

        yield Subject(MemoryStore(clock), jump, prefix)
        return
    store = RedisStore(request.getfixturevalue("redis_url"))
    await store.check()
    try:
        yield Subject(store, asyncio.sleep, prefix)
    finally:
        await store.close()


# -- the contract, on both stores ------------------------------------------------------


async def test_set_get_replace_delete(subject: Subject) -> None:
    store, k = subject.store, subject.key("a")
    assert await store.get(k) is None
    await store.set(k, "one")
    assert await store.get(k) == "one"
    await store.set(k, "two")
    assert await store.get(k) == "two"
    assert await store.delete(k) is True
    assert await store.delete(k) is False
    assert await store.get(k) is None


async def test_a_key_expires_and_is_gone(subject: Subject) -> None:
    store, k = subject.store, subject.key("a")
    await store.set(k, "v", TTL)
    left = await store.ttl(k)
    assert left is not None
    assert 0 < left <= TTL + 1e-9
    await subject.advance(PAST_TTL)
    assert await store.get(k) is None
    assert await store.ttl(k) is None
    assert await store.delete(k) is False
    assert await store.expire(k, 10) is False


async def test_set_without_ttl_clears_the_ttl(subject: Subject) -> None:
    store, k = subject.store, subject.key("a")
    await store.set(k, "v", TTL)
    await store.set(k, "w")
    assert await store.ttl(k) is None
    await subject.advance(PAST_TTL)
    assert await store.get(k) == "w"


async def test_set_replaces_the_ttl(subject: Subject) -> None:
    store, k = subject.store, subject.key("a")
    await store.set(k, "v", 60)
    await store.set(k, "w", TTL)
    await subject.advance(PAST_TTL)
    assert await store.get(k) is None


async def test_expire(subject: Subject) -> None:
    store, k = subject.store, subject.key("a")
    assert await store.expire(k, 10) is False  # missing key
    await store.set(k, "v")
    assert await store.expire(k, TTL) is True
    left = await store.ttl(k)
    assert left is not None
    assert 0 < left <= TTL + 1e-9
    await subject.advance(PAST_TTL)
    assert await store.get(k) is None


async def test_expire_zero_deletes(subject: Subject) -> None:
    store, k = subject.store, subject.key("a")
    await store.set(k, "v", 60)
    assert await store.expire(k, 0) is True
    assert await store.get(k) is None


async def test_sliding_expiry_keeps_a_used_key(subject: Subject) -> None:
    store, k = subject.store, subject.key("a")
    await store.set(k, "v", 2 * TTL)
    await subject.advance(TTL)
    assert await store.expire(k, 2 * TTL) is True
    await subject.advance(PAST_TTL)  # 0.25 s since set, 0.15 s since the refresh
    assert await store.get(k) == "v"


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
async def test_set_rejects_a_bad_ttl(subject: Subject, ttl: float) -> None:
    with pytest.raises(ValueError, match="bad ttl"):
        await subject.store.set(subject.key("a"), "v", ttl)


async def test_values_are_text_round_trip(subject: Subject) -> None:
    k = subject.key("a")
    value = '{"user": "zoë", "home": "s1"} — ok'
    await subject.store.set(k, value, 60)
    assert await subject.store.get(k) == value


# -- MemoryStore ---------------------------------------------------------------------


async def test_memory_store_reclaims_expired_keys_in_bounded_batches() -> None:
    clock = VirtualClock()
    store = MemoryStore(clock)
    for i in range(10 * CLEANUP_BATCH):
        await store.set(f"k{i}", "v", 1)
    await store.set("forever", "v")
    clock.advance(2)
    await store.get("forever")
    # One call reclaims at most a batch (internals checked on purpose: the bound is the
    # point), and len() counts exactly.
    assert len(store._values) == 10 * CLEANUP_BATCH + 1 - CLEANUP_BATCH
    assert len(store) == 1
    assert len(store._values) == 1


async def test_memory_store_heap_stays_small_under_sliding_expiry() -> None:
    clock = VirtualClock()
    store = MemoryStore(clock)
    await store.set("session", "v", 1800)
    for _ in range(10_000):
        clock.advance(0.01)
        assert await store.expire("session", 1800)
    assert len(store._heap) <= 2 + CLEANUP_BATCH
    clock.advance(1801)
    assert await store.get("session") is None


async def test_memory_store_clear_forgets_everything() -> None:
    store = MemoryStore(VirtualClock())
    await store.set("a", "1", 10)
    await store.set("b", "2")
    store.clear()
    assert len(store) == 0
    assert await store.get("a") is None


# -- open_store and Redis URLs ---------------------------------------------------------


def test_open_store_memory() -> None:
    for spec in ("memory", "shared", " Memory "):
        store = open_store(spec)
        assert isinstance(store, MemoryStore)
        assert store.url == "memory"
        assert store.describe() == "in-process memory"


@pytest.mark.parametrize(
    ("spec", "url", "describe"),
    [
        ("redis://127.0.0.1:6390/0", "redis://127.0.0.1:6390/0", "redis at 127.0.0.1:6390"),
        ("redis://localhost", "redis://localhost:6379/0", "redis at localhost:6379"),
        ("redis://h:7000/3", "redis://h:7000/3", "redis at h:7000/3"),
        ("redis://:s3cret@h/1", "redis://:***@h:6379/1", "redis at h:6379/1"),
        ("rediss://bob:pw@h:6380", "rediss://bob:***@h:6380/0", "redis at h:6380"),
        ("redis://[::1]:6379/", "redis://[::1]:6379/0", "redis at [::1]:6379"),
    ],
)
def test_open_store_redis_urls(spec: str, url: str, describe: str) -> None:
    store = open_store(spec)
    assert isinstance(store, RedisStore)
    assert store.url == url
    assert store.describe() == describe


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("mongodb://h", "scheme must be redis or rediss"),
        ("http://h:6379", "scheme must be redis or rediss"),
        ("redis://", "no host"),
        ("redis://:6379/0", "no host"),
        ("redis://h:notaport", "bad Redis URL"),
        ("redis://h:70000", "bad Redis URL"),
        ("redis://h:0", "port 0"),
        ("redis://h/abc", "not a database number"),
        ("redis://h/1/2", "not a database number"),
        ("redis://h/0?socket_timeout=100", "options"),
        ("redis", "use memory or a Redis URL"),
        ("", "use memory or a Redis URL"),
    ],
)
def test_open_store_rejects_bad_specs(spec: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        open_store(spec)
    assert "\n" not in str(caught.value)


def test_redis_timeout_is_checked() -> None:
    with pytest.raises(ConfigError, match="bad Redis timeout"):
        RedisStore("redis://h", timeout=0)


# -- a real Redis that fails ------------------------------------------------------------


def _closed_port() -> int:
    # Bound and closed again: nothing listens there (for the instant that matters).
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_redis_is_a_one_line_config_error_at_start_up() -> None:
    port = _closed_port()
    store = RedisStore(f"redis://127.0.0.1:{port}/0")
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        await store.check()
    assert time.monotonic() - started < 2
    assert str(caught.value) == (
        f"cannot reach Redis at redis://127.0.0.1:{port}/0: connection refused"
    )
    await store.close()


async def test_redis_stopped_at_run_time_raises_store_unavailable_fast(
    disposable_redis: RedisServer,
) -> None:
    store = RedisStore(disposable_redis.url, timeout=0.3)
    try:
        await store.set("k", "v", 60)
        disposable_redis.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await store.get("k")
        assert time.monotonic() - started < 2
        port = disposable_redis.port
        assert caught.value.reason == "connection refused"
        assert str(caught.value) == f"redis at 127.0.0.1:{port}: connection refused"
        # Back on the same port (empty: nothing is saved): the store recovers by itself.
        disposable_redis.start()
        assert await store.get("k") is None
        await store.set("k", "again", 60)
        assert await store.get("k") == "again"
    finally:
        await store.close()


async def test_hung_redis_raises_store_unavailable_within_the_timeout(
    disposable_redis: RedisServer,
) -> None:
    store = RedisStore(disposable_redis.url, timeout=0.2)
    try:
        await store.set("k", "v", 60)
        disposable_redis.pause()
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"no answer within 0\.2 s"):
                await store.get("k")
            assert time.monotonic() - started < 1
        finally:
            disposable_redis.resume()
        assert await store.get("k") == "v"
    finally:
        await store.close()
