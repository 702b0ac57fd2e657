"""A lab model as Envoy's static configuration (YAML).

One listener with an HTTP connection manager whose route table is the lab's routes in
order (prefix, regex, header and ``:authority`` matches, each to a cluster), retries
as a ``retry_policy``, affinity as a ``hash_policy``; one cluster per pool with its
``lb_policy`` (``ROUND_ROBIN``, ``LEAST_REQUEST`` with ``choice_count``, ``RANDOM``,
``RING_HASH``, ``MAGLEV``), endpoints with ``load_balancing_weight`` (backups as
priority 1), ``health_checks``, ``outlier_detection``, the panic threshold, slow start
and circuit breakers. Envoy has no least-response-time or least-bandwidth policy and
no cookie insertion of its own: comments say so.

The YAML is written by a small emitter (every string double-quoted, which YAML reads
as JSON does), so no YAML library is needed at run time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lbplay.core.routing import DEFAULT_POOL, Rule
from lbplay.model.config import BackendSpec, LabConfig
from lbplay.model.export_base import Writer, backend_addresses, header, upstream_name

_TYPE = "type.googleapis.com/envoy.extensions."
#: lbplay algorithm → Envoy's lb_policy.
ALGORITHMS = {
    "round_robin": "ROUND_ROBIN",
    "weighted_round_robin": "ROUND_ROBIN",
    "least_connections": "LEAST_REQUEST",
    "weighted_least_connections": "LEAST_REQUEST",
    "power_of_two_choices": "LEAST_REQUEST",
    "random": "RANDOM",
    "weighted_random": "RANDOM",
    "ring_hash": "RING_HASH",
    "bounded_load": "RING_HASH",
    "maglev": "MAGLEV",
    "ip_hash": "RING_HASH",
    "hash_modulo": "RING_HASH",
}


def write(config: LabConfig, addresses: Mapping[str, str] | None, listen: str) -> str:
    where, placeholder = backend_addresses(config, addresses)
    out = Writer()
    host, _, port = listen.rpartition(":")
    clusters = [
        _cluster(out, config, name, algorithm, options, backends, where)
        for name, (algorithm, options, backends) in config.pool_specs().items()
    ]
    listener = {
        "name": "lbplay",
        "address": {"socket_address": {"address": host, "port_value": int(port)}},
        "filter_chains": [{"filters": [_network_filter(out, config)]}],
    }
    document = {"static_resources": {"listeners": [listener], "clusters": clusters}}
    out.lines += dump(document)
    return out.text(header(config, "Envoy", placeholder, listen))


def _network_filter(out: Writer, config: LabConfig) -> dict[str, Any]:
    if config.mode == "l4":
        if config.routes:
            out.cannot("routes", "a TCP proxy sees no path, host or header")
        return {
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {
                "@type": _TYPE + "filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": "lbplay",
                "cluster": upstream_name(DEFAULT_POOL),
            },
        }
    routes = [_route(config, rule) for rule in config.routes]
    routes.append(_route(config, None))
    return {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": _TYPE + "filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "lbplay",
            "route_config": {
                "name": "lbplay",
                "virtual_hosts": [{"name": "lbplay", "domains": ["*"], "routes": routes}],
            },
            "http_filters": [
                {
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": _TYPE + "filters.http.router.v3.Router"},
                }
            ],
        },
    }


def _route(config: LabConfig, rule: Rule | None) -> dict[str, Any]:
    match: dict[str, Any] = {"prefix": "/"}
    headers = []
    if rule is not None:
        if rule.path is not None:
            if any(c in rule.path for c in "*?"):
                regex = rule.path.replace(".", r"\.").replace("*", ".*").replace("?", ".")
                match = {"safe_regex": {"regex": f"^{regex}$"}}
            else:
                bare = rule.path.rstrip("/")
                # whole segments, as lbplay matches: /api and /api/..., not /apis
                match = {"safe_regex": {"regex": f"^{_escape(bare)}(/.*)?$"}} if bare else match
        if rule.host is not None:
            regex = _escape(rule.host).replace(r"\*", ".*")
            headers.append(
                {
                    "name": ":authority",
                    "string_match": {"safe_regex": {"regex": f"^{regex}(:[0-9]+)?$"}},
                }
            )
        if rule.header is not None:
            name, value = rule.header
            if any(c in value for c in "*?"):
                regex = _escape(value).replace(r"\*", ".*").replace(r"\?", ".")
                headers.append(
                    {"name": name, "string_match": {"safe_regex": {"regex": f"^{regex}$"}}}
                )
            else:
                headers.append({"name": name, "string_match": {"exact": value}})
        if rule.method is not None:
            headers.append({"name": ":method", "string_match": {"exact": rule.method}})
    if headers:
        match["headers"] = headers
    pool = rule.pool if rule is not None else DEFAULT_POOL
    action: dict[str, Any] = {"cluster": upstream_name(pool)}
    retry = config.proxy.retry
    if retry.tries > 1:
        retry_on = ["connect-failure", "reset"]
        if retry.on_status:
            retry_on.append("retriable-status-codes")
        policy: dict[str, Any] = {"retry_on": ",".join(retry_on), "num_retries": retry.tries - 1}
        if retry.on_status:
            policy["retriable_status_codes"] = sorted(retry.on_status)
        action["retry_policy"] = policy
    hashing = _hash_policy(config, pool)
    if hashing:
        action["hash_policy"] = hashing
    action["timeout"] = f"{config.proxy.read_timeout:g}s"
    return {"match": match, "route": action}


def _hash_policy(config: LabConfig, pool: str) -> list[dict[str, Any]]:
    algorithm = config.pool_specs()[pool][0]
    sticky = config.sticky if pool == DEFAULT_POOL else None
    if sticky is not None and sticky.mode == "header":
        return [{"header": {"header_name": sticky.name}}]
    if sticky is not None and sticky.mode == "query":
        return [{"query_parameter": {"name": sticky.name}}]
    if sticky is not None and sticky.mode == "cookie":
        return [{"cookie": {"name": "LBPLAY", "ttl": f"{sticky.cookie_ttl:.0f}s"}}]
    if config.proxy.hash_header and ALGORITHMS.get(algorithm) in ("RING_HASH", "MAGLEV"):
        return [{"header": {"header_name": config.proxy.hash_header}}]
    if (sticky is not None and sticky.mode == "ip") or ALGORITHMS.get(algorithm) in (
        "RING_HASH",
        "MAGLEV",
    ):
        return [{"connection_properties": {"source_ip": True}}]
    return []


def _cluster(
    out: Writer,
    config: LabConfig,
    pool: str,
    algorithm: str,
    options: Mapping[str, object],
    backends: tuple[BackendSpec, ...],
    where: Mapping[str, str],
) -> dict[str, Any]:
    name = upstream_name(pool)
    policy = ALGORITHMS.get(algorithm)
    if policy is None:
        out.cannot(
            f"algorithm {algorithm} ({name})", "Envoy has no such policy; using LEAST_REQUEST"
        )
        policy = "LEAST_REQUEST"
    if algorithm in ("ip_hash", "hash_modulo"):
        out.note(f"{name}: {algorithm} is modulo hashing; Envoy hashes consistently (RING_HASH)")
    if (
        config.sticky.mode == "cookie"
        and pool == DEFAULT_POOL
        and policy not in ("RING_HASH", "MAGLEV")
    ):
        out.note(f"{name}: a cookie hash_policy pins only with RING_HASH or MAGLEV; set it")
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": f"{config.proxy.connect_timeout:g}s",
        "lb_policy": policy,
    }
    if policy == "LEAST_REQUEST":
        choices = 2 if algorithm == "power_of_two_choices" else 100
        cluster["least_request_lb_config"] = {"choice_count": choices}
        if algorithm != "power_of_two_choices":
            out.note(f"{name}: choice_count 100 approximates a full least-request scan")
    if policy == "RING_HASH":
        vnodes = int(str(options.get("vnodes", 160)))
        cluster["ring_hash_lb_config"] = {"minimum_ring_size": max(1024, vnodes * len(backends))}
    if algorithm == "bounded_load":
        factor = float(str(options.get("balance_factor", 1.25)))
        cluster["ring_hash_lb_config"]["hash_balance_factor"] = round(factor * 100)
    common: dict[str, Any] = {"healthy_panic_threshold": {"value": config.panic_threshold * 100}}
    if config.slow_start:
        common["slow_start_config"] = {"slow_start_window": f"{config.slow_start:g}s"}
        if policy not in ("ROUND_ROBIN", "LEAST_REQUEST"):
            out.note(f"{name}: Envoy's slow start applies to ROUND_ROBIN and LEAST_REQUEST only")
    cluster["common_lb_config"] = common
    endpoints = []
    for priority, members in (
        (0, [b for b in backends if not b.backup]),
        (1, [b for b in backends if b.backup]),
    ):
        if not members:
            continue
        endpoints.append(
            {
                "priority": priority,
                "lb_endpoints": [_endpoint(where[b.name], b.weight) for b in members],
            }
        )
    cluster["load_assignment"] = {"cluster_name": name, "endpoints": endpoints}
    health = config.health
    if health is not None:
        check: dict[str, Any] = {
            "timeout": f"{health.timeout:g}s",
            "interval": f"{health.interval:g}s",
            "unhealthy_threshold": health.fall,
            "healthy_threshold": health.rise,
        }
        if config.mode == "l7":
            check["http_health_check"] = {"path": health.path}
        else:
            check["tcp_health_check"] = {}
        cluster["health_checks"] = [check]
    outlier = config.passive_outlier
    if outlier is not None:
        cluster["outlier_detection"] = {
            "consecutive_5xx": outlier.consecutive,
            "base_ejection_time": f"{outlier.base_ejection_time:g}s",
            "max_ejection_time": f"{outlier.max_ejection_time:g}s",
            "max_ejection_percent": outlier.max_ejection_percent,
        }
    elif config.passive_nginx is not None:
        nginx = config.passive_nginx
        out.note(f"{name}: nginx's max_fails={nginx.max_fails} becomes consecutive_5xx")
        cluster["outlier_detection"] = {
            "consecutive_5xx": nginx.max_fails,
            "base_ejection_time": f"{nginx.fail_timeout:g}s",
        }
    limits = [b.max_conns for b in backends if b.max_conns is not None]
    if limits or config.max_conns is not None:
        total = sum(limits) if limits else (config.max_conns or 0) * len(backends)
        out.note(f"{name}: per-server max_conns become one circuit breaker for the cluster")
        cluster["circuit_breakers"] = {"thresholds": [{"max_requests": total}]}
    return cluster


def _endpoint(address: str, weight: int) -> dict[str, Any]:
    host, _, port = address.rpartition(":")
    return {
        "endpoint": {
            "address": {"socket_address": {"address": host.strip("[]"), "port_value": int(port)}}
        },
        "load_balancing_weight": weight,
    }


def _escape(text: str) -> str:
    return "".join("\\" + c if c in r".^$+?()[]{}|\*" else c for c in text)


# -- a small YAML emitter -----------------------------------------------------------------


def dump(value: Any, indent: int = 0) -> list[str]:
    """``value`` (dicts, lists, strings, numbers, booleans) as YAML lines."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        for key, item in value.items():
            if _scalar(item) or item == {} or item == []:
                lines.append(f"{pad}{_key(key)}: {_inline(item)}")
            else:
                lines.append(f"{pad}{_key(key)}:")
                lines += dump(item, indent + 1)
        return lines
    if isinstance(value, list):
        for item in value:
            if _scalar(item):
                lines.append(f"{pad}- {_inline(item)}")
            else:
                inner = dump(item, indent + 1)
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines += inner[1:]
        return lines
    return [pad + _inline(value)]


def _scalar(value: Any) -> bool:
    return not isinstance(value, Mapping | list)


def _inline(value: Any) -> str:
    if value == {}:
        return "{}"
    if value == []:
        return "[]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    return json.dumps(str(value))


def _key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else json.dumps(key)
