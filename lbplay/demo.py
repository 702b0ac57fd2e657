"""``lbplay demo``: scenarios for a classroom, in the dashboard or headless.

``lbplay demo`` lists the shipped scenarios (``--json`` for scripts); ``lbplay demo
NAME`` plays one in the dashboard with its narration in a banner; ``--headless``
plays it on a real Lab without a screen and prints each expectation — expected,
measured, passed — exiting 1 when one fails (CI plays every shipped scenario so).
A teacher's own file works the same: ``lbplay demo ./mine.toml``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lbplay.clihelp import FLAG
from lbplay.course import scenario
from lbplay.errors import ConfigError
from lbplay.net import eventloop

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def list_scenarios(as_json: bool) -> None:
    rows = []
    for path in scenario.shipped():
        loaded = scenario.load(path)
        rows.append({"name": loaded.name, "title": loaded.title, "file": str(path)})
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="Scenarios (lbplay demo NAME plays one)", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("story")
    for row in rows:
        table.add_row(row["name"], row["title"])
    out.print(table)


def headless(which: str, speed: float, as_json: bool) -> None:
    """Play one scenario (or every shipped one, ``all``) on a real Lab and report."""
    paths = scenario.shipped() if which == "all" else [scenario.find(which)]
    loaded = [scenario.load(path) for path in paths]  # every file checked before any plays
    reports = []
    for one in loaded:

        def said(step: scenario.ScenarioStep) -> None:
            if not as_json:
                out.print(f"  [dim]{step.index + 1}.[/] {step.say}", soft_wrap=True)

        if not as_json:
            out.print(f"[b]{one.name}[/]: {one.title}")
        report = eventloop.run(scenario.play(one, speed=speed, on_step=said))
        reports.append(report)
        if not as_json:
            show_report(report)
    if as_json:
        data = [r.as_json() for r in reports]
        out.print_json(json.dumps(data if which == "all" else data[0]))
    failed = [r.scenario.name for r in reports if not r.passed]
    if failed:
        err.print(f"lbplay: scenarios that did not do what they say: {', '.join(failed)}")
        raise typer.Exit(1)


def show_report(report: scenario.Report) -> None:
    table = Table(show_edge=False, box=None, pad_edge=False)
    for column in ("", "step", "expected", "measured"):
        table.add_column(column)
    for e in report.expectations:
        mark = "[green]pass[/]" if e.passed else "[red]FAIL[/]"
        table.add_row(mark, str(e.step.index + 1), e.expected, e.measured)
    out.print(table)
    for error in report.errors:
        out.print(f"[red]error[/] {error}", soft_wrap=True)
    verdict = "[green]passed[/]" if report.passed else "[red]failed[/]"
    out.print(f"{report.scenario.name} {verdict} in {report.seconds:.1f} s\n")


def demo(
    name: Annotated[
        str | None,
        typer.Argument(help="A scenario's name or a TOML file (none: list them)."),
    ] = None,
    headless_: Annotated[
        bool,
        typer.Option("--headless", help="Play it without a screen and report.", metavar=FLAG),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="For scripts.", metavar=FLAG)] = False,
    speed: Annotated[float, typer.Option(help="Play faster (2) or slower (0.5).")] = 1.0,
) -> None:
    """Scenarios for a classroom: list them, play one in the dashboard, or --headless."""
    if not 0.1 <= speed <= 10:
        raise ConfigError(f"bad speed {speed:g}: use 0.1 to 10")
    if name is None:
        if headless_:
            raise ConfigError("--headless plays one scenario (or 'all'): name it")
        list_scenarios(as_json)
        return
    if headless_:
        headless(name, speed, as_json)
        return
    if as_json:
        raise ConfigError("--json goes with --headless (or with no scenario, to list them)")
    from lbplay.tui.app import run

    loaded = scenario.load(scenario.find(name))
    run(scenario=loaded, speed=speed)
