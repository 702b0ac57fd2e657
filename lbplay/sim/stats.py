"""Streaming statistics: memory that stays flat however many requests a run makes.

Latencies go into a histogram of logarithmic bins (``BINS_PER_E`` bins per factor of
e, so each bin is 0.5% wide): a percentile is read back to within a quarter of a
percent, the mean is kept exactly as a sum, and ten million requests cost the same
few kilobytes as ten. The engine's hot loop adds to ``counts`` itself (a list index
and an increment per request, no call); this module owns the layout and reads it.

Across replications, a figure's 95% confidence interval is Student's t over the
replications' values (each replication is one independent run, so their values are
independent even though the requests inside a run are not).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Bins per factor of e: bin width exp(1/200) - 1 = 0.5%.
BINS_PER_E = 200
#: The smallest latency told apart from 0 (the model's unit is the mean service time).
LOWEST = 1e-9
#: Latencies from LOWEST to LOWEST * e^(SPAN) have bins of their own; longer ones
#: share the last bin (e^50 mean service times is beyond any run).
SPAN = 50
LOG_LOWEST = math.log(LOWEST)
TOP = SPAN * BINS_PER_E


class LogHistogram:
    """Counts of latencies in logarithmic bins, with their exact sum and maximum."""

    __slots__ = ("counts", "total", "count", "largest")

    def __init__(self) -> None:
        self.counts = [0] * (TOP + 1)
        self.total = 0.0
        self.count = 0
        self.largest = 0.0

    @staticmethod
    def bin_of(value: float) -> int:
        """The bin ``value`` falls in (as the engine computes it inline)."""
        k = int((math.log(value + LOWEST) - LOG_LOWEST) * BINS_PER_E)
        return k if k < TOP else TOP

    @staticmethod
    def value_of(k: int) -> float:
        """The middle of bin ``k`` (geometric): within 0.25% of anything in it."""
        return math.exp(LOG_LOWEST + (k + 0.5) / BINS_PER_E)

    def add(self, value: float) -> None:
        """Count one latency (the engine does this inline; this is for everyone else)."""
        self.counts[self.bin_of(value)] += 1
        self.total += value
        self.count += 1
        if value > self.largest:
            self.largest = value

    def merge(self, other: LogHistogram) -> None:
        """Add ``other``'s counts to these (replications into one distribution)."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.count += other.count
        self.largest = max(self.largest, other.largest)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan

    def quantile(self, q: float) -> float:
        """The smallest bin value with at least ``q`` of the counts at or below it."""
        if not self.count:
            return math.nan
        wanted = max(1, math.ceil(q * self.count))
        seen = 0
        for k, c in enumerate(self.counts):
            seen += c
            if seen >= wanted:
                return min(self.value_of(k), self.largest)
        return self.largest  # pragma: no cover - the counts add up to count

    def cdf(self, points: int = 200, top: float | None = None) -> list[tuple[float, float]]:
        """(latency, share of requests at or below it) at ``points`` latencies evenly
        spaced from 0 to ``top`` (default: the 99.9th percentile), for charts."""
        if not self.count:
            return []
        top = top if top is not None else self.quantile(0.999)
        cumulative: list[tuple[float, float]] = []
        seen = 0
        for k, c in enumerate(self.counts):
            if c:
                seen += c
                cumulative.append((self.value_of(k), seen / self.count))
        found: list[tuple[float, float]] = []
        index = 0
        share = 0.0
        for i in range(points + 1):
            x = top * i / points
            while index < len(cumulative) and cumulative[index][0] <= x:
                share = cumulative[index][1]
                index += 1
            found.append((x, share))
        return found


def queue_tail(counts: Sequence[int]) -> list[float]:
    """From counts of queue lengths seen by arrivals (index = length), the share that
    found at least k requests, for k = 0, 1, ...: the supermarket model's s_k."""
    total = sum(counts)
    if not total:
        return []
    tail: list[float] = []
    remaining = total
    for c in counts:
        tail.append(remaining / total)
        remaining -= c
        if remaining <= 0:
            break
    return tail


#: Student's t, two-sided 95%, by degrees of freedom (beyond 30: the normal's 1.96).
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


@dataclass(frozen=True)
class Estimate:
    """A figure over replications: their mean and the 95% interval's half-width
    (NaN with one replication: one run says nothing of its own spread)."""

    value: float
    half_width: float = math.nan

    @classmethod
    def of(cls, values: Sequence[float]) -> Estimate:
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return cls(math.nan)
        mean = statistics.fmean(finite)
        if len(finite) < 2:
            return cls(mean)
        df = len(finite) - 1
        t = _T95[df - 1] if df <= len(_T95) else 1.96
        return cls(mean, t * statistics.stdev(finite) / math.sqrt(len(finite)))
