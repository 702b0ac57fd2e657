"""An interview session: phases on an injected clock, follow-ups one at a time, notes
that autosave atomically (whole even when a save dies half-way), self-scores, red
flags, and the whole session exported as Markdown."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lbplay.course import interview as interview_module
from lbplay.course import progress as progress_module
from lbplay.course.interview import (
    InterviewSession,
    Notes,
    Prompt,
    find_prompt,
    fmt_clock,
    load_prompts,
    sessions_dir,
)
from lbplay.course.prove import ProveResult, Scorecard
from lbplay.errors import ConfigError
from tests.labs import FakeClock

#: 2024-05-01 09:30 local time, for the export's date.
WALL = datetime(2024, 5, 1, 9, 30).timestamp()


@pytest.fixture(scope="module")
def prompt() -> Prompt:
    return find_prompt(load_prompts(), "rest-api")


def session(prompt: Prompt, clock: FakeClock, **settings: Any) -> InterviewSession:
    return InterviewSession(prompt, clock=clock, wall=lambda: WALL, **settings)


def test_phases_run_on_the_clock_and_advance_when_their_time_is_up(prompt: Prompt) -> None:
    clock = FakeClock()
    run = session(prompt, clock)
    assert run.state().show() == "not started"
    state = run.start()
    assert (state.phase and state.phase.key, state.remaining) == ("clarify", 300.0)
    assert state.show() == "Clarify requirements 5:00 left"
    clock.advance(299.0)
    assert run.tick().phase.key == "clarify"  # type: ignore[union-attr]
    clock.advance(1.0 + 125.0)  # the next phase began when clarify's 5 minutes ended
    state = run.tick()
    assert state.phase is not None
    assert (state.phase.key, state.elapsed) == ("design", 125.0)
    assert run.phases[0].spent(clock()) == 300.0
    # A tick long after skips phases whose time ran out, each ending on time.
    clock.advance(475.0 + 900.0 + 30.0)
    state = run.tick()
    assert state.phase is not None
    assert (state.phase.key, state.elapsed) == ("wrap-up", 30.0)
    assert [p.spent(clock()) for p in run.phases[:3]] == [300.0, 600.0, 900.0]
    # The last phase runs over instead of ending.
    clock.advance(400.0)
    state = run.tick()
    assert state.over
    assert state.show() == "Wrap-up 2:10 over"
    done = run.finish()
    assert done.finished
    assert done.total == 300 + 600 + 900 + 430
    assert done.show() == "finished after 37:10"


def test_phase_minutes_can_be_overridden_and_phases_moved_on_by_hand(prompt: Prompt) -> None:
    clock = FakeClock()
    run = session(prompt, clock, minutes={"clarify": 0.5, "deep-dive": 1}, auto_advance=False)
    assert [p.minutes for p in run.phases] == [0.5, 10.0, 1.0, 5.0]
    run.start()
    clock.advance(45.0)
    state = run.tick()  # no auto-advance: clarify runs over
    assert state.phase is not None
    assert (state.phase.key, state.over) == ("clarify", True)
    state = run.next_phase()
    assert state.phase is not None
    assert state.phase.key == "design"
    assert run.phases[0].spent(clock()) == 45.0
    for _ in range(3):
        run.next_phase()
    assert run.state().finished
    with pytest.raises(ConfigError, match="no phase 'coding'"):
        session(prompt, clock, minutes={"coding": 5})
    with pytest.raises(ConfigError, match="minutes for design"):
        session(prompt, clock, minutes={"design": 0})


def test_follow_ups_are_revealed_one_at_a_time(prompt: Prompt) -> None:
    clock = FakeClock()
    run = session(prompt, clock)
    run.start()
    clock.advance(400.0)
    run.tick()
    first = run.reveal_follow_up()
    assert first == prompt.follow_ups[0]
    assert run.follow_ups_left == len(prompt.follow_ups) - 1
    [seen] = run.revealed
    assert (seen.number, seen.phase, seen.at) == (1, "design", 400.0)
    for _ in range(len(prompt.follow_ups) - 1):
        assert run.reveal_follow_up() is not None
    assert run.reveal_follow_up() is None
    assert [r.follow_up for r in run.revealed] == list(prompt.follow_ups)


def test_scores_and_red_flags_are_checked(prompt: Prompt) -> None:
    run = session(prompt, FakeClock())
    run.score("availability", 3)
    run.score("algorithm", 1)
    assert run.total_score == (4, 21)
    with pytest.raises(ConfigError, match="no rubric dimension 'speed'"):
        run.score("speed", 2)
    with pytest.raises(ConfigError, match="a score is 0"):
        run.score("scaling", 4)
    run.flag("single-balancer")
    run.flag("no-thresholds")
    run.flag("no-thresholds", raised=False)
    assert run.flags == {"single-balancer"}
    with pytest.raises(ConfigError, match="no red flag 'vibes'"):
        run.flag("vibes")


def test_notes_autosave_whole_and_the_state_beside_them(prompt: Prompt, tmp_path: Path) -> None:
    notes = Notes.new("rest-api", datetime(2024, 5, 1, 9, 30), tmp_path)
    assert notes.path.name == "rest-api-20240501-093000.notes.md"
    run = session(prompt, FakeClock(), notes_store=notes)
    run.start()
    for typed in ("L", "L7 tier", "L7 tier, two balancers"):
        run.set_notes(typed)
        assert notes.path.read_text() == typed
    run.score("architecture", 2)
    state = json.loads(notes.state_path.read_text())
    assert state["prompt"] == "rest-api"
    assert state["scores"] == {"architecture": 2}
    assert state["current"] == "clarify"
    # A new session over the same file picks the notes up.
    again = session(prompt, FakeClock(), notes_store=Notes(notes.path))
    assert again.notes == "L7 tier, two balancers"


def test_a_save_that_dies_half_way_leaves_the_old_notes_whole(
    prompt: Prompt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notes = Notes(tmp_path / "rest-api.notes.md")
    run = session(prompt, FakeClock(), notes_store=notes)
    run.set_notes("first draft: DNS, two balancers, ten servers")
    real_fdopen = os.fdopen

    class HalfWriter:
        """A file that writes half of what it is given, then the process 'crashes'."""

        def __init__(self, fd: int, mode: str) -> None:
            self.handle = real_fdopen(fd, mode)

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, text: bytes) -> int:
            self.handle.write(text[: len(text) // 2])
            self.handle.flush()
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(progress_module.os, "fdopen", lambda fd, mode, **_: HalfWriter(fd, mode))
    with pytest.raises(OSError, match="Input/output error"):
        run.set_notes("second draft that never made it to the disk in one piece")
    assert notes.path.read_text() == "first draft: DNS, two balancers, ten servers"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rest-api.notes.md"]


def test_sessions_are_kept_in_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBPLAY_DATA", str(tmp_path))
    assert sessions_dir() == tmp_path / "interview"
    assert Notes.new("rest-api").path.parent == tmp_path / "interview"


def card(label: str, errors: int, recovery: float | None) -> Scorecard:
    return Scorecard(
        label=label,
        requests=1000,
        errors=errors,
        error_rate=errors / 1000,
        p99=0.072,
        sessions_lost=errors // 10,
        recovery=recovery,
        attempts=1000 + errors,
        retried=errors,
        design=(f"{label}: 10 servers",),
        scaled="Times scaled ×0.1 for a short run.",
    )


def test_the_export_has_the_whole_session(prompt: Prompt, tmp_path: Path) -> None:
    clock = FakeClock()
    run = session(prompt, clock, notes_store=Notes(tmp_path / "rest-api-x.notes.md"))
    run.start()
    run.set_notes("- DNS → two L7 balancers\n- least connections")
    clock.advance(320.0)
    run.tick()
    run.reveal_follow_up()
    run.score("availability", 3)
    run.score("monitoring", 0)
    run.flag("single-balancer")
    run.attach(
        ProveResult(
            "rest-api",
            prompt.incident,
            card("your design", 200, None),
            card("model design", 1, 1.4),
        )
    )
    clock.advance(60.0)
    text = run.export_markdown()
    assert text.startswith("# Interview practice: A REST API on 10 servers\n")
    assert "2024-05-01 09:30" in text
    assert "> Design a load balancing solution for a REST API with 10 backend servers." in text
    assert "| Clarify requirements | 5:00 | 5:00 |" in text
    assert "| High-level design | 10:00 | 1:20 |" in text
    assert "| Deep dive | 15:00 | — |" in text
    assert "- DNS → two L7 balancers\n- least connections" in text
    assert "1. **Three of the ten servers are in the availability zone that just failed." in text
    assert "*(asked in high-level design, at 5:20)*" in text
    assert f"*{len(prompt.follow_ups) - 1} more follow-ups not asked.*" in text
    assert "**3 of 21**" in text
    assert "| High availability | 3 strong |" in text
    assert "| Monitoring | 0 missing |" in text
    assert "- [x] **One load balancer in front of everything**" in text
    assert "- [ ] **Sticky sessions offered as the availability story**" in text
    assert "*(revealed in this export; it was not read during the session)*" in text
    assert "**Clarify first.**" in text
    assert "| errors | 200 (20.0%) | 1 (0.1%) |" in text
    assert "| seconds to recover | not recovered | 1.4 s |" in text
    path = run.export()
    assert path == tmp_path / "rest-api-x.md"
    assert path.read_text() == text


def test_an_export_without_a_prove_run_or_notes(prompt: Prompt) -> None:
    run = session(prompt, FakeClock())
    run.reveal_model_answer()
    text = run.export_markdown()
    assert "*(no notes)*" in text
    assert "*(none asked)*" in text
    assert "*(not run)*" in text
    assert "not read during the session" not in text
    with pytest.raises(ConfigError, match="give the export a path"):
        run.export()


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0:00"), (59.9, "0:59"), (754, "12:34"), (3723, "1:02:03")]
)
def test_fmt_clock(seconds: float, shown: str) -> None:
    assert fmt_clock(seconds) == shown


async def test_a_prove_run_is_kept_for_the_export(
    prompt: Prompt, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    async def fake(design: Any, model: Any, incident: Any, **kw: Any) -> ProveResult:
        calls.append((design, model, incident, kw["prompt"], kw["on_progress"]))
        return ProveResult(
            "rest-api", incident, card("your design", 5, 0.5), card("model design", 0, 0.0)
        )

    monkeypatch.setattr(interview_module, "run_prove", fake)
    run = session(prompt, FakeClock())
    heard = print
    result = await run.prove(prompt.model_design, on_progress=heard)
    assert run.proof is result
    assert calls == [(prompt.model_design, prompt.model_design, prompt.incident, "rest-api", heard)]
    assert "| errors | 5 (0.5%) | 0 (0.0%) |" in run.export_markdown()
