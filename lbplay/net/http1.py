"""A strict, small HTTP/1.1 request parser for the client side of lbplay's L7 proxy.

The proxy serves clients itself rather than with aiohttp's server, because aiohttp's
server has no header-read timeout, answers oversized headers with 400 instead of 431
and accepts some inputs that a proxy must refuse. This module is the front door: it
parses one request head (``parse_head`` on bytes, for the proxy's callbacks;
``read_head`` from a stream), decides how the body is framed (``net.bodies`` reads it
by these rules) and writes the few answers the proxy makes itself. The backend side is
lbplay's own client (``net.upstream``).

Strict means "refuse, never repair". A proxy and the server behind it must agree on
where each request ends; when they can be made to disagree (Content-Length *and*
Transfer-Encoding, two lengths, ``xchunked``, a bare LF one side ends lines with and
the other does not), an attacker can hide a second request inside the first — request
smuggling. So every ambiguous input is answered 400 and the connection is closed.

Errors are ``LbplayError``s; ``str(error)`` is the reason, written for a learner::

    HttpError                  status + reason: answer ``status`` and close
    ├── RequestTimeout         408: the client was too slow
    │   ├── HeaderTimeout      the whole head did not arrive within ``timeout``: close
    │   │                      (slowloris, or an idle keep-alive connection)
    │   └── BodyTimeout        the body stalled for ``timeout``, or all of it did not
    │                          arrive by its deadline: answer 408 (the client waits)
    └── IncompleteRequest      400: the client closed mid-request; just close
        ├── HeadIncomplete     EOF inside the head
        └── BodyIncomplete     EOF inside the body

After any ``HttpError`` the framing of the connection is unknown: never read another
request from it.

Limits: a request line longer than ``max_uri`` bytes (method and version included)
is 414; a head larger than ``max_head`` bytes or with more than ``max_headers`` header
lines is 431; a body over ``max_body`` is 413.

Choices where the RFCs leave room (RFC 9112 unless noted):

* Transfer-Encoding must be exactly one ``chunked`` (any case, surrounding whitespace
  trimmed). Anything else — ``chunked, chunked``, ``gzip, chunked``, ``identity``,
  ``xchunked`` — is 400, not 501: REFERENCE.md says 400 for unknown codings, and a
  proxy that cannot frame a body cannot safely skip it either.
* Header names may contain only letters, digits and ``-``, stricter than the RFC's
  ``tchar``: ``X_Forwarded_For`` turns into ``X-Forwarded-For`` in CGI-style
  environments, so underscores are a classic way to slip a header past a proxy (nginx
  drops them by default for this reason).
* Header values may hold tabs, visible ASCII and obs-text (bytes 0x80-0xFF, decoded as
  Latin-1 so they round-trip byte for byte); any other control byte is 400.
* The request-target must be visible ASCII without ``#``; non-ASCII bytes must be
  percent-encoded by the client. It is kept exactly as sent, never decoded or
  normalised: ``path`` and ``query`` are raw slices of it (dot-segments and ``%2F``
  are for the router to decide).
* Up to ``MAX_EMPTY_LINES`` empty lines before the request line are skipped (RFC 9112
  §2.2 asks for at least one); a connection that closes after only empty lines is a
  clean close.
* CONNECT is 501: this proxy does not tunnel. TRACE and TRACK are 405 (with an
  ``Allow`` header), as nginx answers: a backend would echo the request back, cookies
  included. Other unknown methods are forwarded.
* Absolute-form targets must agree with Host, compared case-insensitively with the
  scheme's default port filled in (``http://a/`` matches ``Host: a:80``). HTTP/1.0
  without Host takes the host from an absolute-form target.
* Chunk-size lines are hex digits only (at most 16), then optionally ``;`` and
  extensions, which are ignored; whitespace before ``;`` is refused although the RFC
  tolerates it, because parsers disagree about it.
* ``Expect: 100-continue`` is honoured on HTTP/1.1 only (RFC 9110 §10.1.1); other
  expectations are left to the backend.

How the proxy forwards a body: a Content-Length body is sent on with the same length;
a chunked body is decoded (``net.bodies``) and re-framed as chunked by ``net.upstream``, so
chunk boundaries and extensions are not preserved, only the bytes.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Literal, NamedTuple, overload

from lbplay.errors import LbplayError

#: Empty lines tolerated before a request line (clients once sent CRLF after a body).
MAX_EMPTY_LINES = 4
#: Longest chunk-size line, extensions included.
MAX_CHUNK_LINE = 4096
#: ``Content-Length`` digits: 18 always fit in a signed 64-bit integer.
MAX_LENGTH_DIGITS = 18
#: Chunk-size hex digits: 16 fit in 64 bits.
MAX_CHUNK_DIGITS = 16

#: Sent before reading the body of a request with ``expect_continue``.
CONTINUE_RESPONSE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: The last chunk and the empty trailer section that end a chunked body.
LAST_CHUNK = b"0\r\n\r\n"


# -- errors ------------------------------------------------------------------------


#: Methods refused with 405, and what the 405's ``Allow`` header offers instead.
REFUSED_METHODS = frozenset({b"TRACE", b"TRACK"})
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


class HttpError(LbplayError):
    """A request the proxy must refuse: answer ``status`` with ``reason`` (and any
    ``headers``, such as a 405's Allow), then close."""

    def __init__(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = tuple(headers)


class RequestTimeout(HttpError):
    """The client was too slow (408): close without answering."""

    def __init__(self, reason: str) -> None:
        super().__init__(408, reason)


class HeaderTimeout(RequestTimeout):
    """The whole head did not arrive within the timeout: slowloris, or an idle client."""


class BodyTimeout(RequestTimeout):
    """The client stopped sending its body, or sent it too slowly: it is still waiting
    for an answer, so the proxy answers 408 (HAProxy and nginx do too)."""


class IncompleteRequest(HttpError):
    """The client closed the connection mid-request (400): nobody is left to answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, reason)


class HeadIncomplete(IncompleteRequest):
    """EOF after part of a request head."""


class BodyIncomplete(IncompleteRequest):
    """EOF before the end of the body that the head announced."""


def _bad(reason: str) -> HttpError:
    return HttpError(400, reason)


def _show(raw: bytes | str, limit: int = 40) -> str:
    """Quote client bytes for a reason: escaped, and short, since it is echoed back."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return repr(text[:limit] + "..." if len(text) > limit else text)


# -- the parsed head -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BodyFraming:
    """How the request body is delimited: not at all, by a length, or by chunks."""

    kind: Literal["none", "length", "chunked"]
    length: int = 0  # only for "length"; Content-Length: 0 stays "length" to be forwarded

    @property
    def has_body(self) -> bool:
        return self.kind == "chunked" or self.length > 0


NO_BODY = BodyFraming("none")
CHUNKED = BodyFraming("chunked")


@dataclass(slots=True)
class RequestHead:
    """One request line and its headers, validated; nothing decoded or re-encoded."""

    method: str
    target: str  # exactly as sent
    version: Literal["HTTP/1.0", "HTTP/1.1"]
    headers: list[tuple[str, str]]  # in order, names in their original case
    keep_alive: bool
    body: BodyFraming
    expect_continue: bool
    host: str | None  # the Host value; None only on HTTP/1.0 without one
    form: Literal["origin", "absolute", "asterisk"]
    path: str  # raw; "/" for "http://h" and "*" for "OPTIONS *"
    query: str | None = None  # raw text after the first "?"; None when there is no "?"
    #: The protocol asked for (``Upgrade`` named in ``Connection``, e.g. "websocket").
    upgrade: str | None = None
    #: The Connection header's options (tokens), in lower case: "close", "keep-alive",
    #: "upgrade" and the names of other hop-by-hop headers.
    connection: tuple[str, ...] = ()

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...

    # A scan, not an index: at most max_headers pairs, and ``headers`` stays editable.
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (any case), or ``default``."""
        key = name.lower()
        return next((v for n, v in self.headers if n.lower() == key), default)

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order."""
        key = name.lower()
        return [v for n, v in self.headers if n.lower() == key]


# -- parsing bytes -------------------------------------------------------------------

_METHOD = re.compile(rb"[A-Z][A-Z0-9_-]{0,31}")
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_TARGET_BAD = re.compile(rb"[^\x21-\x7e]|#")
_NAME = re.compile(rb"[A-Za-z0-9-]+")
_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_LENGTH = re.compile(rb"[0-9]{1,%d}" % MAX_LENGTH_DIGITS)
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,%d}" % MAX_CHUNK_DIGITS)
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]*)(?::([0-9]{1,5}))?")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


class _TooLong(Exception):
    """A line outgrew its byte budget; the caller knows whether that is 414 or 431."""


def _check_line(line: bytes) -> None:
    """Refuse bytes that no line of a head may contain (the CRLF is already removed)."""
    if b"\n" in line:
        raise _bad("bare LF line ending (lines must end with CRLF)")
    if b"\r" in line:
        raise _bad("bare CR inside a line")
    if b"\x00" in line:
        raise _bad("NUL byte in the request head")


def _split_head(data: bytes) -> tuple[bytes, list[bytes]]:
    """(request line, header lines) of a complete head; lines checked, CRLFs removed."""
    if not data.endswith(b"\r\n"):
        if data.endswith(b"\n"):
            raise _bad("bare LF line ending (lines must end with CRLF)")
        raise _bad("the head does not end with an empty line")
    lines = data[:-2].split(b"\r\n")
    # Every CR and LF is part of a CRLF, and no NUL: nothing to find line by line
    # (the common case, checked in three scans of the head instead of three per line).
    crlf = data.count(b"\r\n")
    if b"\x00" in data or data.count(b"\r") != crlf or data.count(b"\n") != crlf:
        for line in lines:
            _check_line(line)
    empty = 0
    while empty < len(lines) and not lines[empty]:
        empty += 1
    if empty > MAX_EMPTY_LINES:
        raise _bad(f"more than {MAX_EMPTY_LINES} empty lines before the request line")
    if empty == len(lines):
        raise _bad("no request line")
    request_line, *rest = lines[empty:]
    if not rest or rest[-1]:
        raise _bad("the head does not end with an empty line")
    fields = rest[:-1]
    if b"" in fields:
        raise _bad("bytes after the empty line that ends the head")
    return request_line, fields


_Version = Literal["HTTP/1.0", "HTTP/1.1"]


class _RequestLine(NamedTuple):
    method: str
    target: str
    version: _Version


#: A head that needs none of the checks one by one, matched on the head decoded as
#: Latin-1: an uppercase method, an origin-form target of visible ASCII without '#',
#: HTTP/1.0 or 1.1; then header lines each a name of letters, digits and '-' right
#: before its colon and a value of tabs, visible ASCII and obs-text; then the empty
#: line. Anything else takes the slow path, which finds what is wrong and says so.
_PLAIN_HEAD = re.compile(
    r"([A-Z][A-Z0-9_-]{0,31}) (/[!-\"$-~]*) (HTTP/1\.[01])\r\n"
    r"(?:[A-Za-z0-9-]+:[\t -~\x80-\xff]*\r\n)*\r\n"
)
_REFUSED_METHOD_NAMES = frozenset({"CONNECT", *(m.decode() for m in REFUSED_METHODS)})


def _parse_request_line(line: bytes, max_uri: int) -> _RequestLine:
    if len(line) > max_uri:
        raise HttpError(414, f"request line longer than {max_uri} bytes")
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        raise _bad(
            "request line is not 'METHOD target HTTP/1.1' with single spaces "
            f"(spaces in the target must be encoded as %20): {_show(line)}"
        )
    method, target, version = parts
    if not _VERSION.fullmatch(version):
        raise _bad(f"malformed HTTP version {_show(version)}")
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        raise HttpError(505, f"{version.decode()} is not supported, only HTTP/1.0 and 1.1")
    if not _METHOD.fullmatch(method):
        raise _bad(f"method {_show(method)} is not an uppercase token")
    if method == b"CONNECT":
        raise HttpError(501, "CONNECT (tunnelling) is not supported by this proxy")
    if method in REFUSED_METHODS:
        raise HttpError(
            405,
            f"{method.decode()} is refused: it would echo the request back, cookies and"
            " credentials included (cross-site tracing); nginx refuses it too",
            [("Allow", ALLOWED_METHODS)],
        )
    if _TARGET_BAD.search(target):
        raise _bad(
            "the target contains a control character, a space, a non-ASCII byte or a '#': "
            + _show(target)
        )
    return _RequestLine(
        method.decode("ascii"),
        target.decode("ascii"),
        "HTTP/1.1" if version == b"HTTP/1.1" else "HTTP/1.0",
    )


def _parse_field(line: bytes) -> tuple[str, str]:
    """One ``name: value`` line; also used for trailers."""
    if line[:1] in (b" ", b"\t"):
        raise _bad("obs-fold: a header line starts with whitespace (folded headers)")
    name, colon, value = line.partition(b":")
    if not colon:
        raise _bad(f"header line without a colon: {_show(line)}")
    if not name:
        raise _bad("header line with an empty name")
    if name[-1:] in (b" ", b"\t"):
        raise _bad(f"whitespace between header name and colon: {_show(name)}")
    if not _NAME.fullmatch(name):
        raise _bad(f"header name {_show(name)} has a character other than letters, digits and '-'")
    value = value.strip(b" \t")
    if _VALUE_BAD.search(value):
        raise _bad(f"control character in the value of {name.decode('ascii')}")
    return name.decode("ascii"), value.decode("latin-1")


def _tokens(values: Iterable[str]) -> list[str]:
    """Lower-cased elements of comma-separated header values, empty ones dropped."""
    return [t for v in values for t in (p.strip(" \t").lower() for p in v.split(",")) if t]


def _host_key(value: str, scheme: str) -> tuple[str, str]:
    """(host, port) with the scheme's default port filled in, for comparing hosts."""
    match = _HOST.fullmatch(value)
    if match is None:
        raise _bad(f"invalid host {_show(value)}")
    return match[1].lower(), match[2] or _DEFAULT_PORTS[scheme]


def _body_framing(version: _Version, te: list[str], cl: list[str]) -> BodyFraming:
    if te and cl:
        raise _bad("Content-Length and Transfer-Encoding together (request smuggling risk)")
    if te:
        if version == "HTTP/1.0":
            raise _bad("Transfer-Encoding on an HTTP/1.0 request (1.0 has no chunked)")
        codings = [c.strip(" \t").lower() for v in te for c in v.split(",")]
        if codings != ["chunked"]:
            raise _bad(
                f"Transfer-Encoding {_show(', '.join(te))}: only a single 'chunked' is accepted"
            )
        return CHUNKED
    if cl:
        if len(cl) > 1:
            raise _bad("more than one Content-Length header (request smuggling risk)")
        raw = cl[0].encode("latin-1")
        if not _LENGTH.fullmatch(raw):
            raise _bad(
                f"Content-Length {_show(cl[0])} is not 1 to {MAX_LENGTH_DIGITS} digits "
                "(no sign, no list, no spaces)"
            )
        return BodyFraming("length", int(raw))
    return NO_BODY


#: The headers ``_build`` decides by (lower case).
_DECIDING = frozenset(
    {"host", "transfer-encoding", "content-length", "connection", "expect", "upgrade"}
)


@functools.lru_cache(maxsize=256)
def _check_host(host: str) -> None:
    """Raise ``HttpError`` (400) for a malformed Host value. Remembered when it is
    well-formed (an error is not cached): a client sends the same one every time."""
    _host_key(host, "http")


def _build(
    method: str, target: str, version: _Version, headers: list[tuple[str, str]]
) -> RequestHead:
    """The head from its parsed parts, after the checks that need all the headers."""
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _DECIDING:
            by_name.setdefault(lower, []).append(value)

    hosts = by_name.get("host", [])
    if len(hosts) > 1:
        raise _bad("more than one Host header")
    if not hosts and version == "HTTP/1.1":
        raise _bad("HTTP/1.1 request without a Host header")
    host = hosts[0] if hosts else None
    if host is not None:
        _check_host(host)  # a malformed Host is 400 even if nothing routes on it

    form: Literal["origin", "absolute", "asterisk"]
    if target.startswith("/"):
        form = "origin"
        path, question, query = target.partition("?")
    elif target == "*":
        if method != "OPTIONS":
            raise _bad("the '*' target is only for OPTIONS")
        form, path, question, query = "asterisk", "*", "", ""
    else:
        scheme, sep, rest = target.partition("://")
        scheme = scheme.lower()
        if not sep or scheme not in _DEFAULT_PORTS:
            raise _bad(f"target {_show(target)} is neither '/path' nor 'http(s)://host/path'")
        form = "absolute"
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        authority, rest = rest[:cut], rest[cut:]
        if not authority:
            raise _bad(f"absolute-form target without a host: {_show(target)}")
        if "@" in authority:
            raise _bad("user info ('user@') in the target is not allowed")
        target_host = _host_key(authority, scheme)
        if host is None:
            host = authority
        elif _host_key(host, scheme) != target_host:
            raise _bad(f"the target's host {_show(authority)} disagrees with Host {_show(host)}")
        path, question, query = rest.partition("?")
        path = path or "/"

    if "transfer-encoding" in by_name or "content-length" in by_name:
        framing = _body_framing(
            version, by_name.get("transfer-encoding", []), by_name.get("content-length", [])
        )
    else:
        framing = NO_BODY
    connection = tuple(_tokens(by_name["connection"])) if "connection" in by_name else ()
    upgrade = None
    if "upgrade" in connection:
        upgrade = by_name.get("upgrade", [""])[0] or None
    if version == "HTTP/1.1":
        keep_alive = "close" not in connection
        expect_continue = "expect" in by_name and any(
            v.strip(" \t").lower() == "100-continue" for v in by_name["expect"]
        )
    else:
        keep_alive = "keep-alive" in connection and "close" not in connection
        expect_continue = False
    # (Positional: one is built per request, and keywords cost more.)
    return RequestHead(
        method,
        target,
        version,
        headers,
        keep_alive,
        framing,
        expect_continue,
        host,
        form,
        path,
        query if question else None,
        upgrade,
        connection,
    )


def parse_head(
    data: bytes, *, max_head: int = 16384, max_uri: int = 8192, max_headers: int = 100
) -> RequestHead:
    """Parse one complete request head: request line through the empty line, nothing more.

    Raises ``HttpError`` (400, 414, 431, 501 or 505) for anything not strictly valid.
    """
    if len(data) > max_head:
        raise HttpError(431, f"request head larger than {max_head} bytes")
    # Most heads are plain: one regular expression checks one whole (the same rules).
    # Each header line is then a name, a colon and a value: split, not matched again
    # (a regular expression per line costs twice as much on a browser's 18 headers).
    text = data.decode("latin-1")
    plain = _PLAIN_HEAD.fullmatch(text)
    if (
        plain is not None
        and (line_end := plain.end(3)) <= max_uri
        and plain[1] not in _REFUSED_METHOD_NAMES
    ):
        block = text[line_end + 2 : -2]  # the header lines, each with its CRLF
        if block.count("\r\n") <= max_headers:
            fields = []
            if block:
                for line in block[:-2].split("\r\n"):
                    name, _, value = line.partition(":")
                    fields.append((name, value.strip(" \t")))
            return _build(plain[1], plain[2], plain[3], fields)  # type: ignore[arg-type]
    return _parse_lines(data, max_uri=max_uri, max_headers=max_headers)


def _parse_lines(data: bytes, *, max_uri: int, max_headers: int) -> RequestHead:
    """``parse_head`` line by line: the path that finds what is wrong with a head."""
    request_line, field_lines = _split_head(data)
    line = _parse_request_line(request_line, max_uri)
    if len(field_lines) > max_headers:
        raise HttpError(431, f"more than {max_headers} header lines")
    return _build(*line, [_parse_field(f) for f in field_lines])


# -- reading from a stream -----------------------------------------------------------


async def _read_line(reader: asyncio.StreamReader, budget: int) -> bytes:
    """Bytes through the next LF, or what was left at EOF (then without the LF).

    Never consumes anything past the LF, so the body and any pipelined request stay in
    the reader. Raises ``_TooLong`` once the line passes ``budget`` bytes; how much the
    reader buffers before that is bounded by its own ``limit`` (the proxy passes
    ``limit=max_head`` to ``start_server``). A line longer than that limit but within
    the budget is still read, piecewise.
    """
    parts: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            # No LF within the reader's limit yet: those bytes are line, take them.
            if size + exc.consumed > budget:
                raise _TooLong from None
            chunk = await reader.readexactly(exc.consumed)
            parts.append(chunk)
            size += len(chunk)
            continue
        except asyncio.IncompleteReadError as eof:
            parts.append(eof.partial)
            return b"".join(parts)
        size += len(chunk)
        if size > budget:
            raise _TooLong
        parts.append(chunk)
        return b"".join(parts)


def _rest_of_head(reader: asyncio.StreamReader, budget: int) -> int:
    """How many buffered bytes, after a request line, complete the head (its header
    lines and the empty line), if all of them are already in ``reader`` and within
    ``budget``; else 0. Reads StreamReader's own buffer: there is no public peek."""
    buffered = getattr(reader, "_buffer", None)
    if not buffered:
        return 0
    if buffered[:2] == b"\r\n":
        return 2  # no header lines at all
    end = buffered.find(b"\r\n\r\n", 0, budget)
    return end + 4 if end >= 0 else 0


def _strip_crlf(line: bytes) -> bytes:
    if not line.endswith(b"\r\n"):
        raise _bad("bare LF line ending (lines must end with CRLF)")
    content = line[:-2]
    _check_line(content)
    return content


async def read_head(
    reader: asyncio.StreamReader,
    *,
    timeout: float,
    max_head: int = 16384,
    max_uri: int = 8192,
    max_headers: int = 100,
    loop: asyncio.AbstractEventLoop | None = None,
) -> RequestHead | None:
    """Read and parse one request head; None if the client closed before sending one.

    The whole head must arrive within ``timeout`` seconds of the call, however the
    bytes trickle in, or ``HeaderTimeout`` is raised. Limits are enforced line by line,
    so an oversized head is refused as soon as it crosses a limit (414 or 431) and a
    malformed request line or header line at once (400), without waiting for the rest.
    Nothing past the head is consumed: the body and any pipelined request stay in
    ``reader``. Create the server with ``asyncio.start_server(..., limit=max_head)`` so
    the reader's own buffer stays near the head limit too. ``loop``: the running loop,
    if the caller has it (asking for it costs a system call per request on 3.11).
    """
    received = 0
    empty = 0
    request: _RequestLine | None = None
    headers: list[tuple[str, str]] = []
    # A plain timer that cancels this task, rather than asyncio.timeout(): it is the
    # same mechanism with less bookkeeping, and it runs for every request.
    if loop is None:
        loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    assert task is not None
    fired = False

    def expire() -> None:
        nonlocal fired
        fired = True
        task.cancel()

    timer = loop.call_later(timeout, expire)
    try:
        while True:
            budget = max_head - received
            if request is None:
                budget = min(budget, max_uri + 2)
            try:
                line = await _read_line(reader, budget)
            except _TooLong:
                if request is None and budget == max_uri + 2:
                    raise HttpError(414, f"request line longer than {max_uri} bytes") from None
                raise HttpError(431, f"request head larger than {max_head} bytes") from None
            received += len(line)
            if not line.endswith(b"\n"):
                if request is None and not line:
                    return None  # closed between requests, maybe after stray CRLFs
                raise HeadIncomplete(
                    f"the client closed the connection after {received} bytes of the head"
                )
            content = _strip_crlf(line)
            if request is None:
                if content:
                    # The rest of the head often arrived with the request line: then
                    # parse it all at once (same checks), not line by line.
                    rest = _rest_of_head(reader, max_head - received)
                    if rest:
                        data = line + await reader.readexactly(rest)
                        return parse_head(
                            data, max_head=max_head, max_uri=max_uri, max_headers=max_headers
                        )
                    request = _parse_request_line(content, max_uri)
                    continue
                empty += 1
                if empty > MAX_EMPTY_LINES:
                    raise _bad(f"more than {MAX_EMPTY_LINES} empty lines before the request line")
            elif content:
                if len(headers) == max_headers:
                    raise HttpError(431, f"more than {max_headers} header lines")
                headers.append(_parse_field(content))
            else:
                return _build(*request, headers)
    except asyncio.CancelledError:
        if fired and task.uncancel() == 0:
            raise HeaderTimeout(f"the request head did not arrive within {timeout:g} s") from None
        raise
    finally:
        timer.cancel()


def _chunk_size(line: bytes) -> int:
    size, _, extensions = line.partition(b";")
    if not _CHUNK_SIZE.fullmatch(size):
        raise _bad(
            f"bad chunk size {_show(size)}: 1 to {MAX_CHUNK_DIGITS} hex digits, "
            "no sign, '0x' or spaces"
        )
    if _VALUE_BAD.search(extensions):
        raise _bad("control character in a chunk extension")
    return int(size, 16)


def encode_chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked body; end the body with ``LAST_CHUNK``."""
    if not data:
        raise ValueError("an empty chunk would end the body; send LAST_CHUNK for that")
    return b"%x\r\n%s\r\n" % (len(data), data)


# -- answers the proxy makes itself --------------------------------------------------


def _check_text(text: str, what: str) -> None:
    """Refuse what cannot go into a head: CR, LF, other controls, non-Latin-1 text."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {text!r} is not Latin-1") from None
    if _VALUE_BAD.search(raw):
        raise ValueError(f"control character in {what} {text!r}")


def response_head(
    status: int, headers: Sequence[tuple[str, str]], *, reason: str | None = None
) -> bytes:
    """An HTTP/1.1 status line and headers, through the empty line.

    Names and values are checked, so a header cannot smuggle a CRLF (response
    splitting). ``reason`` defaults to the standard phrase.
    """
    if reason is None:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
    if not 100 <= status <= 999:
        raise ValueError(f"invalid status {status}")
    _check_text(reason, "reason phrase")
    lines = [f"HTTP/1.1 {status} {reason}"]
    for name, value in headers:
        if not _NAME.fullmatch(name.encode("latin-1", "replace")):
            raise ValueError(f"invalid header name {name!r}")
        _check_text(value, f"the value of {name}")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def simple_response(
    status: int,
    text: str,
    *,
    keep_alive: bool,
    extra_headers: Sequence[tuple[str, str]] = (),
    head: bool = False,
) -> bytes:
    """A complete plain-text response, for the errors and pages the proxy answers itself.

    ``text`` gets a final newline if it lacks one, so it reads well under curl. For a
    ``head`` request the body is left out (its Content-Length stays): a body after a
    HEAD answer would be read as the next response.
    ``extra_headers`` may not set the framing (Content-Length, Transfer-Encoding,
    Connection): those follow from ``text`` and ``keep_alive``.
    """
    if status < 200 or status in (204, 304):
        raise ValueError(f"a {status} response cannot carry a body")
    for name, _ in extra_headers:
        if name.lower() in ("content-length", "transfer-encoding", "connection"):
            raise ValueError(f"{name} is set by simple_response itself")
    body = (text if text.endswith("\n") else text + "\n").encode("utf-8")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    if not keep_alive:
        headers.append(("Connection", "close"))
    headers.extend(extra_headers)
    return response_head(status, headers) + (b"" if head else body)
