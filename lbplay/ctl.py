"""``lbplay ctl``: change a running lab from another terminal, through its admin API.

    lbplay ctl [--admin URL --token TOKEN] COMMAND [ARGS...]
    lbplay ctl kill s2          lbplay ctl slow s3 300        lbplay ctl state

Every change is a control of ``model.controls``: its words are read by the same
parser as the command palette, lessons and scenarios, and sent as the control's
JSON form to ``POST /control``; the help is generated from the same table, so it
works with no lab running (``lbplay ctl --help``, ``lbplay ctl slow --help``).
Two more commands read: ``state`` and ``events``. The lab is found through the run
file a running lab writes (or ``--admin URL`` with ``--token``); errors come back
as one line.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from lbplay.core.backends import check_name
from lbplay.core.events import KINDS
from lbplay.errors import AdminUnreachable, ConfigError
from lbplay.model import controls
from lbplay.model.numbers import parse_whole
from lbplay.model.snapshot import BackendView
from lbplay.model.status import state_text
from lbplay.runfile import read_runfile, running_labs

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

#: The commands that read instead of change: name → (usage, help).
READS: dict[str, tuple[str, str]] = {
    "state": ("state", "Show the backends, the algorithm, the mode and the traffic."),
    "events": (
        "events [--kind KINDS] [--backend NAME] [--limit N] [--follow]",
        "Show the latest events: health changes, controls, lost sessions and notices"
        " (--kind request,health,control,session,notice picks; --follow keeps printing).",
    ),
}
GLOBAL_HELP = (
    "  --admin URL      the admin API's URL (default: from the run file)\n"
    "  --token TOKEN    the admin token (default: from the run file)\n"
    "  -h, --help       this help; 'lbplay ctl COMMAND --help' for one command"
)


class AdminClient:
    """A tiny synchronous client of the admin API (standard library only)."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        try:
            request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
            request.add_header("Authorization", f"Bearer {self.token}")
        except ValueError:
            raise ConfigError(f"bad admin URL {self.url!r}: use http://host:port") from None
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read()).get("error", error.reason)
            except (ValueError, AttributeError):
                message = error.reason
            raise ConfigError(str(message)) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise AdminUnreachable(
                f"no lab answers at {self.url} ({reason}); is 'lbplay serve' or 'lbplay' running?"
            ) from None


def _check_token(token: str) -> str:
    if not token or not token.isascii() or not token.isprintable():
        raise ConfigError("bad --token: a token is printable ASCII (see the run file)")
    return token


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")) or not url.isascii() or " " in url:
        raise ConfigError(f"bad --admin {url!r}: use the admin URL, e.g. http://127.0.0.1:8001")
    return url


def split_globals(args: Sequence[str]) -> tuple[str | None, str | None, bool, list[str]]:
    """(admin, token, help wanted, the command's words) from ``ctl``'s arguments."""
    admin = token = None
    wanted = False
    rest = list(args)
    while rest and rest[0].startswith("-"):
        word = rest.pop(0)
        name, eq, value = word.partition("=")
        if name in ("-h", "--help"):
            wanted = True
            continue
        if name not in ("--admin", "--token"):
            raise ConfigError(f"ctl has no option {name!r} (options: --admin, --token, --help)")
        if not eq:
            if not rest:
                raise ConfigError(f"{name} needs a value")
            value = rest.pop(0)
        if name == "--admin":
            admin = _check_url(value)
        else:
            token = _check_token(value)
    if any(word in ("-h", "--help") for word in rest):
        wanted = True
        rest = [w for w in rest if w not in ("-h", "--help")]
    return admin, token, wanted, rest


def connect(admin: str | None, token: str | None) -> AdminClient:
    """A client for ``--admin``/``--token``, or for the newest lab in the run file
    (saying which, when more than one is running)."""
    if admin is None or token is None:
        labs = running_labs()
        chosen = next((lab for lab in labs if lab.admin_url == admin), None) if admin else None
        info = chosen or read_runfile()
        if admin is None and len(labs) > 1:
            err.print(
                f"[dim]{len(labs)} labs are running; this talks to {info.describe()}:"
                " pick another with --admin URL[/]",
                soft_wrap=True,
            )
        admin = admin or info.admin_url
        token = token or info.token
    return AdminClient(admin, token)


def main(args: Sequence[str]) -> None:
    """Run ``lbplay ctl ARGS``."""
    admin, token, wanted, words = split_globals(args)
    if not words:
        show_help()
        return
    name = words[0].lower()
    if name in READS:
        if wanted:
            usage, text = READS[name]
            out.print(f"usage: lbplay ctl {usage}\n\n{text}")
            return
        read(name, words[1:], lambda: connect(admin, token))
        return
    if wanted:
        cls, _ = controls.lookup(words)
        show_control_help(cls)
        return
    control = controls.parse(words)
    outcome = connect(admin, token).call("POST", "/control", control.to_json())
    detail = f": {outcome['detail']}" if outcome.get("detail") else ""
    out.print(f"{outcome['action']}{detail}", soft_wrap=True)
    if outcome.get("watch"):
        out.print(f"[dim]watch: {outcome['watch']}[/]", soft_wrap=True)


def read(name: str, words: list[str], client: Callable[[], AdminClient]) -> None:
    """``state`` or ``events``: the arguments are checked before the lab is asked."""
    if name == "state":
        if words:
            raise ConfigError(f"state takes no arguments, not {words[0]!r}")
        show_state(client().call("GET", "/state"))
        return
    query = events_query(words)
    lab = client()
    if "--follow" not in words:
        show_events(lab.call("GET", f"/events?{urllib.parse.urlencode(query)}")["events"])
        return
    # Ctrl-C (SIGINT) stops following, from the start, and also when a script started
    # this in the background, which makes it ignore SIGINT (`lbplay serve` likewise
    # handles SIGINT itself).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = lab.call("GET", f"/events?{urllib.parse.urlencode(query)}")
        show_events(result["events"])
        query.pop("limit", None)
        while True:  # until Ctrl-C, the normal way to stop following
            time.sleep(FOLLOW_EVERY)
            query["since"] = str(result["last"])
            result = lab.call("GET", f"/events?{urllib.parse.urlencode(query)}")
            show_events(result["events"])
    except KeyboardInterrupt:
        return


#: How often ``events --follow`` asks for new events, in seconds.
FOLLOW_EVERY = 0.5
#: What ``events`` shows unless ``--kind`` says otherwise: everything but requests.
NOTABLE = "health,control,session,notice"


def events_query(words: list[str]) -> dict[str, str]:
    """The admin API's query for ``events`` options (checked before asking the lab)."""
    query = {"limit": "20", "kind": NOTABLE}
    rest = [w for w in words if w != "--follow"]
    while rest:
        word = rest.pop(0)
        option, eq, value = word.partition("=")
        if option not in ("--limit", "--kind", "--backend"):
            raise ConfigError(
                f"events has no option {word!r} (options: --kind, --backend, --limit, --follow)"
            )
        if not eq:
            if not rest:
                raise ConfigError(f"{option} needs a value")
            value = rest.pop(0)
        if option == "--limit":
            query["limit"] = str(parse_whole(value, "limit", 1, 1000, "events"))
        elif option == "--kind":
            kinds = [k.strip() for k in value.split(",")]
            unknown = [k for k in kinds if k not in KINDS]
            if unknown:
                raise ConfigError(f"no kind of event {unknown[0]!r} (kinds: {', '.join(KINDS)})")
            query["kind"] = ",".join(kinds)
        else:
            query["backend"] = check_name(value)
    return query


def show_events(events: list[dict[str, Any]]) -> None:
    for event in events:
        out.print(f"[dim]{event['type']:<20}[/] {event['text']}", soft_wrap=True)


def show_state(view: dict[str, Any]) -> None:
    """``ctl state``: the settings, then a table of the backends."""
    metrics = view["metrics"] if view["mode"] == "l7" else view["client_metrics"]
    out.print(
        f"{view['mode'].upper()} · {view['algorithm']} · proxy {view['proxy_url']} ·"
        f" traffic {'paused' if view['paused'] else str(view['rate']) + '/s'}"
    )
    if view.get("balancer_up") is False:
        out.print("[bold red]the balancer is DOWN[/]: every request fails ('balancer up' ends it)")
    pools = view.get("pools", {})
    if len(pools) > 1:
        out.print("pools: " + " · ".join(f"{n} {p['algorithm']}" for n, p in pools.items()))
    for route in view.get("routes", []):
        out.print(f"route: {route}")
    out.print(
        f"sessions: {view.get('session_mode', 'none')} · sticky {view.get('sticky', 'none')}"
        f" · lost {view.get('session_losses', 0)}"
    )
    table = Table()
    wide = out.width >= 100  # an 80-column terminal gets the state, not the address
    columns = ["backend", "state", "weight", "in flight", "req/s", "p99 ms"]
    if wide:
        columns.insert(1, "address")
    if len(pools) > 1:
        columns.insert(1, "pool")
    for column in columns:
        table.add_column(column, no_wrap=column != "state")
    for backend in view["backends"]:
        stats = metrics["backends"].get(backend["name"]) or {}
        p99 = stats.get("p99")
        cells = [
            backend["name"],
            state_text(BackendView.from_json(backend)),
            str(backend["weight"]),
            str(backend["in_flight"]),
            f"{stats.get('rps') or 0:.1f}",
            "—" if p99 is None else f"{p99 * 1000:.1f}",
        ]
        if wide:
            cells.insert(1, backend["address"] or "")
        if len(pools) > 1:
            cells.insert(1, backend["pool"])
        table.add_row(*cells)
    out.print(table)


def show_help() -> None:
    """Every command, grouped, with its usage: generated from the control table.

    In a terminal too narrow for usage and help side by side (80 columns), each
    help goes under its usage instead of wrapping into a thin column."""
    out.print("usage: lbplay ctl [--admin URL --token TOKEN] COMMAND [ARGS...]\n")
    out.print("Change a running lab ('lbplay serve' or the dashboard) from another terminal.\n")
    sections: list[tuple[str, list[tuple[str, str]]]] = [("Read", list(READS.values()))]
    for group, title in controls.GROUPS.items():
        rows = [
            (controls.usage(cls, short=True), cls.HELP)
            for cls in (controls.CONTROLS[name] for name in controls.control_names())
            if group == cls.GROUP
        ]
        sections.append((title, rows))
    widest = max(len(usage) for _, rows in sections for usage, _ in rows)
    if out.width < widest + 4 + 50:
        for title, rows in sections:
            out.print(f"[u]{title}[/]")
            for usage, text in rows:
                out.print(f"  [bold]{escape(usage)}[/]")
                out.print(Padding(Text(text), (0, 0, 0, 6)))
    else:
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for title, rows in sections:
            table.add_row(f"[u]{title}[/]", "")
            for usage, text in rows:
                table.add_row(f"  {escape(usage)}", text)
        out.print(table)
    out.print(f"\noptions:\n{GLOBAL_HELP}")


def show_control_help(cls: type[controls.Control]) -> None:
    """One control's usage, help and arguments."""
    aliases = f" (also: {', '.join(cls.ALIASES)})" if cls.ALIASES else ""
    out.print(f"usage: lbplay ctl {controls.usage(cls)}{aliases}\n\n{cls.HELP}\n")
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for spec in cls.ARGS:
        name = spec.option if not spec.positional or spec.kind == "flag" else spec.name.upper()
        table.add_row(f"  {name}", spec.help)
    if cls.ARGS:
        out.print(table)
    out.print(f"\nexample: lbplay ctl {example(cls)}")


def example(cls: type[controls.Control]) -> str:
    """A filled-in example of a control, from its usage."""
    return controls.EXAMPLES.get(cls.NAME, cls.NAME)
