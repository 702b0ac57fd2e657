"""What a lab looks like at one instant: the snapshot a Lab publishes.

Every reader — the dashboard, ``serve``'s table, ``ctl state``, the admin API,
lesson checks, scenario expectations — reads these fields. A backend's standing is
*structured* (process, admin state, active health and its counts, passive verdict,
slow-start share, backup, full, panic) so nobody parses a label back; the words a
learner reads are rendered from the fields in one place, ``model.status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from lbplay.core.events import Event
from lbplay.core.health import HealthCheckConfig
from lbplay.core.metrics import MetricsSnapshot
from lbplay.core.routing import DEFAULT_POOL
from lbplay.model.config import Mode
from lbplay.model.faults import LatencyModel

#: A fake backend's process: serving, killed (a crash: refuses connections) or
#: stopped; "real" for a real server lbplay only balances.
Process = Literal["alive", "killed", "stopped", "real"]
#: The balancer's admin state of a backend (see ``core.balancer``).
Admin = Literal["active", "draining", "drained", "disabled"]
#: What active health checks concluded; None when they are off.
Health = Literal["UP", "DOWN"]
#: A passive-health verdict in force: nginx's "unavailable", Envoy's "ejected".
Passive = Literal["", "unavailable", "ejected"]
TrafficMode = Literal["open", "closed"]


@dataclass(frozen=True)
class BackendView:
    """One backend as every reader sees it."""

    name: str
    #: The pool it belongs to (content routing); "default" for the main fleet.
    pool: str = DEFAULT_POOL
    address: str | None = None
    weight: int = 1
    backup: bool = False
    process: Process = "alive"
    admin: Admin = "active"
    #: Active health checks' verdict (None: checks off) and the counts toward the
    #: next change: ``failing`` of ``fall`` while UP, ``recovering`` of ``rise`` while DOWN.
    health: Health | None = "UP"
    failing: int = 0
    recovering: int = 0
    fall: int = 3
    rise: int = 2
    #: The last probe's result ("200", "timeout", "connection refused").
    last_check: str = ""
    passive: Passive = ""
    #: Until when (Lab clock) the passive verdict lasts.
    passive_until: float = 0.0
    #: Whether the balancer may send it new requests now (eligible for picks).
    eligible: bool = True
    #: Healthy, active and not sitting out a passive verdict.
    available: bool = True
    #: Share during slow start, 0.1..1.0 (1.0 when not ramping).
    slow_start: float = 1.0
    max_conns: int | None = None
    #: At ``max_conns``: picks pass it over, requests may queue.
    full: bool = False
    #: Eligible only because its pool is in Envoy panic mode (it is not healthy).
    panic: bool = False
    in_flight: int = 0
    completed: int = 0
    failures: int = 0
    ewma_latency: float | None = None
    #: Sessions lost on this backend (requests that reached it without their session).
    session_losses: int = 0
    #: A fake backend's knobs (None for a real server).
    latency: LatencyModel | None = None
    slow_ms: float = 0.0
    error_rate: float = 0.0
    #: How long its failing requests take, in milliseconds.
    error_ms: float = 1.0
    capacity: int | None = None
    hang: bool = False
    brownout: bool = False

    @property
    def killed(self) -> bool:
        return self.process == "killed"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackendView:
        """A view from its JSON form (the admin API's ``/state``); unknown keys are
        ignored, so an older client reads a newer lab."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        latency = values.get("latency")
        if isinstance(latency, Mapping):
            values["latency"] = LatencyModel(**latency)
        return cls(**values)

    @property
    def healthy(self) -> bool:
        """Not DOWN by active checks (True when checks are off)."""
        return self.health != "DOWN"


@dataclass(frozen=True)
class PoolView:
    """One pool: its algorithm and whether it balances in panic."""

    name: str
    algorithm: str
    options: Mapping[str, Any] = field(default_factory=dict)
    panic: bool = False


@dataclass(frozen=True, slots=True)
class TrafficStats:
    """The traffic generator's settings and client-side counters, at one instant."""

    mode: TrafficMode
    rate: float
    users: int
    think_time: float
    paused: bool
    running: bool
    clients: int
    #: Requests started (open loop, closed loop and bursts).
    sent: int
    #: Requests that produced a result, successful or not.
    completed: int
    in_flight: int
    #: Open-loop arrivals not sent because ``max_outstanding`` requests were in flight.
    dropped: int
    bytes: int
    #: Results per status class, keyed by ``STATUS_CLASSES`` (all present); requests
    #: that failed midway count as "failed".
    status: Mapping[str, int]
    #: Failed requests per ``TrafficResult.error``.
    errors: Mapping[str, int]
    #: Why the clients do not have distinct addresses, or "".
    warning: str = ""


@dataclass(frozen=True)
class LabSnapshot:
    """Everything a UI draws, as plain data, at one instant."""

    at: float
    mode: Mode
    #: The default pool's algorithm and options.
    algorithm: str
    options: Mapping[str, Any]
    proxy_url: str
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
    #: Envoy panic mode in the default pool: balancing across unhealthy backends too.
    panic: bool = False
    #: The active health check settings (every pool shares them); None when off.
    health: HealthCheckConfig | None = None
    #: Every pool, "default" first.
    pools: Mapping[str, PoolView] = field(default_factory=dict)
    #: Routing rules in order, as text ("path=/api->api").
    routes: tuple[str, ...] = ()
    #: Session affinity: "none", "cookie", "ip", "ip/24", "header:X-User", ...
    sticky: str = "none"
    #: The classic set-up in use (``model.narration.SESSION_MODES``), or its two parts
    #: in words ("ip + shared store").
    session_mode: str = "none"
    #: Where sessions live: "local" (each backend's memory), "shared" or a Redis URL.
    session_store: str = "local"
    #: The same, in words: "each backend's memory", "redis at 127.0.0.1:6379/0".
    session_store_text: str = ""
    #: Sessions lost so far (a request reached a backend that did not know its session).
    session_losses: int = 0
    #: Whether generated users log in.
    logins: bool = False
    #: False while the load balancer itself is down ("balancer down").
    balancer_up: bool = True

    def backend(self, name: str) -> BackendView | None:
        """The view of backend ``name``, if it is in the lab."""
        return next((b for b in self.backends if b.name == name), None)

    @property
    def health_name(self) -> str:
        """The health-check preset's name ("aws-alb ×0.1"), or "off"."""
        return self.health.name if self.health is not None else "off"
