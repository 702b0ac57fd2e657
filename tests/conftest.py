"""Shared fixtures (a real redis-server, Labs) and the event loops tests run on."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping

import pytest
from hypothesis import settings

from lbplay.net.eventloop import loop_factory

pytest_plugins = ["tests.redis_server", "tests.labs"]

# CI draws the same examples every run (.ci/run sets HYPOTHESIS_PROFILE=ci): a red CI
# means a change broke something, not that this run's draw found an old bug. Other
# runs keep drawing new examples, which is how such bugs are found.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

#: Test modules whose every test runs on both loops: lbplay runs on uvloop where it is
#: installed and on asyncio's loop elsewhere, and the proxies touch each loop's
#: transports directly.
BOTH_LOOPS = ("test_proxy_tcp", "test_proxy_http_", "test_outbox")


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """asyncio's loop for every async test; uvloop too for the proxies' tests."""
    module = getattr(item, "module", None)
    name = module.__name__.rsplit(".", 1)[-1] if module is not None else ""
    uvloop = loop_factory()
    if uvloop is not None and name.startswith(BOTH_LOOPS):
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop}
    return {"asyncio": asyncio.new_event_loop}
