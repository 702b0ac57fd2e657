"""Failure handling through the Lab with real sockets: health checks, passive health,
draining, backups, the max_conns queue, slow start, panic mode and a short chaos run.

Every test runs a Lab on 127.0.0.1 with fast health checks and a fixed small backend
latency, and waits for events (``EventWaiter``, ``FakeBackend.wait_until``) rather
than sleeping. Where the balancer's own timing is the subject (ejection sentences,
nginx's fail_timeout, a drain deadline, the slow-start ramp) the Lab runs on a
``FakeClock`` that the test moves, so durations are exact and nothing waits for them.
A hung backend (``Hang``) holds a connection for as long as a test needs, instead of
a slow one that would race the test. What is left of real time: the health checker's
probes (their real interval is what is measured, with room for a busy machine), a
drain under load, the chaos schedule (how long a backend stays dead) and a 10 ms look
at the proxy's queue length, which publishes no event.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import aiohttp
import pytest

from lbplay.core.events import BackendStateChanged, Event, Notice, RequestCompleted
from lbplay.core.health import HealthCheckConfig
from lbplay.core.passive import FAILURE_KINDS, NginxPassive, OutlierDetection
from lbplay.model.config import LabConfig, ProxyConfig, RetryPolicy
from lbplay.model.controls import (
    Backup,
    Disable,
    Drain,
    Enable,
    Errors,
    Hang,
    Kill,
    MaxConns,
    Revive,
    Slow,
)
from lbplay.model.faults import LatencyModel
from lbplay.model.snapshot import BackendView
from lbplay.model.status import balancer_label
from lbplay.net.clients import TrafficResult
from lbplay.net.lab import Lab
from lbplay.net.proxy_http import HttpProxy
from lbplay.net.traffic import TrafficGenerator
from tests.labs import FakeClock, quiet
from tests.net.waiting import EventWaiter

FAST = HealthCheckConfig(interval=0.1, timeout=0.1, rise=2, fall=3, name="fast")
#: How late real timers may run on a busy test machine (the event loop is shared by
#: the proxy, the backends, the checker and the clients; CI shares the CPU too).
#: Lower bounds need none: nothing happens early.
SLACK = 0.5


def lab_config(**changes: object) -> LabConfig:
    """Quiet lab settings for these tests."""
    return quiet(**{"health": FAST, **changes})


def watch(lab: Lab) -> EventWaiter:
    waiter = EventWaiter()
    lab.subscribe(waiter.publish)
    return waiter


def changed(backend: str, new: str, old: str | None = None) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return (
            isinstance(event, BackendStateChanged)
            and (event.backend, event.new) == (backend, new)
            and (old is None or event.old == old)
        )

    return match


def after(mark: int, predicate: Callable[[Event], bool]) -> Callable[[Event], bool]:
    """``predicate``, for events published after the one numbered ``mark``."""
    return lambda event: event.seq > mark and predicate(event)


def last_seq(waiter: EventWaiter) -> int:
    return waiter.events[-1].seq if waiter.events else 0


def state_change(event: Event) -> BackendStateChanged:
    assert isinstance(event, BackendStateChanged)
    return event


def view(lab: Lab, name: str) -> BackendView:
    return next(b for b in lab.snapshot().backends if b.name == name)


def requests(events: Iterable[Event]) -> list[RequestCompleted]:
    return [e for e in events if isinstance(e, RequestCompleted)]


def touched(event: RequestCompleted) -> set[str]:
    """Every backend a request was tried on."""
    return {attempt.backend for attempt in event.attempts}


@dataclass(frozen=True)
class Reply:
    status: int
    #: The X-Lbplay-Backend header: every backend tried, in order.
    tried: tuple[str, ...]
    body: str


async def get(session: aiohttp.ClientSession, url: str) -> Reply:
    async with session.get(url) as response:
        body = await response.text()
        header = response.headers.get("X-Lbplay-Backend", "")
        tried = tuple(n.strip() for n in header.split(",") if n.strip())
        return Reply(response.status, tried, body)


async def send(session: aiohttp.ClientSession, url: str, count: int) -> list[Reply]:
    return [await get(session, url) for _ in range(count)]


async def send_until(
    session: aiohttp.ClientSession, url: str, done: Callable[[], bool], limit: int = 100
) -> list[Reply]:
    """One request at a time until ``done()``; at most ``limit``."""
    replies: list[Reply] = []
    while not done():
        assert len(replies) < limit, f"still waiting after {limit} requests"
        replies.append(await get(session, url))
    return replies


def seen(waiter: EventWaiter, predicate: Callable[[Event], bool]) -> Callable[[], bool]:
    return lambda: any(predicate(e) for e in waiter.events)


class Load:
    """Open-loop traffic from lbplay's own generator, keeping every client result."""

    def __init__(self, url: str, rate: float, seed: int = 0) -> None:
        self.results: list[TrafficResult] = []
        self._idle = asyncio.Event()
        self.generator = TrafficGenerator(
            url, rate=rate, rng=random.Random(seed), on_result=self._record
        )

    def _record(self, result: TrafficResult) -> None:
        self.results.append(result)
        if self.generator.paused and not self.generator.stats().in_flight:
            self._idle.set()

    async def __aenter__(self) -> Load:
        await self.generator.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.generator.stop()

    async def finish(self, timeout: float = 10.0) -> list[TrafficResult]:
        """Stop sending and wait for every request in flight to come back."""
        self.generator.pause()
        if self.generator.stats().in_flight:
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self.results


def failed(results: Iterable[TrafficResult]) -> Counter[str]:
    """Client-visible errors by status or kind."""
    return Counter(r.error or str(r.status) for r in results if r.error or r.status != 200)


# -- active health checks ------------------------------------------------------------


async def test_a_killed_backend_is_out_of_rotation_within_fall_x_interval_plus_timeout() -> None:
    async with Lab(lab_config()) as lab, aiohttp.ClientSession() as session:
        waiter = watch(lab)
        killed_at = time.monotonic()
        await lab.apply(Kill("s2"))
        down = state_change(await waiter.wait(changed("s2", "DOWN")))
        took = down.at - killed_at
        # Three refused probes, one interval apart, cannot take less than two intervals.
        assert (FAST.fall - 1) * FAST.interval - 0.05 <= took <= FAST.detection_time + SLACK
        replies = await send(session, lab.proxy_url, 30)
        assert {r.status for r in replies} == {200}
        assert {r.tried for r in replies} == {("s1",), ("s3",)}  # s2 not even tried
        after = [e for e in requests(waiter.events) if e.seq > down.seq]
        assert len(after) == 30
        assert all(touched(e) <= {"s1", "s3"} for e in after)


# -- passive health through real traffic -----------------------------------------------


async def test_outlier_detection_ejects_after_5_consecutive_5xx_and_longer_the_second_time() -> (
    None
):
    outlier = OutlierDetection(consecutive=5, base_ejection_time=0.5, max_ejection_time=5.0)
    clock = FakeClock()
    async with (
        Lab(lab_config(health=None, passive_outlier=outlier), clock=clock) as lab,
        aiohttp.ClientSession() as session,
    ):
        waiter = watch(lab)
        await lab.apply(Errors("s2", 1.0))
        for number, seconds in ((1, 0.5), (2, 1.0)):
            ejected_now = after(last_seq(waiter), changed("s2", "ejected"))
            replies = await send_until(session, lab.proxy_url, seen(waiter, ejected_now))
            # Round robin, one at a time: s2 answered every third request, 500 each time.
            assert [r.status for r in replies].count(500) == 5
            assert all(r.tried == ("s2",) for r in replies if r.status == 500)
            ejected = state_change(await waiter.wait(ejected_now))
            assert ejected.evidence == (
                f"s2 ejected for {seconds:g} s (ejection #{number}) after 5 consecutive"
                " failures: 5xx, 5xx, 5xx, 5xx, 5xx"
            )
            assert view(lab, "s2").passive == "ejected"
            during = await send(session, lab.proxy_url, 10)
            assert {r.status for r in during} == {200}
            assert all("s2" not in r.tried for r in during)
            # Not a moment early: a hundredth of a second short, s2 still sits out.
            clock.advance(seconds - 0.01)
            lab.balancer.tick()
            assert view(lab, "s2").passive == "ejected"
            assert all("s2" not in r.tried for r in await send(session, lab.proxy_url, 4))
            clock.advance(0.01)
            back = state_change(
                await waiter.wait(after(ejected.seq, changed("s2", "up", "ejected")))
            )
            assert back.evidence == "s2 back after its ejected period"
            assert back.at - ejected.at == pytest.approx(seconds)
            between = [e for e in requests(waiter.events) if ejected.seq < e.seq < back.seq]
            assert len(between) >= len(during) + 4


async def test_nginx_max_fails_makes_a_killed_backend_unavailable_for_fail_timeout() -> None:
    nginx = NginxPassive(max_fails=1, fail_timeout=0.5)
    clock = FakeClock()
    async with (
        Lab(lab_config(health=None, passive_nginx=nginx), clock=clock) as lab,
        aiohttp.ClientSession() as session,
    ):
        waiter = watch(lab)
        await lab.apply(Kill("s2"))
        replies: list[Reply] = []
        for _ in range(2):
            out = after(last_seq(waiter), changed("s2", "unavailable"))
            replies += await send_until(session, lab.proxy_url, seen(waiter, out))
            unavailable = state_change(await waiter.wait(out))
            assert unavailable.evidence == (
                "s2 unavailable for 0.5 s after 1 failure within 0.5 s (max_fails=1): connect"
            )
            assert view(lab, "s2").passive == "unavailable"
            during = await send(session, lab.proxy_url, 10)
            assert all("s2" not in r.tried for r in during)
            replies += during
            clock.advance(0.49)
            lab.balancer.tick()
            assert view(lab, "s2").passive == "unavailable"
            clock.advance(0.01)
            back = state_change(await waiter.wait(after(unavailable.seq, changed("s2", "up"))))
            # nginx's sentence does not grow: fail_timeout each time.
            assert back.at - unavailable.at == pytest.approx(0.5)
        # The connect failure was retried: the client never saw it.
        assert {r.status for r in replies} == {200}
        assert [r.tried for r in replies if "s2" in r.tried] == [("s2", "s3")] * 2


@pytest.mark.parametrize(("percent", "ejected"), [(10.0, 1), (50.0, 2)])
async def test_the_ejection_cap_keeps_the_rest_of_the_pool(percent: float, ejected: int) -> None:
    outlier = OutlierDetection(consecutive=5, base_ejection_time=10.0, max_ejection_percent=percent)
    async with (
        Lab(lab_config(backends=4, health=None, passive_outlier=outlier)) as lab,
        aiohttp.ClientSession() as session,
    ):
        waiter = watch(lab)
        for name in lab.backend_names():
            await lab.apply(Errors(name, 1.0))
        replies = await send(session, lab.proxy_url, 60)
        assert {r.status for r in replies} == {500}
        ejections = [
            e for e in waiter.events if isinstance(e, BackendStateChanged) and e.new == "ejected"
        ]
        assert len(ejections) == ejected  # at least one, even at 10% of four
        statuses = Counter(balancer_label(b) for b in lab.snapshot().backends)
        assert statuses == {"ejected": ejected, "up": 4 - ejected}
        assert not lab.snapshot().panic


# -- draining ----------------------------------------------------------------------------


async def test_draining_under_load_loses_nothing_and_sends_the_drained_backend_nothing_new() -> (
    None
):
    async with Lab(lab_config(latency=LatencyModel.fixed(150.0))) as lab:
        waiter = watch(lab)
        async with Load(lab.proxy_url, rate=60.0) as load:
            await asyncio.wait_for(lab.fleet.fake("s2").wait_until(lambda s: s.in_progress >= 2), 5)
            # Synchronous from here to the drain: nothing can start or end in between.
            in_flight = view(lab, "s2").in_flight
            done_before = sum("s2" in touched(e) for e in requests(waiter.events))
            await lab.apply(Drain("s2"))
            draining = state_change(await waiter.wait(changed("s2", "draining")))
            drained = state_change(await waiter.wait(changed("s2", "drained"), timeout=3))
            assert in_flight >= 1
            assert drained.evidence.startswith("s2 drained: nothing left in flight after")
            # Drained when its last request (of 150 ms) ended, not at the 30 s deadline.
            assert drained.at - draining.at <= 0.15 + SLACK
            assert view(lab, "s2").admin == "drained"
            # Keep the traffic going: 30 more requests, none of which may reach s2.
            count = iter(range(30))
            await waiter.wait(
                lambda e: (
                    isinstance(e, RequestCompleted)
                    and e.seq > drained.seq
                    and next(count, None) is None
                ),
                timeout=5,
            )
            results = await load.finish()
        assert failed(results) == Counter()
        assert len(results) >= 40
        on_s2 = [e for e in requests(waiter.events) if "s2" in touched(e)]
        assert len(on_s2) == done_before + in_flight
        assert lab.fleet.fake("s2").stats.received == done_before + in_flight


async def test_a_drain_ends_at_its_deadline_when_a_request_hangs() -> None:
    clock = FakeClock()
    # No health checks: a hung /health probe would look like the hung request.
    async with (
        Lab(lab_config(health=None), clock=clock) as lab,
        aiohttp.ClientSession() as session,
    ):
        waiter = watch(lab)
        await lab.apply(Hang("s2", off=False))
        first = [asyncio.create_task(get(session, lab.proxy_url)) for _ in range(3)]
        await asyncio.wait_for(
            lab.fleet.fake("s2").wait_until(lambda s: s.received == 1 and s.hung == 1), 5
        )
        await lab.apply(Drain("s2", timeout=0.3))
        draining = state_change(await waiter.wait(changed("s2", "draining")))
        clock.advance(0.29)
        lab.balancer.tick()
        assert view(lab, "s2").admin == "draining"  # not before its deadline
        clock.advance(0.01)
        drained = state_change(await waiter.wait(changed("s2", "drained")))
        assert drained.at - draining.at == pytest.approx(0.3)
        assert drained.evidence == "s2 drained: deadline reached after 0.3 s with 1 still in flight"
        later = await send(session, lab.proxy_url, 6)
        assert all(r.tried in {("s1",), ("s3",)} for r in later)
        await lab.apply(Hang("s2", off=True))  # the hung request still finishes
        replies = await asyncio.gather(*first)
        assert sorted(r.tried for r in replies) == [("s1",), ("s2",), ("s3",)]
        assert {r.status for r in replies} == {200}


# -- backups -------------------------------------------------------------------------------


async def test_backups_take_traffic_only_while_every_primary_is_down() -> None:
    async with Lab(lab_config()) as lab, aiohttp.ClientSession() as session:
        waiter = watch(lab)
        await lab.apply(Backup("s3", off=False))
        normal = await send(session, lab.proxy_url, 8)
        assert {r.tried for r in normal} == {("s1",), ("s2",)}
        await lab.apply(Kill("s1"))
        await lab.apply(Kill("s2"))
        await waiter.wait(changed("s1", "DOWN"))
        await waiter.wait(changed("s2", "DOWN"))
        assert balancer_label(view(lab, "s3")) == "backup (in use)"
        rescue = await send(session, lab.proxy_url, 8)
        assert {(r.status, r.tried) for r in rescue} == {(200, ("s3",))}
        await lab.apply(Revive("s1"))
        await waiter.wait(changed("s1", "UP"))
        assert balancer_label(view(lab, "s3")) == "backup"
        back = await send(session, lab.proxy_url, 8)
        assert {(r.status, r.tried) for r in back} == {(200, ("s1",))}


# -- connection limits and the queue ---------------------------------------------------------


@pytest.mark.parametrize("queue_timeout", [0.0, 0.2])
async def test_queue_overflow_and_timeout_answer_503_without_blaming_a_backend(
    queue_timeout: float,
) -> None:
    config = lab_config(
        backends=2,
        proxy=ProxyConfig(queue_timeout=queue_timeout),
        # As touchy as passive health gets: any failure of any kind takes a backend out.
        passive_nginx=NginxPassive(max_fails=1, fail_timeout=10.0, counts=FAILURE_KINDS),
        passive_outlier=OutlierDetection(
            consecutive=1, base_ejection_time=10.0, max_ejection_percent=100.0
        ),
    )
    async with Lab(config) as lab, aiohttp.ClientSession() as session:
        waiter = watch(lab)
        for name in lab.backend_names():
            await lab.apply(MaxConns(name, 1))
            await lab.apply(Slow(name, 500.0))
        replies = await asyncio.gather(*(get(session, lab.proxy_url) for _ in range(6)))
        statuses = Counter(r.status for r in replies)
        assert statuses == {200: 2, 503: 4}
        refused = [r for r in replies if r.status == 503]
        for reply in refused:
            assert reply.tried == ()
            assert "every eligible backend is at its connection limit (2 full)" in reply.body
            if queue_timeout:
                assert "waited 0.2 s in the proxy's queue" in reply.body
        proxy_answers = [e for e in requests(waiter.events) if e.status == 503]
        assert len(proxy_answers) == 4
        assert all(e.backend is None and not e.attempts for e in proxy_answers)
        if queue_timeout:
            assert all(e.latency >= queue_timeout - 0.01 for e in proxy_answers)
        for backend in lab.snapshot().backends:
            assert (balancer_label(backend), backend.failures, backend.completed) == ("up", 0, 1)
        assert not [e for e in waiter.events if isinstance(e, BackendStateChanged)]


async def queued(lab: Lab, count: int, timeout: float = 5.0) -> None:
    """Wait until ``count`` requests wait in the proxy's queue.

    The queue's length publishes no event, so this looks every 10 ms, with a deadline.
    """
    assert isinstance(lab.proxy, HttpProxy)
    proxy = lab.proxy
    async with asyncio.timeout(timeout):
        while proxy.queued != count:
            await asyncio.sleep(0.01)


async def test_lifting_max_conns_serves_every_queued_request() -> None:
    config = lab_config(backends=2, health=None, proxy=ProxyConfig(queue_timeout=2.0))
    async with Lab(config) as lab, aiohttp.ClientSession() as session:
        for name in lab.backend_names():
            await lab.apply(MaxConns(name, 1))
            await lab.apply(Slow(name, 300.0))
        replies = [asyncio.create_task(get(session, lab.proxy_url)) for _ in range(6)]
        await queued(lab, 4)
        for name in lab.backend_names():
            await lab.apply(MaxConns(name, None))  # no limit any more: nobody has to wait
        assert [r.status for r in await asyncio.gather(*replies)] == [200] * 6


async def test_a_backend_that_becomes_eligible_takes_a_queued_request() -> None:
    config = lab_config(backends=2, health=None, proxy=ProxyConfig(queue_timeout=2.0))
    async with Lab(config) as lab, aiohttp.ClientSession() as session:
        await lab.apply(MaxConns("s1", 1))
        await lab.apply(Hang("s1", off=False))  # s1 stays full until the test says
        await lab.apply(Disable("s2"))
        busy = asyncio.create_task(get(session, lab.proxy_url))
        await asyncio.wait_for(lab.fleet.fake("s1").wait_until(lambda s: s.hung == 1), 5)
        waiting = asyncio.create_task(get(session, lab.proxy_url))
        await queued(lab, 1)
        await lab.apply(Enable("s2"))  # HAProxy hands its queue to a server that comes up
        reply = await waiting
        assert (reply.status, reply.tried) == (200, ("s2",))
        assert not busy.done()  # served while s1 was still full, not after
        await lab.apply(Hang("s1", off=True))
        assert (await busy).tried == ("s1",)


async def test_a_full_queue_answers_503_at_once() -> None:
    config = lab_config(backends=1, health=None, proxy=ProxyConfig(queue_timeout=2.0, max_queue=1))
    async with Lab(config) as lab, aiohttp.ClientSession() as session:
        await lab.apply(MaxConns("s1", 1))
        await lab.apply(Hang("s1", off=False))  # s1 stays full until the test says
        busy = asyncio.create_task(get(session, lab.proxy_url))
        await asyncio.wait_for(lab.fleet.fake("s1").wait_until(lambda s: s.hung == 1), 5)
        waiting = asyncio.create_task(get(session, lab.proxy_url))
        await queued(lab, 1)
        refused = await get(session, lab.proxy_url)
        assert refused.status == 503
        assert "the queue is full (1 waiting)" in refused.body
        # At once, not after the queue timeout: the request queued before it still waits.
        assert isinstance(lab.proxy, HttpProxy)
        assert lab.proxy.queued == 1
        assert not waiting.done()
        await lab.apply(Hang("s1", off=True))
        assert [(await busy).status, (await waiting).status] == [200, 200]


# -- slow start ------------------------------------------------------------------------------


async def test_slow_start_ramps_a_returning_backends_share_on_real_traffic() -> None:
    ramp, window, per_window = 2.0, 0.4, 100
    clock = FakeClock()
    async with (
        Lab(lab_config(backends=2, health=None, slow_start=ramp), clock=clock) as lab,
        aiohttp.ClientSession() as session,
    ):
        waiter = watch(lab)
        await lab.apply(Disable("s2"))
        await lab.apply(Enable("s2"))
        enabled = state_change(await waiter.wait(changed("s2", "active")))
        shares = []
        # The ramp and one window more, a window at a time: the clock stands in the
        # middle of each while real requests go through the proxy.
        for slot in range(int((ramp + window) / window)):
            clock.advance(enabled.at + (slot + 0.5) * window - clock())
            replies = await send(session, lab.proxy_url, per_window)
            assert {r.status for r in replies} == {200}
            share = sum(r.tried == ("s2",) for r in replies) / per_window
            middle = min(1.0, (slot + 0.5) * window / ramp)
            f = 0.1 + 0.9 * middle  # the slow-start fraction, 10% -> 100%
            # Round robin over two: s2 is accepted at its turn with probability f.
            assert share == pytest.approx(f / (1 + f), abs=0.12), (slot, shares, share)
            shares.append(share)
        assert shares[0] < 0.3
        assert shares[-1] > 0.4


# -- panic mode ------------------------------------------------------------------------------


async def test_panic_mode_sends_traffic_to_all_four_when_three_are_down() -> None:
    config = lab_config(
        backends=4, panic_threshold=0.5, proxy=ProxyConfig(retry=RetryPolicy(tries=4))
    )
    async with Lab(config) as lab, aiohttp.ClientSession() as session:
        waiter = watch(lab)
        for name in ("s2", "s3", "s4"):
            await lab.apply(Kill(name))
        for name in ("s2", "s3", "s4"):
            await waiter.wait(changed(name, "DOWN"))
        notice = await waiter.wait(
            lambda e: isinstance(e, Notice) and e.message.startswith("panic mode ON")
        )
        assert isinstance(notice, Notice)
        assert "1 of 4 primaries healthy (below 50%)" in notice.message
        assert lab.snapshot().panic
        replies = await send(session, lab.proxy_url, 20)
        assert {(r.status, r.tried[-1]) for r in replies} == {(200, "s1")}
        assert {name for r in replies for name in r.tried} == {"s1", "s2", "s3", "s4"}
        await lab.apply(Revive("s2"))
        await waiter.wait(
            lambda e: isinstance(e, Notice) and e.message.startswith("panic mode off")
        )
        assert not lab.snapshot().panic
        calm = await send(session, lab.proxy_url, 8)
        assert {r.tried for r in calm} == {("s1",), ("s2",)}


# -- chaos, short ----------------------------------------------------------------------------


async def test_chaos_kill_and_revive_under_load_gives_no_client_visible_error() -> None:
    cycles, down, up = 10, 0.2, 0.2
    config = lab_config(latency=LatencyModel.lognormal(5.0, 0.5))
    async with Lab(config) as lab:
        waiter = watch(lab)
        rng = random.Random(7)
        async with Load(lab.proxy_url, rate=200.0, seed=7) as load:
            for _ in range(cycles):
                victim = rng.choice(lab.backend_names())
                await lab.apply(Kill(victim))
                await asyncio.sleep(down)  # the chaos schedule, not a synchronisation
                await lab.apply(Revive(victim))
                await asyncio.sleep(up)
            results = await load.finish()
        assert failed(results) == Counter()
        assert len(results) >= 0.6 * 200 * cycles * (down + up)
        retried = [e for e in requests(waiter.events) if e.retried]
        assert retried, "no request was retried: the kills did not hit the traffic"


async def test_max_fails_counts_what_is_retried_as_nginx_does() -> None:
    """Found: the dashboard said failing requests take a backend out, but --max-fails 3
    never took out a backend answering 500. As nginx: max_fails counts the failures
    proxy_next_upstream retries — errors and timeouts by default, a 5xx when retried."""
    async with Lab(lab_config(health=None)) as lab:
        await lab.apply(Errors("s2", 1.0))
        outcome = await lab.apply("passive --max-fails 3 --fail-timeout 60")
        assert "a backend answering 500 stays in" in outcome.event.watch
        async with aiohttp.ClientSession() as session:
            for _ in range(12):
                async with session.get(lab.proxy_url + "/") as response:
                    await response.read()
        assert view(lab, "s2").passive == ""  # 500s are answers, not failures, to nginx
        outcome = await lab.apply("retries 3 --on 500")
        assert "so do 500 answers" in outcome.event.watch
        async with aiohttp.ClientSession() as session:
            for _ in range(12):
                async with session.get(lab.proxy_url + "/") as response:
                    await response.read()
                    assert response.status == 200  # retried on another backend
        assert view(lab, "s2").passive == "unavailable"
