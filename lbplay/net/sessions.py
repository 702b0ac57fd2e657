"""Logins the fake backends really keep: where sticky sessions and shared stores matter.

A ``SessionApp`` adds a tiny web application to every fake backend, through the
``installers`` seam of ``FakeBackend``::

    sessions = SessionApp(on_loss=lab.publish_loss)
    fake = FakeBackend("s1", installers=[sessions.installer()])

Endpoints (installed before the catch-all echo, so everything else still echoes):

* ``POST /login`` — the user name as ``user=alice`` in a form or JSON body, or in the
  query (``/login?user=alice``). Creates a session and answers 200 JSON
  ``{"user", "session", "backend", "mode"}`` with
  ``Set-Cookie: lbplay_session=<id>; HttpOnly; Max-Age=<ttl>; Path=/; SameSite=Lax``.
  A missing or bad name is a 400 saying what to send.
* App pages — ``/profile``, ``/cart``, ``/orders`` and anything under ``/app/``, any
  method — need the cookie. 200 JSON ``{"user", "backend", "session", "home", "path",
  "mode"}`` when this backend knows the session; 401 "not logged in: no session
  cookie" without one; and, the lesson, 401 with a plain-text body when it does not
  know it: "session s1-3f9a… not found on s2 — it lives on s1". That last one is a
  *session loss*: counted per backend and in total, and handed to ``on_loss`` as a
  ``SessionLost`` event.
* ``POST /logout`` — deletes the session (200 JSON ``{"backend", "session",
  "logged_out"}``) and clears the cookie.

Where sessions live (``mode``, switchable while traffic runs — handlers read it per
request):

* ``local`` (the default) — in the memory of the backend that created the session: a
  ``MemoryStore`` per life of the backend. Requests spread over the fleet lose their
  session; sticky sessions fix that until the backend dies.
* ``shared`` — in ``store`` (a ``MemoryStore`` shared by the fleet, or a real Redis):
  any backend serves any session, and a dead backend loses none.

Switching mode does not migrate sessions: after a switch, sessions made under the
other mode are lost — which is what moving a live site to a session store costs
without a migration.

How a kill loses local sessions: a backend's local store lives in its
``web.Application``, which ``FakeBackend`` builds afresh for each life (start, revive)
and tears down on kill or stop. The store is created when the installer runs (once
per life), listed for the dashboard on the application's ``on_startup`` and cleared
and unlisted on its ``on_cleanup`` — which ``kill`` and ``stop`` trigger through
``AppRunner.cleanup()``. A revived backend starts with an empty store, so every
session it had is lost: sticky sessions are not high availability.

Session ids are ``<backend>-<32 hex digits>`` from ``secrets`` (128 bits, so they
cannot be guessed); the backend part tells a learner (and the 401) where the session
was made. Records are JSON ``{"user", "home", "created"}`` under
``lbplay:session:<id>``, with the session TTL; each successful app request pushes the
expiry out again (sliding expiry, as web frameworks do) and re-sends the cookie.

A shared store that is down or hung makes the request answer 503 "session store
unavailable: redis at 127.0.0.1:6390: connection refused" within the store's timeout;
it never hangs the request.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Literal, get_args

from aiohttp import hdrs, web

from lbplay.core.backends import NAME_RE
from lbplay.core.events import SessionLost
from lbplay.errors import ConfigError
from lbplay.net.fake_backend import BACKEND_KEY, FakeBackend, Installer
from lbplay.net.session_store import MemoryStore, SessionStore, StoreUnavailable

SessionMode = Literal["local", "shared"]
SESSION_MODES: tuple[SessionMode, ...] = get_args(SessionMode)

COOKIE = "lbplay_session"
#: 30 minutes without a request, like most web frameworks' session default.
DEFAULT_TTL = 1800.0
MAX_TTL = 30 * 86_400.0
#: Where session records live in a store (shared by other programs, if it is a Redis).
KEY_PREFIX = "lbplay:session:"
#: ``SessionLost.home`` when sessions lived in the shared store.
SHARED_HOME = "shared store"
#: The app pages that need a session, besides anything under ``APP_PREFIX``.
APP_PATHS = ("/profile", "/cart", "/orders")
APP_PREFIX = "/app/"
USER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", re.ASCII)
#: A login body is a user name; anything much larger is not a login.
MAX_LOGIN_BODY = 4096
_TOKEN_BYTES = 16
_TOKEN_RE = re.compile(rf"[0-9a-f]{{{2 * _TOKEN_BYTES}}}", re.ASCII)
_LOGIN_HINT = "POST /login with user=<name> in a form or JSON body, or /login?user=<name>"
_USER_HINT = "use 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit"

#: A backend's local sessions, in its application: they die with that life of it.
LOCAL_SESSIONS_KEY = web.AppKey("lbplay_local_sessions", MemoryStore)


def home_of(session: str) -> str | None:
    """The backend named in a session id ``<backend>-<hex>``; None if it is not one."""
    home, _, token = session.rpartition("-")
    if NAME_RE.fullmatch(home) and _TOKEN_RE.fullmatch(token):
        return home
    return None


def _text(status: int, text: str) -> web.Response:
    # Plain text with a newline, so curl shows it as a line.
    return web.Response(status=status, text=text + "\n")


def _shown(value: object) -> str:
    """``repr`` of user input, cut short: error messages must not echo megabytes."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_mode(mode: object) -> SessionMode:
    for known in SESSION_MODES:
        if mode == known:
            return known
    raise ConfigError(f"bad session mode {mode!r}: use {' or '.join(SESSION_MODES)}")


def _check_ttl(ttl: object) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= MAX_TTL:
        raise ConfigError(
            f"bad session ttl {ttl!r}: use seconds above 0, at most {MAX_TTL:.0f} (30 days)"
        )
    return float(ttl)


async def _read_user(request: web.Request) -> tuple[str | None, str]:
    """The user name of a login, or None and why not."""
    user: object = request.query.get("user")
    if user is None and request.can_read_body:
        if (request.content_length or 0) > MAX_LOGIN_BODY:
            return None, f"login body too large: send only user=<name> ({_LOGIN_HINT})"
        if request.content_type == "application/json":
            try:
                data = json.loads(await request.text())
            except ValueError:
                return None, f'bad JSON body: send {{"user": "<name>"}} ({_LOGIN_HINT})'
            user = data.get("user") if isinstance(data, dict) else None
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            user = (await request.post()).get("user")
        else:
            return None, f"unsupported body type {request.content_type!r}: {_LOGIN_HINT}"
    if user is None:
        return None, f"missing user name: {_LOGIN_HINT}"
    if not isinstance(user, str) or not USER_RE.fullmatch(user):
        return None, f"bad user name {_shown(user)}: {_USER_HINT}"
    return user, ""


class SessionApp:
    """Session endpoints for fake backends; see the module docstring.

    ``store`` is the shared store (an in-process ``MemoryStore`` by default; the Lab
    swaps in a ``RedisStore`` for ``--redis``); ``on_loss`` gets a ``SessionLost`` for
    every session a backend could not find; ``clock`` stamps events and records and
    drives the local stores' expiry.
    """

    def __init__(
        self,
        *,
        mode: SessionMode = "local",
        store: SessionStore | None = None,
        ttl: float = DEFAULT_TTL,
        on_loss: Callable[[SessionLost], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.mode = mode
        self.ttl = ttl
        self.store: SessionStore = store if store is not None else MemoryStore(clock)
        self.on_loss = on_loss
        #: The local store of each backend's current life, while it is alive.
        self._local: dict[str, MemoryStore] = {}
        self._losses: Counter[str] = Counter()

    @property
    def mode(self) -> SessionMode:
        return self._mode

    @mode.setter
    def mode(self, mode: SessionMode) -> None:
        self._mode = _check_mode(mode)

    @property
    def ttl(self) -> float:
        """Seconds a session lives without a request (sliding)."""
        return self._ttl

    @ttl.setter
    def ttl(self, ttl: float) -> None:
        self._ttl = _check_ttl(ttl)

    # -- what a dashboard reads ------------------------------------------------------

    def losses(self) -> dict[str, int]:
        """Sessions lost per backend (where the request landed), since the last reset."""
        return dict(self._losses)

    @property
    def total_losses(self) -> int:
        return sum(self._losses.values())

    def local_sessions(self) -> dict[str, int]:
        """Live sessions in each running backend's own memory (a dead one has none)."""
        return {name: len(store) for name, store in self._local.items()}

    def local_store(self, backend: str) -> MemoryStore | None:
        """The local store of ``backend``'s current life; None while it is down."""
        return self._local.get(backend)

    def reset_counts(self) -> None:
        """Zero the loss counters (a fresh run); sessions themselves are kept."""
        self._losses.clear()

    # -- the installer -----------------------------------------------------------------

    def installer(self) -> Installer:
        """The function to pass in ``FakeBackend(installers=[...])``."""
        return self._install

    def _install(self, app: web.Application, backend: FakeBackend) -> None:
        # Runs in FakeBackend.build_app: once per life of the backend.
        local = MemoryStore(self._clock)
        app[LOCAL_SESSIONS_KEY] = local
        name = backend.name

        async def born(app: web.Application) -> None:
            self._local[name] = local

        async def died(app: web.Application) -> None:
            # kill and stop tear the application down: its memory is gone.
            local.clear()
            if self._local.get(name) is local:
                del self._local[name]

        app.on_startup.append(born)
        app.on_cleanup.append(died)
        app.router.add_route("*", "/login", self._login, name="session_login")
        app.router.add_route("*", "/logout", self._logout, name="session_logout")
        for path in APP_PATHS:
            app.router.add_route("*", path, self._page, name=f"session_{path.strip('/')}")
        app.router.add_route("*", APP_PREFIX + "{tail:.*}", self._page, name="session_app")

    def _store(self, request: web.Request, mode: SessionMode) -> SessionStore:
        return self.store if mode == "shared" else request.app[LOCAL_SESSIONS_KEY]

    def _cookie(self, response: web.StreamResponse, session: str) -> None:
        response.set_cookie(
            COOKIE,
            session,
            path="/",
            httponly=True,
            samesite="Lax",
            max_age=math.ceil(self._ttl),
        )

    # -- the handlers ------------------------------------------------------------------

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if request.method != hdrs.METH_POST:
            response = _text(405, f"use {_LOGIN_HINT}")
            response.headers[hdrs.ALLOW] = hdrs.METH_POST
            return response
        backend = request.app[BACKEND_KEY].name
        user, problem = await _read_user(request)
        if user is None:
            return _text(400, problem)
        session = f"{backend}-{secrets.token_hex(_TOKEN_BYTES)}"
        record = json.dumps({"user": user, "home": backend, "created": self._clock()})
        mode = self._mode
        try:
            await self._store(request, mode).set(KEY_PREFIX + session, record, self._ttl)
        except StoreUnavailable as exc:
            return _text(503, f"session store unavailable: {exc}")
        response = web.json_response(
            {"user": user, "session": session, "backend": backend, "mode": mode}
        )
        self._cookie(response, session)
        return response

    async def _logout(self, request: web.Request) -> web.StreamResponse:
        if request.method != hdrs.METH_POST:
            response = _text(405, "use POST /logout")
            response.headers[hdrs.ALLOW] = hdrs.METH_POST
            return response
        backend = request.app[BACKEND_KEY].name
        session = request.cookies.get(COOKIE)
        logged_out = False
        if session and home_of(session):
            try:
                logged_out = await self._store(request, self._mode).delete(KEY_PREFIX + session)
            except StoreUnavailable as exc:
                return _text(503, f"session store unavailable: {exc}")
        response = web.json_response(
            {"backend": backend, "session": session or None, "logged_out": logged_out}
        )
        response.del_cookie(COOKIE, path="/")
        return response

    async def _page(self, request: web.Request) -> web.StreamResponse:
        backend = request.app[BACKEND_KEY].name
        session = request.cookies.get(COOKIE)
        if not session:
            return _text(401, f"not logged in: no session cookie ({_LOGIN_HINT})")
        home = home_of(session)
        if home is None:
            return _text(401, f"not logged in: {_shown(session)} is not a session id")
        mode = self._mode
        store = self._store(request, mode)
        key = KEY_PREFIX + session
        try:
            raw = await store.get(key)
            if raw is not None:
                await store.expire(key, self._ttl)  # sliding expiry
        except StoreUnavailable as exc:
            return _text(503, f"session store unavailable: {exc}")
        record = _parse_record(raw)
        if record is None:
            local = self._local.get(home)
            stranded = mode == "shared" and local is not None and await local.get(key) is not None
            return self._lost(request, backend, session, home, mode, stranded=stranded)
        response = web.json_response(
            {
                "user": record.get("user"),
                "backend": backend,
                "session": session,
                "home": record.get("home", home),
                "path": request.path,
                "mode": mode,
            }
        )
        self._cookie(response, session)
        return response

    def _lost(
        self,
        request: web.Request,
        backend: str,
        session: str,
        home: str,
        mode: SessionMode,
        *,
        stranded: bool = False,
    ) -> web.Response:
        if stranded:
            home, reason = (
                SHARED_HOME,
                (
                    f"it was made in {home}'s own memory before sessions moved to the shared"
                    " store; switching stores does not copy sessions, so its user must log in again"
                ),
            )
        elif mode == "shared":
            home, reason = SHARED_HOME, "expired or never created"
        elif home == backend:
            reason = f"it was made here but is gone: expired, or lost when {backend} restarted"
        else:
            reason = f"it lives on {home}"
        event = SessionLost(
            at=self._clock(),
            session=session,
            backend=backend,
            home=home,
            reason=reason,
            path=request.path,
        )
        self._losses[backend] += 1
        if self.on_loss is not None:
            self.on_loss(event)
        return _text(401, event.text)


def _parse_record(raw: str | None) -> dict[str, object] | None:
    """A stored session record; None when missing or not one of ours."""
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
