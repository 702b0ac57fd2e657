"""The course lbplay ships: whole, in order, and covering what it promises.

Every lesson loads (``lbplay lessons check`` in CI plays each on a real Lab); every
topic of the explainer, every misconception REFERENCE.md lists and every error of the
explainer is taught by at least one lesson."""

from __future__ import annotations

from lbplay.course.catalog import load_course
from lbplay.course.syllabus import MISCONCEPTIONS, SOURCE_ERRORS, SYLLABUS


def test_the_course_has_fifteen_lessons_at_least() -> None:
    lessons = load_course()
    assert len(lessons) >= 15
    assert [lesson.number for lesson in lessons] == list(range(1, len(lessons) + 1))


def test_every_misconception_topic_and_source_error_is_taught() -> None:
    lessons = load_course()
    taught = {m for lesson in lessons for m in lesson.misconceptions}
    assert set(MISCONCEPTIONS) - taught == set()
    corrected = {e for lesson in lessons for e in lesson.source_errors}
    assert set(SOURCE_ERRORS) - corrected == set()
    topics = {t for lesson in lessons for t in lesson.syllabus}
    assert set(SYLLABUS) - topics == set()


def test_every_lesson_has_the_learner_do_and_measure_something() -> None:
    for lesson in load_course():
        kinds = {step.kind for step in lesson.steps}
        assert {"do", "observe"} <= kinds, lesson.slug
        assert lesson.recap, lesson.slug
        assert "PLACEHOLDER" not in lesson.title, lesson.slug
