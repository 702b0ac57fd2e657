"""``LbplayApp``: the Textual app that runs a Lab and shows it; ``run()`` starts it.

The app owns the Lab's lifecycle, in its own event loop: the Lab starts when the
app mounts (before the dashboard appears) and stops when the app unmounts, so
quitting leaves no listening socket and no task behind. If the Lab cannot start
(a busy port), the app exits and ``run()`` raises the reason as a ``LbplayError``
for the CLI to print in one line.

With ``lessons`` and ``lesson`` (``lbplay learn``) the dashboard opens with the
lesson pane: the lesson sets the Lab up as it says, and the learner's progress is
kept (``course.progress``).

With ``admin`` (as ``lbplay`` and ``lbplay learn`` run it) the app also serves the
Lab's admin API and records itself in the run file, so ``lbplay ctl kill s2`` from
another terminal changes the lab on screen (a teacher's second terminal, a script).

For tests and screenshots the app accepts a ready (unstarted) ``lab`` and a
``lens`` that transforms each snapshot before it is drawn — e.g. to replace the
proxy's random port with a fixed placeholder so SVG snapshots are identical run
to run.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from textual.app import App

from lbplay.course.lesson import Lesson
from lbplay.course.progress import Store
from lbplay.course.scenario import Scenario, ScenarioPlayer
from lbplay.errors import ConfigError, LbplayError
from lbplay.model.config import LabConfig
from lbplay.model.snapshot import LabSnapshot
from lbplay.net import eventloop
from lbplay.net.admin import AdminApi
from lbplay.net.lab import Lab
from lbplay.runfile import RunInfo, remove_runfile, write_runfile
from lbplay.tui import bindings
from lbplay.tui.commands import LabCommands
from lbplay.tui.eventlog import Entry, EventLog
from lbplay.tui.learning import Learning
from lbplay.tui.model import window_seconds
from lbplay.tui.screens.dashboard import DashboardScreen
from lbplay.tui.screens.help import HelpScreen
from lbplay.tui.themes import HIGH_CONTRAST

Lens = Callable[[LabSnapshot], LabSnapshot]

LESSON_KEYS = "N next step · H hint · S solution · L lessons · ? every key."
WELCOME = (
    "Welcome. Traffic flows through a real proxy to the backends below. Select one"
    " (↑↓ or 1–9) and break it: k kills, s slows, e makes it fail. ? lists every key."
)


class LbplayApp(App[None]):
    """The lbplay playground: a live Lab and the dashboard that drives it."""

    CSS_PATH = "app.tcss"
    TITLE = "lbplay"
    SUB_TITLE = "a load-balancing playground"
    BINDINGS = bindings.APP
    COMMANDS = App.COMMANDS | {LabCommands}

    def __init__(
        self,
        lab_config: LabConfig | None = None,
        *,
        lab: Lab | None = None,
        lens: Lens | None = None,
        refresh_hz: float = 5.0,
        lessons: Sequence[Lesson] = (),
        lesson: Lesson | None = None,
        store: Store | None = None,
        admin: bool = False,
        scenario: Scenario | None = None,
        speed: float = 1.0,
    ) -> None:
        """``lab_config`` configures a new Lab (ignored when ``lab`` is given);
        ``refresh_hz`` is how often the dashboard reads a snapshot (4-10 is right);
        ``lesson`` opens that lesson of ``lessons`` beside the dashboard, its progress
        kept in ``store`` (default: the learner's data folder); ``admin`` serves the
        admin API and writes the run file for ``lbplay ctl``; ``scenario`` plays that
        scenario (``lbplay demo NAME``) at ``speed`` with its banner."""
        super().__init__()
        self.lab = lab if lab is not None else Lab(lab_config or LabConfig())
        self.lens = lens
        self.refresh_hz = refresh_hz
        self.event_log = EventLog(self.lab.clock)
        self.start_error: LbplayError | None = None
        self.admin = AdminApi(self.lab) if admin else None
        self.player = ScenarioPlayer(self.lab, scenario, speed=speed) if scenario else None
        self._runfile: tuple[int, Path] | None = None
        #: Warnings from before the dashboard could show them (a progress file set
        #: aside), shown once it is up.
        self.warnings: list[str] = []
        self.learning = (
            Learning(self.lab, lessons, lesson, store=store, warn=self.warnings.append)
            if lesson is not None
            else None
        )
        self._unsubscribe: Callable[[], None] | None = None
        self.register_theme(HIGH_CONTRAST)

    def snapshot(self) -> LabSnapshot:
        """What the dashboard draws: the Lab's snapshot, through the lens if any."""
        snap = self.lab.snapshot()
        return self.lens(snap) if self.lens is not None else snap

    async def on_mount(self) -> None:
        # Subscribe first, so the timeline misses nothing the start announces.
        self._unsubscribe = self.lab.subscribe(self.event_log)
        try:
            await self.lab.start()
            await self._start_admin()
        except LbplayError as error:
            self.start_error = error
        except OSError as error:
            self.start_error = ConfigError(f"cannot start the lab: {error}")
        if self.start_error is not None:
            self.exit(return_code=1)
            return
        started = self.lab.clock()
        if self.player is not None:
            await self.player.start()
            welcome = (
                f"Scenario: {self.player.scenario.title}. Space pauses it, → runs the next step."
            )
        elif self.learning is not None:
            await self.learning.start()
            welcome = (
                f"Lesson {self.learning.lesson.number}: the lab is set up for it. {LESSON_KEYS}"
            )
        else:
            welcome = WELCOME
        self.event_log.add(Entry(started, "tui", welcome))
        if self.admin is not None:
            self.event_log.add(
                Entry(
                    started, "tui", "From another terminal: lbplay ctl kill s2, lbplay ctl state."
                )
            )
        await self.push_screen(
            DashboardScreen(
                self.lab,
                self.event_log,
                source=self.snapshot,
                started=started,
                refresh_hz=self.refresh_hz,
                learning=self.learning,
                demo=self.player,
            )
        )
        for warning in self.warnings:
            self.notify(warning, title="Progress", severity="warning", timeout=15)
        # Everything made so far (Textual, aiohttp, the fleet) lives as long as the
        # app. Out of the collector's sight, full collections stay short: measured at
        # 500 requests/s, ~55 ms pauses (a visible hitch) became ~5 ms.
        gc.freeze()

    async def _start_admin(self) -> None:
        """Serve the admin API and record this lab in the run file (``lbplay ctl``)."""
        if self.admin is None:
            return
        try:
            await self.admin.start()
        except OSError as error:
            raise ConfigError(f"cannot start the admin API: {error}") from None
        info = RunInfo(
            os.getpid(), self.lab.proxy_url, self.admin.url, self.admin.token, kind="dashboard"
        )
        self._runfile = (info.pid, write_runfile(info))

    async def on_unmount(self) -> None:
        gc.unfreeze()  # let what this app made be collected once it is gone
        if self._runfile is not None:
            pid, path = self._runfile
            remove_runfile(pid, path)
        if self.admin is not None:
            await self.admin.stop()
        if self.learning is not None:
            self.learning.close()
        if self.player is not None:
            self.player.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.lab.stop()

    def action_help(self) -> None:
        """Show every key (generated from the real bindings)."""
        if isinstance(self.screen, HelpScreen):
            return
        dashboards = [s for s in self.screen_stack if isinstance(s, DashboardScreen)]
        keys = bindings.only_bindings(DashboardScreen.BINDINGS)
        if dashboards:  # only the keys that work here (the lesson keys in a lesson)
            keys = [b for b in keys if dashboards[0].check_action(b.action, ())]
        rows = bindings.help_rows([*keys, *self.BINDINGS])
        snap = dashboards[0].snapshot if dashboards else None
        self.push_screen(HelpScreen(rows, window=window_seconds(snap) if snap else None))


def run(
    config: LabConfig | None = None,
    *,
    lessons: Sequence[Lesson] = (),
    lesson: Lesson | None = None,
    scenario: Scenario | None = None,
    speed: float = 1.0,
) -> None:
    """Start a Lab with ``config`` (default: 4 backends, round robin, L7, 50/s) and
    show the dashboard until the learner quits; with ``lesson``, beside that lesson,
    or playing ``scenario`` (the Lab starts as the lesson or scenario sets it up)."""
    if lesson is not None:
        config = lesson.setup
    if scenario is not None:
        config = scenario.setup
    app = LbplayApp(
        lab_config=config,
        lessons=lessons,
        lesson=lesson,
        admin=True,
        scenario=scenario,
        speed=speed,
    )
    eventloop.run(app.run_async())
    if app.start_error is not None:
        raise app.start_error


def run_quiz(
    *, topic: str | None = None, seed: int = 0, count: int = 10, review: bool = False
) -> None:
    """``lbplay quiz [TOPIC]``: a round of questions on the quiz screen, answers filed
    in the learner's progress (Leitner boxes)."""
    from lbplay.course.quiz import load_bank
    from lbplay.course.quizround import QuizRound
    from lbplay.tui.screens.quiz import QuizApp

    store = Store()
    round_ = QuizRound(load_bank(), topic=topic, seed=seed, count=count, review=review, store=store)
    eventloop.run(QuizApp(round_).run_async())


def run_interview(*, prompt: str | None = None, minutes: dict[str, float] | None = None) -> None:
    """``lbplay interview [PROMPT]``: a timed practice run on the interview screen
    (the explainer's own question unless ``prompt`` names another)."""
    from lbplay.course.interview import InterviewSession, Notes, find_prompt, load_prompts
    from lbplay.tui.screens.interview import InterviewApp

    prompts = load_prompts()
    chosen = find_prompt(prompts, prompt) if prompt else next(p for p in prompts if p.source)
    session = InterviewSession(chosen, minutes=minutes or {}, notes_store=Notes.new(chosen.id))
    eventloop.run(InterviewApp(session).run_async())
