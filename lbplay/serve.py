"""``lbplay serve``: a headless Lab with a live Rich table of the backends.

It prints the proxy URL (``curl`` it from another terminal: the answer names the
backend that served it) and the admin URL, records both in the run file for
``lbplay ctl``, and redraws a table of the backends a few times a second until
Ctrl-C (or SIGTERM), when it stops everything it started and removes the run file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from lbplay.errors import ConfigError
from lbplay.model.config import LabConfig, parse_backend_url
from lbplay.model.snapshot import LabSnapshot
from lbplay.model.status import state_parts, worst
from lbplay.net.admin import AdminApi
from lbplay.net.lab import Lab
from lbplay.runfile import RunInfo, remove_runfile, write_runfile

REFRESH = 0.25
#: How a state's level reads in a plain terminal.
_COLOURS = {
    "ok": "green",
    "warn": "yellow",
    "bad": "red",
    "panic": "magenta",
    "off": "dim",
    "info": "cyan",
}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def check_reachable(addresses: list[str], timeout: float = 1.0) -> None:
    """Connect once to every real backend; ``ConfigError`` naming the first that fails."""
    for address in addresses:
        url = f"http://{address}"
        host, port = parse_backend_url(url)
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except TimeoutError:
            raise ConfigError(
                f"cannot reach backend {url}: no answer within {timeout:g} s"
            ) from None
        except OSError as error:
            why = error.strerror or str(error)
            raise ConfigError(f"cannot reach backend {url}: {why.lower()}") from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.1f}"


def render(view: LabSnapshot) -> Group:
    """The live table: one row per backend, then the totals."""
    metrics = view.metrics if view.mode == "l7" else view.client_metrics
    title = (
        f"lbplay serve · {view.mode.upper()} · {view.algorithm} · proxy {view.proxy_url}"
        f" · traffic {'paused' if view.paused else f'{view.rate:g}/s'}"
    )
    table = Table(title=title, title_justify="left", expand=False)
    for column, justify in (
        ("backend", "left"),
        ("address", "left"),
        ("state", "left"),
        ("weight", "right"),
        ("in flight", "right"),
        ("req/s", "right"),
        ("errors", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("share", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    total_rps = metrics.total.rps or 0.0
    for backend in view.backends:
        stats = metrics.backends.get(backend.name)
        rps = stats.rps if stats else 0.0
        share = rps / total_rps if total_rps else 0.0
        parts = state_parts(backend)
        state = Text(" · ".join(p.text for p in parts), style=_COLOURS[worst(parts)])
        table.add_row(
            backend.name,
            backend.address or "",
            state,
            str(backend.weight),
            str(backend.in_flight),
            f"{rps:.1f}",
            f"{stats.error_rate:.0%}" if stats and stats.requests else "—",
            _ms(stats.p50 if stats else None),
            _ms(stats.p99 if stats else None),
            "█" * round(share * 20),
        )
    total = metrics.total
    footer = Text(
        f"total {total.rps:.1f} req/s · errors {total.error_rate:.1%} · p50 {_ms(total.p50)} ms"
        f" · p99 {_ms(total.p99)} ms   (Ctrl-C to stop)",
        style="dim",
    )
    parts: list[Table | Text] = [table, footer]
    if view.limits:
        parts.append(Text(view.limits, style="yellow"))
    return Group(*parts)


async def run(
    config: LabConfig,
    out: Console,
    err: Console,
    *,
    live: bool,
    host: str = "127.0.0.1",
    port: int = 0,
    admin_port: int = 0,
) -> None:
    """Run a Lab and its admin API until SIGINT/SIGTERM."""
    if not is_loopback(host):
        err.print(
            f"lbplay: warning: the proxy listens on {host}, not loopback:"
            " anyone who can reach this machine can use it",
            markup=False,
        )
    if config.logins and not config.rate:
        err.print(
            "lbplay: warning: --logins makes generated users log in, but --rate is 0:"
            " add --rate 20 (or log in yourself with curl)",
            markup=False,
        )
    await check_reachable([b.address for b in config.backends if b.address])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            Lab(config, host=host, port=port) as lab,
            AdminApi(lab, port=admin_port) as admin,
        ):
            info = RunInfo(os.getpid(), lab.proxy_url, admin.url, admin.token, kind="serve")
            runfile = write_runfile(info)
            try:
                out.print(f"proxy: {lab.proxy_url}", soft_wrap=True, highlight=False)
                out.print(f"admin: {admin.url}", soft_wrap=True, highlight=False)
                out.print(
                    f"try:   curl -i {lab.proxy_url}/   ·   lbplay ctl state"
                    f"   (token in {runfile})",
                    soft_wrap=True,
                    highlight=False,
                )
                if live:
                    with Live(render(lab.snapshot()), console=out, auto_refresh=False) as screen:
                        while not stop.is_set():
                            with contextlib.suppress(TimeoutError):
                                await asyncio.wait_for(stop.wait(), REFRESH)
                            screen.update(render(lab.snapshot()), refresh=True)
                else:
                    await stop.wait()
            finally:
                remove_runfile(info.pid, runfile)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    out.print("stopped: every backend, the proxy and the admin API are closed", highlight=False)
