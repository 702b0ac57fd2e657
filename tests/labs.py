"""What every test of a running lab shares: a quiet lab and a clock that stands still.

* ``quiet(**changes)``: a ``LabConfig`` of three fast (1 ms) fake backends with no
  generated traffic, unless a test asks for more;
* ``FakeClock``: the core's virtual clock, standing at 1000 s until ``advance``;
* the ``quiet_lab`` fixture: a running ``Lab(quiet())``, stopped after the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lbplay.core.explore import VirtualClock
from lbplay.model.config import LabConfig
from lbplay.model.faults import LatencyModel
from lbplay.net.lab import Lab


def quiet(**changes: object) -> LabConfig:
    """Three fake backends answering in 1 ms, no generated traffic (unless changed)."""
    settings: dict[str, object] = {
        "backends": 3,
        "rate": 0.0,
        "latency": LatencyModel.fixed(1.0),
    }
    settings.update(changes)
    return LabConfig(**settings)  # type: ignore[arg-type]


class FakeClock(VirtualClock):
    """A clock that stands still (at 1000 s) until ``advance``."""

    def __init__(self, now: float = 1000.0) -> None:
        super().__init__(now)


@pytest.fixture
async def quiet_lab() -> AsyncIterator[Lab]:
    """A running lab of ``quiet()``."""
    async with Lab(quiet()) as lab:
        yield lab
