"""The lesson pane: the current step beside the live dashboard.

It draws a ``lesson_text.PaneText``: a title, where the learner is, the step's text
(Markdown), its live status (green once the Lab shows the step happened), notes
(hints, the solution, the prediction's grade and what the Lab really did) and the
keys that work now. A prediction shows an answer box; Enter sends the answer up as
``Answered``, Esc leaves the box without answering.

Redraws only what changed: the dashboard hands it a ``PaneText`` five times a
second, and the Markdown is re-parsed only when the step's text does change.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Markdown, Static

from lbplay.tui.lesson_text import PaneText

_LEVEL_STYLE = {
    "done": "bold $text-success",
    "waiting": "$text-warning",
    "failed": "bold $text-error",
    "": "",
}


class AnswerBox(Input):
    """Where a prediction is typed; Esc leaves it without answering."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "leave", "leave", show=False)]

    class Left(Message):
        """The learner left the box (Esc) without answering."""

    def action_leave(self) -> None:
        self.post_message(self.Left())


class LessonPane(Vertical):
    """The current lesson step, live. Its keys show on a line of their own, or, when
    the pane is short (class ``-short``), in its bottom border."""

    class Answered(Message):
        """The learner typed a prediction and pressed Enter."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: PaneText | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="lesson-where")
        with VerticalScroll(id="lesson-body"):
            yield Markdown("", id="lesson-text")
            yield Static("", id="lesson-status")
            yield Markdown("", id="lesson-notes")
        yield AnswerBox(id="lesson-answer")
        yield Static("", id="lesson-keys")

    def on_mount(self) -> None:
        self.answer_box = self.query_one(AnswerBox)
        self.answer_box.display = False

    def scroll_text(self, direction: int) -> None:
        """Scroll the step's text a page down (1) or up (-1), keeping a line of context."""
        body = self.query_one("#lesson-body", VerticalScroll)
        body.scroll_relative(y=direction * max(body.size.height - 1, 1), animate=False)

    def set_short(self, short: bool) -> None:
        """A short pane (a small terminal) puts its keys in its bottom border."""
        self.set_class(short, "-short")
        self.border_subtitle = self.shown.keys if short and self.shown else ""

    def show(self, text: PaneText) -> None:
        """Draw ``text`` (only the parts that changed)."""
        old = self.shown
        if old == text:
            return
        self.shown = text
        self.border_title = text.title
        if old is None or old.where != text.where:
            self.query_one("#lesson-where", Static).update(Content.styled(text.where, "bold"))
        if old is None or old.text != text.text:
            self.query_one("#lesson-text", Markdown).update(text.text.strip())
            self.query_one("#lesson-body", VerticalScroll).scroll_home(animate=False)
        if old is None or (old.status, old.level) != (text.status, text.level):
            self.query_one("#lesson-status", Static).update(
                Content.styled(text.status, _LEVEL_STYLE[text.level])
            )
            self.set_class(text.level == "done", "-done")
        if old is None or old.notes != text.notes:
            notes = self.query_one("#lesson-notes", Markdown)
            notes.update("\n\n".join(text.notes))
            notes.display = bool(text.notes)
            if old is not None and len(text.notes) > len(old.notes):
                self.query_one("#lesson-body", VerticalScroll).scroll_end(animate=False)
        if old is None or old.keys != text.keys:
            self.query_one("#lesson-keys", Static).update(Content.styled(text.keys, "dim"))
        self.border_subtitle = text.keys if self.has_class("-short") else ""
        if old is None or (old.asking, old.where) != (text.asking, text.where):
            self.answer_box.display = text.asking
            self.answer_box.placeholder = text.placeholder
            if text.asking:
                self.answer_box.value = ""

    @on(Input.Submitted, "#lesson-answer")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.post_message(self.Answered(event.value))
