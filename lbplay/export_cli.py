"""``lbplay export nginx|haproxy|envoy``: the lab as a real balancer's configuration.

From the running lab (through its admin API: the lab as it is now, with its fake
backends' real addresses, so the output runs in front of them as it is), or from a
file (``--from``: a scenario, a lesson or a bare lab model; backend addresses are then
placeholders). Output to stdout or ``-o FILE`` (written atomically).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from lbplay.atomic import write_atomic
from lbplay.ctl import connect
from lbplay.errors import ConfigError
from lbplay.model.export import TARGETS, export
from lbplay.model.tomlform import from_dict, loads


def from_file(path: Path) -> Any:
    """A lab model from a scenario's or lesson's ``[setup]``, or a bare lab model."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no file {str(path)!r}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    if "setup" in data:
        return from_dict(data["setup"], "setup")
    return from_dict(data)


def export_command(
    target: Annotated[str, typer.Argument(help=f"What to write: {', '.join(TARGETS)}.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file (default: stdout).")
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option("--from", help="A scenario, lesson or lab model file instead of the lab."),
    ] = None,
    listen: Annotated[
        str, typer.Option(help="Where the exported balancer listens (HOST:PORT).")
    ] = "127.0.0.1:8080",
    admin: Annotated[str | None, typer.Option(help="The lab's admin URL.")] = None,
    token: Annotated[str | None, typer.Option(help="The lab's admin token.")] = None,
) -> None:
    """Write the running lab (or --from FILE) as nginx, HAProxy or Envoy configuration."""
    if target not in TARGETS:
        raise ConfigError(f"unknown export target {target!r}: use {', '.join(TARGETS)}")
    if source is not None:
        config, addresses = from_file(source), None
    else:
        answer = connect(admin, token).call("GET", "/config")
        config, addresses = loads(answer["config"]), answer["addresses"]
    text = export(config, target, addresses=addresses, listen=listen)
    if output is None:
        typer.echo(text, nl=False)
        return
    write_atomically(output, text)
    typer.echo(f"wrote {output}", err=True)


def write_atomically(path: Path, text: str | bytes) -> None:
    """``atomic.write_atomic``, with a failure as a one-line ``ConfigError``."""
    try:
        write_atomic(path, text)
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
