"""Every key of the dashboard, written once.

The dashboard's ``BINDINGS``, the footer, the help screen, the command palette and
the key table in the README all come from the ``Binding`` objects built here, so
none of them can drift from the keys that really work (a test compares the README's
table with ``help_rows()``).

Each binding has an id ``group.name``; the group orders the help screen. Its
``description`` is the footer's short word, its ``tooltip`` the one-line help the
help screen, the palette and the README show.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from textual.binding import Binding, BindingType

#: Help-screen sections, in order: binding id prefix → heading.
GROUPS: dict[str, str] = {
    "select": "Select",
    "fleet": "Break things (the selected backend)",
    "balancer": "Balancer",
    "traffic": "Traffic",
    "view": "View",
    "lesson": "Lesson (lbplay learn)",
    "demo": "Scenario (lbplay demo)",
    "app": "App",
}


def _b(
    id: str,
    key: str,
    action: str,
    description: str,
    help: str,
    *,
    show: bool = False,
    key_display: str | None = None,
    priority: bool = False,
) -> Binding:
    return Binding(
        key,
        action,
        description,
        show=show,
        key_display=key_display,
        tooltip=help,
        id=id,
        priority=priority,
    )


#: The lesson keys (``lbplay learn``): part of the dashboard's, active in a lesson.
LESSON: list[BindingType] = [
    _b(
        "lesson.next",
        "N",
        "lesson_next",
        "next step",
        "Lesson: the next step (once this one is done)",
        show=True,
    ),
    _b("lesson.back", "B", "lesson_back", "back", "Lesson: back a step"),
    _b(
        "lesson.hint",
        "H",
        "lesson_hint",
        "hint",
        "Lesson: a hint for this step (then the solution)",
        show=True,
    ),
    _b(
        "lesson.solution",
        "S",
        "lesson_solution",
        "solution",
        "Lesson: show the solution (again: do it); in a prediction, the engine's answer",
    ),
    _b(
        "lesson.restart",
        "ctrl+r",
        "lesson_restart",
        "restart",
        "Lesson: start it again on a fresh Lab",
    ),
    _b("lesson.menu", "L", "lesson_menu", "lessons", "Lesson: the lessons, with your progress"),
    _b("lesson.down", "J", "lesson_scroll(1)", "scroll", "Lesson: scroll the step's text down"),
    _b("lesson.up", "K", "lesson_scroll(-1)", "scroll up", "Lesson: scroll the step's text up"),
]

#: The scenario keys (``lbplay demo NAME``): part of the dashboard's, active in a
#: scenario; before the traffic keys, so space pauses the scenario there.
DEMO: list[BindingType] = [
    _b(
        "demo.pause", "space", "demo_pause", "pause demo", "Scenario: pause or resume it", show=True
    ),
    _b(
        "demo.step", "right", "demo_step", "next step", "Scenario: run its next step now", show=True
    ),
]

#: The dashboard's keys (``DashboardScreen.BINDINGS``).
DASHBOARD: list[BindingType] = [
    *DEMO,
    _b("select.up", "up", "select_offset(-1)", "previous", "Select the backend above"),
    _b("select.down", "down", "select_offset(1)", "next", "Select the backend below"),
    *(
        _b(
            "select.number",
            str(n),
            f"select_number({n})",
            "select 1–9",
            "Select backend 1 to 9 by its place in the table",
            key_display="1–9",
        )
        for n in range(1, 10)
    ),
    _b(
        "fleet.kill",
        "k",
        "kill",
        "kill",
        "Kill the selected backend (it refuses connections), or revive it",
        show=True,
    ),
    _b(
        "fleet.slow",
        "s",
        "slow",
        "slow",
        "Slow the selected backend: 0 → 100 → 500 → 2000 ms added to each response",
        show=True,
    ),
    _b(
        "fleet.errors",
        "e",
        "errors",
        "errors",
        "Cycle the selected backend's error rate: 0 → 10% → 50% → 100% answered 500",
        show=True,
    ),
    _b(
        "fleet.brownout",
        "o",
        "brownout",
        "brownout",
        "Brownout on/off: /health stays 200 while real requests fail",
    ),
    _b(
        "fleet.weight_up",
        "plus,equals_sign",
        "weight(1)",
        "weight +",
        "Raise the selected backend's weight by 1",
        key_display="+",
    ),
    _b(
        "fleet.weight_down",
        "minus",
        "weight(-1)",
        "weight −",
        "Lower the selected backend's weight by 1",
        key_display="-",
    ),
    _b(
        "fleet.drain",
        "d",
        "drain",
        "drain",
        "Drain the selected backend (no new requests, in-flight ones finish), or undrain it",
        show=True,
    ),
    _b("fleet.add", "n", "add_backend", "add", "Add a new backend to the fleet"),
    _b(
        "fleet.remove",
        "x,delete",
        "remove_backend",
        "remove",
        "Remove the selected backend from the fleet",
    ),
    _b(
        "balancer.algorithm",
        "a",
        "choose_algorithm",
        "algorithm",
        "Choose the balancing algorithm (applied live)",
        show=True,
    ),
    _b(
        "balancer.sessions",
        "c",
        "choose_sessions",
        "sessions",
        "Choose the session mode: none, cookie, ip, header or a shared store",
    ),
    _b(
        "balancer.mode",
        "l",
        "toggle_mode",
        "L4/L7",
        "Switch the proxy between L7 (per request) and L4 (per connection)",
    ),
    _b(
        "balancer.health",
        "h",
        "choose_health",
        "health",
        "Choose the health-check preset (playground, HAProxy, AWS ALB, NGINX Plus, off)",
    ),
    _b(
        "traffic.faster",
        "right_square_bracket",
        "rate(1)",
        "faster",
        "More traffic: next step up to 2000 requests per second",
        key_display="]",
    ),
    _b(
        "traffic.slower",
        "left_square_bracket",
        "rate(-1)",
        "slower",
        "Less traffic: next step down to 0",
        key_display="[",
    ),
    _b(
        "traffic.pause",
        "p,space",
        "pause",
        "pause",
        "Pause or resume generated traffic (your own curl still works)",
        show=True,
        key_display="p",
    ),
    _b(
        "traffic.burst",
        "b",
        "burst",
        "burst",
        "Fire a burst of 300 requests at once",
        show=True,
    ),
    _b(
        "traffic.reset",
        "R",
        "reset",
        "reset",
        "Reset the lab: starting fleet, algorithm, health checks and traffic",
    ),
    _b(
        "view.feed",
        "f",
        "hold_feed",
        "pick request",
        "Hold the request feed to pick a request: why it went there shows under the feed;"
        " Enter tells the whole story, Esc goes live",
    ),
    _b(
        "view.events",
        "E",
        "hold_events",
        "pick event",
        "Hold the events to read one in full (↑↓), Esc goes live",
    ),
    _b(
        "view.next",
        "v",
        "next_view",
        "view",
        "Next panel: in a small terminal, requests → charts → events; in a big one, each large",
    ),
    _b(
        "view.quiz",
        "Q",
        "quiz",
        "quiz",
        "A quiz round: ten questions (in a lesson, on its topic), answers checked by lbplay",
    ),
    _b(
        "view.scale",
        "z",
        "at_scale",
        "at scale",
        "At scale: this algorithm and random, round robin, least connections, two choices"
        " over 1,000 simulated servers at 90% load (lbplay sim)",
    ),
    _b(
        "view.theme",
        "t",
        "next_theme",
        "theme",
        "Next theme: dark → light → high contrast (for projectors) → dark",
    ),
    *LESSON,
]

#: The app's own keys (``LbplayApp.BINDINGS``): they work on every screen.
APP: list[BindingType] = [
    _b("app.help", "question_mark,f1", "help", "help", "Show every key", show=True),
    _b(
        "app.palette",
        "ctrl+p",
        "command_palette",
        "commands",
        "Open the command palette: type what you want to do",
    ),
    _b("app.quit", "q,ctrl+q", "quit", "quit", "Quit (stops the lab)", show=True, key_display="q"),
]

_KEY_NAMES = {
    "question_mark": "?",
    "plus": "+",
    "minus": "-",
    "equals_sign": "=",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "up": "↑",
    "down": "↓",
    "delete": "del",
}


def key_label(binding: Binding) -> str:
    """How the keys of ``binding`` are written in help: ``?`` / ``f1``, ``x`` / ``del``."""
    keys = [_KEY_NAMES.get(key, key) for key in binding.key.split(",")]
    if binding.key_display and binding.key_display not in keys:
        keys = [binding.key_display]
    elif binding.key_display:
        keys.remove(binding.key_display)
        keys.insert(0, binding.key_display)
    return " / ".join(keys)


@dataclass(frozen=True)
class HelpRow:
    """One line of the help screen (and of the README table)."""

    group: str
    keys: str
    description: str
    help: str


def only_bindings(items: Iterable[BindingType]) -> list[Binding]:
    """The ``Binding`` objects among ``items`` (Textual also allows tuples; lbplay
    writes every key as a ``Binding``, with an id)."""
    return [item for item in items if isinstance(item, Binding)]


def help_rows(bindings: Iterable[BindingType] | None = None) -> list[HelpRow]:
    """Rows for every binding, grouped and in order; bindings sharing an id (1–9) and
    the up/down pair become one row."""
    bindings = only_bindings(bindings if bindings is not None else [*DASHBOARD, *APP])
    rows: list[HelpRow] = []
    seen: set[str] = set()
    for group in GROUPS:
        members = [b for b in bindings if (b.id or "").split(".")[0] == group]
        if group == "select":
            arrows = [b for b in members if b.id in ("select.up", "select.down")]
            if arrows:
                rows.append(
                    HelpRow(
                        group, " / ".join(key_label(b) for b in arrows), "select", _arrows_help()
                    )
                )
                seen.update(b.id or "" for b in arrows)
        for binding in members:
            if binding.id in seen:
                continue
            seen.add(binding.id or "")
            rows.append(HelpRow(group, key_label(binding), binding.description, binding.tooltip))
    return rows


def _arrows_help() -> str:
    return "Select the backend above or below"


def markdown_table(rows: Sequence[HelpRow] | None = None) -> str:
    """The README's key table: ``| Key | What it does |``."""
    rows = help_rows() if rows is None else rows
    lines = ["| Key | What it does |", "|---|---|"]
    for row in rows:
        keys = " / ".join(f"`{key}`" for key in row.keys.split(" / "))
        lines.append(f"| {keys} | {row.help} |")
    return "\n".join(lines)


def palette_bindings(bindings: Iterable[BindingType]) -> list[Binding]:
    """One binding per command for the command palette (no 1–9, no arrows)."""
    chosen: list[Binding] = []
    seen: set[str] = set()
    for binding in only_bindings(bindings):
        if not binding.id or binding.id in seen or binding.id.startswith("select."):
            continue
        if binding.id == "app.palette":
            continue
        seen.add(binding.id)
        chosen.append(binding)
    return chosen
