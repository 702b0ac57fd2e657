"""Small experiments on the core, shared by ``lbplay pick`` and the lessons.

``pick_sequence`` replays picks on a virtual clock (each request takes a fixed
time), so the output is the same on every run. ``key_movement`` measures what
consistent hashing is about: how many keys change backend when the fleet changes.
"""

from __future__ import annotations

import ipaddress
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbplay.core import registry
from lbplay.core.backends import Backend
from lbplay.core.balancer import Balancer, Ticket
from lbplay.core.picker import PickContext
from lbplay.errors import ConfigError


class VirtualClock:
    """A clock that moves only when told to: ``clock()`` reads, ``advance`` moves."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def check_address(text: str) -> str:
    """``text`` if it is an IPv4 or IPv6 address, else one clear ``ConfigError``."""
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        raise ConfigError(
            f"bad client address {text!r}: use an IPv4 or IPv6 address, e.g. 10.0.0.7"
        ) from None
    return text


@dataclass(frozen=True)
class PickRow:
    """One decision of a replayed sequence."""

    number: int
    key: str | None
    backend: str
    reason: str


def fresh_backends(backends: Sequence[Backend]) -> list[Backend]:
    """Copies with the same identity and zeroed stats (one run must not leak into another)."""
    return [Backend(b.name, b.weight, backup=b.backup, address=b.address) for b in backends]


def pick_sequence(
    algorithm: str,
    backends: Sequence[Backend],
    count: int,
    *,
    key: str | None = None,
    client_ip: str | None = None,
    hold: bool = False,
    latency: float = 0.010,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> list[PickRow]:
    """``count`` picks in a row, each request taking ``latency`` seconds.

    Hash algorithms without ``key`` or ``client_ip`` get keys user1, user2, ... (and
    an algorithm that hashes addresses, client addresses 10.0.1.7, 10.0.2.7, ...: one
    per /24) so the sequence shows how keys spread. With ``hold`` every request stays
    in flight (long downloads), which is what makes least-* algorithms differ.
    """
    info = registry.get(algorithm)
    if client_ip is not None:
        client_ip = check_address(client_ip)
    if info.hashes_address and key is not None:
        raise ConfigError(f"{info.name} hashes the client address, not a key: use a client IP")
    clock = VirtualClock()
    balancer = Balancer(
        fresh_backends(backends), info.name, options=options, rng=random.Random(seed), clock=clock
    )
    rows: list[PickRow] = []
    held: list[Ticket] = []
    for number in range(1, count + 1):
        hash_key, address = key, client_ip
        if info.hashes_address and client_ip is None:
            address = f"10.0.{number % 256}.7"
        elif info.uses_key and key is None and client_ip is None:
            hash_key = f"user{number}"
        pick = balancer.pick(PickContext(client_ip=address, hash_key=hash_key))
        shown = hash_key if hash_key is not None else address
        rows.append(PickRow(number, shown, pick.backend.name, pick.reason))
        ticket = balancer.begin(pick)
        clock.advance(latency)
        if hold:
            held.append(ticket)
        else:
            balancer.end(ticket, latency=latency)
    return rows


@dataclass(frozen=True)
class Movement:
    """How keys moved between two fleets."""

    keys: int
    moved: int
    #: Keys whose backend was removed: they had to move.
    forced: int
    #: Keys that left a backend that stayed for an added one.
    to_added: int
    before: Counter[str]
    after: Counter[str]
    #: The fewest keys any mapping must move: those whose backend left, or the added
    #: backends' fair share (by weight) if that is more — they can take the keys that
    #: had to move.
    minimum: int = 0

    @property
    def moved_share(self) -> float:
        return self.moved / self.keys if self.keys else 0.0

    @property
    def needless(self) -> int:
        """Keys that moved between backends present in both fleets."""
        return self.moved - self.forced - self.to_added


def key_movement(
    algorithm: str,
    backends: Sequence[Backend],
    *,
    remove: Sequence[str] = (),
    add: Sequence[Backend] = (),
    keys: int = 10_000,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Movement:
    """Map ``keys`` keys (key0, key1, ... or, for an algorithm that hashes client
    addresses, one address per /24) before and after removing/adding backends."""
    info = registry.get(algorithm)
    if not info.uses_key:
        hashing = ", ".join(n for n in registry.names() if registry.get(n).uses_key)
        raise ConfigError(
            f"{info.name} does not map keys to backends, so nothing 'moves';"
            f" key movement applies to hashing algorithms: {hashing}"
        )
    names = {b.name for b in backends}
    for name in remove:
        if name not in names:
            raise ConfigError(
                f"cannot remove {name!r}: not among the backends ({', '.join(names)})"
            )
    for backend in add:
        if backend.name in names:
            raise ConfigError(f"cannot add {backend.name!r}: a backend with that name exists")
    after_fleet = [b for b in backends if b.name not in remove] + list(add)
    if not after_fleet:
        raise ConfigError("removing every backend leaves nothing to map keys to")

    # An algorithm that hashes addresses gets one client per /24 (nginx ip_hash hashes
    # only the first three octets), the others key0, key1, ...
    contexts = [
        PickContext(client_ip=f"10.{i // 256 % 256}.{i % 256}.1")
        if info.hashes_address
        else PickContext(hash_key=f"key{i}")
        for i in range(keys)
    ]

    def mapping(fleet: Sequence[Backend]) -> list[str]:
        balancer = Balancer(
            fresh_backends(fleet), info.name, options=options, rng=random.Random(seed)
        )
        return [balancer.pick(context).backend.name for context in contexts]

    before = mapping(backends)
    after = mapping(after_fleet)
    removed = set(remove)
    added = {b.name for b in add}
    moved = sum(1 for x, y in zip(before, after, strict=True) if x != y)
    forced = sum(1 for x in before if x in removed)
    to_added = sum(1 for x, y in zip(before, after, strict=True) if y in added and x not in removed)
    fair = round(keys * sum(b.weight for b in add) / sum(b.weight for b in after_fleet))
    return Movement(
        keys, moved, forced, to_added, Counter(before), Counter(after), max(forced, fair)
    )
