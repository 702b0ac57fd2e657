"""The steps a key walks through: slowness, error rates, traffic rates, presets.

One key per knob keeps the dashboard learnable: ``s`` cycles a backend's extra
latency 0 → 100 → 500 → 2000 ms → 0, ``e`` its error rate, ``]``/``[`` the traffic
rate along a ladder of round numbers. The values are chosen to make each lesson
visible: 100 ms shifts least-* algorithms, 2 s trips read timeouts and p99s.

A key that cycles says where it went and where it goes next (``slow: 100 → 500 ms,
s again: 2000 ms``): the ``*_change`` functions write those words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lbplay.model.controls import Health
from lbplay.tui.model import fmt_pct

#: Extra milliseconds per response (the ``slow`` control).
SLOW_STEPS: tuple[float, ...] = (0.0, 100.0, 500.0, 2000.0)
#: Share of requests answered 500 (the ``errors`` control).
ERROR_STEPS: tuple[float, ...] = (0.0, 0.1, 0.5, 1.0)
#: Generated requests per second (the ``rate`` control); the dashboard stays within 2000.
RATE_STEPS: tuple[float, ...] = (0, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
#: Requests fired at once by the burst key.
BURST = 300


def next_step(steps: Sequence[float], current: float) -> float:
    """The step after ``current`` in a cycle (back to the first after the last).

    A value that is not a step (set through the API or a lesson) goes back to the
    first step, which is always "off".
    """
    for index, step in enumerate(steps):
        if abs(step - current) < 1e-9:
            return steps[(index + 1) % len(steps)]
    return steps[0]


def rate_step(current: float, direction: int) -> float:
    """The next rate up (``direction`` > 0) or down along ``RATE_STEPS``; it stops at
    the ends."""
    if direction > 0:
        return next((s for s in RATE_STEPS if s > current + 1e-9), RATE_STEPS[-1])
    return next((s for s in reversed(RATE_STEPS) if s < current - 1e-9), RATE_STEPS[0])


def slow_change(old_ms: float, new_ms: float) -> str:
    """``slow: 100 → 500 ms added (s again: 2000 ms)``."""
    after = next_step(SLOW_STEPS, new_ms)
    return f"slow: {old_ms:g} → {new_ms:g} ms added (s again: {after:g} ms)"


def errors_change(old: float, new: float) -> str:
    """``errors: 10% → 50% answered 500 (e again: 100%)``."""
    after = next_step(ERROR_STEPS, new)
    return f"errors: {fmt_pct(old)} → {fmt_pct(new)} answered 500 (e again: {fmt_pct(after)})"


def rate_change(old: float, new: float, direction: int) -> str:
    """``traffic: 200 → 500 requests/s (] again: 1000)``, or that this was the last step."""
    after = rate_step(new, direction)
    key = "]" if direction > 0 else "["
    more = f"{key} again: {after:g}" if after != new else "the last step"
    return f"traffic: {old:g} → {new:g} requests/s ({more})"


def rate_at_end(rate: float, direction: int) -> str:
    """What ``]`` at the top (or ``[`` at 0) says instead of changing nothing silently."""
    if direction > 0:
        return f"Traffic is already at the top step, {rate:g} requests/s. [ for less."
    return "Traffic is already off (0 requests/s). ] for some, b for a burst."


@dataclass(frozen=True)
class HealthChoice:
    """One entry of the health-check chooser."""

    label: str
    #: A ``PRESETS`` name, or "" to turn active checks off.
    preset: str
    scale: float
    note: str

    @property
    def control(self) -> Health:
        """The control that makes this choice."""
        if not self.preset:
            return Health("off")
        return Health(self.preset, scale=self.scale)


HEALTH_CHOICES: tuple[HealthChoice, ...] = (
    HealthChoice("playground", "playground", 1.0, "1 s checks, down after 3 fails: quick to watch"),
    HealthChoice("haproxy", "haproxy", 1.0, "HAProxy defaults: inter 2 s, rise 2, fall 3"),
    HealthChoice(
        "aws-alb ×0.1",
        "aws-alb",
        0.1,
        "the ALB's thresholds with times ÷10: 3 s checks, down after 2 fails, up after 5",
    ),
    HealthChoice(
        "aws-alb", "aws-alb", 1.0, "ALB defaults: 30 s checks, up after 5: a minute to notice"
    ),
    HealthChoice("nginx-plus", "nginx-plus", 1.0, "NGINX Plus: 5 s checks, one fail takes it out"),
    HealthChoice("off", "", 1.0, "no active checks: only retries and passive health help"),
)


def health_choice(label: str) -> HealthChoice:
    """The chooser entry called ``label``."""
    return next(c for c in HEALTH_CHOICES if c.label == label)
