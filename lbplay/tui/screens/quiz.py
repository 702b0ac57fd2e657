"""The quiz screen: one question at a time, typed answers, feedback that says why.

It drives a ``course.quizround.QuizRound`` (the same round ``lbplay quiz --plain``
plays): the question in Markdown, its options labelled a, b, c (or 1, 2, 3), an answer
box that says what to type, then the feedback — right or wrong, why each wrong choice
is wrong and which misconception it catches, how lbplay computed the answer — and the
next question on Enter. An explain question is answered in two moves: the learner
writes freely, then ticks the checklist points they covered. At the end, the round's
summary (the learner's own numbers, per self-check item). Every answer is filed in the
Leitner boxes and saved at once, so leaving half-way loses nothing.

``lbplay quiz`` shows it alone (``QuizApp``); from the dashboard, ``Q`` opens it over
the running lab (the current lesson's questions in a lesson).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Markdown, Static

from lbplay.course.answers import AnswerError
from lbplay.course.quiz import Asked, Result
from lbplay.course.quizround import QuizRound


def question_markdown(round_: QuizRound, asked: Asked) -> str:
    """The question, its tags and its options, as Markdown."""
    number = round_.index + 1
    tags = ", ".join(f"self-check {n}" for n in asked.question.self_check)
    lines = [f"**Question {number} of {len(round_.questions)}** · {tags}", "", asked.text, ""]
    if asked.form == "checklist":
        lines.append("*Write your answer first, for yourself; then tick what you covered.*")
    else:
        for label, option in zip(asked.labels, asked.options, strict=False):
            lines += [f"**{label})** {option}", ""]  # a paragraph each
    return "\n".join(lines)


def checklist_markdown(asked: Asked) -> str:
    points = [f"**{n})** {point}" for n, point in zip(asked.labels, asked.options, strict=False)]
    ask = "Which of these did your answer cover? Type their numbers (`1 3`, `all`, `none`)."
    return "\n\n".join([ask, *points])


def summary_markdown(lines: list[str]) -> str:
    """The round's summary: its indented lines as list items, the others as paragraphs."""
    out = ["## Round over", ""]
    for line in lines:
        if line.startswith("  "):
            out.append(f"- {line.strip()}")
        else:
            out += ["", line, ""]
    return "\n".join(out)


def feedback_markdown(result: Result) -> str:
    mark = "✓ **Right.**" if result.correct else "✗ **Not quite.**"
    # The feedback's lines are paragraphs (Markdown would run them together).
    feedback = "\n\n".join(line for line in result.feedback.splitlines() if line.strip())
    parts = [mark, "", f"The answer: **{result.answer}**", "", feedback]
    if result.caught:
        parts += ["", "*What that answer reveals:* " + "; ".join(result.caught)]
    parts += ["", "*Enter: next question · Esc: stop*"]
    return "\n".join(parts)


class QuizScreen(Screen[None]):
    """A round of questions."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stop", "stop", show=True),
        Binding("ctrl+s", "skip", "skip", show=True),
    ]

    def __init__(self, round_: QuizRound) -> None:
        super().__init__()
        self.round = round_
        #: "answer" (typing an answer), "write" (an explain question's free text),
        #: "feedback" (showing how it went) or "done" (the summary).
        self.stage = "answer"

    def compose(self) -> ComposeResult:
        with Vertical(id="quiz-box") as box:
            box.border_title = f"Quiz · {self.round.title}"
            with VerticalScroll(id="quiz-body"):
                yield Markdown("", id="quiz-question")
                yield Markdown("", id="quiz-feedback")
            yield Static("", id="quiz-prompt")
            yield Input(id="quiz-answer")
        yield Footer()

    def on_mount(self) -> None:
        self.question = self.query_one("#quiz-question", Markdown)
        self.feedback = self.query_one("#quiz-feedback", Markdown)
        self.prompt = self.query_one("#quiz-prompt", Static)
        self.answer_box = self.query_one("#quiz-answer", Input)
        self._show_question()

    # -- stages ------------------------------------------------------------------------

    def _show_question(self) -> None:
        asked = self.round.current
        if asked is None:
            self._show_summary()
            return
        self.question.update(question_markdown(self.round, asked))
        self.feedback.update("")
        self.feedback.display = False
        if asked.form == "checklist":
            self.stage = "write"
            self.prompt.update("Your answer, in your own words (Enter when done; not graded):")
        else:
            self.stage = "answer"
            self.prompt.update(f"Your answer ({asked.prompt}), then Enter:")
        self.answer_box.value = ""
        self.answer_box.display = True
        self.answer_box.focus()
        self.query_one("#quiz-body", VerticalScroll).scroll_home(animate=False)

    def _show_summary(self) -> None:
        self.stage = "done"
        summary = self.round.summary()
        self.question.update(summary_markdown(summary.lines()))
        self.feedback.display = False
        self.prompt.update("Enter or Esc: close")
        self.answer_box.display = False
        self.focus()

    @on(Input.Submitted, "#quiz-answer")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.stage == "feedback":  # the next question, or the summary after the last
            self._show_question()
            return
        asked = self.round.current
        if asked is None:
            return
        if self.stage == "write":
            self.stage = "answer"
            self.feedback.update(checklist_markdown(asked))
            self.feedback.display = True
            self.prompt.update(f"Points covered ({asked.prompt}), then Enter:")
            self.answer_box.value = ""
            return
        try:
            result = self.round.answer(event.value)
        except AnswerError as error:
            self.notify(str(error), severity="warning")
            return
        self.stage = "feedback"
        self.feedback.update(feedback_markdown(result))
        self.feedback.display = True
        self.prompt.update("Enter: next question")
        self.answer_box.value = ""
        self.query_one("#quiz-body", VerticalScroll).scroll_end(animate=False)

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        if self.stage == "done" and key == "enter":
            self.action_stop()

    # -- actions -------------------------------------------------------------------------

    def action_skip(self) -> None:
        if self.stage in ("answer", "write"):
            self.round.skip()
            self._show_question()

    def action_stop(self) -> None:
        if self.stage != "done" and self.round.answered:
            self._show_summary()
            return
        self.dismiss()


class QuizApp(App[None]):
    """``lbplay quiz``: the quiz screen on its own."""

    CSS_PATH = "../app.tcss"
    TITLE = "lbplay quiz"

    def __init__(self, round_: QuizRound) -> None:
        super().__init__()
        self.round = round_

    def on_mount(self) -> None:
        self.push_screen(QuizScreen(self.round), lambda _: self.exit())
