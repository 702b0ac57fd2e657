"""A candidate's load-balancing design, in a short TOML form lbplay can build and run.

An interview answer names a few decisions per pool of servers; this module reads them
and turns them into a real ``LabConfig`` (``Design.lab``), so the design can be played
against an incident on the Lab (``course.prove``)::

    mode = "l7"                      # l7 (per request) or l4 (per connection)
    routes = []                      # content routing, first match wins: "path=/api->api"

    [[pools]]
    name = "api"
    servers = 10
    algorithm = "least_connections"  # 'lbplay algorithms' lists them
    options = {}                     # the algorithm's options, e.g. { vnodes = 100 }
    health = { interval = 10, timeout = 2, rise = 2, fall = 3 }   # or "off", or a preset
    passive = { max_fails = 1, fail_timeout = 10 }   # nginx; or { outlier = 5, ejection_time = 30 }
    sessions = "shared"              # none | cookie | ip | shared
    retries = 2                      # extra tries on another server (0: none)
    retry_on = [502, 503]            # answers tried again too (failed connections always are)
                                     # (and timeouts, except of POST, PATCH, LOCK)
    drain_timeout = 30               # seconds a draining server may finish its requests
    slow_start = 0                   # seconds a returning server ramps up (0: off)
    max_conns = 0                    # requests in flight per server, the rest queue (0: no limit)

The first pool is the main one: unrouted traffic goes there, and an incident acts on
its servers, which are named after it (``api-1`` ... ``api-10``). lbplay's Lab runs one
health check, passive check, session set-up, retry policy, drain timeout and slow start
for every pool, so pools must agree on those (a one-line error says which differs).

Health checks must state their thresholds: an interval without ``rise`` and ``fall``
is one of the red flags interviewers listen for, and here it is an error.

Every mistake is a ``DesignError``: one line naming the key (``pools[0].health.fall``),
and, when read from a file, its line (``design.toml:12: ...``).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lbplay.core import registry
from lbplay.core.affinity import AffinityConfig
from lbplay.core.health import PRESETS, HealthCheckConfig
from lbplay.core.passive import NginxPassive, OutlierDetection, nginx_failures
from lbplay.core.routing import DEFAULT_POOL, Rule
from lbplay.course.lesson import toml_line
from lbplay.errors import ConfigError
from lbplay.model.config import (
    MAX_BACKENDS,
    BackendSpec,
    LabConfig,
    Mode,
    PoolSpec,
    ProxyConfig,
    RetryPolicy,
)
from lbplay.model.faults import LatencyModel

#: Session strategies a design may name: (affinity, where sessions live, in words).
SESSIONS: dict[str, tuple[str, str, str]] = {
    "none": ("none", "local", "no affinity; sessions in each server's memory"),
    "cookie": ("cookie", "local", "a sticky cookie; sessions in each server's memory"),
    "ip": ("ip", "local", "affinity by client address; sessions in each server's memory"),
    "shared": ("none", "shared", "no affinity; sessions in a shared store (Redis)"),
}
#: Keys of a pool, in the order the template writes them.
POOL_KEYS = (
    "name",
    "servers",
    "algorithm",
    "options",
    "health",
    "passive",
    "sessions",
    "retries",
    "retry_on",
    "drain_timeout",
    "slow_start",
    "max_conns",
)
#: Pool settings the Lab applies to every pool at once.
SHARED_KEYS = (
    "health",
    "passive",
    "sessions",
    "retries",
    "retry_on",
    "drain_timeout",
    "slow_start",
    "max_conns",
)
TOP_KEYS = ("mode", "routes", "pools")
#: The most servers a design may have in all (a prove run stays small).
MAX_SERVERS = 32


class KeyedError(ConfigError):
    """A mistake in a TOML document, at a key: what is wrong and where.

    ``key`` is the path of the key (``pools[1].health.fall``); ``pool`` the index of
    the pool it is in (None elsewhere); ``path`` and ``line`` are filled in by ``at``
    when the document came from a file, and the message then starts ``file:line:``.
    """

    def __init__(self, message: str, key: str = "", pool: int | None = None) -> None:
        self.message = message
        self.key = key
        self.pool = pool
        self.path: Path | None = None
        self.line = 0
        super().__init__(message)

    def at(self, path: Path, line: int) -> KeyedError:
        """This error, placed in a file."""
        self.path, self.line = path, line
        self.args = (f"{path}:{line}: {self.message}",)
        return self


class DesignError(KeyedError):
    """A design lbplay cannot build."""


def keyed(path: str, message: str) -> str:
    """``pools[0].servers`` + ``servers is 1 to 32`` → ``pools[0].servers is 1 to 32``;
    any other message follows the path after a colon."""
    last = path.rsplit(".", 1)[-1]
    if message.startswith(f"{last} "):
        return f"{path} {message[len(last) + 1 :]}"
    return f"{path}: {message}"


@dataclass(frozen=True)
class PoolDesign:
    """One pool of servers and how it is balanced and protected."""

    name: str
    servers: int
    algorithm: str = "round_robin"
    options: Mapping[str, Any] = field(default_factory=dict)
    health: HealthCheckConfig | None = None
    passive_nginx: NginxPassive | None = None
    passive_outlier: OutlierDetection | None = None
    sessions: str = "none"
    #: Extra tries on another server (tries = retries + 1).
    retries: int = 0
    retry_on: frozenset[int] = frozenset()
    drain_timeout: float = 30.0
    slow_start: float = 0.0
    max_conns: int | None = None

    def server_names(self) -> list[str]:
        """``api-1``, ``api-2``, ...: the names its servers have on the Lab."""
        return [f"{self.name}-{n}" for n in range(1, self.servers + 1)]

    def shared(self) -> tuple[Any, ...]:
        """The settings every pool must agree on (``SHARED_KEYS``)."""
        return (
            self.health,
            (self.passive_nginx, self.passive_outlier),
            self.sessions,
            self.retries,
            self.retry_on,
            self.drain_timeout,
            self.slow_start,
            self.max_conns,
        )


@dataclass(frozen=True)
class Design:
    """A whole design: its pools (the first is the main one), routes and mode."""

    pools: tuple[PoolDesign, ...]
    routes: tuple[Rule, ...] = ()
    mode: Mode = "l7"

    @property
    def main(self) -> PoolDesign:
        return self.pools[0]

    def lab(
        self,
        *,
        scale: float = 1.0,
        rate: float = 50.0,
        clients: int = 20,
        logins: bool = False,
        latency: LatencyModel | None = None,
        capacity: int | None = None,
        mix: str = "pages",
        nat: str = "off",
        seed: int = 0,
    ) -> LabConfig:
        """The ``LabConfig`` that runs this design in a world of the given traffic.

        ``scale`` multiplies every time of the design that is measured in seconds of
        operations — health interval and timeout, passive windows, drain timeout,
        slow start — so that a 10 s health check can be watched in 1 s (``scale=0.1``);
        thresholds and counts stay as designed. ``capacity`` is each server's limit of
        requests served at once (a fact of the world, not of the design).
        """
        main = self.main
        health = main.health.scaled(scale) if main.health is not None else None
        if health is not None and scale != 1:
            health = replace(health, interval=max(health.interval, 0.01))
        nginx = (
            replace(main.passive_nginx, fail_timeout=main.passive_nginx.fail_timeout * scale)
            if main.passive_nginx is not None
            else None
        )
        outlier = (
            replace(
                main.passive_outlier,
                base_ejection_time=main.passive_outlier.base_ejection_time * scale,
                max_ejection_time=main.passive_outlier.max_ejection_time * scale,
            )
            if main.passive_outlier is not None
            else None
        )
        sticky, store, _ = SESSIONS[main.sessions]

        def fleet(pool: PoolDesign) -> tuple[BackendSpec, ...]:
            return tuple(BackendSpec(name, capacity=capacity) for name in pool.server_names())

        routes = tuple(
            replace(rule, pool=DEFAULT_POOL) if rule.pool == main.name else rule
            for rule in self.routes
        )
        settings: dict[str, Any] = {
            "backends": fleet(main),
            "algorithm": main.algorithm,
            "options": dict(main.options),
            "mode": self.mode,
            "proxy": ProxyConfig(
                retry=RetryPolicy(tries=main.retries + 1, on_status=main.retry_on)
            ),
            "rate": rate,
            "clients": clients,
            "nat": nat,
            "mix": mix,
            "seed": seed,
            "health": health,
            "passive_nginx": nginx,
            "passive_outlier": outlier,
            "slow_start": main.slow_start * scale,
            "drain_timeout": main.drain_timeout * scale,
            "max_conns": main.max_conns,
            "pools": tuple(
                PoolSpec(p.name, fleet(p), p.algorithm, dict(p.options)) for p in self.pools[1:]
            ),
            "routes": routes,
            "sticky": AffinityConfig.parse(sticky),
            "sessions": store,
            "logins": logins,
        }
        if latency is not None:
            settings["latency"] = latency
        try:
            return LabConfig(**settings)
        except ConfigError as error:
            raise DesignError(f"lbplay cannot build this design: {error}") from None

    def describe(self) -> list[str]:
        """The design in a few lines, for a scorecard's header."""
        lines = []
        for pool in self.pools:
            health = (
                f"health every {pool.health.interval:g} s, timeout {pool.health.timeout:g} s,"
                f" rise {pool.health.rise}, fall {pool.health.fall}"
                if pool.health is not None
                else "no active health check"
            )
            passive = ""
            if pool.passive_nginx is not None:
                passive = (
                    f"; passive max_fails {pool.passive_nginx.max_fails}"
                    f" in {pool.passive_nginx.fail_timeout:g} s"
                )
            elif pool.passive_outlier is not None:
                passive = (
                    f"; outlier ejection after {pool.passive_outlier.consecutive}"
                    f" failures for {pool.passive_outlier.base_ejection_time:g} s"
                )
            retries = "no retries"
            if pool.retries:
                on = "".join(f", {s}" for s in sorted(pool.retry_on))
                plural = "retry" if pool.retries == 1 else "retries"
                retries = f"{pool.retries} {plural} (connection failures, timeouts{on})"
            lines.append(
                f"{pool.name}: {pool.servers} servers, {pool.algorithm}; {health}{passive};"
                f" sessions {pool.sessions}; {retries}; drain {pool.drain_timeout:g} s"
            )
        if self.routes:
            lines.append("routes: " + ", ".join(r.describe() for r in self.routes))
        return lines


# -- reading -----------------------------------------------------------------------------


def parse(data: Mapping[str, Any], where: str = "") -> Design:
    """A ``Design`` from TOML-shaped data; ``DesignError`` naming the key that is wrong.

    ``where`` prefixes key paths (``model_design.pools[0].health``), for a design
    inside a prompt file.
    """
    prefix = f"{where}." if where else ""
    if not isinstance(data, Mapping):
        raise DesignError(f"{where or 'a design'} must be a table")
    extra = sorted(set(data) - set(TOP_KEYS))
    if extra:
        raise DesignError(
            f"{prefix}{extra[0]}: a design has no setting {extra[0]!r}"
            f" (settings: {', '.join(TOP_KEYS)}; pool settings go in [[pools]])",
            f"{prefix}{extra[0]}",
        )
    mode = data.get("mode", "l7")
    if mode not in ("l7", "l4"):
        raise DesignError(f"{prefix}mode must be l7 or l4, not {mode!r}", f"{prefix}mode")
    raw_pools = data.get("pools")
    if not isinstance(raw_pools, list) or not raw_pools:
        raise DesignError(
            f"{prefix}pools: a design needs at least one [[pools]] table"
            ' (name = "api", servers = 4, ...)',
            f"{prefix}pools",
        )
    pools = tuple(_pool(raw, index, prefix) for index, raw in enumerate(raw_pools))
    names = [p.name for p in pools]
    for index, name in enumerate(names):
        if name in names[:index]:
            key = f"{prefix}pools[{index}].name"
            raise DesignError(f"{key}: two pools are named {name!r}", key, index)
    total = sum(p.servers for p in pools)
    if total > MAX_SERVERS:
        raise DesignError(
            f"{prefix}pools: {total} servers in all; a design proven on the Lab may have at"
            f" most {MAX_SERVERS}",
            f"{prefix}pools",
        )
    for index, pool in enumerate(pools[1:], start=1):
        for key, mine, main in zip(SHARED_KEYS, pool.shared(), pools[0].shared(), strict=True):
            if mine != main:
                raise DesignError(
                    f"{prefix}pools[{index}].{key}: pool {pool.name!r} differs from"
                    f" {pools[0].name!r}; lbplay's Lab applies one {key.replace('_', ' ')}"
                    " to every pool, so give them the same",
                    f"{prefix}pools[{index}].{key}",
                    index,
                )
    routes = _routes(data.get("routes", []), names, prefix)
    if mode == "l4" and (routes or pools[0].sessions in ("cookie",) or len(pools) > 1):
        raise DesignError(
            f"{prefix}mode: an L4 balancer sees connections, not HTTP: it cannot route by"
            " path or host, or read a cookie (use l7, or one pool without cookie sessions)",
            f"{prefix}mode",
        )
    return Design(pools, routes, mode)


def loads(text: str, path: Path | None = None) -> Design:
    """A design from TOML text; errors carry ``path:line`` when ``path`` is given."""
    where = path or Path("design.toml")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DesignError(f"not valid TOML: {error}").at(where, toml_line(error, text)) from None
    try:
        return parse(data)
    except DesignError as error:
        error.at(where, key_line(text, error.key))
        raise


def load(path: Path) -> Design:
    """The design in the file at ``path`` (``DesignError`` for a missing or bad file)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        message = f"no design file {str(path)!r} (start from 'lbplay interview template')"
        raise DesignError(message) from None
    except (OSError, UnicodeDecodeError) as error:
        why = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise DesignError(f"cannot read design file {str(path)!r}: {why}") from None
    return loads(text, path)


def key_line(text: str, key: str) -> int:
    """The line of ``key`` (a path like ``pools[1].health.fall``) in a TOML text.

    Walks the text's tables (``[[pools]]`` counted, so the second is ``pools[1]``)
    and keys, skipping multi-line strings; an unindexed part (``pools``) matches the
    first of an array. When the key itself is not written (a missing key), the line
    of the nearest enclosing table; 1 when nothing matches.
    """
    parts = _split_key(key)
    best, depth = 1, 0
    table: list[str] = []
    counts: dict[str, int] = {}
    in_string = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if in_string:
            if stripped.count(in_string) % 2 == 1:
                in_string = ""
            continue
        header = stripped.split("#", 1)[0].strip()
        if header.startswith("[["):
            name = header.strip("[] ")
            counts[name] = counts.get(name, -1) + 1
            table = _split_key(f"{name}[{counts[name]}]")
        elif header.startswith("["):
            table = _split_key(header.strip("[] "))
        else:
            name, eq, value = stripped.partition("=")
            name = name.strip().strip('"')
            if not eq or not _BARE_KEY.fullmatch(name):
                continue
            for quotes in ('"""', "'''"):
                if value.count(quotes) % 2 == 1:
                    in_string = quotes
            here = [*table, *_split_key(name)]
            if _within(here, parts):
                return number
            continue
        if len(table) > depth and _within(table, parts):
            best, depth = number, len(table)
    return best


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def _within(prefix: list[str], parts: list[str]) -> bool:
    """Whether the key path ``prefix`` leads to ``parts`` (``pools[0]`` matches
    ``pools``: an error about an array points at its first table)."""
    if len(prefix) > len(parts):
        return False
    for mine, wanted in zip(prefix, parts, strict=False):
        if mine != wanted and not ("[" not in wanted and mine.split("[")[0] == wanted):
            return False
    return True


def _split_key(key: str) -> list[str]:
    """``pools[1].health.fall`` → ``["pools[1]", "health", "fall"]``."""
    return [part for part in key.split(".") if part]


def _pool(raw: Any, index: int, prefix: str) -> PoolDesign:
    where = f"{prefix}pools[{index}]"

    def fail(key: str, message: str) -> DesignError:
        return DesignError(keyed(f"{where}.{key}", message), f"{where}.{key}", index)

    if not isinstance(raw, Mapping):
        raise DesignError(f"{where} must be a table ([[pools]])", where, index)
    extra = sorted(set(raw) - set(POOL_KEYS))
    if extra:
        raise fail(
            extra[0], f"a pool has no setting {extra[0]!r} (settings: {', '.join(POOL_KEYS)})"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise DesignError(f'{where}: a pool needs a name (name = "api")', f"{where}.name", index)
    if name == DEFAULT_POOL:
        raise fail("name", f"{name!r} is the Lab's own name for the main pool: choose another")
    try:
        Rule(pool=name, path="/")  # the pool-name rules routes use
        BackendSpec(f"{name}-{MAX_SERVERS}")
    except ConfigError:
        message = f"bad pool name {name!r}: use letters, digits and '-' (up to 28)"
        raise fail("name", message) from None
    servers = raw.get("servers")
    if isinstance(servers, bool) or not isinstance(servers, int) or not 1 <= servers <= MAX_SERVERS:
        raise fail("servers", f"servers is how many servers the pool has: 1 to {MAX_SERVERS}")
    if servers > MAX_BACKENDS:  # pragma: no cover - MAX_SERVERS is smaller
        raise fail("servers", f"at most {MAX_BACKENDS} servers")
    algorithm = raw.get("algorithm", "round_robin")
    if not isinstance(algorithm, str):
        raise fail("algorithm", "algorithm must be a name (see 'lbplay algorithms')")
    options = raw.get("options", {})
    if not isinstance(options, Mapping):
        raise fail("options", "options must be a table, e.g. { vnodes = 100 }")
    try:
        info = registry.get(algorithm)
        info.resolve_options(options)
    except ConfigError as error:
        key = "options" if options and "option" in str(error) else "algorithm"
        raise fail(key, str(error)) from None
    health = _health(raw.get("health", "off"), fail)
    nginx, outlier = _passive(raw.get("passive"), fail)
    sessions = raw.get("sessions", "none")
    if sessions not in SESSIONS:
        raise fail("sessions", f"sessions must be one of {', '.join(SESSIONS)}, not {sessions!r}")
    retries = raw.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 19:
        raise fail(
            "retries",
            "retries is how many more servers a failed request may try: 0 to 19 (unbounded"
            " retries are a red flag: they multiply load when the fleet is sick)",
        )
    retry_on = raw.get("retry_on", [])
    if not isinstance(retry_on, list) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in retry_on
    ):
        raise fail("retry_on", "retry_on must be a list of statuses, e.g. [502, 503]")
    try:
        RetryPolicy(tries=retries + 1, on_status=frozenset(retry_on))
    except ConfigError as error:
        raise fail("retry_on", str(error)) from None
    drain = _seconds(raw, "drain_timeout", 30.0, 3600, fail)
    slow_start = _seconds(raw, "slow_start", 0.0, 3600, fail)
    max_conns = raw.get("max_conns", 0)
    if (
        isinstance(max_conns, bool)
        or not isinstance(max_conns, int)
        or not 0 <= max_conns <= 10_000
    ):
        raise fail("max_conns", "max_conns is requests in flight per server: 0 (no limit) to 10000")
    counts = nginx_failures(retry_on)
    return PoolDesign(
        name=name,
        servers=servers,
        algorithm=info.name,
        options=dict(options),
        health=health,
        passive_nginx=replace(nginx, counts=counts) if nginx is not None else None,
        passive_outlier=outlier,
        sessions=sessions,
        retries=retries,
        retry_on=frozenset(retry_on),
        drain_timeout=drain,
        slow_start=slow_start,
        max_conns=max_conns or None,
    )


#: Makes the error for a key of the pool being read.
Fail = Callable[[str, str], DesignError]


def is_number(value: Any) -> bool:
    """A real, finite number (not a bool)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _seconds(raw: Mapping[str, Any], key: str, default: float, high: float, fail: Fail) -> float:
    value = raw.get(key, default)
    if not is_number(value) or not 0 <= value <= high:
        raise fail(key, f"{key} must be a number of seconds from 0 to {high:g}")
    return float(value)


_HEALTH_KEYS = ("interval", "timeout", "rise", "fall", "path")


def _health(value: Any, fail: Fail) -> HealthCheckConfig | None:
    if value == "off" or value is False:
        return None
    if isinstance(value, str):
        if value not in PRESETS:
            raise fail("health", f"health must be off, a table or a preset ({', '.join(PRESETS)})")
        return PRESETS[value]
    if not isinstance(value, Mapping):
        raise fail(
            "health",
            "health must be a table like { interval = 10, timeout = 2, rise = 2, fall = 3 }",
        )
    extra = sorted(set(value) - set(_HEALTH_KEYS))
    if extra:
        raise fail(
            f"health.{extra[0]}",
            f"a health check has no setting {extra[0]!r} ({', '.join(_HEALTH_KEYS)})",
        )
    for key, what in (
        ("interval", "seconds between checks"),
        ("timeout", "seconds to wait for an answer"),
        ("rise", "successes in a row before a server is UP again"),
        ("fall", "failures in a row before a server is DOWN"),
    ):
        if key not in value:
            raise fail(
                f"health.{key}",
                f"a health check needs {key} ({what}): checks without thresholds are a red flag",
            )
    for key in ("interval", "timeout"):
        if not is_number(value[key]):
            raise fail(f"health.{key}", f"{key} must be a number of seconds")
    for key in ("rise", "fall"):
        if isinstance(value[key], bool) or not isinstance(value[key], int):
            raise fail(f"health.{key}", f"{key} must be a whole number (1 to 100)")
    path = value.get("path", "/health")
    if not isinstance(path, str):
        raise fail("health.path", "path must be text starting with /")
    try:
        return HealthCheckConfig(
            float(value["interval"]),
            float(value["timeout"]),
            value["rise"],
            value["fall"],
            path,
            name="design",
        )
    except ConfigError as error:
        raise fail("health", str(error)) from None


def _passive(value: Any, fail: Fail) -> tuple[NginxPassive | None, OutlierDetection | None]:
    if value is None or value == "off":
        return None, None
    if not isinstance(value, Mapping):
        raise fail(
            "passive",
            "passive must be { max_fails = 1, fail_timeout = 10 } (nginx) or"
            " { outlier = 5, ejection_time = 30 } (Envoy)",
        )
    known = {"max_fails", "fail_timeout", "outlier", "ejection_time"}
    extra = sorted(set(value) - known)
    if extra:
        raise fail(
            f"passive.{extra[0]}",
            f"passive has no setting {extra[0]!r} ({', '.join(sorted(known))})",
        )
    nginx = outlier = None
    try:
        if "max_fails" in value:
            fails, timeout = value["max_fails"], value.get("fail_timeout", 10.0)
            if isinstance(fails, bool) or not isinstance(fails, int) or not is_number(timeout):
                raise ConfigError("max_fails must be a whole number and fail_timeout seconds")
            nginx = NginxPassive(fails, float(timeout))
        elif "fail_timeout" in value:
            raise ConfigError("fail_timeout goes with max_fails")
        if "outlier" in value:
            count, ejection = value["outlier"], value.get("ejection_time", 30.0)
            if isinstance(count, bool) or not isinstance(count, int) or not is_number(ejection):
                raise ConfigError("outlier must be a whole number and ejection_time seconds")
            outlier = OutlierDetection(count, float(ejection), max(300.0, float(ejection)))
        elif "ejection_time" in value:
            raise ConfigError("ejection_time goes with outlier")
    except ConfigError as error:
        raise fail("passive", str(error)) from None
    return nginx, outlier


def _routes(value: Any, pools: list[str], prefix: str) -> tuple[Rule, ...]:
    where = f"{prefix}routes"
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DesignError(f'{where} must be a list of rules like "path=/api->api"', where)
    rules = []
    for index, text in enumerate(value):
        try:
            rule = Rule.parse(text)
        except ConfigError as error:
            raise DesignError(f"{where}[{index}]: {error}", where) from None
        if rule.pool not in pools:
            raise DesignError(
                f"{where}[{index}]: {text!r} names no pool {rule.pool!r}"
                f" (pools: {', '.join(pools)})",
                where,
            )
        rules.append(rule)
    return tuple(rules)


# -- writing -----------------------------------------------------------------------------


def template(
    design: Design, *, title: str = "", prompt: str = "NAME", servers: int | None = None
) -> str:
    """A commented design file with ``design``'s pools and servers and neutral choices
    (round robin, a health check, no sessions, no retries): a start, not an answer.
    ``servers`` replaces the main pool's count when that count is part of the answer."""
    lines = [
        f"# A design for: {title}" if title else "# A load-balancing design",
        f"# Prove it: lbplay interview prove THIS_FILE --prompt {prompt}",
        "",
        "# l7 balances each request (routes, cookies, retries); l4 balances connections.",
        f'mode = "{design.mode}"',
        '# Content routing, first match wins, e.g. "path=/api->api"; the first pool gets',
        "# the rest.",
        "routes = []",
    ]
    for index, pool in enumerate(design.pools):
        count = servers if index == 0 and servers is not None else pool.servers
        lines += [
            "",
            "[[pools]]",
            f'name = "{pool.name}"',
            f"servers = {count}",
            "# Any of 'lbplay algorithms': round_robin, least_connections, power_of_two_choices,",
            "# ring_hash, bounded_load, ...; options = { vnodes = 100 } and so on.",
            'algorithm = "round_robin"',
            "options = {}",
            "# Active checks of GET /health: every interval s, DOWN after fall failures in a row,",
            '# UP after rise successes. Or "off", or a preset: haproxy, aws-alb, nginx-plus.',
            "health = { interval = 5, timeout = 2, rise = 2, fall = 3 }",
            "# Passive checks from real traffic: { max_fails = 1, fail_timeout = 10 } (nginx)",
            '# or { outlier = 5, ejection_time = 30 } (Envoy), or "off".',
            'passive = "off"',
            "# Where sessions live: none (each server's memory), cookie or ip (sticky, memory),",
            "# shared (a shared store such as Redis).",
            'sessions = "none"',
            "# Extra tries on another server for a failed request (0: none). Connection",
            "# failures are retried, and timeouts of requests other than POST; retry_on adds",
            "# answers worth another try, e.g. [502, 503].",
            "retries = 0",
            "retry_on = []",
            "# Seconds a draining server may finish its requests before it is dropped.",
            "drain_timeout = 30",
            "# Seconds a returning server ramps up its share (0: off).",
            "slow_start = 0",
            "# Requests in flight per server before the balancer queues (0: no limit).",
            "max_conns = 0",
        ]
    return "\n".join(lines) + "\n"


def to_dict(design: Design) -> dict[str, Any]:
    """``design`` as TOML-shaped data that ``parse`` reads back to the same design."""
    pools = []
    for pool in design.pools:
        entry: dict[str, Any] = {
            "name": pool.name,
            "servers": pool.servers,
            "algorithm": pool.algorithm,
            "options": dict(pool.options),
            "sessions": pool.sessions,
            "retries": pool.retries,
            "retry_on": sorted(pool.retry_on),
            "drain_timeout": pool.drain_timeout,
            "slow_start": pool.slow_start,
            "max_conns": pool.max_conns or 0,
        }
        if pool.health is None:
            entry["health"] = "off"
        else:
            entry["health"] = {
                k: getattr(pool.health, k) for k in ("interval", "timeout", "rise", "fall", "path")
            }
        if pool.passive_nginx is not None:
            entry["passive"] = {
                "max_fails": pool.passive_nginx.max_fails,
                "fail_timeout": pool.passive_nginx.fail_timeout,
            }
        elif pool.passive_outlier is not None:
            entry["passive"] = {
                "outlier": pool.passive_outlier.consecutive,
                "ejection_time": pool.passive_outlier.base_ejection_time,
            }
        pools.append(entry)
    return {
        "mode": design.mode,
        "routes": [r.describe() for r in design.routes],
        "pools": pools,
    }
