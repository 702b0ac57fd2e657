"""The Balancer: the one stateful owner of backends, their states and stats.

It decides, once, which backends are *eligible* and hands only those to the current
picker, rebuilding it when that set changes (grpc-go's balancer/picker split). The
rules, in the order they apply:

1. **Admin state** — ``active`` backends take new requests; ``draining`` ones finish
   what they have (and serve requests pinned to them by a session) and become
   ``drained`` when nothing is in flight or at the drain deadline (the ALB's
   deregistration delay); ``disabled`` ones (maintenance) take nothing.
2. **Health** — active checks (``set_health``) and passive verdicts (nginx
   ``max_fails``, Envoy outlier ejection: see ``core.passive``) take a backend out
   until it is healthy again or its sentence is served.
3. **Backups** (nginx ``backup``) — used only when no primary is available.
4. **Panic** (Envoy) — when fewer than ``panic_threshold`` of the primaries are
   healthy, balance across all of them, healthy or not: a few errors beat
   overloading the survivors. With none healthy and no backup the balancer fails
   open the same way (as the AWS ALB does). 0 turns panic off: then 503.
5. **Slow start** — a backend that comes back (not at start-up) has its effective
   weight ramped linearly from 10% to 100% over ``slow_start`` seconds (HAProxy
   ``slowstart``, Envoy slow start, the ALB's slow start duration). It works with
   every algorithm: a pick of the ramping backend is accepted with probability f (the
   current fraction) and otherwise passed on to the algorithm's next choice. For
   algorithms that pick by weight alone (round robin, random) that is the share a
   weight of f × its weight would get — with two equal backends, f / (1 + f) of the
   traffic. Algorithms that count load offer the ramping backend more often (it has
   the fewest in flight), so there it gets about f of *all* picks until it catches
   up: still a ramp from 10%, but of the traffic, not of its weight.
6. **Connection limits** — a backend with ``max_conns`` requests in flight is full;
   picks avoid it, and when every eligible backend is full ``pick`` raises
   ``AllBackendsFull`` so the proxy can queue the request (HAProxy ``maxconn``).

It does the begin/end accounting of every request, so least-* algorithms see real
in-flight counts and latencies, and passes ``avoid`` through for retries. State
changes are published as events with their evidence. Time-based changes (a passive
sentence served, a drain deadline, the end of a ramp) happen in ``tick()``, which
``pick`` also runs when one is due.

Nothing here does I/O or reads the wall clock except through the injected ``clock``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lbplay.core import registry
from lbplay.core.backends import Backend, check_weight
from lbplay.core.events import BackendStateChanged, Event, Notice
from lbplay.core.passive import PassiveHealth, Verdict
from lbplay.core.picker import NO_CONTEXT, Pick, PickContext, Picker, PickerEnv
from lbplay.errors import AllBackendsFull, ConfigError, NoBackendAvailable, UnknownBackend

AdminState = Literal["active", "draining", "drained", "disabled"]
#: Share a backend gets when its slow start begins (Envoy's minimum weight percent).
SLOW_START_FLOOR = 0.1


class Ticket:
    """One request in flight: returned by ``begin``, closed by ``end``."""

    __slots__ = ("pick", "backend", "started", "nbytes", "done")

    def __init__(self, pick: Pick, started: float) -> None:
        self.pick = pick
        self.backend = pick.backend
        self.started = started
        self.nbytes = 0
        self.done = False


@dataclass
class _State:
    """What the Balancer knows about one backend besides its stats."""

    admin: AdminState = "active"
    healthy: bool = True
    #: Passive health: out until this time ("unavailable" or "ejected").
    out_until: float = 0.0
    out_kind: str = ""
    drain_deadline: float | None = None
    drain_started: float = 0.0
    #: When a slow start began (None: not ramping).
    ramp_from: float | None = None
    max_conns: int | None = None


@dataclass(frozen=True)
class BackendStatus:
    """One backend's standing, as a UI shows it."""

    name: str
    admin: AdminState
    healthy: bool
    #: "unavailable" (nginx) or "ejected" (Envoy) while a passive verdict lasts.
    passive: str
    passive_until: float
    eligible: bool
    backup: bool
    #: Share during slow start, 0.1..1.0 (1.0 when not ramping).
    slow_start: float
    max_conns: int | None
    full: bool
    in_flight: int
    drain_deadline: float | None

    @property
    def label(self) -> str:
        """``draining``, ``ejected``, ``slow start 40%``, ``backup``... or ``up``."""
        if self.admin != "active":
            return self.admin
        if self.passive:
            return self.passive
        if not self.healthy:
            return "down"
        if self.slow_start < 1.0:
            return f"slow start {self.slow_start:.0%}"
        if self.full:
            return "full"
        if self.backup:
            return "backup (in use)" if self.eligible else "backup"
        return "up"


class Balancer:
    """Owns the fleet and runs one algorithm over its eligible part."""

    def __init__(
        self,
        backends: Iterable[Backend] = (),
        algorithm: str = "round_robin",
        *,
        options: Mapping[str, Any] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        events: Callable[[Event], None] | None = None,
        passive: PassiveHealth | None = None,
        panic_threshold: float = 0.5,
        slow_start: float = 0.0,
        drain_timeout: float = 300.0,
    ) -> None:
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock
        self.publish = events or (lambda event: None)
        self.passive = passive or PassiveHealth()
        self.panic_threshold = _check_panic(panic_threshold)
        self.slow_start = _check_seconds("slow start", slow_start, 0.0)
        self.drain_timeout = _check_seconds("drain timeout", drain_timeout, 0.0)
        self._backends: dict[str, Backend] = {}
        self._states: dict[str, _State] = {}
        for backend in backends:
            self._insert(backend)
        self.algorithm = registry.get(algorithm).name
        self.options: dict[str, Any] = dict(options or {})
        self._picker: Picker | None = None
        self._tracks = False
        self.eligible: list[Backend] = []
        self._eligible_names: frozenset[str] = frozenset()
        self.panic = False
        self._full: set[str] = set()
        self._ramping: dict[str, float] = {}
        self._next_due = math.inf
        #: Called when a full backend frees a slot (the proxy's queue listens).
        self.on_capacity: Callable[[], None] | None = None
        self._rebuild(new_picker=True)

    # -- the fleet ---------------------------------------------------------------

    @property
    def backends(self) -> list[Backend]:
        """Every backend, eligible or not, in the order they were added."""
        return list(self._backends.values())

    def get(self, name: str) -> Backend:
        """The backend called ``name``; ``UnknownBackend`` if there is none."""
        try:
            return self._backends[name]
        except KeyError:
            known = ", ".join(self._backends) or "none"
            raise UnknownBackend(f"no backend named {name!r} (backends: {known})") from None

    def _insert(self, backend: Backend) -> None:
        if backend.name in self._backends:
            raise ConfigError(f"a backend named {backend.name!r} already exists")
        self._backends[backend.name] = backend
        self._states[backend.name] = _State()

    def add(self, backend: Backend) -> None:
        """Add a backend (available at once) and rebuild the picker."""
        self._insert(backend)
        self._rebuild()

    def remove(self, name: str) -> Backend:
        """Remove a backend; requests in flight to it may still ``end``."""
        backend = self.get(name)
        del self._backends[name]
        del self._states[name]
        self._full.discard(name)
        self._ramping.pop(name, None)
        self.passive.forget(name)
        self._rebuild()
        return backend

    def set_weight(self, name: str, weight: int) -> None:
        """Change a backend's weight (1..1000)."""
        self.get(name).weight = check_weight(weight)
        self._rebuild()

    def set_backup(self, name: str, backup: bool) -> None:
        """Mark a backend as a backup (used only when no primary is available)."""
        self.get(name).backup = backup
        self._rebuild()

    def set_max_conns(self, name: str, limit: int | None) -> None:
        """At most ``limit`` requests in flight to ``name`` (None: unlimited)."""
        if limit is not None and (isinstance(limit, bool) or not 1 <= limit <= 100_000):
            raise ConfigError(f"max_conns must be from 1 to 100000 (or none), not {limit!r}")
        backend = self.get(name)
        self._states[name].max_conns = limit
        self._update_full(backend)

    # -- health ------------------------------------------------------------------

    def set_health(self, name: str, healthy: bool, evidence: str = "") -> None:
        """What the active health checker concluded (with the results that made it)."""
        self.get(name)
        state = self._states[name]
        if state.healthy == healthy:
            return
        state.healthy = healthy
        self._publish_state(
            name, "DOWN" if healthy else "UP", "UP" if healthy else "DOWN", evidence
        )
        if healthy:
            self._start_ramp(name)
        self._rebuild()

    def set_available(self, name: str, available: bool) -> None:
        """Mark a backend healthy or not by hand (tests, lessons)."""
        self.set_health(name, available, "set by hand")

    def is_available(self, name: str) -> bool:
        """Healthy, active and not sitting out a passive verdict."""
        self.get(name)
        state = self._states[name]
        return state.admin == "active" and state.healthy and state.out_until <= self.clock()

    def _start_ramp(self, name: str) -> None:
        if self.slow_start > 0:
            self._states[name].ramp_from = self.clock()
            self._ramping[name] = self.clock() + self.slow_start
            self._next_due = min(self._next_due, self._ramping[name])

    # -- admin states --------------------------------------------------------------

    def drain(self, name: str, timeout: float | None = None) -> None:
        """Stop new requests to ``name``; it is ``drained`` once idle or at the deadline."""
        backend = self.get(name)
        state = self._states[name]
        if state.admin != "active":
            raise ConfigError(f"{name} is {state.admin}; only an active backend can drain")
        limit = self.drain_timeout if timeout is None else _check_seconds("drain", timeout, 0.0)
        now = self.clock()
        state.admin = "draining"
        state.drain_started = now
        state.drain_deadline = now + limit
        self._next_due = min(self._next_due, state.drain_deadline)
        self._publish_state(
            name,
            "active",
            "draining",
            f"{name} draining: no new requests; {backend.stats.in_flight} in flight may"
            f" finish (deadline {limit:g} s)",
        )
        self._rebuild()
        self._check_drained(name)

    def disable(self, name: str) -> None:
        """Maintenance: take ``name`` out of rotation at once (in-flight requests finish)."""
        self.get(name)
        state = self._states[name]
        if state.admin == "disabled":
            return
        old = state.admin
        state.admin = "disabled"
        state.drain_deadline = None
        self._publish_state(name, old, "disabled", f"{name} disabled for maintenance")
        self._rebuild()

    def enable(self, name: str) -> None:
        """Back into rotation (with slow start, if configured)."""
        self.get(name)
        state = self._states[name]
        if state.admin == "active":
            return
        old = state.admin
        state.admin = "active"
        state.drain_deadline = None
        self._publish_state(name, old, "active", f"{name} enabled")
        self._start_ramp(name)
        self._rebuild()

    def _check_drained(self, name: str, *, deadline: bool = False) -> None:
        state = self._states.get(name)
        if state is None or state.admin != "draining":
            return
        in_flight = self._backends[name].stats.in_flight
        if in_flight and not deadline:
            return
        took = self.clock() - state.drain_started
        state.admin = "drained"
        state.drain_deadline = None
        why = (
            f"deadline reached after {took:.1f} s with {in_flight} still in flight"
            if in_flight
            else f"nothing left in flight after {took:.1f} s"
        )
        self._publish_state(name, "draining", "drained", f"{name} drained: {why}")

    # -- the algorithm -----------------------------------------------------------

    def set_algorithm(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        """Switch algorithm (options are checked before anything changes)."""
        info = registry.get(name)
        info.resolve_options(options or {})
        old = (self.algorithm, self.options)
        self.algorithm, self.options = info.name, dict(options or {})
        try:
            self._rebuild(new_picker=True)
        except ConfigError:
            self.algorithm, self.options = old
            self._rebuild(new_picker=True)
            raise

    def set_panic_threshold(self, threshold: float) -> None:
        self.panic_threshold = _check_panic(threshold)
        self._rebuild()

    def set_slow_start(self, seconds: float) -> None:
        self.slow_start = _check_seconds("slow start", seconds, 0.0)
        if not seconds:
            self._ramping.clear()
            for state in self._states.values():
                state.ramp_from = None

    def _rebuild(self, new_picker: bool = False) -> None:
        now = self.clock()
        usable = []
        healthy = []
        for backend in self._backends.values():
            state = self._states[backend.name]
            if state.admin != "active":
                continue
            usable.append(backend)
            if state.healthy and state.out_until <= now:
                healthy.append(backend)
        primaries = [b for b in usable if not b.backup]
        healthy_primaries = [b for b in healthy if not b.backup]
        panic = False
        threshold = self.panic_threshold
        if healthy_primaries:
            if threshold > 0 and len(healthy_primaries) < threshold * len(primaries):
                eligible, panic = primaries, True
            else:
                eligible = healthy_primaries
        elif any(b.backup for b in healthy):
            eligible = [b for b in healthy if b.backup]
        elif threshold > 0 and primaries:
            eligible, panic = primaries, True
        else:
            eligible = []
        if panic != self.panic:
            self.panic = panic
            share = f"{len(healthy_primaries)} of {len(primaries)} primaries healthy"
            self.publish(
                Notice(
                    at=now,
                    message=(
                        f"panic mode ON: {share} (below {threshold:.0%}): balancing across"
                        " all of them, healthy or not"
                        if panic
                        else f"panic mode off: {share}"
                    ),
                    level="warning" if panic else "info",
                )
            )
        self.eligible = eligible
        self._eligible_names = frozenset(b.name for b in eligible)
        if not eligible:
            self._picker = None if new_picker else self._picker
            self._tracks = False
            return
        if new_picker or self._picker is None:
            env = PickerEnv(self.rng, self.clock, self.options)
            self._picker = registry.create(self.algorithm, eligible, env)
        else:
            self._picker.update(eligible)
        self._tracks = self._picker.tracks_load
        if self.on_capacity is not None:
            self.on_capacity()  # the eligible set changed: queued requests may fit now

    # -- time ----------------------------------------------------------------------

    def tick(self) -> None:
        """Apply what time has brought: sentences served, drain deadlines, ramps done."""
        now = self.clock()
        if now < self._next_due:
            return
        changed = False
        due = math.inf
        for name, state in self._states.items():
            if state.out_until:
                if state.out_until <= now:
                    kind = state.out_kind
                    state.out_until, state.out_kind = 0.0, ""
                    changed = True
                    self._publish_state(name, kind, "up", f"{name} back after its {kind} period")
                    self._start_ramp(name)
                else:
                    due = min(due, state.out_until)
            if state.drain_deadline is not None:
                if state.drain_deadline <= now:
                    self._check_drained(name, deadline=True)
                    changed = True
                else:
                    due = min(due, state.drain_deadline)
        for name, end in list(self._ramping.items()):
            if end <= now:
                del self._ramping[name]
                self._states[name].ramp_from = None
            else:
                due = min(due, end)
        self._next_due = due
        if changed:
            self._rebuild()

    # -- requests ----------------------------------------------------------------

    def pick(self, ctx: PickContext = NO_CONTEXT) -> Pick:
        """Choose a backend for one request.

        Raises ``NoBackendAvailable`` when nothing is eligible and ``AllBackendsFull``
        when every eligible backend is at its connection limit.
        """
        due = self._next_due
        if due != math.inf and due <= self.clock():
            self.tick()
        picker = self._picker
        if not self.eligible or picker is None:
            raise NoBackendAvailable(self._why_none())
        if not self._full and not self._ramping:
            return picker.pick(ctx)
        return self._pick_limited(picker, ctx)

    def _pick_limited(self, picker: Picker, ctx: PickContext) -> Pick:
        """The slow path: avoid full backends, thin out ramping ones."""
        avoid = ctx.avoid | self._full if self._full else ctx.avoid
        context = PickContext(ctx.client_ip, ctx.hash_key, avoid) if avoid != ctx.avoid else ctx
        pick = picker.pick(context)
        name = pick.backend.name
        if name in self._full:
            raise AllBackendsFull(
                f"every eligible backend is at its connection limit ({len(self._full)} full)"
            )
        share = self.ramp_share(name)
        if share < 1.0 and self.rng.random() >= share:
            again = picker.pick(PickContext(ctx.client_ip, ctx.hash_key, avoid | {name}))
            if again.backend.name != name and again.backend.name not in self._full:
                return Pick(
                    again.backend,
                    _passed_over,
                    (again.reason, name, share),
                )
        return pick

    def ramp_share(self, name: str) -> float:
        """``name``'s slow-start share now: 0.1 rising linearly to 1.0."""
        state = self._states.get(name)
        if state is None or state.ramp_from is None or self.slow_start <= 0:
            return 1.0
        progress = (self.clock() - state.ramp_from) / self.slow_start
        return min(1.0, SLOW_START_FLOOR + (1.0 - SLOW_START_FLOOR) * max(0.0, progress))

    def pick_pinned(self, name: str, reason: str) -> Pick | None:
        """A pick of ``name`` for a request pinned to it by a session, if it may serve:
        active or draining (HAProxy keeps sticky traffic on a draining server), healthy
        and not full. None when the pin must be broken."""
        backend = self._backends.get(name)
        if backend is None:
            return None
        state = self._states[name]
        if state.admin not in ("active", "draining") or name in self._full:
            return None
        if not (state.healthy and state.out_until <= self.clock()) and not (
            self.panic and name in self._eligible_names
        ):
            return None
        return Pick(backend, reason)

    def _why_none(self) -> str:
        if not self._backends:
            return "no backends are configured"
        parts = []
        for name, state in self._states.items():
            if state.admin != "active":
                parts.append(f"{name} {state.admin}")
            elif state.out_kind:
                parts.append(f"{name} {state.out_kind}")
            elif not state.healthy:
                parts.append(f"{name} down")
        return "no backend is available (" + ", ".join(parts) + ")"

    def begin(self, pick: Pick) -> Ticket:
        """Count a request as in flight on ``pick.backend``."""
        backend = pick.backend
        backend.stats.in_flight += 1
        if self._tracks and self._picker is not None:
            self._picker.on_begin(backend)
        limit = self._states[backend.name].max_conns if backend.name in self._states else None
        if limit is not None and backend.stats.in_flight >= limit:
            self._full.add(backend.name)
        return Ticket(pick, self.clock())

    def transferred(self, ticket: Ticket, n: int) -> None:
        """Count ``n`` bytes moved by the request (call as chunks stream)."""
        if ticket.done or n <= 0:
            return
        ticket.nbytes += n
        stats = ticket.backend.stats
        stats.bytes_in_flight += n
        stats.add_bytes(n, self.clock())
        if self._tracks and self._picker is not None:
            self._picker.on_bytes(ticket.backend, n)

    def end(
        self,
        ticket: Ticket,
        *,
        ok: bool = True,
        latency: float | None = None,
        nbytes: int = 0,
        failure: str | None = None,
    ) -> None:
        """Close a request: outcome, latency (measured if not given) and bytes.

        ``failure`` names what went wrong on the backend's side ("connect",
        "timeout", "reset", "5xx") for passive health; leave it None for the proxy's
        own refusals. Ending a ticket twice is a no-op, so error paths may call it
        freely.
        """
        if ticket.done:
            return
        if nbytes:
            self.transferred(ticket, nbytes)
        ticket.done = True
        backend = ticket.backend
        stats = backend.stats
        stats.in_flight -= 1
        stats.completed += 1
        stats.bytes_in_flight -= ticket.nbytes
        if not ok:
            stats.failures += 1
        seconds = self.clock() - ticket.started if latency is None else latency
        stats.observe_latency(seconds)
        if self._tracks and self._picker is not None:
            self._picker.on_end(backend, seconds, ok)
        name = backend.name
        if name in self._full:
            self._update_full(backend)
        if self.passive.enabled and name in self._states:
            self._judge(name, failure)
        state = self._states.get(name)
        if state is not None and state.admin == "draining" and not stats.in_flight:
            self._check_drained(name)

    def _update_full(self, backend: Backend) -> None:
        limit = self._states[backend.name].max_conns
        if limit is not None and backend.stats.in_flight >= limit:
            self._full.add(backend.name)
        elif backend.name in self._full:
            self._full.discard(backend.name)
            if self.on_capacity is not None:
                self.on_capacity()

    def _judge(self, name: str, failure: str | None) -> None:
        state = self._states[name]
        if state.out_until > self.clock():
            return  # already sitting out; late results of old requests change nothing
        pool = [n for n, s in self._states.items() if s.admin == "active"]
        sitting_out = sum(1 for n in pool if self._states[n].out_until > self.clock())
        verdict = self.passive.observe(
            name, failure, self.clock(), pool_size=len(pool), sitting_out=sitting_out
        )
        if verdict is not None:
            self._sentence(verdict)

    def _sentence(self, verdict: Verdict) -> None:
        state = self._states[verdict.backend]
        state.out_until = verdict.until
        state.out_kind = verdict.kind
        state.ramp_from = None
        self._ramping.pop(verdict.backend, None)
        self._next_due = min(self._next_due, verdict.until)
        self._publish_state(verdict.backend, "up", verdict.kind, verdict.evidence)
        self._rebuild()

    def _publish_state(self, name: str, old: str, new: str, evidence: str) -> None:
        self.publish(
            BackendStateChanged(at=self.clock(), backend=name, old=old, new=new, evidence=evidence)
        )

    # -- reading -----------------------------------------------------------------

    def status(self, name: str) -> BackendStatus:
        """Where ``name`` stands, for display."""
        backend = self.get(name)
        state = self._states[name]
        now = self.clock()
        out = state.out_until > now
        return BackendStatus(
            name=name,
            admin=state.admin,
            healthy=state.healthy,
            passive=state.out_kind if out else "",
            passive_until=state.out_until if out else 0.0,
            eligible=name in self._eligible_names,
            backup=backend.backup,
            slow_start=self.ramp_share(name),
            max_conns=state.max_conns,
            full=name in self._full,
            in_flight=backend.stats.in_flight,
            drain_deadline=state.drain_deadline,
        )


def _passed_over(reason: str, name: str, share: float) -> str:
    return f"{reason} (slow start: {name} at {share:.0%} of its share was passed over)"


def _check_panic(threshold: float) -> float:
    if isinstance(threshold, bool) or not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"panic threshold must be from 0 to 1 (0 = off), not {threshold!r}")
    return float(threshold)


def _check_seconds(what: str, value: float, low: float) -> float:
    if isinstance(value, bool) or not low <= value <= 86_400:
        raise ConfigError(f"{what} must be from {low:g} to 86400 seconds, not {value!r}")
    return float(value)
