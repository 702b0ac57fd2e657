"""``lbplay quiz`` as a learner and a script meet it: the bank listed as JSON, a plain
line-based round driven through stdin, one-line errors, and the TUI hand-over."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lbplay import quiz as quiz_cli
from lbplay.course.leitner import Deck
from lbplay.course.progress import Store
from tests.cli.test_cli import run

ROOT = Path(__file__).resolve().parents[2]

BANK = """
[[questions]]
id = "sticky"
kind = "choice"
self_check = [5]
lesson = "sessions"
misconceptions = [7]
shuffle = false
text = "Sessions in **memory**, cookie affinity: the server dies. Then?"

[[questions.choices]]
text = "The session is lost"
correct = true
why = "it lived in that server's memory"

[[questions.choices]]
text = "The cookie moves the session"
correct = false
why = "a cookie only names a server"
misconception = 7

[[questions]]
id = "sixty"
kind = "explain"
self_check = [1]
lesson = "why-balance"
misconceptions = []
text = "Explain load balancing."
checklist = ["what", "why"]
model = "The model answer."

[[questions]]
id = "gen-timing"
kind = "generated"
generator = "health_timing"
self_check = [4]
lesson = "health-checks"
misconceptions = [9]
"""


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small course with this bank; progress in a temp file."""
    folder = tmp_path / "lessons"
    (folder / "quiz").mkdir(parents=True)
    (folder / "course.toml").write_text('lessons = ["why-balance", "health-checks", "sessions"]\n')
    (folder / "quiz" / "bank.toml").write_text(textwrap.dedent(BANK))
    monkeypatch.setenv("LBPLAY_LESSONS", str(folder))
    monkeypatch.setenv("LBPLAY_PROGRESS", str(tmp_path / "progress.json"))
    return folder


def typed(monkeypatch: pytest.MonkeyPatch, *lines: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{line}\n" for line in lines)))


def test_list_json_describes_every_question(
    capsys: pytest.CaptureFixture[str], course: Path
) -> None:
    code, out, err = run(capsys, "quiz", "--list", "--json")
    assert (code, err) == (0, "")
    rows = json.loads(out)
    assert [row["id"] for row in rows] == ["sticky", "sixty", "gen-timing"]
    assert rows[0] == {
        "id": "sticky",
        "kind": "choice",
        "self_check": [5],
        "lesson": "sessions",
        "misconceptions": [7],
        "source_errors": [],
        "generated": False,
        "generator": None,
        "computed": False,
        "file": "bank.toml",
    }
    assert rows[2]["generated"] is True
    assert rows[2]["generator"] == "health_timing"
    code, out, _ = run(capsys, "quiz", "--list", "--json", "4")
    assert [row["id"] for row in json.loads(out)] == ["gen-timing"]


def test_the_shipped_bank_lists_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "quiz", "--list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) >= 12
    for row in rows:
        assert {"id", "kind", "self_check", "lesson", "misconceptions", "generated"} <= set(row)
        assert row["generated"] == (row["kind"] == "generated")


def test_a_plain_round_reads_answers_and_re_asks_bad_ones_with_one_line(
    capsys: pytest.CaptureFixture[str], course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed(monkeypatch, "zz", "", "b")
    code, out, err = run(capsys, "quiz", "--plain", "5", "--seed", "3")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        "lbplay quiz: 1 question on self-check 5: Know when to use sticky sessions vs a"
        " shared session store (seed 3). Type q to stop."
    )
    assert "Question 1 of 1 (choice; self-check 5; lesson sessions)" in lines
    assert "Sessions in memory, cookie affinity: the server dies. Then?" in lines  # no **
    assert "  a) The session is lost" in lines
    prompt = lines.index("Answer with one letter, a to b:")
    assert lines[prompt + 1] == "Not understood: type one letter, a to b."
    assert lines[prompt + 2] == "Please answer with one letter, a to b, or q to stop."
    assert lines[prompt + 3] == "Not quite: the answer is a."
    assert "  Wrong: a cookie only names a server. That is misconception 7: sticky" in out
    assert "Score: 0 of 1 right (0%)." in lines
    assert "\x1b" not in out  # no colour, no cursor movement
    card = Deck(Store().load().quiz).card("sticky")
    assert card is not None
    assert card.missed


def test_end_of_input_or_q_ends_the_round_with_a_summary(
    capsys: pytest.CaptureFixture[str], course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for ending in ("q", None):
        # the explain question, then the round cut short on the next one
        Path(os.environ["LBPLAY_PROGRESS"]).unlink(missing_ok=True)  # a new learner
        typed(monkeypatch, "my words", "", "all", *([ending] if ending else []))
        code, out, _ = run(capsys, "quiz", "--plain", "--seed", "1")
        assert code == 0
        assert "lbplay quiz: 3 questions on every topic (seed 1)" in out
        assert "Question 1 of 3 (explain; self-check 1; lesson why-balance)" in out
        assert "Question 2 of 3" in out
        assert "Question 3 of 3" not in out
        assert out.endswith(
            "Stopped.\n\nScore: 1 of 1 right (100%).\n"
            "  self-check 1 (Can explain load balancing in 60 seconds): 1 of 1\n"
            "Over every round so far:\n"
            "  self-check 1: 1 of 1 answers right; 0 of 1 questions mastered (box 3 or higher)\n"
        )
    typed(monkeypatch)
    code, out, _ = run(capsys, "quiz", "--plain", "--seed", "1")
    assert code == 0
    assert out.endswith("Stopped.\n\nNo questions answered.\n")


def test_an_explain_question_is_written_then_ticked(
    capsys: pytest.CaptureFixture[str], course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed(monkeypatch, "It spreads requests over servers.", "So one can die.", "", "3", "1")
    code, out, _ = run(capsys, "quiz", "--plain", "1")
    assert code == 0
    lines = out.splitlines()
    at = lines.index("Take 60 seconds. Write your answer; an empty line ends it.")
    assert lines[at + 1 : at + 4] == [
        "Which of these points did you make?",
        "  1) what",
        "  2) why",
    ]
    assert "Not understood: type the numbers of the points you covered (1 to 2)" in out
    assert "You covered 1 of 2 points; a strong answer covers at least 2" in out
    assert "A model answer:\nThe model answer." in out


def test_a_generated_question_is_reproducible_from_its_seed(
    capsys: pytest.CaptureFixture[str], course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = []
    for _ in range(2):
        typed(monkeypatch, "q")
        outputs.append(run(capsys, "quiz", "--plain", "4", "--seed", "12")[1])
    assert outputs[0] == outputs[1]
    assert "At most how many seconds" in outputs[0]


def test_review_with_nothing_due(
    capsys: pytest.CaptureFixture[str], course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typed(monkeypatch)
    code, out, _ = run(capsys, "quiz", "--plain", "--review")
    assert code == 0
    assert out == "Nothing to review in every topic.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["quiz", "--plain", "9"], "no quiz topic '9': use a self-check item 1-6"),
        (["quiz", "--json"], "--json goes with --list"),
        (["quiz", "--plain", "--count", "0"], "Invalid value for '--count'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], course: Path, args: list[str], message: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_a_broken_bank_is_one_line_with_file_and_line(
    capsys: pytest.CaptureFixture[str], course: Path
) -> None:
    bank = course / "quiz" / "bank.toml"
    bank.write_text(bank.read_text().replace("misconception = 7", "misconception = 70"))
    code, _, err = run(capsys, "quiz", "--list")
    assert code == 2
    line = next(n for n, t in enumerate(bank.read_text().splitlines(), 1) if "= 70" in t)
    assert err.startswith(f"lbplay: error: {bank}:{line}: question 'sticky': choice 2:")
    assert err.count("\n") == 1


def test_without_plain_the_tui_screen_gets_the_round(
    capsys: pytest.CaptureFixture[str], course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    def run_quiz(topic: str | None = None, seed: int | None = None) -> None:
        calls.append({"topic": topic, "seed": seed})

    monkeypatch.setattr(quiz_cli, "tui_runner", lambda: run_quiz)
    code, out, err = run(capsys, "quiz", "sessions", "--seed", "5")
    assert (code, out, err) == (0, "", "")
    assert calls == [{"topic": "sessions", "seed": 5}]


def test_without_a_quiz_screen_it_asks_in_plain_text_with_a_note(
    capsys: pytest.CaptureFixture[str], course: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quiz_cli, "tui_runner", lambda: None)
    typed(monkeypatch, "a")
    code, out, err = run(capsys, "quiz", "5", "--seed", "5")
    assert code == 0
    assert err == "lbplay: note: the quiz screen is not available here; asking in plain text\n"
    assert "Score: 1 of 1 right (100%)." in out


def test_plain_mode_in_a_real_process_through_a_pipe(course: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "lbplay", "quiz", "--plain", "5", "--seed", "2"],
        input="a\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "Right." in result.stdout
    assert "Score: 1 of 1 right (100%)." in result.stdout
    assert "\x1b" not in result.stdout
    saved = json.loads((tmp_path / "progress.json").read_text())
    assert saved["quiz"]["cards"]["sticky"]["box"] == 2
