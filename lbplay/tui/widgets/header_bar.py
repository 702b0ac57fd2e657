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

from textual.content import Content
from textual.markup import escape
from textual.widgets import Static

from lbplay.model.snapshot import LabSnapshot
from lbplay.tui.model import TrafficReading, fmt_rate


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
    when narrow) and, when the generator falls short, why."""
    narrow = width < NARROW
    measured = [] if narrow else [f"measured [b]{fmt_rate(traffic.measured)}/s[/]"]
    if traffic.users is not None:
        return [f"traffic [b]{traffic.users} users[/]", *measured]
    if traffic.paused:
        return [f"[$text-warning]traffic paused[/] ({fmt_rate(traffic.target)}/s)", *measured]
    if traffic.target == 0:
        return ["[$text-warning]no traffic[/] (press ])", *measured]
    if narrow:
        parts = [
            f"traffic [b]{fmt_rate(traffic.measured)}/s[/] of [b]{fmt_rate(traffic.target)}/s[/]"
        ]
    else:
        parts = [f"traffic target [b]{fmt_rate(traffic.target)}/s[/]", *measured]
    if traffic.behind:
        parts.append(f"[b $text-warning]⚠ cannot keep up:[/] {escape(traffic.behind)}")
    return parts


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
        if snap.panic:
            markup.append("[b #e070e0]PANIC: sending to every backend[/]")
        url = escape(snap.proxy_url)
        curl = [f"[b]curl {url}/hello[/]"]
        curl.append(
            "from another terminal — your request shows up in the feed"
            if width >= 90
            else "— it shows up in the feed"
        )
        if snap.mode == "l4":
            curl.append("[$text-warning]L4 balances connections, not requests (see Events)[/]")
        key = ("\n".join([*markup, *curl]), width)
        if key == self._shown:
            return
        self._shown = key
        separator = Content.from_markup(" [dim]·[/] ")
        lines = pack([Content.from_markup(m) for m in markup], separator, width)
        lines += pack([Content.from_markup(m) for m in curl], Content(" "), width)
        relayout = len(lines) != self._lines
        self._lines = len(lines)
        self.update(Content("\n").join(lines), layout=relayout)
