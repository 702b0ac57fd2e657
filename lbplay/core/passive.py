"""Passive health: judging backends by the real requests they fail, not by probes.

Two schools, both here, both off unless configured:

* **nginx** (``max_fails`` / ``fail_timeout``, on by default in nginx with 1 / 10 s):
  ``max_fails`` failures within ``fail_timeout`` seconds make the backend
  unavailable for ``fail_timeout`` seconds; then it gets traffic again. Ignored when
  the pool has a single backend, as nginx does — there is nowhere else to go.
* **Envoy outlier detection** (``consecutive_5xx``, default 5): that many failures in
  a row eject the backend for ``base_ejection_time × times ejected`` (30 s, 60 s,
  90 s, ...), capped at ``max_ejection_time`` (300 s); at most
  ``max_ejection_percent`` of the pool (10%) is ejected at once — but at least one
  backend may always be ejected, as Envoy allows.

What counts as a failure is configurable: a connection that could not be made
(``connect``), a timeout (``timeout``), a reset or invalid answer (``reset``), a 5xx
status (``5xx``). nginx's default (``proxy_next_upstream error timeout``) counts
connect, timeout and reset; Envoy's consecutive_5xx also counts locally originated
errors as 5xx. The proxy's own answers (a 503 because every backend is full, a 413)
never reach this module: they are not the backend's fault.

The module only decides; the Balancer applies its decisions (making a backend
unavailable until a time) and publishes the evidence.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from lbplay.errors import ConfigError

#: Every kind of failure the proxy reports.
FAILURE_KINDS = frozenset({"connect", "timeout", "reset", "5xx"})


#: nginx's default ``proxy_next_upstream error timeout``: what ``max_fails`` counts.
NGINX_DEFAULT = frozenset({"connect", "timeout", "reset"})


def nginx_failures(retried_statuses: Iterable[int]) -> frozenset[str]:
    """What nginx's ``max_fails`` counts: the conditions ``proxy_next_upstream`` names.

    By default (``error timeout``) a connection that fails, breaks or times out; a 5xx
    answer only when retries are on for it (``http_500``, ``http_502``, ...). lbplay
    counts every 5xx once any 5xx status is retried, a simplification it states.
    """
    if any(500 <= status <= 599 for status in retried_statuses):
        return NGINX_DEFAULT | {"5xx"}
    return NGINX_DEFAULT


def _check_kinds(kinds: frozenset[str]) -> None:
    unknown = kinds - FAILURE_KINDS
    if unknown:
        raise ConfigError(
            f"unknown failure kind(s) {', '.join(sorted(unknown))}"
            f" (use {', '.join(sorted(FAILURE_KINDS))})"
        )


@dataclass(frozen=True)
class NginxPassive:
    """nginx's ``max_fails`` within ``fail_timeout``."""

    max_fails: int = 1
    fail_timeout: float = 10.0
    counts: frozenset[str] = NGINX_DEFAULT

    def __post_init__(self) -> None:
        if not 1 <= self.max_fails <= 1000:
            raise ConfigError(f"max_fails must be 1-1000, not {self.max_fails}")
        if not 0 < self.fail_timeout <= 3600:
            raise ConfigError("fail_timeout must be above 0 and at most 3600 s")
        _check_kinds(self.counts)


@dataclass(frozen=True)
class OutlierDetection:
    """Envoy's consecutive-5xx outlier detection."""

    consecutive: int = 5
    base_ejection_time: float = 30.0
    max_ejection_time: float = 300.0
    max_ejection_percent: float = 10.0
    counts: frozenset[str] = frozenset(FAILURE_KINDS)

    def __post_init__(self) -> None:
        if not 1 <= self.consecutive <= 1000:
            raise ConfigError(f"consecutive must be 1-1000, not {self.consecutive}")
        if not 0 < self.base_ejection_time <= self.max_ejection_time <= 86400:
            raise ConfigError("ejection times must satisfy 0 < base <= max <= 86400 s")
        if not 0 <= self.max_ejection_percent <= 100:
            raise ConfigError("max_ejection_percent must be 0-100")
        _check_kinds(self.counts)


@dataclass(frozen=True)
class Verdict:
    """Make ``backend`` unavailable until ``until``, because ``evidence``."""

    backend: str
    until: float
    kind: str
    evidence: str


@dataclass
class _Record:
    failures: deque[tuple[float, str]] = field(default_factory=deque)
    consecutive: int = 0
    consecutive_kinds: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    ejections: int = 0


class PassiveHealth:
    """Watches request outcomes and decides when a backend should sit out."""

    def __init__(
        self, nginx: NginxPassive | None = None, outlier: OutlierDetection | None = None
    ) -> None:
        self.nginx = nginx
        self.outlier = outlier
        self._records: dict[str, _Record] = {}

    @property
    def enabled(self) -> bool:
        return self.nginx is not None or self.outlier is not None

    def forget(self, backend: str) -> None:
        self._records.pop(backend, None)

    def ejections(self, backend: str) -> int:
        """How many times outlier detection ejected ``backend`` so far."""
        record = self._records.get(backend)
        return record.ejections if record else 0

    def observe(
        self,
        backend: str,
        failure: str | None,
        now: float,
        *,
        pool_size: int,
        sitting_out: int,
    ) -> Verdict | None:
        """One request outcome (``failure`` None = success); maybe a verdict.

        ``pool_size`` is the number of backends the rules apply to and
        ``sitting_out`` how many of them are already ejected or unavailable.
        """
        record = self._records.setdefault(backend, _Record())
        if failure is None:
            record.consecutive = 0
            record.consecutive_kinds.clear()
            return None
        verdict = None
        nginx = self.nginx
        if nginx is not None and failure in nginx.counts and pool_size > 1:
            window = record.failures
            window.append((now, failure))
            while window and window[0][0] <= now - nginx.fail_timeout:
                window.popleft()
            if len(window) >= nginx.max_fails:
                kinds = ", ".join(kind for _, kind in window)
                verdict = Verdict(
                    backend,
                    now + nginx.fail_timeout,
                    "unavailable",
                    f"{backend} unavailable for {nginx.fail_timeout:g} s after {len(window)}"
                    f" failure{'s' * (len(window) > 1)} within {nginx.fail_timeout:g} s"
                    f" (max_fails={nginx.max_fails}): {kinds}",
                )
                window.clear()
        outlier = self.outlier
        if outlier is not None and failure in outlier.counts:
            record.consecutive += 1
            record.consecutive_kinds.append(failure)
            if record.consecutive >= outlier.consecutive:
                allowed = max(1, math.floor(pool_size * outlier.max_ejection_percent / 100))
                if sitting_out < allowed:
                    record.ejections += 1
                    seconds = min(
                        outlier.base_ejection_time * record.ejections, outlier.max_ejection_time
                    )
                    kinds = ", ".join(record.consecutive_kinds)
                    count = record.consecutive
                    record.consecutive = 0
                    record.consecutive_kinds.clear()
                    until = now + seconds
                    if verdict is None or until > verdict.until:
                        verdict = Verdict(
                            backend,
                            until,
                            "ejected",
                            f"{backend} ejected for {seconds:g} s (ejection"
                            f" #{record.ejections}) after {count} consecutive failures: {kinds}",
                        )
        return verdict
