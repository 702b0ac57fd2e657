"""Colours for states and chart series, taken from the current Textual theme.

Rich text inside a ``DataTable`` cell or a chart segment cannot use TCSS variables,
so the widgets ask for a ``Palette`` built from the theme's variables: the theme's
own readable text colours (``text-success``, ``text-warning``, ``text-error``) for
states, so a light theme gets darker greens and reds than a dark one. Panic mode
gets magenta, which no theme variable offers. The high-contrast theme gets colours
at full strength and the Okabe–Ito series (told apart with most colour blindness).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lbplay.model.status import Level

#: Backend colours for the share chart: distinct on dark and on light backgrounds.
SERIES_DARK = (
    "#4ea1ff",
    "#f0a93b",
    "#57c785",
    "#e36d8f",
    "#b48ef0",
    "#3fc9c9",
    "#d9d35b",
    "#ff8a5c",
)
SERIES_LIGHT = (
    "#1f6fd1",
    "#b86e00",
    "#1e8a4c",
    "#c0335d",
    "#7a4fc4",
    "#138a8a",
    "#8a8200",
    "#d0531f",
)

#: Okabe–Ito's colour-blind-safe set, brightened where it would sink into black.
SERIES_CONTRAST = (
    "#56b4e9",
    "#e69f00",
    "#00c08b",
    "#f0e442",
    "#cc79a7",
    "#ff6a1a",
    "#4d9fff",
    "#ffffff",
)


@dataclass(frozen=True)
class Palette:
    """Concrete colours (``#rrggbb`` or Rich colour names) for one theme."""

    ok: str
    warn: str
    bad: str
    panic: str
    muted: str
    info: str
    accent: str
    text: str
    #: Per-backend colours, in fleet order (wrapping around).
    series: tuple[str, ...]
    #: The two latency lines.
    p50: str
    p99: str
    dark: bool = True
    contrast: bool = False

    @classmethod
    def from_theme(
        cls, variables: Mapping[str, str], *, dark: bool, contrast: bool = False
    ) -> Palette:
        """Build a palette from ``App.theme_variables``, whether the theme is dark, and
        whether it is the high-contrast one."""
        if contrast:
            return cls(
                ok="#3cff7a",
                warn="#ffd000",
                bad="#ff5050",
                panic="#ff66ff",
                muted="#c8c8c8",
                info="#56b4e9",
                accent="#00e5ff",
                text="#ffffff",
                series=SERIES_CONTRAST,
                p50=SERIES_CONTRAST[0],
                p99=SERIES_CONTRAST[1],
                dark=True,
                contrast=True,
            )

        def pick(name: str, fallback: str) -> str:
            value = variables.get(name, fallback)
            # Variables such as "auto 60%" are not colours Rich understands.
            return value if value.startswith("#") else fallback

        return cls(
            ok=pick("text-success", "green"),
            warn=pick("text-warning", "yellow"),
            bad=pick("text-error", "red"),
            panic="#e070e0" if dark else "#a02aa0",
            muted="#8a8a8a" if dark else "#6a6a6a",
            info=pick("text-primary", "blue"),
            accent=pick("text-accent", "cyan"),
            text=pick("foreground", "white" if dark else "black"),
            series=SERIES_DARK if dark else SERIES_LIGHT,
            p50=SERIES_DARK[0] if dark else SERIES_LIGHT[0],
            p99=SERIES_DARK[1] if dark else SERIES_LIGHT[1],
            dark=dark,
        )

    def level(self, level: Level) -> str:
        """The colour of a state level."""
        return {
            "ok": self.ok,
            "warn": self.warn,
            "bad": self.bad,
            "panic": self.panic,
            "off": self.muted,
            "info": self.info,
        }[level]

    def backend(self, index: int) -> str:
        """The colour of the ``index``-th backend (share chart, legend)."""
        return self.series[index % len(self.series)]


#: A palette for code that runs before any theme is known (and for tests).
DEFAULT = Palette.from_theme({}, dark=True)
