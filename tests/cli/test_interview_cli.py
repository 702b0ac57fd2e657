"""``lbplay interview`` as a user meets it: the prompts listed, a template to start
from, a design proven (the Lab run itself is replaced by canned scorecards here; the
real one is in tests/course/test_interview_prove.py), and every mistake one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lbplay.interview as interview_cli
from lbplay.course.design import Design, loads, template
from lbplay.course.interview import find_prompt, load_prompts
from lbplay.course.prove import Incident, ProveResult, Scorecard
from lbplay.tui import app as tui_app
from tests.cli.test_cli import run


def test_list_json_describes_every_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "interview", "--list", "--json")
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [p.id for p in load_prompts()]
    rest = rows[0]
    assert rest["id"] == "rest-api"
    assert rest["source"] is True
    assert [p["key"] for p in rest["phases"]] == ["clarify", "design", "deep-dive", "wrap-up"]
    assert [p["minutes"] for p in rest["phases"]] == [5, 10, 15, 5]
    assert rest["follow_ups"] == 6
    assert all(r["follow_ups"] >= 3 for r in rows)


def test_list_as_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "interview", "--list")
    assert code == 0
    assert "rest-api" in out
    assert "cache-hot-keys" in out


def test_interview_opens_the_screen_on_the_prompt(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Any] = []
    monkeypatch.setattr(tui_app, "run_interview", lambda **kw: opened.append(kw))
    assert run(capsys, "interview", "--prompt", "2")[0] == 0
    assert run(capsys, "interview")[0] == 0
    assert run(capsys, "interview", "--minutes", "0.5")[0] == 0
    quick = dict.fromkeys(("clarify", "design", "deep-dive", "wrap-up"), 0.5)
    assert opened == [
        {"prompt": "chat-websockets", "minutes": None},
        {"prompt": None, "minutes": None},
        {"prompt": None, "minutes": quick},
    ]
    code, _, err = run(capsys, "interview", "--minutes", "0")
    assert code == 2
    assert "bad minutes 0" in err


def test_an_unknown_prompt_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["interview", "--prompt", "nope"], ["interview", "template", "--prompt", "nope"]):
        code, out, err = run(capsys, *args)
        assert (code, out) == (2, "")
        assert err.startswith("lbplay: error: no interview prompt 'nope' (prompts: rest-api,")
        assert err.count("\n") == 1


def test_the_template_is_a_design_for_the_prompt(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "interview", "template", "--prompt", "rest-api")
    assert (code, err) == (0, "")
    assert "--prompt rest-api" in out
    design = loads(out)
    assert [(p.name, p.servers) for p in design.pools] == [("api", 10)]


def test_a_bad_design_is_one_line_with_its_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "design.toml"
    path.write_text('[[pools]]\nname = "api"\nservers = 10\nsessions = "sticky"\n')
    code, out, err = run(capsys, "interview", "prove", str(path), "--prompt", "rest-api")
    assert (code, out) == (2, "")
    assert err == (
        f"lbplay: error: {path}:4: pools[0].sessions must be one of none, cookie, ip, shared,"
        " not 'sticky'\n"
    )
    code, _, err = run(capsys, "interview", "prove", str(tmp_path / "none.toml"), "--prompt", "1")
    assert code == 2
    assert "no design file" in err
    code, _, err = run(capsys, "interview", "prove", str(path))
    assert code == 2
    assert "--prompt" in err


def canned(label: str, errors: int, recovery: float | None) -> Scorecard:
    return Scorecard(
        label=label,
        requests=1000,
        errors=errors,
        error_rate=errors / 1000,
        p99=0.0725,
        sessions_lost=3,
        recovery=recovery,
        attempts=1010,
        retried=10,
        timeline=(" 0.5 s  kill api-1, api-2, api-3",),
        design=(f"{label}: 10 servers",),
        scaled="Times scaled ×0.1 for a short run.",
        seconds=10.0,
    )


@pytest.fixture
def fake_prove(monkeypatch: pytest.MonkeyPatch) -> list[Design]:
    """``prove`` without the Lab: canned scorecards, the designs it was given kept."""
    seen: list[Design] = []

    async def prove(
        design: Design,
        model: Design,
        incident: Incident,
        *,
        prompt: str = "",
        on_progress: Any = None,
    ) -> ProveResult:
        seen.extend([design, model])
        return ProveResult(
            prompt,
            incident,
            canned("your design", 200, None),
            canned("model design", 2, 1.25),
            20.0,
        )

    monkeypatch.setattr(interview_cli, "prove", prove)
    return seen


def template_file(tmp_path: Path) -> Path:
    prompt = find_prompt(load_prompts(), "rest-api")
    path = tmp_path / "design.toml"
    path.write_text(template(prompt.model_design, prompt="rest-api"))
    return path


def test_prove_json_has_the_measured_numbers_of_both(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake_prove: list[Design]
) -> None:
    code, out, err = run(
        capsys, "interview", "prove", str(template_file(tmp_path)), "--prompt", "rest-api", "--json"
    )
    assert code == 0
    assert "Proving design.toml and the model design on the Lab" in err
    data = json.loads(out)
    assert data["prompt"] == "rest-api"
    for key in ("design", "model"):
        assert {"errors", "error_rate", "p99_ms", "sessions_lost", "recovery_seconds"} <= set(
            data[key]
        )
    assert (data["design"]["errors"], data["design"]["recovery_seconds"]) == (200, None)
    assert (data["model"]["p99_ms"], data["model"]["recovery_seconds"]) == (72.5, 1.25)
    assert data["scaled"]["design"].startswith("Times scaled")
    prompt = find_prompt(load_prompts(), "rest-api")
    assert fake_prove[1] == prompt.model_design
    assert fake_prove[0].main.algorithm == "round_robin"


def test_prove_prints_the_scorecards_side_by_side(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fake_prove: list[Design]
) -> None:
    code, out, _ = run(
        capsys, "interview", "prove", str(template_file(tmp_path)), "--prompt", "rest-api"
    )
    assert code == 0
    assert "your design" in out
    assert "model design" in out
    assert "200 (20.0%)" in out
    assert "not recovered" in out
    assert "1.2 s" in out
    assert "stays below 1%" in out
    assert "kill api-1, api-2, api-3" in out
