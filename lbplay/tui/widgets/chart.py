"""Live charts drawn by lbplay itself: braille lines and stacked share columns.

A chart is told what to draw (``plot``/``stack``: attributes down) and draws it
once per change, caching one ``Strip`` per line; ``render_line`` only looks the
line up. A redraw is O(width × height) — see ``plot.py`` — and a dashboard tick
that brings no new second of data does not redraw at all.

Layout inside the border: a left gutter with the scale (top value, 0), then the
plot. The border title names the chart; the subtitle carries the legend and the
latest values. A stacked chart given ``labels`` also names each band at its right
edge (``s1`` beside s1's colour), so backends are told apart by name, not only by
colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from lbplay.tui.plot import Cell, band_labels, line_cells, nice_ceiling, stacked_cells

#: Width of the scale gutter on the left ("250" + a space).
GUTTER = 5
#: The colour of scales and "waiting" notes unless the dashboard says otherwise.
MUTED = "#808080"


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a line chart: its points (None is a gap) and its colour."""

    label: str
    values: Sequence[float | None]
    color: str


def fmt_scale(value: float) -> str:
    """A gutter label in at most 4 characters: ``0``, ``2.5``, ``250``, ``1.5k``."""
    if value >= 1000:
        return f"{value / 1000:g}k"[:4]
    if value >= 10 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.2g}"


def cells_to_strips(
    cells: Sequence[Sequence[Cell]],
    colors: Sequence[str],
    *,
    gutter: Sequence[str] = (),
    gutter_style: Style | None = None,
    empty: str = "",
    empty_style: Style | None = None,
) -> list[Strip]:
    """Turn plotted cells into one strip per line, merging runs of one colour.

    ``gutter[i]`` is written left of line ``i`` (padded to ``GUTTER``); ``empty`` is
    written across the middle line when nothing was plotted.
    """
    styles = [Style(color=color) for color in colors]
    stacked = [[Style(color=fg, bgcolor=bg) for bg in colors] for fg in colors]  # stacked[fg][bg]
    blank = Style()
    strips: list[Strip] = []
    middle = len(cells) // 2
    plotted = any(cell[1] >= 0 for row in cells for cell in row)
    for y, row in enumerate(cells):
        segments: list[Segment] = []
        if gutter:
            label = gutter[y] if y < len(gutter) else ""
            segments.append(Segment(label.rjust(GUTTER - 1)[: GUTTER - 1] + " ", gutter_style))
        if not plotted and empty and y == middle:
            width = len(row)
            segments.append(Segment(empty[:width].center(width), empty_style))
            strips.append(Strip(segments))
            continue
        run: list[str] = []
        run_style: Style | None = None
        for char, fg, bg in row:
            if fg < 0:
                style = blank
            elif bg < 0:
                style = styles[fg % len(styles)]
            else:
                style = stacked[fg % len(styles)][bg % len(styles)]
            if style is not run_style and run:
                segments.append(Segment("".join(run), run_style))
                run = []
            run_style = style
            run.append(char)
        if run:
            segments.append(Segment("".join(run), run_style))
        strips.append(Strip(segments))
    return strips


class Chart(Widget):
    """A small live chart: braille lines (``plot``) or stacked shares (``stack``)."""

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = title
        self._lines: Sequence[Line] = ()
        self._stack: Sequence[Sequence[float]] | None = None
        self._colors: Sequence[str] = ()
        self._top = 1.0
        self._labels: Sequence[str] = ()
        self._muted = MUTED
        self._empty = "waiting for the first second of traffic"
        self._strips: list[Strip] | None = None
        self._drawn_size = (0, 0)

    # -- attributes down -------------------------------------------------------------

    def plot(
        self, lines: Sequence[Line], *, floor: float = 1.0, empty: str = "", muted: str = MUTED
    ) -> None:
        """Draw ``lines`` on a shared scale from 0 to a round number above the peak
        (never below ``floor``)."""
        peak = max((v for line in lines for v in line.values if v is not None), default=0.0)
        self._lines = tuple(lines)
        self._stack = None
        self._labels = ()
        self._muted = muted
        self._colors = tuple(line.color for line in lines)
        self._top = nice_ceiling(max(peak, floor))
        if empty:
            self._empty = empty
        self._invalidate()

    def stack(
        self,
        columns: Sequence[Sequence[float]],
        colors: Sequence[str],
        empty: str,
        *,
        labels: Sequence[str] = (),
        muted: str = MUTED,
    ) -> None:
        """Draw 100%-stacked columns (``columns[time][series]``); ``labels[s]`` names
        series ``s`` beside its band in the newest column."""
        self._stack = columns
        self._lines = ()
        self._labels = tuple(labels)
        self._muted = muted
        self._colors = tuple(colors) or ("white",)
        self._top = 1.0
        self._empty = empty
        self._invalidate()

    def _invalidate(self) -> None:
        self._strips = None
        self.refresh()

    # -- drawing ---------------------------------------------------------------------

    def on_resize(self) -> None:
        self._invalidate()

    def draw(self) -> list[Strip]:
        """Build every line of the chart for the current size."""
        width, height = self.content_size
        label_width = max((len(label) for label in self._labels), default=-1) + 1
        if width - GUTTER - label_width < 8:  # too narrow to name bands: the legend does
            label_width = 0
        plot_width = max(width - GUTTER - label_width, 0)
        muted = Style(color=self._muted)
        if self._stack is not None:
            cells = stacked_cells(self._stack, plot_width, height)
            gutter = ["100%", *[""] * max(height - 2, 0), "0%"] if height > 1 else []
        else:
            cells = line_cells([line.values for line in self._lines], plot_width, height, self._top)
            gutter = [fmt_scale(self._top), *[""] * max(height - 2, 0), "0"] if height > 1 else []
        strips = cells_to_strips(
            cells,
            self._colors or ("white",),
            gutter=gutter,
            gutter_style=muted,
            empty=self._empty,
            empty_style=muted,
        )
        if label_width and self._stack:
            strips = self._labelled(strips, plot_width, label_width, height)
        return [strip.adjust_cell_length(width).apply_style(self.rich_style) for strip in strips]

    def _labelled(
        self, strips: list[Strip], plot_width: int, label_width: int, height: int
    ) -> list[Strip]:
        """Each band's name right of the newest column, in the band's colour."""
        newest = next((c for c in reversed(self._stack or ()) if sum(c) > 0), None)
        if newest is None:
            return strips
        rows = band_labels(newest, height)
        colors = self._colors or ("white",)
        labelled = []
        for y, strip in enumerate(strips):
            series = rows[y] if y < len(rows) else -1
            strip = strip.adjust_cell_length(GUTTER + plot_width)
            if series >= 0 and series < len(self._labels):
                style = Style(color=colors[series % len(colors)], bold=True)
                label = Segment(" " + self._labels[series].ljust(label_width - 1), style)
                strip = Strip.join([strip, Strip([label])])
            labelled.append(strip)
        return labelled

    def render_line(self, y: int) -> Strip:
        size = (self.content_size.width, self.content_size.height)
        if self._strips is None or size != self._drawn_size:
            self._strips = self.draw()
            self._drawn_size = size
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(size[0], self.rich_style)
