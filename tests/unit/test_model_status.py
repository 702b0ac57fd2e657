"""A backend's state in words, rendered once from its structured fields."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lbplay.model.snapshot import BackendView
from lbplay.model.status import balancer_label, health_label, state_parts, state_text, worst

UP = BackendView("s1")


def test_a_killed_backend_reads_killed_until_the_checker_notices() -> None:
    view = replace(UP, process="killed", failing=2, fall=3)
    assert [(p.text, p.level) for p in state_parts(view)] == [
        ("killed", "bad"),
        ("UP, failing 2/3", "warn"),
    ]
    assert state_text(view) == "killed · UP, failing 2/3"
    assert worst(state_parts(view)) == "bad"


@pytest.mark.parametrize(
    ("changes", "text", "level"),
    [
        ({"health": "DOWN", "eligible": False}, "DOWN", "bad"),
        ({"health": "DOWN", "recovering": 1, "rise": 2}, "DOWN, recovering 1/2", "warn"),
        ({"admin": "draining"}, "draining", "warn"),
        ({"admin": "drained"}, "drained", "off"),
        ({"admin": "disabled"}, "disabled", "off"),
        ({"passive": "ejected"}, "ejected", "bad"),
        ({"passive": "unavailable"}, "unavailable", "bad"),
        ({"slow_start": 0.4}, "slow start 40%", "warn"),
        ({"full": True}, "full", "warn"),
        ({"backup": True, "eligible": False}, "backup", "info"),
        ({"backup": True, "eligible": True}, "backup (in use)", "info"),
        ({"health": None}, "up (no checks)", "ok"),
        ({}, "UP", "ok"),
    ],
)
def test_each_state_reads_one_way(changes: dict[str, object], text: str, level: str) -> None:
    view = replace(UP, **changes)  # type: ignore[arg-type]
    part = state_parts(view)[0]
    assert (part.text, part.level) == (text, level)


def test_a_drained_backend_that_also_fails_its_checks_says_both() -> None:
    view = replace(UP, admin="drained", health="DOWN")
    assert state_text(view) == "drained · DOWN"
    assert balancer_label(view) == "drained"
    assert health_label(view) == "DOWN"


def test_panic_marks_unhealthy_backends_that_still_get_traffic() -> None:
    view = replace(UP, health="DOWN", eligible=True, panic=True)
    parts = state_parts(view)
    assert (parts[-1].text, parts[-1].level) == ("panic: still gets traffic", "panic")
    assert worst(parts) == "panic"
