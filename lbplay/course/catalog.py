"""The course: every lesson, in the order ``lessons/course.toml`` gives.

``load_course`` reads the manifest and each lesson it names (``NN-<id>.toml``), and
refuses stray files, missing ones and numbers out of order, so a lesson cannot be
shipped by mistake or lost without a test noticing. ``find`` picks one lesson by
number or id, for ``lbplay learn 10`` and ``lbplay learn health-checks``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path

from lbplay.course.lesson import Lesson, LessonError, load, toml_line
from lbplay.errors import ConfigError
from lbplay.resources import lessons_dir

MANIFEST = "course.toml"
_FILE = re.compile(r"(\d{2})-([a-z0-9][a-z0-9-]*)\.toml")


def load_course(folder: Path | None = None) -> list[Lesson]:
    """Every lesson, in order; ``LessonError`` at the first problem."""
    folder = folder or lessons_dir()
    manifest = folder / MANIFEST
    try:
        data = tomllib.loads(manifest.read_text())
    except FileNotFoundError:
        raise LessonError(manifest, 0, "the course has no manifest") from None
    except tomllib.TOMLDecodeError as error:
        raise LessonError(manifest, toml_line(error), f"not valid TOML: {error}") from None
    ids = data.get("lessons")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not ids:
        raise LessonError(manifest, 1, 'lessons must be a list of lesson ids: lessons = ["..."]')
    if len(set(ids)) != len(ids):
        raise LessonError(manifest, 1, "a lesson is listed twice")
    files = {m.group(2): (int(m.group(1)), p) for p in folder.glob("*.toml")
             if (m := _FILE.fullmatch(p.name))}  # fmt: skip
    stray = sorted(
        p.name for p in folder.glob("*.toml") if p.name != MANIFEST and not _FILE.fullmatch(p.name)
    )
    if stray:
        raise LessonError(folder / stray[0], 0, "not a lesson file name: use NN-<id>.toml")
    unlisted = sorted(set(files) - set(ids))
    if unlisted:
        raise LessonError(files[unlisted[0]][1], 0, f"{unlisted[0]!r} is not in {MANIFEST}")
    lessons = []
    for number, lesson_id in enumerate(ids, start=1):
        if lesson_id not in files:
            raise LessonError(
                manifest, 1, f"{lesson_id!r} has no file {number:02d}-{lesson_id}.toml"
            )
        filed, path = files[lesson_id]
        if filed != number:
            raise LessonError(
                path,
                0,
                f"it is lesson {number} in {MANIFEST}: name it {number:02d}-{lesson_id}.toml",
            )
        lessons.append(load(path, lesson_id, number))
    return lessons


def find(lessons: Sequence[Lesson], which: str) -> Lesson:
    """A lesson by number ("10") or id ("health-checks"); ``ConfigError`` listing them."""
    for lesson in lessons:
        if which in (str(lesson.number), f"{lesson.number:02d}", lesson.id, lesson.slug):
            return lesson
    listed = ", ".join(f"{lesson.number} {lesson.id}" for lesson in lessons)
    raise ConfigError(f"no lesson {which!r} (lessons: {listed})")
