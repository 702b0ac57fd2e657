"""Asking and grading each kind of question: seeded shuffles, typed answers read
leniently but never guessed, feedback that names the misconception."""

from __future__ import annotations

import textwrap

import pytest

from lbplay.course.answers import AnswerError, read_number
from lbplay.course.quiz import Asked, Question, ask, grade, load_bank, plain, seed_for

LESSONS = ["why-balance", "sessions", "health-checks", "weighted-round-robin", "hashing"]

BANK = """
[[questions]]
id = "sticky"
kind = "choice"
self_check = [5]
lesson = "sessions"
misconceptions = [7]
text = "Sessions in memory, cookie affinity: the server dies. Then?"

[[questions.choices]]
text = "The session is lost"
correct = true
why = "it lived in that server's memory"

[[questions.choices]]
text = "The cookie moves the session"
correct = false
why = "a cookie only names a server"
misconception = 7

[[questions.choices]]
text = "Requests wait for the server"
correct = false
why = "the balancer re-pins to a live server"
catches = "thinking affinity outlives its server"

[[questions]]
id = "l7"
kind = "multiple"
self_check = [2]
lesson = "why-balance"
misconceptions = [11]
text = "Only layer 7 can..."

[[questions.choices]]
text = "route by path"
correct = true
why = "the path is in the request"

[[questions.choices]]
text = "read cookies"
correct = true
why = "cookies are headers"

[[questions.choices]]
text = "balance connections"
correct = false
why = "that is what layer 4 does"
misconception = 11

[[questions.choices]]
text = "see the client address"
correct = false
why = "the NLB passes it through"
catches = "thinking only L7 knows the client"

[[questions]]
id = "alb"
kind = "numeric"
self_check = [4]
lesson = "health-checks"
misconceptions = [9]
text = "The ALB's default interval?"
answer = 30
unit = "s"
why = "documented"
source = "AWS docs"

[[questions.wrong]]
answer = 5
why = "5 s is its timeout"
catches = "mixing up interval and timeout"

[[questions]]
id = "flow"
kind = "order"
self_check = [4]
lesson = "health-checks"
misconceptions = [9]
text = "Order the failover."
items = ["fails checks", "marked DOWN", "traffic moves", "recovers", "marked UP"]
why = "thresholds first"

[[questions]]
id = "sixty"
kind = "explain"
self_check = [1]
lesson = "why-balance"
misconceptions = []
text = "Explain load balancing."
checklist = ["what", "why", "how", "its own redundancy"]
model = "The model answer."

[[questions]]
id = "smooth"
kind = "predict"
self_check = [3]
lesson = "weighted-round-robin"
misconceptions = [4]
text = "nginx smooth WRR, a:5 b:1 c:1, next 7?"
compute = { question = "picks", count = 7 }
why = "smooth, not bursty"

[questions.setup]
algorithm = "weighted_round_robin"
backends = ["a:5", "b:1", "c:1"]

[[questions]]
id = "shares"
kind = "predict"
self_check = [3]
lesson = "weighted-round-robin"
misconceptions = [4]
text = "Shares of the next 100?"
compute = { question = "share", count = 100 }

[questions.setup]
algorithm = "weighted_round_robin"
backends = ["s1:5", "s2:3", "s3:2"]

[[questions]]
id = "moved"
kind = "numeric"
self_check = [3]
lesson = "hashing"
misconceptions = [1]
text = "4 backends, modulo hashing, add s5: share of keys moved?"
compute = { question = "keys_moved", change = "add s5" }

[questions.setup]
algorithm = "hash_modulo"
backends = 4
"""


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Question]:
    folder = tmp_path_factory.mktemp("quiz")
    (folder / "bank.toml").write_text(textwrap.dedent(BANK))
    return {q.id: q for q in load_bank(folder, lessons=LESSONS).questions}


def letter_of(asked: Asked, text: str) -> str:
    return asked.labels[asked.options.index(text)]


def test_choices_are_shuffled_by_the_seed(questions: dict[str, Question]) -> None:
    question = questions["sticky"]
    orders = {ask(question, seed).options for seed in range(40)}
    assert len(orders) == 6  # every order of three turns up
    assert ask(question, 7) == ask(question, 7)
    assert seed_for(3, "sticky") == seed_for(3, "sticky") != seed_for(4, "sticky")


def test_a_wrong_choice_names_its_misconception(questions: dict[str, Question]) -> None:
    asked = ask(questions["sticky"], 1)
    wrong = grade(asked, letter_of(asked, "The cookie moves the session"))
    assert not wrong.correct
    assert wrong.score == 0
    assert wrong.caught == (
        "misconception 7: sticky sessions are not high availability: the session dies with"
        " its server",
    )
    assert "Wrong: a cookie only names a server." in wrong.feedback
    assert "It catches thinking affinity outlives its server" in wrong.feedback  # the other one
    right = grade(asked, f"({letter_of(asked, 'The session is lost').upper()})")
    assert right.correct
    assert right.feedback.startswith("Right.")
    assert [n.chosen for n in right.notes].count(True) == 1


@pytest.mark.parametrize("typed", ["", "z", "a b", "1", "ab"])
def test_a_choice_answer_that_cannot_be_read_says_what_to_type(
    questions: dict[str, Question], typed: str
) -> None:
    with pytest.raises(AnswerError, match=r"^type one letter, a to c$"):
        grade(ask(questions["sticky"], 1), typed)


def test_multiple_choice_needs_the_exact_set_and_scores_partly(
    questions: dict[str, Question],
) -> None:
    asked = ask(questions["l7"], 2)
    path, cookies = letter_of(asked, "route by path"), letter_of(asked, "read cookies")
    connections = letter_of(asked, "balance connections")
    assert grade(asked, f"{cookies},{path}").correct
    assert grade(asked, f"{path}{cookies}").correct
    half = grade(asked, path)
    assert (half.correct, half.score) == (False, 0.5)
    assert "(you missed it)" in half.feedback
    mixed = grade(asked, f"{path} {connections}")
    assert mixed.score == 0
    assert mixed.caught == ("misconception 11: L4 balances connections, not requests",)
    with pytest.raises(AnswerError, match="every right answer"):
        grade(asked, "a q")


def test_numbers_convert_units_and_recognise_common_wrong_answers(
    questions: dict[str, Question],
) -> None:
    asked = ask(questions["alb"], 0)
    assert asked.form == "number"
    for typed in ("30", "30 s", "30s", "0.5 min", "30000 ms", "30 seconds"):
        assert grade(asked, typed).correct, typed
    wrong = grade(asked, "5")
    assert not wrong.correct
    assert wrong.caught == ("mixing up interval and timeout",)
    assert "Source: AWS docs." in wrong.feedback
    with pytest.raises(AnswerError, match=r"type a number \(seconds\)"):
        grade(asked, "thirty")
    with pytest.raises(AnswerError):
        grade(asked, "30%")


@pytest.mark.parametrize(
    ("typed", "value"),
    [("75", 75), ("75%", 75), ("0.75", 75), ("3/4", 75), (".5", 50), ("1", 1), ("12.5 %", 12.5)],
)
def test_percentages_may_be_typed_as_fractions(typed: str, value: float) -> None:
    assert read_number(typed, "%") == pytest.approx(value)


def test_a_computed_number_is_graded_in_the_engines_range(questions: dict[str, Question]) -> None:
    asked = ask(questions["moved"], 0)
    assert asked.number is not None
    assert 70 < asked.number.value < 90  # modulo: about 4 in 5 keys move
    assert grade(asked, f"{asked.number.value:.1f}%").correct
    assert not grade(asked, "20%").correct
    assert "keys move with hash_modulo" in grade(asked, "20").feedback


def test_order_is_shown_shuffled_and_graded_by_position(questions: dict[str, Question]) -> None:
    for seed in range(30):
        asked = ask(questions["flow"], seed)
        assert list(asked.positions) != sorted(asked.positions)
        items = questions["flow"].items
        right = " ".join(str(asked.options.index(item) + 1) for item in items)
        result = grade(asked, right)
        assert result.correct
        assert result.answer == right
    asked = ask(questions["flow"], 3)
    swapped = [asked.options.index(items[i]) + 1 for i in (1, 0, 2, 3, 4)]
    partly = grade(asked, " ".join(map(str, swapped)))
    assert (partly.correct, partly.score) == (False, pytest.approx(3 / 5))
    assert "1. fails checks" in partly.feedback
    with pytest.raises(AnswerError, match="the numbers 1 to 5 in the right order"):
        grade(asked, "1 2 3")


def test_explain_is_self_graded_against_the_checklist(questions: dict[str, Question]) -> None:
    asked = ask(questions["sixty"], 0)
    assert asked.form == "checklist"
    assert asked.options == ("what", "why", "how", "its own redundancy")
    assert grade(asked, "all").correct
    assert grade(asked, "1 2 3").correct  # three of four is the default pass mark
    short = grade(asked, "1 4")
    assert (short.correct, short.score) == (False, 0.5)
    assert "  - why" in short.feedback
    assert short.feedback.endswith("A model answer:\nThe model answer.")
    assert grade(asked, "none").score == 0
    with pytest.raises(AnswerError, match="all, or none"):
        grade(asked, "5")


def test_predicted_picks_come_from_the_engine_and_name_the_bursty_mistake(
    questions: dict[str, Question],
) -> None:
    asked = ask(questions["smooth"], 0)
    assert asked.form == "picks"
    assert asked.names == ("a", "b", "c")
    assert grade(asked, "a a b a c a a").correct
    bursty = grade(asked, "a a a a a b c")
    assert bursty.score == pytest.approx(3 / 7)
    assert "Why: smooth, not bursty." in bursty.feedback
    assert "highest current weight" in bursty.feedback  # the engine's reasoning
    with pytest.raises(AnswerError, match="type 7 backend names in order from a, b, c"):
        grade(asked, "a a b")
    with pytest.raises(AnswerError):
        grade(asked, "a a b a c a x")


def test_predicted_shares(questions: dict[str, Question]) -> None:
    asked = ask(questions["shares"], 0)
    assert asked.form == "shares"
    assert grade(asked, "s1=50% s2=30% s3=20%").correct
    assert not grade(asked, "s1=33% s2=33% s3=33%").correct
    with pytest.raises(AnswerError, match="each backend's share"):
        grade(asked, "half")


def test_plain_strips_markdown_marks() -> None:
    assert plain("**s2** runs `least_conn` and __this__") == "s2 runs least_conn and this"
