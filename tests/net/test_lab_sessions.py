"""The session lesson end to end: log in, get pinned (or not), kill, lose (or not)."""

from __future__ import annotations

import re
from collections import Counter

import aiohttp
import pytest

from lbplay.core.affinity import AffinityConfig
from lbplay.core.events import SessionLost
from lbplay.errors import ConfigError
from lbplay.model.controls import Burst, Kill, Sessions, Sticky, parse
from lbplay.net.lab import Lab
from tests.labs import quiet
from tests.net.waiting import EventWaiter


class User:
    """A browser: its own cookie jar, logging in and visiting its profile."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def login(self) -> str:
        async with self.session.post(f"{self.lab.proxy_url}/login?user={self.name}") as r:
            assert r.status == 200
            return str((await r.json())["backend"])

    async def profile(self) -> tuple[int, str]:
        async with self.session.get(f"{self.lab.proxy_url}/profile") as response:
            await response.read()
            return response.status, response.headers.get("X-Backend", "")

    async def close(self) -> None:
        await self.session.close()


async def test_cookie_mode_keeps_users_on_their_backend_until_it_dies(quiet_lab: Lab) -> None:
    lab = quiet_lab
    await lab.apply(Sessions("cookie"))
    waiter = EventWaiter()
    lab.subscribe(waiter.publish)
    users = [User(lab, f"u{i}") for i in range(4)]
    try:
        homes = [await user.login() for user in users]
        for user, home in zip(users, homes, strict=True):
            visits = [await user.profile() for _ in range(100)]
            assert Counter(visits)[(200, home)] >= 99
        doomed = homes[0]
        await lab.apply(Kill(doomed))
        status, landed = await users[0].profile()
        assert status == 401  # re-pinned to a backend that never saw the session
        assert landed != doomed
        lost = await waiter.wait(lambda e: isinstance(e, SessionLost))
        assert isinstance(lost, SessionLost)
        assert lost.text.endswith(f"not found on {landed} — it lives on {doomed}")
        view = lab.snapshot()
        assert view.session_losses >= 1
        assert {b.name: b.session_losses for b in view.backends}[landed] >= 1
        assert view.session_mode == "cookie"
    finally:
        for user in users:
            await user.close()


async def test_shared_sessions_survive_a_dead_backend(quiet_lab: Lab) -> None:
    lab = quiet_lab
    await lab.apply(Sessions("shared"))
    user = User(lab, "ann")
    try:
        home = await user.login()
        await lab.apply(Kill(home))
        results = [await user.profile() for _ in range(9)]
    finally:
        await user.close()
    assert all(status == 200 for status, _ in results)
    assert home not in {backend for _, backend in results}
    assert lab.snapshot().session_losses == 0


async def test_no_affinity_loses_local_sessions(quiet_lab: Lab) -> None:
    lab = quiet_lab
    await lab.apply(Sessions("none"))
    user = User(lab, "bob")
    try:
        await user.login()
        statuses = [(await user.profile())[0] for _ in range(6)]
    finally:
        await user.close()
    assert statuses.count(401) >= 3  # two of three backends never saw the session
    assert lab.snapshot().session_losses == statuses.count(401)


async def test_generated_users_show_each_mode(quiet_lab: Lab) -> None:
    lab = quiet_lab
    await lab.apply(Sessions("none"))
    await lab.apply(Burst(200))
    assert lab.snapshot().session_losses > 20
    await lab.apply(Sessions("shared"))
    before = lab.snapshot().session_losses
    await lab.apply(Burst(200))
    assert lab.snapshot().session_losses == before
    await lab.apply(Sessions("header"))  # the generated users send X-User
    before = lab.snapshot().session_losses
    await lab.apply(Burst(100))  # each user logs in again where its header pins it
    await lab.apply(Burst(200))
    assert lab.snapshot().session_losses - before <= 20


async def test_redis_backed_sessions(redis_url: str) -> None:
    async with Lab(quiet(sessions=redis_url)) as lab:
        assert lab.snapshot().session_store_text.startswith("redis at 127.0.0.1")
        await lab.apply(Sticky(AffinityConfig()))
        user = User(lab, "cat")
        try:
            home = await user.login()
            await lab.apply(Kill(home))
            assert (await user.profile())[0] == 200
        finally:
            await user.close()


async def test_unreachable_redis_is_one_clear_error() -> None:
    lab = Lab(quiet(sessions="redis://127.0.0.1:1/0"))
    with pytest.raises(ConfigError, match=re.escape("cannot reach Redis at redis://127.0.0.1:1/0")):
        await lab.start()
    with pytest.raises(ConfigError, match="bad mode 'sticky': use none, cookie, ip, header or"):
        parse("sessions sticky")


@pytest.mark.parametrize(
    ("control", "says"),
    [
        ("sessions cookie", "L4 cannot see cookies or headers"),
        ("sticky cookie", "L4 cannot see cookies or headers"),
        ("sessions ip", "lbplay's L4 proxy keeps no affinity"),
        ("sticky ip/24", "a real L4 balancer can pin by source address"),
    ],
)
async def test_affinity_chosen_at_l4_says_it_waits_for_l7(control: str, says: str) -> None:
    async with Lab(quiet(mode="l4")) as lab:
        outcome = await lab.apply(control)
        assert says in outcome.event.watch
