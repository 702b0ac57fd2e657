"""Session affinity ("sticky sessions"): sending a client back to the same backend.

Modes, switchable while traffic runs:

* ``none`` — every request is balanced afresh; a session kept in one backend's
  memory is lost as soon as requests spread.
* ``cookie`` — the balancer inserts a cookie naming the backend (HAProxy
  ``cookie SRV insert``, the ALB's ``AWSALB``): ``LBPLAY_AFFINITY=s2.<expiry>.<mac>``.
  It is signed with an HMAC under a per-run secret and carries its expiry, so a client
  cannot steer itself to a backend of its choice; a tampered, expired or foreign
  cookie (another run's secret) or one naming a backend that is gone just gets a fresh
  pick and a new cookie — never an error. The cookie is refreshed on every response
  (as the ALB does) and removed from the request before it is forwarded (HAProxy's
  ``indirect``): the backend never sees it.
* ``ip`` — by the client's source address: a stick table from address to backend
  (HAProxy ``stick on src``). ``prefix24`` keys on the first three octets instead,
  as nginx's ``ip_hash`` does, to show how a NAT or an office network clumps.
* ``header`` / ``query`` — by the value of a named header or query parameter (a user
  id, an API key); requests without it are balanced normally.

When the pinned backend cannot serve (down, ejected, draining-and-drained, disabled,
full, removed), the request is balanced afresh and re-pinned — what nginx and the ALB
do — and the decision says so, because the session held in that backend's memory is
gone. Stick-table entries expire after ``ttl`` seconds without use.

Pure: the secret and the clock are injected; HMAC comes from the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from lbplay.core.backends import NAME_RE
from lbplay.errors import ConfigError

Mode = Literal["none", "cookie", "ip", "header", "query"]
MODES: tuple[Mode, ...] = ("none", "cookie", "ip", "header", "query")
COOKIE = "LBPLAY_AFFINITY"
#: The ALB's AWSALB cookie lasts 1 day.
DEFAULT_COOKIE_TTL = 86_400.0
#: HAProxy stick tables are typically set to expire after 30 minutes.
DEFAULT_TABLE_TTL = 1_800.0
MAX_TABLE = 100_000
YEAR = 365 * 86_400
_MAC_BYTES = 16


@dataclass(frozen=True)
class AffinityConfig:
    """Which affinity, keyed on what."""

    mode: Mode = "none"
    #: The header or query parameter name (header and query modes).
    name: str = ""
    #: ip mode: key on the /24 network (nginx ip_hash) instead of the full address.
    prefix24: bool = False
    cookie_ttl: float = DEFAULT_COOKIE_TTL
    table_ttl: float = DEFAULT_TABLE_TTL

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown affinity {self.mode!r} (use {', '.join(MODES)})")
        if self.mode in ("header", "query") and not self.name:
            raise ConfigError(f"{self.mode} affinity needs a name, e.g. {self.mode}:X-User")
        if self.name and not all(c.isalnum() or c in "-_." for c in self.name):
            raise ConfigError(f"bad {self.mode} name {self.name!r}")
        for what, ttl in (
            ("cookie lifetime", self.cookie_ttl),
            ("stick table lifetime", self.table_ttl),
        ):
            if isinstance(ttl, bool) or not 1 <= ttl <= YEAR:  # also refuses NaN
                raise ConfigError(f"bad {what} {ttl!r}: use a number of seconds from 1 to {YEAR}")

    @classmethod
    def parse(cls, text: str) -> AffinityConfig:
        """``none``, ``cookie``, ``ip``, ``ip/24``, ``header:NAME`` or ``query:NAME``."""
        mode, _, name = text.strip().partition(":")
        mode = mode.lower()
        if mode == "ip/24":
            return cls("ip", prefix24=True)
        if mode not in MODES:
            raise ConfigError(
                f"unknown sticky mode {text!r}: use none, cookie, ip, ip/24, header:NAME"
                " or query:NAME"
            )
        return cls(mode, name=name)

    def describe(self) -> str:
        if self.mode in ("header", "query"):
            return f"{self.mode}:{self.name}"
        if self.mode == "ip" and self.prefix24:
            return "ip/24"
        return self.mode


@dataclass(frozen=True)
class Lookup:
    """Where a request is pinned, if anywhere, and why."""

    #: The table key (client address, header value, ...), or None: nothing to pin by.
    key: str | None = None
    #: The backend the request is pinned to, or None.
    pinned: str | None = None
    #: For the learner: "cookie → s2", "cookie tampered", "ip 10.0.0.7 → s1" ...
    note: str = ""


#: The lookup of every request when there is no affinity (frozen, so shared).
_UNPINNED = Lookup()


class CookieSigner:
    """Issues and checks ``<backend>.<expiry>.<mac>`` affinity cookie values."""

    def __init__(self, secret: bytes, clock: Callable[[], float], ttl: float) -> None:
        self._secret = secret
        self._clock = clock
        self.ttl = ttl

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return digest[:_MAC_BYTES].hex()

    def issue(self, backend: str, *, wall_now: float) -> str:
        """A cookie value pinning to ``backend`` until ``wall_now + ttl``."""
        payload = f"{backend}.{int(wall_now + self.ttl)}"
        return f"{payload}.{self._mac(payload)}"

    def check(self, value: str, *, wall_now: float) -> tuple[str | None, str]:
        """(backend, "") when valid; (None, what is wrong) otherwise."""
        parts = value.rsplit(".", 2)
        if (
            len(parts) != 3
            or not value.isascii()  # also what compare_digest needs: ASCII only
            or not parts[1].isdigit()
            or not NAME_RE.fullmatch(parts[0])
        ):
            return None, "malformed"
        backend, expiry, mac = parts
        if not hmac.compare_digest(mac, self._mac(f"{backend}.{expiry}")):
            return None, "bad signature (tampered, or from another run)"
        if int(expiry) < wall_now:
            return None, "expired"
        return backend, ""


class StickTable:
    """Key → backend with expiry after ``ttl`` idle seconds, LRU-bounded."""

    def __init__(self, ttl: float, clock: Callable[[], float], limit: int = MAX_TABLE) -> None:
        self.ttl = ttl
        self._clock = clock
        self._limit = limit
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        backend, expires = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        return backend

    def put(self, key: str, backend: str) -> None:
        self._entries[key] = (backend, self._clock() + self.ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)

    def forget_backend(self, backend: str) -> None:
        for key in [k for k, (b, _) in self._entries.items() if b == backend]:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


def cookie_values(headers: Iterable[str], name: str) -> list[str]:
    """Every value of cookie ``name`` in these Cookie header values."""
    found = []
    for header in headers:
        for part in header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                found.append(value.strip().strip('"'))
    return found


def without_cookie(header: str, name: str) -> str:
    """A Cookie header value with cookie ``name`` removed."""
    kept = [p.strip() for p in header.split(";") if p.strip().partition("=")[0] != name]
    return "; ".join(p for p in kept if p)


class Affinity:
    """Decides where a request is pinned and remembers new pins."""

    def __init__(
        self,
        config: AffinityConfig | None = None,
        *,
        clock: Callable[[], float],
        wall_clock: Callable[[], float],
        secret: bytes | None = None,
    ) -> None:
        self.config = config or AffinityConfig()
        self._clock = clock
        self._wall = wall_clock
        self._secret = secret or secrets.token_bytes(32)
        self._configure()

    def _configure(self) -> None:
        config = self.config
        self.signer = CookieSigner(self._secret, self._wall, config.cookie_ttl)
        self.table = StickTable(config.table_ttl, self._clock)

    def set_config(self, config: AffinityConfig) -> None:
        """Switch mode; pins made under the old mode are forgotten."""
        self.config = config
        self._configure()

    @property
    def mode(self) -> Mode:
        return self.config.mode

    def lookup(
        self,
        client_ip: str,
        header: Callable[[str], list[str]],
        query: str | None,
    ) -> Lookup:
        """Where this request is pinned. ``header(name)`` returns that header's values."""
        config = self.config
        mode = config.mode
        if mode == "none":
            return _UNPINNED
        if mode == "cookie":
            values = cookie_values(header("Cookie"), COOKIE)
            if not values:
                return Lookup(key="", note="no affinity cookie yet")
            backend, problem = self.signer.check(values[-1], wall_now=self._wall())
            if backend is None:
                return Lookup(key="", note=f"affinity cookie {problem}: re-picked")
            return Lookup(key="", pinned=backend, note=f"cookie → {backend}")
        if mode == "ip":
            key = _network(client_ip) if config.prefix24 else client_ip
            label = f"ip {key}"
        elif mode == "header":
            values = header(config.name)
            if not values:
                return Lookup(note=f"no {config.name} header: balanced normally")
            key = values[0]
            label = f"{config.name} {key!r}"
        else:
            value = _query_value(query, config.name)
            if value is None:
                return Lookup(note=f"no {config.name} parameter: balanced normally")
            key = value
            label = f"{config.name}={key!r}"
        pinned = self.table.get(key)
        if pinned is None:
            return Lookup(key=key, note=f"{label}: first visit")
        return Lookup(key=key, pinned=pinned, note=f"{label} → {pinned}")

    def bind(self, lookup: Lookup, backend: str, *, repinned: str = "") -> tuple[str, str | None]:
        """Remember ``backend`` for this request's key; (decision text, Set-Cookie value).

        ``repinned`` names the backend the request was pinned to but could not use.
        """
        mode = self.config.mode
        if mode == "none" or lookup.key is None:
            return lookup.note, None
        if repinned:
            note = f"pinned {repinned} unavailable: re-pinned to {backend} (session lost there)"
        elif lookup.pinned == backend:
            note = lookup.note
        elif lookup.pinned:
            note = f"{lookup.note}, but retried: re-pinned to {backend}"
        else:
            note = f"{lookup.note}: pinned to {backend}"
        if mode == "cookie":
            value = self.signer.issue(backend, wall_now=self._wall())
            cookie = (
                f"{COOKIE}={value}; Path=/; Max-Age={int(self.config.cookie_ttl)};"
                " HttpOnly; SameSite=Lax"
            )
            return note, cookie
        self.table.put(lookup.key, backend)
        return note, None


def _network(address: str) -> str:
    parts = address.split(".")
    return ".".join(parts[:3]) + ".0/24" if len(parts) == 4 else address


def _query_value(query: str | None, name: str) -> str | None:
    if not query:
        return None
    for part in query.split("&"):
        key, sep, value = part.partition("=")
        if key == name:
            return value if sep else ""
    return None
