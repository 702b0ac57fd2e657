"""What every long-running piece of the network layer shares: ``start``/``stop``
and ``async with``, and how a listening address is written."""

from __future__ import annotations

import asyncio
from typing import Self


class Service:
    """Something started and stopped; ``async with`` does both (stop even on error)."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def host_port(host: str, port: int) -> str:
    """``127.0.0.1:8080`` or ``[::1]:8080``: the form ``Backend.address`` uses."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def cancel_all(tasks: set[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them, including any they start while stopping;
    the set is empty afterwards."""
    while tasks:
        batch = set(tasks)
        for task in batch:
            task.cancel()
        await asyncio.wait(batch)
        tasks -= batch
