"""lbplay's event loop: uvloop where installed, asyncio's with LBPLAY_LOOP=asyncio."""

from __future__ import annotations

import asyncio

import pytest

from lbplay.net import eventloop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_uvloop_is_the_loop_where_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LBPLAY_LOOP", raising=False)
    assert eventloop.run(_loop_module()) == "uvloop"
    assert eventloop.loop_name().startswith("uvloop ")


def test_lbplay_loop_asyncio_chooses_asyncios_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBPLAY_LOOP", "asyncio")
    assert eventloop.run(_loop_module()) == "asyncio"
    assert eventloop.loop_name() == "asyncio"
