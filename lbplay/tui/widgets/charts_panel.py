"""The four live charts: fleet latency, the selected backend's latency, traffic share
per backend, errors and session losses — each over the last 60 seconds.

Backends are named, not only coloured: the share chart labels each band with its
backend's name and its legend names them all; the error chart's subtitle counts the
whole minute it draws, not the last second.

The panel is given a snapshot's metrics and redraws its charts only when a new
second of data arrived, the selection changed or the theme changed; ticks in
between cost a comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Grid
from textual.markup import escape

from lbplay.core.metrics import MetricsSnapshot
from lbplay.tui.model import LatencyHistory, error_totals, fmt_ms, session_losses
from lbplay.tui.palette import Palette
from lbplay.tui.widgets.chart import Chart, Line

#: Latency charts never scale below 10 ms, so a quiet fleet does not look spiky.
LATENCY_FLOOR_MS = 10.0


def _ms(values: Sequence[float | None]) -> list[float | None]:
    return [None if v is None else v * 1000 for v in values]


def _last(values: Sequence[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None), None)


#: Cells of a border around its subtitle: the corners and "─ " on each side.
_SUBTITLE_CHROME = 6


def legend(names: Sequence[str], palette: Palette, width: int) -> str:
    """Every backend's colour and name (``■ s1 ■ s2``), tighter (``■s1 ■s2``, then
    ``■s1■s2``) when that does not fit ``width``, then as many as fit and "…"."""
    for gap, separator in ((" ", " "), ("", " "), ("", "")):
        parts = [f"■{gap}{name}" for name in names]
        if len(separator.join(parts)) <= width:
            break
    shown: list[str] = []
    for part in parts:
        if len(separator.join([*shown, part, "…"])) > width:
            break
        shown.append(part)
    return separator.join(
        [f"[{palette.backend(i)}]■[/]{escape(part[1:])}" for i, part in enumerate(shown)]
        + (["…"] if len(shown) < len(parts) else [])
    )


class ChartsPanel(Grid):
    """Four charts in a 2 × 2 grid."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._drawn: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Chart("latency · all", id="chart-latency")
        yield Chart("latency · selected", id="chart-selected")
        yield Chart("share of requests", id="chart-share")
        yield Chart("errors & lost sessions", id="chart-errors")

    def show(
        self,
        metrics: MetricsSnapshot,
        *,
        names: Sequence[str],
        selected: str | None,
        history: LatencyHistory,
        palette: Palette,
        mode: str,
    ) -> None:
        """Redraw from ``metrics`` if anything the charts show changed."""
        key = (
            metrics.series.end,
            selected,
            tuple(names),
            palette,
            mode,
            history.version,
            self.size,  # the legend fits the width
        )
        if key == self._drawn:
            return
        self._drawn = key
        series = metrics.series
        self._latency(
            self.query_one("#chart-latency", Chart),
            "latency · all",
            series.p50,
            series.p99,
            palette,
            empty="no requests yet" if mode == "l7" else "L4: measured by the clients",
        )
        p50, p99 = history.series(selected) if selected else ((), ())
        self._latency(
            self.query_one("#chart-selected", Chart),
            f"latency · {selected or 'selected'}",
            p50,
            p99,
            palette,
            empty=f"no requests to {selected} yet" if selected else "select a backend",
        )
        share = self.query_one("#chart-share", Chart)
        per_backend = [series.backends.get(name, ()) for name in names]
        length = len(series.requests)
        columns = [
            [float(points[i]) if i < len(points) else 0.0 for points in per_backend]
            for i in range(length)
        ]
        share.stack(
            columns,
            [palette.backend(i) for i in range(len(names))],
            empty="no requests yet",
            labels=names,
            muted=palette.muted,
        )
        share.border_subtitle = legend(names, palette, share.size.width - _SUBTITLE_CHROME)
        errors = self.query_one("#chart-errors", Chart)
        losses = session_losses(series)
        # Zeros are worth a line only once there was traffic to have errors in.
        lines = (
            [
                Line("session losses", [float(v) for v in losses], palette.panic),
                Line("errors", [float(v) for v in series.errors], palette.bad),
            ]
            if any(series.requests)
            else []
        )
        errors.plot(lines, floor=5, empty="no requests yet", muted=palette.muted)
        failed, lost, seconds = error_totals(series)
        errors.border_subtitle = (
            f"{seconds} s: [{palette.bad}]{failed} err[/] · [{palette.panic}]{lost} lost[/]"
        )

    @staticmethod
    def _latency(
        chart: Chart,
        title: str,
        p50: Sequence[float | None],
        p99: Sequence[float | None],
        palette: Palette,
        *,
        empty: str,
    ) -> None:
        chart.border_title = title
        chart.plot(
            [Line("p99", _ms(p99), palette.p99), Line("p50", _ms(p50), palette.p50)],
            floor=LATENCY_FLOOR_MS,
            empty=empty,
            muted=palette.muted,
        )
        chart.border_subtitle = (
            f"[{palette.p50}]p50 {fmt_ms(_last(p50))}[/] [{palette.p99}]p99 {fmt_ms(_last(p99))}[/]"
        )
