"""``lbplay interview``: system-design interview practice from the command line.

* ``lbplay interview`` opens the interview screen of the dashboard (when this lbplay
  has one) on ``--prompt NAME`` or a prompt chosen there;
* ``lbplay interview --list`` lists the prompts (``--json`` for scripts: id, title,
  phases, follow-ups);
* ``lbplay interview template --prompt NAME`` prints a design file to start from;
* ``lbplay interview prove DESIGN.toml --prompt NAME`` builds the design as a real Lab,
  plays the prompt's incident on it and on the prompt's model design, and prints both
  scorecards side by side (``--json``: the measured numbers).

Commands parse and call ``course.interview``, ``course.design`` and ``course.prove``;
mistakes are one line and exit 2 (``cli.main``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lbplay.clihelp import FLAG, Command, Group
from lbplay.course import design as design_module
from lbplay.course.interview import Prompt, find_prompt, load_prompts
from lbplay.course.prove import ProveProgress, ProveResult, prove, rows
from lbplay.errors import ConfigError
from lbplay.net import eventloop

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def show_prompts(as_json: bool) -> None:
    """The prompts as a table, or as JSON (``--list --json``)."""
    prompts = load_prompts()
    if as_json:
        out.print_json(json.dumps([p.describe() for p in prompts]))
        return
    table = Table(title="Interview prompts (lbplay interview --prompt ID)", title_justify="left")
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("prompt", ratio=3)
    table.add_column("incident it is proven on", ratio=2, style="dim")
    table.add_column("min", justify="right")
    table.add_column("follow-ups", justify="right")
    for prompt in prompts:
        mark = " [dim](the explainer's question)[/]" if prompt.source else ""
        table.add_row(
            prompt.id,
            f"{prompt.title}{mark}",
            prompt.incident.title,
            f"{prompt.minutes:g}",
            str(len(prompt.follow_ups)),
        )
    out.print(table)


def open_screen(which: str | None, minutes: float | None = None) -> None:
    """The interview screen for ``which`` (default: the explainer's own question),
    every phase ``minutes`` long when given (a quick practice run)."""
    from lbplay.course.interview import PHASES
    from lbplay.tui.app import run_interview

    prompt = find_prompt(load_prompts(), which).id if which else None
    if minutes is not None and not 0 < minutes <= 240:
        raise ConfigError(f"bad minutes {minutes:g}: use more than 0 and at most 240")
    run_interview(prompt=prompt, minutes=dict.fromkeys(PHASES, minutes) if minutes else None)


def print_template(which: str) -> None:
    """A design file for ``which``'s prompt: its pools and servers, neutral choices."""
    prompt = find_prompt(load_prompts(), which)
    out.print(
        prompt.template(),
        end="",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def prove_design(path: Path, which: str, as_json: bool) -> None:
    """Prove the design at ``path`` on ``which``'s incident, beside the model design."""
    prompt = find_prompt(load_prompts(), which)
    design = design_module.load(path)
    prompt.incident.lab(design)  # a design that cannot be built fails here, in one line
    seconds = 2 * prompt.incident.length
    err.print(
        f"Proving {path.name} and the model design on the Lab: {prompt.incident.title}"
        f" (about {seconds:.0f} s)…",
        markup=False,
        soft_wrap=True,
    )
    result = _run(prompt, design)
    if as_json:
        data = result.to_json()
        data["scaled"] = {"design": result.yours.scaled, "model": result.model.scaled}
        out.print_json(json.dumps(data))
        return
    show_result(prompt, result)


def _run(prompt: Prompt, design: design_module.Design) -> ProveResult:
    if not err.is_terminal:
        return eventloop.run(prove(design, prompt.model_design, prompt.incident, prompt=prompt.id))
    with err.status("starting") as status:

        def progress(step: ProveProgress) -> None:
            status.update(
                f"{step.design}: {step.stage} {step.elapsed:4.1f} / {step.total:.0f} s  {step.text}"
            )

        return eventloop.run(
            prove(
                design,
                prompt.model_design,
                prompt.incident,
                prompt=prompt.id,
                on_progress=progress,
            )
        )


def show_result(prompt: Prompt, result: ProveResult) -> None:
    """Both scorecards side by side, what happened when, and how times were scaled."""
    table = Table(
        title=f"{prompt.title}: {prompt.incident.title}", title_justify="left", show_lines=False
    )
    table.add_column("measured", style="bold")
    table.add_column("your design", justify="right")
    table.add_column("model design", justify="right")
    for measure, yours, model in rows(result):
        table.add_row(measure, yours, model)
    out.print(table)
    out.print(
        "[dim]Errors are 5xx answers and requests that got none; recovery is the seconds"
        " from the first step until the error rate over every later 1-second window"
        " stays below 1%.[/]",
        soft_wrap=True,
    )
    for card in (result.yours, result.model):
        out.print(f"\n[bold]{card.label}[/]", soft_wrap=True)
        for line in card.design:
            out.print(f"  {line}", markup=False, soft_wrap=True)
        out.print(f"  [dim]{card.scaled}[/]", soft_wrap=True)
        for line in card.timeline:
            out.print(f"  {line}", markup=False, soft_wrap=True)
    out.print(f"\nBoth runs took {result.seconds:.0f} s.", soft_wrap=True)


interview_app = typer.Typer(
    help="Interview practice: system-design prompts, a timed session, designs proven on the Lab.",
    cls=Group,
)


@interview_app.callback(invoke_without_command=True)
def interview(
    ctx: typer.Context,
    list_: Annotated[bool, typer.Option("--list", help="List the prompts.", metavar=FLAG)] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --list: as JSON, for scripts.", metavar=FLAG)
    ] = False,
    prompt: Annotated[
        str | None, typer.Option("--prompt", "-p", help="The prompt to practise (an id).")
    ] = None,
    minutes: Annotated[
        float | None,
        typer.Option(help="Minutes for every phase (default: the prompt's own; --list)."),
    ] = None,
) -> None:
    """Practise a system-design interview; --list shows the prompts."""
    if ctx.invoked_subcommand is not None:
        return
    if list_ or as_json:
        show_prompts(as_json)
        return
    open_screen(prompt, minutes)


@interview_app.command("prove", cls=Command)
def interview_prove(
    design: Annotated[Path, typer.Argument(help="Your design (TOML; see 'template').")],
    prompt: Annotated[
        str, typer.Option("--prompt", "-p", help="The prompt whose incident to play.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="The measured numbers as JSON.", metavar=FLAG)
    ] = False,
) -> None:
    """Prove your design on the Lab, beside the model design.

    Builds the design as a real Lab, plays the prompt's incident on it and then on the
    prompt's model design (about 20 s), and shows both scorecards."""
    prove_design(design, prompt, as_json)


@interview_app.command("template", cls=Command)
def interview_template(
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The prompt to design for.")],
) -> None:
    """Print a design file to start from (redirect it: > design.toml)."""
    print_template(prompt)
