"""``lbplay sim``: the live balancer's algorithms at scale, on a simulated clock.

Parses the options (or a scenario file's ``[sim]`` table, which the options then
override), runs ``sim.engine.compare`` behind a progress bar, and prints a table per
algorithm, terminal charts of the latency CDFs and of the queues, or ``--json`` /
``--csv`` for scripts; ``--plot FILE.svg`` (or ``.png`` with matplotlib) draws the
CDFs for slides. Times are in the model's unit: the mean service time, 1 unless
``--service-mean`` says otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lbplay.course.lesson import LessonError, read_toml
from lbplay.errors import ConfigError
from lbplay.export_cli import write_atomically
from lbplay.model.control_args import parse_options
from lbplay.model.numbers import parse_number
from lbplay.sim.config import MAX_REQUESTS, SimConfig, build, table_values
from lbplay.sim.engine import Outcome, compare, total_requests
from lbplay.sim.svg import Series, line_chart
from lbplay.tui.scale_report import (
    cdf_chart,
    describe,
    legend_note,
    queue_chart,
    results_table,
    theory_note,
    warmup_note,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

#: What the JSON and CSV give per algorithm, in order.
FIGURES = (
    "mean",
    "p50",
    "p99",
    "p999",
    "max",
    "mean_queue",
    "max_queue",
    "util_min",
    "util_max",
    "util_sd",
    "failed",
    "rejected",
)
PLOT_SUFFIXES = (".svg", ".png")


class ScenarioFileError(LessonError):
    """A scenario file ``lbplay sim`` cannot read."""


def sim_command(
    scenario: Annotated[
        Path | None,
        typer.Argument(help="A scenario file with a \\[sim] table (options given here win)."),
    ] = None,
    servers: Annotated[int | None, typer.Option(help="Servers, 1-10,000 (default 1,000).")] = None,
    load: Annotated[
        float | None, typer.Option(help="Utilisation: arrivals / total capacity (default 0.9).")
    ] = None,
    service: Annotated[
        str | None,
        typer.Option(
            help="Service times: exp, det, lognormal[:SIGMA], pareto[:ALPHA],"
            " bimodal[:SHARE:FACTOR] (default exp)."
        ),
    ] = None,
    service_mean: Annotated[
        float | None, typer.Option(help="Mean service time: the unit of every time (default 1).")
    ] = None,
    arrivals: Annotated[
        str | None,
        typer.Option(
            help="poisson, mmpp[:FACTOR:SHARE:LENGTH] (bursts), diurnal[:AMPLITUDE:PERIOD]."
        ),
    ] = None,
    algorithm: Annotated[
        str | None, typer.Option("--algorithm", "-a", help="One algorithm to simulate.")
    ] = None,
    compare_: Annotated[
        str | None,
        typer.Option("--compare", help="Algorithms side by side: NAME,NAME,..."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Algorithm option NAME=VALUE, e.g. choices=3."),
    ] = None,
    requests: Annotated[
        str | None, typer.Option(help="Requests per run, e.g. 2e6 (default 1e6).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the first replication.")] = None,
    warmup: Annotated[
        float | None,
        typer.Option(help="Requests discarded first: a share below 1, else a count (0.1)."),
    ] = None,
    replications: Annotated[
        int | None, typer.Option(help="Runs per algorithm (seeds seed, seed+1, ...): 95% CIs.")
    ] = None,
    balancers: Annotated[
        int | None, typer.Option(help="Independent balancers, arrivals split among them.")
    ] = None,
    staleness: Annotated[
        float | None, typer.Option(help="A balancer's view of the servers is this old (0: live).")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Requests a server works on at once (default 1).")
    ] = None,
    discipline: Annotated[
        str | None, typer.Option(help="fifo (a queue) or ps (processor sharing).")
    ] = None,
    speeds: Annotated[
        str | None, typer.Option(help="Speed factors repeated over the fleet, e.g. 1,1,2.")
    ] = None,
    slow: Annotated[float | None, typer.Option(help="s1 takes this many times as long.")] = None,
    fail: Annotated[
        list[str] | None,
        typer.Option("--fail", help="An outage SERVER@START[-END], e.g. 2@100-400 (repeat)."),
    ] = None,
    health_interval: Annotated[
        float | None, typer.Option(help="Health probe interval (default 5).")
    ] = None,
    health_fall: Annotated[
        int | None, typer.Option(help="Failed probes in a row to mark DOWN (3).")
    ] = None,
    health_rise: Annotated[
        int | None, typer.Option(help="Passed probes in a row to mark UP (2).")
    ] = None,
    retries: Annotated[
        int | None, typer.Option(help="Tries on another server after a refusal (0).")
    ] = None,
    queue_limit: Annotated[
        int | None, typer.Option(help="Requests that may wait per server; more are rejected.")
    ] = None,
    keys: Annotated[
        int | None, typer.Option(help="Distinct users, for the algorithms that hash.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (times in mean service times).", metavar="")
    ] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print CSV.", metavar="")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the latency CDFs into FILE.svg or FILE.png.")
    ] = None,
) -> None:
    """Simulate algorithms at scale (thousands of servers) with the live pickers.

    Times are in mean service times unless --service-mean says otherwise."""
    values: dict[str, Any] = {}
    if scenario is not None:
        values.update(scenario_values(scenario))
    given: dict[str, Any] = {
        "servers": servers,
        "load": load,
        "service": service,
        "service_mean": service_mean,
        "arrivals": arrivals,
        "seed": seed,
        "warmup": warmup,
        "replications": replications,
        "balancers": balancers,
        "staleness": staleness,
        "concurrency": concurrency,
        "discipline": discipline,
        "speeds": speeds,
        "slow": slow,
        "retries": retries,
        "queue_limit": queue_limit,
        "keys": keys,
    }
    values.update({k: v for k, v in given.items() if v is not None})
    if algorithm is not None or compare_ is not None:
        values.pop("algorithm", None)
        values.pop("compare", None)
        if algorithm is not None:
            values["algorithm"] = algorithm
        if compare_ is not None:
            values["compare"] = compare_
    if requests is not None:
        values["requests"] = parse_requests(requests)
    if option:
        values["options"] = {**values.get("options", {}), **parse_options(option)}
    if fail:
        values["fail"] = ",".join(fail)
    health = dict(values.get("health", {}))
    for key, value in (
        ("interval", health_interval),
        ("fall", health_fall),
        ("rise", health_rise),
    ):
        if value is not None:
            health[key] = value
    if health:
        values["health"] = health
    if json_out and csv_out:
        raise ConfigError("give --json or --csv, not both")
    if plot is not None:
        check_plot(plot)
    config = build(values)
    outcomes = run_comparison(config, progress=not (json_out or csv_out))
    if plot is not None:
        write_plot(plot, config, outcomes)
    if json_out:
        typer.echo(to_json(config, outcomes))
    elif csv_out:
        typer.echo(to_csv(outcomes), nl=False)
    else:
        report(config, outcomes, out)
    if plot is not None:
        err.print(f"wrote {plot}", markup=False)


def parse_requests(text: str) -> int:
    """``2e6``, ``2000000`` or ``2,000,000`` requests."""
    value = parse_number(text.replace(",", "").replace("_", ""), "number of requests", 1, 1e9)
    if not value.is_integer():
        raise ConfigError(f"bad number of requests {text!r}: use a whole number, e.g. 2e6")
    return min(int(value), MAX_REQUESTS)


def scenario_values(path: Path) -> dict[str, Any]:
    """The ``[sim]`` table of a scenario (or any TOML) file, by option names."""
    try:
        folder = path.is_dir()
    except (OSError, ValueError):
        folder = False  # read_toml says what is wrong with the name
    if folder:
        raise ConfigError(f"{path} is a folder, not a scenario file")
    try:
        _, data = read_toml(path, ScenarioFileError)
    except ValueError:
        raise ConfigError(f"bad file name {str(path)!r}") from None
    if "sim" not in data:
        raise ConfigError(f"{path} has no [sim] table (see 'lbplay sim --help')")
    try:
        return table_values(data["sim"])
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def check_plot(path: Path) -> None:
    """Refuse a plot file lbplay cannot write, before any simulation runs."""
    suffix = path.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise ConfigError(f"bad plot file {str(path)!r}: end it in .svg or .png")
    if suffix == ".png" and not _has_matplotlib():
        raise ConfigError(
            "a .png plot needs matplotlib: pip install 'lbplay[plot]' (or write a .svg)"
        )


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def run_comparison(config: SimConfig, *, progress: bool) -> list[Outcome]:
    """``engine.compare`` behind a progress bar on stderr (requests done, per second)."""
    total = total_requests(config)
    bar = Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not (progress and err.is_terminal),
    )
    with bar:
        task = bar.add_task("sim", total=total, rate="")

        def advance(done: int) -> None:
            bar.advance(task, done)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.0f} requests/s" if speed else "")

        return compare(config, advance)


# -- what it prints -----------------------------------------------------------------------------


def report(config: SimConfig, outcomes: Sequence[Outcome], console: Console) -> None:
    """The table, the charts and what the numbers mean."""
    if not console.is_terminal and console.width < 100:
        # A file or a pipe gets the width the table needs, not the 80 columns Rich
        # assumes without a terminal.
        console = Console(file=console.file, width=100, highlight=False)
    console.print(describe(config), style="dim", soft_wrap=True)
    console.print(results_table(outcomes))
    theory = theory_note(config, outcomes)
    if theory:
        console.print(theory, style="dim")
    width = max(30, min(console.width, 100) - 8)
    console.print()
    console.print(cdf_chart(outcomes, width, 10))
    console.print()
    console.print(queue_chart(outcomes, width, 8))
    warning = warmup_note(config, "Give more --requests or a longer --warmup.")
    if warning:
        console.print(warning, style="yellow")
    console.print(legend_note(config, outcomes), style="dim")


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def rows(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One record per algorithm: every figure, its 95% half-width with replications."""
    found = []
    for outcome in outcomes:
        figures = outcome.figures
        record: dict[str, Any] = {"algorithm": outcome.algorithm}
        for name in FIGURES:
            record[name] = _number(figures[name].value)
        if len(outcome.runs) == 1 and record["max_queue"] is not None:
            record["max_queue"] = int(record["max_queue"])  # a count, with one run
        record["requests"] = sum(run.requests for run in outcome.runs)
        record["replications"] = len(outcome.runs)
        record["requests_per_second"] = _number(outcome.rate)
        if len(outcome.runs) > 1:
            record["ci95"] = {name: _number(figures[name].half_width) for name in FIGURES}
        found.append(record)
    return found


def to_json(config: SimConfig, outcomes: Sequence[Outcome]) -> str:
    """The results as JSON: per algorithm ``algorithm``, ``mean``, ``p50``, ``p99``,
    ``p999``, ``max_queue`` and the rest, times in mean service times."""
    document = {
        "unit": f"time: mean service time = {config.service.mean:g}",
        "config": {
            "servers": config.servers,
            "load": config.load,
            "service": config.service.text(),
            "service_mean": config.service.mean,
            "arrivals": config.arrivals.text(),
            "requests": config.requests,
            "warmup": config.warmup_requests,
            "seed": config.seed,
            "replications": config.replications,
            "balancers": config.balancers,
            "staleness": config.staleness,
            "concurrency": config.concurrency,
            "discipline": config.discipline,
            "options": dict(config.options),
        },
        "results": rows(outcomes),
    }
    return json.dumps(document, indent=2)


def to_csv(outcomes: Sequence[Outcome]) -> str:
    """One CSV line per algorithm (with ``_ci95`` columns when replicated)."""
    records = rows(outcomes)
    replicated = any("ci95" in r for r in records)
    columns = ["algorithm", *FIGURES, "requests", "replications", "requests_per_second"]
    if replicated:
        columns += [f"{name}_ci95" for name in FIGURES]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        line = [record[c] for c in columns if not c.endswith("_ci95")]
        if replicated:
            line += [record.get("ci95", {}).get(name) for name in FIGURES]
        writer.writerow(["" if v is None else v for v in line])
    return buffer.getvalue()


# -- plots for slides ---------------------------------------------------------------------------


def _title(config: SimConfig) -> tuple[str, str]:
    title = f"Latency at {config.servers:,} servers, load {config.load:g}"
    subtitle = (
        f"service {config.service.text()}, {config.arrivals.text()} arrivals,"
        f" {config.requests:,} requests, seed {config.seed} (lbplay sim)"
    )
    return title, subtitle


def write_plot(path: Path, config: SimConfig, outcomes: Sequence[Outcome]) -> None:
    """The latency CDFs into ``path`` (.svg by lbplay itself, .png by matplotlib)."""
    top = max((o.latency.quantile(0.999) for o in outcomes), default=1.0)
    curves = [Series(o.algorithm, o.latency.cdf(400, top)) for o in outcomes]
    title, subtitle = _title(config)
    x_label = "time in system (mean service times)"
    if path.suffix.lower() == ".svg":
        text = line_chart(
            curves,
            title=title,
            subtitle=subtitle,
            x_label=x_label,
            y_label="share of requests done",
            x_max=top,
        )
        write_atomically(path, text)
        return
    _write_png(path, curves, title, subtitle, x_label, top)


def _write_png(
    path: Path, curves: Sequence[Series], title: str, subtitle: str, x_label: str, top: float
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lbplay.sim.svg import COLORS

    figure, axes = plt.subplots(figsize=(8, 4.6), dpi=150)
    for number, curve in enumerate(curves):
        xs = [x for x, _ in curve.points]
        ys = [y for _, y in curve.points]
        axes.plot(xs, ys, label=curve.label, color=COLORS[number % len(COLORS)], linewidth=2)
    axes.set_xlim(0, top)
    axes.set_ylim(0, 1)
    axes.set_xlabel(x_label)
    axes.set_ylabel("share of requests done")
    axes.set_title(f"{title}\n{subtitle}", fontsize=10)
    axes.grid(color="#e4e4e4")
    axes.legend(loc="lower right")
    figure.tight_layout()
    png = io.BytesIO()  # (drawn first, then written whole: never half a file)
    try:
        figure.savefig(png, format="png")
    finally:
        plt.close(figure)
    write_atomically(path, png.getvalue())
