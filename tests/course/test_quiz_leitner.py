"""Spaced repetition with an injected clock: Leitner boxes per question in the
progress file, review serving what was missed and what is due, per-topic scores, and
a round of questions driven as the plain quiz and the TUI drive it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from lbplay.course.answers import AnswerError
from lbplay.course.leitner import DAY, Card, Deck, select, topic_scores
from lbplay.course.progress import Progress, Store
from lbplay.course.quiz import Bank, load_bank
from lbplay.course.quizround import QuizRound, questions_for
from lbplay.errors import ConfigError
from tests.labs import FakeClock

T0 = 1_700_000_000.0


def choice(question_id: str, item: int, lesson: str) -> str:
    return f"""
    [[questions]]
    id = "{question_id}"
    kind = "choice"
    self_check = [{item}]
    lesson = "{lesson}"
    misconceptions = []
    text = "Which one is right?"
    shuffle = false

    [[questions.choices]]
    text = "right"
    correct = true
    why = "it is"

    [[questions.choices]]
    text = "wrong"
    correct = false
    why = "it is not"
    catches = "guessing"
    """


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    folder = tmp_path / "quiz"
    folder.mkdir()
    text = "".join(
        choice(qid, item, lesson)
        for qid, item, lesson in [
            ("q1", 3, "hashing"),
            ("q2", 3, "hashing"),
            ("q3", 4, "health-checks"),
            ("q4", 5, "sessions"),
        ]
    )
    (folder / "bank.toml").write_text(textwrap.dedent(text))
    return load_bank(folder, lessons=["hashing", "health-checks", "sessions"])


def test_right_answers_climb_the_boxes_and_a_wrong_one_starts_over() -> None:
    deck = Deck({})
    card = deck.record("q1", True, T0)
    assert (card.box, card.due, card.missed) == (2, T0 + DAY, False)
    card = deck.record("q1", True, T0 + DAY)
    assert (card.box, card.due) == (3, T0 + 4 * DAY)
    card = deck.record("q1", False, T0 + 4 * DAY)
    assert (card.box, card.due, card.missed) == (1, T0 + 4 * DAY, True)
    assert (card.seen, card.right) == (3, 2)
    for n in range(6):
        card = deck.record("q1", True, T0 + 10 * DAY + n)
    assert card.box == 5  # the top box
    assert card.due == T0 + 10 * DAY + 5 + 21 * DAY


def test_review_serves_the_missed_then_the_due_lowest_box_first() -> None:
    deck = Deck({})
    deck.record("due-high", True, T0)
    deck.record("due-high", True, T0 + 2 * DAY)  # box 3, due at T0 + 5 days
    deck.record("due-low", True, T0)  # box 2, due at T0 + 1 day
    deck.record("missed-late", False, T0 + 2)
    deck.record("missed-early", False, T0 + 1)
    deck.record("not-due", True, T0 + 9 * DAY)  # box 2, due at T0 + 10 days
    ids = ["due-high", "due-low", "missed-late", "missed-early", "not-due", "never-seen"]
    now = T0 + 6 * DAY
    assert deck.review(ids, now) == ["missed-early", "missed-late", "due-low", "due-high"]
    assert deck.review(ids, T0 + 3) == ["missed-early", "missed-late"]
    assert deck.next_due(ids, now) == T0 + 10 * DAY
    assert deck.is_due("missed-late", T0)
    assert not deck.is_due("not-due", now)


def test_cards_live_in_the_progress_files_quiz_section(tmp_path: Path) -> None:
    store = Store(tmp_path / "progress.json")
    progress = Progress()
    progress.lesson("hashing").done = [0, 1]
    progress.quiz["theme"] = "kept"  # another key of the section survives
    Deck(progress.quiz).record("q1", False, T0)
    store.save(progress)
    again = store.load()
    assert again.lessons["hashing"].done == [0, 1]
    assert again.quiz["theme"] == "kept"
    card = Deck(again.quiz).card("q1")
    assert card == Card(box=1, due=T0, seen=1, right=0, missed=True, last=T0)


def test_an_old_progress_file_and_a_broken_card_are_read_without_fuss(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    # As lbplay wrote it before quizzes existed: no quiz section at all.
    path.write_text(json.dumps({"version": 1, "lessons": {"hashing": {"done": [0]}}}))
    progress = Store(path).load()
    assert Deck(progress.quiz).cards == {}
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "lessons": {},
                "quiz": {
                    "cards": {
                        "good": {"box": 2, "due": 5, "seen": 1, "right": 1},
                        "bad-box": {"box": 9},
                        "bad-type": {"box": "2"},
                        "not-a-card": 3,
                    }
                },
            }
        )
    )
    deck = Deck(Store(path).load().quiz)
    assert list(deck.cards) == ["good"]
    assert deck.cards["good"].due == 5.0


def test_select_puts_missed_and_due_first_and_is_seeded(bank: Bank) -> None:
    deck = Deck({})
    deck.record("q2", True, T0)  # due at T0 + 1 day
    deck.record("q4", False, T0)  # missed
    now = T0 + 3600
    chosen = select(bank.questions, deck, now=now, seed=1, count=10)
    assert next(q.id for q in chosen) == "q4"
    assert [q.id for q in chosen][-1] == "q2"  # not due yet: last
    assert chosen == select(bank.questions, deck, now=now, seed=1, count=10)
    later = select(bank.questions, deck, now=T0 + 2 * DAY, seed=1, count=2)
    assert [q.id for q in later] == ["q4", "q2"]
    review = select(bank.questions, deck, now=now, seed=1, count=10, review=True)
    assert [q.id for q in review] == ["q4"]


def test_topics_are_self_check_items_or_lessons(bank: Bank) -> None:
    title, chosen = questions_for(bank, "3")
    assert title.startswith("self-check 3: Understand 3+")
    assert [q.id for q in chosen] == ["q1", "q2"]
    assert [q.id for q in questions_for(bank, "sessions")[1]] == ["q4"]
    assert len(questions_for(bank, None)[1]) == 4
    with pytest.raises(ConfigError, match=r"no quiz topic '7'.*\(hashing, health-checks"):
        questions_for(bank, "7")


def test_a_round_files_each_answer_and_saves_it(bank: Bank, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = Store(tmp_path / "progress.json")
    quiz = QuizRound(bank, topic="3", seed=2, count=5, store=store, clock=clock)
    assert len(quiz.questions) == 2
    first = quiz.current
    assert first is not None
    with pytest.raises(AnswerError):
        quiz.answer("z")
    assert quiz.current is first  # nothing filed, same question
    assert not (tmp_path / "progress.json").exists()
    assert quiz.answer("b").correct is False
    saved = Deck(store.load().quiz).card(first.id)
    assert saved is not None
    assert saved.missed
    assert quiz.answer("a").correct
    assert quiz.done
    assert quiz.current is None
    summary = quiz.summary()
    assert (summary.answered, summary.right) == (2, 1)
    assert summary.by_item == {3: (1, 2)}
    assert summary.caught == [("guessing", 1)]
    assert summary.missed == [first.id]
    assert summary.lines()[0] == "Score: 1 of 2 right (50%)."
    assert summary.topics[3].answers == 2

    # The next day's review: the miss comes first, then the one now due.
    clock.advance(DAY + 1)
    review = QuizRound(bank, topic="3", seed=9, review=True, store=store, clock=clock)
    assert next(q.id for q in review.questions) == first.id
    assert len(review.questions) == 2
    scores = topic_scores(bank.questions, review.deck)
    assert (scores[3].questions, scores[3].seen, scores[3].right, scores[3].mastered) == (
        2,
        2,
        1,
        0,
    )
    assert scores[5].answers == 0


def test_an_empty_review_says_when_the_next_one_is_due(bank: Bank) -> None:
    clock = FakeClock(T0)
    progress = Progress()
    Deck(progress.quiz).record("q3", True, T0)
    quiz = QuizRound(bank, topic="4", review=True, progress=progress, clock=clock)
    assert quiz.questions == []
    assert quiz.next_due() == T0 + DAY
    assert quiz.summary().lines() == ["No questions answered."]
