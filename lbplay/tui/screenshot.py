"""Take the README's screenshot: the real app, real traffic, a short scripted lesson.

    python -m lbplay.tui.screenshot assets/screenshot.svg

It runs the dashboard headless at 120 × 36 with 100 requests per second, lets a
minute of charts build up (shortened with ``--seconds``), kills s2, slows s3 and
sends one request of its own (the learner's ``curl``), then saves the SVG that
Textual exports. Nothing is faked: every number is measured.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import aiohttp

from lbplay.model.config import LabConfig
from lbplay.tui.app import LbplayApp

SIZE = (120, 36)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, nargs="?", default=Path("assets/screenshot.svg"))
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the run")
    args = parser.parse_args()
    asyncio.run(take(args.path, args.seconds))
    print(f"saved {args.path}")


if __name__ == "__main__":
    main()
