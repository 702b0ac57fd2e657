"""``lbplay quiz``: self-check quizzes from the command line.

* ``lbplay quiz [TOPIC]`` opens the TUI's quiz screen (``lbplay.tui.app.run_quiz``)
  when there is one, else asks in plain text with a one-line note;
* ``lbplay quiz --plain [TOPIC] [--seed N] [--count N] [--review]`` asks line by line
  on stdin/stdout — for plain terminals, screen readers and scripts: no colour, no
  cursor movement, one question at a time, bad input re-asked with one line, ``q`` or
  end of input ends the round with a summary;
* ``lbplay quiz --list [--json] [TOPIC]`` describes the bank (and so checks every
  question file: a mistake is one line with its file and line).

TOPIC is a self-check item (1-6) or a lesson id. The questions, their grading and the
Leitner boxes are ``lbplay.course.quiz``, ``course.leitner`` and ``course.quizround``;
this module only parses, prints and reads.
"""

from __future__ import annotations

import inspect
import json
import secrets
import sys
from collections.abc import Callable
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

from lbplay.clihelp import FLAG
from lbplay.course.answers import AnswerError
from lbplay.course.progress import Store
from lbplay.course.quiz import Asked, Bank, describe, load_bank, plain
from lbplay.course.quizround import QuizRound, questions_for
from lbplay.course.syllabus import SELF_CHECK
from lbplay.errors import ConfigError

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
#: Words that end a plain round.
QUIT = ("q", "quit", "exit")


def quiz(
    topic: Annotated[
        str | None, typer.Argument(help="A self-check item (1-6) or a lesson id (default: all).")
    ] = None,
    plain_mode: Annotated[
        bool,
        typer.Option(
            "--plain", help="Line by line on stdin/stdout (screen readers, scripts).", metavar=FLAG
        ),
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Seed for shuffles and generated questions.")
    ] = None,
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, max=500, help="Questions in the round.")
    ] = 10,
    review: Annotated[
        bool,
        typer.Option("--review", help="Only what you missed and what is due.", metavar=FLAG),
    ] = False,
    list_bank: Annotated[
        bool, typer.Option("--list", help="Describe the questions instead.", metavar=FLAG)
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --list: for scripts.", metavar=FLAG)
    ] = False,
) -> None:
    """Self-check quizzes: answers computed by lbplay's engine, misses come back.

    'lbplay quiz --review' asks what is due and what you missed; 'lbplay quiz --plain 3'
    asks about algorithms, line by line."""
    if as_json and not list_bank:
        raise ConfigError("--json goes with --list (lbplay quiz --list --json)")
    bank = load_bank()
    if list_bank:
        show_bank(bank, topic, as_json)
        return
    questions_for(bank, topic)  # a bad topic is one line, before any screen opens
    if seed is None:
        seed = secrets.randbelow(1_000_000)
    if not plain_mode:
        runner = tui_runner()
        if runner is not None:
            _call(runner, topic=topic, seed=seed, count=count, review=review)
            return
        print(
            "lbplay: note: the quiz screen is not available here; asking in plain text",
            file=sys.stderr,
        )
    store = Store(warn=lambda message: print(f"lbplay: warning: {message}", file=sys.stderr))
    rounds = QuizRound(bank, topic=topic, seed=seed, count=count, review=review, store=store)
    play_plain(rounds, sys.stdin, sys.stdout)


def tui_runner() -> Callable[..., Any] | None:
    """The TUI's ``run_quiz``, if this lbplay has one."""
    try:
        from lbplay.tui import app as tui_app
    except ImportError:
        return None
    runner = getattr(tui_app, "run_quiz", None)
    return runner if callable(runner) else None


def _call(runner: Callable[..., Any], **arguments: Any) -> None:
    """Call ``runner`` with the arguments it takes (``topic`` and ``seed`` at least)."""
    parameters = inspect.signature(runner).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        arguments = {k: v for k, v in arguments.items() if k in parameters}
    runner(**arguments)


def show_bank(bank: Bank, topic: str | None, as_json: bool) -> None:
    """``--list``: every question of ``topic`` with its tags."""
    title, questions = questions_for(bank, topic)
    chosen = {q.id for q in questions}
    rows = [row for row in describe(bank) if row["id"] in chosen]
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table(title=f"Quiz questions: {title}", title_justify="left", box=None)
    table.add_column("id", no_wrap=True)
    for column in ("kind", "item", "lesson", "misc."):
        table.add_column(column, overflow="fold")
    for row in rows:
        kind = f"{row['generator']}*" if row["generated"] else str(row["kind"])
        table.add_row(
            str(row["id"]),
            kind,
            " ".join(map(str, row["self_check"])),
            str(row["lesson"]),
            " ".join(map(str, row["misconceptions"])),
        )
    out.print(table)
    per_item = "  ".join(
        f"{item}: {sum(1 for q in questions if item in q.self_check)}" for item in SELF_CHECK
    )
    out.print(
        f"{len(rows)} questions (* generated); per self-check item: {per_item}", soft_wrap=True
    )


# -- the plain, line-based round --------------------------------------------------------------


class _Ended(Exception):
    """The learner typed q, or the input ended."""


def play_plain(rounds: QuizRound, stdin: TextIO, stdout: TextIO) -> None:
    """Ask every question of ``rounds`` line by line, then print the summary."""

    def say(text: str = "") -> None:
        print(text, file=stdout, flush=True)

    def read() -> str:
        try:
            line = stdin.readline()
        except (OSError, UnicodeDecodeError):  # stdin closed or not text: as at its end
            raise _Ended from None
        if not line or line.strip().lower() in QUIT:
            raise _Ended
        return line.strip()

    total = len(rounds.questions)
    if not total:
        when = rounds.next_due()
        later = f"; the next is due {_when(when - rounds.clock())}" if when else ""
        say(f"Nothing to review in {rounds.title}{later}.")
        return
    say(
        f"lbplay quiz: {total} question{'s' * (total > 1)} on {rounds.title} (seed"
        f" {rounds.seed}). Type q to stop."
    )
    try:
        while (asked := rounds.current) is not None:
            say()
            _show(asked, rounds.index + 1, total, say)
            if asked.form == "checklist":
                _write_freely(asked, say, read)
            say(f"Answer with {asked.prompt}:")
            while True:
                typed = read()
                if not typed:
                    say(f"Please answer with {asked.prompt}, or q to stop.")
                    continue
                try:
                    result = rounds.answer(typed)
                except AnswerError as error:
                    say(f"Not understood: {error}.")
                    continue
                break
            say(plain(result.feedback))
    except _Ended:
        say()
        say("Stopped.")
    say()
    for line in rounds.summary().lines():
        say(line)


def _show(asked: Asked, number: int, total: int, say: Callable[[str], None]) -> None:
    question = asked.question
    tags = [question.kind if not question.generated else f"generated ({question.generator})"]
    tags.append("self-check " + ", ".join(map(str, question.self_check)))
    tags.append(f"lesson {question.lesson}")
    say(f"Question {number} of {total} ({'; '.join(tags)})")
    say(plain(asked.text))
    for label, option in zip(asked.labels, asked.options, strict=True):
        if asked.form != "checklist":
            say(f"  {label}) {plain(option)}")


def _write_freely(asked: Asked, say: Callable[[str], None], read: Callable[[], str]) -> None:
    """An explain question: the learner writes (nothing is graded), then ticks the
    checklist points they made."""
    say(f"Take {asked.question.seconds} seconds. Write your answer; an empty line ends it.")
    while read():
        pass
    say("Which of these points did you make?")
    for label, option in zip(asked.labels, asked.options, strict=True):
        say(f"  {label}) {plain(option)}")


def _when(seconds: float) -> str:
    if seconds < 3600:
        return f"in {max(1, round(seconds / 60))} minutes"
    if seconds < 2 * 86_400:
        return f"in {round(seconds / 3600)} hours"
    return f"in {round(seconds / 86_400)} days"
