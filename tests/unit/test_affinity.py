"""Session affinity: signed cookies, stick tables, re-pinning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbplay.core.affinity import (
    COOKIE,
    Affinity,
    AffinityConfig,
    cookie_values,
    without_cookie,
)
from lbplay.core.explore import VirtualClock
from lbplay.errors import ConfigError


def make(text: str, secret: bytes = b"k" * 32) -> tuple[Affinity, VirtualClock, VirtualClock]:
    clock, wall = VirtualClock(), VirtualClock(1_800_000_000.0)
    return (
        Affinity(AffinityConfig.parse(text), clock=clock, wall_clock=wall, secret=secret),
        clock,
        wall,
    )


def headers(**values: str) -> object:
    lowered = {k.lower().replace("_", "-"): v for k, v in values.items()}
    return lambda name: [lowered[name.lower()]] if name.lower() in lowered else []


def test_cookie_round_trip() -> None:
    affinity, _, _ = make("cookie")
    first = affinity.lookup("10.0.0.1", headers(), None)  # type: ignore[arg-type]
    assert (first.pinned, first.note) == (None, "no affinity cookie yet")
    note, cookie = affinity.bind(first, "s2")
    assert note == "no affinity cookie yet: pinned to s2"
    assert cookie is not None
    assert cookie.startswith(f"{COOKIE}=s2.")
    assert "HttpOnly" in cookie
    value = cookie.split(";")[0]
    again = affinity.lookup("10.0.0.1", headers(Cookie=f"a=1; {value}"), None)  # type: ignore[arg-type]
    assert (again.pinned, again.note) == ("s2", "cookie → s2")


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda v: v.replace("s2.", "s3.", 1), "bad signature"),
        (lambda v: v[:-1] + ("0" if v[-1] != "0" else "1"), "bad signature"),
        (lambda v: "garbage", "malformed"),
        (lambda v: "s2.notanumber.abc", "malformed"),
        (lambda v: "s1.1.\u00e9", "malformed"),  # found: a TypeError from compare_digest
        (lambda v: v[:-2] + "\u00e9", "malformed"),
        (lambda v: "s1.\u0663.abc", "malformed"),  # an Arabic-Indic digit is a digit to isdigit()
    ],
)
def test_tampered_cookies_are_re_picked(mangle: object, problem: str) -> None:
    affinity, _, _ = make("cookie")
    _, cookie = affinity.bind(affinity.lookup("c", headers(), None), "s2")  # type: ignore[arg-type]
    assert cookie is not None
    value = cookie.split(";")[0].split("=", 1)[1]
    bad = mangle(value)  # type: ignore[operator]
    lookup = affinity.lookup("c", headers(Cookie=f"{COOKIE}={bad}"), None)  # type: ignore[arg-type]
    assert lookup.pinned is None
    assert problem in lookup.note
    assert lookup.note.endswith("re-picked")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_cookie_value_is_a_pin_or_a_re_pick_never_an_error(value: str) -> None:
    affinity, _, _ = make("cookie")
    lookup = affinity.lookup("c", headers(Cookie=f"{COOKIE}={value}"), None)  # type: ignore[arg-type]
    assert lookup.pinned is None
    assert lookup.note.endswith("re-picked") or lookup.note == "no affinity cookie yet"


def test_expired_and_foreign_cookies() -> None:
    affinity, _, wall = make("cookie")
    _, cookie = affinity.bind(affinity.lookup("c", headers(), None), "s1")  # type: ignore[arg-type]
    assert cookie is not None
    value = cookie.split(";")[0]
    wall.advance(86_401)
    assert "expired" in affinity.lookup("c", headers(Cookie=value), None).note  # type: ignore[arg-type]
    other, _, _ = make("cookie", secret=b"z" * 32)
    foreign = other.lookup("c", headers(Cookie=value), None)  # type: ignore[arg-type]
    assert foreign.pinned is None
    assert "another run" in foreign.note


def test_repinning_says_the_session_was_lost() -> None:
    affinity, _, _ = make("cookie")
    _, cookie = affinity.bind(affinity.lookup("c", headers(), None), "s1")  # type: ignore[arg-type]
    assert cookie is not None
    lookup = affinity.lookup("c", headers(Cookie=cookie.split(";")[0]), None)  # type: ignore[arg-type]
    note, fresh = affinity.bind(lookup, "s3", repinned="s1")
    assert note == "pinned s1 unavailable: re-pinned to s3 (session lost there)"
    assert fresh is not None
    assert fresh.startswith(f"{COOKIE}=s3.")


def test_ip_affinity_full_address_and_slash_24() -> None:
    affinity, clock, _ = make("ip")
    affinity.bind(affinity.lookup("10.0.0.7", headers(), None), "s1")  # type: ignore[arg-type]
    assert affinity.lookup("10.0.0.7", headers(), None).pinned == "s1"  # type: ignore[arg-type]
    assert affinity.lookup("10.0.0.8", headers(), None).pinned is None  # type: ignore[arg-type]
    clock.advance(1_801)
    assert affinity.lookup("10.0.0.7", headers(), None).pinned is None  # type: ignore[arg-type]
    nat, _, _ = make("ip/24")
    nat.bind(nat.lookup("10.0.0.7", headers(), None), "s2")  # type: ignore[arg-type]
    neighbour = nat.lookup("10.0.0.200", headers(), None)  # type: ignore[arg-type]
    assert (neighbour.pinned, neighbour.note) == ("s2", "ip 10.0.0.0/24 → s2")


def test_header_and_query_affinity() -> None:
    affinity, _, _ = make("header:X-User")
    none = affinity.lookup("c", headers(), None)  # type: ignore[arg-type]
    assert none.key is None
    assert affinity.bind(none, "s1") == ("no X-User header: balanced normally", None)
    affinity.bind(affinity.lookup("c", headers(X_User="ann"), None), "s3")  # type: ignore[arg-type]
    assert affinity.lookup("d", headers(X_User="ann"), None).pinned == "s3"  # type: ignore[arg-type]
    by_query, _, _ = make("query:uid")
    by_query.bind(by_query.lookup("c", headers(), "a=1&uid=42"), "s2")  # type: ignore[arg-type]
    assert by_query.lookup("z", headers(), "uid=42").pinned == "s2"  # type: ignore[arg-type]


def test_cookie_helpers() -> None:
    assert cookie_values(["a=1; LB=x", "LB=y"], "LB") == ["x", "y"]
    assert without_cookie("a=1; LBPLAY_AFFINITY=s1.1.x; b=2", COOKIE) == "a=1; b=2"


@pytest.mark.parametrize("text", ["sticky", "header", "header:bad name", "query:"])
def test_bad_modes(text: str) -> None:
    with pytest.raises(ConfigError):
        AffinityConfig.parse(text)
