"""The headers a reverse proxy rewrites, in both directions.

Hop-by-hop headers describe one connection, not the message, so a proxy never passes
them on (RFC 9110 §7.6.1): Connection, Keep-Alive, TE, Trailer, Transfer-Encoding,
Upgrade, every ``Proxy-*`` header (and ``Proxy`` itself, the "httpoxy" header that CGI
turns into an ``HTTP_PROXY`` variable), and every header named in a Connection
header. ``Connection: host`` cannot remove Host, though: the proxy needs it forwarded.

X-Forwarded-For records the client: the proxy appends the address of the socket peer.
What a client writes there itself is a claim anyone can make, so it is believed (kept
and appended to) only when the peer is one of the configured trusted proxies, and
dropped otherwise; the same goes for X-Forwarded-Proto. The *client address* the
balancer hashes on is the right-most untrusted hop.

Header values reach the backend byte for byte. The parser decodes values as Latin-1 so
any byte survives, but the upstream client (``net.upstream``) writes the request head
as UTF-8: a value is therefore handed over as the text its bytes spell in UTF-8, which
turns back into the same bytes, and a value whose bytes are not UTF-8 cannot be forwarded exactly
and is refused with 400 rather than silently altered.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Sequence

from lbplay.core.affinity import without_cookie
from lbplay.net.http1 import HttpError, RequestHead

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Headers that describe one connection, not the message; never forwarded (RFC 9110
#: §7.6.1). Every other ``proxy-*`` header and ``proxy`` are dropped too (see below).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)

#: Never forwarded from the client: the proxy writes or answers these itself.
_REWRITTEN = frozenset({"x-forwarded-for", "x-forwarded-proto", "expect", "content-length"})
#: The names ``request_header_lines`` looks at twice (every "proxy*" one too, and any
#: named in Connection); every other header is passed on as it is.
_EXAMINED = HOP_BY_HOP | _REWRITTEN | {"host", "cookie"}
#: Never relayed from the backend: the proxy frames the response itself.
_REFRAMED_BYTES = frozenset({b"content-length", b"transfer-encoding"})
_HOP_BY_HOP_BYTES = frozenset(name.encode("ascii") for name in HOP_BY_HOP)


def _hop_by_hop(lower: str, named: Collection[str]) -> bool:
    """Whether header ``lower`` (its name in lower case) is not passed on: hop-by-hop,
    or named in Connection (``named``, its tokens), which cannot name Host."""
    return (
        lower in HOP_BY_HOP
        or lower == "proxy"
        or lower.startswith("proxy-")
        or (lower in named and lower != "host")
    )


class TrustedProxies:
    """The peers whose X-Forwarded-For is believed (addresses or networks)."""

    def __init__(self, networks: Sequence[IPNetwork]) -> None:
        self.networks = tuple(networks)

    def __contains__(self, address: str) -> bool:
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_ip(self, head: RequestHead, peer_ip: str) -> str:
        """The client: the peer, or the right-most untrusted X-Forwarded-For hop."""
        if peer_ip not in self:
            return peer_ip
        hops = [h.strip() for v in head.get_all("X-Forwarded-For") for h in v.split(",")]
        for hop in reversed([h for h in hops if h]):
            if hop not in self:
                return hop
        return peer_ip


def _as_sent(name: str, value: str) -> str:
    """``value`` as text whose UTF-8 is the bytes the client sent (as ``net.upstream``
    writes it)."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(
            400,
            f"the value of {name} has bytes that are not UTF-8; this proxy forwards header"
            " values byte for byte and cannot forward those",
        ) from None


def request_header_lines(
    head: RequestHead, peer_ip: str, trusted: bool, *, drop_cookie: str | None = None
) -> str:
    """What the backend gets besides the request line: the client's end-to-end headers
    plus X-Forwarded-*, as ``name: value\r\n`` lines (the empty line not included).

    ``trusted``: the peer is a trusted proxy, so its X-Forwarded-For and -Proto are
    kept. ``drop_cookie``: a cookie to take out of the Cookie headers (the balancer's
    own affinity cookie, as HAProxy's "indirect"); a Cookie header left empty is
    dropped. Host is the client's (none only when the client sent none, as HTTP/1.0
    may); Content-Length is set from the parsed framing (``net.upstream`` frames any
    other body). Raises ``HttpError`` (400) for a value that cannot be forwarded
    exactly.
    """
    forwarded_for: list[str] = []
    proto = "http"
    lines: list[str] = []
    has_host = False
    named = head.connection
    # Repeats of a header keep the first spelling of its name, so that a backend that
    # compares names case-sensitively sees one header. Names are case-insensitive, so
    # nothing is lost.
    spelling: dict[str, str] = {}
    # (One loop, no comprehension, no call for most headers: every request passes here,
    # a browser's with some twenty headers.)
    for name, value in head.headers:
        lower = name.lower()
        if lower in _EXAMINED or lower.startswith("proxy") or lower in named:
            if _hop_by_hop(lower, named):
                continue
            if lower in _REWRITTEN:
                if trusted and lower == "x-forwarded-for":
                    forwarded_for.append(value)
                elif trusted and lower == "x-forwarded-proto":
                    proto = value
                continue
            if lower == "host":
                has_host = True
            elif lower == "cookie" and drop_cookie is not None:
                value = without_cookie(value, drop_cookie)
                if not value:
                    continue
        if not value.isascii():
            value = _as_sent(name, value)
        lines.append(f"{spelling.setdefault(lower, name)}: {value}\r\n")
    if not has_host and head.host is not None:
        lines.append(f"Host: {head.host}\r\n")  # named in Connection, or from the target
    forwarded_for.append(peer_ip)
    lines.append(f"X-Forwarded-For: {', '.join(forwarded_for)}\r\nX-Forwarded-Proto: {proto}\r\n")
    if head.body.kind == "length":
        lines.append(f"Content-Length: {head.body.length}\r\n")
    return "".join(lines)


def response_header_lines(raw: Iterable[tuple[bytes, bytes]], drop: frozenset[bytes]) -> bytes:
    """The backend's end-to-end header lines (``name: value\r\n`` each), minus framing,
    hop-by-hop headers and ``drop`` (lower-case names).

    Bytes in, bytes out: what the backend sent is written back byte for byte, and a
    response is not decoded and re-encoded on its way through (every response passes
    here). The same rules as ``request_header_lines``, on bytes.
    """
    lowered = [(name.lower(), name, value) for name, value in raw]
    named: set[bytes] = set()
    for lower, _, value in lowered:
        if lower == b"connection":
            named.update(token.strip(b" \t").lower() for token in value.split(b","))
    named.discard(b"host")
    lines = []
    for lower, name, value in lowered:
        if (
            lower in named
            or lower in _HOP_BY_HOP_BYTES
            or lower in _REFRAMED_BYTES
            or lower in drop
            # "proxy" itself and every "proxy-*"
            or (lower.startswith(b"proxy") and (len(lower) == 5 or lower[5:6] == b"-"))
        ):
            continue
        lines.append(b"%s: %s\r\n" % (name, value))
    return b"".join(lines)
