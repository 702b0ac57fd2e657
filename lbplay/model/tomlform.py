"""A ``LabConfig`` as TOML: the form lessons, scenarios and exports are written in.

``dumps(config)`` writes only what differs from the defaults (``full=True`` writes
everything); ``loads(text)`` reads it back, strictly: an unknown key, a value of the
wrong type or out of range is a ``ConfigError`` that names the key's path
(``health.interval``) and what it takes. ``loads(dumps(c)) == c`` for every config.

    algorithm = "weighted_round_robin"
    backends = ["s1:5", "s2:3", "s3:2"]
    rate = 50.0
    health = "haproxy"                 # a preset, "off", or a table of settings
    routes = ["path=/api->api"]

    [[pools]]
    name = "api"
    backends = ["api-1", "api-2"]
    algorithm = "least_connections"

Read with the standard library's ``tomllib``; written with ``tomli_w``.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Mapping
from typing import Any

import tomli_w

from lbplay.core.affinity import AffinityConfig
from lbplay.core.backends import parse_backends
from lbplay.core.health import PRESETS, HealthCheckConfig
from lbplay.core.passive import NginxPassive, OutlierDetection
from lbplay.core.routing import Rule
from lbplay.errors import ConfigError
from lbplay.model.config import BackendSpec, LabConfig, PoolSpec, ProxyConfig
from lbplay.model.faults import LatencyModel

_DEFAULT = LabConfig()
#: Top-level keys written as plain values of ``LabConfig``.
_PLAIN = (
    "seed",
    "mode",
    "algorithm",
    "rate",
    "clients",
    "nat",
    "mix",
    "keep_requests",
    "panic_threshold",
    "slow_start",
    "drain_timeout",
    "max_conns",
    "sessions",
    "logins",
)


# -- writing ------------------------------------------------------------------------------


def to_dict(config: LabConfig, *, full: bool = False) -> dict[str, Any]:
    """``config`` as TOML-ready data (only what differs from the defaults, unless ``full``)."""
    data: dict[str, Any] = {}
    for key in _PLAIN:
        value = getattr(config, key)
        if value is not None and (full or value != getattr(_DEFAULT, key)):
            data[key] = value
    if full or config.backends != _DEFAULT.backends:
        data["backends"] = _backends(config.backends)
    if config.options:
        data["options"] = dict(config.options)
    if full or config.latency != _DEFAULT.latency:
        data["latency"] = _dataclass(config.latency, full=True)
    if full or config.health != _DEFAULT.health:
        data["health"] = _health(config.health)
    passive = {}
    if config.passive_nginx is not None:
        passive["nginx"] = _dataclass(config.passive_nginx, full=full)
    if config.passive_outlier is not None:
        passive["outlier"] = _dataclass(config.passive_outlier, full=full)
    if passive:
        data["passive"] = passive
    proxy = _dataclass(config.proxy, full=full)
    if proxy:
        data["proxy"] = proxy
    if full or config.sticky != _DEFAULT.sticky:
        data["sticky"] = _sticky(config.sticky)
    if config.routes or full:
        data["routes"] = [rule.describe() for rule in config.routes]
    if config.pools:
        data["pools"] = [_pool(pool) for pool in config.pools]
    return data


def dumps(config: LabConfig, *, full: bool = False) -> str:
    """``config`` as TOML text."""
    return tomli_w.dumps(to_dict(config, full=full))


def _backends(backends: tuple[BackendSpec, ...]) -> list[Any]:
    short = BackendSpec("x")  # what the "s1:5" / "s4!backup" form cannot say is default
    if all(
        (b.address, b.max_conns, b.capacity, b.slow_ms)
        == (short.address, short.max_conns, short.capacity, short.slow_ms)
        for b in backends
    ):
        return [b.describe() for b in backends]
    return [_dataclass(b, full=False) | {"name": b.name} for b in backends]


def _health(health: HealthCheckConfig | None) -> Any:
    if health is None:
        return "off"
    if PRESETS.get(health.name) == health:
        return health.name
    return _dataclass(health, full=True)


def _sticky(sticky: AffinityConfig) -> Any:
    plain = AffinityConfig.parse(sticky.describe())
    if plain == sticky:
        return sticky.describe()
    return {"affinity": sticky.describe(), "cookie_ttl": sticky.cookie_ttl,
            "table_ttl": sticky.table_ttl}  # fmt: skip


def _pool(pool: PoolSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"name": pool.name, "backends": _backends(pool.fleet)}
    if pool.algorithm != "round_robin":
        data["algorithm"] = pool.algorithm
    if pool.options:
        data["options"] = dict(pool.options)
    return data


def _dataclass(value: Any, *, full: bool) -> dict[str, Any]:
    """A flat or nested dataclass as a table (defaults left out unless ``full``)."""
    data: dict[str, Any] = {}
    default = type(value)() if _has_defaults(type(value)) else None
    for f in dataclasses.fields(value):
        item = getattr(value, f.name)
        if item is None or (not full and default is not None and item == getattr(default, f.name)):
            continue
        if dataclasses.is_dataclass(item):
            nested = _dataclass(item, full=full)
            if nested or full:
                data[f.name] = nested
        elif isinstance(item, frozenset | set):
            data[f.name] = sorted(item)
        elif isinstance(item, tuple):
            data[f.name] = list(item)
        else:
            data[f.name] = item
    return data


def _has_defaults(cls: type) -> bool:
    return all(
        f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        for f in dataclasses.fields(cls)
    )


# -- reading ------------------------------------------------------------------------------


def loads(text: str) -> LabConfig:
    """A ``LabConfig`` from TOML text; ``ConfigError`` naming the key that is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"not valid TOML: {error}") from None
    return from_dict(data)


def from_dict(data: Mapping[str, Any], where: str = "") -> LabConfig:
    """A ``LabConfig`` from TOML-shaped data (``where`` prefixes key paths in errors)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'a lab'} must be a table")
    known = {*_PLAIN, "backends", "options", "latency", "health", "passive", "proxy", "sticky",
             "routes", "pools"}  # fmt: skip
    _unknown(data, known, where)
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(LabConfig)
    for key in _PLAIN:
        if key in data:
            values[key] = _value(data[key], hints[key], _path(where, key))
    if "backends" in data:
        values["backends"] = _read_backends(data["backends"], _path(where, "backends"))
    if "options" in data:
        values["options"] = _options(data["options"], _path(where, "options"))
    if "latency" in data:
        values["latency"] = _read(LatencyModel, data["latency"], _path(where, "latency"))
    if "health" in data:
        values["health"] = _read_health(data["health"], _path(where, "health"))
    if "passive" in data:
        passive = _table(data["passive"], _path(where, "passive"))
        _unknown(passive, {"nginx", "outlier"}, _path(where, "passive"))
        if "nginx" in passive:
            values["passive_nginx"] = _read(
                NginxPassive, passive["nginx"], _path(where, "passive.nginx")
            )
        if "outlier" in passive:
            values["passive_outlier"] = _read(
                OutlierDetection, passive["outlier"], _path(where, "passive.outlier")
            )
    if "proxy" in data:
        values["proxy"] = _read(ProxyConfig, data["proxy"], _path(where, "proxy"))
    if "sticky" in data:
        values["sticky"] = _read_sticky(data["sticky"], _path(where, "sticky"))
    if "routes" in data:
        values["routes"] = _rules(data["routes"], _path(where, "routes"))
    if "pools" in data:
        values["pools"] = _read_pools(data["pools"], _path(where, "pools"))
    config: LabConfig = _build(LabConfig, values, where or "the lab")
    return config


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table, not {value!r}")
    return value


def _unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(data) - known)
    if extra:
        place = f"{where} has" if where else "the lab has"
        settings = ", ".join(sorted(known))
        raise ConfigError(f"{place} no setting {', '.join(map(repr, extra))} ({settings})")


def _build(cls: Any, values: dict[str, Any], where: str) -> Any:
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _value(value: Any, hint: Any, where: str) -> Any:
    """One TOML value checked against a type hint (no range checks: the class does those)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _value(value, inner[0], where)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where} must be {' or '.join(map(repr, args))}, not {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number, not {value!r}")
        return value
    if hint is float:
        finite = isinstance(value, int | float) and math.isfinite(value)
        if isinstance(value, bool) or not finite:
            raise ConfigError(f"{where} must be a number, not {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, not {value!r}")
        return value
    if origin in (frozenset, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, not {value!r}")
        items = [_value(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        return frozenset(items) if origin is frozenset else tuple(items)
    if dataclasses.is_dataclass(hint):
        return _read(hint, value, where)
    raise ConfigError(f"{where}: cannot read {value!r}")  # pragma: no cover


def _read(cls: Any, value: Any, where: str) -> Any:
    """A dataclass from a table: every key known, every value of the right type."""
    table = _table(value, where)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    _unknown(table, set(fields), where)
    hints = typing.get_type_hints(cls)
    values = {key: _value(item, hints[key], _path(where, key)) for key, item in table.items()}
    return _build(cls, values, where)


def _read_backends(value: Any, where: str) -> tuple[BackendSpec, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return _build(LabConfig, {"backends": value}, where).backends  # type: ignore[no-any-return]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f'{where} must be a count or a list like ["s1:5", "s2:3"]')
    specs: list[BackendSpec] = []
    for index, item in enumerate(value):
        place = f"{where}[{index}]"
        if isinstance(item, str):
            try:
                (backend,) = parse_backends(item)
            except (ConfigError, ValueError) as error:
                raise ConfigError(f"{place}: {error}") from None
            specs.append(BackendSpec(backend.name, backend.weight, backend.backup))
        else:
            specs.append(_read(BackendSpec, item, place))
    return tuple(specs)


def _options(value: Any, where: str) -> dict[str, Any]:
    table = _table(value, where)
    for key, item in table.items():
        if isinstance(item, int):  # bool is an int too
            continue
        if not isinstance(item, float) or not math.isfinite(item):
            raise ConfigError(f"{where}.{key} must be a number or true/false, not {item!r}")
    return dict(table)


def _read_health(value: Any, where: str) -> HealthCheckConfig | None:
    if value == "off" or value is False:
        return None
    if isinstance(value, str):
        if value not in PRESETS:
            raise ConfigError(f"{where} must be off, a table or one of {', '.join(PRESETS)}")
        return PRESETS[value]
    return _read(HealthCheckConfig, value, where)  # type: ignore[no-any-return]


def _read_sticky(value: Any, where: str) -> AffinityConfig:
    try:
        if isinstance(value, str):
            return AffinityConfig.parse(value)
        table = _table(value, where)
        _unknown(table, {"affinity", "cookie_ttl", "table_ttl"}, where)
        base = AffinityConfig.parse(_value(table.get("affinity", "none"), str, where))
        ttl = {k: _value(table[k], float, f"{where}.{k}") for k in ("cookie_ttl", "table_ttl")
               if k in table}  # fmt: skip
        return dataclasses.replace(base, **ttl)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None


def _rules(value: Any, where: str) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        raise ConfigError(f'{where} must be a list of rules like "path=/api->api"')
    rules = []
    for index, item in enumerate(value):
        try:
            rules.append(Rule.parse(_value(item, str, f"{where}[{index}]")))
        except ConfigError as error:
            raise ConfigError(f"{where}[{index}]: {error}") from None
    return tuple(rules)


def _read_pools(value: Any, where: str) -> tuple[PoolSpec, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of tables ([[pools]])")
    pools = []
    for index, item in enumerate(value):
        place = f"{where}[{index}]"
        table = _table(item, place)
        _unknown(table, {"name", "backends", "algorithm", "options"}, place)
        values: dict[str, Any] = {"name": _value(table.get("name"), str, f"{place}.name")}
        if "backends" in table:
            backends = table["backends"]
            if isinstance(backends, int) and not isinstance(backends, bool):
                values["backends"] = backends
            else:
                values["backends"] = _read_backends(backends, f"{place}.backends")
        if "algorithm" in table:
            values["algorithm"] = _value(table["algorithm"], str, f"{place}.algorithm")
        if "options" in table:
            values["options"] = _options(table["options"], f"{place}.options")
        pools.append(_build(PoolSpec, values, place))
    return tuple(pools)
