"""``lbplay web``: the dashboard in a browser, for a projector or a class without
terminals.

textual-serve runs ``lbplay`` (or ``lbplay learn N``, ``lbplay demo NAME``) for each
browser that opens the page and streams its screen over a WebSocket: every tab gets its
own Lab. It listens on 127.0.0.1 unless told otherwise; on another address anyone who
can reach it drives a lab (the keys, the palette and so the admin controls come with
it), and lbplay says so. The page is textual-serve's own, less the web font it would
fetch from Google (``assets/web/app_index.html``): nothing downloads at run time.
"""

from __future__ import annotations

import ipaddress
import shlex
import sys
from collections.abc import Sequence

from rich.console import Console

from lbplay.errors import ConfigError
from lbplay.resources import assets_dir

err = Console(stderr=True, highlight=False)


def command_for(learn: str | None, demo: str | None) -> list[str]:
    """The ``lbplay`` command each browser session runs."""
    if learn is not None and demo is not None:
        raise ConfigError("--learn and --demo open different things: choose one")
    words = [sys.executable, "-m", "lbplay"]
    if learn is not None:
        words += ["learn", learn]
    elif demo is not None:
        words += ["demo", demo]
    return words


def check_host(host: str) -> bool:
    """Whether ``host`` is loopback (False: warn); ``ConfigError`` if it is no address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        raise ConfigError(f"bad host {host!r}: use an IP address, e.g. 127.0.0.1") from None


def serve(host: str, port: int, command: Sequence[str]) -> None:
    """Serve the dashboard at http://HOST:PORT until Ctrl-C."""
    from textual_serve.server import Server

    if not 1 <= port <= 65535:
        raise ConfigError(f"bad port {port}: use 1 to 65535")
    if not check_host(host):
        err.print(
            f"lbplay: warning: serving on {host}, not loopback: anyone who can reach this"
            " machine can open the dashboard and drive its lab — kill servers, change"
            " settings (the admin controls come with it)",
            markup=False,
        )
    url_host = f"[{host}]" if ":" in host else host
    err.print(f"lbplay web: open http://{url_host}:{port} (Ctrl-C stops)", markup=False)
    server = Server(
        shlex.join(command),
        host=host,
        port=port,
        title="lbplay",
        templates_path=assets_dir() / "web",
    )
    server.serve()
