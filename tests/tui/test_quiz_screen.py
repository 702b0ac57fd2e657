"""The quiz screen: a question, a typed answer, feedback that says why, the next one,
an explain question's two moves, the summary; and Q from the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from lbplay.course.progress import Store
from lbplay.course.quiz import load_bank
from lbplay.course.quizround import QuizRound
from lbplay.tui.screens.quiz import QuizApp, QuizScreen
from tests.tui.support import running, screen_text, wait_for

NOW = 1_800_000_000.0


def round_of(tmp_path: Path, *ids: str) -> QuizRound:
    bank = load_bank()
    round_ = QuizRound(
        bank, seed=3, count=len(ids), store=Store(tmp_path / "p.json"), clock=lambda: NOW
    )
    by_id = {q.id: q for q in bank.questions}
    round_.questions = [by_id[i] for i in ids]
    return round_


async def shows(pilot: Pilot[Any], text: str) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app))


async def test_a_round_answered_wrong_then_right_then_summed_up(tmp_path: Path) -> None:
    round_ = round_of(tmp_path, "alb-default-interval", "sticky-is-not-ha")
    app = QuizApp(round_)
    async with app.run_test(size=(100, 40)) as pilot:
        await shows(pilot, "Question 1 of 2")
        await pilot.press(*"banana", "enter")  # not a number: one line, same question
        await wait_for(pilot, lambda: any("number" in n.message for n in app._notifications))
        await pilot.press(*["ctrl+u"], "1", "0", "enter")
        await shows(pilot, "Not quite.")
        await shows(pilot, "The answer: 30 s")
        await pilot.press("enter")
        await shows(pilot, "Question 2 of 2")
        asked = round_.current
        assert asked is not None
        right = next(
            label for label, c in zip(asked.labels, asked.choices, strict=False) if c.correct
        )
        await pilot.press(right, "enter")
        await shows(pilot, "Right.")
        await pilot.press("enter")
        await shows(pilot, "Round over")
        await shows(pilot, "Score: 1 of 2 right (50%)")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app._exit)
    saved = Store(tmp_path / "p.json").load().quiz
    assert set(saved["cards"]) >= {"alb-default-interval", "sticky-is-not-ha"}


async def test_an_explain_question_is_written_then_ticked(tmp_path: Path) -> None:
    app = QuizApp(round_of(tmp_path, "explain-lb-in-60-seconds"))
    async with app.run_test(size=(100, 40)) as pilot:
        await shows(pilot, "Write your answer first")
        await pilot.press(*"it spreads requests over servers", "enter")
        await shows(pilot, "Which of these did your answer cover?")
        await pilot.press("1", "enter")
        await shows(pilot, "The answer:")


async def test_q_opens_a_quiz_over_the_running_lab(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("LBPLAY_PROGRESS", str(tmp_path / "p.json"))
    async with running() as (app, pilot):
        await pilot.press("Q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen))
        await shows(pilot, "Question 1 of")
        assert app.lab.proxy is not None  # the lab runs on underneath
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, QuizScreen))


Compare = Callable[..., bool]


def test_the_quiz_screen(snap_compare: Compare, tmp_path: Path) -> None:
    app = QuizApp(round_of(tmp_path, "one-balancer-three-servers"))

    async def asked(pilot: Pilot[Any]) -> None:
        await shows(pilot, "Question 1 of 1")

    assert snap_compare(app, terminal_size=(100, 30), run_before=asked)
