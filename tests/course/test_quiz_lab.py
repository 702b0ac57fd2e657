"""The proof that computed quiz answers are right: generated questions replayed on a
real Lab over HTTP.

* picks: a sample of generated pick questions (round robin, smooth weighted round
  robin, nginx ip_hash, hash algorithms on a user id) sent as real requests through
  the proxy; the backend that answered (``X-Lbplay-Backend``, and the fake backend's
  own ``X-Backend``) must be the quiz's answer, one request after another;
* sessions: for every session mode, a user logs in, their server is killed, and what
  they see next must be what the ``session_death`` generator says.

Pick questions about requests held in flight (least connections, least response time)
are computed by the same ``Balancer`` the proxy runs; replaying them would need
requests held open for the length of the test, so they are checked against the rule
they state in ``test_quiz_generators.py`` instead.
"""

from __future__ import annotations

import random

import aiohttp
import pytest

from lbplay.course import generators
from lbplay.course.answers import Drawn
from lbplay.model.config import ProxyConfig
from lbplay.model.controls import Kill, Sessions
from lbplay.model.narration import SESSION_MODES
from lbplay.model.wire import BACKEND_HEADER, FAKE_BACKEND_HEADER
from lbplay.net.lab import Lab
from tests.labs import quiet

#: The algorithms whose generated questions replay as plain requests, one at a time.
REPLAYED = ["round_robin", "weighted_round_robin", "ip_hash", "ring_hash", "maglev", "rendezvous"]
HASH_HEADER = "X-User"


def sample() -> list[Drawn]:
    """Generated pick questions: a few of each replayable algorithm."""
    params = generators.resolve("picks", {"algorithms": REPLAYED, "backends": [2, 5]})
    questions = [generators.draw("picks", params, random.Random(seed)) for seed in range(60)]
    chosen: list[Drawn] = []
    for algorithm in REPLAYED:
        chosen += [q for q in questions if q.params["algorithm"] == algorithm][:3]
    return chosen


async def served(client: aiohttp.ClientSession, lab: Lab, headers: dict[str, str]) -> str:
    async with client.get(lab.proxy_url + "/", headers=headers) as response:
        await response.read()
        assert response.status == 200
        proxy_says = response.headers[BACKEND_HEADER]
        assert proxy_says == response.headers[FAKE_BACKEND_HEADER]  # one attempt, this one
        return proxy_says


async def test_generated_picks_are_what_a_real_lab_serves() -> None:
    questions = sample()
    assert {q.params["algorithm"] for q in questions} == set(REPLAYED)
    proxy = ProxyConfig(hash_header=HASH_HEADER, trusted_proxies=("127.0.0.0/8",))
    async with Lab(quiet(proxy=proxy)) as lab, aiohttp.ClientSession() as client:
        for question in questions:
            params = question.params
            await lab.reconfigure(
                quiet(backends=params["backends"], algorithm=params["algorithm"], proxy=proxy)
            )
            assert question.predicted is not None
            answer = question.predicted[1].value
            headers: dict[str, str] = {}
            if "first" in params:  # the request the question says went first
                first = params["first"]
                first_headers = (
                    {"X-Forwarded-For": first["client_ip"]}
                    if "client_ip" in first
                    else {HASH_HEADER: first["key"]}
                )
                assert await served(client, lab, first_headers) == first["backend"]
                headers = (
                    {"X-Forwarded-For": params["client_ip"]}
                    if "client_ip" in params
                    else {HASH_HEADER: params["key"]}
                )
            got = [await served(client, lab, headers) for _ in answer]
            assert got == answer, (params, question.text)


class User:
    """A browser with its own cookie jar (and an X-User header, for header affinity)."""

    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name
        self.client = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"X-User": name}
        )

    async def login(self) -> str:
        async with self.client.post(f"{self.lab.proxy_url}/login?user={self.name}") as response:
            assert response.status == 200
            return str((await response.json())["backend"])

    async def profile(self) -> tuple[int, str]:
        async with self.client.get(f"{self.lab.proxy_url}/profile") as response:
            await response.read()
            return response.status, response.headers.get(FAKE_BACKEND_HEADER, "")


@pytest.mark.parametrize("mode", list(SESSION_MODES))
async def test_what_a_user_sees_per_session_mode_is_what_the_quiz_says(mode: str) -> None:
    outcome = generators.session_outcome(mode)
    async with Lab(quiet()) as lab:
        await lab.apply(Sessions(mode))
        user = User(lab, "alice")
        try:
            home = await user.login()
            before = [await user.profile() for _ in range(6)]
            if outcome == "spread":
                # no affinity: the other two backends never saw the session
                assert sum(status == 401 for status, _ in before) >= 3
                return
            if outcome == "lost":
                assert before == [(200, home)] * 6  # pinned to its home
            else:
                assert [status for status, _ in before] == [200] * 6  # any backend will do
            await lab.apply(Kill(home))
            after = [await user.profile() for _ in range(3)]
        finally:
            await user.client.close()
    assert all(backend != home for _, backend in after)
    if outcome == "lost":
        # re-pinned to a live backend, which does not know the session
        assert after[0][0] == 401
    else:
        assert [status for status, _ in after] == [200, 200, 200]
