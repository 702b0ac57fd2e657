"""Tiny terminal charts as grids of cells: braille lines and stacked half-block columns.

Plain Python (no Textual, no Rich), O(width × height) per drawing, so a chart of 60
points redraws in well under a millisecond (``benchmarks/tui.py`` measures it);
plotext inside Textual was measured at ~130 ms per redraw, far too slow for a
live dashboard. ``widgets/chart.py`` turns these cells into styled strips.

Braille: each terminal cell holds 2 × 4 dots, so a ``w × h`` chart is a ``2w × 4h``
dot canvas. Values map to dot rows (0 at the bottom, ``top`` at the top); each dot
column is joined to the previous one with a vertical run so the line stays
continuous. A cell takes the colour of the last series that drew in it.

Stacked columns: each cell is split into an upper and a lower half (``▀`` with the
upper colour as foreground and the lower one as background), so a column of ``h``
cells shows shares in ``2h`` steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Braille dot bits, by dot row (0 = top) and dot column.
_DOT = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
_BRAILLE = 0x2800
UPPER_HALF = "▀"

#: A cell: its character, the series that coloured it (-1 none) and, for stacked
#: charts, the series of its lower half as background (-1 none).
Cell = tuple[str, int, int]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above ``value`` (1 for nothing)."""
    if not value > 0 or math.isinf(value):
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * base * (1 + 1e-9):
            return step * base
    return 10.0 * base  # pragma: no cover - the loop always returns


def _index(x: int, span: int, n: int) -> int:
    """The data point drawn at position ``x`` of ``span`` when there are ``n`` points."""
    return min(n - 1, x * n // span)


def line_cells(
    series: Sequence[Sequence[float | None]], width: int, height: int, top: float
) -> list[list[Cell]]:
    """Braille lines for each series (None leaves a gap), scaled to 0..``top``."""
    width, height = max(width, 0), max(height, 0)
    bits = [[0] * width for _ in range(height)]
    owner = [[-1] * width for _ in range(height)]
    dots_w, dots_h = width * 2, height * 4
    if dots_w and dots_h and top > 0:
        scale = (dots_h - 1) / top
        for number, values in enumerate(series):
            n = len(values)
            if not n:
                continue
            previous: int | None = None
            for x in range(dots_w):
                value = values[_index(x, dots_w, n)]
                if value is None:
                    previous = None
                    continue
                y = dots_h - 1 - min(dots_h - 1, max(0, round(value * scale)))
                low, high = (y, y) if previous is None else sorted((previous, y))
                column, dx = divmod(x, 2)
                for dot_y in range(low, high + 1):
                    row, dy = divmod(dot_y, 4)
                    bits[row][column] |= _DOT[dy][dx]
                    owner[row][column] = number
                previous = y
    return [
        [
            (chr(_BRAILLE + b) if b else " ", who, -1)
            for b, who in zip(bit_row, owner_row, strict=True)
        ]
        for bit_row, owner_row in zip(bits, owner, strict=True)
    ]


def stacked_cells(columns: Sequence[Sequence[float]], width: int, height: int) -> list[list[Cell]]:
    """100%-stacked columns: each time step's values as shares of its total.

    ``columns[i][s]`` is series ``s`` at time step ``i``; series 0 is at the bottom.
    Time steps with a total of 0 stay blank.
    """
    width, height = max(width, 0), max(height, 0)
    grid: list[list[Cell]] = [[(" ", -1, -1)] * width for _ in range(height)]
    n = len(columns)
    halves = height * 2
    if not n or not halves:
        return grid
    for x in range(width):
        values = columns[_index(x, width, n)]
        total = sum(values)
        if total <= 0:
            continue
        # Which series covers the middle of each half cell, from the bottom.
        owners: list[int] = []
        cumulative = 0.0
        series = 0
        for half in range(halves):
            middle = (half + 0.5) / halves * total
            while series < len(values) and cumulative + values[series] < middle:
                cumulative += values[series]
                series += 1
            owners.append(min(series, len(values) - 1))
        for row in range(height):
            lower = owners[2 * (height - 1 - row)]
            upper = owners[2 * (height - 1 - row) + 1]
            grid[row][x] = (UPPER_HALF, upper, lower)
    return grid


def band_labels(values: Sequence[float], height: int) -> list[int]:
    """Which series to name on each of ``height`` rows beside one stacked column.

    Each series with a share gets its name on a row its band covers at least half of
    (the middle one if free), largest bands first; a band too thin for a free row
    goes unnamed (the legend still names it). Returns the series per row, top row
    first, -1 for none.
    """
    rows = [-1] * max(height, 0)
    total = sum(values)
    if total <= 0 or height <= 0:
        return rows
    bands: list[tuple[float, int, float, float]] = []
    cumulative = 0.0
    for series, value in enumerate(values):
        if value > 0:
            bands.append((value, series, cumulative / total, (cumulative + value) / total))
        cumulative += value
    for _, series, low, high in sorted(bands, key=lambda band: -band[0]):
        middle = height - 1 - min(height - 1, int((low + high) / 2 * height))
        for row in (middle, middle - 1, middle + 1):
            bottom, top = (height - 1 - row) / height, (height - row) / height
            # At least half the row: the band is really drawn there (in half cells).
            covered = min(top, high) - max(bottom, low)
            if 0 <= row < height and rows[row] == -1 and covered >= 0.5 / height - 1e-9:
                rows[row] = series
                break
    return rows
