"""The command palette (ctrl+p): every key's action by name, plus direct choices.

Commands come from the same bindings as the keys (``bindings.palette_bindings``), so
a learner who forgot a key can type "kill" or "pause". Direct choices skip a
chooser: "algorithm maglev", "select s3", "health aws-alb ×0.1", "rate 500/s".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from lbplay.core import registry
from lbplay.tui import bindings
from lbplay.tui.controls import HEALTH_CHOICES, RATE_STEPS, SESSION_MODES
from lbplay.tui.screens.dashboard import DashboardScreen


@dataclass(frozen=True)
class Command:
    """One palette entry: what it says, a hint, and what it does."""

    text: str
    help: str
    run: Callable[[], Any]
    #: Shown before typing anything (the key actions), or only when searched.
    discover: bool = False


class LabCommands(Provider):
    """Commands for the dashboard (and the app's own: help, quit)."""

    def commands(self) -> list[Command]:
        screen = self.screen
        app = self.app
        found: list[Command] = []
        own = bindings.palette_bindings(app.BINDINGS)
        if isinstance(screen, DashboardScreen):
            for binding in bindings.palette_bindings(screen.BINDINGS):
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
            for name in registry.names():
                info = registry.get(name)
                found.append(
                    Command(
                        f"Algorithm {name}",
                        info.idea,
                        partial(screen.control, partial(screen.lab.set_algorithm, name)),
                    )
                )
            for mode, idea in SESSION_MODES:
                found.append(
                    Command(f"Session mode {mode}", idea, partial(screen.apply_session_mode, mode))
                )
            for choice in HEALTH_CHOICES:
                found.append(
                    Command(
                        f"Health checks {choice.label}",
                        choice.note,
                        partial(screen.apply_health, choice.label),
                    )
                )
            for rate in RATE_STEPS:
                found.append(
                    Command(
                        f"Traffic rate {rate:g}/s",
                        "generated requests per second",
                        partial(screen.control, partial(screen.lab.set_rate, rate)),
                    )
                )
        for binding in own:
            found.append(
                Command(
                    binding.tooltip or binding.description,
                    f"key {bindings.key_label(binding)}",
                    partial(app.run_action, binding.action),
                    discover=True,
                )
            )
        return found

    async def discover(self) -> Hits:
        for command in self.commands():
            if command.discover:
                yield DiscoveryHit(command.text, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands():
            score = matcher.match(command.text)
            if score > 0:
                yield Hit(score, matcher.highlight(command.text), command.run, help=command.help)
