"""Small things every ``lbplay`` command shares: help that writes nothing after a
plain on/off flag (Typer would write ``<bool>``, as if the flag took a value)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup

#: How a plain on/off flag shows in help: nothing after it (Typer would write <bool>).
FLAG = ""


class _QuietHelp:
    """Commands whose --help option shows no ``<bool>`` after it, like every plain flag."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = FLAG
        return option


class Group(_QuietHelp, TyperGroup):
    pass


class Command(_QuietHelp, TyperCommand):
    pass
