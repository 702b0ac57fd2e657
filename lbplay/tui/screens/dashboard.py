"""The main screen: the fleet, the requests, the charts and the events of a live Lab.

Rendering: a timer reads ``Lab.snapshot()`` a few times a second and hands each
widget what it shows (attributes down); widgets redraw only what changed. Nothing
is sent per request: at 500 requests per second the UI does the same work as at 5.

Controls: every key is an action that builds one control (``model.controls``) for
the backend selected *now*, from the Lab's state when it runs, and awaits
``Lab.apply`` in the key's own handler — so keys act in order (two quick presses of
``k`` kill then revive, never kill twice). Only a burst runs in a worker, because it
waits for its requests. The Lab announces what it did and what to watch for
(``ControlAction``); the timeline shows it, and a toast repeats it when the timeline
is hidden. Keys that cycle (``s``, ``e``, ``]``, ``[``) restate that line with where
they went and where they go next (``s1 slow: 100 → 500 ms added (s again: 2000
ms)``). A ``LbplayError`` from the Lab is a notification, never a crash.

Layout: header, fleet, then feed | charts over the timeline. Below 100 columns or
30 lines the screen is compact: one lower panel at a time, ``v`` switches. In a
big terminal ``v`` shows one panel large (for projectors).

Lessons (``lbplay learn``): the lesson pane (``widgets.lesson_pane``) sits beside the
dashboard from 110 columns, leaving the rest compact; in a smaller terminal it takes
the lower panels' place and ``v`` goes lesson → requests → charts → events. Each
redraw judges the current step against the Lab (``tui.learning``), so a step turns
green within a redraw of what proves it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.containers import Container
from textual.events import Resize
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static

from lbplay.course.scenario import ScenarioPlayer
from lbplay.errors import LbplayError
from lbplay.model.controls import (
    Add,
    Algorithm,
    Brownout,
    Burst,
    Control,
    Drain,
    Enable,
    Errors,
    Kill,
    Mode,
    Pause,
    Rate,
    Remove,
    Reset,
    Resume,
    Revive,
    Sessions,
    Slow,
    Weight,
)
from lbplay.model.narration import WELCOME_EMPTY_TIMELINE
from lbplay.model.snapshot import BackendView, LabSnapshot
from lbplay.net.lab import Lab
from lbplay.tui import bindings
from lbplay.tui.controls import (
    BURST,
    ERROR_STEPS,
    SLOW_STEPS,
    errors_change,
    health_choice,
    next_step,
    rate_at_end,
    rate_change,
    rate_step,
    slow_change,
)
from lbplay.tui.eventlog import EventLog
from lbplay.tui.learning import Learning
from lbplay.tui.model import (
    LatencyHistory,
    TrafficWatch,
    explain,
    feed_rows,
    fleet_rows,
    traffic_metrics,
)
from lbplay.tui.palette import Palette
from lbplay.tui.screens.algorithm import AlgorithmChooser
from lbplay.tui.screens.explain import ExplainScreen, explanation_brief
from lbplay.tui.screens.health import HealthChooser
from lbplay.tui.screens.lessons import LessonChooser
from lbplay.tui.screens.sessions import SessionChooser
from lbplay.tui.themes import HIGH_CONTRAST, next_theme
from lbplay.tui.widgets.charts_panel import ChartsPanel
from lbplay.tui.widgets.demo_banner import DemoBanner
from lbplay.tui.widgets.fleet_table import BANDWIDTH_ALGORITHMS, FleetTable
from lbplay.tui.widgets.header_bar import HeaderBar
from lbplay.tui.widgets.lesson_pane import AnswerBox, LessonPane
from lbplay.tui.widgets.request_feed import RequestFeed
from lbplay.tui.widgets.timeline import EventTimeline

View = Literal["all", "lesson", "feed", "charts", "timeline"]
PANELS: tuple[View, ...] = ("feed", "charts", "timeline")
#: Below either, the screen is compact (one lower panel at a time).
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30
#: From this width the lesson pane sits beside the dashboard (below it, it takes the
#: lower panels' place); its width there, and in a tall terminal.
LESSON_SIDE_WIDTH = 110
LESSON_WIDTH, LESSON_WIDTH_TALL = 46, 52
#: What the panel tabs call each view.
VIEW_NAMES = {"lesson": "lesson", "feed": "requests", "charts": "charts", "timeline": "events"}
#: The actions of the lesson keys: they do nothing without a lesson.
LESSON_ACTIONS = frozenset(
    {"lesson_next", "lesson_back", "lesson_hint", "lesson_solution", "lesson_restart",
     "lesson_menu", "lesson_scroll"}
)  # fmt: skip
#: The actions of the scenario keys: they do nothing without a scenario.
DEMO_ACTIONS = frozenset({"demo_pause", "demo_step"})
#: How often a scenario's clock and expectations are looked at.
DEMO_HZ = 10.0
#: From this height the timeline gets more lines.
TALL_HEIGHT = 45

SnapshotSource = Callable[[], LabSnapshot]


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
        learning: Learning | None = None,
        demo: ScenarioPlayer | None = None,
    ) -> None:
        super().__init__()
        self.lab = lab
        #: The open lesson and the course (``lbplay learn``), or None.
        self.learning = learning
        #: The lesson pane is in the lower panels' place (a small terminal).
        self.lesson_below = False
        #: The scenario being played (``lbplay demo NAME``), or None.
        self.demo = demo
        self._demo_busy = False
        self.event_log = event_log
        self.source = source
        self.started = started
        self.refresh_hz = refresh_hz
        self.history = LatencyHistory()
        self.traffic_watch = TrafficWatch()
        self.snapshot: LabSnapshot | None = None
        #: The backend the keys act on (the fleet table's cursor).
        self.selected: str | None = None
        self.compact = False
        self.frames = 0
        #: Echo toasts asked for so far (only the newest is shown).
        self._echoes = 0

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        if self.demo is not None:
            yield DemoBanner(id="demo-banner")
        yield HeaderBar(id="header")
        yield FleetTable(id="fleet")
        yield Static("", id="view-tabs")
        if self.learning is not None:  # docked right in a wide terminal
            yield LessonPane(id="lesson")
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
        self.pane = self.query_one(LessonPane) if self.learning is not None else None
        #: The step whose answer box was last focused (focus it once per step).
        self._asked: str | None = None
        self._apply_view()
        self.refresh_now()
        self.set_interval(1 / self.refresh_hz, self.refresh_now, name="dashboard refresh")
        if self.demo is not None:
            self.banner = self.query_one(DemoBanner)
            self.banner.show(self.demo)
            self.set_interval(1 / DEMO_HZ, self._demo_tick, name="scenario")
        self.watch(self.app, "theme", self._theme_changed, init=False)

    def on_resize(self, event: Resize) -> None:
        width, height = event.size
        tall = height >= TALL_HEIGHT
        learning = self.learning is not None
        side = learning and width >= LESSON_SIDE_WIDTH
        self.lesson_below = learning and not side
        main = width - (LESSON_WIDTH_TALL if tall else LESSON_WIDTH) if side else width
        compact = main < COMPACT_WIDTH or height < COMPACT_HEIGHT or self.lesson_below
        self.set_class(tall, "-tall")
        self.set_class(compact, "-compact")
        self.set_class(side, "-lesson-side")
        self.query_one(Footer).compact = compact
        if compact != self.compact:
            self.compact = compact
            if compact and self.view == "all":
                self.view = "lesson" if self.lesson_below else "feed"
            elif not compact and self.view != "all":
                self.view = "all"
        if self.view == "lesson" and not self.lesson_below:
            self.view = "feed"
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
        if self.pane is not None:
            self.pane.set_short(self.lesson_below)
            self.pane.display = not self.lesson_below or self.view == "lesson"
            self.lower.display = not (self.lesson_below and self.view == "lesson")
        self.tabs.display = only
        if only:
            tabs = "  ".join(
                f"[reverse b] {VIEW_NAMES[p]} [/]" if p == self.view else f" {VIEW_NAMES[p]} "
                for p in self.views()
            )
            self.tabs.update(f"{tabs}   [dim]v: next panel[/]")

    def views(self) -> tuple[View, ...]:
        """The panels ``v`` goes through in a compact screen."""
        return ("lesson", *PANELS) if self.lesson_below else PANELS

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
        return Palette.from_theme(
            self.app.theme_variables,
            dark=self.app.current_theme.dark,
            contrast=self.app.theme == HIGH_CONTRAST.name,
        )

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
        self.header.show(snap, self.traffic_watch.read(snap))
        self.fleet.show(fleet_rows(snap), palette, bandwidth=snap.algorithm in BANDWIDTH_ALGORITHMS)
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
                empty=WELCOME_EMPTY_TIMELINE,
            )
        self._show_lesson()

    def _show_lesson(self) -> None:
        """Judge the lesson's step against the Lab and draw the pane."""
        if self.learning is None or self.pane is None:
            return
        text = self.learning.pane()
        if text is None:
            return
        self.pane.show(text)
        if text.asking and text.where != self._asked and self.pane.display:
            self._asked = text.where
            self.pane.answer_box.focus()

    def _show_feed(self, snap: LabSnapshot, palette: Palette) -> None:
        limit = max(self.feed.size.height - 1, 3)  # one line for the column labels
        rows, chosen = feed_rows(self.event_log.outside, snap, limit)
        url = snap.proxy_url
        if snap.paused:
            empty = f"Traffic is paused. Press p to resume, b for a burst — or curl {url}/hello"
        elif snap.rate == 0:
            empty = f"No traffic. Press ] for some, b for a burst of {BURST} — or curl {url}/hello"
        elif snap.mode == "l4":
            empty = "L4: one line per TCP connection, when it closes (keep-alive ones stay open)"
        else:
            empty = "Waiting for the first requests…"
        self.feed.show(rows, chosen, palette, empty=empty)

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
        mode = snap.session_mode if snap else "none"
        algorithm = snap.algorithm if snap else ""
        self.app.push_screen(ExplainScreen(explain(message.event, mode, algorithm), self.palette))

    @on(RequestFeed.RequestHighlighted)
    def _request_highlighted(self, message: RequestFeed.RequestHighlighted) -> None:
        snap = self.snapshot
        mode = snap.session_mode if snap else "none"
        algorithm = snap.algorithm if snap else ""
        explanation = explain(message.event, mode, algorithm)
        self.feed.show_detail(explanation_brief(explanation, self.palette))

    @on(RequestFeed.Released)
    @on(EventTimeline.Released)
    @on(AnswerBox.Left)
    def _panel_released(self) -> None:
        self.fleet.focus()

    @on(LessonPane.Answered)
    def _answered(self, message: LessonPane.Answered) -> None:
        self.fleet.focus()
        if self.learning is not None:
            # In a worker: running a prediction on the Lab takes up to seconds.
            self._lesson_work(self.learning.answer(message.text))

    # -- applying controls ------------------------------------------------------------

    async def apply(self, control: Control, *, step: str = "") -> None:
        """Apply one control to the Lab and redraw; a ``LbplayError`` becomes a
        notification, never a crash. ``step``: what the timeline says instead of the
        Lab's words (a cycling key's "100 → 500 ms").

        Keys await this in their own handler, so two quick presses of ``k`` are two
        controls in order, each reading fresh state (kill, then revive), and the
        screen is redrawn as soon as the Lab has acted — under load every extra hop
        through the event loop costs milliseconds.
        """
        before = self.event_log.added
        try:
            outcome = await self.lab.apply(control)
            if step:
                self.event_log.restate(outcome.event, step)
        except LbplayError as error:
            self.notify(str(error), title="Not possible", severity="error")
        except Exception as error:  # a bug in the Lab must not end the learner's session
            self.app.log.error("lab control failed", error)
            self.notify(f"unexpected error: {error!r}", title="lbplay bug", severity="error")
        self.refresh_now()
        self._echo(self.event_log.added - before)

    def apply_later(self, control: Control) -> None:
        """Apply ``control`` after the messages already queued (choosers, palette)."""
        self.call_next(self.apply, control)

    def _echo(self, new: int) -> None:
        """Toast what the Lab just announced when the timeline is not on screen.

        Only the newest stays: in a small terminal three quick keys would otherwise
        stack three toasts over half the screen. (An echo follows a control that
        worked, so an older "not possible" it clears is already out of date.)
        """
        if new <= 0 or self.panel_visible("timeline"):
            return
        controls = [e for e in list(self.event_log.entries)[-new:] if e.kind == "control"]
        if controls:
            entry = controls[-1]
            message = entry.text + (f"\nWatch: {entry.watch}" if entry.watch else "")
            # Keys typed together are handled before any of their toasts is shown
            # (a toast is a message too): only the newest echo is shown at all.
            self._echoes += 1
            self.app.call_later(self._toast, message, self._echoes)

    def _toast(self, message: str, echo: int) -> None:
        if echo == self._echoes:
            self.app.clear_notifications()
            self.notify(message, timeout=6)

    def selected_view(self) -> BackendView | None:
        """The selected backend as the Lab sees it now (None, with a note, if none)."""
        name = self.fleet.current
        if name is None:
            self.notify("No backend selected: add one with n.", severity="warning")
            return None
        view = self.lab.backend(name)
        if view is None:
            self.notify(f"{name} is not in the fleet any more.", severity="warning")
        return view

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

    async def action_kill(self) -> None:
        if view := self.selected_view():
            await self.apply(Revive(view.name) if view.killed else Kill(view.name))

    async def action_slow(self) -> None:
        if view := self.selected_view():
            ms = next_step(SLOW_STEPS, view.slow_ms)
            await self.apply(
                Slow(view.name, ms), step=f"{view.name} {slow_change(view.slow_ms, ms)}"
            )

    async def action_errors(self) -> None:
        if view := self.selected_view():
            rate = next_step(ERROR_STEPS, view.error_rate)
            await self.apply(
                Errors(view.name, rate), step=f"{view.name} {errors_change(view.error_rate, rate)}"
            )

    async def action_brownout(self) -> None:
        if view := self.selected_view():
            await self.apply(Brownout(view.name, off=view.brownout))

    async def action_weight(self, delta: int) -> None:
        if view := self.selected_view():
            await self.apply(Weight(view.name, view.weight + delta))

    async def action_drain(self) -> None:
        if view := self.selected_view():
            await self.apply(Drain(view.name) if view.admin == "active" else Enable(view.name))

    async def action_add_backend(self) -> None:
        before = set(self.lab.backend_names())
        await self.apply(Add())
        added = [name for name in self.lab.backend_names() if name not in before]
        if added:
            self.fleet.select(added[0])

    async def action_remove_backend(self) -> None:
        if view := self.selected_view():
            await self.apply(Remove(view.name))

    # -- actions: the balancer ---------------------------------------------------------

    def action_choose_algorithm(self) -> None:
        current = self.lab.balancer.algorithm

        def chosen(name: str | None) -> None:
            if name and self._changed("algorithm", name, current):
                self.apply_later(Algorithm(name))

        self.app.push_screen(AlgorithmChooser(current), chosen)

    def _changed(self, what: str, chosen: str, current: str) -> bool:
        """Whether a chooser's pick changes anything; if not, say so (not silence)."""
        if chosen == current:
            self.notify(f"The {what} is already {chosen}: nothing changed.")
            return False
        return True

    def action_choose_sessions(self) -> None:
        current = self.lab.session_mode

        def chosen(mode: str | None) -> None:
            if mode and self._changed("session mode", mode, current):
                self.apply_later(Sessions(mode))

        self.app.push_screen(SessionChooser(current), chosen)

    async def action_toggle_mode(self) -> None:
        await self.apply(Mode("l4" if self.lab.mode == "l7" else "l7"))

    def action_choose_health(self) -> None:
        snap = self.snapshot
        current = snap.health_name if snap else "playground"

        def chosen(label: str | None) -> None:
            if label and self._changed("health check", label, current):
                self.apply_later(health_choice(label).control)

        self.app.push_screen(HealthChooser(current), chosen)

    # -- actions: traffic --------------------------------------------------------------

    async def action_rate(self, direction: int) -> None:
        old = self.lab.running_traffic().rate
        new = rate_step(old, direction)
        if new == old:
            self.notify(rate_at_end(old, direction))
            return
        await self.apply(Rate(new), step=rate_change(old, new, direction))

    async def action_pause(self) -> None:
        await self.apply(Resume() if self.lab.running_traffic().paused else Pause())

    def action_burst(self) -> None:
        # In a worker: a burst takes a while and other keys must keep working.
        self.run_worker(self.apply(Burst(BURST)), group="burst", exit_on_error=False)

    async def action_reset(self) -> None:
        await self.apply(Reset())

    # -- actions: view -----------------------------------------------------------------

    def action_hold_feed(self) -> None:
        if not self.panel_visible("feed"):
            self.view = "feed"
        self.feed.table.focus()

    def action_hold_events(self) -> None:
        if not self.panel_visible("timeline"):
            self.view = "timeline"
        self.timeline.table.focus()

    def action_next_view(self) -> None:
        if self.compact:
            order: tuple[View, ...] = self.views()
            current: View = self.view if self.view != "all" else order[0]
        else:
            order = ("all", *PANELS)
            current = self.view
        self.view = order[(order.index(current) + 1) % len(order)]

    def action_at_scale(self) -> None:
        """The current algorithm at 1,000 simulated servers (``lbplay sim``), beside the
        classic ones, on a worker thread: the dashboard keeps drawing meanwhile."""
        from lbplay.tui.screens.scale import ScaleScreen

        balancer = self.lab.balancer
        self.app.push_screen(ScaleScreen(balancer.algorithm, balancer.options, self.palette))

    def action_quiz(self) -> None:
        """A quiz round over the running lab: the lesson's questions in a lesson."""
        from lbplay.course.progress import Store
        from lbplay.course.quiz import load_bank
        from lbplay.course.quizround import QuizRound
        from lbplay.tui.screens.quiz import QuizScreen

        topic = self.learning.lesson.id if self.learning is not None else None
        try:
            round_ = QuizRound(load_bank(), topic=topic, seed=self.frames, store=Store())
        except LbplayError as error:
            self.notify(str(error), title="Quiz", severity="error")
            return
        self.app.push_screen(QuizScreen(round_))

    def action_next_theme(self) -> None:
        self.app.theme = next_theme(self.app.theme)

    # -- actions: the lesson -----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The lesson keys exist only in a lesson, the scenario keys only in a scenario
        (hidden from footer and palette); in a scenario, space pauses it, not traffic."""
        if action in LESSON_ACTIONS:
            return self.learning is not None
        if action in DEMO_ACTIONS:
            return self.demo is not None
        return True

    # -- the scenario --------------------------------------------------------------------

    async def _demo_tick(self) -> None:
        """Advance the scenario (its steps apply controls to the Lab) and redraw it."""
        if self.demo is None or self._demo_busy:
            return
        self._demo_busy = True
        before = self.event_log.added
        try:
            await self.demo.poll()
        except LbplayError as error:
            self.notify(str(error), title="Scenario", severity="error")
        finally:
            self._demo_busy = False
        self.banner.show(self.demo)
        if self.event_log.added != before:
            self.refresh_now()

    def action_demo_pause(self) -> None:
        if self.demo is not None:
            self.demo.pause()
            self.banner.show(self.demo)

    def action_demo_step(self) -> None:
        if self.demo is not None:
            self.demo.step_now()

    def _lesson_work(self, work: Awaitable[object]) -> None:
        """Run a lesson move that waits on the Lab, keeping the keys alive meanwhile;
        its note (if any) becomes a toast and the pane redraws when it is done."""

        async def run() -> None:
            try:
                note = await work
            except LbplayError as error:
                self.notify(str(error), title="Not possible", severity="error")
                return
            if isinstance(note, str) and note:
                self.notify(note)
            self.refresh_now()

        self.run_worker(run(), group="lesson", exit_on_error=False)

    def _show_pane(self) -> None:
        """In a small terminal, bring the lesson back into view when its keys are used."""
        if self.lesson_below and self.view != "lesson":
            self.view = "lesson"

    async def action_lesson_next(self) -> None:
        if self.learning is not None:
            self._show_pane()
            session = self.learning.session
            if session and session.step.kind == "predict" and not session.state.done:
                self._asked = None  # back into the answer box at the next redraw
            self._lesson_work(self.learning.next())

    def action_lesson_back(self) -> None:
        if self.learning is not None:
            self._show_pane()
            self.learning.back()
            self.refresh_now()

    def action_lesson_hint(self) -> None:
        if self.learning is not None:
            self._show_pane()
            note = self.learning.hint()
            if note and self.learning.session and self.learning.session.step.kind != "do":
                self.notify(note)
            self.refresh_now()

    def action_lesson_solution(self) -> None:
        if self.learning is not None:
            self._show_pane()
            self._lesson_work(self._solution())

    async def _solution(self) -> str:
        assert self.learning is not None
        note = await self.learning.solution()
        # The solution itself shows in the pane; only "nothing to solve" is a toast.
        return note if note.startswith("Nothing") else ""

    def action_lesson_restart(self) -> None:
        if self.learning is not None:
            self._show_pane()
            self._asked = None
            self._lesson_work(self.learning.restart())

    def action_lesson_scroll(self, direction: int) -> None:
        if self.pane is not None:
            self._show_pane()
            self.pane.scroll_text(direction)

    def action_lesson_menu(self) -> None:
        learning = self.learning
        if learning is None:
            return

        def chosen(slug: str | None) -> None:
            if slug:
                self._show_pane()
                self._asked = None
                self._lesson_work(learning.open_slug(slug))

        self.app.push_screen(
            LessonChooser(learning.lessons, learning.progress, learning.lesson.slug), chosen
        )
