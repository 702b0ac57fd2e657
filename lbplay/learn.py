"""``lbplay learn``, ``lbplay lessons`` and ``lbplay lessons check``: the course from
the command line.

``lbplay lessons`` lists the lessons with the learner's progress (``--json`` for
scripts); ``lbplay lessons check`` validates every lesson file — its shape, and that
every algorithm, control, event field, setting and backend it names exists and every
prediction can be computed — and, with ``--run``, plays each lesson on a real Lab
(``course.verify``), failing with the lesson, the step and what the Lab did instead.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lbplay.clihelp import FLAG, Command, Group
from lbplay.course.catalog import find, load_course
from lbplay.course.lesson import Lesson
from lbplay.course.progress import Progress, Store
from lbplay.course.syllabus import SYLLABUS
from lbplay.course.verify import play
from lbplay.net import eventloop

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"lbplay: warning: {message}", markup=False, soft_wrap=True)


def describe(lessons: list[Lesson]) -> list[dict[str, object]]:
    """Each lesson with the learner's progress, as ``lessons --json`` prints it."""
    progress = Store(warn=warn).load()
    rows = []
    for lesson in lessons:
        mine = progress.lessons.get(lesson.id)
        rows.append(
            {
                "id": lesson.id,
                "number": lesson.number,
                "title": lesson.title,
                "syllabus": [SYLLABUS[key] for key in lesson.syllabus],
                "syllabus_keys": list(lesson.syllabus),
                "misconceptions": list(lesson.misconceptions),
                "steps": len(lesson.steps),
                "done": len(mine.done) if mine else 0,
                "finished": bool(mine and mine.finished),
                "minutes": lesson.minutes,
            }
        )
    return rows


def choose(lessons: list[Lesson], which: str | None, progress: Progress) -> Lesson:
    """The lesson ``lbplay learn`` opens: the one asked for (a number or an id), else
    the one the learner was last in unless it is finished, else the first lesson not
    finished, else the first."""
    if which:
        return find(lessons, which)

    def finished(lesson: Lesson) -> bool:
        mine = progress.lessons.get(lesson.id)
        return mine is not None and mine.finished

    last = next((lesson for lesson in lessons if lesson.id == progress.last), None)
    if last is not None and not finished(last):
        return last
    return next((lesson for lesson in lessons if not finished(lesson)), lessons[0])


def open_lesson(which: str | None) -> None:
    """``lbplay learn [LESSON]``: the dashboard with that lesson (or where the learner
    left off) beside it."""
    from lbplay.tui.app import run

    lessons = load_course()
    lesson = choose(lessons, which, Store(warn=warn).load())
    run(lessons=lessons, lesson=lesson)


def show_lessons(as_json: bool) -> None:
    rows = describe(load_course())
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title="The course (lbplay learn N opens lesson N)", title_justify="left")
    for column, justify in (
        ("#", "right"),
        ("lesson", "left"),
        ("done", "right"),
        ("min", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        done = "✓" if row["finished"] else f"{row['done']}/{row['steps']}"
        table.add_row(str(row["number"]), f"{row['title']}\n[dim]{row['id']}[/]", done,
                      str(row["minutes"]))  # fmt: skip
    out.print(table)


def check(run: bool, only: list[str]) -> None:
    """Validate every lesson (loading does it); with ``run``, play each on a Lab."""
    lessons = load_course()
    chosen = [find(lessons, which) for which in only] if only else lessons
    out.print(f"{len(lessons)} lessons valid: every name, control, check and prediction checks")
    if not run:
        return
    failed = []
    total = 0.0
    for lesson in chosen:
        report = eventloop.run(play(lesson))
        total += report.seconds
        mark = "[green]pass[/]" if report.passed else "[red]FAIL[/]"
        out.print(f"{mark} {lesson.slug} in {report.seconds:.1f} s", soft_wrap=True)
        if not report.passed:
            out.print(f"     {lesson.path}: {report.failure}", soft_wrap=True, markup=False)
            failed.append(lesson.slug)
    out.print(
        f"{len(chosen) - len(failed)} of {len(chosen)} lessons played on a real Lab"
        f" in {total:.0f} s"
    )
    if failed:
        err.print(f"lbplay: lessons that did not do what they teach: {', '.join(failed)}")
        raise typer.Exit(1)


lessons_app = typer.Typer(
    help="The course: list the lessons (and your progress), or check them.",
    cls=Group,
)


@lessons_app.callback(invoke_without_command=True)
def lessons(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="For scripts.", metavar=FLAG)] = False,
) -> None:
    """List the lessons with your progress ('lbplay learn N' opens one)."""
    if ctx.invoked_subcommand is None:
        show_lessons(as_json)


@lessons_app.command("check", cls=Command)
def lessons_check(
    only: Annotated[
        list[str] | None, typer.Argument(help="Lessons to play (default: all).")
    ] = None,
    run: Annotated[
        bool, typer.Option("--run", help="Play each lesson on a real Lab.", metavar=FLAG)
    ] = False,
) -> None:
    """Validate every lesson file; with --run, play each on a real Lab."""
    check(run, only or [])
