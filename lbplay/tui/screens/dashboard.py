"""The main screen: the fleet, the requests, the charts and the events of a live Lab.

Rendering: a timer reads ``Lab.snapshot()`` a few times a second and hands each
widget what it shows (attributes down); widgets redraw only what changed. Nothing
is sent per request: at 500 requests per second the UI does the same work as at 5.

Controls: every key is an action here. Each names the backend selected *now* and
reads the Lab's state when it runs; quick calls run at once, awaited ones (kill,
add, reset...) in a worker, and calls made meanwhile queue behind them in order —
two quick presses of ``k`` kill then revive, never kill twice (see ``control``).
The Lab announces what it did and what to watch for (``ControlAction``); the
timeline shows it, and a toast repeats it when the timeline is hidden. A
``LbplayError`` from the Lab is a notification, never a crash.

Layout: header, fleet, then feed | charts over the timeline. Below 100 columns or
30 lines the screen is compact: one lower panel at a time, ``v`` switches. In a
big terminal ``v`` shows one panel large (for projectors).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from textual import on
from textual.app import ComposeResult
from textual.containers import Container
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static

from lbplay.core.events import ConnectionCompleted, RequestCompleted
from lbplay.errors import LbplayError
from lbplay.net.lab import BackendView, Lab, LabSnapshot
from lbplay.tui import bindings
from lbplay.tui.controls import (
    BURST,
    ERROR_STEPS,
    HEALTH_CHOICES,
    SLOW_STEPS,
    next_step,
    rate_step,
)
from lbplay.tui.eventlog import EventLog
from lbplay.tui.model import (
    FeedRow,
    LatencyHistory,
    explain,
    feed_row,
    fleet_rows,
    is_outside,
    session_mode,
    traffic_metrics,
)
from lbplay.tui.palette import Palette
from lbplay.tui.screens.algorithm import AlgorithmChooser
from lbplay.tui.screens.explain import ExplainScreen
from lbplay.tui.screens.health import HealthChooser
from lbplay.tui.screens.sessions import SessionChooser
from lbplay.tui.widgets.charts_panel import ChartsPanel
from lbplay.tui.widgets.fleet_table import FleetTable
from lbplay.tui.widgets.header_bar import HeaderBar
from lbplay.tui.widgets.request_feed import Finished, RequestFeed
from lbplay.tui.widgets.timeline import EventTimeline

View = Literal["all", "feed", "charts", "timeline"]
PANELS: tuple[View, ...] = ("feed", "charts", "timeline")
#: Below either, the screen is compact (one lower panel at a time).
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30
#: From this height the timeline gets more lines.
TALL_HEIGHT = 45
#: How long the learner's own request stays pinned on top of the feed.
PIN_SECONDS = 30.0
#: The learner's requests pinned at most.
PIN_MAX = 3

SnapshotSource = Callable[[], LabSnapshot]
#: A Lab call: given the Lab and the selected backend's fresh view, do one thing.
BackendOperation = Callable[[Lab, BackendView], Awaitable[Any] | Any]


class DashboardScreen(Screen[None]):
    """The live dashboard over one Lab."""

    BINDINGS = bindings.DASHBOARD
    AUTO_FOCUS = "#fleet"

    #: Which lower panel is shown alone ("all": every panel, wide screens only).
    view: reactive[View] = reactive("all", init=False)

    def __init__(
        self,
        lab: Lab,
        event_log: EventLog,
        *,
        source: SnapshotSource,
        started: float,
        refresh_hz: float = 5.0,
    ) -> None:
        super().__init__()
        self.lab = lab
        self.event_log = event_log
        self.source = source
        self.started = started
        self.refresh_hz = refresh_hz
        self.history = LatencyHistory()
        self.snapshot: LabSnapshot | None = None
        #: The backend the keys act on (the fleet table's cursor).
        self.selected: str | None = None
        self.compact = False
        self.frames = 0
        self._lock = asyncio.Lock()
        #: Awaited Lab calls in progress or queued (see ``control``).
        self._busy = 0

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield FleetTable(id="fleet")
        yield Static("", id="view-tabs")
        with Container(id="lower"):
            yield ChartsPanel(id="charts", classes="panel")
            yield RequestFeed(id="feed", classes="panel")
            yield EventTimeline(id="timeline", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        self.header = self.query_one(HeaderBar)
        self.fleet = self.query_one(FleetTable)
        self.fleet.border_title = "Fleet"
        self.feed = self.query_one(RequestFeed)
        self.charts = self.query_one(ChartsPanel)
        self.timeline = self.query_one(EventTimeline)
        self.lower = self.query_one("#lower", Container)
        self.tabs = self.query_one("#view-tabs", Static)
        self._apply_view()
        self.refresh_now()
        self.set_interval(1 / self.refresh_hz, self.refresh_now, name="dashboard refresh")
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def on_resize(self, event: Resize) -> None:
        width, height = event.size
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        self.set_class(height >= TALL_HEIGHT, "-tall")
        self.set_class(compact, "-compact")
        self.query_one(Footer).compact = compact
        if compact != self.compact:
            self.compact = compact
            if compact and self.view == "all":
                self.view = "feed"
            elif not compact and self.view != "all":
                self.view = "all"
        self._apply_view()

    def watch_view(self) -> None:
        self._apply_view()
        self.refresh_now()

    def _apply_view(self) -> None:
        if not hasattr(self, "lower"):
            return
        only = self.view != "all"
        self.lower.set_class(only, "-only")
        for panel in PANELS:
            self.query_one(f"#{panel}").set_class(panel == self.view, "-current")
        self.tabs.display = only
        if only:
            names = {"feed": "requests", "charts": "charts", "timeline": "events"}
            tabs = "  ".join(
                f"[reverse b] {names[p]} [/]" if p == self.view else f" {names[p]} " for p in PANELS
            )
            self.tabs.update(f"{tabs}   [dim]v: next panel[/]")

    def panel_visible(self, panel: View) -> bool:
        return self.view in ("all", panel)

    # -- palette -----------------------------------------------------------------------

    @property
    def palette(self) -> Palette:
        """Colours of the current theme.

        Built afresh each time (a few dict lookups): the theme's variables change a
        moment after ``App.theme`` does, so caching by theme name could keep the old
        colours. Widgets compare palettes by value and redraw when they differ.
        """
        return Palette.from_theme(self.app.theme_variables, dark=self.app.current_theme.dark)

    def _theme_changed(self) -> None:
        self.call_after_refresh(self.refresh_now)

    # -- rendering ---------------------------------------------------------------------

    def refresh_now(self) -> None:
        """Read one snapshot and hand every widget its part."""
        try:
            snap = self.source()
        except LbplayError:  # the lab is not running (starting up or shutting down)
            return
        self.snapshot = snap
        self.frames += 1
        palette = self.palette
        metrics = traffic_metrics(snap)
        self.event_log.flush()
        self.history.update(metrics)
        self.header.show(snap)
        self.fleet.show(fleet_rows(snap), palette)
        self.selected = self.fleet.selected
        if self.panel_visible("feed"):
            self._show_feed(snap, palette)
        if self.panel_visible("charts"):
            self.charts.show(
                metrics,
                names=[b.name for b in snap.backends],
                selected=self.selected,
                history=self.history,
                palette=palette,
                mode=snap.mode,
            )
        if self.panel_visible("timeline"):
            self.timeline.show(
                self.event_log.entries,
                version=self.event_log.version,
                started=self.started,
                palette=palette,
                empty=(
                    "Nothing has happened yet. Select a backend and press k to kill it:"
                    " the health checker needs a few failed checks before it notices."
                ),
            )

    def _show_feed(self, snap: LabSnapshot, palette: Palette) -> None:
        limit = max(self.feed.size.height - 1, 3)  # one line for the column labels
        pinned: list[RequestCompleted] = [
            e
            for e in self.event_log.outside
            if snap.at - e.at < PIN_SECONDS and is_outside(e.client, snap)
        ][-PIN_MAX:]
        chosen: list[Finished] = []
        rows: list[FeedRow] = []
        seen: set[int] = set()
        for event in [*reversed(pinned), *reversed(snap.recent)]:
            if event.seq in seen or not isinstance(event, RequestCompleted | ConnectionCompleted):
                continue
            row = feed_row(event, snap)
            if row is None:
                continue
            seen.add(event.seq)
            rows.append(row)
            chosen.append(event)
            if len(rows) >= limit:
                break
        url = snap.proxy_url
        if snap.paused:
            empty = f"Traffic is paused. Press p to resume, b for a burst — or curl {url}/hello"
        elif snap.rate == 0:
            empty = f"No traffic. Press ] for some, b for a burst of {BURST} — or curl {url}/hello"
        elif snap.mode == "l4":
            empty = "L4: one line per TCP connection, when it closes (keep-alive ones stay open)"
        else:
            empty = "Waiting for the first requests…"
        self.feed.show(rows, {e.seq: e for e in chosen}, palette, empty=empty)

    # -- messages up -------------------------------------------------------------------

    @on(FleetTable.BackendSelected)
    def _backend_selected(self, message: FleetTable.BackendSelected) -> None:
        self.backend_selected(message.name)

    def backend_selected(self, name: str | None) -> None:
        """Show ``name``'s latency chart (the selection moved)."""
        if name == self.selected:
            return
        self.selected = name
        if self.snapshot is not None and self.panel_visible("charts"):
            self.charts.show(
                traffic_metrics(self.snapshot),
                names=[b.name for b in self.snapshot.backends],
                selected=self.selected,
                history=self.history,
                palette=self.palette,
                mode=self.snapshot.mode,
            )

    @on(RequestFeed.RequestChosen)
    def _request_chosen(self, message: RequestFeed.RequestChosen) -> None:
        snap = self.snapshot
        mode = session_mode(snap) if snap else "none"
        algorithm = snap.algorithm if snap else ""
        self.app.push_screen(ExplainScreen(explain(message.event, mode, algorithm), self.palette))

    @on(RequestFeed.Released)
    def _feed_released(self) -> None:
        self.fleet.focus()

    # -- running Lab calls -------------------------------------------------------------

    def control(
        self, operation: Callable[[], Awaitable[Any] | Any], *, locked: bool = True
    ) -> None:
        """Run one Lab call; a ``LbplayError`` becomes a notification.

        Fast path: when no other call is in progress, ``operation`` runs now, in the
        key's own handler, and the screen is redrawn at once — under load every hop
        through the event loop costs milliseconds. A call that returns an awaitable
        (kill, add, burst...) is awaited in a worker. While an awaited call is in
        progress, later calls queue behind it (in order, each reading fresh state).
        """
        if locked and self._busy:
            self._busy += 1
            self.run_worker(self._queued(operation), group="lab", exit_on_error=False)
            return
        before = self.event_log.added
        try:
            result = operation()
        except Exception as error:
            self._report(error)
            result = None
        if inspect.isawaitable(result):
            if locked:
                self._busy += 1
            self.run_worker(
                self._finish(result, before, locked=locked), group="lab", exit_on_error=False
            )
            return
        self._done(before)

    async def _queued(self, operation: Callable[[], Awaitable[Any] | Any]) -> None:
        before = self.event_log.added
        try:
            async with self._lock:
                await _call(operation)
        except Exception as error:
            self._report(error)
        finally:
            self._busy -= 1
        self._done(before)

    async def _finish(self, result: Awaitable[Any], before: int, *, locked: bool) -> None:
        try:
            if locked:
                async with self._lock:
                    await result
            else:
                await result
        except Exception as error:
            self._report(error)
        finally:
            if locked:
                self._busy -= 1
        self._done(before)

    def _report(self, error: Exception) -> None:
        if isinstance(error, LbplayError):
            self.notify(str(error), title="Not possible", severity="error")
        else:  # a bug in the Lab must not end the learner's session
            self.app.log.error("lab call failed", error)
            self.notify(f"unexpected error: {error!r}", title="lbplay bug", severity="error")

    def _done(self, before: int) -> None:
        self.refresh_now()
        self._echo(self.event_log.added - before)

    def _echo(self, new: int) -> None:
        """Toast what the Lab just announced when the timeline is not on screen."""
        if new <= 0 or self.panel_visible("timeline"):
            return
        for entry in list(self.event_log.entries)[-new:]:
            if entry.kind == "control":
                message = entry.text + (f"\nWatch: {entry.watch}" if entry.watch else "")
                self.notify(message, timeout=5)

    def on_selected(self, operation: BackendOperation) -> None:
        """Run ``operation`` on the backend selected now, with its state read fresh
        when the call runs (not when the key was pressed, if calls are queued)."""
        name = self.fleet.current
        if name is None:
            self.notify("No backend selected: add one with n.", severity="warning")
            return

        def run() -> Awaitable[Any] | Any:
            view = next((b for b in self.lab.snapshot().backends if b.name == name), None)
            if view is None:
                self.notify(f"{name} is not in the fleet any more.", severity="warning")
                return None
            return operation(self.lab, view)

        self.control(run)

    # -- actions: selection ------------------------------------------------------------

    def action_select_number(self, number: int) -> None:
        names = [b.name for b in self.snapshot.backends] if self.snapshot else []
        if number > len(names):
            self.notify(f"There is no backend {number}: the fleet has {len(names)}.")
            return
        self.fleet.select_index(number - 1)
        # Straight away, not when the fleet's message arrives: under load every hop
        # through the event loop is a visible delay.
        self.backend_selected(self.fleet.current)

    def action_select_offset(self, offset: int) -> None:
        self.fleet.select_index(self.fleet.cursor_row + offset)
        self.backend_selected(self.fleet.current)

    # -- actions: break things ---------------------------------------------------------

    def action_kill(self) -> None:
        self.on_selected(
            lambda lab, view: (
                lab.revive(view.name) if view.process == "killed" else lab.kill(view.name)
            )
        )

    def action_slow(self) -> None:
        self.on_selected(
            lambda lab, view: lab.set_slow(view.name, next_step(SLOW_STEPS, view.slow_ms))
        )

    def action_errors(self) -> None:
        self.on_selected(
            lambda lab, view: lab.set_error_rate(view.name, next_step(ERROR_STEPS, view.error_rate))
        )

    def action_brownout(self) -> None:
        self.on_selected(lambda lab, view: lab.set_brownout(view.name, not view.brownout))

    def action_weight(self, delta: int) -> None:
        self.on_selected(lambda lab, view: lab.set_weight(view.name, view.weight + delta))

    def action_drain(self) -> None:
        self.on_selected(
            lambda lab, view: (
                lab.drain(view.name) if view.admin == "active" else lab.enable(view.name)
            )
        )

    def action_add_backend(self) -> None:
        async def add() -> None:
            name = await self.lab.add_backend()
            self.refresh_now()
            self.fleet.select(name)

        self.control(add)

    def action_remove_backend(self) -> None:
        self.on_selected(lambda lab, view: lab.remove_backend(view.name))

    # -- actions: the balancer ---------------------------------------------------------

    def action_choose_algorithm(self) -> None:
        current = self.lab.snapshot().algorithm

        def chosen(name: str | None) -> None:
            if name and name != current:
                self.control(lambda: self.lab.set_algorithm(name))

        self.app.push_screen(AlgorithmChooser(current), chosen)

    def action_choose_sessions(self) -> None:
        current = session_mode(self.lab.snapshot())

        def chosen(mode: str | None) -> None:
            if mode and mode != current:
                self.apply_session_mode(mode)

        self.app.push_screen(SessionChooser(current), chosen)

    def apply_session_mode(self, mode: str) -> None:
        """Ask the Lab for a session mode, if it has them yet."""
        setter = getattr(self.lab, "set_session_mode", None)
        if setter is None:
            self.notify("Session modes arrive with the sessions issue.", severity="warning")
            return
        self.control(lambda: setter(mode))

    def action_toggle_mode(self) -> None:
        async def toggle() -> None:
            await self.lab.set_mode("l4" if self.lab.mode == "l7" else "l7")

        self.control(toggle)

    def action_choose_health(self) -> None:
        snap = self.lab.snapshot()
        current = snap.health.split(":", 1)[0] if snap.health != "off" else "off"

        def chosen(label: str | None) -> None:
            if label and label != current:
                self.apply_health(label)

        self.app.push_screen(HealthChooser(current), chosen)

    def apply_health(self, label: str) -> None:
        """Use the health-check choice called ``label`` (see ``HEALTH_CHOICES``)."""
        choice = next(c for c in HEALTH_CHOICES if c.label == label)
        if choice.preset:
            self.control(lambda: self.lab.set_health_preset(choice.preset, choice.scale))
        else:
            self.control(lambda: self.lab.set_health_checks(False))

    # -- actions: traffic --------------------------------------------------------------

    def action_rate(self, direction: int) -> None:
        self.control(lambda: self.lab.set_rate(rate_step(self.lab.snapshot().rate, direction)))

    def action_pause(self) -> None:
        self.control(lambda: self.lab.resume() if self.lab.snapshot().paused else self.lab.pause())

    def action_burst(self) -> None:
        # Not under the lock: a burst takes a while and other keys must keep working.
        self.control(lambda: self.lab.burst(BURST), locked=False)

    def action_reset(self) -> None:
        self.control(self.lab.reset)

    # -- actions: view -----------------------------------------------------------------

    def action_hold_feed(self) -> None:
        if not self.panel_visible("feed"):
            self.view = "feed"
        self.feed.table.focus()

    def action_next_view(self) -> None:
        if self.compact:
            order: tuple[View, ...] = PANELS
            current: View = self.view if self.view != "all" else "feed"
        else:
            order = ("all", *PANELS)
            current = self.view
        self.view = order[(order.index(current) + 1) % len(order)]

    def action_toggle_theme(self) -> None:
        self.app.theme = "textual-light" if self.app.current_theme.dark else "textual-dark"


async def _call(operation: Callable[[], Awaitable[Any] | Any]) -> Any:
    """Call ``operation`` and await its result if it is awaitable (Lab methods are
    a mix of plain and async)."""
    result = operation()
    if inspect.isawaitable(result):
        result = await result
    return result
