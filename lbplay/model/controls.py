"""The control vocabulary: every change a lab can undergo, as a typed value.

One table of controls (``CONTROLS``), each a small frozen dataclass whose fields are
its arguments, with one text form and one JSON form:

    kill s2                                  {"control": "kill", "backend": "s2"}
    slow s3 300                              {"control": "slow", "backend": "s3", "ms": 300}
    weight api-1 5
    algorithm weighted_round_robin --pool api
    routes 'path=/api->api' 'host=admin.*->admin'
    health aws-alb --scale 0.1

``parse`` reads the text form (a string, or ``lbplay ctl``'s argument list),
``from_json`` the JSON form; both check every value before anything reaches a Lab,
and a mistake gets one line naming the valid choices. ``Lab.apply(control)`` does
it. ``lbplay ctl``, the admin API, the command palette, the dashboard's keys,
lessons and scenarios all speak these controls, and their help is generated from
this table, so a control added here appears everywhere.

Arguments are given by position or by name (``slow s3 300`` = ``slow s3 --ms 300``);
options that are plain switches (``--off``, ``--backup``) take no value.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from lbplay.core.affinity import AffinityConfig
from lbplay.core.backends import MAX_WEIGHT
from lbplay.core.events import ControlAction
from lbplay.core.health import PRESETS
from lbplay.core.routing import DEFAULT_POOL, Rule
from lbplay.errors import ConfigError, UnknownBackend
from lbplay.model.config import MAX_CONNS, MAX_RATE, MODES
from lbplay.model.control_args import (
    Arg,
    Names,
    arg,
    default_of,
    either,
    from_text,
    json_value,
    parse_option,
    show,
    text_value,
)
from lbplay.model.control_args import from_json as arg_from_json
from lbplay.model.faults import LATENCY_KINDS, MAX_DELAY_MS, MAX_SIGMA, LatencyModel
from lbplay.model.narration import SESSION_MODES
from lbplay.model.workload import MIXES, NAT_MODES

#: Help-screen sections, in order.
GROUPS: dict[str, str] = {
    "fleet": "Break and change a backend",
    "failure": "Failure handling",
    "balancer": "The balancer",
    "routing": "Pools and routes",
    "sessions": "Sessions",
    "traffic": "Traffic and the lab",
}


@dataclass(frozen=True)
class Control:
    """Base of every control. Subclasses are registered with ``@control``."""

    NAME: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    GROUP: ClassVar[str] = ""
    ALIASES: ClassVar[tuple[str, ...]] = ()
    ARGS: ClassVar[tuple[Arg, ...]] = ()
    #: The backend argument, for controls that act on one backend.
    BACKEND: ClassVar[str | None] = None

    def text(self) -> str:
        """The canonical text form: ``slow s3 300``."""
        words = [self.NAME]
        for spec in self.ARGS:
            value = getattr(self, spec.name)
            default = default_of(type(self), spec.name)
            if spec.kind == "flag":
                if value:
                    words.append(spec.option)
                continue
            if spec.kind == "rules":
                words.extend(shlex.quote(r.describe()) for r in value)
                continue
            if spec.kind == "options":
                flag = spec.short or spec.option
                words.extend(f"{flag} {k}={show(v)}" for k, v in value.items())
                continue
            if value == default and not spec.required:
                continue
            shown = shlex.quote(text_value(spec, value))
            words.append(shown if spec.positional else f"{spec.option} {shown}")
        return " ".join(words)

    def to_json(self) -> dict[str, Any]:
        """The JSON form: ``{"control": "slow", "backend": "s3", "ms": 300.0}``."""
        data: dict[str, Any] = {"control": self.NAME}
        for spec in self.ARGS:
            data[spec.name] = json_value(spec, getattr(self, spec.name))
        return data

    def target(self) -> str | None:
        """The backend this control acts on, if any."""
        return getattr(self, self.BACKEND) if self.BACKEND else None

    def __str__(self) -> str:
        return self.text()


C = TypeVar("C", bound="Control")
#: Every control by name (aliases included), in help order.
CONTROLS: dict[str, type[Control]] = {}


def control(
    name: str, group: str, *, aliases: tuple[str, ...] = ()
) -> Callable[[type[C]], type[C]]:
    """Register a control class under ``name`` (one or two words)."""

    def register(cls: type[C]) -> type[C]:
        cls.NAME = name
        cls.GROUP = group
        cls.ALIASES = aliases
        # The docstring's first paragraph, as one line.
        cls.HELP = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        specs = []
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("arg")
            if spec is None:
                continue
            specs.append(dataclasses.replace(spec, name=f.name))
            if spec.kind == "backend" and "BACKEND" not in cls.__dict__:
                cls.BACKEND = f.name
        cls.ARGS = tuple(specs)
        for key in (name, *aliases):
            if key in CONTROLS:
                raise ValueError(f"control {key!r} registered twice")
            CONTROLS[key] = cls
        return cls

    return register


def spec_of(name: str) -> type[Control]:
    """The control class called ``name`` (``max-conns``, ``max_conns`` and ``pool_add``
    too); ``ConfigError`` naming the real ones."""
    key = name.strip().lower().replace("_", "-")
    for candidate in (key, key.replace("-", " ")):
        if candidate in CONTROLS:
            return CONTROLS[candidate]
    raise ConfigError(f"no control {name!r} (controls: {', '.join(control_names())})")


def control_names() -> list[str]:
    """Every control's name, in help order (no aliases)."""
    return [name for name, cls in CONTROLS.items() if name == cls.NAME]


def usage(cls: type[Control], *, short: bool = False) -> str:
    """``slow BACKEND MS``, ``algorithm ALGORITHM [-o NAME=VALUE]... [--pool POOL]``;
    ``short`` writes the named options as one ``[OPTIONS]``."""
    if not short:
        return " ".join([cls.NAME, *(spec.label for spec in cls.ARGS)])
    shown = [s.label for s in cls.ARGS if s.positional and s.kind not in ("flag", "options")]
    named = any(not s.positional or s.kind in ("flag", "options") for s in cls.ARGS)
    return " ".join([cls.NAME, *shown, *(["[OPTIONS]"] if named else [])])


# -- the controls ---------------------------------------------------------------------

_BACKEND = "the backend's name, e.g. s2"


@control("kill", "fleet")
@dataclass(frozen=True)
class Kill(Control):
    """Kill a backend: it stops listening and resets its open connections."""

    backend: str = arg("backend", _BACKEND)


@control("revive", "fleet")
@dataclass(frozen=True)
class Revive(Control):
    """Bring a killed backend back on the same port."""

    backend: str = arg("backend", _BACKEND)


@control("slow", "fleet")
@dataclass(frozen=True)
class Slow(Control):
    """Add a delay to every response of a backend (0 undoes)."""

    backend: str = arg("backend", _BACKEND)
    ms: float = arg(
        "number", "extra milliseconds per response", high=MAX_DELAY_MS, unit="milliseconds",
        what="slow delay",
    )  # fmt: skip


@control("errors", "fleet")
@dataclass(frozen=True)
class Errors(Control):
    """Answer a share of a backend's requests with 500 (0 undoes)."""

    backend: str = arg("backend", _BACKEND)
    rate: float = arg("fraction", "share answered 500: 0.5 or 50%", what="error rate")
    ms: float | None = arg(
        "number", "how long a failing request takes (default: as before, 1 ms at first)",
        default=None, positional=False, high=MAX_DELAY_MS, unit="milliseconds",
        what="error latency",
    )  # fmt: skip


@control("latency", "fleet")
@dataclass(frozen=True)
class Latency(Control):
    """Set a backend's latency model: fixed, uniform or lognormal."""

    backend: str = arg("backend", _BACKEND)
    kind: str = arg("choice", "fixed, uniform or lognormal", choices=LATENCY_KINDS)
    ms: float = arg(
        "number", "the latency, the low end, or the median", high=MAX_DELAY_MS,
        unit="milliseconds", what="latency",
    )  # fmt: skip
    high: float = arg(
        "number", "uniform: the high end", default=0.0, positional=False, high=MAX_DELAY_MS,
        unit="milliseconds", what="latency high end",
    )  # fmt: skip
    sigma: float = arg(
        "number", "lognormal: the spread (1.0 puts p99 at ~10x the median)", default=1.0,
        positional=False, high=MAX_SIGMA,
    )  # fmt: skip

    def model(self) -> LatencyModel:
        """The latency model this control sets."""
        if self.kind == "uniform":
            return LatencyModel.uniform(self.ms, self.high or self.ms)
        if self.high:
            raise ConfigError(f"--high is for uniform latency, not {self.kind}")
        if self.kind == "lognormal":
            return LatencyModel.lognormal(self.ms, self.sigma)
        return LatencyModel.fixed(self.ms)

    def check(self) -> None:
        self.model()


@control("capacity", "fleet")
@dataclass(frozen=True)
class Capacity(Control):
    """Limit how many requests a backend serves at once; the rest queue inside it."""

    backend: str = arg("backend", _BACKEND)
    limit: int | None = arg("limit", "requests at once, or none", low=1, high=100_000)


@control("hang", "fleet")
@dataclass(frozen=True)
class Hang(Control):
    """Make a backend accept requests and never answer (--off: answer again)."""

    backend: str = arg("backend", _BACKEND)
    off: bool = arg("flag", "stop hanging", default=False)


@control("brownout", "fleet")
@dataclass(frozen=True)
class Brownout(Control):
    """Brownout: /health stays 200 while real requests fail (--off: end it)."""

    backend: str = arg("backend", _BACKEND)
    off: bool = arg("flag", "end the brownout", default=False)


@control("weight", "fleet")
@dataclass(frozen=True)
class Weight(Control):
    """Change a backend's weight."""

    backend: str = arg("backend", _BACKEND)
    weight: int = arg("whole", "the new weight", low=1, high=MAX_WEIGHT)


@control("add", "fleet")
@dataclass(frozen=True)
class Add(Control):
    """Start a new fake backend and add it to a pool."""

    name: str | None = arg("name", "its name (default: the next free one)", default=None)
    weight: int = arg("whole", "its weight", default=1, positional=False, low=1, high=MAX_WEIGHT)
    backup: bool = arg("flag", "use it only when every primary is unavailable", default=False)
    pool: str = arg("pool", "the pool to add it to", default=DEFAULT_POOL, positional=False)


@control("remove", "fleet")
@dataclass(frozen=True)
class Remove(Control):
    """Take a backend out of its pool and stop it."""

    backend: str = arg("backend", _BACKEND)


@control("drain", "failure")
@dataclass(frozen=True)
class Drain(Control):
    """No new requests to a backend; in-flight ones finish (the ALB's deregistration)."""

    backend: str = arg("backend", _BACKEND)
    timeout: float | None = arg(
        "number", "seconds before it is dropped anyway (default: the lab's)", default=None,
        positional=False, high=86_400, unit="seconds", what="drain timeout",
    )  # fmt: skip


@control("disable", "failure")
@dataclass(frozen=True)
class Disable(Control):
    """Maintenance: take a backend out of rotation now."""

    backend: str = arg("backend", _BACKEND)


@control("enable", "failure")
@dataclass(frozen=True)
class Enable(Control):
    """Put a drained or disabled backend back into rotation."""

    backend: str = arg("backend", _BACKEND)


@control("backup", "failure")
@dataclass(frozen=True)
class Backup(Control):
    """Make a backend a backup, used only when no primary is (--off: a primary)."""

    backend: str = arg("backend", _BACKEND)
    off: bool = arg("flag", "make it a primary again", default=False)


@control("max-conns", "failure")
@dataclass(frozen=True)
class MaxConns(Control):
    """Limit a backend's requests in flight; beyond it requests queue (HAProxy maxconn)."""

    backend: str = arg("backend", _BACKEND)
    limit: int | None = arg("limit", "requests in flight, or none", low=1, high=MAX_CONNS)


@control("health", "failure")
@dataclass(frozen=True)
class Health(Control):
    """Active health checks: a preset, on or off, and any setting changed."""

    preset: str | None = arg(
        "choice", "a preset, or on / off", default=None, choices=(*PRESETS, "on", "off")
    )
    scale: float = arg(
        "number", "multiply the preset's times (for demos)", default=1.0, positional=False,
        low=0.001, high=100,
    )  # fmt: skip
    interval: float | None = arg(
        "number", "seconds between checks", default=None, positional=False, low=0.01,
        high=3600, unit="seconds", what="health check interval",
    )  # fmt: skip
    timeout: float | None = arg(
        "number", "seconds to wait for an answer", default=None, positional=False, low=0.001,
        high=3600, unit="seconds", what="health check timeout",
    )  # fmt: skip
    rise: int | None = arg(
        "whole", "successes that bring a DOWN backend UP", default=None, positional=False,
        low=1, high=100,
    )  # fmt: skip
    fall: int | None = arg(
        "whole", "failures that take an UP backend DOWN", default=None, positional=False,
        low=1, high=100,
    )  # fmt: skip
    path: str | None = arg("text", "the path probed", default=None, positional=False)

    def check(self) -> None:
        if self.preset == "off" and self != Health(preset="off"):
            raise ConfigError("health off takes no other setting")
        if self.path is not None and not self.path.startswith("/"):
            raise ConfigError(f"bad health check path {self.path!r}: start with /")


@control("passive", "failure")
@dataclass(frozen=True)
class Passive(Control):
    """Passive health from real requests: nginx max_fails, Envoy outlier ejection."""

    max_fails: int | None = arg(
        "whole", "nginx: failures within --fail-timeout that take a backend out",
        default=None, positional=False, low=1, high=1000,
    )  # fmt: skip
    fail_timeout: float = arg(
        "number", "nginx: the window and the time out, s", default=10.0, positional=False,
        low=0.001, high=3600, unit="seconds",
    )  # fmt: skip
    outlier: int | None = arg(
        "whole", "Envoy: consecutive failures that eject", default=None, positional=False,
        low=1, high=1000,
    )  # fmt: skip
    ejection_time: float = arg(
        "number", "Envoy: base ejection time, s", default=30.0, positional=False,
        low=0.001, high=86_400, unit="seconds",
    )  # fmt: skip


@control("retries", "failure")
@dataclass(frozen=True)
class Retries(Control):
    """How many tries a request gets, and which answers are tried again (nginx's
    proxy_next_upstream); a retried 5xx also counts for nginx max_fails."""

    tries: int = arg(
        "whole", "tries in all, the first included (1: no retries)", low=1, high=20,
        unit="tries",
    )  # fmt: skip
    on: frozenset[int] = arg(
        "statuses", "answers tried again on another backend, e.g. 500,502,503 (or none)",
        default=frozenset(), positional=False, what="retry",
    )  # fmt: skip


@control("panic", "failure")
@dataclass(frozen=True)
class Panic(Control):
    """Envoy's panic threshold: below it, balance across unhealthy backends too (0: off)."""

    threshold: float = arg("fraction", "share of healthy primaries: 0.5 or 50%")


@control("slow-start", "failure")
@dataclass(frozen=True)
class SlowStart(Control):
    """Ramp a returning backend from 10% to its full share over this long (0: off)."""

    seconds: float = arg("number", "ramp time", high=86_400, unit="seconds", what="slow start")


@control("algorithm", "balancer")
@dataclass(frozen=True)
class Algorithm(Control):
    """Switch a pool's balancing algorithm, live."""

    algorithm: str = arg("algorithm", "an algorithm name (see 'lbplay algorithms')")
    options: Mapping[str, Any] = arg(
        "options", "an algorithm option, e.g. vnodes=100", default_factory=dict, short="-o"
    )
    pool: str = arg("pool", "which pool", default=DEFAULT_POOL, positional=False)


@control("mode", "balancer")
@dataclass(frozen=True)
class Mode(Control):
    """Switch between L7 (per request) and L4 (per connection) on the same port."""

    mode: str = arg("choice", "l7 or l4", choices=MODES, meta="l7|l4")


@control("balancer", "balancer")
@dataclass(frozen=True)
class BalancerPower(Control):
    """Take the load balancer itself down, or bring it back: with one balancer and
    nothing in front of it, every request fails while it is down, however healthy the
    backends are."""

    state: str = arg("choice", "down or up", choices=("down", "up"), meta="down|up")


@control("pool add", "routing")
@dataclass(frozen=True)
class PoolAdd(Control):
    """Add a pool of fake backends with its own algorithm (for routes)."""

    name: str = arg("pool", "the new pool's name")
    backends: int = arg("whole", "how many backends", default=2, positional=False, low=1, high=32)
    algorithm: str = arg("algorithm", "its algorithm", default="round_robin", positional=False)


@control("pool remove", "routing")
@dataclass(frozen=True)
class PoolRemove(Control):
    """Stop a pool's backends and drop it (no route may point at it)."""

    name: str = arg("pool", "the pool's name")


@control("routes", "routing", aliases=("route",))
@dataclass(frozen=True)
class Routes(Control):
    """Replace the content-routing rules, first match wins (none: clear them)."""

    rules: tuple[Rule, ...] = arg(
        "rules", "rules like 'path=/api->api' or 'host=admin.*,method=GET->admin'",
        default=(),
    )  # fmt: skip


@control("sessions", "sessions")
@dataclass(frozen=True)
class Sessions(Control):
    """Choose a classic session set-up; generated users log in so its effect shows."""

    mode: str = arg("choice", "none, cookie, ip, header or shared", choices=tuple(SESSION_MODES))


@control("sticky", "sessions")
@dataclass(frozen=True)
class Sticky(Control):
    """Session affinity alone: none, cookie, ip, ip/24, header:NAME or query:NAME."""

    sticky: AffinityConfig = arg("sticky", "the affinity, e.g. cookie or header:X-User")  # noqa: RUF009
    cookie_ttl: float | None = arg(
        "number", "seconds an affinity cookie lasts (the ALB's: 1 day)", default=None,
        positional=False, low=1, high=365 * 86_400, unit="seconds", what="cookie lifetime",
    )  # fmt: skip

    def config(self) -> AffinityConfig:
        """The affinity this control sets (with its cookie lifetime, if given)."""
        if self.cookie_ttl is None:
            return self.sticky
        return dataclasses.replace(self.sticky, cookie_ttl=self.cookie_ttl)


@control("store", "sessions")
@dataclass(frozen=True)
class Store(Control):
    """Where shared sessions live: memory (in process) or redis://host:port/db."""

    store: str = arg("store", "memory or redis://host:port/db")


@control("logins", "sessions")
@dataclass(frozen=True)
class Logins(Control):
    """Generated users log in and browse pages that need their session (or not)."""

    on: bool = arg("switch", "on or off", meta="on|off", what="logins")


@control("rate", "traffic")
@dataclass(frozen=True)
class Rate(Control):
    """Generated requests per second (Poisson arrivals)."""

    rate: float = arg(
        "number", "requests per second", high=MAX_RATE, unit="requests per second",
        what="traffic rate",
    )  # fmt: skip


@control("nat", "traffic")
@dataclass(frozen=True)
class Nat(Control):
    """Where the generated clients come from: each its own network (off), one /24
    like an office (subnet), or one address like a NAT gateway (address)."""

    mode: str = arg(
        "choice", "off, subnet or address", choices=tuple(NAT_MODES), meta="off|subnet|address"
    )


@control("mix", "traffic")
@dataclass(frozen=True)
class Mix(Control):
    """What the generated clients ask for: small pages, downloads (1 in 10 is 1 MB), or a
    site with an API, static files and an admin host (for routing)."""

    mix: str = arg(
        "choice", "pages, downloads or site", choices=tuple(MIXES), meta="pages|downloads|site"
    )


@control("pause", "traffic")
@dataclass(frozen=True)
class Pause(Control):
    """Pause generated traffic (your own curl still works)."""


@control("resume", "traffic")
@dataclass(frozen=True)
class Resume(Control):
    """Resume generated traffic."""


@control("burst", "traffic")
@dataclass(frozen=True)
class Burst(Control):
    """Fire this many requests at once."""

    count: int = arg(
        "whole", "how many requests", default=300, low=1, high=5000, unit="requests",
        what="burst size",
    )  # fmt: skip


@control("reset", "traffic")
@dataclass(frozen=True)
class Reset(Control):
    """Back to how the lab started: its fleet, settings and traffic."""


#: One example of each control, in its text form (help pages; a test parses each).
EXAMPLES: dict[str, str] = {
    "balancer": "balancer down",
    "kill": "kill s2",
    "revive": "revive s2",
    "slow": "slow s3 300",
    "errors": "errors s2 50%",
    "latency": "latency s1 lognormal 20 --sigma 0.5",
    "capacity": "capacity s1 4",
    "hang": "hang s2",
    "brownout": "brownout s2 --off",
    "weight": "weight s1 5",
    "add": "add s9 --weight 2",
    "remove": "remove s4",
    "drain": "drain s2 --timeout 30",
    "disable": "disable s2",
    "enable": "enable s2",
    "backup": "backup s4",
    "max-conns": "max-conns s1 10",
    "health": "health aws-alb --scale 0.1",
    "passive": "passive --max-fails 3 --fail-timeout 10",
    "retries": "retries 3 --on 502,503",
    "panic": "panic 50%",
    "slow-start": "slow-start 10",
    "algorithm": "algorithm ring_hash -o vnodes=100",
    "mode": "mode l4",
    "pool add": "pool add api --backends 2 --algorithm least_connections",
    "pool remove": "pool remove api",
    "routes": "routes 'path=/api->api'",
    "sessions": "sessions shared",
    "sticky": "sticky cookie",
    "store": "store redis://127.0.0.1:6379/0",
    "logins": "logins on",
    "rate": "rate 100",
    "nat": "nat subnet",
    "mix": "mix downloads",
    "pause": "pause",
    "resume": "resume",
    "burst": "burst 300",
    "reset": "reset",
}


# -- the text form ------------------------------------------------------------------------


def parse(text: str | Sequence[str], names: Names | None = None) -> Control:
    """A control from its text form (``"slow s3 300"`` or ``["slow", "s3", "300"]``).

    ``names`` (optional) checks backend names against a lab's. Every mistake is a
    ``ConfigError`` in one line that names the valid choices.
    """
    if isinstance(text, str):
        try:
            words = shlex.split(text)
        except ValueError as error:
            raise ConfigError(f"cannot read {text!r}: {error}") from None
    else:
        words = list(text)
    if not words:
        raise ConfigError(f"no control given (controls: {', '.join(control_names())})")
    cls, rest = lookup(words)
    return _read(cls, rest, names)


def lookup(words: Sequence[str]) -> tuple[type[Control], list[str]]:
    """The control named by the first word or two, and the words after its name."""
    two = " ".join(words[:2]).lower()
    if len(words) >= 2 and two in CONTROLS:
        return CONTROLS[two], list(words[2:])
    first = words[0].lower()
    if first in CONTROLS:
        return CONTROLS[first], list(words[1:])
    pairs = sorted({n.split()[0] for n in CONTROLS if " " in n})
    if first in pairs:
        second = sorted(n.split()[1] for n in CONTROLS if n.startswith(first + " "))
        raise ConfigError(f"{first} needs {either(second)}: e.g. {first} {second[0]} NAME")
    raise ConfigError(f"no control {words[0]!r} (controls: {', '.join(control_names())})")


def _read(cls: type[Control], words: list[str], names: Names | None) -> Control:
    by_option = {spec.option: spec for spec in cls.ARGS}
    by_option.update({spec.short: spec for spec in cls.ARGS if spec.short})
    positional = [spec for spec in cls.ARGS if spec.positional and spec.kind != "flag"]
    values: dict[str, Any] = {}
    options: dict[str, Any] = {}
    rules: list[Rule] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word.startswith("-") and not _is_number(word):
            option, eq, inline = word.partition("=")
            spec = by_option.get(option)
            if spec is None:
                known = ", ".join(s.option for s in cls.ARGS) or "none"
                raise ConfigError(f"{cls.NAME} has no option {option!r} (options: {known})")
            if spec.kind == "flag":
                if eq:
                    raise ConfigError(f"{option} takes no value: write just {option}")
                values[spec.name] = True
                continue
            if eq:
                value = inline
            elif index < len(words):
                value = words[index]
                index += 1
            else:
                raise ConfigError(f"{option} needs a value: {usage(cls)}")
            _take(cls, spec, value, values, options, rules, names)
            continue
        spec = next((s for s in positional if s.name not in values or s.kind == "rules"), None)
        if spec is None:
            raise ConfigError(f"{cls.NAME}: unexpected {word!r}; usage: {usage(cls)}")
        _take(cls, spec, word, values, options, rules, names)
    for spec in cls.ARGS:
        if spec.kind == "options":
            values[spec.name] = options
        elif spec.kind == "rules":
            values[spec.name] = tuple(rules)
    missing = [s for s in cls.ARGS if s.required and s.name not in values]
    if missing:
        what = ", ".join(s.name.upper() for s in missing)
        raise ConfigError(f"{cls.NAME} needs {what}: {usage(cls)}")
    return _build(cls, values)


def _take(
    cls: type[Control],
    spec: Arg,
    word: str,
    values: dict[str, Any],
    options: dict[str, Any],
    rules: list[Rule],
    names: Names | None,
) -> None:
    if spec.kind == "options":
        key, value = parse_option(word)
        options[key] = value
    elif spec.kind == "rules":
        rules.append(Rule.parse(word))
    else:
        if spec.name in values:
            raise ConfigError(f"{cls.NAME}: {spec.name} given twice")
        values[spec.name] = from_text(spec, word, names)


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _build(cls: type[Control], values: dict[str, Any]) -> Control:
    control_ = cls(**values)
    check = getattr(control_, "check", None)
    if check is not None:
        check()
    return control_


# -- the JSON form ------------------------------------------------------------------------


def from_json(data: object, names: Names | None = None) -> Control:
    """A control from its JSON form; a mistake names the field and what it takes."""
    if not isinstance(data, dict):
        raise ConfigError('a control is a JSON object like {"control": "kill", "backend": "s2"}')
    name = data.get("control")
    if not isinstance(name, str):
        raise ConfigError(f"'control' must name a control ({', '.join(control_names())})")
    cls = spec_of(name)
    known = {spec.name for spec in cls.ARGS}
    unknown = sorted(set(data) - known - {"control"})
    if unknown:
        fields_ = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"{cls.NAME} has no field {', '.join(map(repr, unknown))} ({fields_})")
    values: dict[str, Any] = {}
    for spec in cls.ARGS:
        if spec.name not in data:
            if spec.required:
                raise ConfigError(f"{cls.NAME} needs '{spec.name}': {spec.help}")
            continue
        value = data[spec.name]
        if value is None and default_of(cls, spec.name) is None:
            values[spec.name] = None
            continue
        try:
            values[spec.name] = arg_from_json(spec, value, names)
        except ConfigError as error:
            if isinstance(error, UnknownBackend):
                raise
            raise ConfigError(f"{cls.NAME}: '{spec.name}': {error}") from None
    return _build(cls, values)


# -- what applying one did ----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What ``Lab.apply`` did: the control, the announcement it made, and any result
    (the name of a backend it added, the results of a burst)."""

    control: Control
    event: ControlAction
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """``s2 killed: it refuses connections now`` (without the watch line)."""
        detail = f": {self.event.detail}" if self.event.detail else ""
        return f"{self.event.action}{detail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "control": self.control.text(),
            "action": self.event.action,
            "detail": self.event.detail,
            "watch": self.event.watch,
            "result": dict(self.data),
        }
