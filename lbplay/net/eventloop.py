"""The event loop lbplay runs on: uvloop where it is installed, asyncio's own elsewhere.

uvloop (libuv under asyncio's API) is a dependency on Linux and macOS; on Windows, or
with ``LBPLAY_LOOP=asyncio`` in the environment, lbplay uses asyncio's loop. Every
command that runs a Lab, a proxy or the dashboard goes through ``run`` so they all
agree, and ``lbplay --version`` says which loop that is.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

_T = TypeVar("_T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes lbplay's loop: uvloop's ``new_event_loop``, or None for asyncio's."""
    if os.environ.get("LBPLAY_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    """ "uvloop X.Y.Z" or "asyncio": the loop ``run`` uses."""
    if loop_factory() is None:
        return "asyncio"
    import uvloop

    return f"uvloop {uvloop.__version__}"


def run(main: Coroutine[Any, Any, _T]) -> _T:
    """Run ``main`` to completion on lbplay's loop (as ``asyncio.run`` does)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
