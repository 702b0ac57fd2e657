"""A lab model as an HAProxy configuration (as ``haproxy -c`` checks it).

A ``frontend`` on the listen address (``mode http``, or ``mode tcp`` for L4) whose
ACLs and ``use_backend`` rules are the lab's routes in order, and one ``backend`` per
pool: ``balance`` under HAProxy's name (``roundrobin``, ``leastconn``, ``source`` with
``hash-type map-based`` or ``consistent``, ``random(2)``...), servers with ``weight``,
``maxconn``, ``backup``, ``slowstart`` and ``check inter/fall/rise``, ``option
httpchk`` for the health path, ``cookie ... insert`` or a stick table for affinity,
``retries`` and ``retry-on``, ``observe layer7`` for passive checks. HAProxy has no
panic mode and no latency-based algorithm: those are comments.
"""

from __future__ import annotations

from collections.abc import Mapping

from lbplay.core.routing import DEFAULT_POOL, Rule
from lbplay.model.config import BackendSpec, LabConfig
from lbplay.model.export_base import Writer, backend_addresses, header, upstream_name

#: lbplay algorithm → HAProxy's ``balance`` (and ``hash-type``, for hashing).
ALGORITHMS: dict[str, tuple[str, str]] = {
    "round_robin": ("roundrobin", ""),
    "weighted_round_robin": ("roundrobin", ""),
    "least_connections": ("leastconn", ""),
    "weighted_least_connections": ("leastconn", ""),
    "random": ("random(1)", ""),
    "weighted_random": ("random(1)", ""),
    "power_of_two_choices": ("random(2)", ""),
    "ip_hash": ("source", "map-based"),
    "hash_modulo": ("source", "map-based"),
    "ring_hash": ("source", "consistent"),
    "bounded_load": ("source", "consistent"),
}


def write(config: LabConfig, addresses: Mapping[str, str] | None, listen: str) -> str:
    where, placeholder = backend_addresses(config, addresses)
    mode = "tcp" if config.mode == "l4" else "http"
    proxy = config.proxy
    out = Writer()
    out.add("global")
    out.add("maxconn 4096", 1)
    out.add()
    out.add("defaults")
    out.add(f"mode {mode}", 1)
    out.add(f"timeout connect {proxy.connect_timeout * 1000:.0f}ms", 1)
    out.add(f"timeout client {proxy.header_timeout * 1000:.0f}ms", 1)
    out.add(f"timeout server {proxy.read_timeout * 1000:.0f}ms", 1)
    out.add(f"timeout queue {proxy.queue_timeout * 1000:.0f}ms", 1)
    if mode == "http":
        out.add(f"timeout http-request {proxy.header_timeout * 1000:.0f}ms", 1)
        out.add("option forwardfor", 1)
        out.add("http-reuse safe  # keep idle connections to the servers for reuse", 1)
    out.add()
    out.add("frontend lbplay_in")
    out.add(f"bind {listen}", 1)
    _routes(out, config, mode)
    out.add(f"default_backend {upstream_name(DEFAULT_POOL)}", 1)
    out.add()
    for name, (algorithm, options, backends) in config.pool_specs().items():
        _backend(out, config, name, algorithm, options, backends, where, mode)
    return out.text(header(config, "HAProxy", placeholder, listen))


def _routes(out: Writer, config: LabConfig, mode: str) -> None:
    if not config.routes:
        return
    if mode == "tcp":
        out.cannot("routes", "in mode tcp HAProxy sees no path, host or header", 1)
        return
    for index, rule in enumerate(config.routes, start=1):
        conditions = [f"r{index}_{part}" for part in _acls(out, rule, index)]
        out.add(f"use_backend {upstream_name(rule.pool)} if {' '.join(conditions)}", 1)


def _acls(out: Writer, rule: Rule, index: int) -> list[str]:
    """Write the ACLs of one rule (all must hold); return their name suffixes."""
    names = []
    if rule.path is not None:
        path = rule.path
        if "*" in path or "?" in path:
            regex = path.replace(".", r"\.").replace("*", ".*").replace("?", ".")
            out.add(f"acl r{index}_path path_reg ^{regex}$", 1)
        elif path.rstrip("/"):
            bare = path.rstrip("/")
            # lbplay's prefixes match whole segments (/api: /api and /api/x, not /apis)
            out.add(f"acl r{index}_path path {bare}", 1)
            out.add(f"acl r{index}_path path_beg {bare}/", 1)
        else:
            out.add(f"acl r{index}_path path_beg /", 1)
        names.append("path")
    if rule.host is not None:
        if "*" in rule.host:
            regex = rule.host.replace(".", r"\.").replace("*", ".*")
            out.add(f"acl r{index}_host hdr(host),field(1,:) -m reg -i ^{regex}$", 1)
        else:
            out.add(f"acl r{index}_host hdr(host),field(1,:) -i {rule.host}", 1)
        names.append("host")
    if rule.header is not None:
        name, value = rule.header
        if any(c in value for c in "*?["):
            regex = value.replace(".", r"\.").replace("*", ".*").replace("?", ".")
            out.add(f"acl r{index}_header req.hdr({name}) -m reg ^{regex}$", 1)
        else:
            out.add(f"acl r{index}_header req.hdr({name}) -m str {value}", 1)
        names.append("header")
    if rule.method is not None:
        out.add(f"acl r{index}_method method {rule.method}", 1)
        names.append("method")
    return names


def _backend(
    out: Writer,
    config: LabConfig,
    pool: str,
    algorithm: str,
    options: Mapping[str, object],
    backends: tuple[BackendSpec, ...],
    where: Mapping[str, str],
    mode: str,
) -> None:
    out.add(f"backend {upstream_name(pool)}")
    balance, hash_type = ALGORITHMS.get(algorithm, ("", ""))
    if not balance:
        fallback = (
            "leastconn" if algorithm in ("least_response_time", "least_bandwidth") else "roundrobin"
        )
        out.cannot(f"algorithm {algorithm}", f"HAProxy has no such method; using {fallback}", 1)
        balance = fallback
    if config.proxy.hash_header and balance == "source" and mode == "http":
        balance = f"hdr({config.proxy.hash_header})"
    out.add(f"balance {balance}", 1)
    if hash_type:
        out.add(f"hash-type {hash_type}", 1)
    if algorithm == "bounded_load":
        factor = float(str(options.get("balance_factor", 1.25)))
        out.add(f"hash-balance-factor {factor * 100:.0f}", 1)
    if algorithm == "ip_hash":
        out.note(
            "lbplay's ip_hash keys on the /24, as nginx does; HAProxy's source on the address", 1
        )
    retry = config.proxy.retry
    if mode == "http":
        if retry.tries > 1:
            out.add(f"retries {retry.tries - 1}", 1)
            statuses = " ".join(str(s) for s in sorted(retry.on_status))
            out.add(f"retry-on conn-failure empty-response response-timeout {statuses}".rstrip(), 1)
            out.add("option redispatch  # the retry goes to another server", 1)
        else:
            out.add("retries 0", 1)
    check = ""
    health = config.health
    if health is not None:
        if mode == "http":
            out.add(f"option httpchk GET {health.path}", 1)
            statuses = ",".join(str(s) for s in sorted(health.expect))
            out.add(f"http-check expect status {statuses}" if len(health.expect) == 1 else
                    f"http-check expect rstatus ^({statuses.replace(',', '|')})$", 1)  # fmt: skip
        out.add(f"timeout check {health.timeout * 1000:.0f}ms", 1)
        check = f" check inter {health.interval * 1000:.0f}ms fall {health.fall} rise {health.rise}"
    if config.passive_outlier is not None and mode == "http":
        outlier = config.passive_outlier
        check += f" observe layer7 error-limit {outlier.consecutive} on-error mark-down"
    elif config.passive_nginx is not None and mode == "http":
        nginx = config.passive_nginx
        check += f" observe layer7 error-limit {nginx.max_fails} on-error mark-down"
    sticky = config.sticky if pool == DEFAULT_POOL else None
    cookie = ""
    if sticky is not None and sticky.mode == "cookie":
        if mode == "http":
            out.add(f"cookie LBPLAY insert indirect nocache maxlife {sticky.cookie_ttl:.0f}s", 1)
            cookie = " cookie {name}"
        else:
            out.cannot("sticky cookie", "in mode tcp HAProxy cannot see cookies", 1)
    elif sticky is not None and sticky.mode == "ip":
        out.add(f"stick-table type ip size 1m expire {sticky.table_ttl:.0f}s", 1)
        out.add("stick on src" + (",ipmask(24)" if sticky.prefix24 else ""), 1)
    elif sticky is not None and sticky.mode in ("header", "query"):
        fetch = (
            f"req.hdr({sticky.name})" if sticky.mode == "header" else f"url_param({sticky.name})"
        )
        out.add(f"stick-table type string len 64 size 1m expire {sticky.table_ttl:.0f}s", 1)
        out.add(f"stick on {fetch}", 1)
    if config.panic_threshold:
        out.cannot(
            "panic mode",
            "HAProxy has none: with every server down it answers 503",
            1,
        )
    slow = f" slowstart {config.slow_start:g}s" if config.slow_start else ""
    for spec in backends:
        parts = [f"server {spec.name} {where[spec.name]}"]
        if spec.weight != 1:
            parts.append(f"weight {spec.weight}")
        limit = spec.max_conns if spec.max_conns is not None else config.max_conns
        if limit is not None:
            parts.append(f"maxconn {limit}")
        if spec.backup:
            parts.append("backup")
        out.add(" ".join(parts) + check + slow + cookie.format(name=spec.name), 1)
    out.add()
