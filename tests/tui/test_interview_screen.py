"""The interview screen: the prompt and its clock, follow-ups one at a time, notes
saved as they are typed, the review's self-scores and red flags, the export; a design
that is not one yet; and a snapshot of the interview under way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from lbplay.course.interview import InterviewSession, Notes, find_prompt, load_prompts
from lbplay.tui.screens.interview import InterviewApp
from tests.tui.support import FakeClock, screen_text, wait_for


def session(tmp_path: Path, clock: FakeClock) -> InterviewSession:
    prompt = find_prompt(load_prompts(), "rest-api")
    notes = Notes(tmp_path / "rest-api.notes.md")
    return InterviewSession(prompt, clock=clock, notes_store=notes, wall=lambda: 1_800_000_000.0)


async def shows(pilot: Pilot[Any], text: str, timeout: float = 5.0) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), timeout)


async def test_an_interview_from_the_prompt_to_the_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBPLAY_DATA", str(tmp_path))
    clock = FakeClock()
    practice = session(tmp_path, clock)
    app = InterviewApp(practice)
    async with app.run_test(size=(120, 40)) as pilot:
        await shows(pilot, "Clarify requirements")
        await shows(pilot, "left")
        await pilot.press(*"peak 5k rps")
        await wait_for(pilot, lambda: Path(tmp_path / "rest-api.notes.md").exists(), 5)
        assert (tmp_path / "rest-api.notes.md").read_text() == "peak 5k rps"
        await pilot.press("ctrl+f")
        await shows(pilot, "The interviewer asks:")
        assert len(practice.revealed) == 1
        await pilot.press("ctrl+n")
        await shows(pilot, "High-level design")
        clock.advance(60 * 60)  # far over time: the clock says so
        await shows(pilot, "over")
        await pilot.press("ctrl+e")
        await shows(pilot, "Review: A REST API on 10 servers")
        await pilot.press("3", "down", "2")
        await shows(pilot, "Your self-score: 5 of 21")
        rubric = len(practice.prompt.rubric)
        await pilot.press(*["down"] * (rubric - 1), "space")  # the first red flag
        first_flag = practice.prompt.red_flags[0].id
        assert practice.flags == {first_flag}
        await pilot.press("m")
        await shows(pilot, "The model answer")
        await pilot.press("x")
        exported = tmp_path / "rest-api.md"  # beside the notes
        await wait_for(pilot, exported.exists)
        text = exported.read_text()
        assert "peak 5k rps" in text
        assert "A REST API on 10 servers" in text


async def test_a_design_that_is_not_one_is_one_line(tmp_path: Path) -> None:
    app = InterviewApp(session(tmp_path, FakeClock()))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+e", "p")
        await shows(pilot, "Prove it on the Lab")
        app.screen.query_one("#interview-notes").text = "[[pools]]\nservers = 0\n"  # type: ignore[attr-defined]
        await pilot.press("ctrl+r")
        await wait_for(
            pilot, lambda: any(n.title == "Not a design yet" for n in app._notifications)
        )


Compare = Callable[..., bool]


def test_the_interview_screen(snap_compare: Compare, tmp_path: Path) -> None:
    app = InterviewApp(session(tmp_path, FakeClock()))

    async def under_way(pilot: Pilot[Any]) -> None:
        await shows(pilot, "Clarify requirements")
        await pilot.press("ctrl+f")
        await shows(pilot, "The interviewer asks:")

    assert snap_compare(app, terminal_size=(120, 36), run_before=under_way)
