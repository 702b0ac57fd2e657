"""A ketama-style hash ring, shared by ring_hash and bounded_load.

Each backend owns ``vnodes × weight`` points at ``hash64("<name>-<i>")``; a key
belongs to the owner of the first point at or after ``hash64(key)``, wrapping
around. Point positions depend only on names and weights, so removing a backend and
adding it back restores exactly the original mapping, and only the keys whose next
point belonged to the removed backend move (about 1/n of them).

Building 160 points for each of 1,000 backends takes a noticeable fraction of a
second, so the last few rings are kept: a backend flapping between up and down
rebuilds nothing.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from functools import lru_cache

from lbplay.core.backends import Backend
from lbplay.core.hashing import hash64

BUCKETS = 1 << 16
SHIFT = 64 - 16


class Ring:
    """Sorted points, each owned by a backend index."""

    __slots__ = ("points", "owners", "size", "_starts")

    def __init__(self, points: list[int], owners: list[int], size: int) -> None:
        self.points = points
        self.owners = owners
        self.size = size
        # Where each of the 65,536 ranges of the top 16 hash bits starts among the
        # points: a lookup then searches a handful of points instead of all of them,
        # so it costs the same for 1,600 points or 160,000.
        self._starts = [bisect_left(points, top << SHIFT) for top in range(BUCKETS + 1)]

    def locate(self, key_hash: int) -> int:
        """Position of the first point at or after ``key_hash`` (wrapping)."""
        top = key_hash >> SHIFT
        starts = self._starts
        position = bisect_left(self.points, key_hash, starts[top], starts[top + 1])
        return 0 if position == len(self.points) else position

    def walk(self, start: int) -> Iterator[int]:
        """Distinct owner indices in clockwise order from position ``start``."""
        seen: set[int] = set()
        owners = self.owners
        count = len(owners)
        for step in range(count):
            owner = owners[(start + step) % count]
            if owner not in seen:
                seen.add(owner)
                yield owner
                if len(seen) == self.size:
                    return


@lru_cache(maxsize=8)
def _build(spec: tuple[tuple[str, int], ...], vnodes: int) -> Ring:
    pairs: list[tuple[int, int]] = []
    for index, (name, weight) in enumerate(spec):
        for i in range(vnodes * weight):
            pairs.append((hash64(f"{name}-{i}"), index))
    pairs.sort()
    return Ring([p for p, _ in pairs], [o for _, o in pairs], len(spec))


def build_ring(backends: Sequence[Backend], vnodes: int) -> Ring:
    """The ring for these backends (cached by names, weights and ``vnodes``)."""
    return _build(tuple((b.name, b.weight) for b in backends), vnodes)
