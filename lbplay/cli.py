"""The ``lbplay`` command line (Typer). Commands parse, then call the core.

User mistakes raise ``LbplayError`` (or Click's usage errors); ``main`` prints them
as one line on stderr and exits 2, never with a traceback.
"""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lbplay import __version__
from lbplay.clihelp import FLAG, Command, Group
from lbplay.core import registry
from lbplay.core.backends import Backend, parse_backends
from lbplay.core.explore import key_movement, pick_sequence
from lbplay.demo import demo as demo_command
from lbplay.errors import LbplayError
from lbplay.export_cli import export_command
from lbplay.interview import interview_app
from lbplay.learn import lessons_app
from lbplay.model import controls
from lbplay.model.control_args import parse_options
from lbplay.quiz import quiz as quiz_command
from lbplay.resources import assets_dir, lessons_dir
from lbplay.sim_cli import sim_command

app = typer.Typer(
    name="lbplay",
    cls=Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
out = Console(highlight=False)
#: ``serve --max-body``'s default: 10 MiB.
MAX_BODY = 10 << 20
err = Console(stderr=True, highlight=False)


def _version(value: bool) -> None:
    if value:
        import platform

        from lbplay.net.eventloop import loop_name

        python = f"Python {platform.python_version()}"
        out.print(f"lbplay {__version__} ({python}, {loop_name()}, {_data_path()})")
        raise typer.Exit()


def _data_path() -> str:
    """How the L7 data path was installed: compiled with mypyc (``hatch_build.py``) or
    pure Python (an editable install, or a build without a C compiler)."""
    import importlib.util

    spec = importlib.util.find_spec("lbplay.net.proxy_http")
    compiled = spec is not None and spec.origin is not None and not spec.origin.endswith(".py")
    return "data path compiled with mypyc" if compiled else "data path in pure Python"


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version.", metavar=FLAG
        ),
    ] = False,
    backends: Annotated[
        str,
        typer.Option(
            "--backends", "-n", help="Fake backends: a count, or NAME[:WEIGHT],... (a:5,b:3,c:2)."
        ),
    ] = "4",
    algorithm: Annotated[str, typer.Option("--algorithm", "-a", help="Starting algorithm.")] = (
        "round_robin"
    ),
    rate: Annotated[float, typer.Option(help="Generated requests per second.")] = 50.0,
    seed: Annotated[int, typer.Option(help="Seed for random algorithms and traffic.")] = 0,
) -> None:
    """A terminal playground for learning load balancing by breaking things.

    With no command, opens the live dashboard (press ? in it for every key)."""
    if ctx.invoked_subcommand is not None:
        return
    from lbplay.model.config import LabConfig, fleet
    from lbplay.tui.app import run

    run(LabConfig(backends=fleet(backends), algorithm=algorithm, rate=rate, seed=seed))


@app.command(cls=Command)
def algorithms(
    name: Annotated[
        str | None,
        typer.Argument(help="One algorithm to show in full, with its options."),
    ] = None,
) -> None:
    """List every algorithm: its idea and what nginx, HAProxy, Envoy and AWS call it."""
    if name is not None:
        _show_algorithm(registry.get(name))
        return
    wide = out.width >= 140
    table = Table(title="Load-balancing algorithms", title_justify="left", show_lines=not wide)
    table.add_column("name", no_wrap=True, style="bold")
    if wide:
        table.add_column("family")
    table.add_column("idea", ratio=3)
    if wide:
        for column in ("nginx", "HAProxy", "Envoy", "AWS"):
            table.add_column(column, ratio=1)
    else:
        table.add_column("called", ratio=2)
    for name in registry.names():
        info = registry.get(name)
        real = (info.nginx, info.haproxy, info.envoy, info.aws)
        if wide:
            table.add_row(info.name, info.family, info.idea, *real)
        else:
            labels = ("nginx", "HAProxy", "Envoy", "AWS")
            called = "\n".join(f"[dim]{k}[/] {v}" for k, v in zip(labels, real, strict=True))
            table.add_row(f"{info.name}\n[dim]{info.family}[/]", info.idea, called)
    out.print(table)
    out.print("[dim]lbplay algorithms NAME shows one in full, with its options.[/]")


def _show_algorithm(info: registry.AlgorithmInfo) -> None:
    """``lbplay algorithms NAME``: one algorithm, its real names, what it depends on
    and every option with its default (for ``-o key=value``)."""
    out.print(f"[b]{info.name}[/b] [dim]({info.family})[/]")
    out.print(info.idea, soft_wrap=True)
    out.print()
    for label, value in (
        ("nginx", info.nginx),
        ("HAProxy", info.haproxy),
        ("Envoy", info.envoy),
        ("AWS", info.aws),
    ):
        out.print(f"  {label:<8} {value}", soft_wrap=True, markup=False)
    depends = [
        what
        for what, flag in (
            ("backend weights", info.uses_weights),
            ("live load (requests in flight, latency or bytes)", info.uses_load),
            ("a hash of the client's address", info.hashes_address),
            (
                "a hash key (the client's address unless a header or key is hashed)",
                info.uses_key and not info.hashes_address,
            ),
            ("random numbers (seeded)", info.uses_random),
        )
        if flag
    ]
    out.print()
    out.print("Picks depend on: " + ("; ".join(depends) if depends else "nothing but the order"))
    if info.fleet_note:
        out.print(f"When backends come and go: {info.fleet_note}", soft_wrap=True)
    out.print()
    if not info.options:
        out.print("Options: none.")
    else:
        out.print(
            f"Options (lbplay ctl algorithm {info.name} -o KEY=VALUE; lbplay pick -o too):",
            markup=False,
        )
        for key, option in info.options.items():
            out.print(f"  {key} = {option.default!r}  [dim]{option.help}[/]", soft_wrap=True)
    out.print()
    out.print(f"[dim]Try it: lbplay pick {info.name}[/]")


@app.command(cls=Command)
def info() -> None:
    """Show the version and where lbplay's lessons and assets are installed."""
    out.print(f"lbplay {__version__}")
    out.print(f"lessons: {lessons_dir()}", soft_wrap=True)
    out.print(f"assets:  {assets_dir()}", soft_wrap=True)


@app.command(cls=Command)
def pick(
    algorithm: Annotated[str, typer.Argument(help="Algorithm name (see 'lbplay algorithms').")],
    backends: Annotated[
        str,
        typer.Option("--backends", "-b", help="Backends as NAME[:WEIGHT],... e.g. a:5,b:1,c:1."),
    ] = "a,b,c",
    count: Annotated[
        int, typer.Option("-n", "--count", min=1, max=10_000, help="How many picks.")
    ] = 7,
    key: Annotated[
        str | None, typer.Option("--key", "-k", help="Hash key for every pick (hash algorithms).")
    ] = None,
    client_ip: Annotated[
        str | None, typer.Option("--client-ip", help="Client address, e.g. 10.0.0.7 (ip_hash).")
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove", help="Remove this backend and count how many keys move."),
    ] = None,
    add: Annotated[
        list[str] | None,
        typer.Option("--add", help="Add NAME[:WEIGHT] and count how many keys move."),
    ] = None,
    hold: Annotated[
        bool,
        typer.Option("--hold", help="Keep every request in flight (long requests).", metavar=FLAG),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for random algorithms.")] = 0,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Algorithm option NAME=VALUE, e.g. vnodes=100."),
    ] = None,
) -> None:
    """Show a sequence of picks and why each was made, or keys moved (--remove/--add).

    With --remove or --add: how many of 10,000 keys move to another backend.

    Each request completes before the next unless --hold keeps them in flight; hash
    algorithms hash user1, user2, ... unless --key or --client-ip is given."""
    info = registry.get(algorithm)
    fleet = parse_backends(backends)
    options = parse_options(option or [])
    if remove or add:
        added: list[Backend] = parse_backends(",".join(add)) if add else []
        _show_movement(info.name, fleet, remove or [], added, options, seed)
        return
    rows = pick_sequence(
        info.name,
        fleet,
        count,
        key=key,
        client_ip=client_ip,
        hold=hold,
        seed=seed,
        options=options,
    )
    table = Table(title=f"{info.name} over {backends}", title_justify="left")
    table.add_column("#", justify="right")
    if info.uses_key:
        table.add_column("client" if info.hashes_address else "key")
    table.add_column("backend", style="bold")
    table.add_column("why", overflow="fold")
    for row in rows:
        cells = [str(row.number)]
        if info.uses_key:
            cells.append(row.key or "")
        table.add_row(*cells, row.backend, row.reason)
    out.print(table)
    totals = {b.name: 0 for b in fleet}
    for row in rows:
        totals[row.backend] += 1
    share = "  ".join(f"{n} {c} ({100 * c / len(rows):.0f}%)" for n, c in totals.items())
    out.print(f"picks: {share}")


def _show_movement(
    algorithm: str,
    fleet: list[Backend],
    remove: list[str],
    add: list[Backend],
    options: dict[str, Any],
    seed: int,
) -> None:
    movement = key_movement(algorithm, fleet, remove=remove, add=add, options=options, seed=seed)
    change = " and ".join(
        part
        for part in (
            f"removing {', '.join(remove)}" if remove else "",
            f"adding {', '.join(b.name for b in add)}" if add else "",
        )
        if part
    )
    ideal = movement.minimum
    out.print(
        f"{algorithm}: {change} moves [bold]{movement.moved:,}[/] of {movement.keys:,} keys"
        f" ({100 * movement.moved_share:.1f}%) to another backend."
    )
    out.print(
        f"  {movement.forced:,} had to move (their backend left),"
        f" {movement.to_added:,} moved from a remaining backend to the new one(s),"
        f" {movement.needless:,} moved between backends that stayed."
    )
    out.print(f"  Minimum possible here: {ideal:,} ({100 * ideal / movement.keys:.1f}%).")
    before = "  ".join(f"{n}={c}" for n, c in sorted(movement.before.items()))
    after = "  ".join(f"{n}={c}" for n, c in sorted(movement.after.items()))
    out.print(f"  keys per backend before: {before}")
    out.print(f"  keys per backend after:  {after}")
    note = registry.get(algorithm).fleet_note
    if note:
        out.print(f"  Note: {note}.")


def _is_usage_error(error: Exception) -> bool:
    """Typer's (vendored Click's) usage errors, recognised by their public shape."""
    return hasattr(error, "format_message") and hasattr(error, "exit_code")


@app.command(cls=Command)
def serve(
    backends: Annotated[
        str,
        typer.Option(
            "--backends", "-n", help="Fake backends: a count, or NAME[:WEIGHT],... e.g. a:5,b:3."
        ),
    ] = "4",
    backend: Annotated[
        list[str] | None,
        typer.Option("--backend", help="Balance a real server http://host:port (repeat)."),
    ] = None,
    backups: Annotated[
        int, typer.Option(help="Extra fake backends used only as backups (0-16).")
    ] = 0,
    algorithm: Annotated[str, typer.Option("--algorithm", "-a", help="Algorithm name.")] = (
        "round_robin"
    ),
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Algorithm option NAME=VALUE.")
    ] = None,
    l4: Annotated[
        bool, typer.Option("--l4", help="Balance TCP connections, not requests.", metavar=FLAG)
    ] = (False),
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback unless you mean it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Proxy port (0: any free).")] = 0,
    admin_port: Annotated[int, typer.Option(help="Admin API port (0: any free).")] = 0,
    rate: Annotated[float, typer.Option(help="Generated requests per second (0-5000).")] = 0.0,
    retries: Annotated[int, typer.Option(help="Attempts per request, 1-20 (1: no retries).")] = 3,
    retry_on: Annotated[
        str, typer.Option(help="Answers also retried on another backend, e.g. 502,503.")
    ] = "none",
    trust: Annotated[
        list[str] | None,
        typer.Option("--trust", help="Believe X-Forwarded-For from this address/network."),
    ] = None,
    hash_header: Annotated[
        str | None, typer.Option(help="Header that hash algorithms hash (default: client IP).")
    ] = None,
    read_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a backend's answer (504).")
    ] = 5.0,
    max_body: Annotated[
        int, typer.Option(help="Largest request body in bytes (413 beyond).")
    ] = MAX_BODY,
    health: Annotated[
        str, typer.Option(help="Health check preset: playground, haproxy, aws-alb, nginx-plus.")
    ] = "playground",
    health_scale: Annotated[
        float, typer.Option(help="Multiply the preset's interval and timeout (demos).")
    ] = 1.0,
    no_health: Annotated[
        bool, typer.Option("--no-health", help="No active checks.", metavar=FLAG)
    ] = False,
    max_fails: Annotated[
        int | None, typer.Option(help="nginx passive health: failures that count.")
    ] = None,
    fail_timeout: Annotated[float, typer.Option(help="nginx: window and sentence, s.")] = 10.0,
    outlier: Annotated[
        int | None, typer.Option(help="Envoy outlier ejection after N consecutive failures.")
    ] = None,
    ejection_time: Annotated[float, typer.Option(help="Envoy: base ejection time, s.")] = 30.0,
    panic: Annotated[float, typer.Option(help="Panic threshold, 0-1 (0 = off).")] = 0.5,
    slow_start: Annotated[
        float, typer.Option(help="Seconds of slow start for a returning backend.")
    ] = 0.0,
    drain_timeout: Annotated[float, typer.Option(help="Longest drain, s.")] = 30.0,
    max_conns: Annotated[
        int | None, typer.Option(help="Requests in flight per backend; more queue.")
    ] = None,
    queue_timeout: Annotated[
        float, typer.Option(help="Longest wait in the queue before 503, s.")
    ] = 5.0,
    sticky: Annotated[
        str,
        typer.Option(help="Session affinity: none, cookie, ip, ip/24, header:NAME, query:NAME."),
    ] = "none",
    cookie_ttl: Annotated[
        float, typer.Option(help="Seconds an affinity cookie lasts (the ALB's: 86400).")
    ] = 86_400.0,
    sessions: Annotated[
        str, typer.Option(help="Where sessions live: local, shared or redis://host:port/db.")
    ] = "local",
    logins: Annotated[
        bool, typer.Option("--logins", help="Generated users log in and browse.", metavar=FLAG)
    ] = False,
    nat: Annotated[
        str,
        typer.Option(help="Generated clients: off (own networks), subnet (one /24), address."),
    ] = "off",
    mix: Annotated[
        str,
        typer.Option(
            help="What they ask for: pages, downloads (1 in 10 is 1 MB) or site (ALB case study)."
        ),
    ] = "pages",
    pool: Annotated[
        list[str] | None,
        typer.Option("--pool", help="Extra pool NAME=COUNT[:ALGORITHM] (repeat)."),
    ] = None,
    route: Annotated[
        list[str] | None,
        typer.Option("--route", help="Routing rule, e.g. 'path=/api->api' (repeat, in order)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for random algorithms and traffic.")] = 0,
    live: Annotated[
        bool, typer.Option("--live/--no-live", help="Redraw a table of the backends.", metavar=FLAG)
    ] = True,
) -> None:
    """Run the balancer headless: fake (or real) backends behind a real proxy.

    Prints the proxy URL to curl and the admin URL for 'lbplay ctl'; Ctrl-C stops."""
    from lbplay.core.affinity import AffinityConfig
    from lbplay.core.health import preset
    from lbplay.core.passive import NginxPassive, OutlierDetection, nginx_failures
    from lbplay.core.routing import Rule
    from lbplay.model.config import LabConfig, PoolSpec, ProxyConfig, RetryPolicy
    from lbplay.model.numbers import whole
    from lbplay.net import eventloop
    from lbplay.serve import run

    registry.get(algorithm)
    checks = None if no_health else preset(health, health_scale)
    retry = controls.parse(["retries", str(retries), "--on", retry_on])
    assert isinstance(retry, controls.Retries)
    counts = nginx_failures(retry.on)  # what nginx max_fails counts: what is retried
    nginx = NginxPassive(max_fails, fail_timeout, counts) if max_fails is not None else None
    envoy = (
        OutlierDetection(outlier, ejection_time, max(300.0, ejection_time))
        if outlier is not None
        else None
    )
    proxy = ProxyConfig(
        read_timeout=read_timeout,
        max_body=max_body,
        retry=RetryPolicy(tries=retry.tries, on_status=retry.on),
        trusted_proxies=tuple(trust or ()),
        hash_header=hash_header,
        queue_timeout=queue_timeout,
    )
    config = LabConfig(
        backends=backends,
        backups=backups,
        real_backends=tuple(backend or ()),
        algorithm=algorithm,
        options=parse_options(option or []),
        mode="l4" if l4 else "l7",
        proxy=proxy,
        rate=rate,
        seed=seed,
        health=checks,
        passive_nginx=nginx,
        passive_outlier=envoy,
        panic_threshold=panic,
        slow_start=slow_start,
        drain_timeout=drain_timeout,
        max_conns=max_conns,
        sticky=controls.Sticky(AffinityConfig.parse(sticky), cookie_ttl).config(),
        sessions=sessions,
        logins=logins,
        nat=nat,
        mix=mix,
        pools=tuple(PoolSpec.parse(p) for p in pool or ()),
        routes=tuple(Rule.parse(r) for r in route or ()),
    )
    whole(port, "port", 0, 65535)
    whole(admin_port, "admin port", 0, 65535)
    live = live and out.is_terminal
    eventloop.run(run(config, out, err, live=live, host=host, port=port, admin_port=admin_port))


app.add_typer(lessons_app, name="lessons")
app.add_typer(interview_app, name="interview")
app.command(cls=Command)(demo_command)
app.command("export", cls=Command)(export_command)
app.command("quiz", cls=Command)(quiz_command)
app.command("sim", cls=Command)(sim_command)


@app.command(cls=Command)
def web(
    host: Annotated[
        str, typer.Option(help="Address to listen on: the one your class opens.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    learn: Annotated[
        str | None, typer.Option(help="Open this lesson in each browser (as lbplay learn).")
    ] = None,
    demo: Annotated[
        str | None, typer.Option(help="Play this scenario in each browser (as lbplay demo).")
    ] = None,
) -> None:
    """Serve the dashboard to a browser (each tab gets its own lab)."""
    from lbplay import web as web_module

    web_module.serve(host, port, web_module.command_for(learn, demo))


@app.command(cls=Command)
def learn(
    lesson: Annotated[
        str | None,
        typer.Argument(help="A lesson's number or id (default: where you left off)."),
    ] = None,
) -> None:
    """Open the dashboard with a lesson beside it ('lbplay lessons' lists them)."""
    from lbplay.learn import open_lesson

    open_lesson(lesson)


@app.command(
    cls=Command,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def ctl(ctx: typer.Context) -> None:
    """Change a running lab from another terminal: 'lbplay ctl kill s2', 'ctl state'.

    'lbplay ctl --help' lists every command."""
    from lbplay import ctl as ctl_module

    ctl_module.main(ctx.args)


#: What may not be printed raw in a one-line error (a newline in a file name, ...).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    """``text`` with control characters written as escapes ("\\n"), so that an error
    about a name the user typed stays one line."""
    return _CONTROL.sub(lambda found: repr(found.group())[1:-1], text)


def main(args: list[str] | None = None) -> None:
    """Entry point: run the app, turning user mistakes into one line and exit code 2."""
    try:
        code = app(args=args, standalone_mode=False)
    except LbplayError as error:
        err.print(f"lbplay: error: {_one_line(str(error))}", markup=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("lbplay: aborted", markup=False)
        sys.exit(130)
    except Exception as error:
        if not _is_usage_error(error):
            raise
        ctx = getattr(error, "ctx", None)
        hint = f" (try '{ctx.command_path} -h')" if ctx is not None else ""
        message = error.format_message()  # type: ignore[attr-defined]
        err.print(f"lbplay: error: {_one_line(message)}{hint}", markup=False, soft_wrap=True)
        sys.exit(int(error.exit_code))  # type: ignore[attr-defined]
    sys.exit(code if isinstance(code, int) else 0)
