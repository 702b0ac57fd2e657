"""The Lab's snapshot: its parts read into ``model.snapshot`` views, at one instant.

Each backend's view joins three owners' knowledge — the balancer's (admin state,
passive verdicts, eligibility, slow start, limits), the health checker's (UP/DOWN and
the counts toward the next change) and the fake backend's (its process and knobs) —
as structured fields; ``model.status`` turns them into words.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from lbplay.core.balancer import Balancer
from lbplay.core.routing import DEFAULT_POOL
from lbplay.model.config import BackendSpec, LabConfig, PoolSpec
from lbplay.model.snapshot import BackendView, LabSnapshot, PoolView
from lbplay.net.health_checker import HealthChecker

if TYPE_CHECKING:
    from lbplay.net.lab import Lab


def build_snapshot(lab: Lab) -> LabSnapshot:
    """Everything a UI draws, read from ``lab`` now."""
    now = lab.clock()
    views: list[BackendView] = []
    losses = lab.sessions.losses()
    for name, pool in lab.fleet:
        views.extend(pool_views(lab, name, pool, lab.fleet.checkers[name], losses))
    in_flight = {v.name: v.in_flight for v in views}
    traffic = lab.running_traffic()
    shared = lab.sessions.mode == "shared"
    store_spec = lab.session_store.url if shared else "local"
    return LabSnapshot(
        at=now,
        mode=lab.mode,
        algorithm=lab.balancer.algorithm,
        options=dict(lab.balancer.options),
        proxy_url=lab.proxy_url,
        backends=tuple(views),
        metrics=lab.metrics.snapshot(now, in_flight=in_flight),
        client_metrics=lab.client_metrics.snapshot(now),
        traffic=traffic.stats(),
        rate=traffic.rate,
        paused=traffic.paused,
        recent=tuple(lab.recent),
        limits=lab.limits,
        panic=lab.balancer.panic,
        health=lab.fleet.health if lab.fleet.checks_on else None,
        pools={
            name: PoolView(name, pool.algorithm, dict(pool.options), pool.panic)
            for name, pool in lab.fleet
        },
        routes=tuple(rule.describe() for rule in lab.router.rules),
        sticky=lab.affinity.config.describe(),
        session_mode=lab.session_mode,
        session_store=store_spec,
        session_store_text=lab.session_store.describe() if shared else "each backend's memory",
        session_losses=lab.sessions.total_losses,
        logins=lab.logins,
        balancer_up=lab.listening,
    )


def pool_views(
    lab: Lab, pool_name: str, pool: Balancer, checker: HealthChecker, losses: dict[str, int]
) -> list[BackendView]:
    """The views of one pool's backends, in the order they were added."""
    eligible = {b.name for b in pool.eligible}
    views: list[BackendView] = []
    for backend in pool.backends:
        name = backend.name
        status = pool.status(name)
        check = checker.states.get(name) if checker.enabled else None
        fake = lab.fleet.fakes.get(name)
        stats = backend.stats
        knobs = (
            {}
            if fake is None
            else {
                "latency": fake.latency,
                "slow_ms": fake.slow_ms,
                "error_rate": fake.error_rate,
                "error_ms": fake.error_ms,
                "capacity": fake.capacity,
                "hang": fake.hang,
                "brownout": fake.brownout,
            }
        )
        views.append(
            BackendView(
                name=name,
                pool=pool_name,
                address=backend.address,
                weight=backend.weight,
                backup=backend.backup,
                process="real" if fake is None else fake.state,
                admin=status.admin,
                health=None if not checker.enabled else (check.status if check else "UP"),
                failing=check.failing if check else 0,
                recovering=check.recovering if check else 0,
                fall=checker.config.fall,
                rise=checker.config.rise,
                last_check=check.last_result if check else "",
                passive=status.passive,  # type: ignore[arg-type]
                passive_until=status.passive_until,
                eligible=name in eligible,
                available=pool.is_available(name),
                slow_start=status.slow_start,
                max_conns=status.max_conns,
                full=status.full,
                panic=pool.panic and name in eligible and not pool.is_available(name),
                in_flight=stats.in_flight,
                completed=stats.completed,
                failures=stats.failures,
                ewma_latency=stats.ewma_latency,
                session_losses=losses.get(name, 0),
                **knobs,
            )
        )
    return views


def live_config(lab: Lab) -> LabConfig:
    """The lab as it is now, as a model: its starting config with every setting a
    control changes read back from the running parts (weights, backups, limits, pools,
    algorithms, health, passive checks, routes, affinity, sessions, retries, traffic).
    What ``lbplay export`` translates; fake backends stay fake (their addresses are in
    ``addresses``)."""
    pools = dict(lab.fleet.pools)
    default = pools.pop(DEFAULT_POOL)

    def specs(pool: Balancer) -> tuple[BackendSpec, ...]:
        return tuple(
            BackendSpec(
                b.name,
                b.weight,
                backup=b.backup,
                max_conns=pool.status(b.name).max_conns,
                address=None if b.name in lab.fleet.fakes else b.address,
            )
            for b in pool.backends
        )

    traffic = lab.running_traffic()
    sessions = lab.session_store.url if lab.sessions.mode == "shared" else "local"
    return replace(
        lab.config,
        backends=specs(default),
        algorithm=default.algorithm,
        options=dict(default.options),
        mode=lab.mode,
        proxy=lab.proxy_config,
        rate=traffic.rate,
        health=lab.fleet.health if lab.fleet.checks_on else None,
        passive_nginx=default.passive.nginx,
        passive_outlier=default.passive.outlier,
        panic_threshold=default.panic_threshold,
        slow_start=default.slow_start,
        drain_timeout=default.drain_timeout,
        max_conns=None,
        pools=tuple(
            PoolSpec(name, specs(pool), pool.algorithm, dict(pool.options))
            for name, pool in pools.items()
        ),
        routes=tuple(lab.router.rules),
        sticky=lab.affinity.config,
        sessions="shared" if sessions == "memory" else sessions,
        logins=lab.logins,
    )


def addresses(lab: Lab) -> dict[str, str]:
    """Every backend's ``host:port``, fake or real (for an exported configuration)."""
    return {b.name: b.address for _, pool in lab.fleet for b in pool.backends if b.address}
