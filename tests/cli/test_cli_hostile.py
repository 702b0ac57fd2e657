"""Every command and option under arbitrary input: exit 0 or 2, never a traceback.

The values are drawn at random — text of any kind, numbers with NaN, infinities,
negatives and huge ones — for every option each command really has (read from the
Typer app, so a new option is covered without touching this file). ``serve`` and
the dashboard are replaced by stand-ins that only record what they were asked to
run: what is tested is the parsing and checking in front of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.core import TyperArgument, TyperGroup, TyperOption

from lbplay import cli
from lbplay.model import controls

COMMAND = typer.main.get_command(cli.app)
assert isinstance(COMMAND, TyperGroup)
SUBCOMMANDS = {name: command for name, command in COMMAND.commands.items() if name != "ctl"}
ANY_TEXT = st.text(max_size=30)
NUMBERS = st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e400", "99999999999", "3", "0.5"])
VALUES = ANY_TEXT | NUMBERS | st.integers(-10, 10_000).map(str)


def options_of(command: Any) -> list[tuple[str, bool]]:
    """(option, whether it takes a value) for every option of ``command``."""
    found = []
    for param in command.params:
        if isinstance(param, TyperOption) and param.name not in ("help", "version"):
            found.extend((opt, not param.is_flag) for opt in param.opts if opt.startswith("--"))
    return found


def arguments_of(command: Any) -> int:
    return sum(isinstance(p, TyperArgument) for p in command.params)


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    name = draw(st.sampled_from([*SUBCOMMANDS, ""]))
    command = SUBCOMMANDS.get(name, COMMAND)
    words = [name] if name else []
    words += [draw(VALUES) for _ in range(draw(st.integers(0, arguments_of(command))))]
    options = options_of(command)
    chosen = draw(st.lists(st.sampled_from(options), max_size=4)) if options else []
    for option, takes_value in chosen:
        words.append(option)
        if takes_value:
            words.append(draw(VALUES))
    return words


class Started(BaseException):
    """Raised by a stand-in: the command got past its checks to the part that runs."""


#: Everything that would run for long (a lab, a dashboard, a browser server, a
#: lesson, scenario or incident played on a Lab, a simulation). Called synchronously, before any
#: event loop, so a stand-in that raises stops the command right there.
LONG_RUNNERS = [
    "lbplay.serve.run",
    "lbplay.tui.app.run",
    "lbplay.tui.app.run_quiz",
    "lbplay.tui.app.run_interview",
    "lbplay.web.serve",
    "lbplay.course.scenario.play",
    "lbplay.learn.play",
    "lbplay.interview.prove",
    "lbplay.sim_cli.run_comparison",
]


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Replace what would run for long by stand-ins that record and stop."""
    ran: list[str] = []
    for target in LONG_RUNNERS:

        def stand_in(*args: Any, _target: str = target, **kwargs: Any) -> None:
            ran.append(_target)
            raise Started(_target)

        monkeypatch.setattr(target, stand_in)
    monkeypatch.setenv("LBPLAY_RUNFILE", str(tmp_path / "none.json"))
    monkeypatch.setenv("LBPLAY_PROGRESS", str(tmp_path / "progress.json"))
    monkeypatch.setenv("LBPLAY_DATA", str(tmp_path / "data"))
    return ran


def run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str]:
    """Exit status and stderr of ``lbplay ARGS`` (0 when it reached a stand-in)."""
    try:
        cli.main(args)
    except SystemExit as done:
        return int(done.code or 0), capsys.readouterr().err
    except Started:
        return 0, capsys.readouterr().err
    raise AssertionError(f"lbplay {args} returned without exiting")


SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(args=invocations())
@example(args=["sim", "\n"])  # a file name with a newline: its error was two lines
@example(args=["learn", "x\ry"])
def test_any_command_line_is_answered_or_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], stand_ins: list[Any], args: list[str]
) -> None:
    code, err = run(capsys, args)
    assert code in (0, 2), (args, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("lbplay: error: "), (args, err)
        assert err.count("\n") == 1, (args, err)


@SETTINGS
@given(
    words=st.lists(VALUES, max_size=4),
    name=st.sampled_from([*controls.control_names(), "state", "events", "nope"]),
)
def test_any_ctl_words_are_refused_in_one_line_with_no_lab(
    capsys: pytest.CaptureFixture[str], stand_ins: list[Any], words: list[str], name: str
) -> None:
    code, err = run(capsys, ["ctl", *name.split(), *words])
    assert code in (0, 2), (name, words, err)  # 0: a help page
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("lbplay: error: "), err
        assert err.count("\n") == 1, err


@pytest.mark.usefixtures("stand_ins")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--backend", "http://[::1"], "bad backend URL 'http://[::1'"),
        (["serve", "--hash-header", "bad name"], "bad header name 'bad name'"),
        (["serve", "--hash-header", ""], "bad header name ''"),
        (["serve", "--queue-timeout", "inf"], "bad queue timeout inf"),
        (["serve", "--drain-timeout", "inf"], "bad drain timeout inf"),
        (["pick", "ip_hash", "--client-ip", "garbage"], "bad client address 'garbage'"),
        (["pick", "ip_hash", "--client-ip", "999.1.1.1"], "bad client address '999.1.1.1'"),
        (["pick", "ip_hash", "--client-ip", ""], "bad client address ''"),
        (["pick", "ip_hash", "--key", "u1"], "ip_hash hashes the client address, not a key"),
        (["ctl", "add", "s9\n"], "bad backend name 's9\\n'"),
    ],
)
def test_the_probes_reproductions_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Each was a traceback or was silently accepted before."""
    code, err = run(capsys, args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
