"""Content routing to pools and session affinity, end to end through the Lab."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from lbplay.core.affinity import COOKIE, AffinityConfig
from lbplay.core.events import RequestCompleted
from lbplay.errors import ConfigError
from lbplay.model.config import PoolSpec
from lbplay.model.controls import Algorithm, Kill, Mode, PoolRemove
from lbplay.net.lab import Lab
from tests.labs import quiet
from tests.net.waiting import EventWaiter


async def served_by(session: aiohttp.ClientSession, url: str, **kwargs: object) -> tuple[int, str]:
    async with session.get(url, **kwargs) as response:  # type: ignore[arg-type]
        await response.read()
        return response.status, response.headers.get("X-Backend", "")


async def test_routes_send_requests_to_pools() -> None:
    lab_config = quiet(
        pools=(PoolSpec("api", 2, "least_connections"), PoolSpec("admin", 1)),
        routes=(),
    )
    async with Lab(lab_config) as lab:
        await lab.apply("routes 'path=/api->api' 'path=/admin,method=GET->admin'")
        waiter = EventWaiter()
        lab.subscribe(waiter.publish)
        async with aiohttp.ClientSession() as session:
            base = lab.proxy_url
            assert (await served_by(session, base + "/api/users"))[1].startswith("api-")
            assert (await served_by(session, base + "/admin"))[1] == "admin-1"
            raw = URL(base + "/public/../admin", encoded=True)  # sent as is, not normalised
            assert (await served_by(session, raw))[1] == "admin-1"
            assert (await served_by(session, base + "/apis"))[1].startswith("s")
            status, _ = await served_by(session, URL(base + "/public%2F..%2Fadmin", encoded=True))
            assert status == 400
        event = await waiter.wait(lambda e: isinstance(e, RequestCompleted) and e.path == "/admin")
        assert isinstance(event, RequestCompleted)
        assert event.route == "rule method=GET,path=/admin->admin matched /admin"
        view = lab.snapshot()
        assert {name: pool.algorithm for name, pool in view.pools.items()} == {
            "default": "round_robin",
            "api": "least_connections",
            "admin": "round_robin",
        }
        assert {b.pool for b in view.backends} == {"default", "api", "admin"}
        with pytest.raises(ConfigError, match="no pool named nope"):
            await lab.apply("routes 'path=/x->nope'")
        with pytest.raises(ConfigError, match="routes still send requests to admin"):
            await lab.apply(PoolRemove("admin"))
        await lab.apply(Algorithm("maglev", pool="api"))
        assert lab.snapshot().pools["api"].algorithm == "maglev"


async def test_cookie_affinity_keeps_a_client_on_one_backend(quiet_lab: Lab) -> None:
    lab = quiet_lab
    await lab.apply("sticky cookie")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        seen = [(await served_by(session, lab.proxy_url + "/x"))[1] for _ in range(30)]
        assert len(set(seen)) == 1
        pinned = seen[0]
        echo = await (await session.get(lab.proxy_url + "/echo")).json()
        assert COOKIE not in echo["headers"].get("Cookie", "")  # never forwarded
        await lab.apply(Kill(pinned))
        after = [(await served_by(session, lab.proxy_url + "/x"))[1] for _ in range(5)]
    assert pinned not in after
    assert len(set(after)) == 1  # re-pinned to one other backend
    events = [e for e in lab.recent if isinstance(e, RequestCompleted)]
    assert any("re-pinned" in e.session for e in events)
    cookies = [c.value for c in jar if c.key == COOKIE]
    assert cookies
    assert cookies[0].startswith(after[0] + ".")


async def test_tampered_cookie_is_repicked_not_an_error(quiet_lab: Lab) -> None:
    lab = quiet_lab
    await lab.apply("sticky cookie")
    async with aiohttp.ClientSession() as session:
        headers = {"Cookie": f"{COOKIE}=s2.9999999999.0000"}
        async with session.get(lab.proxy_url, headers=headers) as response:
            assert response.status == 200
            assert COOKIE in response.headers["Set-Cookie"]
    event = [e for e in lab.recent if isinstance(e, RequestCompleted)][-1]
    assert "bad signature" in event.session


async def test_ip_and_header_affinity(quiet_lab: Lab) -> None:
    lab = quiet_lab
    await lab.apply("sticky ip")
    homes = set()
    for address in ("127.0.9.9", "127.0.10.9", "127.0.11.9", "127.0.12.9"):
        connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            seen = {(await served_by(session, lab.proxy_url))[1] for _ in range(10)}
        assert len(seen) == 1  # each distinct source address sticks to one backend
        homes |= seen
    assert len(homes) > 1  # and different addresses are balanced across backends
    await lab.apply("sticky header:X-User")
    async with aiohttp.ClientSession() as session:
        ann = {
            (await served_by(session, lab.proxy_url, headers={"X-User": "ann"}))[1]
            for _ in range(10)
        }
        spread = Counter([(await served_by(session, lab.proxy_url))[1] for _ in range(9)])
    assert len(ann) == 1
    assert len(spread) == 3  # no header: balanced normally


async def test_l4_says_rules_and_cookies_cannot_apply() -> None:
    async with Lab(quiet(pools=(PoolSpec("api", 1),))) as lab:
        await lab.apply("routes 'path=/api->api'")
        await lab.apply("sticky cookie")
        await lab.apply(Mode("l4"))
        text = lab.events.recent[-1].text
        assert "Ignored until you switch back: 1 routing rule(s), cookie stickiness" in text
        await lab.apply("routes")
        assert "rules apply once you switch to L7" not in lab.events.recent[-1].text


def test_pool_specs() -> None:
    assert PoolSpec.parse("api=3:maglev") == PoolSpec("api", 3, "maglev")
    with pytest.raises(ConfigError, match="NAME=COUNT"):
        PoolSpec.parse("api")
    with pytest.raises(ConfigError, match="default pool"):
        PoolSpec("default")
    assert json.dumps({"ok": True})


@pytest.fixture
async def sticky_lab() -> AsyncIterator[Lab]:
    async with Lab(quiet(sticky=AffinityConfig.parse("cookie"))) as lab:
        yield lab


def one_line(data: bytes) -> bytes:
    return data.replace(b"\r", b"").replace(b"\n", b"")


#: Any bytes, and bytes shaped like an affinity cookie (backend.expiry.signature).
LINE_BYTES = st.one_of(
    st.binary(max_size=120),
    st.builds(
        lambda name, expiry, mac: b".".join((name, expiry, mac)),
        st.sampled_from([b"s1", b"s2", b"s9", b""]),
        st.sampled_from([b"1", b"99999999999", b"-1", b""]) | st.binary(max_size=6),
        st.binary(max_size=40) | st.text(max_size=20).map(str.encode),  # UTF-8 is forwarded
    ),
).map(one_line)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=LINE_BYTES,
    header=st.sampled_from([b"Cookie: LBPLAY_AFFINITY=", b"Cookie: ", b"X-User: "]),
)
async def test_any_cookie_or_header_bytes_get_an_answer(
    sticky_lab: Lab, value: bytes, header: bytes
) -> None:
    """Found: a cookie with a non-ASCII signature killed the connection with a
    traceback. Whatever the bytes, the client gets a 4xx (the head is refused) or a
    fresh pick with a new cookie — never a connection dropped without an answer."""
    port = int(sticky_lab.proxy_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n" + header + value + b"\r\n\r\n"
        )
        answer = await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 "), answer
    status = int(answer.split(b" ", 2)[1])
    assert status == 200 or 400 <= status < 500, answer
    if status == 200:
        assert b"Set-Cookie: LBPLAY_AFFINITY=" in answer
