"""A fast table for live data: fixed columns, rows of styled text, a cursor row.

Why not ``DataTable``: it renders every cell through a Rich console and drops its
caches on any update, so a live table that changes each tick re-renders every cell
of every row — measured at tens of milliseconds per frame for the fleet and the
feed together, which at 500 requests per second pushed key-press latency past
100 ms. Here a row is a tuple of cells, a cell a tuple of ``(text, style)``
pieces, and each line's ``Strip`` is built directly from segments and cached by
what it shows (the line's cells, cursor, width, theme), not by where it is: a tick
that changes two cells re-renders one or two lines, and a log whose rows all move
down one line when a new one arrives re-renders only the new one. Runs of the same
style are merged into one segment, so the terminal gets one style change per run,
not one per cell piece.

A column may *wrap* (``Column.wrap``): its text is word-wrapped to the column's
width and the row grows to as many lines as it needs, so nothing in that column is
ever cut (the request feed's "why"). Other columns are cut with an ellipsis.

Line API (``ScrollView``): a fixed header line (optional), then the rows; it scrolls
when there are more lines than fit. Keys (when focused): ↑/↓, PgUp/PgDn, Home/End
move the cursor; Enter selects. A click moves the cursor and selects. It posts
``CursorMoved`` and ``Chosen`` with the row's key. The cursor row is marked by a
symbol (``marker``) as well as by its background, so it is found without colour.
With ``bottom``, rows that do not fill the table sit at its bottom, like a log.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.cells import cell_len, get_character_cell_size, set_cell_size
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
    """A column: its key, header label, width in cells, alignment, and whether its
    text wraps onto more lines (instead of being cut)."""

    key: str
    label: str
    width: int
    justify: Literal["left", "right"] = "left"
    wrap: bool = False


def cell(text: str, style: str = "") -> Cell:
    """A cell of one piece of text."""
    return ((text, style),)


_ELLIPSIS = "…"
#: Fitted cells a table keeps before it starts again (a few screens' worth).
_FITS_KEPT = 4096


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


def wrap_spans(text: str, width: int) -> list[tuple[int, int]]:
    """Where to break ``text`` into lines of at most ``width`` cells: (start, end)
    offsets, breaking at spaces (which are dropped) and inside a word only when the
    word alone is wider than a line."""
    width = max(width, 1)
    sizes = [get_character_cell_size(char) for char in text]
    spans: list[tuple[int, int]] = []
    start, n = 0, len(text)
    while start < n:
        if spans:  # a continuation line does not start with the space it broke at
            while start < n and text[start] == " ":
                start += 1
            if start >= n:
                break
        used, end = 0, start
        while end < n and used + sizes[end] <= width:
            used += sizes[end]
            end += 1
        if end >= n:
            spans.append((start, n))
            break
        space = text.rfind(" ", start, end + 1)
        cut = space if space > start else max(end, start + 1)
        spans.append((start, cut))
        start = cut
    return spans or [(0, 0)]


def wrap_cell(pieces: Cell, width: int) -> list[Cell]:
    """``pieces`` word-wrapped into lines of at most ``width`` cells, styles kept."""
    text = "".join(piece for piece, _ in pieces)
    if cell_len(text) <= width:
        return [pieces]
    bounds: list[tuple[int, int, str]] = []  # (start, end, style) of each piece
    offset = 0
    for piece, style in pieces:
        bounds.append((offset, offset + len(piece), style))
        offset += len(piece)
    lines: list[Cell] = []
    for start, end in wrap_spans(text, width):
        line = tuple(
            (text[max(start, lo) : min(end, hi)], style)
            for lo, hi, style in bounds
            if lo < end and hi > start
        )
        lines.append(line)
    return lines


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
        "row-table--marker",
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
    RowTable > .row-table--marker {
        color: $text-accent;
        text-style: bold;
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
        header: bool = True,
        marker: str = "▶",
        bottom: bool = False,
        whole_rows: bool = False,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """``header``: draw the column labels on the first line; ``marker``: the
        one-cell symbol left of the cursor row ("" for none); ``bottom``: rows that
        do not fill the table sit at its bottom (a log); ``whole_rows``: keep only
        the rows that fit whole (a live feed: a reason is never cut by the edge)."""
        super().__init__(id=id, classes=classes)
        self.set_reactive(RowTable.show_cursor, show_cursor)
        self.header = header
        self.marker = marker
        self.bottom = bottom
        self.whole_rows = whole_rows
        self.columns: tuple[Column, ...] = ()
        self.keys: list[str] = []
        self.rows: list[Row] = []
        #: Shown on the first line when there are no rows.
        self.empty = ""
        #: Every line on screen in order: (row index, that line's cells).
        self._layout: list[tuple[int, Row]] = []
        #: The first line of each row (``_layout`` index).
        self._starts: list[int] = []
        #: Wrapped lines of recent rows, by content: rows shift down as new ones
        #: arrive, and are not wrapped again.
        self._wrapped: dict[Row, tuple[Row, ...]] = {}
        #: Rendered lines by what they show (see ``render_line``); dropped when it
        #: holds far more lines than the table has.
        self._cache: dict[tuple[object, ...], Strip] = {}
        #: Fitted cells by (pieces, width, justify, base): many repeat from row to row.
        self._fits: dict[tuple[Cell, int, str, Style | None], list[Segment]] = {}
        self._header: tuple[object, Strip] | None = None
        #: ``rich_style`` (the background behind the rows), kept: Textual works it
        #: out from every ancestor on each read, which was a third of a line's cost.
        self._base: Style | None = None

    @property
    def base_style(self) -> Style:
        if self._base is None:
            self._base = self.rich_style
        return self._base

    # -- attributes down -------------------------------------------------------------

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns (and forget every rendered row)."""
        self.columns = tuple(columns)
        self._cache.clear()
        self._wrapped.clear()
        self._header = None
        self._relayout()
        self._resize_virtual()
        self.refresh()

    def set_rows(self, keys: Sequence[str], rows: Sequence[Row]) -> None:
        """Replace every row; only lines whose content changed are redrawn."""
        old_key = self.keys[self.cursor_row] if 0 <= self.cursor_row < len(self.keys) else None
        old_layout = self._layout
        self.keys = list(keys)
        self.rows = list(rows)
        self._relayout()
        if self.whole_rows:
            self._keep_whole_rows()
        changed = len(old_layout) != len(self._layout) or any(
            old[1] != new[1] for old, new in zip(old_layout, self._layout, strict=False)
        )
        if len(old_layout) != len(self._layout):
            self._resize_virtual()
        if len(self._cache) > 4 * len(self._layout) + 64:
            self._cache.clear()  # lines of rows long gone
        if self.cursor_row >= len(self.rows):
            self.cursor_row = max(len(self.rows) - 1, 0)
        if changed:
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

    @property
    def lines(self) -> int:
        """Lines the rows take (more than rows when some wrap)."""
        return len(self._layout)

    # -- wrapping --------------------------------------------------------------------

    def _relayout(self) -> None:
        wrapping = [i for i, column in enumerate(self.columns) if column.wrap]
        if not wrapping:
            self._layout = list(enumerate(self.rows))
            self._starts = list(range(len(self.rows)))
            return
        wrapped: dict[Row, tuple[Row, ...]] = {}
        layout: list[tuple[int, Row]] = []
        starts: list[int] = []
        for index, row in enumerate(self.rows):
            lines = self._wrapped.get(row) or wrapped.get(row) or self._wrap(row, wrapping)
            wrapped[row] = lines
            starts.append(len(layout))
            layout.extend((index, line) for line in lines)
        self._wrapped = wrapped
        self._layout = layout
        self._starts = starts

    def _wrap(self, row: Row, wrapping: Sequence[int]) -> tuple[Row, ...]:
        pieces = {i: wrap_cell(row[i], self.columns[i].width) for i in wrapping if i < len(row)}
        height = max((len(lines) for lines in pieces.values()), default=1)
        if height == 1:
            return (row,)
        return tuple(
            tuple(
                (pieces[i][k] if k < len(pieces[i]) else ())
                if i in pieces
                else (content if k == 0 else ())
                for i, content in enumerate(row)
            )
            for k in range(height)
        )

    def _keep_whole_rows(self) -> None:
        """Drop the rows that would only partly fit the visible lines (one is kept)."""
        visible = self.size.height - int(self.header)
        if visible <= 0 or len(self._layout) <= visible:
            return
        count = max(bisect_right(self._starts, visible) - 1, 1)
        if count < len(self.rows) and self._row_lines(count - 1).stop > visible:
            count = max(count - 1, 1)
        stop = self._row_lines(count - 1).stop
        self.rows = self.rows[:count]
        self.keys = self.keys[:count]
        self._starts = self._starts[:count]
        self._layout = self._layout[:stop]

    def _row_at_line(self, line: int) -> int:
        """The row shown on ``line`` (an index into ``_layout``)."""
        return bisect_right(self._starts, line) - 1

    def _top(self) -> int:
        """Screen lines above the first row: the header, and with ``bottom`` the
        blank lines that put a short table's rows at the bottom."""
        top = int(self.header)
        if self.bottom:
            top += max(self.size.height - top - len(self._layout), 0)
        return top

    def _row_lines(self, index: int) -> range:
        if not 0 <= index < len(self._starts):
            return range(0)
        start = self._starts[index]
        end = self._starts[index + 1] if index + 1 < len(self._starts) else len(self._layout)
        return range(start, end)

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
        for line in self._row_lines(index):
            y = line + self._top()  # in the virtual space: refresh_line scrolls it
            if 0 <= y - int(self.scroll_offset.y) < self.size.height:
                self.refresh_line(y)

    def _scroll_to_cursor(self) -> None:
        lines = self._row_lines(self.cursor_row)
        if not lines:
            return
        visible = max(self.size.height - int(self.header), 1)
        top = int(self.scroll_offset.y)
        if lines.start < top:
            self.scroll_to(y=lines.start, animate=False)
        elif lines.stop > top + visible:
            self.scroll_to(y=min(lines.start, lines.stop - visible), animate=False)

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
        if offset is None or offset.y < self._top():
            return
        line = int(self.scroll_offset.y) + offset.y - self._top()
        if 0 <= line < len(self._layout):
            self.move_to(self._layout[line][0])
            self.action_choose()

    # -- drawing ---------------------------------------------------------------------

    def _resize_virtual(self) -> None:
        width = sum(c.width for c in self.columns) + 2 * len(self.columns)
        # An empty table keeps one line for its ``empty`` message.
        lines = max(len(self._layout), 1 if self.empty else 0)
        self.virtual_size = Size(width, lines + int(self.header))

    def on_resize(self) -> None:
        self._cache.clear()
        self._header = None

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()
        self._fits.clear()
        self._header = None
        self._base = None

    def _line(self, row: Row, base: Style | None, marker: Segment | None = None) -> Strip:
        """One line, cut or padded to the table's width, on the table's background,
        with runs of one style merged: built in one pass into one ``Strip`` (each
        ``Strip`` step — pad, style, simplify — makes a new one, and a live feed
        draws a line for every request)."""
        segments: list[Segment] = []
        pad = Segment(" ", base)
        fits = self._fits
        if len(fits) > _FITS_KEPT:
            fits.clear()
        for index, (column, pieces) in enumerate(zip(self.columns, row, strict=False)):
            segments.append(marker if index == 0 and marker is not None else pad)
            # A feed's cells repeat (clients, backends, statuses, reasons): fit each once.
            key = (pieces, column.width, column.justify, base)
            fitted = fits.get(key)
            if fitted is None:
                fitted = fits[key] = fit(pieces, column.width, column.justify, base)
            segments.extend(fitted)
            segments.append(pad)
        width = self.size.width
        outer = self.base_style
        merged: list[Segment] = []
        run: list[str] = []
        run_style: Style | None = None
        used = 0
        for text, style, _control in segments:
            if used >= width:
                break
            size = cell_len(text)
            if used + size > width:
                text = set_cell_size(text, width - used)
                size = width - used
            used += size
            full = outer + style if style is not None else outer
            if run and full != run_style:
                merged.append(Segment("".join(run), run_style))
                run = []
            run.append(text)
            run_style = full
        if used < width:
            full = outer + base if base is not None else outer
            if run and full != run_style:
                merged.append(Segment("".join(run), run_style))
                run = []
            run.append(" " * (width - used))
            run_style = full
        if run:
            merged.append(Segment("".join(run), run_style))
        return Strip(merged, width)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if self.header and y == 0:
            header_key = (width, self.columns)
            if self._header is None or self._header[0] != header_key:
                style = self.get_component_rich_style("row-table--header")
                header = tuple(cell(c.label) for c in self.columns)
                self._header = (header_key, self._line(header, style))
            return self._header[1]
        line = int(self.scroll_offset.y) + y - self._top()
        if line < 0:
            return Strip.blank(width, self.base_style)
        if line >= len(self._layout):
            if line == 0 and self.empty:
                strip = Strip([Segment(" " + self.empty, Style(dim=True))])
                return strip.adjust_cell_length(width).apply_style(self.base_style)
            return Strip.blank(width, self.base_style)
        index, row = self._layout[line]
        cursor = self.show_cursor and index == self.cursor_row
        first = self._starts[index] == line
        # The cursor's look depends on focus; other lines do not.
        key = (row, cursor, first, cursor and self.has_focus, width)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        base = None
        marker = None
        if cursor:
            name = "row-table--cursor" if self.has_focus else "row-table--cursor-blurred"
            style = self.get_component_rich_style(name)
            base = Style(bgcolor=style.bgcolor, bold=style.bold)
            if first and self.marker:
                mark = self.get_component_rich_style("row-table--marker")
                marker = Segment(self.marker, base + Style(color=mark.color, bold=True))
        strip = self._line(row, base, marker)
        self._cache[key] = strip
        return strip

    def on_focus(self) -> None:
        self._refresh_row(self.cursor_row)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor_row)
