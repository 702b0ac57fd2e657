"""Question banks: the shipped ones load and cover what they promise; a broken
question is refused with its file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lbplay.course.lesson import LessonError
from lbplay.course.quiz import KINDS, load_bank
from lbplay.course.syllabus import MISCONCEPTIONS, SELF_CHECK, SOURCE_ERRORS
from lbplay.resources import lessons_dir

LESSONS = ["why-balance", "sessions", "health-checks"]


def test_every_shipped_question_loads_with_real_tags() -> None:
    bank = load_bank()
    lessons = (lessons_dir() / "course.toml").read_text()
    assert len(set(bank.ids)) == len(bank.ids)
    for question in bank.questions:
        assert f'"{question.lesson}"' in lessons, question.id
        assert set(question.self_check) <= set(SELF_CHECK), question.id
        assert set(question.misconceptions) <= set(MISCONCEPTIONS), question.id
        assert set(question.source_errors) <= set(SOURCE_ERRORS), question.id
        for choice in question.choices:
            assert choice.why, question.id
            assert choice.correct or choice.caught, question.id


def test_the_shipped_bank_has_every_kind_and_every_self_check_item() -> None:
    bank = load_bank()
    assert {q.kind for q in bank.questions} == set(KINDS)
    for item in SELF_CHECK:
        assert sum(item in q.self_check for q in bank.questions) >= 2, item
    generators = {q.generator for q in bank.questions if q.generated}
    assert generators == {"picks", "keys_moved", "health_timing", "health_preset", "session_death"}


def write(folder: Path, text: str, name: str = "bank.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


GOOD = """
[[questions]]
id = "ok"
kind = "choice"
self_check = [5]
lesson = "sessions"
misconceptions = [7]
text = "Sticky sessions and high availability?"

[[questions.choices]]
text = "The session dies with its server"
correct = true
why = "it lived in that server's memory"

[[questions.choices]]
text = "The cookie moves the session"
correct = false
why = "a cookie only names a server"
misconception = 7
"""


def test_a_good_bank_loads(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    [question] = load_bank(tmp_path, lessons=LESSONS).questions
    assert question.id == "ok"
    assert question.choices[1].caught.startswith("misconception 7: sticky sessions")
    assert question.line == 1


def line_of(path: Path, fragment: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if fragment in text)


@pytest.mark.parametrize(
    ("old", "new", "where", "message"),
    [
        ('lesson = "sessions"', 'lesson = "nope"', "lesson =", "lesson must be a lesson id"),
        ("self_check = [5]", "self_check = [7]", "self_check", "self_check must be a list"),
        ("self_check = [5]", "self_check = []", "self_check", "must name at least one"),
        ("misconceptions = [7]", "misconceptions = [15]", "misconceptions", "1 to 14"),
        ('kind = "choice"', 'kind = "essay"', "kind =", "kind must be one of"),
        ('id = "ok"', 'id = "Not OK"', "id =", "id must be lowercase"),
        ("misconception = 7", 'catches = ""', 'why = "a cookie', "must name what it catches"),
        ("misconception = 7", "misconception = 3", "misconception = 3", "list it in the"),
        ("misconception = 7", "misconception = 7\nfeedback = 'x'", "feedback", "no key 'feedback'"),
        ('why = "it lived in', 'whyy = "it lived in', "whyy", "no key 'whyy'"),
        ("correct = false", "correct = true", "misconception = 7", "is right, so it catches no"),
        (
            'correct = true\nwhy = "it lived',
            'correct = false\ncatches = "x"\nwhy = "it lived',
            "[[questions]]",
            "exactly one right choice",
        ),
        ('text = "Sticky sessions', 'texts = "Sticky sessions', "texts", "no key 'texts'"),
    ],
)
def test_a_broken_question_is_refused_with_file_and_line(
    tmp_path: Path, old: str, new: str, where: str, message: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(LessonError) as raised:
        load_bank(tmp_path, lessons=LESSONS)
    assert raised.value.path == path
    assert raised.value.line == line_of(path, where), str(raised.value)
    assert message in raised.value.message
    assert str(raised.value).startswith(f"{path}:{raised.value.line}: ")


def test_ids_are_unique_across_banks(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.toml")
    second = write(tmp_path, GOOD, "b.toml")
    with pytest.raises(LessonError, match=r"id 'ok' is used twice \(first at a.toml:1\)") as e:
        load_bank(tmp_path, lessons=LESSONS)
    assert e.value.path == second


def test_stray_files_and_bad_toml_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "notes", "notes.txt")
    with pytest.raises(LessonError, match="not a question bank"):
        load_bank(tmp_path, lessons=LESSONS)
    (tmp_path / "notes.txt").unlink()
    path = write(tmp_path, "[[questions]]\nid = \n")
    with pytest.raises(LessonError, match="not valid TOML") as raised:
        load_bank(tmp_path, lessons=LESSONS)
    assert (raised.value.path, raised.value.line) == (path, 2)


NUMERIC = """
[[questions]]
id = "alb"
kind = "numeric"
self_check = [4]
lesson = "health-checks"
misconceptions = [9]
text = "The ALB's default interval?"
answer = 30
tolerance = 1
unit = "s"
why = "documented"

[[questions.wrong]]
answer = 10
why = "the explainer's example"
catches = "taking an example for a default"
"""


def test_numeric_questions_are_checked(tmp_path: Path) -> None:
    write(tmp_path, NUMERIC)
    [question] = load_bank(tmp_path, lessons=LESSONS).questions
    assert question.number is not None
    assert (question.number.low, question.number.high) == (29, 31)
    path = write(tmp_path, NUMERIC.replace("answer = 10", "answer = 30.5"))
    with pytest.raises(LessonError, match="within the tolerance") as raised:
        load_bank(tmp_path, lessons=LESSONS)
    assert raised.value.line == line_of(path, "[[questions.wrong]]")
    path = write(tmp_path, NUMERIC.replace('catches = "taking an example for a default"', ""))
    with pytest.raises(LessonError, match="must name what it catches") as raised:
        load_bank(tmp_path, lessons=LESSONS)
    assert raised.value.line == line_of(path, 'why = "the explainer')


COMPUTED = """
[[questions]]
id = "detect"
kind = "numeric"
self_check = [4]
lesson = "health-checks"
misconceptions = [9]
text = "HAProxy defaults, a crash: seconds to DOWN?"
compute = { question = "detection" }

[questions.setup]
backends = 3
health = "haproxy"
"""


def test_a_computed_number_comes_from_the_engine(tmp_path: Path) -> None:
    write(tmp_path, COMPUTED)
    [question] = load_bank(tmp_path, lessons=LESSONS).questions
    assert question.number is not None
    assert (question.number.low, question.number.high) == (4.0, 6.0)
    assert question.number.text == "4 to 6 s"
    assert question.computed


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('health = "haproxy"', 'health = "off"', "needs health checks"),
        ('health = "haproxy"', 'health = "nginx"', "setup.health must be off"),
        ('question = "detection"', 'question = "picks"', "ask picks as a predict question"),
        ("compute = {", "answer = 5\ncompute = {", "takes its answer"),
    ],
)
def test_a_computed_question_lbplay_cannot_answer_is_refused(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    write(tmp_path, COMPUTED.replace(old, new))
    with pytest.raises(LessonError, match=message):
        load_bank(tmp_path, lessons=LESSONS)


GENERATED = """
[[questions]]
id = "gen"
kind = "generated"
generator = "keys_moved"
self_check = [3]
lesson = "sessions"
misconceptions = [1]
params = { backends = [3, 5] }
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('generator = "keys_moved"', 'generator = "dice"', "generator must be one of"),
        ("backends = [3, 5]", "backend = [3, 5]", "no parameter 'backend'"),
        ("backends = [3, 5]", "backends = [5, 3]", r"params.backends must be \[low, high\]"),
        ("backends = [3, 5]", 'algorithms = ["random"]', "params.algorithms must be a list"),
    ],
)
def test_generated_entries_are_checked(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert load_bank(write(tmp_path, GENERATED).parent, lessons=LESSONS).questions[0].generated
    path = write(tmp_path, GENERATED.replace(old, new))
    with pytest.raises(LessonError, match=message) as raised:
        load_bank(tmp_path, lessons=LESSONS)
    assert raised.value.line == line_of(path, new.split()[0])


def test_an_explain_and_an_order_question_need_their_parts(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
        [[questions]]
        id = "say-it"
        kind = "explain"
        self_check = [1]
        lesson = "why-balance"
        misconceptions = []
        text = "Explain it."
        checklist = ["one point"]
        model = "A model."
        """,
    )
    with pytest.raises(LessonError, match="checklist must be 2 to 10"):
        load_bank(tmp_path, lessons=LESSONS)
    write(
        tmp_path,
        """
        [[questions]]
        id = "steps"
        kind = "order"
        self_check = [4]
        lesson = "health-checks"
        misconceptions = []
        text = "Order them."
        items = ["a", "b", "a"]
        why = "because"
        """,
    )
    with pytest.raises(LessonError, match="two items are the same"):
        load_bank(tmp_path, lessons=LESSONS)


def coverage() -> tuple[dict[int, int], int]:
    """Questions per self-check item (a generator counts once per item) and the number
    of hand-written questions."""
    bank = load_bank()
    per_item = {}
    for item in SELF_CHECK:
        tagged = [q for q in bank.questions if item in q.self_check]
        written = sum(1 for q in tagged if not q.generated)
        per_item[item] = written + len({q.generator for q in tagged if q.generated})
    return per_item, sum(1 for q in bank.questions if not q.generated)


def test_the_bank_covers_each_self_check_item_eight_times() -> None:
    per_item, written = coverage()
    assert min(per_item.values()) >= 8, per_item
    assert written >= 60
