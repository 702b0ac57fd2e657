"""Proving a design on the Lab: the incident script read strictly, the scorecard's
numbers defined exactly (recovery above all), short real runs on a Lab, and — in the
slow suite — the explainer's own prompt proven for a weak design and the model one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from lbplay.course.checks import Finished
from lbplay.course.design import KeyedError, loads
from lbplay.course.interview import find_prompt, load_prompts
from lbplay.course.prove import (
    Incident,
    ProveProgress,
    Step,
    keys_moved,
    parse_incident,
    per_second,
    play,
    prove,
    recovery,
    rows,
    server_count,
)


def request(at: float, status: int = 200, seq: int = 0) -> Finished:
    return Finished(seq, at, "s1", status, 0.01, False, 10)


def steady(
    start: float, end: float, per_second_: int, errors_at: tuple[float, ...] = ()
) -> list[Finished]:
    """Requests every 1/per_second_ s from ``start`` to ``end``; 500s at ``errors_at``."""
    gap = 1 / per_second_
    out = [request(start + i * gap) for i in range(int((end - start) / gap))]
    out += [request(at, 500) for at in errors_at]
    return sorted(out, key=lambda r: r.at)


def test_no_bad_window_is_no_recovery_time() -> None:
    assert recovery(steady(10.0, 19.0, 100), 10.0, 19.0) == 0.0


def test_recovery_ends_where_the_last_bad_window_starts() -> None:
    # Errors every 0.1 s from 11.0 to 12.9, at 100 requests/s. A window holding two of
    # them is at 2%; one holding only the last is at 1 in 101, below 1%: so the last
    # bad window starts at 12.8 (give or take one 0.05 s step).
    errors = tuple(11.0 + i / 10 for i in range(20))
    assert recovery(steady(10.0, 19.0, 100, errors), 10.0, 19.0) == pytest.approx(2.8, abs=0.051)


def test_a_lone_error_below_one_percent_does_not_count() -> None:
    # One error among ~200 requests a second is 0.5%: never a bad window.
    assert recovery(steady(10.0, 19.0, 200, (12.0,)), 10.0, 19.0) == 0.0


def test_errors_until_the_end_are_not_recovered() -> None:
    errors = tuple(14.0 + i / 10 for i in range(50))
    assert recovery(steady(10.0, 19.0, 100, errors), 10.0, 19.0) is None


def test_per_second_buckets() -> None:
    buckets = per_second(steady(0.0, 3.0, 10, (0.5, 2.2)), 0.0, 3.004)
    assert buckets == ((11, 1), (10, 0), (11, 1))


@pytest.mark.parametrize(
    ("spec", "total", "count"),
    [
        ("1/3", 10, 3),
        ("1/3", 6, 2),
        ("1/3", 12, 4),
        ("1/2", 3, 2),
        ("1/10", 3, 1),
        ("2", 6, 2),
        ("9", 4, 4),
        ("all", 5, 5),
    ],
)
def test_server_count(spec: str, total: int, count: int) -> None:
    assert server_count(spec, total) == count


def test_steps_pick_servers_from_either_end() -> None:
    names = [f"api-{n}" for n in range(1, 11)]
    assert Step(0, "kill", servers="1/3").targets(names) == ["api-1", "api-2", "api-3"]
    assert Step(0, "slow", servers="1", pick="last", ms=5).targets(names) == ["api-10"]


def base() -> dict[str, Any]:
    return {"title": "t", "steps": [{"at": 0.5, "action": "kill", "servers": "1/3"}]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rate": 0}, "incident.rate must be a number from 1 to 500"),
        ({"warmup": 8, "seconds": 25}, "at most 30 s"),
        ({"mix": "videos"}, "incident.mix must be one of pages"),
        ({"latency": {"kind": "gaussian"}}, "incident.latency.kind must be 'fixed'"),
        ({"steps": []}, "an incident needs [[incident.steps]]"),
        ({"steps": [{"at": 1, "action": "surge", "factor": 3}]}, "a surge step needs lasts"),
        ({"steps": [{"at": 1, "action": "kill", "ms": 3}]}, "a kill step has no setting 'ms'"),
        ({"steps": [{"at": 1, "action": "deploy", "batch": 0}]}, "batch must be a whole number"),
        ({"steps": [{"at": 1, "action": "kill", "servers": "4/3"}]}, 'a share ("1/3")'),
        ({"speed": 2}, "an incident has no setting 'speed'"),
    ],
)
def test_bad_incidents(change: dict[str, Any], message: str) -> None:
    with pytest.raises(KeyedError) as caught:
        parse_incident(base() | change)
    assert message in str(caught.value)


def test_keys_moved_is_computed_for_hashing_designs_only() -> None:
    incident = parse_incident(base() | {"keys": True})
    ring = loads('[[pools]]\nname = "cache"\nservers = 6\nalgorithm = "ring_hash"\n')
    modulo = loads('[[pools]]\nname = "cache"\nservers = 6\nalgorithm = "hash_modulo"\n')
    spread = loads('[[pools]]\nname = "cache"\nservers = 6\n')
    moved = keys_moved(ring, incident)
    assert moved is not None
    assert 0.25 < moved < 0.45  # two of six nodes lost: about a third of the keys
    modulo_moved = keys_moved(modulo, incident)
    assert modulo_moved is not None
    assert modulo_moved > 0.6
    assert keys_moved(spread, incident) is None
    assert keys_moved(ring, parse_incident(base())) is None


WEAK = """\
[[pools]]
name = "web"
servers = 3
health = { interval = 2, timeout = 1, rise = 2, fall = 2 }
"""


def quick(steps: list[dict[str, Any]], **world: Any) -> Incident:
    settings: dict[str, Any] = {
        "title": "quick",
        "warmup": 0.3,
        "seconds": 2.0,
        "scale": 0.1,
        "rate": 150,
        "clients": 10,
        "latency": {"kind": "fixed", "ms": 2.0},
        "seed": 3,
        "steps": steps,
    }
    return parse_incident(settings | world)


async def test_a_kill_on_a_design_without_retries_shows_errors_and_recovery() -> None:
    seen: list[ProveProgress] = []
    card = await play(
        loads(WEAK),
        quick([{"at": 0.2, "action": "kill", "servers": 1, "text": "web-1 dies"}]),
        on_progress=seen.append,
    )
    # web-1 takes a third of the requests until the check (every 0.2 s, fall 2) finds it.
    assert 3 <= card.errors <= 80
    assert card.requests > 150
    assert card.recovery is not None
    assert 0.1 <= card.recovery <= 1.2
    assert card.retried == 0
    assert any("web-1 dies" in line for line in card.timeline)
    assert any("web-1 DOWN" in line for line in card.timeline)
    assert card.scaled.startswith("Times scaled ×0.1 for a short run: health every 0.2 s")
    stages = [p.stage for p in seen]
    assert stages[0] == "starting"
    assert stages[-1] == "done"
    assert "warm-up" in stages
    assert "incident" in stages
    assert all(p.total == pytest.approx(2.3) for p in seen)


async def test_a_rolling_deploy_waits_for_the_drain_and_keeps_shared_sessions() -> None:
    design = loads(WEAK + 'sessions = "shared"\nretries = 1\ndrain_timeout = 30\n')
    incident = quick(
        [{"at": 0.1, "action": "deploy", "batch": 2, "max_wait": 1.0, "pause": 0.1}],
        logins=True,
        latency={"kind": "fixed", "ms": 20.0},
    )
    card = await play(design, incident)
    restarted = [line for line in card.timeline if line.endswith("restarted")]
    assert [line.split("  ")[1] for line in restarted] == [
        "web-1, web-2 restarted",
        "web-3 restarted",
    ]
    assert not any("not drained" in line for line in card.timeline)
    assert card.errors == 0
    assert card.sessions_lost == 0


@pytest.mark.slow
async def test_the_explainers_prompt_proven_weak_design_beside_the_model() -> None:
    """The REST API prompt's incident (a zone lost, then a slow server) on a design with
    the ALB's health-check defaults, round robin, sticky cookies and no retries, and on
    the model design: the scorecards must tell them apart by a wide margin."""
    prompt = find_prompt(load_prompts(), "rest-api")
    weak = loads(
        '[[pools]]\nname = "api"\nservers = 10\nalgorithm = "round_robin"\nhealth = "aws-alb"\n'
        'sessions = "cookie"\nretries = 0\n'
    )
    began = time.monotonic()
    result = await prove(weak, prompt.model_design, prompt.incident, prompt=prompt.id)
    took = time.monotonic() - began
    yours, model = result.yours, result.model
    assert took < 35
    # A third of the servers dead for ~6 s of checks (3 s × 2): about a third of requests fail.
    assert yours.error_rate > 0.08
    assert yours.errors > 80
    assert yours.recovery is None or yours.recovery > 3.0
    # Users pinned to the dead servers lose their sessions; with a shared store, none.
    assert yours.sessions_lost >= 5
    assert model.sessions_lost == 0
    # Retries and passive checks hide the loss; least connections avoids the slow server.
    assert model.error_rate < 0.02
    assert model.recovery is not None
    assert model.recovery < 3.0
    assert yours.p99 is not None
    assert yours.p99 > 0.8
    assert model.p99 is not None
    assert model.p99 < 0.5
    assert model.retried > 0
    assert rows(result)[0][0] == "requests"
    data = result.to_json()
    assert set(data["design"]) >= {
        "errors",
        "error_rate",
        "p99_ms",
        "sessions_lost",
        "recovery_seconds",
    }
    assert data["prompt"] == "rest-api"
    print(f"\nprove of rest-api, both designs: {took:.1f} s")


def test_the_slow_marker_is_registered() -> None:
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"slow:' in text
