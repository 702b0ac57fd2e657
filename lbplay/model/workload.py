"""Workloads: *what* load is sent and *when*, as plain data and arithmetic.

The traffic generator (``net.traffic``) and its virtual clients (``net.clients``) send
real requests; what they send, when, and from which address is described here, free of
I/O (no sockets, no event loop, no aiohttp), so the simulator can drive the same
workloads without a network. Randomness is always passed in (a ``random.Random``), so a
seed repeats a workload exactly.

* What: a ``RequestSpec`` is one kind of request (method, raw path, body size, extra
  headers); a ``RequestMix`` weights several kinds and ``sample`` picks one.
  ``DEFAULT_MIX`` is a plain ``GET /``; ``USER_PAGES`` are the pages a logged-in user
  browses.
* When: ``next_gap`` is the gap to the next arrival of a Poisson process (exponential,
  mean 1/rate), which is how many independent users arrive.
* Who: ``client_address`` is the loopback source address of virtual client ``i``.
* What came back: ``status_class`` sorts a status into the classes a dashboard counts.

Addresses avoid 127.0.0.0/24, where the proxy lives. By default each client gets a
/24 network of its own (127.0.1.1, 127.0.2.1, ...), because nginx's ``ip_hash`` hashes
only the first three octets: twenty clients in one /24 would all land on one backend.
``per_subnet=254`` packs clients into /24s instead (127.0.1.1, 127.0.1.2, ...), which
is how to show the other lesson: everyone behind one NAT looks like one client.
``NAT_MODES`` names the three ways (``off``, ``subnet``, ``address``).

``MIXES`` names the request mixes a learner can pick: ``pages`` (the default, small
GETs) and ``downloads``, where one request in ten fetches 1 MB from ``/bytes``, so
bytes and requests stop being the same thing (least_bandwidth's lesson).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from lbplay.errors import ConfigError

MAX_BODY = 16 * 1024 * 1024

# Every client address is 127.N.N.host with network N >= 1: 127.0.0.0/24 is the proxy's.
_MAX_NETWORKS = 0xFFFF
_HTTP_METHOD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


# -- what to send ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """One kind of request in a mix: method, raw path (with any query) and body size."""

    method: str = "GET"
    #: Sent exactly as written, e.g. "/", "/api/users?id=3", "/public/../admin".
    path: str = "/"
    #: Bytes of body to send (zeros); 0 sends no body.
    body_size: int = 0
    #: Relative share of the mix; only the ratios matter.
    weight: float = 1.0
    #: Extra request headers, e.g. (("X-User", "user3"),) for header affinity.
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        method = self.method
        if not isinstance(method, str) or not method or not set(method) <= _HTTP_METHOD_CHARS:
            raise ConfigError(f"bad method {method!r}: use an upper-case HTTP method like GET")
        path = self.path
        if (
            not isinstance(path, str)
            or not path.startswith("/")
            or any(ch <= " " or ch == "\x7f" for ch in path)
            or not path.isascii()
        ):
            raise ConfigError(
                f"bad path {path!r}: start with / and use no spaces, control or non-ASCII"
                " characters (percent-encode them)"
            )
        size = self.body_size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_BODY:
            raise ConfigError(f"bad body size {size!r}: use 0 to {MAX_BODY} bytes")
        weight = self.weight
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not 0 < weight < math.inf  # also rejects NaN
        ):
            raise ConfigError(f"bad weight {weight!r}: use a number above 0")

    def __str__(self) -> str:
        body = f" +{self.body_size} B" if self.body_size else ""
        return f"{self.method} {self.path}{body}"


@dataclass(frozen=True, slots=True)
class RequestMix:
    """Weighted kinds of request; ``sample`` picks one in proportion to its weight."""

    entries: tuple[RequestSpec, ...] = (RequestSpec(),)
    _cumulative: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        entries = tuple(self.entries)
        if not entries:
            raise ConfigError("empty request mix: give at least one kind of request")
        for entry in entries:
            if not isinstance(entry, RequestSpec):
                raise ConfigError(f"bad request mix entry {entry!r}: expected a RequestSpec")
        total = 0.0
        cumulative = []
        for entry in entries:
            total += entry.weight
            cumulative.append(total)
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "_cumulative", tuple(cumulative))

    @classmethod
    def of(cls, *entries: RequestSpec) -> RequestMix:
        return cls(entries)

    def sample(self, rng: random.Random) -> RequestSpec:
        if len(self.entries) == 1:
            return self.entries[0]
        return rng.choices(self.entries, cum_weights=self._cumulative)[0]


DEFAULT_MIX = RequestMix()
#: The request mixes a learner can choose, by name.
MIXES: dict[str, RequestMix] = {
    "pages": DEFAULT_MIX,
    "downloads": RequestMix.of(
        RequestSpec(weight=9.0),
        RequestSpec(path="/bytes?n=1000000", weight=1.0),
    ),
    # The explainer's ALB case study: pages, an API (v1 and v2), static files and an
    # admin host, so path, host and header rules all have traffic to route.
    "site": RequestMix.of(
        RequestSpec(path="/", weight=3.0),
        RequestSpec(path="/api/users", weight=3.0),
        RequestSpec(path="/api/users", weight=1.0, headers=(("X-API-Version", "v2"),)),
        RequestSpec(path="/static/app.js", weight=2.0),
        RequestSpec(path="/admin/", weight=1.0, headers=(("Host", "admin.example.com"),)),
    ),
}


#: The session app's pages a logged-in user browses (see net.sessions.APP_PATHS).
USER_PAGES = ("/profile", "/cart", "/orders")


# -- when to send it -------------------------------------------------------------------


def next_gap(rate: float, rng: random.Random) -> float:
    """Seconds to the next arrival of a Poisson process at ``rate`` per second.

    Exponential, mean 1/rate: the gaps of many independent users, each rarely sending.
    """
    return rng.expovariate(rate)


# -- who sends it ----------------------------------------------------------------------


#: How generated clients are addressed: the client count per /24 (1: each its own),
#: or None for one address shared by all (a NAT gateway), by mode name.
NAT_MODES: dict[str, int | None] = {
    "off": 1,  # each client its own /24: ip_hash spreads them
    "subnet": 254,  # every client in one /24 (an office): ip_hash puts them on one backend
    "address": None,  # every client behind one address (a NAT): even ip affinity clumps
}
#: The address every client has behind a NAT.
NAT_ADDRESS = "127.0.1.1"


def client_address(index: int, per_subnet: int | None = 1) -> str:
    """The source address of virtual client ``index`` (0-based).

    Clients fill /24 networks ``per_subnet`` at a time, from 127.0.1.0/24 up (never
    127.0.0.0/24, the proxy's): with 1, 127.0.1.1, 127.0.2.1, ...; with 254, 127.0.1.1
    to 127.0.1.254, then 127.0.2.1, ...; with None, all of them ``NAT_ADDRESS``.
    """
    if per_subnet is None:
        return NAT_ADDRESS
    if not 1 <= per_subnet <= 254:
        raise ConfigError(f"bad clients per subnet {per_subnet!r}: use 1 to 254")
    network, host = divmod(index, per_subnet)
    network += 1
    if index < 0 or network > _MAX_NETWORKS:
        raise ConfigError(f"no loopback address for client {index}")
    return f"127.{network >> 8}.{network & 0xFF}.{host + 1}"


# -- what came back --------------------------------------------------------------------


def status_class(status: int) -> str:
    """The class of a status: "2xx" to "5xx", "failed" for 0 (no response), else "other"."""
    if status == 0:
        return "failed"
    if 200 <= status < 600:
        return f"{status // 100}xx"
    return "other"
