"""A small JSON admin API for a running Lab, in the spirit of HAProxy's runtime API
and Envoy's admin page. ``lbplay ctl`` is its client.

It listens on its own loopback port. Reading (``GET``) is open; every change needs
the per-run token (``Authorization: Bearer <token>``) that ``lbplay serve`` writes
to its state file, readable only by its user — any local process can reach a
loopback port, and the admin API can kill servers.

    GET    /state                         everything the dashboard draws (JSON)
    GET    /events?since=SEQ&limit=N      recent events after sequence number SEQ
    GET    /algorithms                    the registry: names, ideas, real-world names
    POST   /algorithm      {"name": "maglev", "options": {"table_size": 65537}, "pool": "api"}
    POST   /mode           {"mode": "l4"}
    POST   /traffic        {"rate": 100} | {"paused": true}
    POST   /traffic/burst  {"count": 300}
    POST   /backends       {"name": "s9", "weight": 2, "backup": false}
    DELETE /backends/{name}
    POST   /backends/{name}/kill | /revive
    POST   /backends/{name}/weight     {"weight": 3}
    POST   /backends/{name}/slow       {"ms": 200}
    POST   /backends/{name}/errors     {"rate": 0.5}
    POST   /backends/{name}/latency    {"kind": "lognormal", "ms": 20, "sigma": 0.5}
    POST   /backends/{name}/capacity   {"limit": 4}    (null: unlimited)
    POST   /backends/{name}/hang       {"on": true}
    POST   /backends/{name}/brownout   {"on": true}
    POST   /backends/{name}/drain      {"timeout": 30}   (default: the lab's drain timeout)
    POST   /backends/{name}/disable | /enable
    POST   /backends/{name}/backup     {"on": true}
    POST   /backends/{name}/max-conns  {"limit": 10}    (null: unlimited)
    POST   /health         {"preset": "aws-alb", "scale": 0.1} | {"enabled": false}
    POST   /passive        {"nginx": {"max_fails": 1, "fail_timeout": 10},
                            "outlier": {"consecutive": 5, "base_ejection_time": 30}}
                           (null or missing: that school off)
    POST   /panic          {"threshold": 0.5}
    POST   /sticky         {"mode": "cookie"}     (none, cookie, ip, ip/24, header:NAME, query:NAME)
    POST   /sessions       {"mode": "shared"} (none, cookie, ip, header, shared) |
                           {"store": "redis://127.0.0.1:6379/0"} | {"logins": true}
    POST   /routes         {"rules": ["path=/api->api", "host=*.admin.test->admin"]}
    POST   /pools          {"name": "api", "backends": 2, "algorithm": "least_connections"}
    DELETE /pools/{name}
    POST   /slow-start     {"seconds": 10}

Errors are JSON ``{"error": "..."}`` with 400 (bad input), 401 (no or wrong token),
404 (no such backend) or 409 (not possible now).
"""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import hdrs, web

from lbplay.core import registry
from lbplay.core.events import Event
from lbplay.core.passive import NginxPassive, OutlierDetection
from lbplay.errors import ConfigError, LbplayError, UnknownBackend
from lbplay.net.fake_backend import LatencyModel

if TYPE_CHECKING:
    from lbplay.net.lab import Lab

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._guard])
        app.add_routes(
            [
                web.get("/", self._index),
                web.get("/state", self._state),
                web.get("/events", self._events),
                web.get("/algorithms", self._algorithms),
                web.post("/algorithm", self._set_algorithm),
                web.post("/mode", self._set_mode),
                web.post("/traffic", self._set_traffic),
                web.post("/traffic/burst", self._burst),
                web.post("/health", self._set_health),
                web.post("/passive", self._set_passive),
                web.post("/panic", self._set_panic),
                web.post("/sticky", self._set_sticky),
                web.post("/sessions", self._set_sessions),
                web.post("/routes", self._set_routes),
                web.post("/pools", self._add_pool),
                web.delete("/pools/{name}", self._remove_pool),
                web.post("/slow-start", self._set_slow_start),
                web.post("/backends", self._add),
                web.delete("/backends/{name}", self._remove),
                web.post("/backends/{name}/{action}", self._backend_action),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
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

    # -- plumbing ------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Token check for changes; lbplay's errors become JSON with the right status."""
        if request.method not in ("GET", "HEAD"):
            given = request.headers.get(hdrs.AUTHORIZATION, "")
            if not secrets.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return _error(
                    401,
                    "changes need 'Authorization: Bearer <token>';"
                    " lbplay ctl reads the token from the state file",
                )
        try:
            return await handler(request)
        except UnknownBackend as error:
            return _error(404, str(error))
        except LbplayError as error:
            return _error(400, str(error))

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
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
        try:
            since = int(request.query.get("since", "0"))
            limit = int(request.query.get("limit", "200"))
        except ValueError:
            raise ConfigError("since and limit must be whole numbers") from None
        events = [e for e in self.lab.events.recent if e.seq > since][-max(1, limit) :]
        return _json({"events": events})

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

    # -- changing ------------------------------------------------------------------

    async def _set_algorithm(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise ConfigError("options must be a JSON object")
        pool = str(body.get("pool") or "default")
        self.lab.set_algorithm(str(body.get("name", "")), options, pool=pool)
        return _json({"algorithm": self.lab.pools[pool].algorithm, "pool": pool})

    async def _set_mode(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        await self.lab.set_mode(str(body.get("mode", "")).lower())  # type: ignore[arg-type]
        return _json({"mode": self.lab.mode})

    async def _set_traffic(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if "rate" in body:
            self.lab.set_rate(_number(body, "rate"))
        if "paused" in body:
            if body["paused"]:
                self.lab.pause()
            else:
                self.lab.resume()
        view = self.lab.snapshot()
        return _json({"rate": view.rate, "paused": view.paused})

    async def _burst(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        count = int(_number(body, "count", 300))
        await self.lab.burst(count)
        return _json({"burst": count})

    async def _set_health(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if "preset" in body:
            self.lab.set_health_preset(str(body["preset"]), _number(body, "scale", 1.0))
        if "enabled" in body:
            self.lab.set_health_checks(bool(body["enabled"]))
        return _json({"health": self.lab.snapshot().health})

    async def _set_passive(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        nginx = _settings(body.get("nginx"), NginxPassive, "nginx")
        outlier = _settings(body.get("outlier"), OutlierDetection, "outlier")
        self.lab.set_passive(nginx, outlier)
        return _json({"nginx": nginx, "outlier": outlier})

    async def _set_panic(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.lab.set_panic_threshold(_number(body, "threshold"))
        return _json({"threshold": self.lab.balancer.panic_threshold})

    async def _set_sticky(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.lab.set_sticky(str(body.get("mode", "")))
        return _json({"sticky": self.lab.affinity.config.describe()})

    async def _set_sessions(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if "store" in body:
            await self.lab.set_session_store(str(body["store"]))
        if "mode" in body:
            self.lab.set_session_mode(str(body["mode"]))
        if "logins" in body:
            self.lab.set_logins(bool(body["logins"]))
        view = self.lab.snapshot()
        return _json(
            {"mode": view.session_mode, "store": view.session_store, "logins": view.logins}
        )

    async def _set_routes(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        rules = body.get("rules", [])
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise ConfigError("rules must be a list of strings like 'path=/api->api'")
        self.lab.set_routes(rules)
        return _json({"routes": [r.describe() for r in self.lab.router.rules]})

    async def _add_pool(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        count = body.get("backends", 2)
        if not isinstance(count, int) or isinstance(count, bool):
            raise ConfigError(f"backends must be a whole number, not {count!r}")
        name = str(body.get("name", ""))
        await self.lab.add_pool(name, count, str(body.get("algorithm", "round_robin")))
        return _json({"pool": name}, 201)

    async def _remove_pool(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self.lab.remove_pool(name)
        return _json({"removed": name})

    async def _set_slow_start(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        self.lab.set_slow_start(_number(body, "seconds"))
        return _json({"seconds": self.lab.balancer.slow_start})

    async def _add(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        name = body.get("name")
        weight = body.get("weight", 1)
        if not isinstance(weight, int) or isinstance(weight, bool):
            raise ConfigError(f"weight must be a whole number, not {weight!r}")
        added = await self.lab.add_backend(
            str(name) if name else None,
            weight,
            backup=bool(body.get("backup", False)),
            pool=str(body.get("pool") or "default"),
        )
        return _json({"added": added}, 201)

    async def _remove(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        await self.lab.remove_backend(name)
        return _json({"removed": name})

    async def _backend_action(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        action = request.match_info["action"]
        body = await self._body(request)
        lab = self.lab
        lab.balancer.get(name)  # 404 before anything else
        if action == "kill":
            await lab.kill(name)
        elif action == "revive":
            await lab.revive(name)
        elif action == "weight":
            weight = body.get("weight")
            if not isinstance(weight, int) or isinstance(weight, bool):
                raise ConfigError(f"weight must be a whole number, not {weight!r}")
            lab.set_weight(name, weight)
        elif action == "slow":
            lab.set_slow(name, _number(body, "ms"))
        elif action == "errors":
            lab.set_error_rate(name, _number(body, "rate"))
        elif action == "latency":
            lab.set_latency(name, _latency(body))
        elif action == "capacity":
            limit = body.get("limit")
            if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
                raise ConfigError(f"limit must be a whole number or null, not {limit!r}")
            lab.set_capacity(name, limit)
        elif action == "hang":
            lab.set_hang(name, bool(body.get("on", True)))
        elif action == "brownout":
            lab.set_brownout(name, bool(body.get("on", True)))
        else:
            return _error(
                404,
                f"no action {action!r} (kill, revive, weight, slow, errors,"
                " latency, capacity, hang, brownout)",
            )
        return _json({"backend": name, "action": action})


def _number(body: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number, not {value!r}")
    return float(value)


def _settings(value: Any, kind: type[Any], label: str) -> Any:
    """A passive-health settings object from JSON (None stays None)."""
    if value is None or value is False:
        return None
    if value is True:
        return kind()
    if not isinstance(value, dict):
        raise ConfigError(f"{label} must be a JSON object, true or null")
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = set(value) - known
    if unknown:
        raise ConfigError(f"{label} has no setting {', '.join(sorted(unknown))}")
    if "counts" in value:
        value = {**value, "counts": frozenset(value["counts"])}
    try:
        return kind(**value)
    except TypeError as error:
        raise ConfigError(f"bad {label} settings: {error}") from None


def _latency(body: Mapping[str, Any]) -> LatencyModel:
    kind = body.get("kind", "fixed")
    if kind == "fixed":
        return LatencyModel.fixed(_number(body, "ms"))
    if kind == "uniform":
        return LatencyModel.uniform(_number(body, "ms"), _number(body, "high_ms"))
    if kind == "lognormal":
        return LatencyModel.lognormal(_number(body, "ms"), _number(body, "sigma", 1.0))
    raise ConfigError(f"latency kind must be fixed, uniform or lognormal, not {kind!r}")
