"""A min-heap whose keys can change: the index behind least_response_time and
least_bandwidth.

Each slot (a backend's position) has one live key. Changing it pushes a new entry
and leaves the old one behind; ``top`` drops stale entries as it meets them, and the
heap is rebuilt when stale entries outnumber live ones 4 to 1. Every operation is
O(log n), so no pick scans the fleet. Equal keys come out in the order they were set,
so re-setting a slot's key after picking it rotates among ties.
"""

from __future__ import annotations

import heapq


class LazyMinHeap:
    """Min-heap over slots ``0..size-1`` with updatable float keys."""

    __slots__ = ("keys", "_heap", "_version", "_seq")

    def __init__(self, keys: list[float]) -> None:
        self.keys = list(keys)
        self._version = [0] * len(keys)
        self._seq = 0
        self._heap: list[tuple[float, int, int, int]] = []
        self._rebuild()

    def _rebuild(self) -> None:
        self._heap = []
        for slot, key in enumerate(self.keys):
            self._heap.append((key, self._seq, slot, self._version[slot]))
            self._seq += 1
        heapq.heapify(self._heap)

    def set(self, slot: int, key: float) -> None:
        """Give ``slot`` a new key (also moves it behind others with an equal key)."""
        self.keys[slot] = key
        version = self._version[slot] + 1
        self._version[slot] = version
        self._seq += 1
        heapq.heappush(self._heap, (key, self._seq, slot, version))
        if len(self._heap) > 4 * len(self.keys) + 64:
            self._heap = [e for e in self._heap if e[3] == self._version[e[2]]]
            heapq.heapify(self._heap)

    def top(self) -> int:
        """The slot with the smallest key (the longest-waiting one on a tie)."""
        heap = self._heap
        version = self._version
        while heap[0][3] != version[heap[0][2]]:
            heapq.heappop(heap)
        return heap[0][2]

    def smallest_allowed(self, allowed: list[bool]) -> int:
        """The smallest-keyed slot whose ``allowed`` flag is true (O(n); retries only)."""
        best = -1
        for slot, key in enumerate(self.keys):
            if allowed[slot] and (best < 0 or key < self.keys[best]):
                best = slot
        return best
