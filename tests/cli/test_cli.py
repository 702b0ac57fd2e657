"""The command line as a user meets it: output, exit codes, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lbplay import __version__
from lbplay.cli import main
from lbplay.core import registry
from lbplay.net import proxy_http


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--version")
    assert (code, err) == (0, "")
    assert out.startswith(f"lbplay {__version__} (Python 3.")
    assert ", asyncio, " in out or ", uvloop " in out
    # The tests run the sources (pure Python); .ci/run runs them compiled too.
    compiled = not proxy_http.__file__.endswith(".py")
    data_path = "compiled with mypyc" if compiled else "in pure Python"
    assert out.endswith(f", data path {data_path})\n")


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("algorithms", "pick", "info", "serve", "ctl"):
        assert command in out
    assert "opens the live dashboard" in out


@pytest.mark.parametrize("args", [["-h"], ["--help"], ["pick", "-h"], ["algorithms", "-h"]])
def test_help_everywhere(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, _ = run(capsys, *args)
    assert code == 0
    assert "Usage" in out


def test_algorithms_table_lists_every_algorithm(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "algorithms")
    assert code == 0
    for name in registry.names():
        assert name in out  # names never wrap, even at 80 columns
    for column in ("nginx", "HAProxy", "Envoy", "AWS"):
        assert column in out


@pytest.mark.parametrize("name", registry.names())
def test_one_algorithm_in_full_with_its_options(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    code, out, _ = run(capsys, "algorithms", name)
    assert code == 0
    info = registry.get(name)
    flat = " ".join(out.split())
    assert flat.startswith(f"{name} ({info.family})")
    assert f"Envoy {info.envoy}" in flat
    for key, option in info.options.items():
        assert f"{key} = {option.default!r}" in flat
    if not info.options:
        assert "Options: none." in flat


def test_an_unknown_algorithm_suggests_real_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "algorithms", "leastconn")
    assert code == 2
    assert err.startswith("lbplay: error: unknown algorithm 'leastconn'; did you mean")
    assert "least_connections" in err


def test_pick_prints_smooth_wrr_sequence(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "pick", "weighted_round_robin", "--backends", "a:5,b:1,c:1", "-n", "7"
    )
    assert code == 0
    rows = [line.split("│")[2].strip() for line in out.splitlines() if line.startswith("│ ")]
    backends = [r for r in rows if r]
    assert backends == list("aabacaa")
    assert "highest current weight" in out
    assert "a 5 (71%)" in out


def test_pick_hash_with_key_is_sticky(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pick", "ring_hash", "--key", "alice", "-n", "5")
    assert code == 0
    assert out.count("'alice' hashes to") == 5


def test_pick_ip_hash_client_ip(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pick", "ip_hash", "--client-ip", "10.0.0.7", "-n", "2")
    assert code == 0
    assert "10.0.0.x = 2565" in out


def test_remove_reports_key_movement(capsys: pytest.CaptureFixture[str]) -> None:
    fleet = ",".join(f"s{i}" for i in range(10))
    code, out, _ = run(capsys, "pick", "hash_modulo", "-b", fleet, "--remove", "s4")
    assert code == 0
    assert "of 10,000 keys" in out
    moved = float(out.split("(")[1].split("%")[0])
    assert moved >= 80


def test_add_and_jump_hash_note(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "pick", "jump_hash", "--add", "d")
    assert code == 0
    flat = " ".join(out.split())
    assert "moved from a remaining backend to the new one(s)" in flat
    assert "only grow or shrink at the end" in flat


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["pick", "least_conn"], "unknown algorithm 'least_conn'; did you mean least_connections"),
        (["pick", "round_robin", "-b", "a:x"], "bad weight 'x'"),
        (["pick", "round_robin", "-b", "a:0"], "bad weight 0"),
        (["pick", "round_robin", "-b", "a,,b"], "empty item"),
        (["pick", "round_robin", "--remove", "a"], "does not map keys"),
        (["pick", "ring_hash", "--remove", "zz"], "cannot remove 'zz'"),
        (["pick", "ring_hash", "-o", "vnodes=lots"], "bad value 'lots' for option 'vnodes'"),
        (["pick", "ring_hash", "-o", "vnodes=1.5"], "needs a whole number"),
        (["pick", "ring_hash", "-o", "nodes=5"], "ring_hash has no option 'nodes'"),
        (["pick", "round_robin", "-n", "0"], "-n"),
        (["pick", "round_robin", "--bogus"], "No such option"),
        (["pock"], "No such command"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("lbplay: error: ")
    assert message in err
    assert "Traceback" not in err


def test_python_dash_m_and_no_traceback_in_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lbplay", "pick", "nope"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("lbplay: error: unknown algorithm 'nope'")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", [[], ["serve"], ["pick"]])
def test_help_writes_nothing_after_a_plain_flag(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    """Found: every on/off flag read ``--l4 <bool>``, as if it took a value."""
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert "<bool>" not in out
