"""Active health checks over the network: probe every backend's ``/health``.

Every ``interval`` seconds each backend gets one ``GET <path>`` on a fresh
connection (as HAProxy's checks do, so a dead server cannot hide behind a pooled
connection), with ``timeout`` to answer. Each result — "200", "http 500",
"timeout", "connection refused", "reset" — goes into that backend's
``core.health.HealthState``; when the state machine says UP or DOWN, the checker
tells the Balancer (``set_health``), which publishes the transition with its
evidence: ``s2 DOWN after 3 consecutive failures: timeout, timeout, connection
refused``.

Backends are probed independently and concurrently, and each is probed again
``interval`` after its previous probe *started*, so a backend that times out does not
delay the others. Changing the configuration (a preset, a scaled preset) applies at
the next probe; counts toward rise/fall start over, as a reload of HAProxy would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import aiohttp

from lbplay.core.balancer import Balancer
from lbplay.core.health import HealthCheckConfig, HealthState
from lbplay.errors import UnknownBackend

ProbeResult = tuple[bool, str]


class HealthChecker:
    """Probes the balancer's backends and feeds the results to it."""

    def __init__(
        self,
        balancer: Balancer,
        config: HealthCheckConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.balancer = balancer
        self.config = config or HealthCheckConfig()
        self.clock = clock
        self.states: dict[str, HealthState] = {}
        self.enabled = True
        self._session: aiohttp.ClientSession | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Event()

    async def start(self) -> None:
        # force_close: a new connection per probe, as HAProxy's checks use.
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
        )
        self.sync()

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def sync(self) -> None:
        """Start probing new backends and stop probing removed ones."""
        names = {b.name for b in self.balancer.backends if b.address}
        for name in list(self._tasks):
            if name not in names:
                self._tasks.pop(name).cancel()
                self.states.pop(name, None)
        for name in names:
            if name not in self._tasks:
                self.states.setdefault(name, HealthState(name, self.config))
                self._tasks[name] = asyncio.create_task(
                    self._probe_loop(name), name=f"health {name}"
                )

    def configure(self, config: HealthCheckConfig) -> None:
        """Switch to new settings (a preset); probes pick them up at once."""
        self.config = config
        for state in self.states.values():
            state.reconfigure(config)
        self._wake()

    def reset_states(self) -> None:
        """Forget every count and verdict: each backend starts UP again (a lab reset)."""
        for name in list(self.states):
            self.states[name] = HealthState(name, self.config)
        self._wake()

    def set_enabled(self, enabled: bool) -> None:
        """Turn active checks off (every backend counts as UP) or back on."""
        self.enabled = enabled
        if not enabled:
            for state in self.states.values():
                state.reconfigure(self.config)
                if state.status == "DOWN":
                    state.status = "UP"
                    self.balancer.set_health(state.backend, True, "health checks turned off")
        self._wake()

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _probe_loop(self, name: str) -> None:
        while True:
            started = self.clock()
            changed = self._changed
            if self.enabled:
                result = await self.probe(name)
                self._record(name, result)
            delay = max(0.0, started + self.config.interval - self.clock())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await changed.wait()

    def _record(self, name: str, result: ProbeResult) -> None:
        state = self.states.get(name)
        if state is None:
            return
        ok, detail = result
        transition = state.record(ok, detail, self.clock())
        if transition is not None:
            with contextlib.suppress(UnknownBackend):
                self.balancer.set_health(name, transition.new == "UP", transition.evidence)

    async def probe(self, name: str) -> ProbeResult:
        """One check of ``name``: (passed, what happened)."""
        assert self._session is not None
        try:
            address = self.balancer.get(name).address
        except UnknownBackend:
            return False, "removed"
        config = self.config
        url = f"http://{address}{config.path}"
        try:
            async with asyncio.timeout(config.timeout):
                async with self._session.get(url, allow_redirects=False) as response:
                    await response.read()
                    status = response.status
        except TimeoutError:
            return False, "timeout"
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, ConnectionRefusedError):
                return False, "connection refused"
            return False, "unreachable"
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
            return False, "connection closed"
        except (aiohttp.ClientError, OSError):
            return False, "reset"
        if status in config.expect:
            return True, str(status)
        return False, f"http {status}"
