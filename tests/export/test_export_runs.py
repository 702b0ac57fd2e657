"""The strongest check of an export: the real nginx and HAProxy, run with what lbplay
wrote, in front of the Lab's own fake backends, share requests as lbplay's balancer
does for the same setup (weighted round robin 5/3/2 over 1,000 requests: within one
percentage point)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from lbplay.model.export import export
from lbplay.model.wire import FAKE_BACKEND_HEADER
from lbplay.net.lab import Lab
from lbplay.net.views import addresses, live_config
from tests.export.test_export_files import needs
from tests.labs import quiet

REQUESTS = 1000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def shares(url: str) -> dict[str, float]:
    """Who answered each of ``REQUESTS`` requests sent one by one, as shares."""
    counts: Counter[str] = Counter()
    async with aiohttp.ClientSession() as client:
        for _ in range(REQUESTS):
            async with client.get(url + "/") as response:
                await response.read()
                assert response.status == 200
                counts[response.headers[FAKE_BACKEND_HEADER]] += 1
    return {name: count / REQUESTS for name, count in counts.items()}


async def listening(port: int, process: subprocess.Popen[bytes]) -> None:
    """Until something accepts on ``port`` (or the process died, saying why)."""
    async with asyncio.timeout(10):
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"it exited: {process.stderr.read().decode() if process.stderr else ''}"
                )
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            await asyncio.sleep(0.05)  # polling a port: there is no event to await


@contextlib.asynccontextmanager
async def running(command: list[str], port: int) -> AsyncIterator[None]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await listening(port, process)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("target", ["nginx", "haproxy"])
async def test_the_real_balancer_shares_as_lbplay_does(tmp_path: Path, target: str) -> None:
    config = quiet(backends="s1:5,s2:3,s3:2", algorithm="weighted_round_robin", health=None)
    async with Lab(config) as lab:
        expected = await shares(lab.proxy_url)
        port = free_port()
        text = export(
            live_config(lab), target, addresses=addresses(lab), listen=f"127.0.0.1:{port}"
        )
        if target == "nginx":
            conf = tmp_path / "nginx.conf"
            conf.write_text(text)
            (tmp_path / "logs").mkdir()
            log = str(tmp_path / "error.log")
            command = [
                needs("nginx"), "-p", str(tmp_path), "-c", str(conf), "-e", log,
                "-g", f"daemon off; pid {tmp_path}/pid;",
            ]  # fmt: skip
        else:
            cfg = tmp_path / "haproxy.cfg"
            cfg.write_text(text)
            command = [needs("haproxy"), "-f", str(cfg), "-db"]
        async with running(command, port):
            measured = await shares(f"http://127.0.0.1:{port}")
    assert set(measured) == {"s1", "s2", "s3"}
    for name in ("s1", "s2", "s3"):
        assert abs(measured[name] - expected[name]) <= 0.01, (name, measured, expected)
    assert expected == pytest.approx({"s1": 0.5, "s2": 0.3, "s3": 0.2}, abs=0.001)
