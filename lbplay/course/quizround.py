"""A round of quiz questions: what to ask, grading, the Leitner record and the summary.

Both the line-based quiz (``lbplay quiz --plain``) and the TUI's quiz screen drive the
same ``QuizRound``::

    round = QuizRound(load_bank(), topic="3", seed=7, count=5, store=Store())
    while (asked := round.current) is not None:
        show(asked.text, asked.options, asked.prompt)   # Markdown; options as labelled
        try:
            result = round.answer(typed)                # graded, filed, saved
        except AnswerError as error:
            say(str(error))                             # one line: what to type; ask again
        show(result.feedback)
    round.summary()

An explain question (``asked.form == "checklist"``) is answered in two moves: the
learner writes freely (nothing is graded), then ticks the ``asked.options`` they
covered and that is the answer (``"1 3"``, ``"all"``, ``"none"``); the feedback ends
with the model answer.

Each answer is filed in the Leitner boxes (``course.leitner``) and the progress file
is saved at once (atomically), so quitting half-way loses nothing. The clock is
injected (``clock``, seconds since the epoch).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from lbplay.course.leitner import Deck, TopicScore, select, topic_scores
from lbplay.course.progress import Progress, Store
from lbplay.course.quiz import Asked, Bank, Question, Result, ask, grade, seed_for
from lbplay.course.syllabus import SELF_CHECK
from lbplay.errors import ConfigError


def questions_for(bank: Bank, topic: str | None) -> tuple[str, list[Question]]:
    """The questions of ``topic`` — a self-check item (``"3"``) or a lesson id — and
    how to name it; ``ConfigError`` listing the topics when it is neither."""
    if topic is None or topic == "":
        return "every topic", list(bank.questions)
    text = topic.strip()
    if text.isdigit() and int(text) in SELF_CHECK:
        item = int(text)
        chosen = [q for q in bank.questions if item in q.self_check]
        return f"self-check {item}: {SELF_CHECK[item]}", chosen
    chosen = [q for q in bank.questions if q.lesson == text]
    if chosen:
        return f"lesson {text}", chosen
    lessons = ", ".join(dict.fromkeys(q.lesson for q in bank.questions))
    raise ConfigError(
        f"no quiz topic {topic!r}: use a self-check item 1-{max(SELF_CHECK)}"
        f" or a lesson id with questions ({lessons})"
    )


@dataclass(frozen=True)
class Answered:
    """One question asked and how it went."""

    asked: Asked
    result: Result


@dataclass(frozen=True)
class Summary:
    """A round's outcome: the learner's own numbers."""

    answered: int
    right: int
    #: Per self-check item: (right, answered) in this round.
    by_item: dict[int, tuple[int, int]]
    #: Misconceptions the wrong answers revealed, most often first.
    caught: list[tuple[str, int]]
    #: Ids of the questions answered wrong.
    missed: list[str]
    #: Every item's standing over all rounds (the Leitner record).
    topics: dict[int, TopicScore]

    def lines(self) -> list[str]:
        """The summary as a few plain lines."""
        if not self.answered:
            return ["No questions answered."]
        share = self.right / self.answered
        out = [f"Score: {self.right} of {self.answered} right ({share:.0%})."]
        for item, (right, answered) in sorted(self.by_item.items()):
            out.append(f"  self-check {item} ({SELF_CHECK[item]}): {right} of {answered}")
        out.append("Over every round so far:")
        for item in sorted(self.by_item):
            score = self.topics[item]
            out.append(
                f"  self-check {item}: {score.right} of {score.answers} answers right;"
                f" {score.mastered} of {score.questions} questions mastered (box 3 or higher)"
            )
        if self.caught:
            out.append("What the wrong answers revealed:")
            out += [f"  {what}" + (f" (×{n})" if n > 1 else "") for what, n in self.caught]
        if self.missed:
            out.append("Missed questions come back first in 'lbplay quiz --review'.")
        return out


class QuizRound:
    """The questions of one round and the learner's answers to them."""

    def __init__(
        self,
        bank: Bank,
        *,
        topic: str | None = None,
        seed: int = 0,
        count: int = 10,
        review: bool = False,
        store: Store | None = None,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if count < 1:
            raise ConfigError("a round needs at least one question (--count 1 or more)")
        self.bank = bank
        self.store = store
        self.progress = (
            progress if progress is not None else (store.load() if store else Progress())
        )
        self.deck = Deck(self.progress.quiz)
        self.clock = clock
        self.seed = seed
        self.review = review
        self.title, self.pool = questions_for(bank, topic)
        self.questions = select(
            self.pool, self.deck, now=clock(), seed=seed, count=count, review=review
        )
        self.index = 0
        self.answered: list[Answered] = []
        self._asked: Asked | None = None

    @property
    def current(self) -> Asked | None:
        """The question to answer now (None once the round is over)."""
        if self.index >= len(self.questions):
            return None
        if self._asked is None:
            question = self.questions[self.index]
            self._asked = ask(question, seed_for(self.seed, question.id))
        return self._asked

    @property
    def done(self) -> bool:
        return self.index >= len(self.questions)

    def answer(self, typed: str) -> Result:
        """Grade ``typed`` for the current question, file it, save, and move on.
        ``AnswerError`` (nothing filed, same question) when it cannot be read."""
        asked = self.current
        if asked is None:
            raise ConfigError("the round is over")
        result = grade(asked, typed)
        self.deck.record(asked.id, result.correct, self.clock())
        if self.store is not None:
            self.store.save(self.progress)
        self.answered.append(Answered(asked, result))
        self._next()
        return result

    def skip(self) -> None:
        """Leave the current question unanswered (it is not filed)."""
        self._next()

    def _next(self) -> None:
        self.index += 1
        self._asked = None

    def next_due(self) -> float | None:
        """When the next question of this round's topic comes due (for "nothing to
        review")."""
        return self.deck.next_due((q.id for q in self.pool), self.clock())

    def summary(self) -> Summary:
        by_item: dict[int, tuple[int, int]] = {}
        caught: Counter[str] = Counter()
        for entry in self.answered:
            for item in entry.asked.question.self_check:
                right, total = by_item.get(item, (0, 0))
                by_item[item] = (right + entry.result.correct, total + 1)
            caught.update(entry.result.caught)
        return Summary(
            len(self.answered),
            sum(e.result.correct for e in self.answered),
            by_item,
            caught.most_common(),
            [e.asked.id for e in self.answered if not e.result.correct],
            topic_scores(self.bank.questions, self.deck),
        )
