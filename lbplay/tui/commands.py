"""The command palette (ctrl+p): every key's action by name, and every control.

Key actions come from the same bindings as the keys (``bindings.palette_bindings``),
so a learner who forgot a key can type "kill" or "pause". Controls come from the
control table (``model.controls``), the vocabulary of ``lbplay ctl`` and lessons:
type one in full — ``slow s3 300``, ``algorithm ring_hash -o vnodes=100``,
``health haproxy --scale 0.5`` — and the palette offers to run it; common ones are
listed ready-made ("kill s2", "algorithm maglev", "health aws-alb ×0.1",
"rate 500/s"), so searching a word finds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from lbplay.core import registry
from lbplay.errors import LbplayError
from lbplay.model import controls
from lbplay.model.narration import SESSION_MODES
from lbplay.tui import bindings
from lbplay.tui.controls import HEALTH_CHOICES, RATE_STEPS
from lbplay.tui.screens.dashboard import DashboardScreen

#: Controls of one backend that need nothing but its name, offered per backend.
_PER_BACKEND = ("kill", "revive", "drain", "disable", "enable", "remove", "hang", "brownout")


@dataclass(frozen=True)
class Command:
    """One palette entry: what it says, a hint, and what it does."""

    text: str
    help: str
    run: Callable[[], Any]
    #: Shown before typing anything (the key actions), or only when searched.
    discover: bool = False


def ready_made(screen: DashboardScreen) -> list[controls.Control]:
    """Controls worth listing by name for the lab as it is now."""
    made: list[controls.Control] = []
    snap = screen.snapshot
    for backend in snap.backends if snap else ():
        for name in _PER_BACKEND:
            made.append(controls.parse([name, backend.name]))
    made += [controls.Algorithm(name) for name in registry.names()]
    made += [controls.Sessions(mode) for mode in SESSION_MODES]
    made += [choice.control for choice in HEALTH_CHOICES]
    made += [controls.Rate(rate) for rate in RATE_STEPS]
    made += [controls.Mode("l7"), controls.Mode("l4")]
    return made


class LabCommands(Provider):
    """Commands for the dashboard (and the app's own: help, quit)."""

    def commands(self) -> list[Command]:
        screen = self.screen
        app = self.app
        found: list[Command] = []
        if isinstance(screen, DashboardScreen):
            for binding in bindings.palette_bindings(screen.BINDINGS):
                if not screen.check_action(binding.action.split("(")[0], ()):
                    continue  # the lesson keys, outside a lesson
                found.append(
                    Command(
                        binding.tooltip or binding.description,
                        f"key {bindings.key_label(binding)}",
                        partial(screen.run_action, binding.action),
                        discover=True,
                    )
                )
            snap = screen.snapshot
            for index, backend in enumerate(snap.backends if snap else ()):
                found.append(
                    Command(
                        f"Select {backend.name}",
                        f"key {index + 1}" if index < 9 else "",
                        partial(screen.fleet.select, backend.name),
                    )
                )
            for control in ready_made(screen):
                found.append(
                    Command(control.text(), control.HELP, partial(screen.apply_later, control))
                )
        for binding in bindings.palette_bindings(app.BINDINGS):
            found.append(
                Command(
                    binding.tooltip or binding.description,
                    f"key {bindings.key_label(binding)}",
                    partial(app.run_action, binding.action),
                    discover=True,
                )
            )
        return found

    def typed(self, query: str) -> Command | None:
        """The control the learner typed in full, if it is one."""
        screen = self.screen
        if not isinstance(screen, DashboardScreen):
            return None
        try:
            control = controls.parse(query, screen.lab.names())
        except LbplayError:
            return None
        return Command(f"run: {control.text()}", control.HELP, partial(screen.apply_later, control))

    async def discover(self) -> Hits:
        for command in self.commands():
            if command.discover:
                yield DiscoveryHit(command.text, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        typed = self.typed(query)
        if typed is not None:
            yield Hit(1.0, typed.text, typed.run, help=typed.help)
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.text)
            if score > 0:
                yield Hit(score, matcher.highlight(command.text), command.run, help=command.help)
