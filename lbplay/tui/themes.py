"""The dashboard's themes: Textual's dark and light, and a high-contrast one.

``t`` cycles them in ``CYCLE`` order. The high-contrast theme is for washed-out
projectors and the back of a room: pure black, white text, saturated colours at
full strength (the stylesheet drops its translucent borders for it), and backends
coloured from the Okabe–Ito set, which stays distinct for the common kinds of
colour blindness (the palette, ``palette.SERIES_CONTRAST``). Nothing on screen
relies on colour alone anyway: backends are named in charts and tables, and the
selected row carries a ▶.
"""

from __future__ import annotations

from textual.theme import Theme

HIGH_CONTRAST = Theme(
    name="lbplay-high-contrast",
    primary="#ffd400",
    secondary="#56b4e9",
    accent="#00e5ff",
    warning="#ffb000",
    error="#ff5050",
    success="#3cff7a",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#262626",
    boost="#1a1a1a",
    dark=True,
    text_alpha=1.0,
    variables={
        "text-muted": "#d0d0d0",
        "footer-key-foreground": "#ffd400",
        "block-cursor-background": "#ffd400",
        "block-cursor-foreground": "#000000",
    },
)

#: What ``t`` steps through, in order.
CYCLE: tuple[str, ...] = ("textual-dark", "textual-light", HIGH_CONTRAST.name)
#: What each theme is called on screen.
LABELS: dict[str, str] = {
    "textual-dark": "dark",
    "textual-light": "light",
    HIGH_CONTRAST.name: "high contrast",
}


def next_theme(current: str) -> str:
    """The theme after ``current`` in ``CYCLE`` (the first one after any other)."""
    if current in CYCLE:
        return CYCLE[(CYCLE.index(current) + 1) % len(CYCLE)]
    return CYCLE[0]
