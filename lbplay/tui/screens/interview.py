"""The interview screen (``lbplay interview``): a timed practice run of one prompt.

It drives a ``course.interview.InterviewSession`` in three views:

* **interview** — the prompt, the phase with its clock (red once over time) and goal,
  the interviewer's follow-ups revealed one at a time, and a notes editor that saves as
  you type (atomically, a second after the last key). ``ctrl+n`` next phase,
  ``ctrl+f`` the next follow-up, ``ctrl+e`` ends the interview;
* **review** — the rubric's seven dimensions with what a strong answer says, scored 0–3
  by the candidate (↑↓ choose, 0–3 score), the red flags to own up to (space), the
  model answer (``m``), the Markdown export (``x``); ``p`` opens:
* **prove** — a short design (TOML, prefilled with the prompt's template) that lbplay
  builds as a real Lab and runs the prompt's incident on, beside the model design
  (``ctrl+r``), with a progress line and the scorecard from measured numbers.

The screen is the session's view only: the session keeps the state, the notes and
the proof, and exports them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Markdown, Static, TextArea

from lbplay.course import prove
from lbplay.course.design import Design
from lbplay.course.design import loads as load_design
from lbplay.course.interview import InterviewSession
from lbplay.course.prove import ProveProgress
from lbplay.errors import LbplayError

View = Literal["interview", "review", "prove"]
#: Seconds after the last key before the notes are saved (each save is fsynced).
SAVE_AFTER = 1.0
#: Below this width the notes go under the prompt instead of beside it.
NARROW = 100


def prompt_markdown(session: InterviewSession) -> str:
    """The prompt, the phase's goal and the follow-ups asked so far."""
    prompt = session.prompt
    state = session.state()
    parts = [f"## {prompt.title}", "", prompt.prompt.strip(), ""]
    if state.phase is not None:
        parts += [f"**{state.phase.title}** — {state.phase.goal}", ""]
    if session.revealed:
        parts.append("**The interviewer asks:**")
        parts.append("")
        for revealed in session.revealed:
            parts.append(f"{revealed.number}. {revealed.follow_up.question}")
        parts.append("")
    left = session.follow_ups_left
    parts.append(
        f"*{left} more follow-up{'s' * (left != 1)} (ctrl+f)*" if left else "*No more follow-ups.*"
    )
    return "\n".join(parts)


def review_markdown(session: InterviewSession, selected: int) -> str:
    """The rubric with the candidate's scores, the red flags, the total."""
    prompt = session.prompt
    got, best = session.total_score
    parts = [f"## Review: {prompt.title}", "", f"Your self-score: **{got} of {best}**", ""]
    if session.model_answer_shown:  # first: beside the notes it is compared with
        parts += ["### The model answer", "", session.prompt.model_answer, "", "---", ""]
    parts.append("Score each dimension 0–3 against what a strong answer says (↑↓, then 0–3):")
    parts.append("")
    for index, item in enumerate(prompt.rubric):
        marker = "▶ " if index == selected else ""
        score = session.scores.get(item.dimension)
        shown = "–" if score is None else str(score)
        parts += [f"**{marker}{item.title}: {shown}/3**", "", item.strong, ""]
    offset = len(prompt.rubric)
    parts.append("Red flags you raised (select, then space):")
    parts.append("")
    for index, flag in enumerate(prompt.red_flags, start=offset):
        marker = "▶ " if index == selected else ""
        box = "[x]" if flag.id in session.flags else "[ ]"
        parts += [f"**{marker}{box} {flag.flag}** — {flag.why}", ""]
    parts.append("*m: model answer · p: prove a design on the Lab · x: export as Markdown*")
    return "\n".join(parts)


def scorecard_markdown(result: prove.ProveResult) -> str:
    lines = ["| | your design | the model design |", "|---|---|---|"]
    lines += [f"| {measure} | {yours} | {model} |" for measure, yours, model in prove.rows(result)]
    return "\n".join(lines)


class InterviewScreen(Screen[None]):
    """One prompt, timed, noted, reviewed and proved."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next_phase", "next phase", show=True, priority=True),
        Binding("ctrl+f", "follow_up", "follow-up", show=True, priority=True),
        Binding("ctrl+e", "finish", "end & review", show=True, priority=True),
        Binding("ctrl+r", "prove", "run on the Lab", show=True, priority=True),
        Binding("escape", "back", "back", show=True),
        Binding("up", "select(-1)", "", show=False),
        Binding("down", "select(1)", "", show=False),
        Binding("0", "score(0)", "", show=False),
        Binding("1", "score(1)", "", show=False),
        Binding("2", "score(2)", "", show=False),
        Binding("3", "score(3)", "", show=False),
        Binding("space", "toggle_flag", "", show=False),
        Binding("m", "model_answer", "model answer", show=False),
        Binding("p", "open_prove", "prove", show=False),
        Binding("x", "export", "export", show=False),
    ]

    def __init__(self, session: InterviewSession) -> None:
        super().__init__()
        self.session = session
        self.view: View = "interview"
        self.selected = 0
        self._save_timer: Timer | None = None
        self._proving = False

    def compose(self) -> ComposeResult:
        yield Static("", id="interview-clock")
        with Horizontal(id="interview-main"):
            with VerticalScroll(id="interview-left"):
                yield Markdown("", id="interview-text")
            with Vertical(id="interview-right"):
                yield Static("Your notes (saved as you type):", id="interview-notes-title")
                yield TextArea(self.session.notes, id="interview-notes")
        yield Footer()

    def on_mount(self) -> None:
        self.clock = self.query_one("#interview-clock", Static)
        self.text = self.query_one("#interview-text", Markdown)
        self.notes = self.query_one("#interview-notes", TextArea)
        self.notes_title = self.query_one("#interview-notes-title", Static)
        if self.session.started is None:
            self.session.start()
        self._draw()
        self.set_interval(0.5, self._tick, name="interview clock")
        self.notes.focus()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    # -- drawing -------------------------------------------------------------------------

    def _tick(self) -> None:
        before = self.session.state().index
        state = self.session.tick()
        self._draw_clock()
        if state.index != before and self.view == "interview":
            self._draw()

    def _draw_clock(self) -> None:
        state = self.session.state()
        got, best = self.session.total_score
        text = f" {self.session.prompt.title} · {state.show()}"
        if state.finished:
            text += f" · self-score {got}/{best}"
        self.clock.update(text)
        self.clock.set_class(state.over, "-over")

    def _draw(self) -> None:
        self._draw_clock()
        if self.view == "interview":
            self.text.update(prompt_markdown(self.session))
            self.notes_title.update("Your notes (saved as you type):")
        elif self.view == "review":
            self.text.update(review_markdown(self.session, self.selected))
        else:
            proof = self.session.proof
            body = [
                f"## Prove it on the Lab: {self.session.prompt.title}",
                "",
                "Edit your design on the right (TOML), then **ctrl+r**: lbplay builds it as a"
                " real Lab, plays the incident on it and on the model design, and measures.",
                "",
                f"*The incident: {self.session.prompt.incident.title}.*"
                f" {self.session.prompt.incident.text}",
            ]
            if proof is not None:
                body += ["", scorecard_markdown(proof)]
            self.text.update("\n".join(body))
            self.notes_title.update("Your design (TOML):")

    # -- the notes -----------------------------------------------------------------------

    @on(TextArea.Changed, "#interview-notes")
    def _typed(self) -> None:
        if self.view != "interview":
            return
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(SAVE_AFTER, self._save_notes)

    def _save_notes(self) -> None:
        self._save_timer = None
        self.session.set_notes(self.notes.text)

    # -- actions -------------------------------------------------------------------------

    def action_next_phase(self) -> None:
        if self.view == "interview":
            self.session.next_phase()
            self._draw()

    def action_follow_up(self) -> None:
        if self.view == "interview":
            if self.session.reveal_follow_up() is None:
                self.notify("No more follow-ups.")
            self._draw()

    def action_finish(self) -> None:
        if self.view != "interview":
            return
        self._save_notes()
        self.session.finish()
        self.view = "review"
        self.notes.read_only = True
        self.notes.can_focus = False
        self._draw()
        # Nothing focused: ↑↓ 0–3 space reach the review's own keys, not a scroll.
        self.query_one("#interview-left", VerticalScroll).can_focus = False
        self.set_focus(None)

    def action_select(self, offset: int) -> None:
        if self.view == "review":
            total = len(self.session.prompt.rubric) + len(self.session.prompt.red_flags)
            self.selected = (self.selected + offset) % total
            self._draw()

    def action_score(self, value: int) -> None:
        rubric = self.session.prompt.rubric
        if self.view == "review" and self.selected < len(rubric):
            self.session.score(rubric[self.selected].dimension, value)
            self._draw()

    def action_toggle_flag(self) -> None:
        prompt = self.session.prompt
        index = self.selected - len(prompt.rubric)
        if self.view == "review" and 0 <= index < len(prompt.red_flags):
            flag = prompt.red_flags[index]
            self.session.flag(flag.id, raised=flag.id not in self.session.flags)
            self._draw()

    def action_model_answer(self) -> None:
        if self.view == "review":
            self.session.reveal_model_answer()
            self._draw()
            self.query_one("#interview-left", VerticalScroll).scroll_home(animate=False)

    def action_open_prove(self) -> None:
        if self.view != "review":
            return
        self.view = "prove"
        self.notes.can_focus = True
        self.notes.read_only = False
        self.notes.text = self.session.prompt.template()
        self.notes.focus()
        self._draw()

    def action_prove(self) -> None:
        if self.view != "prove" or self._proving:
            return
        try:
            design = load_design(self.notes.text)
        except LbplayError as error:
            self.notify(str(error), title="Not a design yet", severity="error")
            return
        self._proving = True
        self._run_prove(design)

    @work(exclusive=True, group="prove")
    async def _run_prove(self, design: Design) -> None:
        def progress(step: ProveProgress) -> None:
            self.clock.update(
                f" proving: {step.design} · {step.stage} {step.elapsed:.0f}/{step.total:.0f} s"
                + (f" · {step.text}" if step.text else "")
            )

        try:
            await self.session.prove(design, on_progress=progress)
        except LbplayError as error:
            self.notify(str(error), title="Prove", severity="error")
        finally:
            self._proving = False
        self._draw()

    def action_export(self) -> None:
        if self.view == "interview":
            return
        path = self.session.export()
        self.notify(f"exported to {path}", title="Interview")

    def action_back(self) -> None:
        if self.view == "prove":
            self.view = "review"
            self.notes.text = self.session.notes
            self.notes.read_only = True
            self.notes.can_focus = False
            self.set_focus(None)
            self._draw()
            return
        if self.view == "interview":
            self._save_notes()
        self.dismiss()


class InterviewApp(App[None]):
    """``lbplay interview``: the interview screen on its own."""

    CSS_PATH = "../app.tcss"
    TITLE = "lbplay interview"

    def __init__(self, session: InterviewSession) -> None:
        super().__init__()
        self.session = session

    def on_mount(self) -> None:
        self.push_screen(InterviewScreen(self.session), lambda _: self.exit())
