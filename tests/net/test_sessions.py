"""Session endpoints on real fake backends, driven by a real HTTP client with a cookie jar.

The client talks to the backends directly, standing in for a balancer that spreads
requests: cookies are per host, not per port, so the cookie s1 sets is sent to s2 too.
Shared mode runs on the in-process store and on a real Redis (``tests/redis_server.py``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from lbplay.core.events import SessionLost
from lbplay.core.explore import VirtualClock
from lbplay.errors import ConfigError
from lbplay.net.fake_backend import FakeBackend
from lbplay.net.session_store import MemoryStore, RedisStore, SessionStore
from lbplay.net.sessions import COOKIE, DEFAULT_TTL, SessionApp, home_of
from tests.redis_server import RedisServer


class Fleet:
    """Two backends, s1 and s2, sharing one SessionApp; losses collected as events."""

    def __init__(self, sessions: SessionApp) -> None:
        self.sessions = sessions
        self.lost: list[SessionLost] = []
        sessions.on_loss = self.lost.append
        self.s1 = FakeBackend("s1", installers=[sessions.installer()])
        self.s2 = FakeBackend("s2", installers=[sessions.installer()])

    async def __aenter__(self) -> Fleet:
        await self.s1.start()
        await self.s2.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.s1.stop()
        await self.s2.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe: keep cookies for an IP address host (127.0.0.1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with Fleet(SessionApp()) as fleet:
        yield fleet


@pytest.fixture(params=["memory", "redis"])
async def shared_store(request: pytest.FixtureRequest) -> AsyncIterator[SessionStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    store = RedisStore(request.getfixturevalue("redis_url"))
    await store.check()
    try:
        yield store
    finally:
        await store.close()


async def call(
    client: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    """Status and body: JSON when the answer is JSON, text otherwise."""
    async with client.request(method, url, **kwargs) as response:
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


async def login(client: aiohttp.ClientSession, backend: FakeBackend, user: str = "alice") -> str:
    status, body = await call(client, "POST", backend.url + "/login", data={"user": user})
    assert status == 200, body
    session: str = body["session"]
    return session


def cookie(client: aiohttp.ClientSession) -> str | None:
    for morsel in client.cookie_jar:
        if morsel.key == COOKIE:
            return morsel.value
    return None


# -- local sessions ------------------------------------------------------------------


async def test_login_sets_a_session_cookie_naming_its_home(
    fleet: Fleet, client: aiohttp.ClientSession
) -> None:
    async with client.post(fleet.s1.url + "/login", data={"user": "alice"}) as response:
        assert response.status == 200
        body = await response.json()
        set_cookie = response.headers["Set-Cookie"]
    session = body["session"]
    assert body == {"user": "alice", "session": session, "backend": "s1", "mode": "local"}
    assert session.startswith("s1-")
    assert home_of(session) == "s1"
    assert len(session) == len("s1-") + 32
    assert set_cookie.startswith(f"{COOKIE}={session};")
    for attribute in ("HttpOnly", "Path=/", "SameSite=Lax", f"Max-Age={DEFAULT_TTL:.0f}"):
        assert attribute in set_cookie
    assert cookie(client) == session
    assert fleet.sessions.local_sessions() == {"s1": 1, "s2": 0}


async def test_session_ids_are_random(fleet: Fleet, client: aiohttp.ClientSession) -> None:
    ids = {await login(client, fleet.s1) for _ in range(5)}
    assert len(ids) == 5


async def test_the_home_backend_knows_the_session(
    fleet: Fleet, client: aiohttp.ClientSession
) -> None:
    session = await login(client, fleet.s1)
    for path in ("/profile", "/cart", "/orders", "/app/settings/privacy"):
        status, body = await call(client, "GET", fleet.s1.url + path)
        assert status == 200, body
        assert body == {
            "user": "alice",
            "backend": "s1",
            "session": session,
            "home": "s1",
            "path": path,
            "mode": "local",
        }
    status, body = await call(client, "POST", fleet.s1.url + "/cart", data=b"item=42")
    assert status == 200
    assert fleet.sessions.total_losses == 0


async def test_another_backend_does_not_know_it_and_counts_a_loss(
    fleet: Fleet, client: aiohttp.ClientSession
) -> None:
    session = await login(client, fleet.s1)
    status, body = await call(client, "GET", fleet.s2.url + "/profile")
    assert status == 401
    assert body == f"session {session} not found on s2 — it lives on s1\n"
    assert fleet.sessions.losses() == {"s2": 1}
    assert fleet.sessions.total_losses == 1
    [event] = fleet.lost
    assert (event.session, event.backend, event.home, event.path) == (
        session,
        "s2",
        "s1",
        "/profile",
    )
    assert event.text == body.strip()
    # s1 still knows it: the session is not gone, it is elsewhere.
    status, _ = await call(client, "GET", fleet.s1.url + "/profile")
    assert status == 200


async def test_no_cookie_or_a_foreign_one_is_not_logged_in_and_not_a_loss(
    fleet: Fleet, client: aiohttp.ClientSession
) -> None:
    status, body = await call(client, "GET", fleet.s1.url + "/profile")
    assert status == 401
    assert body.startswith("not logged in: no session cookie")
    status, body = await call(
        client, "GET", fleet.s1.url + "/profile", headers={"Cookie": f"{COOKIE}=s1-guess"}
    )
    assert status == 401
    assert body == "not logged in: 's1-guess' is not a session id\n"
    assert fleet.sessions.total_losses == 0
    assert fleet.lost == []


async def test_other_paths_still_echo(fleet: Fleet, client: aiohttp.ClientSession) -> None:
    status, body = await call(client, "GET", fleet.s1.url + "/anything")
    assert status == 200
    assert body["path"] == "/anything"
    status, body = await call(client, "GET", fleet.s1.url + "/health")
    assert body["status"] == "ok"


async def test_kill_and_revive_loses_local_sessions(
    fleet: Fleet, client: aiohttp.ClientSession
) -> None:
    session = await login(client, fleet.s1)
    await fleet.s1.kill()
    assert fleet.sessions.local_sessions() == {"s2": 0}
    assert fleet.sessions.local_store("s1") is None
    await fleet.s1.revive()
    assert fleet.sessions.local_sessions() == {"s2": 0, "s1": 0}
    status, body = await call(client, "GET", fleet.s1.url + "/profile")
    assert status == 401
    assert body == (
        f"session {session} not found on s1 — it was made here but is gone:"
        " expired, or lost when s1 restarted\n"
    )
    assert fleet.sessions.losses() == {"s1": 1}
    # Sessions on a backend that stayed up survive its neighbour's crash.
    other = await login(client, fleet.s2, "bob")
    await fleet.s1.kill()
    await fleet.s1.revive()
    status, body = await call(client, "GET", fleet.s2.url + "/profile")
    assert status == 200
    assert body["session"] == other


async def test_sliding_expiry(client: aiohttp.ClientSession) -> None:
    clock = VirtualClock(50.0)
    async with Fleet(SessionApp(ttl=10, clock=clock)) as fleet:
        session = await login(client, fleet.s1)
        for _ in range(3):  # 24 s in all, never 10 s without a request
            clock.advance(8)
            status, _ = await call(client, "GET", fleet.s1.url + "/profile")
            assert status == 200
        clock.advance(10.5)
        status, body = await call(client, "GET", fleet.s1.url + "/profile")
        assert status == 401
        assert body.startswith(f"session {session} not found on s1 — it was made here")
        assert fleet.lost[0].at == 50.0 + 24 + 10.5
        assert fleet.sessions.local_sessions() == {"s1": 0, "s2": 0}


# -- logging in and out ----------------------------------------------------------------


@pytest.mark.parametrize(
    "send",
    [
        {"params": {"user": "alice"}},
        {"data": {"user": "alice"}},
        {"json": {"user": "alice"}},
        {"data": aiohttp.FormData({"user": "alice"}, default_to_multipart=True)},
    ],
    ids=["query", "form", "json", "multipart"],
)
async def test_login_takes_the_user_from_query_form_or_json(
    fleet: Fleet, client: aiohttp.ClientSession, send: dict[str, Any]
) -> None:
    status, body = await call(client, "POST", fleet.s2.url + "/login", **send)
    assert status == 200, body
    assert body["user"] == "alice"
    assert body["backend"] == "s2"


@pytest.mark.parametrize(
    ("send", "words"),
    [
        ({}, "missing user name: POST /login with user=<name>"),
        ({"data": {"name": "alice"}}, "missing user name"),
        ({"params": {"user": ""}}, "bad user name ''"),
        ({"params": {"user": "al ice"}}, "bad user name 'al ice'"),
        ({"params": {"user": "-alice"}}, "bad user name"),
        ({"params": {"user": "a" * 33}}, "use 1 to 32 letters"),
        ({"params": {"user": "zoë"}}, "bad user name"),
        ({"json": {"user": 7}}, "bad user name 7"),
        ({"json": ["alice"]}, "missing user name"),
        ({"data": b"{nope", "headers": {"Content-Type": "application/json"}}, "bad JSON"),
        ({"data": b"alice", "headers": {"Content-Type": "text/plain"}}, "unsupported body"),
        ({"data": {"user": "x" * 5000}}, "login body too large"),
    ],
)
async def test_bad_login_input_is_a_400_saying_what_to_send(
    fleet: Fleet, client: aiohttp.ClientSession, send: dict[str, Any], words: str
) -> None:
    status, body = await call(client, "POST", fleet.s1.url + "/login", **send)
    assert status == 400
    assert words in body
    assert len(body) < 200  # never echoes a large input back
    assert cookie(client) is None
    assert fleet.sessions.local_sessions() == {"s1": 0, "s2": 0}


async def test_login_is_post_only(fleet: Fleet, client: aiohttp.ClientSession) -> None:
    async with client.get(fleet.s1.url + "/login?user=alice") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        assert "POST /login" in await response.text()


async def test_logout_deletes_the_session_and_the_cookie(
    fleet: Fleet, client: aiohttp.ClientSession
) -> None:
    session = await login(client, fleet.s1)
    status, body = await call(client, "POST", fleet.s1.url + "/logout")
    assert status == 200
    assert body == {"backend": "s1", "session": session, "logged_out": True}
    assert cookie(client) is None
    assert fleet.sessions.local_sessions()["s1"] == 0
    status, body = await call(client, "GET", fleet.s1.url + "/profile")
    assert status == 401
    assert body.startswith("not logged in: no session cookie")
    # Logging out again is harmless.
    status, body = await call(client, "POST", fleet.s1.url + "/logout")
    assert status == 200
    assert body["logged_out"] is False


# -- shared sessions -------------------------------------------------------------------


async def test_shared_sessions_are_known_everywhere(
    shared_store: SessionStore, client: aiohttp.ClientSession
) -> None:
    async with Fleet(SessionApp(mode="shared", store=shared_store)) as fleet:
        session = await login(client, fleet.s1)
        assert fleet.sessions.local_sessions() == {"s1": 0, "s2": 0}
        for backend in (fleet.s2, fleet.s1, fleet.s2):
            status, body = await call(client, "GET", backend.url + "/profile")
            assert status == 200, body
            assert (body["backend"], body["home"], body["session"]) == (
                backend.name,
                "s1",
                session,
            )
        # A crash loses nothing: the session was never in s1's memory.
        await fleet.s1.kill()
        await fleet.s1.revive()
        status, body = await call(client, "GET", fleet.s1.url + "/profile")
        assert status == 200, body
        # Logged out on s2, gone for s1 too.
        status, body = await call(client, "POST", fleet.s2.url + "/logout")
        assert body["logged_out"] is True
        client.cookie_jar.update_cookies({COOKIE: session})
        status, body = await call(client, "GET", fleet.s1.url + "/profile")
        assert status == 401
        assert body == (
            f"session {session} not found in the shared store (expired or never created)\n"
        )
        assert fleet.lost[-1].home == "shared store"
        assert fleet.sessions.losses() == {"s1": 1}


async def test_shared_sessions_slide_their_expiry_in_the_store(
    shared_store: SessionStore, client: aiohttp.ClientSession
) -> None:
    async with Fleet(SessionApp(mode="shared", store=shared_store, ttl=60)) as fleet:
        session = await login(client, fleet.s1)
        key = "lbplay:session:" + session
        await shared_store.expire(key, 5)
        status, _ = await call(client, "GET", fleet.s2.url + "/cart")
        assert status == 200
        left = await shared_store.ttl(key)
        assert left is not None
        assert left > 50
        await shared_store.delete(key)


async def test_switching_mode_while_running(fleet: Fleet, client: aiohttp.ClientSession) -> None:
    local = await login(client, fleet.s1)
    fleet.sessions.mode = "shared"
    # Sessions are not migrated: the local one is unknown to the shared store.
    status, body = await call(client, "GET", fleet.s1.url + "/profile")
    assert status == 401
    assert body.startswith(f"session {local} not found in the shared store")
    # Found: the reason read "s1 did not know a session of shared store"; it says why.
    assert "made in s1's own memory before sessions moved to the shared store" in body
    shared = await login(client, fleet.s1)
    status, body = await call(client, "GET", fleet.s2.url + "/profile")
    assert status == 200
    assert body["session"] == shared
    fleet.sessions.mode = "local"
    status, body = await call(client, "GET", fleet.s2.url + "/profile")
    assert status == 401
    assert body == f"session {shared} not found on s2 — it lives on s1\n"
    assert fleet.sessions.losses() == {"s1": 1, "s2": 1}


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="bad session mode 'sticky': use local or shared"):
        SessionApp(mode="sticky")  # type: ignore[arg-type]
    sessions = SessionApp()
    with pytest.raises(ConfigError, match="bad session mode"):
        sessions.mode = "redis"  # type: ignore[assignment]
    for ttl in (0, -5, True, "60", 10**9):
        with pytest.raises(ConfigError, match="bad session ttl"):
            SessionApp(ttl=ttl)  # type: ignore[arg-type]


# -- a shared store that fails -----------------------------------------------------------


@pytest.mark.parametrize(
    ("break_it", "mend_it", "reason"),
    [
        (RedisServer.stop, RedisServer.start, "connection refused"),
        (RedisServer.pause, RedisServer.resume, "no answer within 0.3 s"),
    ],
    ids=["down", "hung"],
)
async def test_store_unavailable_is_a_fast_503_with_the_reason(
    disposable_redis: RedisServer,
    client: aiohttp.ClientSession,
    break_it: Callable[[RedisServer], None],
    mend_it: Callable[[RedisServer], None],
    reason: str,
) -> None:
    store = RedisStore(disposable_redis.url, timeout=0.3)
    where = f"redis at 127.0.0.1:{disposable_redis.port}"
    try:
        async with Fleet(SessionApp(mode="shared", store=store)) as fleet:
            await login(client, fleet.s1)
            break_it(disposable_redis)
            try:
                for method, path in (("GET", "/profile"), ("POST", "/login?user=bob")):
                    started = time.monotonic()
                    status, body = await call(client, method, fleet.s2.url + path)
                    assert time.monotonic() - started < 2
                    assert status == 503
                    assert body == f"session store unavailable: {where}: {reason}\n"
            finally:
                mend_it(disposable_redis)
            assert fleet.sessions.total_losses == 0
            # Redis is back: logins work again (a restarted Redis has lost the old ones).
            await login(client, fleet.s2, "carol")
            status, _ = await call(client, "GET", fleet.s1.url + "/profile")
            assert status == 200
    finally:
        await store.close()
