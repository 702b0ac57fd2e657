"""The fleet of a Lab: its pools, each a balancer with its own health checker, the
fake backends behind them, and the names that find any of them.

A backend name is unique across pools, so every control names a backend without
saying its pool (``kill api-1``), and ``pool_of`` finds where it lives. Fake
backends are started and stopped here; real servers are only addresses.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from lbplay.core.backends import Backend, check_name, check_weight
from lbplay.core.balancer import Balancer
from lbplay.core.events import Event
from lbplay.core.health import PRESETS, HealthCheckConfig
from lbplay.core.passive import PassiveHealth
from lbplay.core.routing import DEFAULT_POOL
from lbplay.errors import ConfigError, UnknownBackend
from lbplay.model.config import BackendSpec, LabConfig
from lbplay.model.faults import LatencyModel
from lbplay.net.fake_backend import FakeBackend, Installer
from lbplay.net.health_checker import HealthChecker


class Fleet:
    """Pools of backends: balancers, health checkers and fake backends, by name."""

    def __init__(
        self,
        config: LabConfig,
        *,
        clock: Callable[[], float],
        publish: Callable[[Event], None],
        installers: list[Installer],
    ) -> None:
        self.config = config
        self.clock = clock
        self.publish = publish
        self.installers = installers
        #: Pool name → its balancer; "default" first.
        self.pools: dict[str, Balancer] = {}
        self.checkers: dict[str, HealthChecker] = {}
        self.fakes: dict[str, FakeBackend] = {}
        #: The health check settings every pool uses, and whether they are on.
        self.health: HealthCheckConfig = config.health or PRESETS["playground"]
        self.checks_on = config.health is not None
        #: The latency a new fake backend starts with.
        self.latency: LatencyModel = config.latency
        self._next_number = 1
        self.restart_names()
        self._running = False

    # -- pools -----------------------------------------------------------------------

    def new_pool(
        self, name: str, algorithm: str, options: Mapping[str, Any] | None = None
    ) -> Balancer:
        """An empty pool (a balancer and its health checker) with the lab's settings."""
        if name in self.pools:
            raise ConfigError(f"a pool named {name!r} already exists")
        config = self.config
        default = self.pools.get(DEFAULT_POOL)
        balancer = Balancer(
            (),
            algorithm,
            options=options,
            rng=random.Random(f"{config.seed}:{name}"),
            clock=self.clock,
            events=self.publish,
            passive=PassiveHealth(config.passive_nginx, config.passive_outlier)
            if default is None
            else PassiveHealth(default.passive.nginx, default.passive.outlier),
            panic_threshold=config.panic_threshold if default is None else default.panic_threshold,
            slow_start=config.slow_start if default is None else default.slow_start,
            drain_timeout=config.drain_timeout,
        )
        checker = HealthChecker(balancer, self.health, clock=self.clock)
        checker.enabled = self.checks_on
        self.pools[name] = balancer
        self.checkers[name] = checker
        return balancer

    def pool(self, name: str) -> Balancer:
        """The balancer of pool ``name``; ``ConfigError`` naming the pools."""
        try:
            return self.pools[name]
        except KeyError:
            raise ConfigError(f"no pool named {name!r} (pools: {', '.join(self.pools)})") from None

    @property
    def default(self) -> Balancer:
        return self.pools[DEFAULT_POOL]

    def pool_name(self, balancer: Balancer) -> str:
        return next(n for n, b in self.pools.items() if b is balancer)

    async def start(self) -> None:
        """Start every pool's backends from the config, then the health checkers."""
        for name, (algorithm, options, backends) in self.config.pool_specs().items():
            self.new_pool(name, algorithm, options)
            for spec in backends:
                await self.add(spec, pool=name)
        self._running = True
        for checker in self.checkers.values():
            await checker.start()

    async def stop(self) -> None:
        self._running = False
        for checker in self.checkers.values():
            await checker.stop()
        for fake in list(self.fakes.values()):
            await fake.stop()

    async def drop_pool(self, name: str) -> None:
        """Stop a pool's backends and its checker, and forget it."""
        for backend in [b.name for b in self.pools[name].backends]:
            await self.remove(backend)
        await self.checkers.pop(name).stop()
        del self.pools[name]

    # -- backends --------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every backend of every pool."""
        return [b.name for pool in self.pools.values() for b in pool.backends]

    def __iter__(self) -> Iterator[tuple[str, Balancer]]:
        return iter(list(self.pools.items()))

    def pool_of(self, name: str) -> Balancer:
        """The balancer of the pool that holds backend ``name``."""
        for pool in self.pools.values():
            if any(b.name == name for b in pool.backends):
                return pool
        known = ", ".join(self.names()) or "none"
        raise UnknownBackend(f"no backend named {name!r} (backends: {known})")

    def checker_of(self, name: str) -> HealthChecker:
        return self.checkers[self.pool_name(self.pool_of(name))]

    def fake(self, name: str) -> FakeBackend:
        """The fake backend called ``name`` (``ConfigError`` for real or unknown ones)."""
        self.pool_of(name)
        try:
            return self.fakes[name]
        except KeyError:
            raise ConfigError(f"{name} is a real server: lbplay cannot change it") from None

    def restart_names(self) -> None:
        """Count new default-pool names on from the config's (at start and on reset):
        a lab of s1..s4 adds s5, then s6."""
        self._next_number = 1 + max(
            (_number(spec.name) for spec in self.config.all_backends()), default=0
        )

    def new_name(self, pool: str) -> str:
        """The next free name: s5 in the default pool, api-3 in pool api. A removed
        backend's name is not handed out again (until a reset), so "s4" always means
        one backend in a lab's story."""
        taken = set(self.names())
        if pool != DEFAULT_POOL:
            number = 1
            while f"{pool}-{number}" in taken:
                number += 1
            return f"{pool}-{number}"
        number = max(self._next_number, 1 + max(map(_number, taken), default=0))
        self._next_number = number + 1
        return f"s{number}"

    async def add(self, spec: BackendSpec, *, pool: str = DEFAULT_POOL) -> str:
        """Put a backend into ``pool``: start a fake one, or add a real server's address."""
        balancer = self.pool(pool)
        check_name(spec.name)
        check_weight(spec.weight)
        if spec.name in self.names():
            raise ConfigError(f"a backend named {spec.name!r} already exists")
        address = spec.address
        if address is None:
            fake = FakeBackend(
                spec.name,
                rng=random.Random(f"{self.config.seed}:{spec.name}"),
                latency=self.latency,
                installers=list(self.installers),
                capacity=spec.capacity,
                slow_ms=spec.slow_ms,
            )
            await fake.start()
            self.fakes[spec.name] = fake
            address = fake.address
        balancer.add(Backend(spec.name, spec.weight, backup=spec.backup, address=address))
        limit = spec.max_conns if spec.max_conns is not None else self.config.max_conns
        if limit is not None:
            balancer.set_max_conns(spec.name, limit)
        if self._running:
            self.checkers[pool].sync()
        return spec.name

    async def remove(self, name: str) -> None:
        """Take a backend out of its pool and stop it (requests in flight finish)."""
        checker = self.checker_of(name)
        self.pool_of(name).remove(name)
        checker.sync()
        fake = self.fakes.pop(name, None)
        if fake is not None:
            await fake.stop()

    # -- settings every pool shares --------------------------------------------------

    def set_health(self, config: HealthCheckConfig | None) -> None:
        """New active-check settings for every pool (None: checks off)."""
        if config is not None:
            self.health = config
        self.checks_on = config is not None
        for checker in self.checkers.values():
            checker.configure(self.health)
            checker.set_enabled(self.checks_on)


def _number(name: str) -> int:
    """N of a default-pool name "sN" (0 for any other name)."""
    digits = name[1:]
    return int(digits) if name.startswith("s") and digits.isdecimal() else 0
