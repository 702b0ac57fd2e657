"""A small JSON admin API for a running Lab, in the spirit of HAProxy's runtime API
and Envoy's admin page. ``lbplay ctl`` is its client.

It is a client of the Lab, started beside it by whoever runs the lab (``lbplay
serve``, the dashboard), on its own loopback port. Reading (``GET``) is open; every
change needs the per-run token (``Authorization: Bearer <token>``) that is written
to the run file, readable only by its user — any local process can reach a loopback
port, and the admin API can kill servers.

    GET    /state                     everything the dashboard draws (JSON)
    GET    /events?since=SEQ&limit=N&kind=health,control&backend=s2
                                      recent events after sequence number SEQ, of
                                      these kinds (request, health, control, session,
                                      notice), about one backend
    GET    /algorithms                the registry: names, ideas, real-world names
    GET    /controls                  every control: its name, usage and help
    GET    /config                    the lab now as a lab model (TOML) and its addresses
    POST   /control                   one control in its JSON form, e.g.
                                      {"control": "kill", "backend": "s2"}
                                      {"control": "slow", "backend": "s3", "ms": 300}
                                      {"control": "algorithm", "algorithm": "maglev"}
    POST   /backends/{name}/{control} the same for a control of one backend: the
                                      name comes from the path, the rest from the body

Every change is a ``model.controls`` control applied with ``Lab.apply``; the answer
is its outcome: ``{"control": "kill s2", "action": "s2 killed", "detail": ...,
"watch": ..., "result": {...}}``. Errors are JSON ``{"error": "..."}`` with 400 (bad
input, naming the field), 401 (no or wrong token), 404 (no such backend or route) or
409 (not possible now). A client's mistake is never a 500 and never a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from lbplay.core import registry
from lbplay.core.backends import check_name
from lbplay.core.events import KINDS, Event
from lbplay.errors import ConfigError, LbplayError, UnknownBackend
from lbplay.model import controls
from lbplay.model.tomlform import dumps
from lbplay.net.lab import Lab
from lbplay.net.views import addresses, live_config

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)


class _ClientErrors(logging.Filter):
    """Drop aiohttp's tracebacks for requests a client got wrong (a head too long, a
    bad method): they are answered 400 and are not lbplay's errors to print."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, HttpProcessingError) and (error.code or 400) < 500)


#: The admin server's own log: aiohttp's, without the client errors.
server_log = logging.getLogger("lbplay.net.admin.server")
server_log.addFilter(_ClientErrors())
#: Bodies larger than this are refused (413): a control is a few hundred bytes.
MAX_BODY = 64 * 1024


def to_plain(value: Any) -> Any:
    """Dataclasses, mappings and tuples as JSON-ready dicts, lists and numbers."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        plain = {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, Event):
            plain["type"] = type(value).__name__
            plain["text"] = value.text
        return plain
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | range):
        return [to_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_plain(v) for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(to_plain(data)) + "\n", status=status, content_type="application/json"
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


class AdminApi:
    """The admin HTTP server of one Lab."""

    def __init__(
        self, lab: Lab, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None
    ) -> None:
        self.lab = lab
        self.host = host
        self.port = port
        self.token = token or secrets.token_urlsafe(24)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY)
        app.add_routes(
            [
                web.get("/", self._index),
                web.get("/state", self._state),
                web.get("/events", self._events),
                web.get("/algorithms", self._algorithms),
                web.get("/controls", self._controls),
                web.get("/config", self._config),
                web.post("/control", self._control),
                web.post("/backends/{name}/{control}", self._backend_control),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, logger=server_log)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await self._runner.cleanup()
            raise ConfigError(
                f"cannot listen on {self.host}:{self.port} for the admin API: {error.strerror}"
            ) from None
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AdminApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- plumbing ------------------------------------------------------------------

    def authorised(self, request: web.Request) -> bool:
        """Whether the request carries this run's token (any header bytes at all)."""
        given = request.headers.get(hdrs.AUTHORIZATION, "")
        expected = f"Bearer {self.token}".encode()
        return secrets.compare_digest(given.encode("utf-8", "surrogateescape"), expected)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Token check for changes; lbplay's errors become JSON with the right status."""
        if request.method not in ("GET", "HEAD") and not self.authorised(request):
            return _error(
                401,
                "changes need 'Authorization: Bearer <token>';"
                " lbplay ctl reads the token from the run file",
            )
        try:
            return await handler(request)
        except web.HTTPException as error:
            if error.status >= 400 and error.empty_body:
                return _error(error.status, error.reason)
            raise
        except UnknownBackend as error:
            return _error(404, str(error))
        except LbplayError as error:
            return _error(400, str(error))

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            data = json.loads(await request.read())
        except web.HTTPRequestEntityTooLarge:
            raise
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise ConfigError("the request body must be a JSON object") from None
        if not isinstance(data, dict):
            raise ConfigError("the request body must be a JSON object")
        return data

    # -- reading -------------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return _json({"lbplay": "admin API", "docs": __doc__})

    async def _state(self, request: web.Request) -> web.Response:
        return _json(self.lab.snapshot())

    async def _events(self, request: web.Request) -> web.Response:
        since = _whole_query(request, "since", 0)
        limit = _whole_query(request, "limit", 200, low=1)
        kinds = request.query.get("kind", ",".join(KINDS)).split(",")
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ConfigError(f"no kind of event {unknown[0]!r} (kinds: {', '.join(KINDS)})")
        backend = request.query.get("backend")
        if backend is not None:
            check_name(backend)
        events = self.lab.events.select(kinds, backend=backend, since=since, limit=limit)
        return _json(
            {
                "events": events,
                "last": self.lab.events.recent[-1].seq if self.lab.events.recent else 0,
            }
        )

    async def _algorithms(self, request: web.Request) -> web.Response:
        infos = [registry.get(name) for name in registry.names()]
        return _json(
            [
                {
                    "name": i.name,
                    "family": i.family,
                    "idea": i.idea,
                    "nginx": i.nginx,
                    "haproxy": i.haproxy,
                    "envoy": i.envoy,
                    "aws": i.aws,
                    "options": {k: o.default for k, o in i.options.items()},
                }
                for i in infos
            ]
        )

    async def _config(self, request: web.Request) -> web.Response:
        """The lab as it is now, as a lab model in TOML, and its backends' addresses
        (``lbplay export`` turns them into a real balancer's configuration)."""
        return _json(
            {
                "config": dumps(live_config(self.lab)),
                "addresses": addresses(self.lab),
                "proxy_url": self.lab.proxy_url,
            }
        )

    async def _controls(self, request: web.Request) -> web.Response:
        return _json(
            [
                {
                    "name": name,
                    "usage": controls.usage(controls.CONTROLS[name]),
                    "help": controls.CONTROLS[name].HELP,
                    "group": controls.CONTROLS[name].GROUP,
                }
                for name in controls.control_names()
            ]
        )

    # -- changing ------------------------------------------------------------------

    async def _control(self, request: web.Request) -> web.Response:
        control = controls.from_json(await self._body(request))
        return _json((await self.lab.apply(control)).to_json())

    async def _backend_control(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        which = request.match_info["control"]
        body = await self._body(request)
        try:
            cls = controls.spec_of(which)
        except ConfigError as error:
            return _error(404, str(error))
        if cls.BACKEND is None:
            return _error(404, f"{cls.NAME} is not a control of one backend: POST /control")
        if cls.BACKEND in body:
            raise ConfigError(f"the backend is named in the path, not in the body's {cls.BACKEND}")
        self.lab.fleet.pool_of(name)  # 404 for a backend of no pool
        control = controls.from_json({**body, "control": cls.NAME, cls.BACKEND: name})
        return _json((await self.lab.apply(control)).to_json())


def _whole_query(request: web.Request, key: str, default: int, *, low: int = 0) -> int:
    text = request.query.get(key)
    if text is None:
        return default
    if not text.isdigit() or not text.isascii() or not low <= int(text) <= 1_000_000:
        raise ConfigError(f"{key} must be a whole number from {low} to 1000000, not {text!r}")
    return int(text)
