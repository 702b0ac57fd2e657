"""Scenarios: files reported at the right line, played on a real Lab with each
expectation judged from what was measured, and a scenario that promises something
false failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbplay.course import scenario
from lbplay.course.scenario import ScenarioError
from lbplay.net.lab import Lab

HEAD = """\
title = "A test scenario"
story = "Two servers, one killed."
end = 0.5

[setup]
backends = 2
rate = 200.0
latency = { kind = "fixed", ms = 1.0 }

[setup.health]
interval = 0.2
timeout = 0.1
rise = 2
fall = 2
name = "fast"
"""

GOOD = (
    HEAD
    + """
[[steps]]
at = 0.5
say = "Both serve."
expect = { measure = "share", backend = "s2", at_least = 0.3, over = 50 }
within = 5

[[steps]]
at = 1
do = ["kill s2"]
say = "s2 dies."
expect = { event = "health", backend = "s2", new = "DOWN" }
within = 5

[[steps]]
after = { event = "health", backend = "s2", new = "DOWN" }
delay = 0.2
say = "Only s1 serves."
expect = { measure = "share", backend = "s1", equals = 1.0, over = 50 }
within = 5
"""
)


def write(tmp_path: Path, text: str, name: str = "test.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_a_good_scenario_reads_into_steps(tmp_path: Path) -> None:
    loaded = scenario.load(write(tmp_path, GOOD))
    assert loaded.name == "test"
    assert [s.at for s in loaded.steps] == [0.5, 1.0, None]
    assert [c.text() for c in loaded.steps[1].do] == ["kill s2"]
    assert loaded.steps[2].delay == 0.2
    assert scenario.describe(loaded.steps[0].expect) == "share.s2 at least 30% over 50 requests"


@pytest.mark.parametrize(
    ("step", "needle", "message"),
    [
        ('[[steps]]\nat = 1\nsay = "x"\ndo = ["kil s2"]\n', "do =", "'kil s2'"),
        ('[[steps]]\nsay = "x"\n', "[[steps]]", "needs at (seconds) or after (a check)"),
        ('[[steps]]\nat = 1\nafter = { event = "health" }\nsay = "x"\n', "[[steps]]", "not both"),
        ('[[steps]]\nat = 1\nsay = "x"\nexpect = { event = "health", backend = "s9" }\n',
         "expect = {", "names backend 's9'"),
        ('[[steps]]\nat = 1\nsay = "x"\nwithin = 0\n', "within =", "within must be"),
        ('[[steps]]\nat = 1\nsay = "x"\ncolour = 1\n', "colour =", "no key 'colour'"),
        ('[[steps]]\nat = 2\nsay = "x"\n\n[[steps]]\nat = 1\nsay = "y"\n', "at = 1",
         "before the step before"),
    ],
)  # fmt: skip
def test_a_broken_scenario_is_reported_at_its_line(
    tmp_path: Path, step: str, needle: str, message: str
) -> None:
    text = HEAD + "\n" + step
    with pytest.raises(ScenarioError) as caught:
        scenario.load(write(tmp_path, text))
    assert message in caught.value.message
    lines = text.splitlines()
    if needle == "at = 1":  # the second step's own line
        assert caught.value.line == len(lines) - 2
    else:
        assert caught.value.line == line_of(text, needle)


async def test_a_scenario_plays_on_a_real_lab_and_reports(tmp_path: Path) -> None:
    loaded = scenario.load(write(tmp_path, GOOD))
    said: list[str] = []
    report = await scenario.play(loaded, on_step=lambda step: said.append(step.say))
    assert said == ["Both serve.", "s2 dies.", "Only s1 serves."]
    assert report.passed, report.as_json()
    down = report.expectations[1]
    assert down.measured.startswith("a health event backend=s2 new=DOWN after")
    data = report.as_json()
    assert data["passed"] is True
    assert [e["step"] for e in data["expectations"]] == [1, 2, 3]


async def test_a_scenario_that_promises_something_false_fails(tmp_path: Path) -> None:
    false = GOOD.replace(
        "equals = 1.0, over = 50 }\nwithin = 5", "equals = 0.5, over = 50 }\nwithin = 1"
    )
    report = await scenario.play(scenario.load(write(tmp_path, false)))
    assert not report.passed
    last = report.expectations[-1]
    assert last.passed is False
    assert last.expected == "share.s1 = 50% over 50 requests"
    assert last.measured.startswith("share.s1 100%")


async def test_the_player_pauses_and_steps(tmp_path: Path) -> None:
    loaded = scenario.load(
        write(tmp_path, GOOD.replace("at = 0.5", "at = 60", 1).replace("at = 1\n", "at = 61\n", 1))
    )
    async with Lab(loaded.setup) as lab:
        player = scenario.ScenarioPlayer(lab, loaded)
        try:
            await player.start()
            await player.poll()
            assert player.current is None  # step 1 is a minute away
            player.pause()
            player.step_now()  # → runs it at once, paused or not
            await player.poll()
            assert player.current is not None
            assert player.narration == "Both serve."
            before = player.elapsed
            await player.poll()
            assert player.elapsed == before  # paused: the scenario's clock stands still
        finally:
            player.close()


def test_every_shipped_scenario_loads_and_the_ten_stories_are_there() -> None:
    """The stories a teacher tells (issue 14): each ships, and each file is valid."""
    names = {scenario.load(path).name for path in scenario.shipped()}
    assert names >= {
        "failover",
        "sticky-session-vs-shared-store",
        "alb-content-routing",
        "least-response-time-fast-failure",
        "ip-hash-behind-nat",
        "add-server-modulo-vs-ring",
        "rolling-deploy-drain",
        "l4-keepalive-pinning",
        "thundering-herd-slow-start",
        "retry-storm",
    }
