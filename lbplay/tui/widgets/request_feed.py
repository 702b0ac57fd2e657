"""The live request feed: client → backend, status, latency, and the balancer's reason.

Live, it shows the newest requests of each snapshot (newest on top), with the
learner's own requests (from outside the traffic generator) pinned above the flow
for a while so a ``curl`` does not scroll away at 500 requests per second. The
"why" column is never cut: a long reason wraps onto more lines.

Focused (``f``), it holds still so a request can be picked: the request under the
cursor is posted as ``RequestHighlighted`` and the dashboard puts its explanation
in the detail panel under the feed (``show_detail``), beside the charts rather than
over them. Enter (or a click) posts ``RequestChosen`` for the whole story; Esc posts
``Released`` and the feed goes live again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import DescendantBlur, DescendantFocus
from textual.message import Message
from textual.widgets import Static

from lbplay.tui.model import FeedRow, Finished
from lbplay.tui.palette import Palette
from lbplay.tui.widgets.row_table import Cell, Column, Row, RowTable, cell

_COLUMNS = (
    Column("client", "client", 13),
    Column("target", "→", 5),
    Column("status", "st", 4),
    Column("latency", "time", 7, "right"),
)
LIVE_TITLE = "Requests"
HELD_TITLE = "Requests · held — ↑↓ pick, Enter: the whole story, Esc goes live"
_REASON_MIN = 12
#: Cells taken by the border and the cell padding around the columns.
_CHROME = 2 + 2 * (len(_COLUMNS) + 1)


def feed_cells(row: FeedRow, palette: Palette) -> Row:
    """One request as cells: client, backend, status, time, and why."""
    client: Cell
    if row.outside:
        client = (("you ", f"bold {palette.accent}"), (row.client, ""))
    else:
        client = ((row.client, palette.muted),)
    # The reason is the lesson: full strength, not muted (it must read from the back
    # of a room); a retried request says so first.
    retried = row.attempts > 1
    why = (
        (f"↻{row.attempts} " if retried else "", f"bold {palette.warn}"),
        (row.reason or row.what, ""),
    )
    return (
        client,
        cell(row.target, "bold"),
        cell(row.status, palette.level(row.level)),
        cell(row.latency),
        why,
    )


class RequestFeed(Vertical):
    """Recent requests; focus holds them still for picking one to explain."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "release", "live feed", show=False)]

    class RequestChosen(Message):
        """The learner picked a request to explain."""

        def __init__(self, event: Finished) -> None:
            super().__init__()
            self.event = event

    class RequestHighlighted(Message):
        """The held feed's cursor is on this request: show why it went there."""

        def __init__(self, event: Finished) -> None:
            super().__init__()
            self.event = event

    class Released(Message):
        """The learner left the feed (Esc): focus should go elsewhere."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = LIVE_TITLE
        self.held = False
        self._events: dict[str, Finished] = {}
        self._reason_width = 0
        #: What the label shown with no rows says.
        self._empty = ""

    def compose(self) -> ComposeResult:
        yield RowTable(id="feed-table", show_cursor=False, whole_rows=True)
        yield Static("", id="feed-empty")
        yield Static("", id="feed-detail")

    @property
    def table(self) -> RowTable:
        return self.query_one("#feed-table", RowTable)

    # -- attributes down -------------------------------------------------------------

    def show(
        self,
        rows: Sequence[FeedRow],
        events: dict[int, Finished],
        palette: Palette,
        *,
        empty: str,
    ) -> None:
        """Show ``rows`` (newest first) unless the learner is holding the feed."""
        if self.held:
            return
        self._ensure_columns()
        # Each of these asks Textual for a new layout, even when nothing changed (a
        # layout of the whole screen at every tick was most of an idle dashboard's CPU),
        # so only what changed is set.
        empty_label = self.query_one("#feed-empty", Static)
        if empty_label.display != (not rows):
            empty_label.display = not rows
        if self.table.display != bool(rows):
            self.table.display = bool(rows)
        if not rows and empty != self._empty:
            empty_label.update(empty)
            self._empty = empty
        self._events = {str(seq): event for seq, event in events.items()}
        self.table.set_rows(
            [str(row.seq) for row in rows], [feed_cells(row, palette) for row in rows]
        )

    def show_detail(self, detail: RenderableType) -> None:
        """Show ``detail`` (the highlighted request, explained) under the held feed."""
        self.query_one("#feed-detail", Static).update(detail)

    # -- internals -------------------------------------------------------------------

    def _ensure_columns(self) -> None:
        width = max(self.size.width - _CHROME - sum(c.width for c in _COLUMNS), _REASON_MIN)
        if width == self._reason_width:
            return
        self._reason_width = width
        self.table.set_columns([*_COLUMNS, Column("reason", "why", width, wrap=True)])

    def _highlight(self, key: str | None) -> None:
        event = self._events.get(key or "")
        if event is not None:
            self.post_message(self.RequestHighlighted(event))

    def on_resize(self) -> None:
        self._ensure_columns()

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        self.held = True
        self.table.show_cursor = True
        self.table.move_to(0)
        self.border_title = HELD_TITLE
        self.add_class("-held")
        self._highlight(self.table.cursor_key)

    def on_descendant_blur(self, event: DescendantBlur) -> None:
        self.held = False
        self.table.show_cursor = False
        self.border_title = LIVE_TITLE
        self.remove_class("-held")

    def on_row_table_chosen(self, event: RowTable.Chosen) -> None:
        event.stop()
        chosen = self._events.get(event.key)
        if chosen is not None:
            self.post_message(self.RequestChosen(chosen))

    def on_row_table_cursor_moved(self, event: RowTable.CursorMoved) -> None:
        event.stop()
        if self.held:
            self._highlight(event.key)

    def action_release(self) -> None:
        self.post_message(self.Released())
