"""Backends: who they are (name, weight, backup) and what they are doing (stats).

A ``Backend`` is owned by the ``Balancer``; pickers read it but never change it. Its
``stats`` are updated only by ``Balancer.begin``/``end``/``transferred`` so that
every least-* algorithm sees the same, real numbers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from lbplay.errors import ConfigError

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}")
MAX_WEIGHT = 1000

#: Smoothing of ``BackendStats.ewma_latency``: each new sample counts for 20%.
EWMA_ALPHA = 0.2
#: Time constant, in seconds, of the decaying bytes/s estimate.
RATE_TAU = 2.0


@dataclass(slots=True)
class BackendStats:
    """Live counters for one backend, updated in O(1) per request."""

    in_flight: int = 0
    completed: int = 0
    failures: int = 0
    #: Exponentially weighted moving average of latency in seconds (None: no data).
    ewma_latency: float | None = None
    #: Bytes moved so far by the requests that are still in flight.
    bytes_in_flight: int = 0
    total_bytes: int = 0
    #: The decaying rate as of ``rate_at``; read it with ``bytes_per_second``.
    rate_base: float = 0.0
    rate_at: float = 0.0

    def observe_latency(self, seconds: float) -> None:
        """Fold one latency sample into the EWMA."""
        old = self.ewma_latency
        self.ewma_latency = seconds if old is None else old + EWMA_ALPHA * (seconds - old)

    def add_bytes(self, n: int, now: float) -> None:
        """Count ``n`` bytes moved at time ``now`` into the decaying rate."""
        self.total_bytes += n
        self.rate_base = self.bytes_per_second(now) + n / RATE_TAU
        self.rate_at = now

    def bytes_per_second(self, now: float) -> float:
        """Recent bytes per second: an exponentially decaying rate (tau = 2 s)."""
        if self.rate_base == 0.0:
            return 0.0
        return self.rate_base * math.exp(-(now - self.rate_at) / RATE_TAU)


@dataclass(eq=False, slots=True)
class Backend:
    """One server behind the balancer.

    ``name`` is its identity: hashing algorithms hash it, so the same names give the
    same ring on every run. ``address`` ("127.0.0.1:8001") is for the network layer.
    """

    name: str
    weight: int = 1
    backup: bool = False
    address: str | None = None
    stats: BackendStats = field(default_factory=BackendStats)

    def __post_init__(self) -> None:
        check_name(self.name)
        check_weight(self.weight)

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, weight={self.weight}{', backup' if self.backup else ''})"


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid backend name, else raise ``ConfigError``."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ConfigError(
            f"bad backend name {name!r}: use 1-32 letters, digits, '-', '_' or '.',"
            " starting with a letter or digit"
        )
    return name


def check_weight(weight: object) -> int:
    """Return ``weight`` if it is an integer from 1 to MAX_WEIGHT, else raise."""
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
        raise ConfigError(f"bad weight {weight!r}: use a whole number from 1 to {MAX_WEIGHT}")
    return weight


def parse_backends(spec: str) -> list[Backend]:
    """Parse ``"a:5,b:1,c"`` into backends (weight 1 when omitted).

    A trailing ``!backup`` marks a backup: ``"a,b,c:2!backup"``.
    """
    backends: list[Backend] = []
    seen: set[str] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise ConfigError(f"bad backend spec {spec!r}: empty item (use NAME[:WEIGHT],...)")
        backup = item.endswith("!backup")
        if backup:
            item = item[: -len("!backup")]
        name, sep, weight_text = item.partition(":")
        weight = 1
        if sep:
            if not weight_text.strip().isdigit():
                raise ConfigError(
                    f"bad weight {weight_text!r} for {name!r}: use a whole number"
                    f" from 1 to {MAX_WEIGHT}"
                )
            weight = check_weight(int(weight_text))
        check_name(name)
        if name in seen:
            raise ConfigError(f"backend {name!r} is listed twice")
        seen.add(name)
        backends.append(Backend(name, weight, backup=backup))
    return backends
