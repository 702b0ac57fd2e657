"""A lab model as an nginx configuration (open-source nginx, as ``nginx -t`` checks it).

One ``upstream`` per pool — the algorithm under nginx's name (round robin by default,
``least_conn``, ``ip_hash``, ``hash $remote_addr [consistent]``, ``random [two
least_conn]``), ``server`` lines with ``weight``, ``max_conns``, ``backup`` and passive
``max_fails``/``fail_timeout``, ``keepalive`` — and one ``server`` block that proxies
to them, with ``location``s for path routes, separate ``server_name`` blocks for host
routes, retries as ``proxy_next_upstream``. Open-source nginx has no active health
checks, sticky cookies, slow start, drain or panic mode: each is a comment naming the
NGINX Plus directive where one exists.
"""

from __future__ import annotations

from collections.abc import Mapping

from lbplay.core.routing import DEFAULT_POOL, Rule
from lbplay.model.config import BackendSpec, LabConfig
from lbplay.model.export_base import Writer, backend_addresses, header, upstream_name

#: lbplay algorithm → nginx's balancing directive ("" = the default, round robin).
ALGORITHMS = {
    "round_robin": "",
    "weighted_round_robin": "",
    "least_connections": "least_conn;",
    "weighted_least_connections": "least_conn;",
    "ip_hash": "ip_hash;",
    "hash_modulo": "hash $remote_addr;",
    "ring_hash": "hash $remote_addr consistent;",
    "random": "random;",
    "weighted_random": "random;",
    "power_of_two_choices": "random two least_conn;",
}
#: Algorithms nginx cannot take a ``backup`` server with.
_NO_BACKUP = ("ip_hash", "hash_modulo", "ring_hash", "random", "weighted_random",
              "power_of_two_choices")  # fmt: skip


def write(config: LabConfig, addresses: Mapping[str, str] | None, listen: str) -> str:
    where, placeholder = backend_addresses(config, addresses)
    out = Writer()
    out.add("worker_processes 1;")
    out.add("events { worker_connections 1024; }")
    out.add()
    out.add("http {")
    if config.mode == "l4":
        out.cannot(
            "mode l4",
            "a TCP proxy is nginx's stream module (stream { upstream ...; server { listen"
            " ...; proxy_pass ...; } }); this file is the L7 (http) equivalent",
            1,
        )
    for name, (algorithm, options, backends) in config.pool_specs().items():
        _upstream(out, config, name, algorithm, options, backends, where)
    _server(out, config, listen)
    out.add("}")
    return out.text(header(config, "nginx", placeholder, listen))


def _upstream(
    out: Writer,
    config: LabConfig,
    pool: str,
    algorithm: str,
    options: Mapping[str, object],
    backends: tuple[BackendSpec, ...],
    where: Mapping[str, str],
) -> None:
    out.add(f"upstream {upstream_name(pool)} {{", 1)
    directive = ALGORITHMS.get(algorithm)
    key = config.proxy.hash_header
    if directive is None:
        fallback = {"least_response_time": "least_conn;"}.get(algorithm, "")
        nearest = fallback.rstrip(";") or "round robin"
        plus = " (NGINX Plus has least_time)" if algorithm == "least_response_time" else ""
        out.cannot(f"algorithm {algorithm}", f"nginx has no such method{plus}; using {nearest}", 2)
        directive = fallback
    elif key and directive.startswith("hash $remote_addr"):
        variable = "$http_" + key.lower().replace("-", "_")
        directive = directive.replace("$remote_addr", variable)
    if algorithm == "ring_hash" and options.get("vnodes") not in (None, 160):
        out.note(f"lbplay used {options['vnodes']} vnodes; nginx's ketama ring uses 160", 2)
    if config.sticky.mode == "cookie" and pool == DEFAULT_POOL:
        out.cannot(
            "sticky cookie",
            "NGINX Plus: 'sticky cookie srv_id expires=1h'; open source can hash a cookie"
            " the application sets: 'hash $cookie_sessionid consistent;'",
            2,
        )
    elif config.sticky.mode == "ip" and pool == DEFAULT_POOL and algorithm != "ip_hash":
        out.note("sticky ip: nginx pins by address with ip_hash (the /24) or hash $remote_addr", 2)
        directive = "hash $remote_addr consistent;" if not config.sticky.prefix24 else "ip_hash;"
    elif config.sticky.mode in ("header", "query") and pool == DEFAULT_POOL:
        variable = ("$http_" if config.sticky.mode == "header" else "$arg_") + (
            config.sticky.name.lower().replace("-", "_")
        )
        directive = f"hash {variable} consistent;"
    if directive:
        out.add(directive, 2)
    passive = config.passive_nginx
    for spec in backends:
        parts = [f"server {where[spec.name]}"]
        if spec.weight != 1:
            parts.append(f"weight={spec.weight}")
        limit = spec.max_conns if spec.max_conns is not None else config.max_conns
        if limit is not None:
            parts.append(f"max_conns={limit}")
        if passive is not None:
            parts.append(f"max_fails={passive.max_fails}")
            parts.append(f"fail_timeout={passive.fail_timeout:g}s")
        if spec.backup:
            if algorithm in _NO_BACKUP:
                out.cannot(f"backup {spec.name}", f"nginx allows no backup with {algorithm}", 2)
            else:
                parts.append("backup")
        out.add(" ".join(parts) + f";  # {spec.name}", 2)
    out.add("keepalive 32;  # idle connections kept open to these servers, per worker", 2)
    if config.health is not None:
        h = config.health
        out.cannot(
            "active health checks",
            f"open-source nginx has only passive max_fails/fail_timeout; NGINX Plus:"
            f" 'health_check interval={h.interval:g}s fails={h.fall} passes={h.rise}"
            f" uri={h.path};' in the location",
            2,
        )
    if config.slow_start:
        out.cannot("slow start", f"NGINX Plus: 'server ... slow_start={config.slow_start:g}s'", 2)
    if config.panic_threshold:
        out.cannot(
            "panic mode",
            "nginx has none; when every server is unavailable it returns 502",
            2,
        )
    out.add("}", 1)
    out.add()


def _server(out: Writer, config: LabConfig, listen: str) -> None:
    rules = list(config.routes)
    hosts = [r for r in rules if r.host is not None]
    for rule in hosts:
        out.add("server {", 1)
        out.add(f"listen {listen};", 2)
        out.add(f"server_name {rule.host};", 2)
        if rule.path is not None or rule.header is not None or rule.method is not None:
            out.cannot(
                f"route {rule.describe()}",
                "nginx matches a host by server block; its other conditions apply inside",
                2,
            )
        _location(out, config, "/", upstream_name(rule.pool), 2)
        out.add("}", 1)
        out.add()
    out.add("server {", 1)
    out.add(f"listen {listen} default_server;", 2)
    others = [r for r in rules if r.host is None]
    headers = [r for r in others if r.header is not None and r.path is None]
    paths = [r for r in others if r.path is not None]
    if rules and rules != sorted(rules, key=lambda r: r.path is None):
        out.note(
            "lbplay takes the first rule that matches; nginx takes the longest matching"
            " prefix location: check the order of overlapping rules",
            2,
        )
    fallback = ""
    for rule in paths:
        prefix = rule.path or "/"
        if "*" in prefix or "?" in prefix:
            regex = prefix.replace(".", r"\.").replace("*", ".*").replace("?", ".")
            out.add(f"location ~ ^{regex}$ {{", 2)
            _pass(out, config, upstream_name(rule.pool), 3, rule)
            out.add("}", 2)
            continue
        # lbplay's prefixes match whole segments (/api: /api and /api/x, not /apis)
        bare = prefix.rstrip("/") or "/"
        if bare == "/":  # every path: the catch-all location below goes there
            fallback = fallback or upstream_name(rule.pool)
            continue
        for location in (f"= {bare}", f"{bare}/"):
            out.add(f"location {location} {{", 2)
            _pass(out, config, upstream_name(rule.pool), 3, rule)
            out.add("}", 2)
    out.add("location / {", 2)
    for rule in headers:
        assert rule.header is not None
        name, value = rule.header
        variable = "$http_" + name.lower().replace("-", "_")
        out.add(f'if ({variable} = "{value}") {{', 3)
        out.add(f"proxy_pass http://{upstream_name(rule.pool)};", 4)
        out.add("}", 3)
    _pass(out, config, fallback or "lbplay", 3, None)
    out.add("}", 2)
    out.add("}", 1)


def _location(out: Writer, config: LabConfig, path: str, upstream: str, indent: int) -> None:
    out.add(f"location {path} {{", indent)
    _pass(out, config, upstream, indent + 1, None)
    out.add("}", indent)


def _pass(out: Writer, config: LabConfig, upstream: str, indent: int, rule: Rule | None) -> None:
    if rule is not None and rule.method is not None:
        out.add(f"limit_except {rule.method} {{ deny all; }}", indent)
    out.add(f"proxy_pass http://{upstream};", indent)
    out.add("proxy_http_version 1.1;", indent)
    out.add('proxy_set_header Connection "";', indent)
    out.add("proxy_set_header Host $host;", indent)
    out.add("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;", indent)
    proxy = config.proxy
    retry = proxy.retry
    conditions = ["error", "timeout", *(f"http_{s}" for s in sorted(retry.on_status))]
    if retry.non_idempotent:
        conditions.append("non_idempotent")
    if retry.tries > 1:
        out.add(f"proxy_next_upstream {' '.join(conditions)};", indent)
        out.add(f"proxy_next_upstream_tries {retry.tries};", indent)
    else:
        out.add("proxy_next_upstream off;", indent)
    out.add(f"proxy_connect_timeout {proxy.connect_timeout:g}s;", indent)
    out.add(f"proxy_read_timeout {proxy.read_timeout:g}s;", indent)
