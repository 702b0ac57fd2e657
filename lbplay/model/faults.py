"""How a fake backend misbehaves: its latency model and the limits of every fault knob.

Pure descriptions, shared by the fake backends (which act on them), the lab model
(which names them), lessons and scenarios (which set them up) and the simulator.
A ``LatencyModel`` is fixed, uniform or lognormal (heavy-tailed), in milliseconds.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from typing import Literal, get_args

from lbplay.errors import ConfigError
from lbplay.model.numbers import number

LatencyKind = Literal["fixed", "uniform", "lognormal"]
LATENCY_KINDS: tuple[LatencyKind, ...] = get_args(LatencyKind)

#: Upper bound of any delay: a lognormal tail or a typo must not stall a demo for hours.
MAX_DELAY_MS = 60_000.0
#: sigma 3 already puts p99 at ~1000x the median; beyond that the model says nothing.
MAX_SIGMA = 3.0

_Z99 = statistics.NormalDist().inv_cdf(0.99)


def check_ms(what: str, value: object) -> float:
    """A delay in milliseconds, from 0 to ``MAX_DELAY_MS``."""
    return number(value, what, 0, MAX_DELAY_MS, "milliseconds")


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """How long a backend takes to answer, before any queueing.

    ``ms`` is the fixed latency, the low end of a uniform one or the median of a
    lognormal one; ``high_ms`` is the high end of a uniform one; ``sigma`` is the
    standard deviation of ln(latency) for a lognormal one (1.0 puts p99 at ~10x the
    median). Build one with ``fixed``, ``uniform`` or ``lognormal``.
    """

    kind: LatencyKind = "fixed"
    ms: float = 0.0
    high_ms: float = 0.0
    sigma: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in LATENCY_KINDS:
            raise ConfigError(
                f"bad latency kind {self.kind!r}: use one of {', '.join(LATENCY_KINDS)}"
            )
        check_ms("latency", self.ms)
        check_ms("latency high end", self.high_ms)
        sigma = self.sigma
        if isinstance(sigma, bool) or not isinstance(sigma, int | float):
            raise ConfigError(f"bad sigma {sigma!r}: use a number from 0 to {MAX_SIGMA:g}")
        if self.kind == "uniform" and self.high_ms < self.ms:
            raise ConfigError(
                f"bad uniform latency {self.ms:g}-{self.high_ms:g} ms: the high end must"
                " not be below the low end"
            )
        if self.kind != "uniform" and self.high_ms:
            raise ConfigError(f"high_ms is only for uniform latency, not {self.kind}")
        if self.kind == "lognormal" and not 0 <= sigma <= MAX_SIGMA:
            raise ConfigError(f"bad sigma {sigma!r}: use a number from 0 to {MAX_SIGMA:g}")
        if self.kind != "lognormal" and sigma:
            raise ConfigError(f"sigma is only for lognormal latency, not {self.kind}")

    @classmethod
    def fixed(cls, ms: float) -> LatencyModel:
        """Every request takes ``ms`` milliseconds."""
        return cls("fixed", ms)

    @classmethod
    def uniform(cls, low_ms: float, high_ms: float) -> LatencyModel:
        """Latency drawn evenly between ``low_ms`` and ``high_ms``."""
        return cls("uniform", low_ms, high_ms=high_ms)

    @classmethod
    def lognormal(cls, median_ms: float, sigma: float = 1.0) -> LatencyModel:
        """Heavy-tailed latency: most requests near ``median_ms``, a few far slower."""
        return cls("lognormal", median_ms, sigma=sigma)

    @property
    def p99_ms(self) -> float:
        """The 99th percentile in milliseconds (before clipping at MAX_DELAY_MS)."""
        if self.kind == "uniform":
            return self.ms + 0.99 * (self.high_ms - self.ms)
        if self.kind == "lognormal":
            return self.ms * math.exp(_Z99 * self.sigma)
        return self.ms

    def sample(self, rng: random.Random) -> float:
        """Draw one latency, in seconds, clipped to MAX_DELAY_MS."""
        if self.kind == "uniform":
            ms = rng.uniform(self.ms, self.high_ms)
        elif self.kind == "lognormal":
            ms = self.ms * math.exp(rng.gauss(0.0, self.sigma))
        else:
            ms = self.ms
        return min(ms, MAX_DELAY_MS) / 1000.0

    def __str__(self) -> str:
        if self.kind == "uniform":
            return f"uniform {self.ms:g}-{self.high_ms:g} ms"
        if self.kind == "lognormal":
            return f"lognormal median {self.ms:g} ms, p99 {self.p99_ms:.0f} ms"
        return f"fixed {self.ms:g} ms"
