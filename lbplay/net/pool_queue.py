"""The L7 proxy's queue: requests waiting for a backend below its ``max_conns``.

When every eligible backend of a pool is at its ``max_conns``, a request waits in a
FIFO queue of at most ``max_queue`` requests for a free slot, at most
``queue_timeout`` seconds, then gets a 503 (HAProxy's ``maxconn``, ``maxqueue`` and
``timeout queue``); with the queue full it gets the 503 at once.

There is one queue per pool: capacity freed in one pool wakes that pool's waiters
only. A pool tells its queue through ``Balancer.on_capacity``, which ``attach`` sets.
"""

from __future__ import annotations

import asyncio
from collections import deque

from lbplay.core.balancer import Balancer
from lbplay.core.picker import Pick, PickContext
from lbplay.errors import AllBackendsFull, NoBackendAvailable


class PoolQueues:
    """The requests waiting for room, first come first served, one queue per pool."""

    __slots__ = ("_queues",)

    def __init__(self) -> None:
        # Keyed by id(pool), so that a queue keeps no pool alive.
        self._queues: dict[int, deque[asyncio.Future[None]]] = {}

    @property
    def waiting(self) -> int:
        """Requests waiting, in every pool's queue."""
        return sum(not w.done() for queue in self._queues.values() for w in queue)

    def attach(self, pool: Balancer) -> None:
        """Have ``pool`` wake its first waiter whenever it has room again."""
        queue = self._queues.setdefault(id(pool), deque())
        pool.on_capacity = lambda: _wake(queue)

    @staticmethod
    def detach(pool: Balancer) -> None:
        """Stop ``pool`` from waking anybody (the proxy is stopping)."""
        pool.on_capacity = None

    async def pick(
        self, pool: Balancer, context: PickContext, why: str, *, timeout: float, limit: int
    ) -> Pick:
        """Wait in ``pool``'s queue, then pick; ``NoBackendAvailable`` once ``timeout``
        seconds have passed, or at once when ``limit`` requests are waiting already.

        ``why``: why the request could not be served at once (every backend full).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        queue = self._queues.setdefault(id(pool), deque())
        if sum(not w.done() for w in queue) >= limit:
            raise NoBackendAvailable(f"{why}; the queue is full ({limit} waiting)")
        waiter = loop.create_future()
        queue.append(waiter)
        pick = None
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        await waiter
                except TimeoutError:
                    raise NoBackendAvailable(
                        f"{why}; waited {timeout:g} s in the proxy's queue"
                    ) from None
                try:
                    pick = pool.pick(context)
                    # More room may have appeared than one request fills (a limit was
                    # lifted, a backend came back): let the next waiter try as well.
                    _wake(queue)
                    return pick
                except AllBackendsFull:
                    # The slot went to somebody else: wait again, at the front.
                    waiter = loop.create_future()
                    queue.appendleft(waiter)
        finally:
            if not waiter.done():
                waiter.cancel()  # a cancelled waiter is skipped when waking
            elif pick is None and not waiter.cancelled():
                _wake(queue)  # woken but gave up: the slot is the next one's


def _wake(queue: deque[asyncio.Future[None]]) -> None:
    """Wake the first request still waiting in ``queue``."""
    while queue:
        waiter = queue.popleft()
        if not waiter.done():
            waiter.set_result(None)
            return
