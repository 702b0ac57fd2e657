"""The event timeline: what happened and what to watch for, newest first.

Lines come from ``EventLog`` (health transitions with their evidence, control
actions with what to watch for next, coalesced retries and session losses).

Drawn with the Line API on a ``ScrollView``: each entry is wrapped once (and cached)
into strips, and a new entry changes only the virtual height, never the screen's
layout — a ``Static`` that grows would re-lay-out the whole dashboard on every new
line, which under load cost more than everything else on the screen.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from lbplay.tui.eventlog import Entry
from lbplay.tui.palette import Palette

_ICONS = {
    "control": "›",
    "health": "◆",
    "retry": "↻",
    "session": "×",
    "notice": "•",
    "tui": "•",
}


def clock_label(seconds: float) -> str:
    """``mm:ss`` since the lab started (``h:mm:ss`` after an hour)."""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def entry_text(entry: Entry, started: float, palette: Palette) -> Text:
    """One entry: time, icon, what happened, and what to watch for."""
    text = Text()
    text.append(clock_label(entry.at - started), palette.muted)
    text.append(f" {_ICONS.get(entry.kind, '•')} ", palette.level(entry.level))
    style = palette.level(entry.level) if entry.level in ("bad", "panic", "warn") else ""
    text.append(entry.text, style)
    if entry.watch:
        text.append(" — watch: ", palette.muted)
        text.append(entry.watch, palette.accent)
    return text


class EventTimeline(ScrollView, can_focus=True):
    """Timeline entries, newest on top, wrapped to the panel's width."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Events"
        self._version: tuple[int, Palette, int] | None = None
        self._wrapped: dict[Entry, list[Strip]] = {}
        self._lines: list[Strip] = []
        self._entries: list[Entry] = []
        self._started = 0.0
        self._palette: Palette | None = None
        self._empty = ""

    def show(
        self,
        entries: Iterable[Entry],
        *,
        version: int,
        started: float,
        palette: Palette,
        empty: str,
    ) -> None:
        """Redraw when the log changed (``version``), or the palette or width did."""
        width = self.scrollable_content_region.width
        key = (version, palette, width)
        if self._version == key:
            return
        if self._version is None or self._version[1:] != key[1:]:
            self._wrapped.clear()
        self._version = key
        self._entries = list(entries)
        self._started = started
        self._palette = palette
        self._empty = empty
        self._rebuild()

    def _rebuild(self) -> None:
        palette = self._palette
        if palette is None:
            return
        width = max(self.scrollable_content_region.width, 10)
        console = self.app.console
        lines: list[Strip] = []
        items: Iterable[Entry | None] = reversed(self._entries) if self._entries else [None]
        wrapped: dict[Entry, list[Strip]] = {}
        for entry in items:
            if entry is None:
                text = Text(self._empty, palette.muted)
                strips = [Strip(line.render(console)) for line in text.wrap(console, width)]
            else:
                strips = self._wrapped.get(entry) or [
                    Strip(line.render(console))
                    for line in entry_text(entry, self._started, palette).wrap(console, width)
                ]
                wrapped[entry] = strips
            lines.extend(strips)
        self._wrapped = wrapped
        self._lines = lines
        self.virtual_size = Size(width, len(lines))
        self.refresh()

    def on_resize(self) -> None:
        self._wrapped.clear()
        self._version = None
        self._rebuild()

    def render_line(self, y: int) -> Strip:
        index = int(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        if 0 <= index < len(self._lines):
            return self._lines[index].adjust_cell_length(width).apply_style(self.rich_style)
        return Strip.blank(width, self.rich_style)
