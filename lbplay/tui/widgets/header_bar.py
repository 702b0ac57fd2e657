"""The top bar: what the balancer is doing and where to curl it.

It shows the algorithm, L4/L7, the session mode, the health-check preset, the
traffic — the rate asked for *and* the rate measured, with a warning when the
generator cannot deliver what was asked (``model.TrafficWatch``) — Envoy panic mode
when it is on, and the proxy's URL, so a learner can ``curl`` it from another
terminal and watch the request arrive in the feed.

The parts are packed into lines here (not wrapped by the layout), so the bar knows
its height: a change that keeps the number of lines redraws the bar alone instead
of re-laying-out the screen.
"""

from __future__ import annotations

from functools import lru_cache

from textual.content import Content
from textual.markup import escape
from textual.widgets import Static

from lbplay.model.snapshot import LabSnapshot
from lbplay.tui.model import TrafficReading, fmt_rate

#: Markup parsed once per distinct text: the header is rebuilt whenever a rate moves,
#: but most of its parts (algorithm, mode, the curl line) stay the same for minutes.
_content = lru_cache(maxsize=256)(Content.from_markup)


def pack(parts: list[Content], separator: Content, width: int) -> list[Content]:
    """Greedily put ``parts`` on as few lines of ``width`` cells as they fit on."""
    lines: list[Content] = []
    line: Content | None = None
    for part in parts:
        if line is None:
            line = part
        elif line.cell_length + separator.cell_length + part.cell_length <= width:
            line = line + separator + part
        else:
            lines.append(line)
            line = part
    if line is not None:
        lines.append(line)
    return lines


#: Below this width the traffic is one short part: ``traffic 1.4k/s of 2.0k/s``.
NARROW = 100


def traffic_parts(traffic: TrafficReading, width: int = NARROW) -> list[str]:
    """``traffic target 2.0k/s``, ``measured 1.4k/s`` (``traffic 1.4k/s of 2.0k/s``
    when narrow)."""
    narrow = width < NARROW
    measured = [] if narrow else [f"measured [b]{fmt_rate(traffic.measured)}/s[/]"]
    if traffic.users is not None:
        return [f"traffic [b]{traffic.users} users[/]", *measured]
    if traffic.paused:
        return [f"[$text-warning]traffic paused[/] ({fmt_rate(traffic.target)}/s)", *measured]
    if traffic.target == 0:
        return ["[$text-warning]no traffic[/] (press ])", *measured]
    if narrow:
        return [
            f"traffic [b]{fmt_rate(traffic.measured)}/s[/] of [b]{fmt_rate(traffic.target)}/s[/]"
        ]
    return [f"traffic target [b]{fmt_rate(traffic.target)}/s[/]", *measured]


def alert_parts(snap: LabSnapshot, traffic: TrafficReading) -> list[str]:
    """What must not be missed: the balancer down, the generator falling short, Envoy
    panic mode."""
    alerts = []
    if not snap.balancer_up:
        alerts.append("[b $text-error]BALANCER DOWN: every request fails (balancer up)[/]")
    if traffic.behind:
        alerts.append(f"[b $text-warning]⚠ cannot keep up:[/] {escape(traffic.behind)}")
    if snap.panic:
        alerts.append("[b #e070e0]PANIC: sending to every backend[/]")
    return alerts


def header_lines(
    settings: list[Content],
    alerts: list[Content],
    curl: Content,
    hint: Content,
    notes: list[Content],
    width: int,
) -> list[Content]:
    """The settings, then the alerts right under the traffic numbers, the curl line
    (with its hint when it fits) and notes. Settings that spill onto a second line
    share it with the curl command, so a small terminal keeps a row for the feed."""
    separator = Content.from_markup(" [dim]·[/] ")
    lines = pack(settings, separator, width)
    curl_line = curl
    spilled = len(lines) > 1
    if spilled and lines[-1].cell_length + separator.cell_length + curl.cell_length <= width:
        curl_line = lines.pop() + separator + curl
    else:
        spilled = False
    if curl_line.cell_length + 1 + hint.cell_length <= width:
        curl_line = curl_line + Content(" ") + hint
    elif not spilled:  # the hint on a line of its own rather than not at all
        curl_line = Content("\n").join(pack([curl, hint], Content(" "), width))
    alert_lines = pack(alerts, separator, width)
    if spilled:
        return [*lines, curl_line, *alert_lines, *pack(notes, separator, width)]
    return [*lines, *alert_lines, curl_line, *pack(notes, separator, width)]


class HeaderBar(Static):
    """Settings and the proxy URL, packed into as many lines as the width needs."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("starting the lab…", id=id)
        self._shown: tuple[str, int] | None = None
        self._lines = 1

    def show(self, snap: LabSnapshot, traffic: TrafficReading) -> None:
        """Describe ``snap`` (attributes down: the dashboard calls this each tick)."""
        width = max(self.content_region.width, 40)
        markup = [
            *(["[b $text-accent]lbplay[/]"] if width >= 100 else []),
            f"[b]{escape(snap.algorithm)}[/]",
            f"[b]{snap.mode.upper()}[/]",
            f"sessions [b]{escape(snap.session_mode)}[/]",
            f"health [b]{escape(snap.health_name)}[/]",
            *traffic_parts(traffic, width),
        ]
        alerts = alert_parts(snap, traffic)
        curl = f"[b]curl {escape(snap.proxy_url)}/hello[/]"
        hint = (
            "from another terminal — your request shows up in the feed"
            if width >= 90
            else "— it shows up in the feed"
        )
        notes = []
        if snap.mode == "l4":
            notes.append("[$text-warning]L4 balances connections, not requests (see Events)[/]")
        key = ("\n".join([*markup, *alerts, curl, hint, *notes]), width)
        if key == self._shown:
            return
        self._shown = key
        lines = header_lines(
            [_content(m) for m in markup],
            [_content(m) for m in alerts],
            _content(curl),
            _content(hint),
            [_content(m) for m in notes],
            width,
        )
        text = Content("\n").join(lines)
        height = len(text.plain.splitlines())
        relayout = height != self._lines
        self._lines = height
        self.update(text, layout=False)
        if relayout:
            # Set, not left to ``height: auto``: beside a docked panel (the lesson
            # pane) an auto height measured at another width stayed stale.
            self.styles.height = height
