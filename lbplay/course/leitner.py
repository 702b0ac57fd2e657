"""Spaced repetition: a Leitner box per question, kept in the progress file.

Every question starts in box 1. A right answer moves it up a box and makes it due
again after that box's interval (box 2: a day, 3: three days, 4: a week, 5: three
weeks); a wrong one sends it back to box 1, due at once, and marks it *missed* until
it is answered right. A generated entry has one box for every question it draws (it
is tracked per generator entry, not per drawn instance, of which there are endless).

``review`` serves what is missed, then what is due (lowest box first); ``select``
makes an ordinary round (missed, due, never seen, then the rest, each group in a
seeded order); ``topic_scores`` sums the answers per self-check item.

The cards live in ``Progress.quiz["cards"]`` as plain JSON, written atomically with
the rest of the progress file by ``course.progress.Store``. Time is passed in
(``now``, seconds since the epoch), never read here, so tests use any clock. A card
that cannot be read (a hand-edited file) starts afresh rather than failing, and
other keys in the quiz section are left as they are.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lbplay.course.quiz import Question
from lbplay.course.syllabus import SELF_CHECK

DAY = 86_400.0
BOXES = 5
#: Seconds until a question in each box is due again (box 1: at once).
INTERVALS: Mapping[int, float] = {1: 0.0, 2: DAY, 3: 3 * DAY, 4: 7 * DAY, 5: 21 * DAY}
#: From this box on, a question counts as mastered.
MASTERED = 3


@dataclass
class Card:
    """One question's place in the boxes and its record."""

    box: int = 1
    #: When it is due again (seconds since the epoch).
    due: float = 0.0
    seen: int = 0
    right: int = 0
    #: The last answer was wrong (it stays missed until answered right).
    missed: bool = False
    #: When it was last answered.
    last: float = 0.0

    @classmethod
    def from_json(cls, data: Any) -> Card | None:
        """A card from the progress file, or None when it cannot be one."""
        if not isinstance(data, Mapping):
            return None
        card = cls()
        for key, default in asdict(card).items():
            value = data.get(key, default)
            if type(value) is not type(default) and not (
                isinstance(default, float) and type(value) is int
            ):
                return None
            setattr(card, key, type(default)(value))
        if not 1 <= card.box <= BOXES or card.seen < 0 or not 0 <= card.right <= card.seen:
            return None
        return card


class Deck:
    """The learner's cards, read from and written into the quiz section (a dict, the
    progress file's ``quiz``), so saving the progress saves them."""

    def __init__(self, section: MutableMapping[str, Any]) -> None:
        self.section = section
        raw = section.get("cards")
        if not isinstance(raw, dict):
            raw = {}
        self.cards: dict[str, Card] = {}
        for question_id, data in raw.items():
            card = Card.from_json(data)
            if card is not None:
                self.cards[str(question_id)] = card

    def card(self, question_id: str) -> Card | None:
        return self.cards.get(question_id)

    def record(self, question_id: str, correct: bool, now: float) -> Card:
        """File an answer: up a box and due later when right; box 1, due now and
        missed when wrong."""
        card = self.cards.setdefault(question_id, Card())
        card.seen += 1
        card.last = now
        if correct:
            card.right += 1
            card.box = min(card.box + 1, BOXES)
            card.missed = False
        else:
            card.box = 1
            card.missed = True
        card.due = now + INTERVALS[card.box]
        cards = self.section.get("cards")
        if not isinstance(cards, dict):
            cards = self.section["cards"] = {}
        cards[question_id] = asdict(card)
        return card

    def is_due(self, question_id: str, now: float) -> bool:
        card = self.cards.get(question_id)
        return card is not None and (card.missed or card.due <= now)

    def review(self, ids: Iterable[str], now: float) -> list[str]:
        """Of ``ids``, the missed ones (longest ago first), then the due ones (lowest
        box, then longest overdue, first)."""
        seen = [(i, self.cards[i]) for i in ids if i in self.cards]
        missed = sorted((c.last, i) for i, c in seen if c.missed)
        due = sorted((c.box, c.due, i) for i, c in seen if not c.missed and c.due <= now)
        return [i for _, i in missed] + [i for *_, i in due]

    def next_due(self, ids: Iterable[str], now: float) -> float | None:
        """When the next of ``ids`` not due yet will be (None if none is waiting)."""
        later = [self.cards[i].due for i in ids if i in self.cards and self.cards[i].due > now]
        return min(later) if later else None


def select(
    questions: Sequence[Question],
    deck: Deck,
    *,
    now: float,
    seed: int,
    count: int,
    review: bool = False,
) -> list[Question]:
    """The questions of a round, at most ``count``: with ``review`` only what is missed
    or due; otherwise missed, due, never seen, then the rest — each group shuffled by
    ``seed``, so a round mixes kinds and topics but is reproducible."""
    by_id = {q.id: q for q in questions}
    if review:
        return [by_id[i] for i in deck.review(by_id, now)][:count]
    rng = random.Random(seed)
    groups: list[list[Question]] = [[], [], [], []]
    for question in questions:
        card = deck.card(question.id)
        if card is None:
            groups[2].append(question)
        elif card.missed:
            groups[0].append(question)
        elif card.due <= now:
            groups[1].append(question)
        else:
            groups[3].append(question)
    chosen: list[Question] = []
    for group in groups:
        rng.shuffle(group)
        chosen += group
    return chosen[:count]


@dataclass(frozen=True)
class TopicScore:
    """How a self-check item stands: its questions, how many were answered and how
    often right, and how many are mastered (box 3 or higher)."""

    item: int
    title: str
    questions: int
    seen: int
    answers: int
    right: int
    mastered: int

    @property
    def share(self) -> float:
        """Right answers over answers (0 when none yet)."""
        return self.right / self.answers if self.answers else 0.0


def topic_scores(questions: Sequence[Question], deck: Deck) -> dict[int, TopicScore]:
    """Per self-check item, from the cards of the questions tagged with it."""
    scores = {}
    for item, title in SELF_CHECK.items():
        tagged = [q for q in questions if item in q.self_check]
        cards = [c for q in tagged if (c := deck.card(q.id)) is not None]
        scores[item] = TopicScore(
            item,
            title,
            len(tagged),
            len(cards),
            sum(c.seen for c in cards),
            sum(c.right for c in cards),
            sum(1 for c in cards if c.box >= MASTERED),
        )
    return scores
