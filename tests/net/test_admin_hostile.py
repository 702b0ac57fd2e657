"""The admin API under hostile input: arbitrary bodies, headers and paths, with and
without the token — never a 500, never a traceback in the log, and nothing changes
without the token."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lbplay.model import controls
from lbplay.net.admin import AdminApi
from lbplay.net.lab import Lab
from tests.labs import quiet

FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and ±Infinity included: Python's json writes and reads them
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
#: Bodies shaped like controls: a real name, real and made-up fields, any values.
CONTROL_LIKE = st.builds(
    lambda name, fields: {"control": name, **fields},
    st.sampled_from([*controls.control_names(), "max_conns", "pool_add", "nope"]),
    st.dictionaries(
        st.sampled_from(["backend", "ms", "rate", "count", "limit", "weight", "mode", "rules",
                         "options", "off", "name", "preset", "scale", "store", "x"]),
        JSON,
        max_size=4,
    ),
)  # fmt: skip


class Errors(logging.Handler):
    """Collects every ERROR (and worse) logged while it is installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged_errors() -> Iterator[Errors]:
    errors = Errors()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        yield errors
    finally:
        root.removeHandler(errors)


@pytest.fixture
async def admin() -> AsyncIterator[AdminApi]:
    async with Lab(quiet(backends=2)) as lab, AdminApi(lab) as api:
        yield api


def fingerprint(lab: Lab) -> Any:
    """What a change would alter."""
    view = lab.snapshot()
    return (
        [(b.name, b.weight, b.process, b.admin, b.max_conns, b.slow_ms) for b in view.backends],
        view.algorithm,
        view.mode,
        view.rate,
        view.paused,
        view.sticky,
        view.routes,
        view.health_name,
    )  # fmt: skip


async def raw(admin: AdminApi, request: bytes) -> bytes:
    """Send bytes as they are; the whole answer (the server closes or answers once)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", admin.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def post(path: bytes, body: bytes, authorization: bytes | None) -> bytes:
    auth = b"Authorization: " + authorization + b"\r\n" if authorization is not None else b""
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n" + auth
        + b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
        + b"\r\n\r\n" + body
    )  # fmt: skip


@FAST
@given(body=JSON | CONTROL_LIKE)
async def test_any_json_body_with_the_token_is_answered_never_500(
    admin: AdminApi, logged_errors: Errors, body: Any
) -> None:
    text = json.dumps(body, allow_nan=True).encode()
    answer = await raw(admin, post(b"/control", text, f"Bearer {admin.token}".encode()))
    assert status_of(answer) in (200, 400, 404), answer
    assert logged_errors.records == []
    if status_of(answer) == 200:  # a real control got through: put the lab back
        await admin.lab.apply(controls.Reset())


@FAST
@given(body=JSON | CONTROL_LIKE, path=st.sampled_from([b"/control", b"/backends/s1/kill"]))
async def test_without_the_token_nothing_changes(
    admin: AdminApi, logged_errors: Errors, body: Any, path: bytes
) -> None:
    before = fingerprint(admin.lab)
    text = json.dumps(body, allow_nan=True).encode()
    answer = await raw(admin, post(path, text, None))
    assert status_of(answer) == 401
    assert fingerprint(admin.lab) == before
    assert logged_errors.records == []


@FAST
@given(token=st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")))
async def test_any_authorization_bytes_are_401_or_400(
    admin: AdminApi, logged_errors: Errors, token: bytes
) -> None:
    before = fingerprint(admin.lab)
    answer = await raw(admin, post(b"/control", b'{"control": "pause"}', b"Bearer " + token))
    assert status_of(answer) in (400, 401), answer
    assert fingerprint(admin.lab) == before
    assert logged_errors.records == []


@FAST
@given(
    name=st.text(min_size=1, max_size=40),
    control=st.text(min_size=1, max_size=20) | st.sampled_from(controls.control_names()),
    body=JSON,
)
async def test_any_path_segments_are_answered_never_500(
    admin: AdminApi, logged_errors: Errors, name: str, control: str, body: Any
) -> None:
    async with aiohttp.ClientSession() as session:
        url = aiohttp.client.URL(admin.url).with_path(f"/backends/{name}/{control}")
        headers = {"Authorization": f"Bearer {admin.token}"}
        data = json.dumps(body, allow_nan=True)
        async with session.post(url, data=data, headers=headers) as response:
            assert response.status in (200, 400, 404, 405), await response.text()
            if response.status == 200:
                await admin.lab.apply(controls.Reset())
    assert logged_errors.records == []


async def test_the_probes_reproductions(admin: AdminApi, logged_errors: Errors) -> None:
    """The exact requests the hostile-input probe found answered 500 or logged."""
    token = f"Bearer {admin.token}".encode()
    assert status_of(await raw(admin, post(b"/control", b"{}", b"Bearer \xff"))) == 401
    for body in (
        b'{"control": "burst", "count": NaN}',
        b'{"control": "burst", "count": Infinity}',
        b'{"control": "passive", "max_fails": {"counts": 5}}',
        b'{"control": "passive", "max_fails": [[1]]}',
        b'{"control": "add", "name": "s9\\n"}',
    ):
        assert status_of(await raw(admin, post(b"/control", body, token))) == 400, body
    long_header = post(b"/control", b"{}", b"Bearer " + b"a" * 10_000)
    assert status_of(await raw(admin, long_header)) == 400
    assert logged_errors.records == []
    assert math.isfinite(admin.lab.snapshot().rate)
