"""One rule for numbers, everywhere a user can type one.

A number a user gives lbplay — on the command line, in the admin API's JSON, in a
lesson or scenario file, in the command palette — must be finite, within its range,
and, when it is wrong, answered with one line that names what it is for, its unit
and the range: ``bad slow delay 'inf': use a number of milliseconds from 0 to 60000``.
``number`` and ``whole`` check values that are already numbers (JSON, TOML, Python);
``parse_number`` and ``parse_whole`` read them from text first. ``fmt_ms`` is how
lbplay writes a latency back, ``fmt_bytes`` an amount of data.
"""

from __future__ import annotations

import math

from lbplay.errors import ConfigError


def _show(limit: float) -> str:
    return f"{limit:g}" if abs(limit) < 1e6 else f"{limit:,.0f}"


def _range(kind: str, unit: str, low: float, high: float) -> str:
    of = f" of {unit}" if unit else ""
    return f"use {kind}{of} from {_show(low)} to {_show(high)}"


def number(value: object, what: str, low: float, high: float, unit: str = "") -> float:
    """``value`` as a float if it is a finite number from ``low`` to ``high``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ConfigError(f"bad {what} {value!r}: {_range('a number', unit, low, high)}")
    return float(value)


def whole(value: object, what: str, low: int, high: int, unit: str = "") -> int:
    """``value`` if it is a whole number (an int, or a float with no fraction) in range."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"bad {what} {value!r}: {_range('a whole number', unit, low, high)}")
    return value


def parse_number(text: str, what: str, low: float, high: float, unit: str = "") -> float:
    """A number typed as text (``300``, ``1.5``, ``2e3``); never ``inf`` or ``nan``."""
    try:
        value: object = float(text.strip())
    except (ValueError, AttributeError):
        value = text
    if isinstance(value, float) and not math.isfinite(value):
        value = text
    return number(value, what, low, high, unit)


def parse_whole(text: str, what: str, low: int, high: int, unit: str = "") -> int:
    """A whole number typed as text (``3``, ``+3`` and ``3.0`` are refused: ``3``)."""
    stripped = text.strip() if isinstance(text, str) else ""
    value: object = int(stripped) if stripped.isdigit() and stripped.isascii() else text
    return whole(value, what, low, high, unit)


def parse_fraction(text: str, what: str) -> float:
    """A share from 0 to 1, typed as ``0.5`` or ``50%``."""
    stripped = text.strip() if isinstance(text, str) else ""
    if stripped.endswith("%"):
        return parse_number(stripped[:-1], what, 0, 100, "percent") / 100
    return parse_number(stripped or text, what, 0, 1)


def fmt_ms(seconds: float | None) -> str:
    """A latency as people read it: ``0.42 ms``, ``4.1 ms``, ``21 ms``, ``1.3 s``; ``—``
    for none (a sub-millisecond figure keeps its digits: it is often the point)."""
    if seconds is None:
        return "—"
    ms = seconds * 1000
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.1f} s"


def fmt_bytes(count: float | None) -> str:
    """An amount of data as people read it: ``512 B``, ``3.4 kB``, ``12 MB``, ``1.5 GB``
    (decimal units, as network rates are written); ``—`` for none."""
    if count is None:
        return "—"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            value = count / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{count:.0f} B"
