"""What a lab is: its pools and backends, the balancer's settings, sessions, routes
and traffic — plain, typed, validated descriptions with no I/O.

A ``LabConfig`` is how a Lab starts and what ``reset`` returns to; lessons and
scenarios write one in TOML (``model.tomlform``), export renders one as nginx or
HAProxy configuration, the simulator runs one. Where the lab *listens* (the proxy's
address, the admin API) is a launch setting of ``net.lab.Lab`` and of ``serve``, not
part of the model: the same lab can run anywhere.

    LabConfig(backends=fleet("s1:5,s2:3,s3:2"), algorithm="weighted_round_robin")

``backends`` also takes a count (``4`` → s1..s4) or a ``NAME[:WEIGHT]`` list, and the
init-only ``backups`` (extra fake backups) and ``real_backends`` (``http://host:port``
of real servers, named b1, b2, ...) build the same tuple, so a config never holds two
descriptions of one fleet.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from lbplay.core import registry
from lbplay.core.affinity import AffinityConfig
from lbplay.core.backends import check_name, check_weight, parse_backends
from lbplay.core.health import PRESETS, HealthCheckConfig
from lbplay.core.passive import NginxPassive, OutlierDetection
from lbplay.core.routing import DEFAULT_POOL, Rule
from lbplay.errors import ConfigError
from lbplay.model.faults import MAX_DELAY_MS, LatencyModel
from lbplay.model.numbers import number, whole
from lbplay.model.workload import MIXES, NAT_MODES

Mode = Literal["l7", "l4"]
MODES: tuple[Mode, ...] = get_args(Mode)
#: The playground's default backend: a lognormal latency with a median of 20 ms.
DEFAULT_LATENCY = LatencyModel.lognormal(20.0, 0.5)
#: Most backends one pool may have (and most fake backends in a lab).
MAX_BACKENDS = 64
MAX_RATE = 5000.0
MAX_CONNS = 100_000
#: A header name lbplay accepts from users: RFC 9110 token characters, 1-64 of them.
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")


@dataclass(frozen=True)
class RetryPolicy:
    """When to try another backend (nginx ``proxy_next_upstream``)."""

    #: Attempts in all, the first included (nginx proxy_next_upstream_tries; 1 = off).
    tries: int = 3
    #: Seconds after which no new attempt starts (proxy_next_upstream_timeout).
    timeout: float = 10.0
    #: Backend statuses that count as failures worth another try (e.g. 502, 503).
    on_status: frozenset[int] = frozenset()
    #: Retry POST/PATCH/LOCK after they were sent (nginx's ``non_idempotent``).
    non_idempotent: bool = False

    def __post_init__(self) -> None:
        whole(self.tries, "retry tries", 1, 20, "attempts")
        number(self.timeout, "retry timeout", 0.001, 3600, "seconds")
        bad = [s for s in self.on_status if not 500 <= s <= 599 and s != 429]
        if bad:
            raise ConfigError(f"only 5xx and 429 statuses can trigger retries, not {bad}")


@dataclass(frozen=True)
class ProxyConfig:
    """Limits, timeouts and retries of the L7 proxy (defaults suit a playground)."""

    #: The whole request head (and an idle keep-alive wait) must arrive within this.
    header_timeout: float = 10.0
    #: Longest pause while a request body is arriving (nginx ``client_body_timeout``).
    body_timeout: float = 10.0
    #: The whole body must arrive within this many seconds of its head (HAProxy's
    #: ``timeout http-request`` covers head and body the same way), else 408. 60 s is
    #: nginx's ``client_body_timeout`` default, applied to the whole body so that a
    #: client trickling a byte every few seconds cannot hold a connection forever; at
    #: the default 10 MiB ``max_body`` it still allows a client of ~175 kB/s.
    body_deadline: float = 60.0
    connect_timeout: float = 1.0
    #: Longest wait for the backend's response head, and between body reads (504).
    read_timeout: float = 5.0
    max_head: int = 16 * 1024
    max_uri: int = 8 * 1024
    max_headers: int = 100
    max_body: int = 10 * 1024 * 1024
    #: Request bodies up to this size are read first, so a retry can resend them.
    replay_limit: int = 64 * 1024
    #: How long a request waits for a free slot when every backend is at its
    #: ``max_conns``, before a 503 (HAProxy ``timeout queue``); 0: no queue.
    queue_timeout: float = 5.0
    #: Requests that may wait in one pool's queue; more get a 503 at once.
    max_queue: int = 1000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Peers whose X-Forwarded-For is believed (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()
    #: Header whose value hash algorithms hash; the client address when unset.
    hash_header: str | None = None

    def __post_init__(self) -> None:
        for name in (
            "header_timeout",
            "body_timeout",
            "body_deadline",
            "connect_timeout",
            "read_timeout",
        ):
            number(getattr(self, name), name.replace("_", " "), 0.001, 3600, "seconds")
        number(self.queue_timeout, "queue timeout", 0, 3600, "seconds")
        whole(self.max_queue, "max queue", 1, 1_000_000, "requests")
        for limit in ("max_head", "max_uri", "max_body", "replay_limit"):
            whole(getattr(self, limit), limit.replace("_", " "), 1, 1 << 40, "bytes")
        whole(self.max_headers, "max headers", 1, 10_000)
        self.trusted_networks()  # validate early
        if self.hash_header is not None and not HEADER_NAME.fullmatch(self.hash_header):
            raise ConfigError(
                f"bad header name {self.hash_header!r}: use letters, digits and '-', e.g. X-User"
            )

    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        try:
            return tuple(ipaddress.ip_network(t, strict=False) for t in self.trusted_proxies)
        except ValueError as error:
            raise ConfigError(f"bad trusted proxy address: {error}") from None


@dataclass(frozen=True)
class BackendSpec:
    """One backend of a pool: a fake one lbplay runs, or a real server's address."""

    name: str
    weight: int = 1
    #: nginx ``backup``: used only when no primary is available.
    backup: bool = False
    #: nginx ``max_conns`` / HAProxy ``maxconn`` (None: the lab's default).
    max_conns: int | None = None
    #: ``host:port`` of a real server; None for a fake backend.
    address: str | None = None
    #: A fake backend's faults from the start (a lesson's or scenario's setup): most
    #: requests it serves at once (None: unlimited), and milliseconds added to each.
    capacity: int | None = None
    slow_ms: float = 0.0

    def __post_init__(self) -> None:
        check_name(self.name)
        check_weight(self.weight)
        if self.max_conns is not None:
            whole(self.max_conns, "max_conns", 1, MAX_CONNS, "requests")
        if self.capacity is not None:
            whole(self.capacity, "capacity", 1, MAX_CONNS, "requests")
        number(self.slow_ms, "slow_ms", 0, MAX_DELAY_MS, "milliseconds")
        if self.address is not None and (self.capacity is not None or self.slow_ms):
            raise ConfigError(
                f"backend {self.name}: capacity and slow_ms are faults of a fake backend,"
                " not of a real server"
            )

    def describe(self) -> str:
        """``s1``, ``s1:5``, ``s4!backup``: the ``--backends`` form (no address)."""
        weight = f":{self.weight}" if self.weight != 1 else ""
        return f"{self.name}{weight}{'!backup' if self.backup else ''}"


def fleet(spec: int | str, *, prefix: str = "s", backups: int = 0) -> tuple[BackendSpec, ...]:
    """Backends from a count (``4`` → s1..s4) or a list (``"a:5,b:3,c:2"``), then
    ``backups`` more named after them and marked backup."""
    if isinstance(spec, str) and not (spec.strip().isdecimal() and spec.isascii()):
        backends = [BackendSpec(b.name, b.weight, b.backup) for b in parse_backends(spec)]
    else:
        count = whole(int(spec) if isinstance(spec, str) else spec, "backends", 1, MAX_BACKENDS)
        backends = [BackendSpec(f"{prefix}{n}") for n in range(1, count + 1)]
    whole(backups, "backups", 0, 16)
    start = len(backends) + 1
    backends += [BackendSpec(f"{prefix}{n}", backup=True) for n in range(start, start + backups)]
    return tuple(backends)


def parse_backend_url(url: str) -> tuple[str, int]:
    """``http://host:port`` → (host, port); ``ConfigError`` for anything else."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        hostname, port = parts.hostname, parts.port
    except ValueError:
        raise ConfigError(f"bad backend URL {url!r}: use http://host:port") from None
    if parts.scheme != "http" or not hostname or parts.path not in ("", "/"):
        raise ConfigError(f"bad backend URL {url!r}: use http://host:port")
    if port is None:
        raise ConfigError(f"bad backend URL {url!r}: the port is missing")
    return hostname, port


def _backends(value: object, what: str) -> tuple[BackendSpec, ...]:
    if isinstance(value, int | str):
        return fleet(value)
    backends: tuple[object, ...] = tuple(value) if isinstance(value, Iterable) else ()
    if not backends or not all(isinstance(b, BackendSpec) for b in backends):
        raise ConfigError(f"{what} needs at least one backend")
    if len(backends) > MAX_BACKENDS:
        raise ConfigError(f"{what} has {len(backends)} backends; at most {MAX_BACKENDS}")
    return backends  # type: ignore[return-value]  # every item was checked above


@dataclass(frozen=True)
class PoolSpec:
    """A named pool of backends with its own algorithm (an ALB target group)."""

    name: str
    #: Its backends; a count makes fake ones named ``NAME-1``, ``NAME-2``, ...
    backends: tuple[BackendSpec, ...] | int = 2
    algorithm: str = "round_robin"
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.name == DEFAULT_POOL:
            raise ConfigError("the default pool is the main fleet; give this pool another name")
        if isinstance(self.backends, int):
            count = whole(self.backends, f"backends of pool {self.name}", 1, 32)
            specs = tuple(BackendSpec(f"{self.name}-{n}") for n in range(1, count + 1))
        else:
            specs = _backends(self.backends, f"pool {self.name}")
        object.__setattr__(self, "backends", specs)
        object.__setattr__(self, "algorithm", registry.get(self.algorithm).name)
        registry.get(self.algorithm).resolve_options(self.options)

    @property
    def fleet(self) -> tuple[BackendSpec, ...]:
        """The backends (always a tuple once built)."""
        assert isinstance(self.backends, tuple)
        return self.backends

    @classmethod
    def parse(cls, text: str) -> PoolSpec:
        """``api=3`` or ``api=3:least_connections``."""
        name, eq, rest = text.partition("=")
        count, _, algorithm = rest.partition(":")
        if not eq or not count.strip().isdigit():
            raise ConfigError(f"bad pool {text!r}: use NAME=COUNT[:ALGORITHM], e.g. api=2")
        return cls(name.strip(), int(count), algorithm.strip() or "round_robin")


#: Where fake backends keep sessions: their own memory, or a store they share.
SESSION_STORES = ("local", "shared")


def check_store(spec: str) -> str:
    """``local``, ``shared`` or a ``redis://host:port/db`` URL."""
    if not isinstance(spec, str) or (
        spec not in SESSION_STORES and not spec.startswith(("redis://", "rediss://"))
    ):
        raise ConfigError(f"bad sessions {spec!r}: use local, shared or redis://host:port/db")
    return spec


@dataclass(frozen=True)
class LabConfig:
    """How a Lab starts, and what ``reset`` returns to."""

    #: The default pool's backends (a count or ``NAME[:WEIGHT],...`` is accepted).
    backends: tuple[BackendSpec, ...] = field(default_factory=lambda: fleet(4))
    #: Extra fake backends marked backup (init only: they join ``backends``).
    backups: InitVar[int] = 0
    #: ``http://host:port`` of real servers to balance instead (init only: b1, b2, ...).
    real_backends: InitVar[tuple[str, ...]] = ()
    algorithm: str = "round_robin"
    options: Mapping[str, Any] = field(default_factory=dict)
    mode: Mode = "l7"
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    #: Requests per second of generated traffic (0: none until asked).
    rate: float = 50.0
    #: Virtual clients, each with its own loopback address and cookie jar.
    clients: int = 20
    #: How the clients are addressed (``workload.NAT_MODES``): each its own /24 (off),
    #: all in one /24 (subnet) or all behind one address (address).
    nat: str = "off"
    #: What they ask for (``workload.MIXES``): "pages", or "downloads" (1 in 10 is 1 MB).
    mix: str = "pages"
    #: Latency of every fake backend.
    latency: LatencyModel = DEFAULT_LATENCY
    seed: int = 0
    #: Requests kept for the live feed.
    keep_requests: int = 200
    #: Active health checks (None: off). Playground preset: 1 s, 0.5 s, rise 2, fall 3.
    health: HealthCheckConfig | None = field(default_factory=lambda: PRESETS["playground"])
    #: Passive health (nginx max_fails, Envoy outlier detection); both off by default.
    passive_nginx: NginxPassive | None = None
    passive_outlier: OutlierDetection | None = None
    #: Envoy's panic threshold (0 = off: 503 when nothing is healthy).
    panic_threshold: float = 0.5
    #: Seconds of slow start for a backend that comes back (0 = off, as on the ALB).
    slow_start: float = 0.0
    #: Longest drain before a draining backend is dropped (the ALB's is 300 s).
    drain_timeout: float = 30.0
    #: Per-backend connection limit (HAProxy maxconn; None = unlimited), unless a
    #: backend has its own.
    max_conns: int | None = None
    #: Extra pools for content routing (the fleet above is "default").
    pools: tuple[PoolSpec, ...] = ()
    #: Content-routing rules, first match wins (L7 only).
    routes: tuple[Rule, ...] = ()
    #: Session affinity: none, cookie, ip, ip/24, header:NAME or query:NAME.
    sticky: AffinityConfig = field(default_factory=AffinityConfig)
    #: Where fake backends keep sessions: "local" (their own memory), "shared" (an
    #: in-process store with Redis semantics) or a "redis://host:port/db" URL.
    sessions: str = "local"
    #: Generated users log in and browse pages that need their session.
    logins: bool = False

    def __post_init__(self, backups: int, real_backends: tuple[str, ...]) -> None:
        if real_backends:
            specs = []
            for number_, url in enumerate(real_backends, start=1):
                host, port = parse_backend_url(url)
                address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                specs.append(BackendSpec(f"b{number_}", address=address))
            backends = tuple(specs)
        else:
            backends = _backends(self.backends, "the lab")
        if backups:
            prefix = backends[-1].name.rstrip("0123456789") or "s"
            extra = fleet(len(backends), prefix=prefix, backups=backups)[len(backends) :]
            backends = backends + extra
        object.__setattr__(self, "backends", backends)
        if self.mode not in MODES:
            raise ConfigError(f"mode must be l7 or l4, not {self.mode!r}")
        object.__setattr__(self, "algorithm", registry.get(self.algorithm).name)
        registry.get(self.algorithm).resolve_options(self.options)
        number(self.rate, "traffic rate", 0, MAX_RATE, "requests per second")
        whole(self.clients, "clients", 1, 1000)
        if self.nat not in NAT_MODES:
            raise ConfigError(f"bad nat {self.nat!r}: use {', '.join(NAT_MODES)}")
        if self.mix not in MIXES:
            raise ConfigError(f"bad mix {self.mix!r}: use {', '.join(MIXES)}")
        whole(self.keep_requests, "requests kept", 1, 100_000)
        number(self.panic_threshold, "panic threshold", 0, 1)
        number(self.slow_start, "slow start", 0, 86_400, "seconds")
        number(self.drain_timeout, "drain timeout", 0, 86_400, "seconds")
        if self.max_conns is not None:
            whole(self.max_conns, "max_conns", 1, MAX_CONNS, "requests")
        check_store(self.sessions)
        pools = [p.name for p in self.pools]
        if len(set(pools)) != len(pools):
            raise ConfigError(f"a pool is named twice: {', '.join(pools)}")
        names = [b.name for b in self.all_backends()]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"backend name used twice: {', '.join(twice)}")
        missing = sorted({r.pool for r in self.routes} - {DEFAULT_POOL, *pools})
        if missing:
            raise ConfigError(
                f"a route names no pool {', '.join(missing)}"
                f" (pools: {', '.join([DEFAULT_POOL, *pools])})"
            )

    @property
    def fleet(self) -> tuple[BackendSpec, ...]:
        """The default pool's backends."""
        return self.backends

    @property
    def real(self) -> bool:
        """Whether the default pool balances real servers (not fake backends)."""
        return any(b.address is not None for b in self.backends)

    def all_backends(self) -> list[BackendSpec]:
        """Every backend of every pool, the default pool first."""
        return [*self.backends, *(b for pool in self.pools for b in pool.fleet)]

    def pool_specs(self) -> dict[str, tuple[str, Mapping[str, Any], tuple[BackendSpec, ...]]]:
        """Pool name → (algorithm, options, backends), "default" first."""
        pools = {DEFAULT_POOL: (self.algorithm, self.options, self.backends)}
        for pool in self.pools:
            pools[pool.name] = (pool.algorithm, pool.options, pool.fleet)
        return pools
