"""The learner's progress: one small file they never need to edit.

Kept in the platform's user data folder (platformdirs: ``~/.local/share/lbplay`` on
Linux) as ``progress.json``; ``LBPLAY_PROGRESS`` overrides the path (tests use it).
Per lesson: the steps done, the current step, predictions made and how many were
right, the seconds spent, the numbers measured (for recaps); and, for quizzes, a
``quiz`` section the quiz engine owns.

Writes are atomic (``lbplay.atomic.write_atomic``: a temporary file in the same
folder, then ``os.replace``), so a crash never leaves half a file; the interview notes
use the same helper. A file that cannot be read — corrupt, or written by
a newer lbplay — is never erased and never a crash: it is set aside next to itself
(``progress.json.corrupt-<time>`` or ``.newer-<time>``), a one-line warning says so,
and the learner starts afresh.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

from lbplay.atomic import write_atomic

#: The version of the file this lbplay writes; a newer one is set aside, not read.
VERSION = 1


@dataclass
class LessonProgress:
    """One lesson's progress."""

    #: Indexes of the steps done.
    done: list[int] = field(default_factory=list)
    #: The step the learner is on.
    current: int = 0
    predictions: int = 0
    predictions_right: int = 0
    seconds: float = 0.0
    finished: bool = False
    #: What the learner measured, by name ("shares.share.s1": 0.49), for the recap.
    measured: dict[str, Any] = field(default_factory=dict)


@dataclass
class Progress:
    """Everything saved: lessons by id, the last lesson opened, the quiz's part."""

    lessons: dict[str, LessonProgress] = field(default_factory=dict)
    last: str = ""
    quiz: dict[str, Any] = field(default_factory=dict)

    def lesson(self, lesson_id: str) -> LessonProgress:
        return self.lessons.setdefault(lesson_id, LessonProgress())


def data_dir() -> Path:
    """The folder of the learner's own files (``LBPLAY_DATA`` wins over the platform's)."""
    override = os.environ.get("LBPLAY_DATA")
    if override:
        return Path(override)
    return Path(user_data_dir("lbplay"))


def progress_path() -> Path:
    """Where progress is kept (``LBPLAY_PROGRESS`` wins)."""
    override = os.environ.get("LBPLAY_PROGRESS")
    if override:
        return Path(override)
    return data_dir() / "progress.json"


class Store:
    """Loads and saves ``Progress``; ``warn`` hears about a file set aside."""

    def __init__(
        self, path: Path | None = None, *, warn: Callable[[str], None] | None = None
    ) -> None:
        self.path = path or progress_path()
        self.warn = warn or (lambda message: None)

    def load(self) -> Progress:
        """The saved progress, or a fresh one (setting a bad file aside, with a warning)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return Progress()
        except OSError as error:
            self.warn(f"cannot read {self.path} ({error.strerror}): starting afresh")
            return Progress()
        try:
            data = json.loads(text)
            version = data.get("version") if isinstance(data, dict) else None
            if isinstance(version, int) and version > VERSION:
                self._set_aside("newer", f"it was written by a newer lbplay (version {version})")
                return Progress()
            return _from_json(data)
        except (ValueError, TypeError, KeyError, AttributeError):
            self._set_aside("corrupt", "it could not be read")
            return Progress()

    def save(self, progress: Progress) -> None:
        """Write ``progress`` atomically."""
        data = {"version": VERSION, **asdict(progress)}
        write_atomic(self.path, json.dumps(data, indent=1), parents=True)

    def _set_aside(self, why: str, reason: str) -> None:
        aside = self.path.with_name(f"{self.path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(self.path, aside)
        self.warn(f"progress file {self.path} set aside as {aside.name}: {reason}; starting afresh")


def _from_json(data: Any) -> Progress:
    if not isinstance(data, dict):
        raise TypeError("not an object")
    lessons = {}
    for lesson_id, entry in dict(data.get("lessons", {})).items():
        if not isinstance(entry, dict):
            raise TypeError("a lesson entry is not an object")
        known = {k: v for k, v in entry.items() if k in LessonProgress.__dataclass_fields__}
        progress = LessonProgress(**known)
        if not isinstance(progress.done, list) or not all(
            isinstance(i, int) for i in progress.done
        ):
            raise TypeError("done is not a list of step numbers")
        lessons[str(lesson_id)] = progress
    quiz = data.get("quiz", {})
    if not isinstance(quiz, dict):
        raise TypeError("quiz is not an object")
    return Progress(lessons, str(data.get("last", "")), quiz)
