"""The fleet table: one row per backend, its state in colour, its numbers, its share.

The dashboard hands it ``FleetRow``s each tick (attributes down); only rows whose
text changed are redrawn (``RowTable``). The cursor row is the selected backend:
the cursor follows the backend's name when the fleet changes, and moving it posts
``FleetTable.BackendSelected``.

Two column sets: every column from ``FULL_WIDTH`` cells, and a narrow one (no
faults, p50 or effective weight; faults join the state) for 80-column terminals.
The state column takes whatever width the others leave. When the algorithm
balances on bytes (least_bandwidth), a bytes/s column takes a latency column's
place: it is the number that algorithm reads.

The selected backend is the cursor row, marked ``▶`` as well as highlighted, so
it is found on a washed-out projector and without telling colours apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.message import Message

from lbplay.tui.model import FleetRow, fmt_bytes_rate, fmt_ms, fmt_pct, fmt_rate, share_bar
from lbplay.tui.palette import Palette
from lbplay.tui.widgets.row_table import Cell, Column, Row, RowTable, cell

#: From this many cells wide the table shows every column.
FULL_WIDTH = 114
#: The state column takes the width the others leave, but at least this much.
STATE_MIN = 20
#: Cells around the columns: the border and a one-cell scrollbar.
_CHROME = 3

_FULL = (
    Column("name", "backend", 7),
    Column("state", "state", 0),
    Column("faults", "faults", 15),
    Column("weight", "wt", 3, "right"),
    Column("effective", "eff", 4, "right"),
    Column("in_flight", "in fl", 5, "right"),
    Column("rps", "req/s", 5, "right"),
    Column("errors", "err", 5, "right"),
    Column("p50", "p50", 7, "right"),
    Column("p99", "p99", 7, "right"),
    Column("share", "share", 12),
)
_NARROW = (
    Column("name", "backend", 7),
    Column("state", "state", 0),
    Column("weight", "wt", 3, "right"),
    Column("in_flight", "fl", 3, "right"),
    Column("rps", "req/s", 5, "right"),
    Column("errors", "err", 4, "right"),
    Column("p99", "p99", 7, "right"),
    Column("share", "share", 8),
)


#: The algorithms that balance on bytes, and the latency column bytes/s replaces.
BANDWIDTH_ALGORITHMS = frozenset({"least_bandwidth"})
_BYTES = Column("bytes", "bytes/s", 8, "right")


def columns_for(width: int, *, bandwidth: bool = False) -> tuple[Column, ...]:
    """The column set for a table ``width`` cells wide, the state column sized to fit;
    ``bandwidth``: with a bytes/s column."""
    spec: tuple[Column, ...] = _FULL if width >= FULL_WIDTH or width == 0 else _NARROW
    if bandwidth:
        replaced = "p50" if spec is _FULL else "p99"
        spec = tuple(_BYTES if c.key == replaced else c for c in spec)
    fixed = sum(c.width for c in spec) + 2 * len(spec) + _CHROME
    state = max(width - fixed, STATE_MIN)
    return tuple(Column(c.key, c.label, state) if c.key == "state" else c for c in spec)


def fleet_cells(row: FleetRow, palette: Palette, columns: Sequence[Column]) -> Row:
    """One backend as cells for ``columns``."""
    widths = {c.key: c.width for c in columns}
    narrow = "faults" not in widths
    color = palette.backend(row.number - 1)
    state: list[tuple[str, str]] = []
    for index, part in enumerate(row.state):
        if index:
            state.append((" · ", palette.muted))
        state.append((part.text, palette.level(part.level)))
    if narrow and row.faults:
        state.append((" " + row.faults, palette.warn))
    if row.error_rate >= 0.05:
        err_style = palette.bad
    elif row.error_rate:
        err_style = palette.warn
    else:
        err_style = ""
    share_width = widths["share"] - 5  # "100% " before the bar
    effective = (
        f"{row.effective:g}" if row.effective == int(row.effective) else f"{row.effective:.1f}"
    )
    cells: dict[str, Cell] = {
        "name": (
            (f"{row.number} " if row.number <= 9 else "  ", palette.muted),
            ("■ ", color),
            (row.name, "bold"),
        ),
        "state": tuple(state),
        "faults": cell(row.faults, palette.warn),
        "weight": cell(str(row.weight)),
        "effective": cell(effective, palette.muted if row.effective != row.weight else ""),
        "in_flight": cell(str(row.in_flight)),
        "rps": cell(fmt_rate(row.rps)),
        "errors": cell(fmt_pct(row.error_rate), err_style),
        "p50": cell(fmt_ms(row.p50)),
        "p99": cell(fmt_ms(row.p99)),
        "bytes": cell(fmt_bytes_rate(row.bytes_per_second)),
        "share": ((f"{fmt_pct(row.share):>4} ", ""), (share_bar(row.share, share_width), color)),
    }
    return tuple(cells[c.key] for c in columns)


class FleetTable(RowTable):
    """Backends as rows; the cursor row is the selected backend."""

    class BackendSelected(Message):
        """The learner moved the selection to another backend."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.empty = "No backends: press n to add one."
        self._rows_in: Sequence[FleetRow] = ()
        self._palette: Palette | None = None
        self._bandwidth = False
        #: The last backend announced with ``BackendSelected``.
        self.selected: str | None = None

    # -- attributes down -------------------------------------------------------------

    def show(self, rows: Sequence[FleetRow], palette: Palette, *, bandwidth: bool = False) -> None:
        """Show ``rows``; the cursor stays on the same backend if it is still there.
        ``bandwidth``: the algorithm balances on bytes, so show bytes/s."""
        self._rows_in = rows
        self._palette = palette
        self._bandwidth = bandwidth
        columns = columns_for(self.size.width, bandwidth=bandwidth)
        if columns != self.columns:
            self.set_columns(columns)
        names = [row.name for row in rows]
        self.set_rows(names, [fleet_cells(row, palette, self.columns) for row in rows])
        if self.selected in names:
            self.cursor_row = names.index(self.selected)
        elif self.cursor_key != self.selected:  # the selected backend left the fleet
            self.selected = self.cursor_key
            if self.selected is not None:
                self.post_message(self.BackendSelected(self.selected))

    @property
    def current(self) -> str | None:
        """The backend under the cursor right now.

        Keys act on this, not on the last ``BackendSelected``: a key that arrives in
        the same read as an arrow must see the arrow's effect, and the message that
        announces the new row is only handled later.
        """
        return self.cursor_key

    def select(self, name: str) -> None:
        """Move the cursor to ``name``."""
        if name in self.keys:
            self.move_to(self.keys.index(name))

    def select_index(self, index: int) -> None:
        """Move the cursor to row ``index`` (0-based)."""
        if 0 <= index < len(self.keys):
            self.move_to(index)

    # -- internals -------------------------------------------------------------------

    def on_resize(self) -> None:
        super().on_resize()
        if self._palette is not None:
            self.show(self._rows_in, self._palette, bandwidth=self._bandwidth)

    def watch_cursor_row(self, old: int, new: int) -> None:
        super().watch_cursor_row(old, new)
        # Announce here rather than on CursorMoved: one message hop instead of two.
        key = self.cursor_key
        if key is not None and key != self.selected:
            self.selected = key
            self.post_message(self.BackendSelected(key))

    def on_row_table_cursor_moved(self, event: RowTable.CursorMoved) -> None:
        event.stop()

    def on_row_table_chosen(self, event: RowTable.Chosen) -> None:
        event.stop()
