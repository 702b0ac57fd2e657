"""Take the README's screenshots: the real app, real traffic, a short script.

    python -m lbplay.tui.screenshot assets/screenshot.svg
    python -m lbplay.tui.screenshot --lesson 10 assets/learn.svg

The first runs the dashboard headless at 120 × 36 with 100 requests per second, lets
a minute of charts build up (shortened with ``--seconds``), kills s2, slows s3 and
sends one request of its own (the learner's ``curl``), then saves the SVG that
Textual exports. With ``--lesson N`` it opens lesson N at 120 × 40 (progress kept in
a temporary file), goes to its first prediction, answers it as the engine does and
waits for the Lab to run it. Nothing is faked: every number is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import aiohttp

from lbplay.course import predict
from lbplay.course.catalog import find, load_course
from lbplay.course.progress import Store
from lbplay.model.config import LabConfig
from lbplay.tui.app import LbplayApp

SIZE = (120, 36)
LESSON_SIZE = (120, 40)


async def take(path: Path, seconds: float) -> None:
    """Run the scenario over ``seconds`` and save the screenshot to ``path``."""
    app = LbplayApp(LabConfig(rate=100.0))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(seconds * 0.5)
        await pilot.press("2", "k")
        await pilot.pause(seconds * 0.3)
        await pilot.press("3", "s", "s")
        async with (
            aiohttp.ClientSession() as session,
            session.get(app.lab.proxy_url + "/hello") as response,
        ):
            await response.read()
        await pilot.pause(seconds * 0.2)
        path.parent.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=path.name, path=str(path.parent))


async def take_lesson(path: Path, which: str, seconds: float) -> None:
    """Lesson ``which`` at its first prediction, answered and run on the Lab."""
    lessons = load_course()
    lesson = find(lessons, which)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "progress.json")
        app = LbplayApp(lessons=lessons, lesson=lesson, store=store, lab_config=lesson.setup)
        async with app.run_test(size=LESSON_SIZE) as pilot:
            await pilot.pause(seconds * 0.5)
            learning = app.learning
            assert learning is not None
            assert learning.session is not None
            session = learning.session
            while session.step.kind != "predict":
                await pilot.press("N")
                await pilot.pause(0.2)
            assert session.step.question is not None
            answer = predict.typed(predict.answer(session.step.question, lesson.setup))
            await pilot.press(*[("space" if ch == " " else ch) for ch in answer], "enter")
            while not session.state.done:
                await pilot.pause(0.2)
            await pilot.pause(seconds * 0.5)
            path.parent.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(filename=path.name, path=str(path.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, nargs="?", default=Path("assets/screenshot.svg"))
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the run")
    parser.add_argument("--lesson", help="a lesson's number or id: picture it instead")
    args = parser.parse_args()
    if args.lesson:
        asyncio.run(take_lesson(args.path, args.lesson, args.seconds))
    else:
        asyncio.run(take(args.path, args.seconds))
    print(f"saved {args.path}")


if __name__ == "__main__":
    main()
