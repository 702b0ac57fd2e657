"""The control vocabulary: one text form, one JSON form, one error per mistake."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lbplay.core import registry
from lbplay.core.affinity import AffinityConfig
from lbplay.core.routing import Rule
from lbplay.errors import ConfigError, UnknownBackend
from lbplay.model import controls
from lbplay.model.control_args import Arg, Names
from lbplay.model.controls import (
    CONTROLS,
    EXAMPLES,
    Algorithm,
    Control,
    Health,
    Kill,
    Slow,
    from_json,
    parse,
    usage,
)

ALL = sorted({cls.NAME: cls for cls in CONTROLS.values()}.items())


def test_every_control_has_an_example_that_parses_and_round_trips() -> None:
    assert set(EXAMPLES) == {name for name, _ in ALL}
    for name, text in EXAMPLES.items():
        control = parse(text)
        assert name == control.NAME
        assert parse(control.text()) == control
        assert from_json(control.to_json()) == control


def test_the_issues_examples() -> None:
    assert parse("kill s2") == Kill("s2")
    assert parse("slow s3 300") == Slow("s3", 300.0)
    assert parse("weight api-1 5").to_json() == {
        "control": "weight",
        "backend": "api-1",
        "weight": 5,
    }
    assert parse("algorithm weighted_round_robin --pool api") == Algorithm(
        "weighted_round_robin", {}, "api"
    )
    assert parse("route path=/api->api").text() == "routes 'path=/api->api'"


def test_arguments_by_position_or_by_name() -> None:
    assert parse("slow s3 --ms 300") == parse("slow --backend s3 300") == Slow("s3", 300)
    assert parse(["slow", "s3", "--ms=300"]) == Slow("s3", 300)
    assert parse("algorithm ring_hash -o vnodes=100 -o seed=3").options == {
        "vnodes": 100,
        "seed": 3,
    }
    assert parse("health --fall 5") == Health(fall=5)
    assert parse("errors s1 25%").rate == 0.25  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no control given (controls: kill, revive"),
        ("frob s1", "no control 'frob' (controls: kill"),
        ("pool", "pool needs add or remove"),
        ("kill", "kill needs BACKEND: kill BACKEND"),
        ("kill s1 s2", "kill: unexpected 's2'; usage: kill BACKEND"),
        ("kill s1 --force", "kill has no option '--force' (options: --backend)"),
        ("kill 'a b'", "bad backend name 'a b'"),
        ("kill 'é'", "bad backend name 'é'"),
        ("kill 's9\n'", "bad backend name 's9\\n'"),
        ("slow s1 inf", "bad slow delay 'inf': use a number of milliseconds from 0 to 60000"),
        ("slow s1 nan", "bad slow delay 'nan'"),
        ("slow s1 -5", "bad slow delay -5.0"),
        ("slow s1 --ms", "--ms needs a value"),
        ("weight s1 1.5", "bad weight '1.5': use a whole number from 1 to 1000"),
        ("weight s1 +3", "bad weight '+3'"),
        ("errors s1 2", "bad error rate 2.0: use a number from 0 to 1"),
        ("max-conns s1 zero", "bad limit 'zero'"),
        ("mode l3", "bad mode 'l3': use l7 or l4"),
        ("algorithm leastconn", "did you mean least_connections"),
        ("algorithm ring_hash -o vnodes", "bad option 'vnodes': use NAME=VALUE"),
        ("algorithm ring_hash -o vnodes=lots", "bad value 'lots' for option 'vnodes'"),
        ("algorithm ring_hash -o vnodes=inf", "bad value 'inf' for option 'vnodes'"),
        ("health off --scale 2", "health off takes no other setting"),
        ("health --path x", "bad health check path 'x'"),
        ("hang s1 --off=yes", "--off takes no value"),
        ("routes nonsense", "bad route 'nonsense'"),
        ("sticky glue", "unknown sticky mode 'glue'"),
        ("store memcached://x", "bad session store 'memcached://x'"),
        ("logins maybe", "bad logins 'maybe': use on or off"),
        ("burst 99999", "bad burst size 99999: use a whole number of requests from 1 to 5000"),
        ("latency s1 fixed 10 --high 20", "--high is for uniform latency"),
        ('kill "s1', "cannot read 'kill \"s1'"),
    ],
)
def test_one_clear_error_per_mistake(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value).replace("\\n", "")


def test_names_check_backends_before_anything_is_sent() -> None:
    names = Names(("s1", "s2", "s3"), ("default",))
    with pytest.raises(UnknownBackend, match=r"no backend 's9' \(backends: s1, s2, s3\)"):
        parse("kill s9", names)
    assert parse("add s9", names).text() == "add s9"  # a new name is not a known one


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1], "a control is a JSON object"),
        ({}, "'control' must name a control"),
        ({"control": "frob"}, "no control 'frob'"),
        ({"control": "kill"}, "kill needs 'backend'"),
        ({"control": "kill", "backend": "s1", "x": 1}, "kill has no field 'x' (backend)"),
        ({"control": "kill", "backend": 3}, "kill: 'backend': 'backend' must be a string"),
        ({"control": "burst", "count": math.nan}, "burst: 'count': bad burst size nan"),
        ({"control": "burst", "count": math.inf}, "burst: 'count': bad burst size inf"),
        ({"control": "burst", "count": True}, "bad burst size True"),
        ({"control": "slow", "backend": "s1", "ms": "300"}, "slow: 'ms': bad slow delay '300'"),
        ({"control": "hang", "backend": "s1", "off": "yes"}, "'off' must be true or false"),
        ({"control": "algorithm", "algorithm": "maglev", "options": [[1]]}, "NAME: VALUE"),
        ({"control": "algorithm", "algorithm": "maglev", "options": {"x": math.nan}}, "finite"),
        ({"control": "routes", "rules": "path=/x->y"}, "must be a list of rules"),
        ({"control": "passive", "max_fails": {"counts": 5}}, "passive: 'max_fails'"),
    ],
)
def test_json_mistakes_name_the_field(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_json(data)
    assert message in str(caught.value)


def test_json_names_in_either_spelling() -> None:
    assert from_json({"control": "max_conns", "backend": "s1", "limit": None}).NAME == "max-conns"
    assert from_json({"control": "pool_add", "name": "api"}).NAME == "pool add"
    assert from_json({"control": "Slow-Start", "seconds": 5}).NAME == "slow-start"


def test_usage_lines_come_from_the_fields() -> None:
    assert usage(Slow) == "slow BACKEND MS"
    assert usage(controls.Drain) == "drain BACKEND [--timeout TIMEOUT]"
    assert usage(Algorithm) == "algorithm ALGORITHM [-o NAME=VALUE]... [--pool POOL]"
    assert usage(controls.Routes) == "routes [RULES...]"
    assert usage(controls.Hang) == "hang BACKEND [--off]"


def test_every_control_says_what_it_does_and_acts_on_a_backend_or_not() -> None:
    for _, cls in ALL:
        assert cls.HELP[:1].isupper(), cls.NAME
        assert cls.GROUP in controls.GROUPS
        backend_args = [a for a in cls.ARGS if a.kind == "backend"]
        assert (cls.BACKEND is not None) == bool(backend_args), cls.NAME


# -- any control survives both forms ------------------------------------------------------

NAMES = st.from_regex(r"[a-z][a-z0-9\-]{0,8}", fullmatch=True)


def value_for(arg: Arg) -> st.SearchStrategy[Any]:
    if arg.kind in ("backend", "pool", "name"):
        return NAMES
    if arg.kind == "number":
        high = min(arg.high, 1e6)
        return st.floats(arg.low, high, allow_nan=False).map(lambda x: float(f"{x:g}"))
    if arg.kind == "whole":
        return st.integers(int(arg.low), int(min(arg.high, 10**6)))
    if arg.kind == "fraction":
        return st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0])
    if arg.kind == "limit":
        return st.none() | st.integers(1, 1000)
    if arg.kind in ("switch", "flag"):
        return st.booleans()
    if arg.kind == "choice":
        return st.sampled_from(arg.choices)
    if arg.kind == "algorithm":
        return st.sampled_from(registry.names())
    if arg.kind == "options":
        return st.dictionaries(st.sampled_from(["vnodes", "factor"]), st.integers(1, 500))
    if arg.kind == "rules":
        return st.lists(
            st.builds(lambda p, pool: Rule(pool, path=f"/{p}"), NAMES, NAMES), max_size=3
        ).map(tuple)
    if arg.kind == "sticky":
        return st.sampled_from(["none", "cookie", "ip", "ip/24", "header:X-User"]).map(
            AffinityConfig.parse
        )
    if arg.kind == "store":
        return st.sampled_from(["memory", "redis://127.0.0.1:6379/0"])
    if arg.kind == "text":
        return st.from_regex(r"/[a-z]{0,8}", fullmatch=True)
    if arg.kind == "statuses":
        return st.frozensets(st.sampled_from([429, 500, 502, 503, 504]), max_size=3)
    raise AssertionError(arg.kind)


@st.composite
def any_control(draw: st.DrawFn) -> Control:
    _, cls = draw(st.sampled_from(ALL))
    values = {}
    for arg in cls.ARGS:
        if arg.required or draw(st.booleans()):
            values[arg.name] = draw(value_for(arg))
    if cls is Health:
        if values.get("preset") == "off":
            values = {"preset": "off"}
        values["path"] = None
    if cls is controls.Latency:
        uniform = values.get("kind") == "uniform"
        values["high"] = max(values.get("high", 0.0), values["ms"]) if uniform else 0.0
    return cls(**values)


@settings(max_examples=300, deadline=None)
@given(any_control())
def test_any_control_round_trips_through_text_and_json(control: Control) -> None:
    assert parse(control.text()) == control
    assert from_json(control.to_json()) == control


def test_adding_a_backend_says_how_many_keys_the_engine_moves() -> None:
    """Found: the hint promised 1/N movement for every hashing algorithm, including
    ip_hash and modulo hashing, which move most keys."""
    from lbplay.model.narration import added_watch

    four = [("s1", 1), ("s2", 1), ("s3", 1), ("s4", 1)]
    assert added_watch("s5", "hash_modulo", four).startswith("hash_modulo moves 8")
    assert "client networks" in added_watch("s5", "ip_hash", four)
    assert added_watch("s5", "maglev", four).startswith("maglev moves 2")
    assert "fewest possible is 20%" in added_watch("s5", "jump_hash", four)
