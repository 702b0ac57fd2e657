"""The lessons menu: the course in order, with the learner's progress; Enter opens
one (the Lab is set up afresh for it)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content

from lbplay.course.lesson import Lesson
from lbplay.course.progress import Progress
from lbplay.course.syllabus import SYLLABUS
from lbplay.tui.screens.chooser import Chooser, Item


def lesson_item(lesson: Lesson, progress: Progress) -> Item:
    """``03  Weighted round robin  ✓`` with its goals and how far the learner got."""
    mine = progress.lessons.get(lesson.id)
    if mine is not None and mine.finished:
        done = "✓ done"
    elif mine is not None and mine.done:
        done = f"{len(set(mine.done))} of {len(lesson.steps)} steps done"
    else:
        done = f"{len(lesson.steps)} steps · about {lesson.minutes} min"
    title = Content.styled(f"{lesson.number:2d}  {lesson.title}", "bold") + Content.styled(
        f"  {done}", "dim"
    )
    topics = ", ".join(SYLLABUS[key] for key in lesson.syllabus)
    return Item(lesson.slug, title, (("; ".join(lesson.goals), ""), (topics, "$text-primary")))


class LessonChooser(Chooser):
    """Choose a lesson; the result is its slug (``03-weighted-round-robin``)."""

    def __init__(self, lessons: Sequence[Lesson], progress: Progress, current: str) -> None:
        super().__init__(
            "Lessons",
            "Each lesson sets the Lab up afresh. Type a number or a word to find one.",
            [lesson_item(lesson, progress) for lesson in lessons],
            current,
        )
