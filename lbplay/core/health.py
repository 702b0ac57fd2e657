"""Active health checks: the state machine per backend, and the real systems' presets.

A checker probes each backend every ``interval`` seconds (``path``, answer within
``timeout``, status in ``expect``). ``fall`` consecutive failures take an UP
backend DOWN; ``rise`` consecutive successes bring a DOWN backend back UP. The
counts on the way are part of the state, so a UI can show "UP, failing 2/3" and
"DOWN, recovering 1/2", and every transition carries its evidence: the results that
caused it ("DOWN after 3 consecutive failures: timeout, timeout, connection refused").

Backends start UP, as HAProxy's do when it starts: traffic flows at once and a dead
server is found by its first ``fall`` checks. Detection is not instant — it takes
about ``fall × interval`` (plus a timeout), which is the lesson: with the AWS ALB's
defaults a dead target keeps receiving traffic for about a minute.

Presets (``PRESETS``), with the real systems' defaults:

=============  ========  =======  ====  ====  ==========================================
preset         interval  timeout  rise  fall  notes
=============  ========  =======  ====  ====  ==========================================
playground     1 s       0.5 s    2     3     fast enough to watch
haproxy        2 s       2 s      2     3     ``inter 2s``; timeout = inter by default
aws-alb        30 s      5 s      5     2     healthy / unhealthy threshold counts
nginx-plus     5 s       5 s      1     1     ``passes=1 fails=1``
=============  ========  =======  ====  ====  ==========================================

``preset.scaled(0.1)`` keeps the thresholds and divides the times by ten, so the
ALB's behaviour can be demonstrated in six seconds instead of a minute.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Literal

from lbplay.errors import ConfigError

Status = Literal["UP", "DOWN"]


@dataclass(frozen=True)
class HealthCheckConfig:
    """How a backend is probed and judged."""

    interval: float = 1.0
    timeout: float = 0.5
    rise: int = 2
    fall: int = 3
    path: str = "/health"
    expect: frozenset[int] = frozenset({200})
    name: str = "playground"

    def __post_init__(self) -> None:
        if not 0.01 <= self.interval <= 3600:
            raise ConfigError(f"health check interval must be 0.01-3600 s, not {self.interval:g}")
        if not 0.001 <= self.timeout <= 3600:
            raise ConfigError(f"health check timeout must be 0.001-3600 s, not {self.timeout:g}")
        for label, count in (("rise", self.rise), ("fall", self.fall)):
            if not 1 <= count <= 100:
                raise ConfigError(f"health check {label} must be 1-100, not {count}")
        if not self.path.startswith("/"):
            raise ConfigError(f"health check path must start with '/', not {self.path!r}")
        if not self.expect or any(not 100 <= s <= 599 for s in self.expect):
            raise ConfigError("health check expected statuses must be HTTP statuses (100-599)")

    def scaled(self, factor: float) -> HealthCheckConfig:
        """The same thresholds with every time multiplied by ``factor`` (for demos)."""
        if not 0 < factor <= 100:
            raise ConfigError(f"scale factor must be above 0 and at most 100, not {factor:g}")
        name = self.name if factor == 1 else f"{self.name} ×{factor:g}"
        return replace(
            self, interval=self.interval * factor, timeout=self.timeout * factor, name=name
        )

    @property
    def detection_time(self) -> float:
        """Worst-case seconds from a hang to DOWN: fall intervals plus one timeout."""
        return self.fall * self.interval + self.timeout

    @property
    def refused_time(self) -> float:
        """Worst-case seconds from a crash to DOWN when its port refuses connections
        (a refused probe fails at once): fall intervals."""
        return self.fall * self.interval

    def noticed(self) -> str:
        """``within 3 s if it refuses connections, 3.5 s if it hangs``."""
        return (
            f"within {self.refused_time:.3g} s if it refuses connections,"
            f" {self.detection_time:.3g} s if it hangs"
        )

    def describe(self) -> str:
        return (
            f"{self.name}: every {self.interval:g} s, timeout {self.timeout:g} s,"
            f" rise {self.rise}, fall {self.fall}"
        )


PRESETS: dict[str, HealthCheckConfig] = {
    "playground": HealthCheckConfig(1.0, 0.5, 2, 3, name="playground"),
    "haproxy": HealthCheckConfig(2.0, 2.0, 2, 3, name="haproxy"),
    "aws-alb": HealthCheckConfig(30.0, 5.0, 5, 2, name="aws-alb"),
    "nginx-plus": HealthCheckConfig(5.0, 5.0, 1, 1, name="nginx-plus"),
}


def preset(name: str, scale: float = 1.0) -> HealthCheckConfig:
    """A named preset, optionally with its times scaled (``preset("aws-alb", 0.1)``)."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown health check preset {name!r} (presets: {', '.join(PRESETS)})"
        ) from None
    return base.scaled(scale) if scale != 1 else base


@dataclass(frozen=True)
class Transition:
    """A backend changed status because of these check results."""

    backend: str
    old: Status
    new: Status
    evidence: str


@dataclass
class HealthState:
    """One backend's health: status plus the run of results that may change it."""

    backend: str
    config: HealthCheckConfig
    status: Status = "UP"
    #: Consecutive failures while UP (toward ``fall``).
    failing: int = 0
    #: Consecutive successes while DOWN (toward ``rise``).
    recovering: int = 0
    checks: int = 0
    last_result: str = ""
    last_checked: float | None = None
    _recent: deque[str] = field(default_factory=lambda: deque(maxlen=100))

    def record(self, ok: bool, detail: str, now: float) -> Transition | None:
        """Fold one check result in; return the transition it caused, if any."""
        self.checks += 1
        self.last_result = detail
        self.last_checked = now
        if ok:
            self.failing = 0
            self._recent.clear()
            if self.status == "DOWN":
                self.recovering += 1
                if self.recovering >= self.config.rise:
                    return self._change("UP", f"{self.recovering} consecutive successes")
            return None
        self.recovering = 0
        if self.status == "UP":
            self.failing += 1
            self._recent.append(detail)
            if self.failing >= self.config.fall:
                kinds = ", ".join(list(self._recent)[-self.failing :])
                return self._change(
                    "DOWN", f"{self.failing} consecutive failure{'s' * (self.failing > 1)}: {kinds}"
                )
        return None

    def _change(self, new: Status, why: str) -> Transition:
        old = self.status
        self.status = new
        self.failing = 0
        self.recovering = 0
        self._recent.clear()
        return Transition(self.backend, old, new, f"{self.backend} {new} after {why}")

    @property
    def label(self) -> str:
        """``UP``, ``UP, failing 2/3``, ``DOWN`` or ``DOWN, recovering 1/2``."""
        if self.status == "UP" and self.failing:
            return f"UP, failing {self.failing}/{self.config.fall}"
        if self.status == "DOWN" and self.recovering:
            return f"DOWN, recovering {self.recovering}/{self.config.rise}"
        return self.status

    def reconfigure(self, config: HealthCheckConfig) -> None:
        """New thresholds; counts toward them start over, the status stays."""
        self.config = config
        self.failing = 0
        self.recovering = 0
        self._recent.clear()
