"""A line chart as SVG text, for slides: ``lbplay sim --plot FILE.svg``.

Small on purpose (no plotting library): axes with round-numbered ticks and light
grid lines, the axis labels, one polyline per series in the colour-blind-safe
Okabe–Ito colours, a legend, and a title. The text is plain SVG 1.1 that browsers,
GitHub's README view and slide software all show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

#: Okabe–Ito, darkened where it would vanish on white.
COLORS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#b8a000")
WIDTH, HEIGHT = 760, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 200, 50, 60


@dataclass(frozen=True)
class Series:
    """One line: its name in the legend and its (x, y) points."""

    label: str
    points: Sequence[tuple[float, float]]


def ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round tick values covering ``low``..``high``: steps of 1, 2 or 5 × 10^k."""
    span = high - low
    if not span > 0 or not math.isfinite(span):
        return [low]
    raw = span / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= raw)
    first = math.ceil(low / step) * step
    count = math.floor((high - first) / step + 1e-9) + 1
    return [round(first + i * step, 12) for i in range(count)]


def _label(value: float) -> str:
    return f"{value:g}"


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    subtitle: str = "",
    x_max: float | None = None,
    y_max: float = 1.0,
) -> str:
    """The chart as an SVG document."""
    finite = [x for s in series for x, _ in s.points if math.isfinite(x)]
    top_x = x_max if x_max is not None else (max(finite) if finite else 1.0)
    top_x = top_x if top_x > 0 else 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def sx(x: float) -> float:
        return LEFT + min(max(x / top_x, 0.0), 1.0) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - min(max(y / y_max, 0.0), 1.0) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="24" font-size="17" font-weight="bold">{escape(title)}</text>',
    ]
    if subtitle:
        out.append(
            f'<text x="{LEFT}" y="42" font-size="12" fill="#555555">{escape(subtitle)}</text>'
        )
    for x in ticks(0.0, top_x):
        px = sx(x)
        out.append(
            f'<line x1="{px:.1f}" y1="{TOP}" x2="{px:.1f}" y2="{TOP + plot_h}" stroke="#e4e4e4"/>'
        )
        out.append(
            f'<text x="{px:.1f}" y="{TOP + plot_h + 18}" font-size="12"'
            f' text-anchor="middle">{_label(x)}</text>'
        )
    for y in ticks(0.0, y_max, 5):
        py = sy(y)
        out.append(
            f'<line x1="{LEFT}" y1="{py:.1f}" x2="{LEFT + plot_w}" y2="{py:.1f}" stroke="#e4e4e4"/>'
        )
        out.append(
            f'<text x="{LEFT - 8}" y="{py + 4:.1f}" font-size="12"'
            f' text-anchor="end">{_label(y)}</text>'
        )
    out.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none"'
        ' stroke="#333333"/>'
    )
    out.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 16}" font-size="13"'
        f' text-anchor="middle">{escape(x_label)}</text>'
    )
    out.append(
        f'<text x="18" y="{TOP + plot_h / 2:.1f}" font-size="13" text-anchor="middle"'
        f' transform="rotate(-90 18 {TOP + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for number, one in enumerate(series):
        color = COLORS[number % len(COLORS)]
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in one.points if math.isfinite(x + y))
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2.2"'
            ' stroke-linejoin="round"/>'
        )
        ly = TOP + 14 + number * 22
        lx = LEFT + plot_w + 16
        out.append(
            f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{color}"'
            ' stroke-width="3"/>'
        )
        out.append(f'<text x="{lx + 30}" y="{ly + 4}" font-size="12">{escape(one.label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
