"""The dashboard's algorithm at scale: the same picker over 1,000 simulated servers.

``z`` (or "at scale" in the palette) opens this screen: the Lab's current algorithm,
with its options, against random, round robin, least connections and two choices, at
load 0.9 on a simulated clock (``lbplay.sim``). The simulation runs on a worker
thread, so the dashboard behind keeps drawing and this screen shows how far it got;
Esc closes it and stops the run between two chunks of requests.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import get_current_worker

from lbplay.sim.config import SimConfig
from lbplay.sim.engine import Outcome, compare, simulate, total_requests
from lbplay.tui.palette import Palette
from lbplay.tui.scale_report import (
    cdf_chart,
    describe,
    legend_note,
    results_table,
    theory_note,
    warmup_note,
)

#: What the current algorithm is compared with.
BASELINES = ("random", "round_robin", "least_connections", "power_of_two_choices")
SERVERS = 1000
LOAD = 0.9
#: Requests per algorithm, unless the slowest would take longer than SECONDS.
REQUESTS = 400_000
SECONDS = 6.0
PROBE = 4_000


def plan(algorithm: str, options: dict[str, Any]) -> SimConfig:
    """The comparison for ``algorithm``: it first, then the baselines; as many requests
    as the current algorithm simulates in a few seconds (rendezvous, which scans every
    server on each pick, gets far fewer), at most ``REQUESTS``."""
    names = (algorithm, *(name for name in BASELINES if name != algorithm))
    config = SimConfig(
        servers=SERVERS,
        load=LOAD,
        algorithms=names,
        options=options,
        requests=REQUESTS,
        warmup=0.5,
    )
    probe = simulate(config.with_(requests=PROBE, warmup=0), algorithm)
    rate = probe.simulated / probe.wall if probe.wall > 0 else float(REQUESTS)
    requests = int(min(REQUESTS, max(PROBE * 5, rate * SECONDS)))
    return config.with_(requests=requests)


class _Stopped(Exception):
    """The screen closed while the simulation ran."""


class ScaleScreen(ModalScreen[None]):
    """The current algorithm at scale; Esc closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,z", "close", "close", id="scale.close")
    ]

    def __init__(self, algorithm: str, options: dict[str, Any], palette: Palette) -> None:
        super().__init__(classes="explain")
        self.algorithm = algorithm
        self.options = dict(options)
        self.palette = palette
        self.done = 0
        self.total = 0
        self.outcomes: list[Outcome] | None = None
        self.config: SimConfig | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="scale-box") as box:
            box.border_title = f"{self.algorithm} at scale: {SERVERS:,} servers, load {LOAD:g}"
            box.border_subtitle = "Esc closes"
            yield Static(
                Text(
                    f"The very picker this Lab runs, {self.algorithm}, over {SERVERS:,}"
                    f" simulated servers at {LOAD:.0%} load, beside"
                    f" {', '.join(b for b in BASELINES if b != self.algorithm)}."
                    " Every algorithm meets the same requests (Poisson arrivals,"
                    " exponential service); times are in mean service times."
                    " `lbplay sim` does more from the command line.",
                    self.palette.muted,
                ),
                id="scale-intro",
            )
            yield Static("simulating…", id="scale-body")

    def on_mount(self) -> None:
        self.set_interval(0.25, self._show_progress)
        self.simulate()

    @work(thread=True, exclusive=True)
    def simulate(self) -> None:
        worker = get_current_worker()
        config = plan(self.algorithm, self.options)
        self.config = config
        self.total = total_requests(config)

        def advance(count: int) -> None:
            if worker.is_cancelled:
                raise _Stopped
            self.done += count

        try:
            outcomes = compare(config, advance)
        except _Stopped:
            return
        self.app.call_from_thread(self._show_results, outcomes)

    def _show_progress(self) -> None:
        if self.outcomes is not None or not self.total:
            return
        share = self.done / self.total
        bar = "█" * int(share * 40) + "░" * (40 - int(share * 40))
        self.query_one("#scale-body", Static).update(
            Text(f"simulating {bar} {self.done:,} of {self.total:,} requests")
        )

    def _show_results(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes
        config = self.config
        assert config is not None
        parts: list[Any] = [Text(describe(config), self.palette.muted), results_table(outcomes)]
        for note, style in (
            (theory_note(config, outcomes), self.palette.muted),
            (warmup_note(config, "lbplay sim --requests 2e6 gives it time."), self.palette.warn),
        ):
            if note:
                parts.append(Text(note, style))
        parts.append(Text())
        parts.append(cdf_chart(outcomes, 80, 8))
        parts.append(Text(legend_note(config, outcomes), self.palette.muted))
        self.query_one("#scale-body", Static).update(Group(*parts))

    def action_close(self) -> None:
        self.workers.cancel_all()
        self.dismiss(None)
