"""The lesson pane (``lbplay learn``) on the real dashboard over a real Lab: its keys,
a step turning green when the Lab shows it, the 80 × 24 layout, and a snapshot of a
lesson in progress."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from lbplay.course.catalog import load_course
from lbplay.course.lesson import Lesson
from lbplay.course.progress import Store
from lbplay.net.lab import Lab
from lbplay.tui.app import LbplayApp
from lbplay.tui.screens.lessons import LessonChooser
from tests.tui.support import (
    FakeClock,
    dashboard,
    eventually,
    fixed_url,
    screen_text,
    wait_for,
    widget_text,
)

GOOD = Path(__file__).parent.parent / "course" / "fixtures" / "good"

#: A lesson whose do step is proved by a setting, at once: for timing the green.
KILL_LESSON = """\
title = "Kill one"
goals = ["See a step turn green"]
syllabus = ["health-checks"]
misconceptions = [9]
minutes = 2
recap = "Done."

[setup]
backends = 3
rate = 0.0
latency = { kind = "fixed", ms = 1.0 }

[[steps]]
kind = "read"
text = "Servers fail. **Kill one.**"

[[steps]]
kind = "do"
text = "Kill **s2**: select it and press **k**."
solution = ["kill s2"]
check = { setting = "backend.s2.process", equals = "killed" }
hints = ["Select s2 first: press 2.", "Then press k (or type 'kill s2' in the palette)."]
timeout = 5

[[steps]]
kind = "read"
text = "That is the end."
"""


def kill_course(tmp_path: Path) -> list[Lesson]:
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "course.toml").write_text('lessons = ["kill-one"]\n')
    (folder / "01-kill-one.toml").write_text(KILL_LESSON)
    return load_course(folder)


def learning_app(
    lessons: list[Lesson], tmp_path: Path, *, clock: FakeClock | None = None
) -> LbplayApp:
    lesson = lessons[0]
    lab = Lab(lesson.setup, clock=clock) if clock else Lab(lesson.setup)
    return LbplayApp(
        lab=lab,
        lens=fixed_url if clock else None,
        lessons=lessons,
        lesson=lesson,
        store=Store(tmp_path / "progress.json"),
        refresh_hz=20.0,
    )


def pane(app: LbplayApp) -> str:
    return widget_text(app, "#lesson")


async def shows(pilot: Pilot[None], text: str, timeout: float = 5.0) -> None:
    await wait_for(pilot, lambda: text in pane(pilot.app), timeout)  # type: ignore[arg-type]


# ~30 s: every step waits for the real Lab to show it (traffic, health, weights).
# CI runs it with the other slow tests; a plain pytest stays near its budget.
@pytest.mark.slow
async def test_the_lesson_keys_walk_a_lesson(tmp_path: Path) -> None:
    app = learning_app(load_course(GOOD), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await shows(pilot, "step 1 of 6 · read")
        assert "Lesson 1 of 1" in screen_text(app)
        await pilot.press("N")
        await shows(pilot, "step 2 of 6 · predict")
        await wait_for(pilot, lambda: app.focused is dashboard(app).pane.answer_box)
        await pilot.press("escape")  # out of the answer box
        await wait_for(pilot, lambda: app.focused is dashboard(app).fleet)
        await pilot.press("N")  # not before answering: back into the box
        await wait_for(pilot, lambda: _notified(app, "Type your prediction first"))
        await wait_for(pilot, lambda: app.focused is dashboard(app).pane.answer_box)
        for key in "s1 s1 s1":
            await pilot.press("space" if key == " " else key)
        await pilot.press("enter")
        await shows(pilot, "✗ 1 of 10 in the right place")
        await shows(pilot, "(the same)", timeout=10)
        assert app.focused is dashboard(app).fleet
        await pilot.press("N")
        await shows(pilot, "step 3 of 6 · watch")
        await shows(pilot, "as expected: share.s1", timeout=10)
        await pilot.press("N")
        await shows(pilot, "step 4 of 6 · your turn")
        await pilot.press("H")
        await shows(pilot, "hint: Select s3 and press + three times.")
        await pilot.press("H")
        await shows(pilot, "hint: Or type 'weight s3 5' in the palette.")
        await pilot.press("S")
        await shows(pilot, "solution: weight s3 5")
        await pilot.press("S")  # again: do it
        await shows(pilot, "✓ backend.s3.weight is 5", timeout=10)
        assert app.lab.snapshot().backend("s3").weight == 5
        await pilot.press("B")
        await shows(pilot, "step 3 of 6")
        await pilot.press("N", "N")
        await shows(pilot, "step 5 of 6")
        await pilot.press("ctrl+r")
        await shows(pilot, "step 1 of 6 · read")
        await wait_for(pilot, lambda: _weight(app, "s3") == 2)  # the lesson's setup again
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, LessonChooser))
        assert "Weights, for the engine's tests" in screen_text(app)
        await pilot.press("escape")


def _notified(app: LbplayApp, text: str) -> bool:
    return any(text in n.message for n in app._notifications)


def _weight(app: LbplayApp, name: str) -> int:
    view = app.lab.snapshot().backend(name)
    assert view is not None
    return view.weight


async def test_a_step_turns_green_within_a_second_of_what_proves_it(tmp_path: Path) -> None:
    app = learning_app(kill_course(tmp_path), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await shows(pilot, "step 1 of 3")
        await pilot.press("N")
        await shows(pilot, "▸ backend.s2.process is alive (wanted = killed)")
        await pilot.press("N")  # not until the Lab shows it
        await wait_for(pilot, lambda: _notified(app, "Not yet: the Lab has not shown it"))
        loop = asyncio.get_running_loop()
        await pilot.press("2", "k")
        killed = loop.time()
        await shows(pilot, "✓ backend.s2.process is killed", timeout=1.0)
        assert loop.time() - killed < 1.0
        assert "H hint" not in pane(app)
        await pilot.press("N")
        await shows(pilot, "step 3 of 3")
        await pilot.press("N")  # past the last step: the recap
        await shows(pilot, "Recap")
        await shows(pilot, "✓ lesson done")
        saved = Store(tmp_path / "progress.json").load().lessons["kill-one"]
        assert saved.finished
        assert saved.done == [0, 1, 2]


async def test_at_80_by_24_the_lesson_takes_the_lower_panels_place(tmp_path: Path) -> None:
    app = learning_app(kill_course(tmp_path), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await shows(pilot, "step 1 of 3")
        screen = dashboard(app)
        assert screen.lesson_below
        assert screen.view == "lesson"
        assert not screen.lower.display
        text = screen_text(app)
        assert "lesson    requests    charts    events" in text
        assert text.index("Fleet") < text.index("Lesson 1 of 1")  # under the fleet
        await pilot.press("v")
        await eventually(pilot, lambda: _only(screen, "feed"))
        await pilot.press("N")  # a lesson key brings the lesson back
        await eventually(pilot, lambda: _only(screen, "lesson"))
        await shows(pilot, "step 2 of 3")
        assert "N next" not in pane(app)  # short: the keys are in the border
        assert "J/K scroll" in screen_text(app)
        body = screen.pane.query_one("#lesson-body")
        await pilot.press("H", "H")
        await shows(pilot, "hint: Then press k")
        await pilot.resize_terminal(80, 19)  # now the step is longer than the pane
        await wait_for(pilot, lambda: body.max_scroll_y > 0)
        body.scroll_home(animate=False)
        await pilot.press("J")
        await wait_for(pilot, lambda: body.scroll_y > 0)
        await pilot.press("K")
        await wait_for(pilot, lambda: body.scroll_y == 0)


def _only(screen: Any, view: str) -> None:
    assert screen.view == view
    assert screen.pane.display is (view == "lesson")
    assert screen.lower.display is (view != "lesson")


async def test_the_palette_offers_the_lesson_keys_only_in_a_lesson(tmp_path: Path) -> None:
    from textual.command import CommandPalette

    from tests.tui.support import running

    async def offered(app: LbplayApp, pilot: Pilot[None]) -> str:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Lesson")
        await pilot.pause(0.5)
        text = screen_text(app)
        await pilot.press("escape")
        return text

    app = learning_app(kill_course(tmp_path), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await shows(pilot, "step 1 of 3")
        assert "Lesson: a hint for this step" in await offered(app, pilot)
    async with running() as (app, pilot):
        assert "Lesson: a hint for this step" not in await offered(app, pilot)


@pytest.mark.parametrize("key", ["N", "B", "H", "S", "L", "ctrl+r"])
async def test_without_a_lesson_the_lesson_keys_do_nothing(key: str) -> None:
    from tests.tui.support import running

    async with running() as (app, pilot):
        await pilot.press(key)
        await pilot.pause(0.1)
        assert not app.query("#lesson")
        assert not isinstance(app.screen, LessonChooser)
        assert not app._notifications
        assert "next step" not in screen_text(app)  # not in the footer either


Compare = Callable[..., bool]


def test_a_lesson_in_progress(snap_compare: Compare, tmp_path: Path) -> None:
    """A do step waiting for the Lab, with a hint shown, beside the dashboard."""
    app = learning_app(kill_course(tmp_path), tmp_path, clock=FakeClock())

    async def in_progress(pilot: Pilot[Any]) -> None:
        await shows(pilot, "step 1 of 3")
        await pilot.press("N", "H")
        await shows(pilot, "hint: Select s2 first")
        await wait_for(pilot, lambda: "■ s3 " in screen_text(pilot.app))

    assert snap_compare(app, terminal_size=(120, 36), run_before=in_progress)
