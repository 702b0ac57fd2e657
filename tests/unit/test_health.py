"""Active health: the state machine, its thresholds, presets and evidence."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbplay.core.health import PRESETS, HealthCheckConfig, HealthState, preset
from lbplay.errors import ConfigError


def state(rise: int = 2, fall: int = 3) -> HealthState:
    return HealthState("s2", HealthCheckConfig(rise=rise, fall=fall))


def test_exactly_fall_failures_take_it_down_with_evidence() -> None:
    health = state()
    assert health.record(False, "timeout", 1.0) is None
    assert health.label == "UP, failing 1/3"
    assert health.record(False, "timeout", 2.0) is None
    assert health.label == "UP, failing 2/3"
    transition = health.record(False, "connection refused", 3.0)
    assert transition is not None
    assert (transition.old, transition.new) == ("UP", "DOWN")
    assert transition.evidence == (
        "s2 DOWN after 3 consecutive failures: timeout, timeout, connection refused"
    )
    assert health.label == "DOWN"


def test_exactly_rise_successes_bring_it_back() -> None:
    health = state()
    for t in range(3):
        health.record(False, "timeout", t)
    assert health.record(True, "200", 4.0) is None
    assert health.label == "DOWN, recovering 1/2"
    transition = health.record(True, "200", 5.0)
    assert transition is not None
    assert transition.new == "UP"
    assert transition.evidence == "s2 UP after 2 consecutive successes"


def test_a_success_resets_the_failure_count() -> None:
    health = state()
    health.record(False, "timeout", 1.0)
    health.record(False, "timeout", 2.0)
    health.record(True, "200", 3.0)
    assert health.label == "UP"
    health.record(False, "timeout", 4.0)
    health.record(False, "timeout", 5.0)
    assert health.status == "UP"


def test_flapping_every_other_check_never_changes_haproxy_state() -> None:
    health = HealthState("s1", PRESETS["haproxy"])
    for t in range(100):
        assert health.record(t % 2 == 0, "200" if t % 2 == 0 else "timeout", t) is None


@given(
    rise=st.integers(1, 5),
    fall=st.integers(1, 5),
    results=st.lists(st.booleans(), max_size=200),
)
def test_transitions_need_their_threshold_of_checks(
    rise: int, fall: int, results: list[bool]
) -> None:
    """Between two changes there are at least fall (to DOWN) or rise (to UP) checks, so
    a full DOWN-and-back cycle takes at least rise + fall checks."""
    health = state(rise, fall)
    last_change = 0
    for number, ok in enumerate(results, start=1):
        transition = health.record(ok, "200" if ok else "timeout", number)
        if transition is not None:
            needed = fall if transition.new == "DOWN" else rise
            assert number - last_change >= needed
            last_change = number


def test_presets_have_the_real_values_and_scale() -> None:
    alb = preset("aws-alb")
    assert (alb.interval, alb.timeout, alb.rise, alb.fall) == (30.0, 5.0, 5, 2)
    haproxy = preset("haproxy")
    assert (haproxy.interval, haproxy.rise, haproxy.fall) == (2.0, 2, 3)
    assert (preset("nginx-plus").interval, preset("nginx-plus").rise) == (5.0, 1)
    fast = preset("aws-alb", 0.1)
    assert (fast.interval, fast.timeout, fast.rise, fast.fall) == (3.0, 0.5, 5, 2)
    assert fast.name == "aws-alb ×0.1"
    assert preset("playground").detection_time == pytest.approx(3.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, "interval"),
        ({"rise": 0}, "rise"),
        ({"fall": 101}, "fall"),
        ({"path": "health"}, "path"),
        ({"expect": frozenset({999})}, "statuses"),
    ],
)
def test_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HealthCheckConfig(**kwargs)  # type: ignore[arg-type]


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="presets: playground, haproxy"):
        preset("f5")


def test_detection_is_quicker_for_a_refused_probe_than_a_hung_one() -> None:
    playground = preset("playground")
    assert playground.refused_time == pytest.approx(3.0)
    assert playground.detection_time == pytest.approx(3.5)
    assert playground.noticed() == "within 3 s if it refuses connections, 3.5 s if it hangs"
