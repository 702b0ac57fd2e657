"""lbplay's balancing engine: pure, synchronous and deterministic.

No I/O and no asyncio, aiohttp, textual or rich here (a test checks). Time and
randomness are injected, so the proxy, the simulator, lessons and tests replay the
same decisions from the same seed.
"""

from __future__ import annotations

from lbplay.core.backends import Backend, BackendStats, parse_backends
from lbplay.core.balancer import Balancer, Ticket
from lbplay.core.picker import Pick, PickContext, Picker

__all__ = [
    "Backend",
    "BackendStats",
    "Balancer",
    "Pick",
    "PickContext",
    "Picker",
    "Ticket",
    "parse_backends",
]
