"""What each control does to a running Lab: one handler per control class.

``apply(lab, control)`` looks the handler up by the control's type, runs it and
returns its ``Announcement``: what changed, in a few words, and what to watch for
(the words come from ``model.narration``). Every handler checks what it needs
before it changes anything, so a refused control leaves the lab as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from lbplay.core import registry
from lbplay.core.affinity import AffinityConfig
from lbplay.core.health import HealthCheckConfig, preset
from lbplay.core.passive import NginxPassive, OutlierDetection, PassiveHealth, nginx_failures
from lbplay.core.routing import DEFAULT_POOL, Router
from lbplay.errors import ConfigError
from lbplay.model import controls as c
from lbplay.model import narration
from lbplay.model.config import BackendSpec, LabConfig
from lbplay.model.workload import MIXES, NAT_MODES
from lbplay.net.fake_backend import DEFAULT_ERROR_MS
from lbplay.net.proxy_tcp import L4_LIMITS
from lbplay.net.session_store import open_store

if TYPE_CHECKING:
    from lbplay.net.lab import Lab


@dataclass(frozen=True)
class Announcement:
    """What a handler did, for the ``ControlAction`` the Lab publishes."""

    action: str
    detail: str = ""
    watch: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)


C = TypeVar("C", bound=c.Control)
Handler = Callable[["Lab", Any], Awaitable[Announcement]]
_HANDLERS: dict[type[c.Control], Handler] = {}


def handles(cls: type[C]) -> Callable[[Callable[[Lab, C], Awaitable[Announcement]]], Handler]:
    def register(function: Callable[[Lab, C], Awaitable[Announcement]]) -> Handler:
        _HANDLERS[cls] = function
        return function

    return register


async def apply(lab: Lab, control: c.Control) -> Announcement:
    """Do ``control`` to ``lab``."""
    handler = _HANDLERS.get(type(control))
    if handler is None:  # pragma: no cover - a test checks every control has one
        raise ConfigError(f"the lab cannot do {control.NAME!r} yet")
    target = control.target()
    if target is not None:
        lab.fleet.pool_of(target)  # an unknown backend is refused before anything runs
    return await handler(lab, control)


def handled() -> set[type[c.Control]]:
    """Every control class with a handler (a test checks none is missing)."""
    return set(_HANDLERS)


# -- one backend --------------------------------------------------------------------------


@handles(c.Kill)
async def _kill(lab: Lab, control: c.Kill) -> Announcement:
    await lab.fleet.fake(control.backend).kill()
    checker = lab.fleet.checker_of(control.backend)
    health = checker.config if checker.enabled else None
    return Announcement(
        f"{control.backend} killed", "it refuses connections now", narration.kill_watch(health)
    )


@handles(c.Revive)
async def _revive(lab: Lab, control: c.Revive) -> Announcement:
    await lab.fleet.fake(control.backend).revive()
    return Announcement(
        f"{control.backend} revived",
        "listening again on the same port",
        "it is picked again at its next turn",
    )


@handles(c.Slow)
async def _slow(lab: Lab, control: c.Slow) -> Announcement:
    lab.fleet.fake(control.backend).slow_ms = control.ms
    detail = f"+{control.ms:g} ms per response"
    return Announcement(f"{control.backend} slow", detail, narration.slow_watch(control.ms))


@handles(c.Errors)
async def _errors(lab: Lab, control: c.Errors) -> Announcement:
    fake = lab.fleet.fake(control.backend)
    fake.error_rate = control.rate
    if control.ms is not None:
        fake.error_ms = control.ms
    return Announcement(
        f"{control.backend} errors",
        f"{control.rate:.0%} of requests answer 500, each in {fake.error_ms:g} ms",
        "watch its error rate; /health stays green; a fast error looks like a fast server"
        " to least_response_time",
    )


@handles(c.Latency)
async def _latency(lab: Lab, control: c.Latency) -> Announcement:
    model = control.model()
    lab.fleet.fake(control.backend).latency = model
    return Announcement(f"{control.backend} latency", str(model), "watch its p50/p99")


@handles(c.Capacity)
async def _capacity(lab: Lab, control: c.Capacity) -> Announcement:
    lab.fleet.fake(control.backend).capacity = control.limit
    detail = "unlimited" if control.limit is None else f"at most {control.limit} at once"
    return Announcement(
        f"{control.backend} capacity", detail, "over capacity, requests queue: latency grows"
    )


@handles(c.Hang)
async def _hang(lab: Lab, control: c.Hang) -> Announcement:
    hang = not control.off
    lab.fleet.fake(control.backend).hang = hang
    watch = narration.hang_watch(lab.config.proxy.read_timeout) if hang else ""
    return Announcement(f"{control.backend} {'hangs' if hang else 'answers again'}", "", watch)


@handles(c.Brownout)
async def _brownout(lab: Lab, control: c.Brownout) -> Announcement:
    on = not control.off
    lab.fleet.fake(control.backend).brownout = on
    return Announcement(
        f"{control.backend} brownout {'on' if on else 'off'}",
        "/health answers 200 while real requests fail" if on else "",
        "a shallow health check stays green: only passive checks notice" if on else "",
    )


@handles(c.Weight)
async def _weight(lab: Lab, control: c.Weight) -> Announcement:
    pool = lab.fleet.pool_of(control.backend)
    pool.set_weight(control.backend, control.weight)
    return Announcement(
        f"{control.backend} weight",
        f"now {control.weight}",
        narration.weight_watch(control.backend, pool.algorithm),
    )


@handles(c.Add)
async def _add(lab: Lab, control: c.Add) -> Announcement:
    pool = lab.fleet.pool(control.pool)
    name = control.name or lab.fleet.new_name(control.pool)
    fleet = [(b.name, b.weight) for b in pool.eligible if not b.backup]
    watch = narration.added_watch(name, pool.algorithm, fleet, control.weight, pool.options)
    await lab.fleet.add(BackendSpec(name, control.weight, control.backup), pool=control.pool)
    lab.metrics.track(name)
    backup = ", backup" if control.backup else ""
    where = "" if control.pool == DEFAULT_POOL else f", pool {control.pool}"
    return Announcement(
        f"{name} added",
        f"weight {control.weight}{backup}{where}",
        watch,
        {"added": name},
    )


@handles(c.Remove)
async def _remove(lab: Lab, control: c.Remove) -> Announcement:
    await lab.fleet.remove(control.backend)
    lab.metrics.forget(control.backend)
    return Announcement(
        f"{control.backend} removed", "", "its share of traffic moves to the others"
    )


# -- failure handling ---------------------------------------------------------------------


@handles(c.Drain)
async def _drain(lab: Lab, control: c.Drain) -> Announcement:
    lab.fleet.pool_of(control.backend).drain(control.backend, control.timeout)
    return Announcement(
        f"{control.backend} draining",
        "no new requests; in-flight ones finish",
        "its in-flight count falls to 0, then it is drained",
    )


@handles(c.Disable)
async def _disable(lab: Lab, control: c.Disable) -> Announcement:
    lab.fleet.pool_of(control.backend).disable(control.backend)
    return Announcement(f"{control.backend} disabled", "maintenance", "no new requests reach it")


@handles(c.Enable)
async def _enable(lab: Lab, control: c.Enable) -> Announcement:
    pool = lab.fleet.pool_of(control.backend)
    pool.enable(control.backend)
    return Announcement(
        f"{control.backend} enabled", "back in rotation", narration.enable_watch(pool.slow_start)
    )


@handles(c.Backup)
async def _backup(lab: Lab, control: c.Backup) -> Announcement:
    backup = not control.off
    lab.fleet.pool_of(control.backend).set_backup(control.backend, backup)
    return Announcement(
        f"{control.backend} {'is a backup' if backup else 'is a primary'}",
        "",
        "it gets traffic only when every primary is unavailable" if backup else "",
    )


@handles(c.MaxConns)
async def _max_conns(lab: Lab, control: c.MaxConns) -> Announcement:
    lab.fleet.pool_of(control.backend).set_max_conns(control.backend, control.limit)
    detail = "unlimited" if control.limit is None else f"at most {control.limit} in flight"
    return Announcement(
        f"{control.backend} max_conns",
        detail,
        "when every backend is full, requests wait in the proxy's queue",
    )


@handles(c.Health)
async def _health(lab: Lab, control: c.Health) -> Announcement:
    if control.preset == "off":
        lab.fleet.set_health(None)
        return Announcement(
            "health checks off", "", "dead backends stay in rotation; only retries help now"
        )
    config = health_config(lab.fleet.health, control)
    lab.fleet.set_health(config)
    return Announcement("health checks", config.describe(), narration.health_watch(config))


def health_config(current: HealthCheckConfig, control: c.Health) -> HealthCheckConfig:
    """The settings ``control`` asks for: its preset (or the current settings),
    scaled, with any setting it names changed."""
    base = current if control.preset in (None, "on") else preset(control.preset)
    if control.scale != 1:
        base = base.scaled(control.scale)
    changes = {
        key: getattr(control, key)
        for key in ("interval", "timeout", "rise", "fall", "path")
        if getattr(control, key) is not None
    }
    if changes:
        name = base.name if base.name.endswith("custom") else f"{base.name} custom"
        base = replace(base, **changes, name=name)
    return base


@handles(c.Passive)
async def _passive(lab: Lab, control: c.Passive) -> Announcement:
    counts = nginx_failures(lab.proxy_config.retry.on_status)
    nginx = (
        NginxPassive(control.max_fails, control.fail_timeout, counts)
        if control.max_fails is not None
        else None
    )
    outlier = (
        OutlierDetection(control.outlier, control.ejection_time, max(300.0, control.ejection_time))
        if control.outlier is not None
        else None
    )
    for _, pool in lab.fleet:
        pool.passive = PassiveHealth(nginx, outlier)
    detail, watch = narration.passive(nginx, outlier)
    return Announcement("passive health", detail, watch)


@handles(c.Retries)
async def _retries(lab: Lab, control: c.Retries) -> Announcement:
    retry = replace(lab.proxy_config.retry, tries=control.tries, on_status=control.on)
    lab.set_proxy_config(replace(lab.proxy_config, retry=retry))
    counts = nginx_failures(control.on)
    for _, pool in lab.fleet:  # what nginx max_fails counts follows proxy_next_upstream
        nginx = pool.passive.nginx
        if nginx is not None and nginx.counts != counts:
            pool.passive = PassiveHealth(replace(nginx, counts=counts), pool.passive.outlier)
    return Announcement("retries", *narration.retries(control.tries, control.on))


@handles(c.Panic)
async def _panic(lab: Lab, control: c.Panic) -> Announcement:
    for _, pool in lab.fleet:
        pool.set_panic_threshold(control.threshold)
    return Announcement(
        "panic threshold", f"{control.threshold:.0%}" if control.threshold else "off"
    )


@handles(c.SlowStart)
async def _slow_start(lab: Lab, control: c.SlowStart) -> Announcement:
    for _, pool in lab.fleet:
        pool.set_slow_start(control.seconds)
    return Announcement("slow start", f"{control.seconds:g} s" if control.seconds else "off")


# -- the balancer ---------------------------------------------------------------------------


@handles(c.Algorithm)
async def _algorithm(lab: Lab, control: c.Algorithm) -> Announcement:
    balancer = lab.fleet.pool(control.pool)
    balancer.set_algorithm(control.algorithm, control.options)
    info = registry.get(balancer.algorithm)
    where = "" if control.pool == DEFAULT_POOL else f" (pool {control.pool})"
    return Announcement(
        f"algorithm {info.name}{where}",
        info.idea,
        narration.algorithm_watch(info.name),
        {"algorithm": info.name, "pool": control.pool},
    )


@handles(c.BalancerPower)
async def _balancer_power(lab: Lab, control: c.BalancerPower) -> Announcement:
    if control.state == "down":
        await lab.balancer_down()
        return Announcement(
            "balancer down",
            "the load balancer stopped listening: every client's connection is refused",
            narration.BALANCER_DOWN_WATCH,
        )
    await lab.balancer_back()
    return Announcement("balancer up", "listening again on the same port", "")


@handles(c.Mode)
async def _mode(lab: Lab, control: c.Mode) -> Announcement:
    mode = "l4" if control.mode == "l4" else "l7"
    if mode != lab.mode:
        await lab.switch_proxy(mode)
    if mode == "l4":
        note = narration.l4_ignored(len(lab.router.rules), lab.affinity.config.describe())
        return Announcement("mode L4", "one pick per TCP connection", L4_LIMITS + note)
    return Announcement("mode L7", "one pick per HTTP request", narration.L7_WATCH)


# -- pools and routes -----------------------------------------------------------------------


@handles(c.PoolAdd)
async def _pool_add(lab: Lab, control: c.PoolAdd) -> Announcement:
    fleet = lab.fleet
    if control.name == DEFAULT_POOL or control.name in fleet.pools:
        raise ConfigError(f"a pool named {control.name!r} already exists")
    taken = set(fleet.names())
    names = [f"{control.name}-{n}" for n in range(1, control.backends + 1)]
    clash = sorted(taken.intersection(names))
    if clash:
        raise ConfigError(f"a backend named {clash[0]!r} already exists")
    fleet.new_pool(control.name, control.algorithm)
    for name in names:
        await fleet.add(BackendSpec(name), pool=control.name)
        lab.metrics.track(name)
    await fleet.checkers[control.name].start()
    lab.publish_pools()
    return Announcement(
        f"pool {control.name} added",
        f"{control.backends} backends, {control.algorithm}",
        "add a route to send requests there",
        {"pool": control.name},
    )


@handles(c.PoolRemove)
async def _pool_remove(lab: Lab, control: c.PoolRemove) -> Announcement:
    name = control.name
    if name == DEFAULT_POOL:
        raise ConfigError("the default pool cannot be removed")
    lab.fleet.pool(name)
    users = [r.describe() for r in lab.router.rules if r.pool == name]
    if users:
        raise ConfigError(f"routes still send requests to {name}: {'; '.join(users)}")
    for backend in [b.name for b in lab.fleet.pools[name].backends]:
        lab.metrics.forget(backend)
    await lab.fleet.drop_pool(name)
    lab.publish_pools()
    return Announcement(f"pool {name} removed")


@handles(c.Routes)
async def _routes(lab: Lab, control: c.Routes) -> Announcement:
    missing = sorted({r.pool for r in control.rules} - set(lab.fleet.pools))
    if missing:
        raise ConfigError(
            f"no pool named {', '.join(missing)} (pools: {', '.join(lab.fleet.pools)})"
        )
    lab.router = Router(control.rules)
    lab.publish_pools()
    detail = "; ".join(r.describe() for r in control.rules) or "none: everything to default"
    watch = (
        "L4 cannot see paths or headers: rules apply once you switch to L7"
        if lab.mode == "l4" and control.rules
        else "each request's pool shows in the request feed"
    )
    return Announcement("routes", detail, watch)


# -- sessions -------------------------------------------------------------------------------


@handles(c.Sessions)
async def _sessions(lab: Lab, control: c.Sessions) -> Announcement:
    mode = narration.SESSION_MODES[control.mode]
    config = AffinityConfig.parse(mode.sticky)
    lab.affinity.set_config(config)
    lab.sessions.mode = "shared" if mode.store == "shared" else "local"
    lab.set_logins(True)
    watch = mode.watch
    if lab.mode == "l4" and config.mode != "none":
        watch = narration.sticky_watch(config.mode, config.name, l4=True)
    return Announcement(f"session mode {control.mode}", mode.detail, watch)


@handles(c.Sticky)
async def _sticky(lab: Lab, control: c.Sticky) -> Announcement:
    config = control.config()
    lab.affinity.set_config(config)
    watch = narration.sticky_watch(config.mode, config.name, lab.mode == "l4")
    return Announcement("sticky sessions", config.describe(), watch)


@handles(c.Store)
async def _store(lab: Lab, control: c.Store) -> Announcement:
    store = open_store(control.store, lab.clock)
    try:
        await store.check()
    except BaseException:
        await store.close()
        raise
    old, lab.session_store = lab.session_store, store
    lab.sessions.store = store
    await old.close()
    return Announcement(
        "session store",
        store.describe(),
        "in shared mode every backend now reads and writes sessions there",
    )


@handles(c.Logins)
async def _logins(lab: Lab, control: c.Logins) -> Announcement:
    lab.set_logins(control.on)
    return Announcement("users " + ("log in and browse" if control.on else "browse anonymously"))


# -- traffic and the lab --------------------------------------------------------------------


@handles(c.Rate)
async def _rate(lab: Lab, control: c.Rate) -> Announcement:
    lab.running_traffic().set_rate(control.rate)
    return Announcement("traffic", f"{control.rate:g} requests/s")


@handles(c.Nat)
async def _nat(lab: Lab, control: c.Nat) -> Announcement:
    lab.running_traffic().set_addressing(NAT_MODES[control.mode])
    return Announcement(f"clients nat {control.mode}", *narration.nat(control.mode))


@handles(c.Mix)
async def _mix(lab: Lab, control: c.Mix) -> Announcement:
    lab.running_traffic().set_mix(MIXES[control.mix])
    return Announcement(f"traffic mix {control.mix}", *narration.mix(control.mix))


@handles(c.Pause)
async def _pause(lab: Lab, control: c.Pause) -> Announcement:
    lab.running_traffic().pause()
    return Announcement("traffic paused", "", "curl the proxy yourself and watch your request")


@handles(c.Resume)
async def _resume(lab: Lab, control: c.Resume) -> Announcement:
    lab.running_traffic().resume()
    return Announcement("traffic resumed")


@handles(c.Burst)
async def _burst(lab: Lab, control: c.Burst) -> Announcement:
    results = await lab.running_traffic().burst(control.count)
    failed = sum(1 for r in results if not r.ok or r.status >= 500)
    return Announcement(
        "burst",
        f"{control.count} requests at once, {failed} failed",
        "watch in-flight counts jump and the p99 climb",
        {"requests": len(results), "failed": failed},
    )


@handles(c.Reset)
async def _reset(lab: Lab, control: c.Reset) -> Announcement:
    await reset(lab)
    return Announcement("reset", "back to the starting fleet and settings")


async def reconfigure(lab: Lab, old: LabConfig) -> None:
    """Move a running lab from ``old`` to ``lab.config``: the session store if it
    changed, then everything ``reset`` puts back, then a clean slate of numbers."""
    config = lab.config
    store_of = {"local": "memory", "shared": "memory"}
    wanted = store_of.get(config.sessions, config.sessions)
    if wanted != store_of.get(old.sessions, old.sessions):
        await _store(lab, c.Store(wanted))
    lab.fleet.config = config
    await reset(lab)
    lab.recent.clear()
    lab.sessions.reset_counts()


async def reset(lab: Lab) -> None:
    """Back to ``lab.config``: the same pools, backends, settings and traffic."""
    config = lab.config
    fleet = lab.fleet
    await lab.balancer_back()
    fleet.restart_names()
    wanted = config.pool_specs()
    lab.router = Router(())
    for name in [n for n in fleet.pools if n not in wanted]:
        await fleet.drop_pool(name)
    for name, (algorithm, options, specs) in wanted.items():
        if name not in fleet.pools:
            fleet.new_pool(name, algorithm, options)
            await fleet.checkers[name].start()
        pool = fleet.pools[name]
        keep = {s.name for s in specs}
        for backend in [b.name for b in pool.backends if b.name not in keep]:
            await fleet.remove(backend)
            lab.metrics.forget(backend)
        for spec in specs:
            if spec.name not in {b.name for b in pool.backends}:
                await fleet.add(spec, pool=name)
                lab.metrics.track(spec.name)
            pool.enable(spec.name)
            pool.set_weight(spec.name, spec.weight)
            pool.set_backup(spec.name, spec.backup)
            limit = spec.max_conns if spec.max_conns is not None else config.max_conns
            pool.set_max_conns(spec.name, limit)
            pool.set_health(spec.name, True, "reset")
        pool.set_algorithm(algorithm, options)
        pool.passive = PassiveHealth(config.passive_nginx, config.passive_outlier)
        pool.set_panic_threshold(config.panic_threshold)
        pool.set_slow_start(config.slow_start)
    fleet.latency = config.latency
    for fake in fleet.fakes.values():
        if fake.state == "killed":
            await fake.revive()
        fake.latency = config.latency
        fake.slow_ms = 0.0
        fake.error_rate = 0.0
        fake.error_ms = DEFAULT_ERROR_MS
        fake.capacity = None
        fake.hang = False
        fake.brownout = False
    for spec in config.all_backends():
        fake = fleet.fakes.get(spec.name)
        if fake is not None:  # the faults the setup starts with
            fake.capacity = spec.capacity
            fake.slow_ms = spec.slow_ms
    fleet.set_health(config.health)
    for checker in fleet.checkers.values():
        checker.reset_states()
    lab.router = Router(config.routes)
    lab.publish_pools()
    lab.set_proxy_config(config.proxy)
    lab.affinity.set_config(config.sticky)
    lab.sessions.mode = "local" if config.sessions == "local" else "shared"
    if lab.traffic is not None:
        lab.set_logins(config.logins)
    if config.mode != lab.mode:
        await lab.switch_proxy(config.mode)
    if lab.traffic is not None:
        lab.traffic.set_rate(config.rate)
        lab.traffic.set_mix(MIXES[config.mix])
        if lab.traffic.per_subnet != NAT_MODES[config.nat]:
            lab.traffic.set_addressing(NAT_MODES[config.nat])
        lab.traffic.resume()
