"""The Balancer: the one stateful owner of backends, their availability and stats.

It decides, once, which backends are *eligible* — available primaries, or the
available backups when no primary is — and hands only those to the current picker,
rebuilding it when the fleet changes (grpc-go's balancer/picker split). It does the
begin/end accounting of every request, so least-* algorithms see real in-flight
counts and latencies, and passes ``avoid`` through for retries.

Typical use, by the proxy or by ``lbplay pick``::

    balancer = Balancer([Backend("a", 5), Backend("b"), Backend("c")],
                        "weighted_round_robin", rng=random.Random(7))
    pick = balancer.pick(PickContext(client_ip="127.0.0.9"))
    ticket = balancer.begin(pick)
    ...                                   # forward the request
    balancer.end(ticket, ok=True, nbytes=512)

Nothing here does I/O or reads the wall clock except through the injected ``clock``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lbplay.core import registry
from lbplay.core.backends import Backend, check_weight
from lbplay.core.picker import NO_CONTEXT, Pick, PickContext, Picker, PickerEnv
from lbplay.errors import ConfigError, NoBackendAvailable, UnknownBackend


class Ticket:
    """One request in flight: returned by ``begin``, closed by ``end``."""

    __slots__ = ("pick", "backend", "started", "nbytes", "done")

    def __init__(self, pick: Pick, started: float) -> None:
        self.pick = pick
        self.backend = pick.backend
        self.started = started
        self.nbytes = 0
        self.done = False


class Balancer:
    """Owns the fleet and runs one algorithm over its eligible part."""

    def __init__(
        self,
        backends: Iterable[Backend] = (),
        algorithm: str = "round_robin",
        *,
        options: Mapping[str, Any] | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock
        self._backends: dict[str, Backend] = {}
        self._available: dict[str, bool] = {}
        for backend in backends:
            self._insert(backend)
        self.algorithm = registry.get(algorithm).name
        self.options: dict[str, Any] = dict(options or {})
        self._picker: Picker | None = None
        self._tracks = False
        self.eligible: list[Backend] = []
        self._rebuild(new_picker=True)

    # -- the fleet ---------------------------------------------------------------

    @property
    def backends(self) -> list[Backend]:
        """Every backend, eligible or not, in the order they were added."""
        return list(self._backends.values())

    def get(self, name: str) -> Backend:
        """The backend called ``name``; ``ConfigError`` if there is none."""
        try:
            return self._backends[name]
        except KeyError:
            known = ", ".join(self._backends) or "none"
            raise UnknownBackend(f"no backend named {name!r} (backends: {known})") from None

    def _insert(self, backend: Backend) -> None:
        if backend.name in self._backends:
            raise ConfigError(f"a backend named {backend.name!r} already exists")
        self._backends[backend.name] = backend
        self._available[backend.name] = True

    def add(self, backend: Backend) -> None:
        """Add a backend (available at once) and rebuild the picker."""
        self._insert(backend)
        self._rebuild()

    def remove(self, name: str) -> Backend:
        """Remove a backend; requests in flight to it may still ``end``."""
        backend = self.get(name)
        del self._backends[name]
        del self._available[name]
        self._rebuild()
        return backend

    def set_weight(self, name: str, weight: int) -> None:
        """Change a backend's weight (1..1000)."""
        self.get(name).weight = check_weight(weight)
        self._rebuild()

    def set_backup(self, name: str, backup: bool) -> None:
        """Mark a backend as a backup (used only when no primary is available)."""
        self.get(name).backup = backup
        self._rebuild()

    def set_available(self, name: str, available: bool) -> None:
        """Mark a backend usable or not (health checks and admin actions call this)."""
        self.get(name)
        if self._available[name] != available:
            self._available[name] = available
            self._rebuild()

    def is_available(self, name: str) -> bool:
        """Whether ``name`` may receive new requests (before the backup rule)."""
        self.get(name)
        return self._available[name]

    # -- the algorithm -----------------------------------------------------------

    def set_algorithm(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        """Switch algorithm (options are checked before anything changes)."""
        info = registry.get(name)
        info.resolve_options(options or {})
        old = (self.algorithm, self.options)
        self.algorithm, self.options = info.name, dict(options or {})
        try:
            self._rebuild(new_picker=True)
        except ConfigError:
            self.algorithm, self.options = old
            self._rebuild(new_picker=True)
            raise

    def _rebuild(self, new_picker: bool = False) -> None:
        available = [b for b in self._backends.values() if self._available[b.name]]
        primaries = [b for b in available if not b.backup]
        self.eligible = primaries or [b for b in available if b.backup]
        if not self.eligible:
            self._picker = None if new_picker else self._picker
            self._tracks = False
            return
        if new_picker or self._picker is None:
            env = PickerEnv(self.rng, self.clock, self.options)
            self._picker = registry.create(self.algorithm, self.eligible, env)
        else:
            self._picker.update(self.eligible)
        self._tracks = self._picker.tracks_load

    # -- requests ----------------------------------------------------------------

    def pick(self, ctx: PickContext = NO_CONTEXT) -> Pick:
        """Choose a backend for one request; ``NoBackendAvailable`` if none is eligible."""
        if not self.eligible or self._picker is None:
            raise NoBackendAvailable(self._why_none())
        return self._picker.pick(ctx)

    def _why_none(self) -> str:
        if not self._backends:
            return "no backends are configured"
        down = ", ".join(self._backends)
        return f"no backend is available ({down}: all unavailable)"

    def begin(self, pick: Pick) -> Ticket:
        """Count a request as in flight on ``pick.backend``."""
        backend = pick.backend
        backend.stats.in_flight += 1
        if self._tracks and self._picker is not None:
            self._picker.on_begin(backend)
        return Ticket(pick, self.clock())

    def transferred(self, ticket: Ticket, n: int) -> None:
        """Count ``n`` bytes moved by the request (call as chunks stream)."""
        if ticket.done or n <= 0:
            return
        ticket.nbytes += n
        stats = ticket.backend.stats
        stats.bytes_in_flight += n
        stats.add_bytes(n, self.clock())
        if self._tracks and self._picker is not None:
            self._picker.on_bytes(ticket.backend, n)

    def end(
        self,
        ticket: Ticket,
        *,
        ok: bool = True,
        latency: float | None = None,
        nbytes: int = 0,
    ) -> None:
        """Close a request: latency (measured if not given), outcome and bytes.

        Ending a ticket twice is a no-op, so error paths may call it freely.
        """
        if ticket.done:
            return
        if nbytes:
            self.transferred(ticket, nbytes)
        ticket.done = True
        backend = ticket.backend
        stats = backend.stats
        stats.in_flight -= 1
        stats.completed += 1
        stats.bytes_in_flight -= ticket.nbytes
        if not ok:
            stats.failures += 1
        seconds = self.clock() - ticket.started if latency is None else latency
        stats.observe_latency(seconds)
        if self._tracks and self._picker is not None:
            self._picker.on_end(backend, seconds, ok)
