"""What a simulation at scale looks like in a terminal: the results table, the notes
that say what the numbers mean, and braille charts of the latency CDFs and the queue
tails. Plain Rich (no Textual), shared by ``lbplay sim`` and the dashboard's "at
scale" screen, so both show the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text

from lbplay.sim.config import SimConfig
from lbplay.sim.engine import Outcome, arrival_rate, relaxation_time
from lbplay.sim.stats import queue_tail
from lbplay.sim.theory import expected_mean
from lbplay.tui.palette import SERIES_DARK
from lbplay.tui.plot import line_cells


def _show(value: float, digits: int = 3) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}" if abs(value) < 10**digits else f"{value:,.0f}"


def _cell(outcome: Outcome, name: str, digits: int = 3) -> str:
    estimate = outcome.figures[name]
    text = _show(estimate.value, digits)
    if math.isfinite(estimate.half_width):
        text += f" ±{_show(estimate.half_width, 2)}"
    return text


def _share(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    percent = value * 100
    return "0" if value == 0 else f"{percent:.2f}%" if percent >= 0.01 else f"{percent:.1g}%"


def describe(config: SimConfig) -> str:
    """One line: what was simulated."""
    warm = config.warmup_requests
    parts = [
        f"{config.servers:,} servers",
        f"load {config.load:g}",
        f"service {config.service.text()} (mean {config.service.mean:g})",
        f"{config.arrivals.text()} arrivals",
        f"{config.requests:,} requests ({warm:,} warm-up)",
        f"seed {config.seed}",
    ]
    if config.replications > 1:
        parts.append(f"{config.replications} replications")
    if config.balancers > 1 or config.staleness:
        parts.append(f"{config.balancers} balancer(s), views {config.staleness:g} old")
    if config.discipline == "ps" or config.concurrency != 1:
        parts.append(f"{config.discipline}, concurrency {config.concurrency}")
    if config.slow != 1:
        parts.append(f"s1 {config.slow:g}x slower")
    if config.outages:
        parts.append("outages " + ",".join(o.text() for o in config.outages))
    return " · ".join(parts)


def results_table(outcomes: Sequence[Outcome]) -> Table:
    """One row per algorithm: latency, queues, utilisation spread, rejected, failed."""
    table = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD, collapse_padding=True)
    table.add_column("algorithm", style="bold", no_wrap=True)
    for column in ("mean", "p50", "p99", "p99.9", "queue\nmean", "queue\nmax"):
        table.add_column(column, justify="right")
    table.add_column("util\nmin–max", justify="right", no_wrap=True)
    table.add_column("rejected", justify="right")
    table.add_column("failed", justify="right")
    for outcome in outcomes:
        f = outcome.figures
        table.add_row(
            outcome.algorithm,
            _cell(outcome, "mean"),
            _cell(outcome, "p50"),
            _cell(outcome, "p99"),
            _cell(outcome, "p999"),
            _cell(outcome, "mean_queue"),
            _cell(outcome, "max_queue"),
            f"{f['util_min'].value:.2f}–{f['util_max'].value:.2f}",
            _share(f["rejected"].value),
            _share(f["failed"].value),
        )
    return table


def theory_note(config: SimConfig, outcomes: Sequence[Outcome]) -> str:
    """Theory's mean for the algorithms that have a formula here ("" for none)."""
    theory = [(o.algorithm, expected_mean(config, o.algorithm)) for o in outcomes]
    known = [f"{name} {mean:.3g}" for name, mean in theory if mean is not None]
    if not known:
        return ""
    return (
        "Theory for the mean as n → ∞ (random: M/M/1; d choices: Mitzenmacher's"
        f" T_d): {', '.join(known)}."
    )


def warmup_note(config: SimConfig, more: str) -> str:
    """A warning when the fleet is overloaded, or when the warm-up is shorter than a
    random queue's relaxation time ("" when all is well); ``more`` says how to
    lengthen the warm-up."""
    if config.load >= 1:
        return (
            f"Note: at load {config.load:g} the fleet is sent more work than it can do:"
            " queues grow for as long as the run lasts, so these figures grow with the"
            " number of requests; none of them is a steady state."
        )
    warm = config.warmup_requests / arrival_rate(config)
    settle = relaxation_time(config.load) * config.service.mean
    if warm >= settle:
        return ""
    return (
        f"Note: the warm-up covers {warm:,.0f} time units; at load {config.load:g} a"
        f" queue fed at random takes about {settle:,.0f} to forget that it started"
        f" empty, so load-blind algorithms read low. {more}"
    )


def legend_note(config: SimConfig, outcomes: Sequence[Outcome]) -> str:
    """What the table's words mean, and how fast it ran."""
    rates = ", ".join(f"{o.algorithm} {o.rate:,.0f}" for o in outcomes)
    return (
        "Times in mean service times. queue: requests at the server an arrival joined,"
        " itself included. util: each server's busy share of the measured time (lowest"
        " and highest server)."
        + (" ±: 95% interval over the replications." if config.replications > 1 else "")
        + f" Simulated requests per second: {rates}."
    )


def _legend(outcomes: Sequence[Outcome]) -> Text:
    legend = Text("  ")
    for number, outcome in enumerate(outcomes):
        legend.append("━━ ", style=SERIES_DARK[number % len(SERIES_DARK)])
        legend.append(f"{outcome.algorithm}  ")
    return legend


def _chart(
    series: Sequence[Sequence[float | None]],
    width: int,
    height: int,
    top: float,
    gutter: Sequence[str],
) -> Text:
    cells = line_cells(series, width, height, top)
    text = Text()
    for row, line in enumerate(cells):
        text.append(f"{gutter[row] if row < len(gutter) else '':>6} ┤", style="dim")
        for char, who, _ in line:
            text.append(char, style=SERIES_DARK[who % len(SERIES_DARK)] if who >= 0 else "")
        text.append("\n")
    return text


def cdf_chart(outcomes: Sequence[Outcome], width: int, height: int) -> Text:
    """Each algorithm's latency CDF, 0 to the largest p99.9, as braille lines."""
    top = max((o.latency.quantile(0.999) for o in outcomes), default=1.0)
    top = top if math.isfinite(top) and top > 0 else 1.0
    series = [[share for _, share in o.latency.cdf(width * 2, top)] for o in outcomes]
    gutter = ["100%"] + [""] * (height - 2) + ["0%"]
    text = Text("Latency CDF: share of requests done within x\n", style="bold")
    text.append(_chart(series, width, height, 1.0, gutter))
    text.append(f"{'':>6} └{'─' * width}\n", style="dim")
    text.append(f"{'':>8}0{f'{top:.3g} mean service times':>{width - 1}}\n", style="dim")
    text.append(_legend(outcomes))
    return text


#: The queue chart's log scale goes down to 10^-FLOOR.
FLOOR = 6


def queue_chart(outcomes: Sequence[Outcome], width: int, height: int) -> Text:
    """Share of arrivals that found at least k requests at their server, log scale:
    geometric for random, a cliff for two choices (Mitzenmacher's s_k)."""
    tails = [queue_tail(o.queue) for o in outcomes]
    longest = max((len(t) for t in tails), default=1)
    top_k = max(2, min(longest, 60))
    series: list[list[float | None]] = []
    for tail in tails:
        points: list[float | None] = []
        for k in range(1, top_k + 1):
            share = tail[k] if k < len(tail) else 0.0
            points.append(max(0.0, FLOOR + math.log10(share)) if share > 0 else None)
        series.append(points)
    gutter = ["1"] + [""] * (height - 2) + [f"1e-{FLOOR}"]
    text = Text(
        "Queues: share of arrivals that found at least k requests (log scale)\n", style="bold"
    )
    text.append(_chart(series, width, height, float(FLOOR), gutter))
    text.append(f"{'':>6} └{'─' * width}\n", style="dim")
    text.append(f"{'':>8}k=1{f'k={top_k}':>{width - 3}}\n", style="dim")
    text.append(_legend(outcomes))
    return text
