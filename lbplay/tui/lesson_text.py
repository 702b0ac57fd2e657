"""What the lesson pane says, as plain data: the step, its state, what to press.

Plain Python (no Textual), so what a learner reads is tested without a terminal. The
pane (``widgets.lesson_pane``) draws a ``PaneText``; the dashboard builds one from
the ``LessonSession`` a few times a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lbplay.course.session import LessonSession

Level = Literal["", "waiting", "done", "failed"]

#: What each kind of prediction is typed as, for the answer box.
PLACEHOLDERS = {
    "picks": "the backends in order, e.g. s1 s2 s3 …",
    "share": "each backend's share, e.g. s1=50% s2=30% s3=20%",
    "keys_moved": "the share of keys that move, e.g. 25%",
    "detection": "seconds, e.g. 2.5",
    "recovery": "seconds, e.g. 2.5",
}
KIND_WORDS = {"read": "read", "do": "your turn", "predict": "predict", "observe": "watch"}


@dataclass(frozen=True)
class PaneText:
    """Everything the lesson pane shows."""

    #: "Lesson 3 of 15 · Weighted round robin".
    title: str
    #: "step 2 of 7 · predict", or "done" at the end.
    where: str
    #: The step's text (Markdown), or the recap at the end.
    text: str
    #: Where the step stands: what the check sees, what was measured.
    status: str = ""
    level: Level = ""
    #: Hints shown so far, the solution, the prediction's grade and the real outcome,
    #: what to notice once done.
    notes: tuple[str, ...] = ()
    #: A prediction waits for the learner's answer (the answer box shows).
    asking: bool = False
    placeholder: str = ""
    #: The keys that do something now.
    keys: str = ""


def pane_text(session: LessonSession, *, lessons: int, finished: bool = False) -> PaneText:
    """The pane for ``session`` as it stands (``finished``: the learner went past the
    last step, so the recap shows)."""
    lesson = session.lesson
    title = f"Lesson {lesson.number} of {lessons} · {lesson.title}"
    if finished:
        return PaneText(
            title,
            "done",
            "## Recap\n\n" + (session.recap() or "Lesson done."),
            status="✓ lesson done",
            level="done",
            keys="N next lesson · L lessons · ctrl+r start again",
        )
    step, state = session.step, session.state
    total = len(lesson.steps)
    where = f"step {step.index + 1} of {total} · {KIND_WORDS[step.kind]}"
    notes: list[str] = []
    status, level = "", ""
    asking = False
    if step.kind == "do":
        notes += [f"hint: {hint}" for hint in step.hints[: state.hints]]
        if state.solution_shown:
            notes.append("solution: " + "; ".join(c.text() for c in step.solution))
        if state.done:
            status, level = f"✓ {state.status}" if state.status else "✓ done", "done"
        else:
            status, level = f"▸ {state.status or 'waiting for the Lab'}", "waiting"
    elif step.kind == "predict":
        if state.grade is not None:
            mark = "✓" if state.grade.correct else "✗"
            notes.append(f"{mark} {state.grade.feedback}")
        elif state.answer is not None and state.done:
            notes.append(f"the engine says {state.answer.text}")
        if state.real:
            notes.append(state.real)
        if state.done:
            status, level = "✓ run on the Lab", "done"
        elif state.grade is not None or state.answer is not None:
            status, level = "▸ running it on the Lab…", "waiting"
        else:
            status, level = "▸ type your answer, then Enter", "waiting"
            asking = True
    elif step.kind == "observe":
        if state.done:
            failed = "not as expected" in state.status
            status, level = state.status, "failed" if failed else "done"
        else:
            status, level = f"▸ {state.status or 'measuring'}", "waiting"
    if state.done and step.after:
        notes.append(step.after.strip())
    return PaneText(
        title,
        where,
        step.text,
        status,
        level,
        tuple(notes),
        asking,
        step.prompt or (PLACEHOLDERS.get(step.question.kind, "") if step.question else ""),
        _keys(session),
    )


def _keys(session: LessonSession) -> str:
    step, state = session.step, session.state
    keys = []
    if state.done or step.kind == "read":
        last = session.index + 1 == len(session.lesson.steps)
        keys.append("N finish" if last else "N next")
    if session.index > 0:
        keys.append("B back")
    if step.kind == "do" and not state.done:
        keys.append("H hint" if state.hints < len(step.hints) else "S solution")
        if state.solution_shown:
            keys.append("S again: do it")
    if step.kind == "predict" and not state.done:
        keys.append("S show the answer")
    keys += ["J/K scroll", "L lessons", "ctrl+r restart"]
    return " · ".join(keys)
