"""A learner working through the course on the dashboard's Lab: which lesson is open,
its session, the saved progress, and the moves the lesson keys make.

Plain Python over ``course`` (no Textual): the dashboard's keys call these methods
and draw ``pane()``; tests drive it directly on a real Lab.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lbplay.course.catalog import find
from lbplay.course.lesson import Lesson
from lbplay.course.progress import Progress, Store
from lbplay.course.session import LessonSession
from lbplay.net.lab import Lab
from lbplay.tui.lesson_text import PaneText, pane_text


class Learning:
    """The course as the dashboard runs it: one open lesson at a time."""

    def __init__(
        self,
        lab: Lab,
        lessons: Sequence[Lesson],
        first: Lesson,
        *,
        store: Store | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.lab = lab
        self.lessons = list(lessons)
        self.store = store if store is not None else Store(warn=warn)
        self.progress: Progress = self.store.load()
        self.first = first
        self.session: LessonSession | None = None
        #: The learner went past the last step: the recap shows.
        self.finished = False

    @property
    def lesson(self) -> Lesson:
        return self.session.lesson if self.session is not None else self.first

    async def start(self) -> None:
        """Open the first lesson where the learner left it."""
        await self.open(self.first)

    async def open(self, lesson: Lesson, *, resume: bool = True) -> None:
        """Close the open lesson and open ``lesson`` on a Lab set up afresh for it."""
        if self.session is not None:
            self.session.close()
        self.session = LessonSession(self.lab, lesson, store=self.store, progress=self.progress)
        self.finished = False
        await self.session.begin(resume=resume)

    async def open_slug(self, slug: str) -> None:
        await self.open(find(self.lessons, slug))

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    # -- what the pane shows ------------------------------------------------------------

    def pane(self) -> PaneText | None:
        """The pane now, judging the current step against the Lab (None before start)."""
        if self.session is None:
            return None
        if not self.finished:
            self.session.poll()
        return pane_text(self.session, lessons=len(self.lessons), finished=self.finished)

    # -- the keys -----------------------------------------------------------------------

    async def next(self) -> str:
        """Next step; past the last one, the recap; from the recap, the next lesson.
        Returns a note for the learner when it cannot move ("" when it did)."""
        session = self.session
        if session is None:
            return ""
        if self.finished:
            following = self.lesson.number  # numbers start at 1: the next one's index
            if following >= len(self.lessons):
                return "That was the last lesson. L lists them all."
            await self.open(self.lessons[following], resume=False)
            return ""
        if session.next():
            return ""
        if session.finished:
            self.finished = True
            return ""
        step = session.step
        if step.kind == "do":
            return "Not yet: the Lab has not shown it. H gives a hint."
        if step.kind == "predict":
            return "Type your prediction first (or S to see the answer)."
        return "Still measuring: the observation finishes by itself."

    def back(self) -> None:
        if self.session is None:
            return
        if self.finished:
            self.finished = False
            return
        self.session.back()

    def hint(self) -> str:
        """The next hint of a do step (then the solution)."""
        session = self.session
        if session is None or self.finished:
            return ""
        step = session.step
        if step.kind == "do" and not session.state.done:
            return session.hint()
        if step.kind == "predict":
            return "Predict from what you know; S shows the engine's answer."
        return "Nothing to do here: N goes on."

    async def solution(self) -> str:
        """Show a do step's solution; pressed again, do it. A prediction: reveal it."""
        session = self.session
        if session is None or self.finished:
            return ""
        step, state = session.step, session.state
        if step.kind == "predict" and not state.done:
            await session.reveal()
            return ""
        if step.kind != "do" or state.done:
            return "Nothing to solve here: N goes on."
        if not state.solution_shown:
            return session.show_solution()
        await session.apply_solution()
        return ""

    async def answer(self, text: str) -> None:
        """Grade a prediction, then run it on the Lab to show what really happens."""
        session = self.session
        if session is None or session.step.kind != "predict" or session.state.done:
            return
        session.answer(text)
        await session.reveal()

    async def restart(self) -> None:
        """The open lesson from its first step, on a Lab set up afresh."""
        if self.session is not None:
            self.finished = False
            await self.session.restart()
