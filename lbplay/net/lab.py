"""The Lab: the one façade every UI drives — the dashboard, ``lbplay serve``, the
admin API, lessons, scenarios and tests.

A Lab owns a fleet of fake backends (or the addresses of real ones) in pools, the
proxy in front of them (L7 or L4, switchable on the same port, so a learner's
``curl`` keeps working), the traffic generator, the session store, the metrics and
the event bus. It is described by a ``model.LabConfig``; it is changed only by
``apply(control)`` — one typed control from ``model.controls`` (or its text form) —
which does it, announces a ``ControlAction`` saying what changed and what to watch
for, and returns the ``Outcome``; it is read through ``snapshot()``, plain data with
each backend's state as fields, and through its events.

    async with Lab(LabConfig(backends=4, rate=50)) as lab:
        print(lab.proxy_url)
        await lab.apply("kill s2")
        view = lab.snapshot()

Where the proxy listens (``host``, ``port``) is a launch setting, not part of the
model. The admin API is a client of the Lab, started beside it (``net.admin``). If a
UI needs something the Lab cannot do, the Lab grows: nothing reaches past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable

from lbplay.core.affinity import Affinity
from lbplay.core.balancer import Balancer
from lbplay.core.events import (
    ConnectionCompleted,
    ControlAction,
    Event,
    EventBus,
    RequestCompleted,
    SessionLost,
)
from lbplay.core.metrics import Metrics
from lbplay.core.routing import DEFAULT_POOL, Router
from lbplay.errors import ConfigError
from lbplay.model import narration
from lbplay.model.config import LabConfig, Mode, ProxyConfig
from lbplay.model.control_args import Names
from lbplay.model.controls import Control, Outcome, parse
from lbplay.model.snapshot import BackendView, LabSnapshot
from lbplay.model.wire import BACKEND_HEADER, FAKE_BACKEND_HEADER
from lbplay.model.workload import MIXES, NAT_MODES
from lbplay.net import lab_controls
from lbplay.net.clients import browse_mix, log_in_then_browse
from lbplay.net.fleet import Fleet
from lbplay.net.proxy_http import HttpProxy
from lbplay.net.proxy_tcp import L4_LIMITS, TcpProxy
from lbplay.net.service import Service
from lbplay.net.session_store import SessionStore, open_store
from lbplay.net.sessions import SessionApp
from lbplay.net.traffic import TrafficGenerator, TrafficResult
from lbplay.net.views import build_snapshot, pool_views

#: How often time-based balancer changes are applied when no request triggers them.
TICK = 0.1
#: Seconds of the metrics window: rates and percentiles are over the last 1-2 s.
WINDOW = 2


class Lab(Service):
    """Fleet + balancer + proxy + traffic + metrics + events, driven as one."""

    def __init__(
        self,
        config: LabConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config = config = config or LabConfig()
        self.clock = clock
        self.host = host
        self.port = port
        self.events = EventBus()
        # Rates, shares and percentiles over the last ~2 s (the window is the current
        # second and the one before): what the screen shows is what happens now.
        self.metrics = Metrics(clock, window=WINDOW)
        self.client_metrics = Metrics(clock, window=WINDOW)
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
        self.fleet = Fleet(
            config, clock=clock, publish=self.events.publish, installers=[self.sessions.installer()]
        )
        self.mode: Mode = config.mode
        #: The L7 proxy's settings now (retries change them while the lab runs).
        self.proxy_config = config.proxy
        self.proxy: HttpProxy | TcpProxy | None = None
        self.traffic: TrafficGenerator | None = None
        self.recent: deque[Event] = deque(maxlen=config.keep_requests)
        self.logins = config.logins
        #: False while the balancer is down ("balancer down"): the proxy is stopped,
        #: its port kept for when it comes back.
        self.listening = True
        self._ticker: asyncio.Task[None] | None = None
        self.events.subscribe(self._remember)

    # -- what the fleet holds ----------------------------------------------------------

    @property
    def pools(self) -> dict[str, Balancer]:
        """Pool name → its balancer, "default" first."""
        return self.fleet.pools

    @property
    def balancer(self) -> Balancer:
        """The default pool's balancer."""
        return self.fleet.default

    def backend_names(self) -> list[str]:
        """Every backend of every pool."""
        return self.fleet.names()

    def names(self) -> Names:
        """The lab's backend and pool names, to check a control before applying it."""
        return Names(tuple(self.fleet.names()), tuple(self.fleet.pools))

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Start backends, health checks, proxy and traffic; undo everything on failure."""
        try:
            await self.session_store.check()
            await self.fleet.start()
            self._ticker = asyncio.create_task(self._tick_forever(), name="lab tick")
            self.proxy = self._make_proxy(self.mode, self.port)
            await self.proxy.start()
            self.traffic = TrafficGenerator(
                self.proxy_url,
                clients=self.config.clients,
                rate=self.config.rate,
                rng=random.Random(self.config.seed + 2),
                metrics=self.client_metrics,
                script_factory=log_in_then_browse if self.logins else browse_mix,
                per_subnet=NAT_MODES[self.config.nat],
                mix=MIXES[self.config.mix],
                # Fake backends name themselves in X-Backend, in L4 mode too, where the
                # proxy cannot add X-Lbplay-Backend.
                backend_header=BACKEND_HEADER if self.config.real else FAKE_BACKEND_HEADER,
                timeout=self.config.proxy.read_timeout + 5.0,
                on_result=self._client_result,
            )
            await self.traffic.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop everything; safe to call twice and after a failed start."""
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
        await self.fleet.stop()
        await self.session_store.close()

    async def _tick_forever(self) -> None:
        """Let time-based changes happen without traffic (sentences served, drains)."""
        while True:
            await asyncio.sleep(TICK)
            for _, pool in self.fleet:
                pool.tick()

    def _make_proxy(self, mode: Mode, port: int) -> HttpProxy | TcpProxy:
        if mode == "l7":
            return HttpProxy(
                self.balancer,
                self.proxy_config,
                host=self.host,
                port=port,
                events=self.events,
                metrics=self.metrics,
                clock=self.clock,
                pools=self.extra_pools(),
                router=self.router,
                affinity=self.affinity,
            )
        return TcpProxy(
            self.balancer, host=self.host, port=port, events=self.events, clock=self.clock
        )

    def extra_pools(self) -> dict[str, Balancer]:
        """Every pool but the default one (the L7 proxy's routing targets)."""
        return {n: b for n, b in self.fleet.pools.items() if n != DEFAULT_POOL}

    def set_proxy_config(self, config: ProxyConfig) -> None:
        """New L7 settings (retries), for the running proxy and any later one."""
        self.proxy_config = config
        if isinstance(self.proxy, HttpProxy):
            self.proxy.set_config(config)

    def publish_pools(self) -> None:
        """Hand the L7 proxy the current pools and routing rules."""
        if isinstance(self.proxy, HttpProxy):
            self.proxy.set_pools(self.extra_pools(), self.router)

    async def switch_proxy(self, mode: Mode) -> None:
        """Restart the proxy in ``mode`` on the same port (open connections close);
        while the balancer is down, it comes back in ``mode``."""
        if self.proxy is None or not self.listening:
            self.mode = mode
            return
        port = self.proxy.port
        await self.proxy.stop()
        self.proxy = self._make_proxy(mode, port)
        await self.proxy.start()
        self.mode = mode

    async def balancer_down(self) -> None:
        """Stop the proxy, keeping its port: the balancer as a single point of failure."""
        if self.proxy is None:
            raise ConfigError("the lab is not running")
        if self.listening:
            await self.proxy.stop()
            self.listening = False

    async def balancer_back(self) -> None:
        """Listen again on the same port, in the current mode, with the current settings."""
        if self.proxy is None:
            raise ConfigError("the lab is not running")
        if not self.listening:
            self.proxy = self._make_proxy(self.mode, self.proxy.port)
            await self.proxy.start()
            self.listening = True

    def _client_result(self, result: TrafficResult) -> None:
        """While the balancer is down no proxy sees a request, so the clients' own
        failures are the only record: publish and count them as the proxy would."""
        if self.listening or not result.error:
            return
        now = self.clock()
        self.metrics.record(None, 0, result.latency, now=now)
        self.events.publish(
            RequestCompleted(
                at=now,
                client=result.address,
                method=result.method,
                path=result.path,
                status=0,
                latency=result.latency,
                backend=None,
                reason="the balancer is down",
                error=result.error,
            )
        )

    @property
    def proxy_url(self) -> str:
        """Where to send requests: ``http://127.0.0.1:PORT``."""
        if self.proxy is None:
            raise ConfigError("the lab is not running")
        return self.proxy.url

    @property
    def limits(self) -> str:
        """What the current mode cannot do ("" in L7)."""
        return L4_LIMITS if self.mode == "l4" else ""

    def running_traffic(self) -> TrafficGenerator:
        """The traffic generator; ``ConfigError`` before the lab starts."""
        if self.traffic is None:
            raise ConfigError("the lab is not running")
        return self.traffic

    # -- changing ------------------------------------------------------------------

    async def apply(self, control: Control | str) -> Outcome:
        """Do one control (or its text form) and return what happened.

        The change is announced as a ``ControlAction`` (also in the outcome): what
        changed and what to watch for. Bad input raises ``ConfigError`` (an unknown
        backend: ``UnknownBackend``) before anything changes.
        """
        if isinstance(control, str):
            control = parse(control, self.names())
        announced = await lab_controls.apply(self, control)
        event = ControlAction(
            at=self.clock(),
            action=announced.action,
            detail=announced.detail,
            watch=announced.watch,
            # an unnamed "add" names its backend only once it is made
            backend=control.target() or str(announced.data.get("added", "")),
        )
        self.events.publish(event)
        return Outcome(control, event, announced.data)

    async def reconfigure(self, config: LabConfig) -> None:
        """Become the lab ``config`` describes (a lesson's or a scenario's setup), live:
        the same proxy URL, fresh state. Refused changes leave the lab as it was."""
        old = self.config
        self.config = config
        try:
            await lab_controls.reconfigure(self, old)
        except BaseException:
            self.config = old
            raise
        self.events.publish(
            ControlAction(
                at=self.clock(), action="lab set up", detail="a fresh lab for what follows"
            )
        )

    # -- reading -------------------------------------------------------------------

    def snapshot(self) -> LabSnapshot:
        """Everything a UI needs to draw, as plain data."""
        return build_snapshot(self)

    def backend(self, name: str) -> BackendView | None:
        """One backend's view now (cheaper than a snapshot); None if there is none."""
        for pool_name, pool in self.fleet:
            if any(b.name == name for b in pool.backends):
                views = pool_views(self, pool_name, pool, self.fleet.checkers[pool_name], {})
                return next(v for v in views if v.name == name)
        return None

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        """Receive every future event; returns a function that unsubscribes."""
        return self.events.subscribe(subscriber)

    def _remember(self, event: Event) -> None:
        if isinstance(event, (RequestCompleted, ConnectionCompleted)):
            self.recent.append(event)

    # -- sessions --------------------------------------------------------------------

    def _session_lost(self, event: SessionLost) -> None:
        self.events.publish(event)
        self.metrics.count("session_losses", backend=event.backend)
        # Per session mode too, so a chart can compare the set-ups a learner tried.
        self.metrics.count(f"session_losses.{self.session_mode}")

    @property
    def session_mode(self) -> str:
        """The classic set-up in use (``narration.SESSION_MODES``), or its parts in words."""
        return narration.session_mode(
            self.affinity.config.describe(), self.sessions.mode == "shared"
        )

    def set_logins(self, on: bool) -> None:
        """Generated users log in and browse their pages (True) or just fetch / (False)."""
        self.running_traffic().set_script(log_in_then_browse if on else browse_mix)
        self.logins = on
