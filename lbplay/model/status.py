"""A backend's standing in words, rendered once from its structured state.

The dashboard's fleet table, ``serve``'s live table and ``ctl state`` all show the
parts made here, so a learner reads the same words everywhere: ``killed · UP,
failing 2/3`` until the third failed check takes a dead backend out, ``draining``,
``slow start 40%``, ``ejected``, ``panic: still gets traffic``. Each part has a
level (fine, changing, broken, panic, out of rotation, a note) that a UI colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lbplay.model.snapshot import BackendView

#: How a state reads: fine, changing, broken, Envoy panic, out of rotation, a note.
Level = Literal["ok", "warn", "bad", "panic", "off", "info"]
#: Most serious first.
SEVERITY: tuple[Level, ...] = ("panic", "bad", "warn", "info", "off", "ok")


@dataclass(frozen=True, slots=True)
class StatePart:
    """One piece of a backend's state, with how it should read."""

    text: str
    level: Level


def health_label(view: BackendView) -> str:
    """``UP``, ``UP, failing 2/3``, ``DOWN``, ``DOWN, recovering 1/2`` or ``off``."""
    if view.health is None:
        return "off"
    if view.health == "UP" and view.failing:
        return f"UP, failing {view.failing}/{view.fall}"
    if view.health == "DOWN" and view.recovering:
        return f"DOWN, recovering {view.recovering}/{view.rise}"
    return view.health


def balancer_label(view: BackendView) -> str:
    """The balancer's view in one word or two: ``up``, ``down``, ``draining``,
    ``ejected``, ``slow start 40%``, ``full``, ``backup (in use)`` ..."""
    if view.admin != "active":
        return view.admin
    if view.passive:
        return view.passive
    if view.health == "DOWN":
        return "down"
    if view.slow_start < 1.0:
        return f"slow start {view.slow_start:.0%}"
    if view.full:
        return "full"
    if view.backup:
        return "backup (in use)" if view.eligible else "backup"
    return "up"


def state_parts(view: BackendView) -> tuple[StatePart, ...]:
    """The process, the balancer's view and the health checker's, as parts.

    The health checker's count is the lesson: a killed backend reads
    ``killed · UP, failing 2/3`` until the third failed check takes it out.
    """
    parts: list[StatePart] = []
    if view.process in ("killed", "stopped"):
        parts.append(StatePart(view.process, "bad"))
    status = balancer_label(view)
    health = health_label(view)
    if status == "up":
        if view.health == "UP" and view.failing:
            parts.append(StatePart(health, "warn"))
        elif view.health is None:
            parts.append(StatePart("up (no checks)", "ok"))
        else:
            parts.append(StatePart("UP", "ok"))
    elif status == "down":
        parts.append(StatePart(health, "warn" if view.recovering else "bad"))
    elif status == "draining":
        parts.append(StatePart(status, "warn"))
    elif status in ("drained", "disabled"):
        parts.append(StatePart(status, "off"))
    elif status in ("ejected", "unavailable"):
        parts.append(StatePart(status, "bad"))
    elif view.slow_start < 1.0 or view.full:
        parts.append(StatePart(status, "warn"))
    else:  # a backup
        parts.append(StatePart(status, "info"))
    if status != "down" and view.health == "DOWN":
        # Drained or ejected and also failing its checks: say both.
        parts.append(StatePart(health, "bad"))
    if view.panic:
        parts.append(StatePart("panic: still gets traffic", "panic"))
    return tuple(parts)


def state_text(view: BackendView) -> str:
    """The parts joined: ``killed · UP, failing 2/3``."""
    return " · ".join(part.text for part in state_parts(view))


def worst(parts: tuple[StatePart, ...]) -> Level:
    """The most serious level among ``parts`` ("ok" for none)."""
    levels = {part.level for part in parts}
    return next((level for level in SEVERITY if level in levels), "ok")
