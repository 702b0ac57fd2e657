"""The Lab: the one façade every UI drives — the TUI, ``lbplay serve``, the admin
API, lessons and tests.

A Lab owns a fleet of fake backends (or the addresses of real ones), the balancer,
the proxy in front of them (L7 or L4, switchable on the same port, so a learner's
``curl`` keeps working), the traffic generator, the metrics and the event bus.
Control methods change one thing each and publish a ``ControlAction`` saying what
changed and what to watch for; ``snapshot()`` returns everything a UI draws, as
plain data.

    async with Lab(LabConfig(backends=4, rate=50)) as lab:
        print(lab.proxy_url)
        await lab.kill("s2")
        view = lab.snapshot()

If a UI needs something the Lab cannot do, the Lab grows: nothing reaches past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from lbplay.core import registry
from lbplay.core.affinity import Affinity, AffinityConfig
from lbplay.core.backends import Backend, check_name, check_weight
from lbplay.core.balancer import Balancer
from lbplay.core.events import (
    ConnectionCompleted,
    ControlAction,
    Event,
    EventBus,
    RequestCompleted,
    SessionLost,
)
from lbplay.core.health import PRESETS, HealthCheckConfig, preset
from lbplay.core.metrics import Metrics, MetricsSnapshot
from lbplay.core.passive import NginxPassive, OutlierDetection, PassiveHealth
from lbplay.core.routing import DEFAULT_POOL, Router, Rule
from lbplay.errors import ConfigError, UnknownBackend
from lbplay.net.fake_backend import FakeBackend, LatencyModel
from lbplay.net.health_checker import HealthChecker
from lbplay.net.proxy_http import HttpProxy, ProxyConfig
from lbplay.net.proxy_tcp import L4_LIMITS, TcpProxy
from lbplay.net.service import Service
from lbplay.net.session_store import SessionStore, open_store
from lbplay.net.sessions import SessionApp
from lbplay.net.traffic import TrafficGenerator, TrafficStats, browse_mix, log_in_then_browse

Mode = Literal["l7", "l4"]
MODES: tuple[Mode, ...] = ("l7", "l4")
#: The playground's default backend: a lognormal latency with a median of 20 ms.
DEFAULT_LATENCY = LatencyModel.lognormal(20.0, 0.5)
#: How often time-based balancer changes are applied when no request triggers them.
TICK = 0.1


@dataclass(frozen=True)
class LabConfig:
    """How a Lab starts. Everything here can also be changed while it runs."""

    #: How many fake backends (s1, s2, ...), unless ``real_backends`` are given.
    backends: int = 4
    #: Extra fake backends marked ``backup`` (nginx): used only when no primary is.
    backups: int = 0
    #: ``http://host:port`` of real servers to balance instead of fake ones.
    real_backends: tuple[str, ...] = ()
    algorithm: str = "round_robin"
    options: Mapping[str, Any] = field(default_factory=dict)
    mode: Mode = "l7"
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    #: Requests per second of generated traffic (0: none until asked).
    rate: float = 50.0
    #: Virtual clients, each with its own loopback address and cookie jar.
    clients: int = 20
    latency: LatencyModel = DEFAULT_LATENCY
    seed: int = 0
    #: Start the JSON admin API on its own loopback port.
    admin: bool = True
    admin_host: str = "127.0.0.1"
    admin_port: int = 0
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
    #: Per-backend connection limit (HAProxy maxconn; None = unlimited).
    max_conns: int | None = None
    #: Extra pools of fake backends for content routing (the fleet above is "default").
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

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be l7 or l4, not {self.mode!r}")
        if not self.real_backends and not 1 <= self.backends <= 64:
            raise ConfigError(f"backends must be from 1 to 64, not {self.backends}")
        if not 0 <= self.backups <= 16:
            raise ConfigError(f"backups must be from 0 to 16, not {self.backups}")
        if self.rate < 0:
            raise ConfigError(f"traffic rate cannot be negative ({self.rate})")
        for url in self.real_backends:
            parse_backend_url(url)
        if self.sessions not in ("local", "shared") and not self.sessions.startswith(
            ("redis://", "rediss://")
        ):
            raise ConfigError(
                f"bad sessions {self.sessions!r}: use local, shared or redis://host:port/db"
            )
        registry.get(self.algorithm)


@dataclass(frozen=True)
class PoolSpec:
    """A named pool of fake backends with its own algorithm (an ALB target group)."""

    name: str
    backends: int = 2
    algorithm: str = "round_robin"

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.name == DEFAULT_POOL:
            raise ConfigError("the default pool is the main fleet; give this pool another name")
        if not 1 <= self.backends <= 32:
            raise ConfigError(f"a pool needs 1 to 32 backends, not {self.backends}")
        registry.get(self.algorithm)

    @classmethod
    def parse(cls, text: str) -> PoolSpec:
        """``api=3`` or ``api=3:least_connections``."""
        name, eq, rest = text.partition("=")
        count, _, algorithm = rest.partition(":")
        if not eq or not count.strip().isdigit():
            raise ConfigError(f"bad pool {text!r}: use NAME=COUNT[:ALGORITHM], e.g. api=2")
        return cls(name.strip(), int(count), algorithm.strip() or "round_robin")


def parse_backend_url(url: str) -> tuple[str, int]:
    """``http://host:port`` → (host, port); ``ConfigError`` for anything else."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"bad backend URL {url!r}: use http://host:port")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        raise ConfigError(f"bad backend URL {url!r}: the port is missing or invalid")
    return parts.hostname, port


@dataclass(frozen=True)
class BackendView:
    """One backend as a UI shows it."""

    name: str
    address: str | None
    weight: int
    backup: bool
    #: "alive", "killed" or "stopped" for fake backends; "real" for real servers.
    process: str
    #: Whether the balancer may send it new requests.
    available: bool
    eligible: bool
    in_flight: int
    completed: int
    failures: int
    ewma_latency: float | None
    #: The balancer's view: "up", "down", "draining", "ejected", "slow start 40%", ...
    status: str = "up"
    #: The pool it belongs to (content routing); "default" for the main fleet.
    pool: str = DEFAULT_POOL
    #: The health checker's view: "UP", "UP, failing 2/3", "DOWN, recovering 1/2", "off".
    health: str = "UP"
    #: The last probe's result ("200", "timeout", "connection refused").
    last_check: str = ""
    admin: str = "active"
    slow_start: float = 1.0
    max_conns: int | None = None
    full: bool = False
    latency: str = ""
    #: Sessions lost on this backend (requests that reached it without their session).
    session_losses: int = 0
    slow_ms: float = 0.0
    error_rate: float = 0.0
    capacity: int | None = None
    hang: bool = False
    brownout: bool = False


@dataclass(frozen=True)
class LabSnapshot:
    """Everything a UI draws, as plain data, at one instant."""

    at: float
    mode: Mode
    algorithm: str
    options: Mapping[str, Any]
    proxy_url: str
    admin_url: str | None
    backends: tuple[BackendView, ...]
    #: Measured by the proxy (L7 only: an L4 proxy cannot see requests).
    metrics: MetricsSnapshot
    #: Measured by the traffic generator's clients (both modes).
    client_metrics: MetricsSnapshot
    traffic: TrafficStats
    rate: float
    paused: bool
    #: The most recent requests (L7) or connections (L4), newest last.
    recent: tuple[Event, ...]
    #: What the current mode cannot do ("" in L7).
    limits: str = ""
    #: Envoy panic mode: balancing across unhealthy backends too.
    panic: bool = False
    #: The active health check settings, or "off".
    health: str = ""
    #: Pool name → its algorithm ("default" is the main fleet).
    pools: Mapping[str, str] = field(default_factory=dict)
    #: Routing rules in order, as text ("path=/api->api").
    routes: tuple[str, ...] = ()
    #: Session affinity: "none", "cookie", "ip", "ip/24", "header:X-User", ...
    sticky: str = "none"
    #: The classic set-up in use: none, cookie, ip, header, shared, or custom.
    session_mode: str = "none"
    #: Where sessions live: "each backend's memory", "in-process memory", "redis at ...".
    session_store: str = ""
    #: Sessions lost so far (a request reached a backend that did not know its session).
    session_losses: int = 0
    #: Whether generated users log in.
    logins: bool = False


class Lab(Service):
    """Fleet + balancer + proxy + traffic + metrics + events, driven as one."""

    def __init__(
        self,
        config: LabConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or LabConfig()
        self.clock = clock
        self.rng = random.Random(self.config.seed)
        self.events = EventBus()
        self.metrics = Metrics(clock)
        self.client_metrics = Metrics(clock)
        config = self.config
        #: Pools of backends for content routing; "default" is ``self.balancer``.
        self.pools: dict[str, Balancer] = {}
        self.checkers: dict[str, HealthChecker] = {}
        self.balancer = self._new_pool(DEFAULT_POOL, config.algorithm, config.options)
        self.health = self.checkers[DEFAULT_POOL]
        self.router = Router(config.routes)
        self.affinity = Affinity(config.sticky, clock=clock, wall_clock=time.time)
        store_spec = "memory" if config.sessions in ("local", "shared") else config.sessions
        self.session_store: SessionStore = open_store(store_spec, clock)
        self.sessions = SessionApp(
            mode="local" if config.sessions == "local" else "shared",
            store=self.session_store,
            on_loss=self._session_lost,
            clock=clock,
        )
        self._ticker: asyncio.Task[None] | None = None
        self.fakes: dict[str, FakeBackend] = {}
        self.mode: Mode = self.config.mode
        self.proxy: HttpProxy | TcpProxy | None = None
        self.traffic: TrafficGenerator | None = None
        self.admin: Any = None
        self.recent: deque[Event] = deque(maxlen=self.config.keep_requests)
        self._next_number = 1
        self._logins = self.config.logins
        self._started = False
        self.events.subscribe(self._remember)

    def _new_pool(
        self, name: str, algorithm: str, options: Mapping[str, Any] | None = None
    ) -> Balancer:
        """A balancer (and its health checker) for one pool, with the lab's settings."""
        config = self.config
        balancer = Balancer(
            (),
            algorithm,
            options=options,
            rng=random.Random(f"{config.seed}:{name}"),
            clock=self.clock,
            events=self.events.publish,
            passive=PassiveHealth(config.passive_nginx, config.passive_outlier),
            panic_threshold=config.panic_threshold,
            slow_start=config.slow_start,
            drain_timeout=config.drain_timeout,
        )
        checker = HealthChecker(balancer, config.health or PRESETS["playground"], clock=self.clock)
        checker.enabled = config.health is not None
        self.pools[name] = balancer
        self.checkers[name] = checker
        return balancer

    def _pool_of(self, name: str) -> Balancer:
        """The balancer of the pool that holds backend ``name``."""
        for pool in self.pools.values():
            if any(b.name == name for b in pool.backends):
                return pool
        known = ", ".join(self.backend_names()) or "none"
        raise UnknownBackend(f"no backend named {name!r} (backends: {known})")

    def _pool_name(self, balancer: Balancer) -> str:
        return next(n for n, b in self.pools.items() if b is balancer)

    def _checker_of(self, name: str) -> HealthChecker:
        return self.checkers[self._pool_name(self._pool_of(name))]

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Start backends, proxy, traffic and admin API; undo everything on failure."""
        try:
            await self.session_store.check()
            if self.config.real_backends:
                for number, url in enumerate(self.config.real_backends, start=1):
                    host, port = parse_backend_url(url)
                    name = f"b{number}"
                    self.balancer.add(Backend(name, address=f"{host}:{port}"))
                    if self.config.max_conns is not None:
                        self.balancer.set_max_conns(name, self.config.max_conns)
            else:
                for _ in range(self.config.backends):
                    await self.add_backend(announce=False)
                for _ in range(self.config.backups):
                    await self.add_backend(backup=True, announce=False)
            for pool in self.config.pools:
                self._new_pool(pool.name, pool.algorithm)
                for _ in range(pool.backends):
                    await self.add_backend(pool=pool.name, announce=False)
            self._check_routes(self.router)
            for checker in self.checkers.values():
                await checker.start()
            self._ticker = asyncio.create_task(self._tick_forever(), name="lab tick")
            self.proxy = self._make_proxy(self.mode, self.config.proxy.port)
            await self.proxy.start()
            self.traffic = TrafficGenerator(
                self.proxy_url,
                clients=self.config.clients,
                rate=self.config.rate,
                rng=random.Random(self.config.seed + 2),
                metrics=self.client_metrics,
                script_factory=log_in_then_browse if self.config.logins else browse_mix,
                # Fake backends name themselves in X-Backend, in L4 mode too, where the
                # proxy cannot add X-Lbplay-Backend.
                backend_header="X-Lbplay-Backend" if self.config.real_backends else "X-Backend",
                timeout=self.config.proxy.read_timeout + 5.0,
            )
            await self.traffic.start()
            if self.config.admin:
                from lbplay.net.admin import AdminApi

                self.admin = AdminApi(
                    self, host=self.config.admin_host, port=self.config.admin_port
                )
                await self.admin.start()
            self._started = True
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop everything; safe to call twice and after a failed start."""
        if self.admin is not None:
            await self.admin.stop()
            self.admin = None
        if self.traffic is not None:
            await self.traffic.stop()
            self.traffic = None
        if self.proxy is not None:
            await self.proxy.stop()
            self.proxy = None
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for checker in self.checkers.values():
            await checker.stop()
        for fake in list(self.fakes.values()):
            await fake.stop()
        await self.session_store.close()
        self._started = False

    async def _tick_forever(self) -> None:
        """Let time-based changes happen without traffic (sentences served, drains)."""
        while True:
            await asyncio.sleep(TICK)
            for pool in list(self.pools.values()):
                pool.tick()

    def _make_proxy(self, mode: Mode, port: int) -> HttpProxy | TcpProxy:
        config = replace(self.config.proxy, port=port)
        if mode == "l7":
            extra = {n: b for n, b in self.pools.items() if n != DEFAULT_POOL}
            return HttpProxy(
                self.balancer,
                config,
                events=self.events,
                metrics=self.metrics,
                clock=self.clock,
                pools=extra,
                router=self.router,
                affinity=self.affinity,
            )
        return TcpProxy(
            self.balancer, host=config.host, port=port, events=self.events, clock=self.clock
        )

    @property
    def proxy_url(self) -> str:
        """Where to send requests: ``http://127.0.0.1:PORT``."""
        if self.proxy is None:
            raise ConfigError("the lab is not running")
        return self.proxy.url

    @property
    def admin_url(self) -> str | None:
        return self.admin.url if self.admin is not None else None

    # -- events --------------------------------------------------------------------

    def _remember(self, event: Event) -> None:
        if isinstance(event, RequestCompleted | ConnectionCompleted):
            self.recent.append(event)

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        """Receive every future event; returns a function that unsubscribes."""
        return self.events.subscribe(subscriber)

    def _announce(self, action: str, detail: str = "", watch: str = "") -> None:
        self.events.publish(
            ControlAction(at=self.clock(), action=action, detail=detail, watch=watch)
        )

    # -- the fleet -----------------------------------------------------------------

    def fake(self, name: str) -> FakeBackend:
        """The fake backend called ``name`` (``ConfigError`` for real or unknown ones)."""
        self._pool_of(name)
        try:
            return self.fakes[name]
        except KeyError:
            raise ConfigError(f"{name} is a real server: lbplay cannot change it") from None

    def _new_name(self, pool: str) -> str:
        if pool != DEFAULT_POOL:
            number = 1
            while f"{pool}-{number}" in self.backend_names():
                number += 1
            return f"{pool}-{number}"
        while True:
            name = f"s{self._next_number}"
            self._next_number += 1
            if name not in self.backend_names():
                return name

    async def add_backend(
        self,
        name: str | None = None,
        weight: int = 1,
        *,
        backup: bool = False,
        announce: bool = True,
        pool: str = DEFAULT_POOL,
    ) -> str:
        """Start a new fake backend and put it in ``pool``."""
        balancer = self._pool(pool)
        name = check_name(name) if name else self._new_name(pool)
        check_weight(weight)
        if name in self.backend_names():
            raise ConfigError(f"a backend named {name!r} already exists")
        fake = FakeBackend(
            name,
            rng=random.Random(f"{self.config.seed}:{name}"),
            latency=self.config.latency,
            installers=[self.sessions.installer()],
        )
        await fake.start()
        self.fakes[name] = fake
        balancer.add(Backend(name, weight, backup=backup, address=fake.address))
        if self.config.max_conns is not None:
            balancer.set_max_conns(name, self.config.max_conns)
        self.metrics.track(name)
        if self._ticker is not None:
            self.checkers[pool].sync()
        if announce:
            self._announce(
                f"{name} added",
                f"weight {weight}{', backup' if backup else ''}",
                self._watch_new(name),
            )
        return name

    def _watch_new(self, name: str) -> str:
        info = registry.get(self.balancer.algorithm)
        if info.uses_key:
            return f"watch how many keys move to {name}: only about 1/N should"
        if info.uses_load:
            return f"{name} starts with nothing in flight, so {info.name} favours it at first"
        return f"{name} gets its turn in the rotation at once"

    async def remove_backend(self, name: str) -> None:
        """Take a backend out of its pool and stop it (requests in flight finish first)."""
        checker = self._checker_of(name)
        self._pool_of(name).remove(name)
        checker.sync()
        self.metrics.forget(name)
        fake = self.fakes.pop(name, None)
        if fake is not None:
            await fake.stop()
        self._announce(f"{name} removed", "", "its share of traffic moves to the others")

    async def kill(self, name: str) -> None:
        """Kill a fake backend: it stops listening and resets its open connections."""
        await self.fake(name).kill()
        checker = self._checker_of(name)
        if checker.enabled:
            config = checker.config
            watch = (
                f"the health checker needs {config.fall} failed checks, about"
                f" {config.detection_time:.3g} s, before it stops sending traffic there;"
                " until then retries carry its requests to another backend"
            )
        else:
            watch = (
                "without health checks the balancer keeps picking it; retries send each"
                " request on to another backend (X-Lbplay-Backend lists both)"
            )
        self._announce(f"{name} killed", "it refuses connections now", watch)

    async def revive(self, name: str) -> None:
        """Bring a killed backend back on the same port."""
        await self.fake(name).revive()
        self._announce(
            f"{name} revived",
            "listening again on the same port",
            "it is picked again at its next turn",
        )

    def set_latency(self, name: str, model: LatencyModel) -> None:
        self.fake(name).latency = model
        self._announce(f"{name} latency", str(model), "watch its p50/p99")

    def set_slow(self, name: str, ms: float) -> None:
        """Add ``ms`` milliseconds to every response of ``name`` (0 to undo)."""
        self.fake(name).slow_ms = ms
        watch = (
            "least_connections and least_response_time shift traffic away from it; "
            "round robin keeps sending it a full share"
            if ms
            else "its latency returns to normal"
        )
        self._announce(f"{name} slow", f"+{ms:g} ms per response", watch)

    def set_error_rate(self, name: str, rate: float) -> None:
        self.fake(name).error_rate = rate
        self._announce(
            f"{name} errors",
            f"{rate:.0%} of requests answer 500",
            "watch its error rate; /health stays green",
        )

    def set_capacity(self, name: str, capacity: int | None) -> None:
        self.fake(name).capacity = capacity
        detail = "unlimited" if capacity is None else f"at most {capacity} at once"
        self._announce(f"{name} capacity", detail, "over capacity, requests queue: latency grows")

    def set_hang(self, name: str, hang: bool) -> None:
        self.fake(name).hang = hang
        watch = f"requests to it time out after {self.config.proxy.read_timeout:g} s (504)"
        self._announce(f"{name} {'hangs' if hang else 'answers again'}", "", watch if hang else "")

    def set_brownout(self, name: str, brownout: bool) -> None:
        self.fake(name).brownout = brownout
        self._announce(
            f"{name} brownout {'on' if brownout else 'off'}",
            "/health answers 200 while real requests fail" if brownout else "",
            "a shallow health check stays green: only passive checks notice" if brownout else "",
        )

    def set_weight(self, name: str, weight: int) -> None:
        self._pool_of(name).set_weight(name, weight)
        info = registry.get(self._pool_of(name).algorithm)
        watch = (
            f"{name}'s share moves toward its weight"
            if info.uses_weights
            else f"{info.name} ignores weights: nothing changes"
        )
        self._announce(f"{name} weight", f"now {weight}", watch)

    # -- failure handling ----------------------------------------------------------

    def drain(self, name: str, timeout: float | None = None) -> None:
        """Stop new requests to ``name``; let in-flight ones finish (ALB deregistration)."""
        self._pool_of(name).drain(name, timeout)
        self._announce(
            f"{name} draining",
            "no new requests; in-flight ones finish",
            "its in-flight count falls to 0, then it is drained",
        )

    def disable(self, name: str) -> None:
        """Maintenance: out of rotation now."""
        self._pool_of(name).disable(name)
        self._announce(f"{name} disabled", "maintenance", "no new requests reach it")

    def enable(self, name: str) -> None:
        self._pool_of(name).enable(name)
        watch = (
            f"slow start ramps its share from 10% over {self.balancer.slow_start:g} s"
            if self.balancer.slow_start
            else "it takes its full share at once"
        )
        self._announce(f"{name} enabled", "back in rotation", watch)

    def set_backup(self, name: str, backup: bool) -> None:
        self._pool_of(name).set_backup(name, backup)
        self._announce(
            f"{name} {'is a backup' if backup else 'is a primary'}",
            "",
            "it gets traffic only when every primary is unavailable" if backup else "",
        )

    def set_max_conns(self, name: str, limit: int | None) -> None:
        """HAProxy ``maxconn``: beyond it requests queue at the proxy, then 503."""
        self._pool_of(name).set_max_conns(name, limit)
        detail = "unlimited" if limit is None else f"at most {limit} in flight"
        self._announce(
            f"{name} max_conns",
            detail,
            "when every backend is full, requests wait in the proxy's queue",
        )

    def set_health_preset(self, name: str, scale: float = 1.0) -> None:
        """Use a named preset (playground, haproxy, aws-alb, nginx-plus), maybe scaled."""
        config = preset(name, scale)
        for checker in self.checkers.values():
            checker.configure(config)
            checker.set_enabled(True)
        self._announce(
            "health checks",
            config.describe(),
            f"a dead backend is noticed within about {config.detection_time:.3g} s",
        )

    def set_health_checks(self, enabled: bool) -> None:
        for checker in self.checkers.values():
            checker.set_enabled(enabled)
        self._announce(
            f"health checks {'on' if enabled else 'off'}",
            self.health.config.describe() if enabled else "",
            "" if enabled else "dead backends stay in rotation; only retries help now",
        )

    def set_passive(self, nginx: NginxPassive | None, outlier: OutlierDetection | None) -> None:
        """Replace passive health rules (None turns a school off)."""
        for pool in self.pools.values():
            pool.passive = PassiveHealth(nginx, outlier)
        parts = []
        if nginx:
            parts.append(f"nginx max_fails={nginx.max_fails} fail_timeout={nginx.fail_timeout:g}s")
        if outlier:
            parts.append(
                f"Envoy outlier: {outlier.consecutive} consecutive failures,"
                f" {outlier.base_ejection_time:g} s x ejections"
            )
        self._announce(
            "passive health",
            "; ".join(parts) or "off",
            "failing real requests now take a backend out" if parts else "",
        )

    def set_panic_threshold(self, threshold: float) -> None:
        for pool in self.pools.values():
            pool.set_panic_threshold(threshold)
        self._announce("panic threshold", f"{threshold:.0%}" if threshold else "off")

    def set_slow_start(self, seconds: float) -> None:
        for pool in self.pools.values():
            pool.set_slow_start(seconds)
        self._announce("slow start", f"{seconds:g} s" if seconds else "off")

    # -- sessions and routing ------------------------------------------------------

    def _session_lost(self, event: SessionLost) -> None:
        self.events.publish(event)
        self.metrics.count("session_losses", backend=event.backend)
        # Per session mode too, so a chart can compare the set-ups a learner tried.
        self.metrics.count(f"session_losses.{self.session_mode}")

    def set_session_mode(self, mode: str) -> None:
        """One of the classic set-ups, and users who log in so its effect shows:

        none    no affinity, sessions in each backend's memory: they get lost;
        cookie  a signed affinity cookie pins each user (sessions in memory);
        ip      affinity by client address (sessions in memory);
        header  affinity by the X-User header (sessions in memory);
        shared  no affinity, sessions in the shared store: nothing is lost.
        """
        if mode not in SESSION_MODES:
            raise ConfigError(f"unknown session mode {mode!r} (use {', '.join(SESSION_MODES)})")
        self.affinity.set_config(AffinityConfig.parse(_SESSION_STICKY[mode]))
        self.sessions.mode = _SESSION_SETUPS[mode][1]
        self.set_logins(True, announce=False)
        self._announce(f"session mode {mode}", _SESSION_DETAIL[mode], _SESSION_WATCH[mode])

    @property
    def session_mode(self) -> str:
        """The classic set-up in use, or "custom"."""
        store = "shared" if self.sessions.mode == "shared" else "local"
        setup = (self.affinity.config.describe(), store)
        return next((m for m, s in _SESSION_SETUPS.items() if s == setup), "custom")

    async def set_session_store(self, spec: str) -> None:
        """Where shared sessions live: "memory" (in process) or "redis://host:port/db"."""
        store = open_store(spec, self.clock)
        try:
            await store.check()
        except BaseException:
            await store.close()
            raise
        old, self.session_store = self.session_store, store
        self.sessions.store = store
        await old.close()
        self._announce(
            "session store",
            store.describe(),
            "in shared mode every backend now reads and writes sessions there",
        )

    def set_logins(self, on: bool, *, announce: bool = True) -> None:
        """Generated users log in and browse their pages (True) or just fetch / (False)."""
        self._traffic().set_script(log_in_then_browse if on else browse_mix)
        self._logins = on
        if announce:
            self._announce("users " + ("log in and browse" if on else "browse anonymously"))

    def set_sticky(self, sticky: AffinityConfig | str) -> None:
        """Session affinity: none, cookie, ip, ip/24, header:NAME or query:NAME."""
        config = AffinityConfig.parse(sticky) if isinstance(sticky, str) else sticky
        self.affinity.set_config(config)
        watch = {
            "none": "requests spread again: sessions kept in one backend's memory get lost",
            "cookie": "each client is pinned by a signed cookie: watch its requests stay put",
            "ip": "each client address is pinned to one backend",
            "header": f"requests with the same {config.name} header stick together",
            "query": f"requests with the same {config.name} parameter stick together",
        }[config.mode]
        if self.mode == "l4" and config.mode != "none":
            watch = "L4 cannot see cookies or headers: this applies once you switch to L7"
        self._announce("sticky sessions", config.describe(), watch)

    async def add_pool(self, name: str, backends: int = 2, algorithm: str = "round_robin") -> None:
        """A new pool of fake backends with its own algorithm (for routing rules)."""
        spec = PoolSpec(name, backends, algorithm)
        if name in self.pools:
            raise ConfigError(f"a pool named {name!r} already exists")
        self._new_pool(spec.name, spec.algorithm)
        for _ in range(spec.backends):
            await self.add_backend(pool=name, announce=False)
        await self.checkers[name].start()
        self._publish_pools()
        self._announce(
            f"pool {name} added",
            f"{backends} backends, {algorithm}",
            "add a route to send requests there",
        )

    async def remove_pool(self, name: str) -> None:
        """Stop a pool's backends and drop it (no route may still point at it)."""
        if name == DEFAULT_POOL:
            raise ConfigError("the default pool cannot be removed")
        self._pool(name)
        users = [r.describe() for r in self.router.rules if r.pool == name]
        if users:
            raise ConfigError(f"routes still send requests to {name}: {'; '.join(users)}")
        for backend in [b.name for b in self.pools[name].backends]:
            await self.remove_backend(backend)
        await self.checkers.pop(name).stop()
        del self.pools[name]
        self._publish_pools()
        self._announce(f"pool {name} removed")

    def set_routes(self, rules: Sequence[Rule | str]) -> None:
        """Replace the content-routing rules (first match wins), live."""
        parsed = [Rule.parse(r) if isinstance(r, str) else r for r in rules]
        router = Router(parsed)
        self._check_routes(router)
        self.router = router
        self._publish_pools()
        detail = "; ".join(r.describe() for r in parsed) or "none: everything to default"
        watch = (
            "L4 cannot see paths or headers: rules apply once you switch to L7"
            if self.mode == "l4" and parsed
            else "each request's pool shows in the request feed"
        )
        self._announce("routes", detail, watch)

    def _check_routes(self, router: Router) -> None:
        missing = sorted(router.pools() - set(self.pools))
        if missing:
            raise ConfigError(
                f"no pool named {', '.join(missing)} (pools: {', '.join(self.pools)})"
            )

    def _publish_pools(self) -> None:
        if isinstance(self.proxy, HttpProxy):
            extra = {n: b for n, b in self.pools.items() if n != DEFAULT_POOL}
            self.proxy.set_pools(extra, self.router)

    # -- the algorithm and the proxy -----------------------------------------------

    def set_algorithm(
        self, name: str, options: Mapping[str, Any] | None = None, *, pool: str = DEFAULT_POOL
    ) -> None:
        """Switch a pool's balancing algorithm, live."""
        balancer = self._pool(pool)
        balancer.set_algorithm(name, options)
        info = registry.get(balancer.algorithm)
        where = "" if pool == DEFAULT_POOL else f" (pool {pool})"
        self._announce(f"algorithm {info.name}{where}", info.idea, _watch_algorithm(info.name))

    async def set_mode(self, mode: Mode) -> None:
        """Switch between L7 and L4 on the same port (open connections are closed)."""
        if mode not in MODES:
            raise ConfigError(f"mode must be l7 or l4, not {mode!r}")
        if mode == self.mode:
            return
        if self.proxy is None:
            self.mode = mode
            return
        port = self.proxy.port
        await self.proxy.stop()
        self.proxy = self._make_proxy(mode, port)
        await self.proxy.start()
        self.mode = mode
        if mode == "l4":
            ignored = []
            if self.router.rules:
                ignored.append(f"{len(self.router.rules)} routing rule(s)")
            if self.affinity.mode not in ("none", "ip"):
                ignored.append(f"{self.affinity.config.describe()} stickiness")
            note = f" Ignored until you switch back: {', '.join(ignored)}." if ignored else ""
            self._announce("mode L4", "one pick per TCP connection", L4_LIMITS + note)
        else:
            self._announce(
                "mode L7",
                "one pick per HTTP request",
                "keep-alive connections now spread across backends",
            )

    # -- traffic -------------------------------------------------------------------

    def _traffic(self) -> TrafficGenerator:
        if self.traffic is None:
            raise ConfigError("the lab is not running")
        return self.traffic

    def set_rate(self, rate: float) -> None:
        """Generated requests per second (Poisson arrivals)."""
        if not 0 <= rate <= 5000:
            raise ConfigError(f"traffic rate must be from 0 to 5000 per second, not {rate:g}")
        self._traffic().set_rate(rate)
        self._announce("traffic", f"{rate:g} requests/s")

    def pause(self) -> None:
        self._traffic().pause()
        self._announce("traffic paused", "", "curl the proxy yourself and watch your request")

    def resume(self) -> None:
        self._traffic().resume()
        self._announce("traffic resumed")

    async def burst(self, count: int = 300) -> None:
        """Fire ``count`` requests at once and wait for them."""
        if not 1 <= count <= 5000:
            raise ConfigError(f"a burst must be from 1 to 5000 requests, not {count}")
        self._announce(
            "burst", f"{count} requests at once", "watch in-flight counts jump and the p99 climb"
        )
        await self._traffic().burst(count)

    async def reset(self) -> None:
        """Back to how the lab started: the same fleet, settings and traffic."""
        config = self.config
        initial = [f"s{n}" for n in range(1, config.backends + config.backups + 1)]
        if not config.real_backends:
            for name in [b.name for b in self.balancer.backends]:
                if name not in initial:
                    await self.remove_backend(name)
            for number, name in enumerate(initial, start=1):
                if name not in self.fakes:
                    backup = number > config.backends
                    await self.add_backend(name, backup=backup, announce=False)
            for fake in self.fakes.values():
                if fake.state == "killed":
                    await fake.revive()
                fake.latency = config.latency
                fake.slow_ms = 0.0
                fake.error_rate = 0.0
                fake.capacity = None
                fake.hang = False
                fake.brownout = False
        for backend in self.balancer.backends:
            self.balancer.enable(backend.name)
            self.balancer.set_weight(backend.name, 1)
            number = int(backend.name[1:]) if backend.name[1:].isdigit() else 0
            self.balancer.set_backup(backend.name, number > config.backends)
            self.balancer.set_max_conns(backend.name, config.max_conns)
            self.balancer.set_health(backend.name, True, "reset")
        self.router = Router(config.routes)
        for name in [n for n in self.pools if n != DEFAULT_POOL]:
            if name not in {p.name for p in config.pools}:
                await self.remove_pool(name)
        self._publish_pools()
        self.affinity.set_config(config.sticky)
        self.sessions.mode = "local" if config.sessions == "local" else "shared"
        if self.traffic is not None:
            self.set_logins(config.logins, announce=False)
        self.balancer.set_algorithm(config.algorithm, config.options)
        self.balancer.passive = PassiveHealth(config.passive_nginx, config.passive_outlier)
        self.balancer.set_panic_threshold(config.panic_threshold)
        self.balancer.set_slow_start(config.slow_start)
        self.health.configure(config.health or PRESETS["playground"])
        self.health.set_enabled(config.health is not None)
        await self.set_mode(config.mode)
        if self.traffic is not None:
            self.traffic.set_rate(config.rate)
            self.traffic.resume()
        self._announce("reset", "back to the starting fleet and settings")

    # -- reading -------------------------------------------------------------------

    def snapshot(self) -> LabSnapshot:
        """Everything a UI needs to draw, as plain data."""
        now = self.clock()
        views: list[BackendView] = []
        for pool_name, pool in self.pools.items():
            views.extend(self._views(pool_name, pool))
        in_flight = {v.name: v.in_flight for v in views}
        traffic = self._traffic()
        return LabSnapshot(
            at=now,
            mode=self.mode,
            algorithm=self.balancer.algorithm,
            options=dict(self.balancer.options),
            proxy_url=self.proxy_url,
            admin_url=self.admin_url,
            backends=tuple(views),
            metrics=self.metrics.snapshot(now, in_flight=in_flight),
            client_metrics=self.client_metrics.snapshot(now),
            traffic=traffic.stats(),
            rate=traffic.rate,
            paused=traffic.paused,
            recent=tuple(self.recent),
            limits=L4_LIMITS if self.mode == "l4" else "",
            panic=self.balancer.panic,
            health=self.health.config.describe() if self.health.enabled else "off",
            pools={name: pool.algorithm for name, pool in self.pools.items()},
            routes=tuple(rule.describe() for rule in self.router.rules),
            sticky=self.affinity.config.describe(),
            session_mode=self.session_mode,
            session_store=self.session_store.describe()
            if self.sessions.mode == "shared"
            else "each backend's memory",
            session_losses=self.sessions.total_losses,
            logins=self._logins,
        )

    def _views(self, pool_name: str, pool: Balancer) -> list[BackendView]:
        eligible = {b.name for b in pool.eligible}
        checker = self.checkers[pool_name]
        losses = self.sessions.losses()
        views: list[BackendView] = []
        for backend in pool.backends:
            fake = self.fakes.get(backend.name)
            stats = backend.stats
            status = pool.status(backend.name)
            check = checker.states.get(backend.name)
            common: dict[str, Any] = {
                "session_losses": losses.get(backend.name, 0),
                "pool": pool_name,
                "status": status.label,
                "health": check.label if check is not None and checker.enabled else "off",
                "last_check": check.last_result if check is not None else "",
                "admin": status.admin,
                "slow_start": status.slow_start,
                "max_conns": status.max_conns,
                "full": status.full,
                "name": backend.name,
                "address": backend.address,
                "weight": backend.weight,
                "backup": backend.backup,
                "available": pool.is_available(backend.name),
                "eligible": backend.name in eligible,
                "in_flight": stats.in_flight,
                "completed": stats.completed,
                "failures": stats.failures,
                "ewma_latency": stats.ewma_latency,
            }
            if fake is None:
                views.append(BackendView(process="real", **common))
            else:
                views.append(
                    BackendView(
                        process=fake.state,
                        latency=str(fake.latency),
                        slow_ms=fake.slow_ms,
                        error_rate=fake.error_rate,
                        capacity=fake.capacity,
                        hang=fake.hang,
                        brownout=fake.brownout,
                        **common,
                    )
                )
        return views

    def backend_names(self) -> list[str]:
        """Every backend of every pool."""
        return [b.name for pool in self.pools.values() for b in pool.backends]

    def _pool(self, name: str) -> Balancer:
        try:
            return self.pools[name]
        except KeyError:
            raise ConfigError(f"no pool named {name!r} (pools: {', '.join(self.pools)})") from None


#: Each classic session set-up: (sticky mode, where sessions live).
_SESSION_SETUPS = {
    "none": ("none", "local"),
    "cookie": ("cookie", "local"),
    "ip": ("ip", "local"),
    "header": ("header:X-User", "local"),
    "shared": ("none", "shared"),
}
_SESSION_STICKY = {mode: sticky for mode, (sticky, _) in _SESSION_SETUPS.items()}
SESSION_MODES = tuple(_SESSION_SETUPS)
_SESSION_DETAIL = {
    "none": "no affinity; sessions in each backend's memory",
    "cookie": "signed affinity cookie; sessions in each backend's memory",
    "ip": "affinity by client address; sessions in each backend's memory",
    "header": "affinity by the X-User header; sessions in each backend's memory",
    "shared": "no affinity; sessions in the shared store",
}
_SESSION_WATCH = {
    "none": "requests spread, so most land where their session is not: 401s, losses climb",
    "cookie": "users stick to one backend; kill it and its users lose their sessions",
    "ip": "each client address sticks to one backend (everyone behind one NAT would too)",
    "header": "each user sends X-User, so each user sticks to one backend",
    "shared": "any backend can serve any user: kill one, no session is lost",
}


def _watch_algorithm(name: str) -> str:
    info = registry.get(name)
    if info.uses_key:
        return "requests with the same key (client address) now stick to one backend"
    if info.uses_load:
        return "slow or busy backends now get less traffic"
    if info.uses_weights:
        return "shares now follow the weights"
    return "every backend gets an equal share of requests, fast or slow"
