"""The scenario banner (``lbplay demo NAME``): the narration, big and plain enough to
read from the back of a room, with the expectations ticking as they are met.

It draws from a ``ScenarioPlayer``: the title and where the scenario is (step, time,
paused), the current narration in bold on the accent colour, and one line per
expectation so far — ✓ met, ✗ failed, ▸ waiting — with what was measured.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from lbplay.course.scenario import ScenarioPlayer

#: Expectations shown at once (the newest): the banner must leave room for the lab.
SHOWN = 3


def banner_text(player: ScenarioPlayer) -> Content:
    """The banner's lines for ``player`` as it stands."""
    scenario = player.scenario
    ran = sum(1 for run in player.runs if run.ran is not None)
    state = "done" if player.finished else ("paused" if player.paused else "playing")
    keys = "space: pause · →: next step" if not player.finished else "q: quit"
    head = Content.from_markup(
        f"[b]{scenario.title}[/b]  [dim]step {ran} of {len(scenario.steps)} ·"
        f" {player.elapsed:.0f} s · {state} · {keys}[/dim]"
    )
    lines = [head, Content.styled(player.narration, "bold")]
    for expectation in player.expectations[-SHOWN:]:
        if expectation.passed is None:
            mark, style = "▸", "$text-warning"
        elif expectation.passed:
            mark, style = "✓", "bold $text-success"
        else:
            mark, style = "✗", "bold $text-error"
        if expectation.passed is None:
            text = f"{mark} expecting {expectation.expected}"
        elif expectation.passed:
            text = f"{mark} {expectation.measured or expectation.expected}"
        else:
            text = f"{mark} expected {expectation.expected}; measured {expectation.measured}"
        lines.append(Content.styled(text, style))
    if player.finished:
        met = sum(1 for e in player.expectations if e.passed)
        lines.append(
            Content.styled(f"Done: {met} of {len(player.expectations)} expectations met.", "bold")
        )
    return Content("\n").join(lines)


class DemoBanner(Static):
    """The scenario's narration and expectations, over the dashboard."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._shown: Content | None = None

    def show(self, player: ScenarioPlayer) -> None:
        text = banner_text(player)
        if text != self._shown:
            self._shown = text
            self.update(text)
