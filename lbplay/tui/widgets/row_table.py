"""A fast table for live data: fixed columns, rows of styled text, a cursor row.

Why not ``DataTable``: it renders every cell through a Rich console and drops its
caches on any update, so a live table that changes each tick re-renders every cell
of every row — measured at tens of milliseconds per frame for the fleet and the
feed together, which at 500 requests per second pushed key-press latency past
100 ms. Here a row is a tuple of cells, a cell a tuple of ``(text, style)``
pieces, and a row's ``Strip`` is built directly from segments and cached until that
row's content (or the width, cursor or theme) changes: a tick that changes two
cells re-renders one or two rows, in microseconds.

Line API (``ScrollView``): a fixed header line, then the rows; it scrolls when
there are more rows than lines. Keys (when focused): ↑/↓, PgUp/PgDn, Home/End move
the cursor; Enter selects. A click moves the cursor and selects. It posts
``CursorMoved`` and ``Chosen`` with the row's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: A run of text and its Rich style ("bold #4ea1ff", "" for none).
Piece = tuple[str, str]
Cell = tuple[Piece, ...]
Row = tuple[Cell, ...]


@dataclass(frozen=True)
class Column:
    """A column: its key, header label, width in cells and alignment."""

    key: str
    label: str
    width: int
    justify: Literal["left", "right"] = "left"


def cell(text: str, style: str = "") -> Cell:
    """A cell of one piece of text."""
    return ((text, style),)


_ELLIPSIS = "…"


def fit(pieces: Cell, width: int, justify: str, base: Style | None = None) -> list[Segment]:
    """Segments of exactly ``width`` cells: padded, or cut with an ellipsis."""
    total = sum(cell_len(text) for text, _ in pieces)
    budget = width if total <= width else max(width - 1, 0)
    segments: list[Segment] = []
    used = 0
    last_style = base
    for text, style in pieces:
        if not text or used >= budget:
            continue
        rich_style = Style.parse(style) if style else None
        if base is not None:
            rich_style = base + rich_style if rich_style else base
        if used + cell_len(text) > budget:
            text = set_cell_size(text, budget - used)
        segments.append(Segment(text, rich_style))
        used += cell_len(text)
        last_style = rich_style
    if total > width and width > 0:
        segments.append(Segment(_ELLIPSIS, last_style))
        used += 1
    if used < width:
        pad = Segment(" " * (width - used), base)
        if justify == "right":
            segments.insert(0, pad)
        else:
            segments.append(pad)
    return segments


class RowTable(ScrollView, can_focus=True):
    """A table of styled rows with a cursor; rows are replaced, not edited."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "cursor_to(0)", "first", show=False),
        Binding("end", "cursor_to(-1)", "last", show=False),
        Binding("enter", "choose", "choose", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "row-table--header",
        "row-table--cursor",
        "row-table--cursor-blurred",
    }

    DEFAULT_CSS = """
    RowTable {
        height: auto;
        overflow-x: hidden;
    }
    RowTable > .row-table--header {
        text-style: bold;
        background: $panel;
    }
    RowTable > .row-table--cursor {
        background: $primary 35%;
        text-style: bold;
    }
    RowTable > .row-table--cursor-blurred {
        background: $primary 18%;
    }
    """

    cursor_row: reactive[int] = reactive(0, repaint=False, init=False)
    show_cursor: reactive[bool] = reactive(True)

    class CursorMoved(Message):
        """The cursor is on another row."""

        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> RowTable:
            return self.table

    class Chosen(Message):
        """The learner chose the cursor row (Enter or a click)."""

        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(
        self,
        *,
        show_cursor: bool = True,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(RowTable.show_cursor, show_cursor)
        self.columns: tuple[Column, ...] = ()
        self.keys: list[str] = []
        self.rows: list[Row] = []
        #: Shown on the first line when there are no rows.
        self.empty = ""
        self._cache: dict[int, tuple[object, Strip]] = {}
        self._header: tuple[object, Strip] | None = None

    # -- attributes down -------------------------------------------------------------

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns (and forget every rendered row)."""
        self.columns = tuple(columns)
        self._cache.clear()
        self._header = None
        self._resize_virtual()
        self.refresh()

    def set_rows(self, keys: Sequence[str], rows: Sequence[Row]) -> None:
        """Replace every row; only rows whose content changed are redrawn."""
        old_key = self.keys[self.cursor_row] if 0 <= self.cursor_row < len(self.keys) else None
        changed = [
            index
            for index, row in enumerate(rows)
            if index >= len(self.rows) or self.rows[index] != row
        ]
        grew = len(rows) != len(self.rows)
        self.keys = list(keys)
        self.rows = list(rows)
        if grew:
            self._resize_virtual()
            for index in list(self._cache):
                if index >= len(rows):
                    del self._cache[index]
        if self.cursor_row >= len(rows):
            self.cursor_row = max(len(rows) - 1, 0)
        if changed or grew:
            self.refresh()
        new_key = self.keys[self.cursor_row] if self.keys else None
        if new_key is not None and new_key != old_key:
            self.post_message(self.CursorMoved(self, new_key))

    def move_to(self, index: int) -> None:
        """Put the cursor on row ``index`` (clamped) and scroll it into view."""
        if not self.rows:
            return
        self.cursor_row = min(max(index, 0), len(self.rows) - 1)

    @property
    def cursor_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self.keys):
            return self.keys[self.cursor_row]
        return None

    # -- cursor ----------------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._scroll_to_cursor()
        key = self.cursor_key
        if key is not None:
            self.post_message(self.CursorMoved(self, key))

    def watch_show_cursor(self) -> None:
        self._refresh_row(self.cursor_row)

    def _refresh_row(self, index: int) -> None:
        self._cache.pop(index, None)
        y = index + 1 - int(self.scroll_offset.y)
        if 0 <= y < self.size.height:
            self.refresh_line(y)

    def _scroll_to_cursor(self) -> None:
        visible = max(self.size.height - 1, 1)
        top = int(self.scroll_offset.y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def action_cursor(self, offset: int) -> None:
        self.move_to(self.cursor_row + offset)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor_row + direction * max(self.size.height - 2, 1))

    def action_cursor_to(self, index: int) -> None:
        self.move_to(index if index >= 0 else len(self.rows) - 1)

    def action_choose(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.Chosen(self, key))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = int(self.scroll_offset.y) + offset.y - 1
        if 0 <= index < len(self.rows):
            self.move_to(index)
            self.action_choose()

    # -- drawing ---------------------------------------------------------------------

    def _resize_virtual(self) -> None:
        width = sum(c.width for c in self.columns) + 2 * len(self.columns)
        # An empty table keeps one line for its ``empty`` message.
        self.virtual_size = Size(width, max(len(self.rows), 1 if self.empty else 0) + 1)

    def on_resize(self) -> None:
        self._cache.clear()
        self._header = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._header = None

    def _line(self, row: Row, base: Style | None) -> Strip:
        segments: list[Segment] = []
        pad = Segment(" ", base)
        for column, pieces in zip(self.columns, row, strict=False):
            segments.append(pad)
            segments.extend(fit(pieces, column.width, column.justify, base))
            segments.append(pad)
        return (
            Strip(segments).adjust_cell_length(self.size.width, base).apply_style(self.rich_style)
        )

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            header_key = (width, self.columns)
            if self._header is None or self._header[0] != header_key:
                style = self.get_component_rich_style("row-table--header")
                header = tuple(cell(c.label) for c in self.columns)
                self._header = (header_key, self._line(header, style))
            return self._header[1]
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self.rows):
            if index == 0 and self.empty:
                line = Strip([Segment(" " + self.empty, Style(dim=True))])
                return line.adjust_cell_length(width).apply_style(self.rich_style)
            return Strip.blank(width, self.rich_style)
        row = self.rows[index]
        cursor = self.show_cursor and index == self.cursor_row
        cached = self._cache.get(index)
        key = (row, cursor, self.has_focus, width)
        if cached is not None and cached[0] == key:
            return cached[1]
        base = None
        if cursor:
            name = "row-table--cursor" if self.has_focus else "row-table--cursor-blurred"
            style = self.get_component_rich_style(name)
            base = Style(bgcolor=style.bgcolor, bold=style.bold)
        strip = self._line(row, base)
        self._cache[index] = (key, strip)
        return strip

    def on_focus(self) -> None:
        self._refresh_row(self.cursor_row)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor_row)
