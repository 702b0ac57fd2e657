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
from lbplay.net.lab import Lab, LabConfig, LabSnapshot, parse_backend_url
from lbplay.runfile import RunInfo, remove_runfile, write_runfile

REFRESH = 0.25


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def check_reachable(urls: tuple[str, ...], timeout: float = 1.0) -> None:
    """Connect once to every real backend; ``ConfigError`` naming the first that fails."""
    for url in urls:
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
        state = "killed" if backend.process == "killed" else backend.status
        if backend.health not in ("UP", "DOWN", "off") and state != "killed":
            state += f" · {backend.health}"  # "UP, failing 2/3", "DOWN, recovering 1/2"
        colour = (
            "green"
            if state == "up"
            else "red"
            if state.startswith(("killed", "down", "ejected", "unavailable"))
            else "yellow"
        )
        table.add_row(
            backend.name,
            backend.address or "",
            Text(state, style=colour),
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


async def run(config: LabConfig, out: Console, err: Console, *, live: bool) -> None:
    """Run a Lab until SIGINT/SIGTERM."""
    if not is_loopback(config.proxy.host):
        err.print(
            f"lbplay: warning: the proxy listens on {config.proxy.host}, not loopback:"
            " anyone who can reach this machine can use it",
            markup=False,
        )
    await check_reachable(config.real_backends)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Lab(config) as lab:
            assert lab.admin is not None
            info = RunInfo(os.getpid(), lab.proxy_url, lab.admin.url, lab.admin.token)
            runfile = write_runfile(info)
            try:
                out.print(f"proxy: {lab.proxy_url}", soft_wrap=True, highlight=False)
                out.print(f"admin: {lab.admin.url}", soft_wrap=True, highlight=False)
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
