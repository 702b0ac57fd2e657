"""The event timeline: what happened and what to watch for, as a log.

Lines come from ``EventLog`` (health transitions with their evidence, control
actions with what to watch for next, coalesced retries and session losses). Like
a log, the newest is at the bottom and the list follows it; each entry is one line
(cut with "…" at the panel's edge), and the line under the list shows one entry in
full — the newest, or, while the list is held, the one under the cursor. What the
fleet did (health, retries, lost sessions: ``Entry.important``) is bold and in its
level's colour with its own symbol; echoes of the learner's own keys are plain.

Focused (``E``, a click or Tab), the list holds still: ↑/↓ pick an entry and the
detail line shows it; Esc posts ``Released`` and the list goes live again.

Drawn with ``RowTable`` (one cached strip per line): a new entry changes one line
and the scroll position, never the screen's layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import DescendantBlur, DescendantFocus
from textual.message import Message
from textual.widgets import Static

from lbplay.tui.eventlog import Entry
from lbplay.tui.palette import Palette
from lbplay.tui.widgets.row_table import Column, Row, RowTable

_ICONS = {
    "control": "›",
    "health": "◆",
    "retry": "↻",
    "session": "×",
    "notice": "•",
    "tui": "•",
}
#: Cells around the columns: the border, each column's padding, a scrollbar.
_CHROME = 2 + 2 * 2 + 1
#: "00:04 ◆": the time and the kind's symbol.
_AT_WIDTH = 7
_TEXT_MIN = 10
LIVE_TITLE = "Events"
#: Lines of the detail under the live list (its height in ``app.tcss``).
LIVE_LINES = 5
HELD_TITLE = "Events · held — ↑↓ pick, Esc goes live"


def clock_label(seconds: float) -> str:
    """``mm:ss`` since the lab started (``h:mm:ss`` after an hour)."""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def entry_row(entry: Entry, started: float, palette: Palette) -> Row:
    """One entry as one line: time, symbol, what happened (and what to watch)."""
    color = palette.level(entry.level)
    if entry.important:
        text: tuple[tuple[str, str], ...] = ((entry.text, f"bold {color}"),)
    elif entry.kind == "tui":
        text = ((entry.text, palette.muted),)
    else:
        style = color if entry.level in ("warn", "bad", "panic") else ""
        text = ((entry.text, style),)
    if entry.watch:
        text += ((" — watch: ", palette.muted), (entry.watch, palette.accent))
    icon_style = f"bold {color}" if entry.important else palette.muted
    at = (
        (clock_label(entry.at - started) + " ", palette.muted),
        (_ICONS.get(entry.kind, "•"), icon_style),
    )
    return (at, text)


def entry_text(entry: Entry, started: float, palette: Palette) -> Text:
    """One entry in full, for the detail line: time, symbol, text, what to watch.
    Being read, the dashboard's own notes are at full strength, not muted."""
    text = Text()
    at, words = entry_row(entry, started, palette)
    for piece, style in at:
        text.append(piece, style)
    text.append(" ")
    for piece, style in words:
        text.append(piece, "" if entry.kind == "tui" and style == palette.muted else style)
    return text


class EventTimeline(Vertical):
    """Timeline entries, oldest first, newest at the bottom; one line each, and the
    newest (or the held one) in full below."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "release", "live events", show=False)
    ]

    class Released(Message):
        """The learner left the events (Esc): focus should go elsewhere."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = LIVE_TITLE
        self.held = False
        self._version: tuple[int, Palette, float] | None = None
        self._rows: dict[Entry, Row] = {}
        self._entries: dict[str, Entry] = {}
        self._newest: Entry | None = None
        self._started = 0.0
        self._palette: Palette | None = None
        self._empty = ""

    def compose(self) -> ComposeResult:
        yield RowTable(id="events-list", show_cursor=False, header=False, bottom=True)
        yield Static("", id="events-detail")

    @property
    def table(self) -> RowTable:
        return self.query_one("#events-list", RowTable)

    # -- attributes down -------------------------------------------------------------

    def show(
        self,
        entries: Iterable[Entry],
        *,
        version: int,
        started: float,
        palette: Palette,
        empty: str,
    ) -> None:
        """Redraw when the log changed (``version``) or the palette did; not while
        the learner holds the list."""
        key = (version, palette, started)
        if self.held or self._version == key:
            return
        if self._version is None or self._version[1:] != key[1:]:
            self._rows.clear()
        self._version = key
        self._started = started
        self._palette = palette
        self._empty = empty
        self._ensure_columns()
        rows: dict[Entry, Row] = {}
        keys: list[str] = []
        lines: list[Row] = []
        shown: dict[str, Entry] = {}
        for entry in entries:
            row = rows.get(entry) or self._rows.get(entry) or entry_row(entry, started, palette)
            rows[entry] = row
            # Two equal entries (the same words in the same second) are two lines.
            keys.append(str(id(entry)))
            lines.append(row)
            shown[keys[-1]] = entry
        self._rows = rows
        self._entries = shown
        table = self.table
        table.set_rows(keys, lines)
        self._newest = next(reversed(shown.values()), None)
        table.scroll_to(y=table.max_scroll_y, animate=False)
        self._detail(self._newest)

    # -- internals -------------------------------------------------------------------

    def _detail(self, entry: Entry | None) -> None:
        detail = self.query_one("#events-detail", Static)
        palette = self._palette
        if palette is None:
            return
        if entry is None:
            text = Text(self._empty, palette.muted)
        else:
            text = entry_text(entry, self._started, palette)
        if self.held:  # the learner is reading: all of it, however many lines
            detail.update(text)
            return
        # Live, the detail keeps its height (LIVE_LINES, in the stylesheet): a new
        # entry then redraws the detail alone instead of re-laying-out the screen,
        # which under load was most of a key press's cost. Longer ones end in "…".
        width = detail.content_region.width
        if width > 0:
            lines = text.wrap(self.app.console, width)
            if len(lines) > LIVE_LINES:
                text = Text("\n").join(lines[:LIVE_LINES])
                text.right_crop(1)
                text.append("…", self._palette.muted if self._palette else "")
        detail.update(text, layout=False)

    def _ensure_columns(self) -> None:
        width = max(self.size.width - _CHROME - _AT_WIDTH, _TEXT_MIN)
        columns = (Column("at", "", _AT_WIDTH), Column("text", "", width))
        if columns != self.table.columns:
            self.table.set_columns(columns)

    def on_resize(self) -> None:
        self._ensure_columns()
        table = self.table
        if not self.held:
            table.scroll_to(y=table.max_scroll_y, animate=False)

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        self.held = True
        table = self.table
        table.show_cursor = True
        table.move_to(len(table.rows) - 1)
        self._detail(self._entries.get(table.cursor_key or ""))
        self.border_title = HELD_TITLE
        self.add_class("-held")

    def on_descendant_blur(self, event: DescendantBlur) -> None:
        self.held = False
        self.table.show_cursor = False
        self.border_title = LIVE_TITLE
        self.remove_class("-held")
        self._version = None  # catch up with what happened meanwhile at the next tick
        self._detail(self._newest)

    def on_row_table_cursor_moved(self, event: RowTable.CursorMoved) -> None:
        event.stop()
        if self.held:
            self._detail(self._entries.get(event.key))

    def on_row_table_chosen(self, event: RowTable.Chosen) -> None:
        event.stop()

    def action_release(self) -> None:
        self.post_message(self.Released())
