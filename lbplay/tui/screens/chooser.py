"""A modal list to choose one thing from: the shape every chooser shares.

A chooser shows a title, a one-line hint, and an ``OptionList`` of items. Each item
has a title line and a few lines of explanation, wrapped to the box with a hanging
indent so they stay clear of the ● that marks the current choice. Enter (or a
click) dismisses the screen with the item's id; Esc (or q) with None. Subclasses
only say what the items are.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

#: Cells between the screen's width and an option's text: the box is 90% of the
#: screen (at most ``MAX_BOX``) minus its border, padding, scrollbar and the marker.
MAX_BOX = 110
_CHROME = 2 + 2 + 2 + 2


@dataclass(frozen=True)
class Item:
    """One choice: its id (the result), a title and lines of (text, style)."""

    id: str
    title: Content
    lines: tuple[tuple[str, str], ...] = ()


def option_prompt(item: Item, current: bool, width: int) -> Content:
    """The item's text, the current one marked ●, explanations wrapped to ``width``
    with a hanging indent."""
    marker = Content.from_markup("[b $text-success]● [/]") if current else Content("  ")
    indent = Content("    ")
    lines = [marker + item.title]
    for text, style in item.lines:
        for piece in textwrap.wrap(text, max(width - len(indent) - 2, 20)) or [""]:
            lines.append(indent + Content.styled(piece, style))
    return Content("\n").join(lines)


class Chooser(ModalScreen[str | None]):
    """Pick one item; the result is the item's id (or None when cancelled)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "cancel", "cancel", id="chooser.cancel")
    ]

    def __init__(self, title: str, hint: str, items: Sequence[Item], current: str) -> None:
        super().__init__(classes="chooser")
        self._title = title
        self._hint = hint
        self._items = list(items)
        self._current = current

    def compose(self) -> ComposeResult:
        width = min(int(self.app.size.width * 0.9), MAX_BOX) - _CHROME
        options: list[Option | None] = []
        for item in self._items:
            if options:
                options.append(None)  # a separator line between items
            options.append(Option(option_prompt(item, item.id == self._current, width), id=item.id))
        with Vertical(id="chooser-box") as box:
            box.border_title = self._title
            box.border_subtitle = "↑↓ move · Enter choose · Esc cancel"
            yield Label(self._hint, id="chooser-hint")
            yield OptionList(*options, id="chooser-list")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        if self._current in {item.id for item in self._items}:
            options.highlighted = options.get_option_index(self._current)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
