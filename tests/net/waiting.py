"""Await events instead of sleeping: a subscriber that resolves futures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from lbplay.core.events import Event


class EventWaiter:
    """Pass ``waiter.publish`` as an event sink, then ``await waiter.wait(predicate)``."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._waiting: list[tuple[Callable[[Event], bool], asyncio.Future[Event]]] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)
        for predicate, future in list(self._waiting):
            if not future.done() and predicate(event):
                future.set_result(event)

    async def wait(self, predicate: Callable[[Event], bool], timeout: float = 5.0) -> Event:
        """The first event (already seen or future) that matches ``predicate``."""
        for event in self.events:
            if predicate(event):
                return event
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiting.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.remove(entry)
