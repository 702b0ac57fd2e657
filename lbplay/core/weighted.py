"""Choosing by weight in O(log n): cumulative weights and a binary search.

nginx walks its peer list subtracting weights until the remainder fits a peer; the
same answer comes from a binary search over the running totals, so weighted random,
IP hash and modulo hashing cost the same with 10 backends or 1,000.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from lbplay.core.backends import Backend


class WeightedIndex:
    """Maps a number in ``[0, total)`` to the backend whose weight span holds it."""

    __slots__ = ("bounds", "total")

    def __init__(self, backends: Sequence[Backend]) -> None:
        self.bounds = list(accumulate(b.weight for b in backends))
        self.total = self.bounds[-1] if self.bounds else 0

    def find(self, point: int | float) -> int:
        """The index whose span ``[bounds[i-1], bounds[i])`` contains ``point``."""
        return bisect_right(self.bounds, point)
