"""The arguments of controls: how each kind of value is written, read and checked.

A control's fields are arguments (``arg(...)`` makes a dataclass field that is also
an ``Arg``): a backend or pool name, a number with its range and unit, a share
typed as ``0.5`` or ``50%``, a limit or ``none``, ``on``/``off``, a choice among
names, an algorithm, algorithm options (``-o vnodes=100``), routing rules, an
affinity, a session store. ``from_text`` reads one from the text form,
``from_json`` from the JSON form, and ``text_value``/``json_value`` write it back;
every mistake is one ``ConfigError`` naming what was expected (``model.numbers``
holds the one rule for numbers).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lbplay.core import registry
from lbplay.core.affinity import AffinityConfig
from lbplay.core.backends import check_name
from lbplay.core.routing import DEFAULT_POOL, Rule
from lbplay.errors import ConfigError, UnknownBackend
from lbplay.model.numbers import number, parse_fraction, parse_number, parse_whole, whole

#: What kind of value an argument takes; each kind reads text and JSON its own way.
Kind = Literal[
    "backend",
    "name",
    "pool",
    "number",
    "whole",
    "fraction",
    "limit",
    "switch",
    "flag",
    "choice",
    "algorithm",
    "options",
    "rules",
    "sticky",
    "store",
    "text",
    "statuses",
]


@dataclass(frozen=True)
class Arg:
    """One argument of a control: how it is written, read, checked and explained."""

    name: str
    kind: Kind
    help: str
    #: Given by position (else only as ``--name``).
    positional: bool = True
    #: Numbers: the range and unit named in errors.
    low: float = 0.0
    high: float = math.inf
    unit: str = ""
    choices: tuple[str, ...] = ()
    #: The words a learner reads for it in errors ("slow delay").
    what: str = ""
    #: A one-letter alias (``-o`` for options).
    short: str = ""
    required: bool = False
    #: How usage lines write the value (default: the name in capitals).
    meta: str = ""

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        """How the usage line writes it: ``BACKEND``, ``[MS]``, ``[--pool POOL]``."""
        meta = self.meta or self.name.upper()
        if self.kind == "flag":
            return f"[{self.option}]"
        if self.kind == "rules":
            return f"[{meta}...]"
        if self.kind == "options":
            return f"[{self.short or self.option} NAME=VALUE]..."
        if not self.positional:
            return f"[{self.option} {meta}]"
        return meta if self.required else f"[{meta}]"

    @property
    def words(self) -> str:
        return self.what or self.name.replace("_", " ")


def arg(
    kind: Kind,
    help: str,
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    positional: bool = True,
    low: float = 0.0,
    high: float = math.inf,
    unit: str = "",
    choices: tuple[str, ...] = (),
    what: str = "",
    short: str = "",
    meta: str = "",
) -> Any:
    """A dataclass field that is also an argument (its name is the field's)."""
    required = default is dataclasses.MISSING and default_factory is dataclasses.MISSING
    spec = Arg("", kind, help, positional, low, high, unit, choices, what, short, required, meta)
    return field(default=default, default_factory=default_factory, metadata={"arg": spec})


@dataclass(frozen=True)
class Names:
    """The names a lab has now, to check a control before it is sent."""

    backends: Sequence[str] = ()
    pools: Sequence[str] = (DEFAULT_POOL,)


def from_text(spec: Arg, text: str, names: Names | None) -> Any:
    kind = spec.kind
    if kind == "backend":
        return _known(check_name(text), names.backends if names else None, "backend")
    if kind in ("pool", "name"):
        return check_name(text)
    if kind == "number":
        return parse_number(text, spec.words, spec.low, spec.high, spec.unit)
    if kind == "whole":
        return parse_whole(text, spec.words, int(spec.low), int(spec.high), spec.unit)
    if kind == "fraction":
        return parse_fraction(text, spec.words)
    if kind == "limit":
        if text.strip().lower() in ("none", "off", "unlimited"):
            return None
        return parse_whole(text, spec.words, int(spec.low), int(spec.high), "requests")
    if kind == "switch":
        return _switch(text, spec)
    if kind == "choice":
        return _choice(text, spec)
    if kind == "algorithm":
        return registry.get(text).name
    if kind == "sticky":
        return AffinityConfig.parse(text)
    if kind == "store":
        return _store(text)
    if kind == "text":
        return _plain(text, spec)
    if kind == "statuses":
        return _statuses(text, spec)
    raise AssertionError(kind)  # rules, options and flags are read by ``parse``


def from_json(spec: Arg, value: Any, names: Names | None) -> Any:
    kind = spec.kind
    if kind in ("backend", "name", "pool", "algorithm", "sticky", "store", "text", "choice"):
        if not isinstance(value, str):
            raise ConfigError(f"'{spec.name}' must be a string, not {value!r}")
        return from_text(spec, value, names)
    if kind == "number":
        return number(value, spec.words, spec.low, spec.high, spec.unit)
    if kind == "whole":
        return whole(value, spec.words, int(spec.low), int(spec.high), spec.unit)
    if kind == "fraction":
        return number(value, spec.words, 0, 1)
    if kind == "limit":
        if value is None:
            return None
        return whole(value, spec.words, int(spec.low), int(spec.high), "requests")
    if kind in ("switch", "flag"):
        if not isinstance(value, bool):
            raise ConfigError(f"'{spec.name}' must be true or false, not {value!r}")
        return value
    if kind == "options":
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"'{spec.name}' must be an object of NAME: VALUE")
        for key, item in value.items():
            if isinstance(item, float) and not math.isfinite(item):
                raise ConfigError(f"option {key!r} must be a finite number, not {item!r}")
            if not isinstance(item, int | float | bool):
                raise ConfigError(f"option {key!r} must be a number or true/false, not {item!r}")
        return dict(value)
    if kind == "rules":
        if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
            raise ConfigError(f"'{spec.name}' must be a list of rules like 'path=/api->api'")
        return tuple(Rule.parse(r) for r in value)
    if kind == "statuses":
        if not isinstance(value, list):
            raise ConfigError(f"'{spec.name}' must be a list of statuses like [500, 503]")
        return frozenset(_status(item, spec) for item in value)
    raise AssertionError(kind)


#: Statuses a proxy may retry on (nginx: http_500, http_502, http_503, http_504, http_429).
RETRYABLE = (429, *range(500, 600))


def _status(value: object, spec: Arg) -> int:
    status = whole(value, f"{spec.words} status", 429, 599)
    if status not in RETRYABLE:
        raise ConfigError(f"bad {spec.words} status {status}: use 429 or 500 to 599")
    return status


def _statuses(text: str, spec: Arg) -> frozenset[int]:
    """``500,502,503`` (or ``none``): statuses 429 and 500-599."""
    if text.strip().lower() in ("none", ""):
        return frozenset()
    found = set()
    for part in text.split(","):
        status = parse_whole(part, f"{spec.words} status", 429, 599)
        if status not in RETRYABLE:
            raise ConfigError(f"bad {spec.words} status {status}: use 429 or 500 to 599")
        found.add(status)
    return frozenset(found)


def _known(name: str, known: Sequence[str] | None, what: str) -> str:
    if known is not None and name not in known:
        raise UnknownBackend(f"no {what} {name!r} ({what}s: {', '.join(known) or 'none'})")
    return name


def _switch(text: str, spec: Arg) -> bool:
    word = text.strip().lower()
    if word in ("on", "true", "yes", "1"):
        return True
    if word in ("off", "false", "no", "0"):
        return False
    raise ConfigError(f"bad {spec.words} {text!r}: use on or off")


def _choice(text: str, spec: Arg) -> str:
    word = text.strip().lower()
    if word not in spec.choices:
        raise ConfigError(f"bad {spec.words} {text!r}: use {either(spec.choices)}")
    return word


def _store(text: str) -> str:
    spec = text.strip()
    if spec != "memory" and not spec.startswith(("redis://", "rediss://")):
        raise ConfigError(f"bad session store {text!r}: use memory or redis://host:port/db")
    return spec


def _plain(text: str, spec: Arg) -> str:
    if not text or not text.isprintable() or not text.isascii():
        raise ConfigError(f"bad {spec.words} {text!r}: use printable ASCII")
    return text


def either(choices: Iterable[str]) -> str:
    items = list(choices)
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else "".join(items)


def parse_option(pair: str) -> tuple[str, Any]:
    """``vnodes=100`` → ("vnodes", 100); true/false, whole numbers and numbers."""
    name, sep, text = pair.partition("=")
    name = name.strip()
    if not sep or not name or not name.isidentifier():
        raise ConfigError(f"bad option {pair!r}: use NAME=VALUE, e.g. -o vnodes=100")
    value: Any
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        value = lowered == "true"
    elif lowered.lstrip("-").isdigit() and lowered.isascii():
        value = int(lowered)
    else:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ConfigError(
                f"bad value {text!r} for option {name!r}: use a number, true or false"
            )
    return name, value


def parse_options(pairs: Iterable[str]) -> dict[str, Any]:
    """``["vnodes=100", "factor=1.25"]`` → a dict of typed values."""
    return dict(parse_option(p) for p in pairs)


# -- writing values ------------------------------------------------------------------


def json_value(spec: Arg, value: Any) -> Any:
    if spec.kind == "rules":
        return [rule.describe() for rule in value]
    if spec.kind == "sticky":
        return value.describe()
    if spec.kind == "options":
        return dict(value)
    if spec.kind == "statuses":
        return sorted(value)
    return value


def text_value(spec: Arg, value: Any) -> str:
    if value is None:
        return "none"
    if spec.kind == "switch":
        return "on" if value else "off"
    if spec.kind == "sticky":
        return str(value.describe())
    if spec.kind == "statuses":
        return ",".join(map(str, sorted(value))) or "none"
    return show(value)


def show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else repr(value)
    return str(value)


def default_of(cls: type, name: str) -> Any:
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING
