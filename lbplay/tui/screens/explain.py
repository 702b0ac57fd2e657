"""Explain one request: why it went where it went, every attempt, the session.

Two sizes: ``explanation_brief`` for the panel under the held request feed (the
request, the whole reason, the attempts in one line), and the ``ExplainScreen``
with everything, the lesson included, for Enter.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lbplay.tui.model import Explanation
from lbplay.tui.palette import Palette


def explanation_body(explanation: Explanation, palette: Palette) -> Table:
    """The explanation as a two-column grid: a label, then the words."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row("request", Text(explanation.headline, palette.level(explanation.level)))
    grid.add_row("why", Text(explanation.why or "—"))
    if explanation.attempts:
        attempts = Table.grid(padding=(0, 1))
        attempts.add_column(justify="right", style=palette.muted)
        attempts.add_column(style="bold")
        attempts.add_column()
        attempts.add_column(justify="right")
        attempts.add_column(style=palette.muted, ratio=1)
        for number, (backend, outcome, latency, reason) in enumerate(explanation.attempts, start=1):
            ok = outcome.startswith("ok")
            attempts.add_row(
                f"{number}.",
                backend,
                Text(outcome, palette.ok if ok else palette.bad),
                latency,
                reason,
            )
        label = "attempts" if len(explanation.attempts) > 1 else "attempt"
        grid.add_row(label, attempts)
    grid.add_row("session", Text(explanation.session))
    grid.add_row("", "")
    grid.add_row("lesson", Text(explanation.lesson, palette.accent))
    return grid


def explanation_brief(explanation: Explanation, palette: Palette) -> Table:
    """The request, its whole reason and its attempts, in a few lines."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row("request", Text(explanation.headline, palette.level(explanation.level)))
    grid.add_row("why", Text(explanation.why or "—"))
    if len(explanation.attempts) > 1:
        tries = Text()
        for number, (backend, outcome, _latency, _reason) in enumerate(explanation.attempts):
            if number:
                tries.append(" → ", palette.muted)
            tries.append(f"{backend} ", "bold")
            tries.append(outcome, palette.ok if outcome.startswith("ok") else palette.bad)
        grid.add_row("attempts", tries)
    grid.add_row("", Text("Enter: every attempt, the session and the lesson", palette.muted))
    return grid


class ExplainScreen(ModalScreen[None]):
    """A request, explained; Esc closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "close", id="explain.close")
    ]

    def __init__(self, explanation: Explanation, palette: Palette) -> None:
        super().__init__(classes="explain")
        self._explanation = explanation
        self._palette = palette

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="explain-box") as box:
            box.border_title = "Why this request went where it went"
            box.border_subtitle = "Esc closes"
            yield Static(explanation_body(self._explanation, self._palette), id="explain-body")

    def action_close(self) -> None:
        self.dismiss(None)
