"""``lbplay ctl``: change a running lab from another terminal, through its admin API.

The lab is found through the run file ``lbplay serve`` writes (or ``--admin URL``
with ``--token``). Every command is one admin API call; errors come back as one line.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lbplay.errors import AdminUnreachable, ConfigError, LbplayError
from lbplay.runfile import read_runfile

ctl_app = typer.Typer(
    help="Change a running 'lbplay serve' from another terminal (via its admin API).",
    no_args_is_help=True,
)
out = Console(highlight=False)


class AdminClient:
    """A tiny synchronous client of the admin API (standard library only)."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
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
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise AdminUnreachable(
                f"no lab answers at {self.url} ({reason}); is 'lbplay serve' running?"
            ) from None


_state: dict[str, AdminClient] = {}


@ctl_app.callback()
def connect(
    admin: Annotated[
        str | None, typer.Option(help="Admin API URL (default: from the run file).")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Admin token (default: from the run file).")
    ] = None,
) -> None:
    """Change a running 'lbplay serve' from another terminal."""
    if admin is None or token is None:
        info = read_runfile()
        admin = admin or info.admin_url
        token = token or info.token
    _state["client"] = AdminClient(admin, token)


def client() -> AdminClient:
    return _state["client"]


def _done(message: str) -> None:
    out.print(message)


@ctl_app.command()
def state() -> None:
    """Show the backends, the algorithm, the mode and the traffic."""
    view = client().call("GET", "/state")
    metrics = view["metrics"] if view["mode"] == "l7" else view["client_metrics"]
    out.print(
        f"{view['mode'].upper()} · {view['algorithm']} · proxy {view['proxy_url']} ·"
        f" traffic {'paused' if view['paused'] else str(view['rate']) + '/s'}"
    )
    pools = view.get("pools", {})
    if len(pools) > 1:
        out.print("pools: " + " · ".join(f"{name} {alg}" for name, alg in pools.items()))
    for route in view.get("routes", []):
        out.print(f"route: {route}")
    out.print(
        f"sessions: {view.get('session_mode', 'none')} · sticky {view.get('sticky', 'none')}"
        f" · lost {view.get('session_losses', 0)}"
    )
    table = Table()
    columns = ["backend", "address", "state", "weight", "in flight", "req/s", "p99 ms"]
    if len(pools) > 1:
        columns.insert(1, "pool")
    for column in columns:
        table.add_column(column, no_wrap=column in ("backend", "address"))
    for backend in view["backends"]:
        stats = metrics["backends"].get(backend["name"]) or {}
        p99 = stats.get("p99")
        cells = [
            backend["name"],
            backend["address"] or "",
            "killed" if backend["process"] == "killed" else backend["status"],
            str(backend["weight"]),
            str(backend["in_flight"]),
            f"{stats.get('rps') or 0:.1f}",
            "—" if p99 is None else f"{p99 * 1000:.1f}",
        ]
        if len(pools) > 1:
            cells.insert(1, backend["pool"])
        table.add_row(*cells)
    out.print(table)


@ctl_app.command()
def kill(name: str) -> None:
    """Kill a backend: it stops listening and resets its connections."""
    client().call("POST", f"/backends/{name}/kill")
    _done(f"{name} killed")


@ctl_app.command()
def revive(name: str) -> None:
    """Bring a killed backend back on the same port."""
    client().call("POST", f"/backends/{name}/revive")
    _done(f"{name} revived")


@ctl_app.command()
def weight(name: str, value: Annotated[int, typer.Argument(help="New weight, 1-1000.")]) -> None:
    """Change a backend's weight."""
    client().call("POST", f"/backends/{name}/weight", {"weight": value})
    _done(f"{name} weight {value}")


@ctl_app.command()
def slow(
    name: str, ms: Annotated[float, typer.Argument(help="Extra milliseconds (0 undoes).")]
) -> None:
    """Add a delay to every response of a backend."""
    client().call("POST", f"/backends/{name}/slow", {"ms": ms})
    _done(f"{name} +{ms:g} ms")


@ctl_app.command()
def errors(
    name: str, rate: Annotated[float, typer.Argument(help="Share answering 500, 0-1.")]
) -> None:
    """Make a share of a backend's answers 500."""
    client().call("POST", f"/backends/{name}/errors", {"rate": rate})
    _done(f"{name} answers 500 to {rate:.0%} of requests")


@ctl_app.command()
def hang(
    name: str, off: Annotated[bool, typer.Option("--off", help="Stop hanging.")] = False
) -> None:
    """Make a backend accept requests and never answer (or --off)."""
    client().call("POST", f"/backends/{name}/hang", {"on": not off})
    _done(f"{name} {'answers again' if off else 'hangs'}")


@ctl_app.command()
def brownout(
    name: str, off: Annotated[bool, typer.Option("--off", help="End the brownout.")] = False
) -> None:
    """/health stays 200 while real requests fail (or --off)."""
    client().call("POST", f"/backends/{name}/brownout", {"on": not off})
    _done(f"{name} brownout {'off' if off else 'on'}")


@ctl_app.command()
def add(
    name: Annotated[str | None, typer.Argument(help="Name (default: the next sN).")] = None,
    weight: Annotated[int, typer.Option(help="Weight, 1-1000.")] = 1,
    backup: Annotated[bool, typer.Option(help="Use only when every primary is down.")] = False,
) -> None:
    """Start a new fake backend and add it to the pool."""
    body: dict[str, Any] = {"weight": weight, "backup": backup}
    if name:
        body["name"] = name
    added = client().call("POST", "/backends", body)["added"]
    _done(f"{added} added")


@ctl_app.command()
def remove(name: str) -> None:
    """Take a backend out of the pool and stop it."""
    client().call("DELETE", f"/backends/{name}")
    _done(f"{name} removed")


@ctl_app.command()
def algorithm(
    name: str,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="NAME=VALUE, e.g. vnodes=100.")
    ] = None,
    pool: Annotated[str, typer.Option(help="Which pool (content routing).")] = "default",
) -> None:
    """Switch the balancing algorithm, live."""
    from lbplay.cli import parse_options

    body = {"name": name, "options": parse_options(option or []), "pool": pool}
    result = client().call("POST", "/algorithm", body)
    where = "" if pool == "default" else f" in pool {pool}"
    _done(f"algorithm {result['algorithm']}{where}")


@ctl_app.command()
def mode(which: Annotated[str, typer.Argument(help="l7 or l4.")]) -> None:
    """Switch between L7 (per request) and L4 (per connection) on the same port."""
    result = client().call("POST", "/mode", {"mode": which.lower()})
    _done(f"mode {result['mode'].upper()}")


@ctl_app.command()
def traffic(
    rate: Annotated[float | None, typer.Option(help="Requests per second.")] = None,
    pause: Annotated[bool, typer.Option("--pause", help="Stop generated traffic.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Restart it.")] = False,
    burst: Annotated[int | None, typer.Option(help="Fire this many requests at once.")] = None,
) -> None:
    """Change the generated traffic."""
    if pause and resume:
        raise ConfigError("choose --pause or --resume, not both")
    body: dict[str, Any] = {}
    if rate is not None:
        body["rate"] = rate
    if pause or resume:
        body["paused"] = pause
    if body:
        result = client().call("POST", "/traffic", body)
        _done(f"traffic {'paused' if result['paused'] else str(result['rate']) + '/s'}")
    if burst is not None:
        client().call("POST", "/traffic/burst", {"count": burst})
        _done(f"burst of {burst} done")
    if not body and burst is None:
        raise ConfigError("nothing to change: give --rate, --pause, --resume or --burst")


@ctl_app.command()
def drain(
    name: str,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds before it is dropped anyway.")
    ] = None,
) -> None:
    """No new requests; in-flight ones finish (the ALB's deregistration delay)."""
    client().call("POST", f"/backends/{name}/drain", {"timeout": timeout})
    _done(f"{name} draining")


@ctl_app.command()
def disable(name: str) -> None:
    """Maintenance: take a backend out of rotation now."""
    client().call("POST", f"/backends/{name}/disable")
    _done(f"{name} disabled")


@ctl_app.command()
def enable(name: str) -> None:
    """Put a drained or disabled backend back into rotation."""
    client().call("POST", f"/backends/{name}/enable")
    _done(f"{name} enabled")


@ctl_app.command()
def backup(
    name: str, off: Annotated[bool, typer.Option("--off", help="Make it a primary.")] = False
) -> None:
    """Make a backend a backup: used only when every primary is unavailable."""
    client().call("POST", f"/backends/{name}/backup", {"on": not off})
    _done(f"{name} {'is a primary' if off else 'is a backup'}")


@ctl_app.command("max-conns")
def max_conns(
    name: str, limit: Annotated[str, typer.Argument(help="A number, or 'none'.")]
) -> None:
    """Limit a backend's requests in flight; beyond it requests queue (HAProxy maxconn)."""
    value = None if limit.lower() == "none" else _whole(limit, "limit")
    client().call("POST", f"/backends/{name}/max-conns", {"limit": value})
    _done(f"{name} max_conns {limit}")


@ctl_app.command()
def health(
    preset: Annotated[
        str | None, typer.Option(help="playground, haproxy, aws-alb or nginx-plus.")
    ] = None,
    scale: Annotated[float, typer.Option(help="Multiply the preset's times (demo).")] = 1.0,
    off: Annotated[bool, typer.Option("--off", help="Turn active checks off.")] = False,
    on: Annotated[bool, typer.Option("--on", help="Turn them back on.")] = False,
) -> None:
    """Change the active health checks."""
    body: dict[str, Any] = {}
    if preset:
        body.update(preset=preset, scale=scale)
    if off or on:
        body["enabled"] = on
    if not body:
        raise ConfigError("nothing to change: give --preset, --off or --on")
    _done(f"health checks: {client().call('POST', '/health', body)['health']}")


@ctl_app.command()
def passive(
    max_fails: Annotated[
        int | None, typer.Option(help="nginx: failures within --fail-timeout that count.")
    ] = None,
    fail_timeout: Annotated[float, typer.Option(help="nginx: window and sentence, s.")] = 10.0,
    outlier: Annotated[
        int | None, typer.Option(help="Envoy: consecutive failures that eject.")
    ] = None,
    ejection_time: Annotated[float, typer.Option(help="Envoy: base ejection time, s.")] = 30.0,
) -> None:
    """Set passive health (nginx max_fails, Envoy outlier ejection); no option: off."""
    body: dict[str, Any] = {"nginx": None, "outlier": None}
    if max_fails is not None:
        body["nginx"] = {"max_fails": max_fails, "fail_timeout": fail_timeout}
    if outlier is not None:
        body["outlier"] = {
            "consecutive": outlier,
            "base_ejection_time": ejection_time,
            "max_ejection_time": max(300.0, ejection_time),
        }
    client().call("POST", "/passive", body)
    _done("passive health " + ("updated" if max_fails or outlier else "off"))


@ctl_app.command()
def panic(threshold: Annotated[float, typer.Argument(help="0-1; 0 turns panic off.")]) -> None:
    """Envoy's panic threshold: below it, balance across unhealthy backends too."""
    client().call("POST", "/panic", {"threshold": threshold})
    _done(f"panic threshold {threshold:.0%}" if threshold else "panic mode off")


@ctl_app.command("slow-start")
def slow_start(
    seconds: Annotated[float, typer.Argument(help="Ramp time; 0 turns it off.")],
) -> None:
    """Ramp a returning backend's weight from 10% to 100% over this many seconds."""
    client().call("POST", "/slow-start", {"seconds": seconds})
    _done(f"slow start {seconds:g} s" if seconds else "slow start off")


def _whole(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{what} must be a whole number or 'none', not {text!r}") from None


@ctl_app.command()
def sticky(
    mode: Annotated[str, typer.Argument(help="none, cookie, ip, ip/24, header:NAME, query:NAME.")],
) -> None:
    """Session affinity (sticky sessions), live."""
    _done(f"sticky {client().call('POST', '/sticky', {'mode': mode})['sticky']}")


@ctl_app.command()
def sessions(
    mode: Annotated[str | None, typer.Argument(help="none, cookie, ip, header or shared.")] = None,
    store: Annotated[
        str | None, typer.Option(help="Shared store: memory or redis://host:port/db.")
    ] = None,
    logins: Annotated[
        bool | None, typer.Option("--logins/--no-logins", help="Generated users log in.")
    ] = None,
) -> None:
    """Choose how sessions survive: a classic set-up, where shared sessions live."""
    body: dict[str, Any] = {}
    if store is not None:
        body["store"] = store
    if mode is not None:
        body["mode"] = mode
    if logins is not None:
        body["logins"] = logins
    if not body:
        raise ConfigError("nothing to change: give a mode, --store or --logins")
    result = client().call("POST", "/sessions", body)
    _done(f"sessions: {result['mode']} · store: {result['store']}")


@ctl_app.command()
def routes(
    rules: Annotated[
        list[str] | None,
        typer.Argument(help="Rules like 'path=/api->api' (first match wins); none clears."),
    ] = None,
) -> None:
    """Replace the content-routing rules."""
    result = client().call("POST", "/routes", {"rules": rules or []})
    _done("routes: " + ("; ".join(result["routes"]) or "none"))


@ctl_app.command()
def pool(
    action: Annotated[str, typer.Argument(help="add or remove.")],
    name: str,
    backends: Annotated[int, typer.Option(help="Backends in a new pool.")] = 2,
    algorithm: Annotated[str, typer.Option(help="Its algorithm.")] = "round_robin",
) -> None:
    """Add or remove a pool of backends (for routes)."""
    if action == "add":
        body = {"name": name, "backends": backends, "algorithm": algorithm}
        client().call("POST", "/pools", body)
        _done(f"pool {name} added")
    elif action == "remove":
        client().call("DELETE", f"/pools/{name}")
        _done(f"pool {name} removed")
    else:
        raise ConfigError(f"pool action must be add or remove, not {action!r}")


@ctl_app.command()
def events(
    limit: Annotated[int, typer.Option(help="How many of the latest events.")] = 20,
) -> None:
    """Show the latest events (health changes, retries, control actions, ...)."""
    result = client().call("GET", f"/events?limit={limit}")
    for event in result["events"]:
        out.print(f"[dim]{event['type']:<20}[/] {event['text']}")


def is_user_error(error: LbplayError) -> bool:
    return isinstance(error, ConfigError | AdminUnreachable)
