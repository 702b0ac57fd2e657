"""Traffic generator: many virtual clients, each a different peer, sending real requests.

Everything a learner sees in lbplay is measured from real requests, so the load comes
from real HTTP clients on loopback. A ``TrafficGenerator`` drives a pool of virtual
clients (``VirtualClient``) against one target (the proxy, or a single backend) and
reports what the *clients* saw: status, latency including the body, bytes, the backend
that answered (the ``X-Lbplay-Backend`` response header, which lists every backend the
proxy tried) and why a request failed.

This module is the generator: its two loops, bursts, live controls and lifecycle. What
is sent and when (``RequestSpec``, ``RequestMix``, ``next_gap``, ``client_address``) is
the pure workload model in ``model.workload``; one client sending one request, and what
it reports (``VirtualClient``, ``TrafficResult``, scripts, error words), is
``net.clients``.

Two ways to make load
---------------------
* **open** loop: arrivals come at ``rate`` per second as a Poisson process
  (exponential gaps), each from a randomly chosen client, *without waiting for the
  earlier ones*. This is how many independent users behave, and it is the honest way to
  measure a slow server: arrivals do not slow down because the server did, so a
  struggling server shows up as growing latency and a growing queue. (A closed loop
  hides that, the "coordinated omission" that makes wrk-style benchmarks look good.)
  Outstanding requests are capped (``max_outstanding``); arrivals beyond the cap are
  counted as ``dropped`` instead of piling up without bound.
* **closed** loop: ``users`` virtual users, each sending one request, waiting for the
  answer, thinking for an exponential time of mean ``think_time``, and repeating. At
  most ``users`` requests are ever in flight, so a slow server lowers the request rate
  instead: the picture of a fixed population of people at their desks.

Controls act at once: ``set_rate`` from 0.1/s to 100/s does not sit out the 10 s gap it
had already drawn, because every change wakes the loops (exponential gaps are
memoryless, so drawing afresh from "now" is exactly a Poisson process at the new rate).
``pause`` stops new requests (those in flight finish); ``burst(n)`` fires ``n`` requests
at once, at most ``concurrency`` at a time so that 500 of them do not run the process out
of file descriptors, and returns their results.

Every client is a different peer (``net.clients``): when the target is on IPv4 loopback,
client ``i`` is bound to ``client_address(i, per_subnet)``. When the first client
address cannot be bound, every client falls back to 127.0.0.1 and ``warning`` says why,
so a lesson can tell the learner instead of silently showing one client. What each
client asks for is its script, made by ``script_factory`` (``set_script`` swaps it).

Lifecycle: ``start()`` → controls → ``stop()``, or ``async with``. ``stop`` cancels
every task the generator made and closes every session; requests it cancels report
nothing. Randomness is injected (``rng``): with a seed, the open loop's gaps, clients
and requests repeat exactly; the network's timing, and so the order in which closed-loop
users draw their think times, does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import time
from collections.abc import Callable, Coroutine
from typing import Literal, get_args

from yarl import URL

from lbplay.core.metrics import STATUS_CLASSES, Metrics
from lbplay.errors import ConfigError
from lbplay.model.snapshot import TrafficStats
from lbplay.model.wire import BACKEND_HEADER
from lbplay.model.workload import DEFAULT_MIX, RequestMix, RequestSpec, client_address, next_gap
from lbplay.net.clients import (
    DEFAULT_TIMEOUT,
    ScriptFactory,
    TrafficResult,
    VirtualClient,
    browse_mix,
    can_bind,
)
from lbplay.net.service import Service

Mode = Literal["open", "closed"]
MODES: tuple[Mode, ...] = get_args(Mode)

MAX_TIMEOUT = 600.0
#: Open loop: requests in flight at once before arrivals are dropped.
MAX_OUTSTANDING = 1000
#: ``burst``: requests in flight at once.
BURST_CONCURRENCY = 100
MAX_CLIENTS = 1000
MAX_USERS = 1000
MAX_RATE = 10_000.0
MAX_THINK_TIME = 3600.0
MAX_BURST = 100_000
#: An arrival more overdue than this (the event loop was blocked) is skipped, not fired
#: in a catch-up burst the learner never asked for.
MAX_LAG = 1.0

_log = logging.getLogger(__name__)


def _check_number(what: str, value: object, low: float, high: float, hint: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not low <= value <= high  # also rejects NaN
    ):
        raise ConfigError(f"bad {what} {value!r}: {hint}")
    return float(value)


def _check_count(what: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"bad {what} {value!r}: use a whole number from {low} to {high}")
    return value


def _check_mode(mode: object) -> Mode:
    for known in MODES:
        if mode == known:
            return known
    raise ConfigError(f"bad traffic mode {mode!r}: use {' or '.join(MODES)}")


def _origin(target: str | URL) -> tuple[str, bool]:
    """``http://host:port`` of the target, and whether it is on IPv4 loopback."""
    try:
        url = URL(target)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad target URL {target!r}: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"bad target URL {str(target)!r}: use http://host:port")
    if url.path not in ("", "/") or url.query_string or url.fragment:
        raise ConfigError(
            f"bad target URL {str(target)!r}: give only http://host:port; paths belong in"
            " the request mix"
        )
    loopback = url.host == "localhost"
    with contextlib.suppress(ValueError):
        ip = ipaddress.ip_address(url.host)
        loopback = isinstance(ip, ipaddress.IPv4Address) and ip.is_loopback
    return str(url.origin()), loopback


class TrafficGenerator(Service):
    """Open- or closed-loop HTTP load from a pool of virtual clients (module docstring).

    ``clients`` is the number of distinct clients the open loop and bursts spread over;
    in the closed loop user ``i`` always drives client ``i``, and the pool grows when
    there are more users than clients, so every user has its own address and cookies.
    ``metrics``, when given, records every result (client-side latency per backend).
    ``on_result`` is called with every result; if it raises, the error is logged and
    the traffic carries on.
    """

    def __init__(
        self,
        target_url: str | URL,
        *,
        clients: int = 20,
        mode: Mode = "open",
        rate: float = 50.0,
        users: int | None = None,
        think_time: float = 1.0,
        mix: RequestMix = DEFAULT_MIX,
        rng: random.Random | None = None,
        on_result: Callable[[TrafficResult], None] | None = None,
        metrics: Metrics | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_outstanding: int = MAX_OUTSTANDING,
        per_subnet: int | None = 1,
        backend_header: str = BACKEND_HEADER,
        script_factory: ScriptFactory = browse_mix,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._origin, self._bind = _origin(target_url)
        self._clients = _check_count("number of clients", clients, 1, MAX_CLIENTS)
        self._per_subnet = _check_subnet(per_subnet)
        self._mode = _check_mode(mode)
        self._rate = _check_number(
            "rate", rate, 0.0, MAX_RATE, f"use requests per second from 0 to {MAX_RATE:g}"
        )
        self._users = _check_count(
            "number of users", self._clients if users is None else users, 0, MAX_USERS
        )
        self._think_time = _check_number(
            "think time", think_time, 0.0, MAX_THINK_TIME, f"use 0 to {MAX_THINK_TIME:g} s"
        )
        self._timeout = _check_number(
            "timeout", timeout, 0.001, MAX_TIMEOUT, f"use 0.001 to {MAX_TIMEOUT:g} seconds"
        )
        self._max_outstanding = _check_count("max outstanding", max_outstanding, 1, 1_000_000)
        self.set_mix(mix)
        self.rng = rng if rng is not None else random.Random()
        self.on_result = on_result
        self.metrics = metrics
        self.backend_header = backend_header
        self.clock = clock
        self._script_factory = script_factory
        #: Why clients share an address, or "".
        self.warning = ""

        self._running = False
        self._paused = False
        self._pool: list[VirtualClient] = []
        # Replaced on every change, never cleared: a loop grabs the current one before
        # looking at the settings, so a change made after the look always wakes it.
        self._changed = asyncio.Event()
        self._arrivals: asyncio.Task[None] | None = None
        self._user_tasks: dict[int, asyncio.Task[None]] = {}
        self._requests: set[asyncio.Task[TrafficResult]] = set()
        self._bursts: set[asyncio.Task[None]] = set()
        self._retiring: set[asyncio.Task[None]] = set()
        #: Who waits for nothing to be in flight (``quiet``).
        self._quiet: list[asyncio.Future[None]] = []
        #: Clients replaced by ``set_addressing``, closed once idle (or at ``stop``).
        self._old: list[VirtualClient] = []

        self._sent = 0
        self._completed = 0
        self._in_flight = 0
        self._dropped = 0
        self._bytes = 0
        self._status = dict.fromkeys(STATUS_CLASSES, 0)
        self._errors: dict[str, int] = {}

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"TrafficGenerator({self._origin}, {self._mode}, {state})"

    # -- settings and live controls ----------------------------------------------------

    @property
    def target(self) -> str:
        return self._origin

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def users(self) -> int:
        return self._users

    @property
    def think_time(self) -> float:
        return self._think_time

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def running(self) -> bool:
        return self._running

    @property
    def mix(self) -> RequestMix:
        return self._mix

    @property
    def clients(self) -> tuple[VirtualClient, ...]:
        """Every virtual client made so far (empty until started)."""
        return tuple(self._pool)

    def set_rate(self, rate: float) -> None:
        """Open-loop arrivals per second; takes effect at once (0 stops arrivals)."""
        self._rate = _check_number(
            "rate", rate, 0.0, MAX_RATE, f"use requests per second from 0 to {MAX_RATE:g}"
        )
        self._notify()

    def set_mode(self, mode: Mode) -> None:
        """Switch between open and closed loop; requests in flight finish."""
        self._mode = _check_mode(mode)
        self._sync_users()
        self._notify()

    def set_users(self, users: int) -> None:
        """Closed-loop users; users removed finish their current request first."""
        self._users = _check_count("number of users", users, 0, MAX_USERS)
        self._sync_users()
        self._notify()

    def set_think_time(self, seconds: float) -> None:
        """Mean closed-loop think time; thinking users draw afresh at the new mean."""
        self._think_time = _check_number(
            "think time", seconds, 0.0, MAX_THINK_TIME, f"use 0 to {MAX_THINK_TIME:g} s"
        )
        self._notify()

    def set_addressing(self, per_subnet: int | None) -> None:
        """How clients are addressed from now on: ``per_subnet`` clients per /24, or
        None for one shared address (a NAT). The clients are replaced (their cookies
        go with them, as a new device's would); the old ones finish what they sent."""
        self._per_subnet = _check_subnet(per_subnet)
        if not self._running:
            return
        old, self._pool = self._pool, []
        self._old.extend(old)
        for index in range(self._clients):
            self._client(index)
        task = asyncio.create_task(_close_all(old), name="lbplay-traffic-retire")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    @property
    def per_subnet(self) -> int | None:
        """Clients per /24 network (None: all behind one address)."""
        return self._per_subnet

    def set_mix(self, mix: RequestMix) -> None:
        """What the default script samples from now on."""
        if not isinstance(mix, RequestMix):
            raise ConfigError(f"bad request mix {mix!r}: expected a RequestMix")
        self._mix = mix

    def set_script(self, script_factory: ScriptFactory) -> None:
        """Give every client (and every client made later) a new script."""
        self._script_factory = script_factory
        for client in self._pool:
            client.script = script_factory(client)

    def pause(self) -> None:
        """Send nothing new (bursts excepted); requests in flight finish."""
        self._paused = True
        self._notify()

    def resume(self) -> None:
        self._paused = False
        self._notify()

    async def quiet(self) -> None:
        """Return once no generated request is in flight (pause first to keep it so)."""
        if not self._in_flight:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._quiet.append(waiter)
        await waiter

    def stats(self) -> TrafficStats:
        return TrafficStats(
            mode=self._mode,
            rate=self._rate,
            users=self._users,
            think_time=self._think_time,
            paused=self._paused,
            running=self._running,
            clients=self._clients,
            sent=self._sent,
            completed=self._completed,
            in_flight=self._in_flight,
            dropped=self._dropped,
            bytes=self._bytes,
            status=dict(self._status),
            errors=dict(self._errors),
            warning=self.warning,
        )

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Make the clients and start sending (unless paused); a no-op when running."""
        if self._running:
            return
        self.warning = ""
        if self._bind and not can_bind(first := client_address(0, self._per_subnet)):
            self.warning = (
                f"cannot use {first} as a source address, so every client is 127.0.0.1"
                f" (on macOS: sudo ifconfig lo0 alias {first}, and so on for each client)"
            )
        self._running = True
        for index in range(self._clients):
            self._client(index)
        self._arrivals = asyncio.create_task(self._open_loop(), name="lbplay-traffic-arrivals")
        self._sync_users()

    async def stop(self) -> None:
        """Cancel every task the generator made and close every client; idempotent."""
        if not self._running:
            return
        self._running = False
        tasks: list[asyncio.Task[object]] = [
            *self._user_tasks.values(),
            *self._requests,
            *self._bursts,
            *self._retiring,
        ]
        if self._arrivals is not None:
            tasks.append(self._arrivals)
        self._arrivals = None
        self._user_tasks.clear()
        self._requests.clear()
        self._bursts.clear()
        self._retiring.clear()
        current = asyncio.current_task()
        tasks = [task for task in tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # A request task cancelled before it first ran never got to count itself out.
        self._in_flight = 0
        pool, self._pool = self._pool, []
        old, self._old = self._old, []
        await asyncio.gather(*(client.close() for client in [*pool, *old]))

    # -- sending -----------------------------------------------------------------------

    def _client(self, index: int) -> VirtualClient:
        """Client ``index``, made (with its address) on first use; the pool only grows."""
        while len(self._pool) <= index:
            i = len(self._pool)
            address = client_address(i, self._per_subnet) if self._bind else None
            self._pool.append(
                VirtualClient(
                    i,
                    None if self.warning else address,
                    timeout=self._timeout,
                    backend_header=self.backend_header,
                    script_factory=self._script_factory,
                )
            )
        return self._pool[index]

    def _send(self, client: VirtualClient) -> Coroutine[None, None, TrafficResult]:
        """Count a request as sent now, and return the coroutine that sends it.

        Counted before its task first runs, so that "nothing in flight" really means
        nothing is about to go out either (a paused generator is quiet).
        """
        spec = client.script.next_request(self.rng, self._mix)
        self._sent += 1
        self._in_flight += 1
        return self._exchange(client, spec, self.clock())

    async def _exchange(
        self, client: VirtualClient, spec: RequestSpec, started: float
    ) -> TrafficResult:
        try:
            result = await client.request(self._origin, spec, started=started)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                for waiter in self._quiet:
                    if not waiter.done():
                        waiter.set_result(None)
                self._quiet.clear()
        self._finish(client, result)
        return result

    def _finish(self, client: VirtualClient, result: TrafficResult) -> None:
        self._completed += 1
        self._bytes += result.bytes
        self._status[result.status_class] += 1
        if result.error:
            self._errors[result.error] = self._errors.get(result.error, 0) + 1
        if self.metrics is not None:
            # A response cut short is a failure to the client, whatever its status said.
            status = result.status if result.ok else 0
            self.metrics.record(result.backend, status, result.latency, result.bytes)
        client.script.observe(result)
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:  # one broken consumer must not stop the traffic
                _log.exception("on_result failed for %s %s", result.method, result.path)

    async def _nap(self, seconds: float, changed: asyncio.Event) -> bool:
        """Sleep ``seconds``, or less if a setting changes; True if it changed."""
        try:
            async with asyncio.timeout(seconds):
                await changed.wait()
        except TimeoutError:
            return False
        return True

    async def _open_loop(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            changed = self._changed
            rate = self._rate
            if self._paused or self._mode != "open" or rate <= 0:
                await changed.wait()
                due = loop.time()
                continue
            # Arrivals are scheduled on an absolute timeline, so the timer's lateness
            # does not add up and lower the rate: an overdue arrival goes at once.
            due += next_gap(rate, self.rng)
            now = loop.time()
            if now - due > MAX_LAG:
                due = now
            if due > now:
                await self._nap(due - now, changed)
            else:
                await asyncio.sleep(0)  # a very high rate must not starve the requests
            if changed.is_set():
                # Paused, or a new rate: the time already waited says nothing about the
                # next arrival (memoryless), so a fresh gap from now is exact.
                due = loop.time()
                continue
            self._arrive()

    def _arrive(self) -> None:
        if len(self._requests) >= self._max_outstanding:
            self._dropped += 1
            return
        client = self._pool[self.rng.randrange(self._clients)]
        task = asyncio.create_task(self._send(client), name="lbplay-traffic-request")
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    def _sync_users(self) -> None:
        """Start a task for every closed-loop user that has none."""
        if not self._running or self._mode != "closed":
            return
        for index in range(self._users):
            task = self._user_tasks.get(index)
            if task is None or task.done():
                task = asyncio.create_task(self._user(index), name=f"lbplay-traffic-user-{index}")
                self._user_tasks[index] = task
                task.add_done_callback(self._user_done(index))

    def _user_done(self, index: int) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            if self._user_tasks.get(index) is task:
                del self._user_tasks[index]

        return done

    def _user_active(self, index: int) -> bool:
        return self._mode == "closed" and index < self._users

    async def _user(self, index: int) -> None:
        client = self._client(index)
        while True:
            changed = self._changed
            if not self._user_active(index):
                return
            if self._paused:
                await changed.wait()
                continue
            await self._send(client)
            # Think; a change (pause, a new mean) cuts it short and, being memoryless,
            # a fresh draw at the current mean is exactly right.
            while self._think_time > 0 and self._user_active(index) and not self._paused:
                changed = self._changed
                think = self.rng.expovariate(1.0 / self._think_time)
                if not await self._nap(think, changed):
                    break
            await asyncio.sleep(0)  # with no think time, let everything else run too

    async def burst(self, n: int, *, concurrency: int = BURST_CONCURRENCY) -> list[TrafficResult]:
        """Send ``n`` requests from random clients now; return every result.

        At most ``concurrency`` are in flight at once. Works while paused (a teacher's
        "everyone at once" on a quiet system). Stopping the generator ends the burst
        early, with the results so far.
        """
        n = _check_count("burst size", n, 0, MAX_BURST)
        concurrency = _check_count("burst concurrency", concurrency, 1, MAX_BURST)
        if not self._running:
            raise RuntimeError("start the traffic generator before a burst")
        results: list[TrafficResult] = []
        remaining = n

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                client = self._pool[self.rng.randrange(self._clients)]
                results.append(await self._send(client))

        workers = [
            asyncio.create_task(worker(), name="lbplay-traffic-burst")
            for _ in range(min(n, concurrency))
        ]
        self._bursts.update(workers)
        try:
            if workers:
                await asyncio.wait(workers)
        except asyncio.CancelledError:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        finally:
            self._bursts.difference_update(workers)
        return results


def _check_subnet(per_subnet: int | None) -> int | None:
    if per_subnet is None:
        return None
    return _check_count("clients per subnet", per_subnet, 1, 254)


async def _close_all(clients: list[VirtualClient]) -> None:
    await asyncio.gather(*(client.close_when_idle() for client in clients))
