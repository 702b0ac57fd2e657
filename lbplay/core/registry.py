"""The algorithm registry: names to algorithms, and nothing else decides by name.

Each built-in algorithm lives in ``lbplay.core.algorithms.<name>`` and exposes an
``INFO: AlgorithmInfo``; the module name is the algorithm's name. Code elsewhere
asks the registry (``get``, ``create``, ``names``) instead of comparing names, so a
new algorithm is one new module plus one line in ``BUILTIN``.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lbplay.core.backends import Backend
from lbplay.core.picker import Picker, PickerEnv
from lbplay.errors import ConfigError, UnknownAlgorithm

#: Built-in algorithms, in the order lessons and tables present them.
BUILTIN: tuple[str, ...] = (
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "weighted_least_connections",
    "least_response_time",
    "least_bandwidth",
    "random",
    "weighted_random",
    "power_of_two_choices",
    "hash_modulo",
    "ip_hash",
    "ring_hash",
    "jump_hash",
    "maglev",
    "rendezvous",
    "bounded_load",
)


@dataclass(frozen=True)
class Option:
    """A tunable of one algorithm: its default and what it means."""

    default: int | float | bool
    help: str


@dataclass(frozen=True)
class AlgorithmInfo:
    """What the registry knows about an algorithm, for pickers and for people."""

    name: str
    family: str
    idea: str
    factory: Callable[[Sequence[Backend], PickerEnv], Picker]
    nginx: str = "—"
    haproxy: str = "—"
    envoy: str = "—"
    aws: str = "—"
    #: True when picks depend on a hash key or client address.
    uses_key: bool = False
    #: True when it hashes the client's address only, never a key (nginx ip_hash).
    hashes_address: bool = False
    #: True when picks depend on live load, so sequences need real requests.
    uses_load: bool = False
    #: True when backend weights change the picks.
    uses_weights: bool = False
    #: True when picks draw random numbers (a sequence cannot be predicted exactly).
    uses_random: bool = False
    options: Mapping[str, Option] = field(default_factory=dict)
    #: What to know when backends are added or removed (shown by ``lbplay pick``).
    fleet_note: str = ""

    def resolve_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``, each checked for name and type."""
        resolved: dict[str, Any] = {k: o.default for k, o in self.options.items()}
        for key, value in given.items():
            if key not in self.options:
                known = ", ".join(self.options) or "none"
                raise ConfigError(f"{self.name} has no option {key!r} (options: {known})")
            default = self.options[key].default
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok:
                kind = (
                    "true or false"
                    if isinstance(default, bool)
                    else "a whole number"
                    if isinstance(default, int)
                    else "a number"
                )
                raise ConfigError(f"{self.name} option {key!r} needs {kind}, got {value!r}")
            resolved[key] = value
        return resolved


_registry: dict[str, AlgorithmInfo] = {}


def register(info: AlgorithmInfo) -> AlgorithmInfo:
    """Add an algorithm; its name must be new and snake_case."""
    if not info.name.isidentifier() or info.name.lower() != info.name:
        raise ValueError(f"algorithm names are snake_case identifiers, not {info.name!r}")
    if info.name in _registry and _registry[info.name] is not info:
        raise ValueError(f"algorithm {info.name!r} is already registered")
    _registry[info.name] = info
    return info


def _load_builtins() -> None:
    for name in BUILTIN:
        if name not in _registry:
            module = importlib.import_module(f"lbplay.core.algorithms.{name}")
            info: AlgorithmInfo = module.INFO
            if info.name != name:
                raise ValueError(f"module {name} registers {info.name!r}; names must match")
            register(info)


def names() -> list[str]:
    """Every registered algorithm name, built-ins first in teaching order."""
    _load_builtins()
    return list(_registry)


def get(name: str) -> AlgorithmInfo:
    """The algorithm called ``name``; ``UnknownAlgorithm`` with suggestions if none."""
    _load_builtins()
    key = name.strip().lower().replace("-", "_")
    info = _registry.get(key)
    if info is None:
        raise UnknownAlgorithm(name, suggest(name))
    return info


def suggest(name: str, limit: int = 3) -> list[str]:
    """Registered names close to ``name``: fuzzy matches, then substring matches."""
    key = name.strip().lower().replace("-", "_")
    known = names()
    # A real balancer's name for it first: leastconn, least_conn, LEAST_REQUEST, MAGLEV.
    close = [n for n in known if key and key in _real_names(_registry[n])][:limit]
    for candidate in difflib.get_close_matches(key, known, n=limit, cutoff=0.5):
        if candidate not in close and len(close) < limit:
            close.append(candidate)
    for candidate in known:
        if len(close) >= limit:
            break
        if key and key in candidate and candidate not in close:
            close.append(candidate)
    return close


def _real_names(info: AlgorithmInfo) -> set[str]:
    """The words real balancers use for ``info``, lower-cased: {"least_conn", ...}."""
    text = " ".join((info.nginx, info.haproxy, info.envoy, info.aws)).lower()
    words = text.replace(",", " ").replace("(", " ").replace(")", " ").split()
    return {w.replace("-", "_") for w in words}


def create(
    name: str,
    backends: Sequence[Backend],
    env: PickerEnv,
) -> Picker:
    """A picker for ``name`` over ``backends``; ``env.options`` are checked first."""
    info = get(name)
    checked = PickerEnv(env.rng, env.clock, info.resolve_options(env.options))
    return info.factory(backends, checked)
