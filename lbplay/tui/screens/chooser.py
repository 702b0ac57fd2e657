"""A modal list to choose one thing from: the shape every chooser shares.

A chooser shows a title, a one-line hint, a filter line and an ``OptionList`` of
items. Each item has a title line and a few lines of explanation, wrapped to the box
with a hanging indent so they stay clear of the ● that marks the current choice and
the ▶ that marks the highlighted one (a symbol, not only a background colour).

It opens on a neutral row: nothing is highlighted, so Enter straight away neither
re-applies the current choice nor picks the first row — it says what to do instead.
Typing filters the list by name (``matches``) and highlights the first match; ↑↓
move; Enter (or a click) dismisses the screen with the highlighted item's id, Esc
with None. Subclasses only say what the items are.
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
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

#: Cells between the screen's width and an option's text: the box is 90% of the
#: screen (at most ``MAX_BOX``) minus its border, padding, scrollbar and the marker.
MAX_BOX = 110
_CHROME = 2 + 2 + 2 + 2
HINT_NEUTRAL = "Type a name (or ↑↓) to pick one, then Enter."
NOTHING_HIGHLIGHTED = "Nothing picked yet: type a name or press ↓, then Enter (Esc keeps it)."


@dataclass(frozen=True)
class Item:
    """One choice: its id (the result), a title and lines of (text, style)."""

    id: str
    title: Content
    lines: tuple[tuple[str, str], ...] = ()


def option_prompt(item: Item, current: bool, width: int, highlighted: bool = False) -> Content:
    """The item's text, the highlighted one marked ▶ and the current one ●,
    explanations wrapped to ``width`` with a hanging indent."""
    cursor = Content.from_markup("[b $text-accent]▶[/]") if highlighted else Content(" ")
    mark = Content.from_markup("[b $text-success]●[/]") if current else Content(" ")
    marker = cursor + mark + Content(" ")
    indent = Content("    ")
    lines = [marker + item.title]
    for text, style in item.lines:
        for piece in textwrap.wrap(text, max(width - len(indent) - 2, 20)) or [""]:
            lines.append(indent + Content.styled(piece, style))
    return Content("\n").join(lines)


def _fold(text: str) -> str:
    """``Least-Connections`` and ``least connections`` both read ``least_connections``."""
    return text.lower().replace("-", "_").replace(" ", "_")


def matches(items: Sequence[Item], query: str) -> list[Item]:
    """The items a typed ``query`` picks out: those whose name contains it (in
    order, names that start with it first); if none, those whose explanation does."""
    query = _fold(query.strip())
    if not query:
        return list(items)
    named = [item for item in items if query in _fold(item.id)]
    if named:
        return sorted(named, key=lambda item: not _fold(item.id).startswith(query))
    return [item for item in items if any(query in _fold(text) for text, _ in item.lines)]


class Chooser(ModalScreen[str | None]):
    """Pick one item; the result is the item's id (or None when cancelled)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "cancel", id="chooser.cancel"),
        Binding("down", "move(1)", "down", show=False, id="chooser.down"),
        Binding("up", "move(-1)", "up", show=False, id="chooser.up"),
        Binding("pagedown", "move(5)", "page down", show=False, id="chooser.pagedown"),
        Binding("pageup", "move(-5)", "page up", show=False, id="chooser.pageup"),
    ]

    def __init__(self, title: str, hint: str, items: Sequence[Item], current: str) -> None:
        super().__init__(classes="chooser")
        self._title = title
        self._hint = hint
        self._items = list(items)
        self._current = current
        self._shown: list[Item] = []
        self._width = 40
        #: The item drawn with the ▶ now.
        self._marked: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="chooser-box") as box:
            box.border_title = self._title
            box.border_subtitle = "type to filter · ↑↓ move · Enter choose · Esc cancel"
            yield Label(self._hint, id="chooser-hint")
            yield Input(placeholder=HINT_NEUTRAL, id="chooser-filter")
            yield OptionList(id="chooser-list")

    def on_mount(self) -> None:
        self._fill(self._items)
        self.query_one(Input).focus()

    @property
    def options(self) -> OptionList:
        return self.query_one("#chooser-list", OptionList)

    def _fill(self, items: Sequence[Item]) -> None:
        self._width = width = min(int(self.app.size.width * 0.9), MAX_BOX) - _CHROME
        options: list[Option | None] = []
        for item in items:
            if options:
                options.append(None)  # a separator line between items
            options.append(Option(option_prompt(item, item.id == self._current, width), id=item.id))
        self._shown = list(items)
        self._marked = None
        option_list = self.options
        option_list.set_options(options)
        option_list.highlighted = None

    def _mark(self, item_id: str | None) -> None:
        """Move the ▶ to ``item_id`` (None: nowhere)."""
        if item_id == self._marked:
            return
        option_list = self.options
        by_id = {item.id: item for item in self._shown}
        for target, on in ((self._marked, False), (item_id, True)):
            item = by_id.get(target or "")
            if item is not None:
                prompt = option_prompt(item, item.id == self._current, self._width, on)
                option_list.replace_option_prompt(item.id, prompt)
        self._marked = item_id

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self._mark(event.option.id)

    # -- typing, moving, choosing ------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        found = matches(self._items, event.value)
        self._fill(found)
        if event.value.strip() and found:
            self.options.highlighted = 0
        self.query_one("#chooser-hint", Label).update(
            self._hint if found else f"Nothing is called {event.value.strip()!r}."
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._choose()

    def action_move(self, offset: int) -> None:
        option_list = self.options
        if not self._shown:
            return
        if option_list.highlighted is None:
            option_list.highlighted = 0 if offset > 0 else option_list.option_count - 1
        elif offset > 0:
            for _ in range(offset):
                option_list.action_cursor_down()
        else:
            for _ in range(-offset):
                option_list.action_cursor_up()

    def _choose(self) -> None:
        option = self.options.highlighted_option
        if option is None:
            self.query_one("#chooser-hint", Label).update(NOTHING_HIGHLIGHTED)
            return
        self.dismiss(option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
