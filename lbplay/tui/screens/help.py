"""The help screen, generated from the real bindings (``bindings.help_rows``), so it
lists exactly the keys that work."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from lbplay.tui.bindings import GROUPS, HelpRow

#: The key column: wide enough for "? / f1" and "x / del".
KEY_WIDTH = 10


def help_table(rows: Sequence[HelpRow]) -> Group:
    """A heading per group, then a two-column grid: the keys and what they do."""
    parts: list[RenderableType] = []
    for group, members in groupby(rows, key=lambda row: row.group):
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, width=KEY_WIDTH)
        table.add_column(ratio=1)
        for row in members:
            table.add_row(Text(row.keys, style="bold"), Text(row.help))
        if parts:
            parts.append(Text(""))
        parts.append(Text(GROUPS[group], style="bold underline"))
        parts.append(table)
    return Group(*parts)


def numbers_note(window: int | None) -> str:
    """What the live numbers are measured over."""
    over = f"the last {window} s" if window else "the last few seconds"
    return (
        f"Rates, shares, error rates and percentiles (fleet table, header) are over {over};"
        " the charts draw one point per second over the last minute."
    )


class HelpScreen(ModalScreen[None]):
    """Every key, grouped; Esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "close", "close", id="help.close"),
    ]

    def __init__(self, rows: Sequence[HelpRow], *, window: int | None = None) -> None:
        """``window``: the seconds the live numbers are measured over (from the Lab)."""
        super().__init__(classes="help")
        self._rows = rows
        self._window = window

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            box.border_subtitle = "Esc closes · ctrl+p: type any command"
            yield Static(
                "Break a backend, watch the balancer react. Keys act on the selected"
                " backend (the row marked ▶). In the request feed, Enter explains a"
                " request. Every key is also in the command palette (ctrl+p).",
                id="help-intro",
            )
            yield Static(numbers_note(self._window), id="help-numbers")
            yield Static(help_table(self._rows), id="help-keys")

    def action_close(self) -> None:
        self.dismiss(None)
