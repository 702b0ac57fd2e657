"""The picker interface: what every algorithm receives and returns.

A picker decides; it never blocks, never does I/O and never changes a backend. The
``Balancer`` hands it only the eligible backends (``update``) and, for algorithms
that watch load, tells it when a request begins and ends (``on_begin``/``on_end``).

``Pick`` carries a reason a learner can read. Formatting text on every pick would
cost more than the pick itself, so a reason is either a ready string or a function
plus the arguments captured at pick time; ``Pick.reason`` formats it on demand.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lbplay.core.backends import Backend
from lbplay.core.positional import positional_maker


@dataclass(frozen=True, slots=True)
class PickContext:
    """What a pick may depend on besides the backends' state."""

    client_ip: str | None = None
    #: What hash algorithms hash (a user id, a URL, a header value).
    hash_key: str | None = None
    #: Names of backends already tried for this request (retries avoid them).
    avoid: frozenset[str] = frozenset()

    def key(self) -> str:
        """The hash key: ``hash_key``, else the client address, else ``""``."""
        if self.hash_key is not None:
            return self.hash_key
        return self.client_ip if self.client_ip is not None else ""


NO_CONTEXT = PickContext()
#: ``PickContext(client_ip, hash_key, avoid)``, positionally, for the proxy.
make_pick_context = positional_maker(PickContext)


class Pick:
    """A decision: the backend, and why.

    Deliberately a plain slotted class rather than a frozen dataclass: a frozen
    dataclass's ``__init__`` goes through ``object.__setattr__`` and costs more than
    a round-robin pick. Treat it as immutable; round robin even reuses instances.
    """

    __slots__ = ("backend", "_why", "_args")

    def __init__(
        self, backend: Backend, why: str | Callable[..., str], args: tuple[Any, ...] = ()
    ) -> None:
        self.backend = backend
        self._why = why
        self._args = args

    @property
    def reason(self) -> str:
        """The decision explained in one line, e.g. ``b: 3 in flight, fewest``."""
        why = self._why
        return why if isinstance(why, str) else why(*self._args)

    def __repr__(self) -> str:
        return f"Pick({self.backend.name!r}, {self.reason!r})"


@dataclass(frozen=True, slots=True)
class PickerEnv:
    """What a picker may use besides the backends: randomness, time, options."""

    rng: random.Random
    clock: Callable[[], float]
    options: Mapping[str, Any] = field(default_factory=dict)


class Picker(Protocol):
    """One load-balancing algorithm bound to the currently eligible backends."""

    #: True when the picker wants ``on_begin``/``on_end``/``on_bytes`` calls.
    tracks_load: bool

    def update(self, backends: Sequence[Backend]) -> None:
        """Replace the eligible backends (the fleet or its health changed)."""

    def pick(self, ctx: PickContext) -> Pick:
        """Choose a backend. Honour ``ctx.avoid`` unless every backend is avoided."""

    def on_begin(self, backend: Backend) -> None:
        """A request to ``backend`` started (its stats are already updated)."""

    def on_end(self, backend: Backend, latency: float, ok: bool) -> None:
        """A request to ``backend`` finished (its stats are already updated)."""

    def on_bytes(self, backend: Backend, n: int) -> None:
        """``n`` bytes moved to or from ``backend``."""


class BasePicker:
    """Defaults for pickers that do not watch load: the hooks do nothing."""

    tracks_load = False

    def __init__(self, backends: Sequence[Backend], env: PickerEnv) -> None:
        self.env = env
        self.backends: list[Backend] = []
        self.update(backends)

    def update(self, backends: Sequence[Backend]) -> None:
        self.backends = list(backends)

    def on_begin(self, backend: Backend) -> None:
        pass

    def on_end(self, backend: Backend, latency: float, ok: bool) -> None:
        pass

    def on_bytes(self, backend: Backend, n: int) -> None:
        pass

    def first_allowed(self, order: Sequence[Backend], avoid: frozenset[str]) -> Backend:
        """The first backend of ``order`` not in ``avoid``, else ``order[0]``."""
        for backend in order:
            if backend.name not in avoid:
                return backend
        return order[0]


#: Listing every backend in a reason is readable up to this many.
SHOW_ALL = 8


def loads_text(backends: Sequence[Backend], values: Sequence[object]) -> str:
    """``"a=5 b=3 c=8"`` for small fleets, ``"12 backends"`` beyond SHOW_ALL."""
    if len(backends) > SHOW_ALL:
        return f"{len(backends)} backends"
    return " ".join(f"{b.name}={v}" for b, v in zip(backends, values, strict=True))
