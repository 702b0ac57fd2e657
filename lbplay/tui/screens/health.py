"""The health-check chooser: the real systems' presets, one scaled for demos, or off."""

from __future__ import annotations

from textual.content import Content

from lbplay.core.health import preset
from lbplay.tui.controls import HEALTH_CHOICES, HealthChoice
from lbplay.tui.screens.chooser import Chooser, Item


def choice_detail(choice: HealthChoice) -> str:
    """``every 3 s, timeout 0.5 s, rise 5, fall 2 — a dead backend is noticed within ...``."""
    if not choice.preset:
        return "dead backends stay in rotation"
    config = preset(choice.preset, choice.scale)
    return (
        f"every {config.interval:g} s, timeout {config.timeout:g} s, rise {config.rise},"
        f" fall {config.fall} — a dead backend is noticed {config.noticed()}"
    )


class HealthChooser(Chooser):
    """Choose the active health-check settings; the result is a choice's label."""

    def __init__(self, current: str) -> None:
        super().__init__(
            "Health checks",
            "Detection is not instant: it takes about fall × interval to stop sending"
            " traffic to a dead backend.",
            [
                Item(
                    choice.label,
                    Content.styled(choice.label, "bold"),
                    ((choice.note, ""), (choice_detail(choice), "dim")),
                )
                for choice in HEALTH_CHOICES
            ],
            current,
        )
