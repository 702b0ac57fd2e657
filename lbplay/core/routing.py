"""Content routing (L7): rules that send a request to a named pool of backends.

Like ALB listener rules and nginx ``location`` blocks: each rule matches on any of
path (a prefix, or a glob with ``*`` and ``?``), host, a header and the method; the
first rule that matches wins and names a pool; requests no rule matches go to the
``default`` pool. Each pool has its own backends and its own algorithm.

Paths are matched after normalisation, never as sent:

1. Percent-encoded *unreserved* characters are decoded (RFC 3986 §6.2.2.2), so
   ``%2e`` is ``.`` and ``/public/%2e%2e/admin`` is ``/public/../admin``.
2. Repeated slashes are merged (nginx's ``merge_slashes``, on by default).
3. Dot-segments are removed (RFC 3986 §5.2.4): ``/public/../admin`` is ``/admin``,
   so it can never match a ``/public`` rule, and ``..`` cannot climb above ``/``.
4. An encoded slash ``%2F``, an encoded backslash ``%5C`` or an encoded NUL ``%00``
   makes the request ambiguous — a backend that decodes it would see a different path
   than the one the rules saw — so it is refused (400), as Envoy's
   ``path_with_escaped_slashes_action: REJECT_REQUEST`` does.

The request is still forwarded with its raw path, byte for byte: normalisation only
decides where it goes. A backend that normalises the same way sees what the rules saw.

Prefixes match whole segments: ``/api`` matches ``/api`` and ``/api/users`` but not
``/apis``. Globs match the whole path, ``*`` across slashes (ALB path patterns).
Hosts match case-insensitively without the port, ``*`` as a wildcard
(``*.example.com``). Header values match exactly or as a glob.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lbplay.core.backends import NAME_RE
from lbplay.errors import ConfigError

DEFAULT_POOL = "default"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_GLOB = frozenset("*?[")
_REFUSED = {
    "2f": "an encoded slash (%2F)",
    "5c": "an encoded backslash (%5C)",
    "00": "an encoded NUL (%00)",
}


class PathError(ConfigError):
    """A request path that cannot be routed safely (the proxy answers 400)."""


def normalise_path(raw: str) -> str:
    """The path rules match on: unreserved escapes decoded, slashes merged, dots removed."""
    if not raw.startswith("/"):
        raise PathError(f"path {raw!r} does not start with '/'")

    def decode(match: re.Match[str]) -> str:
        code = match.group(1).lower()
        if code in _REFUSED:
            raise PathError(f"path contains {_REFUSED[code]}: ambiguous, refused")
        char = chr(int(code, 16))
        return char if char in _UNRESERVED else f"%{code.upper()}"

    if "%" in raw:
        if re.search(r"%(?![0-9A-Fa-f]{2})", raw):
            raise PathError("path has a '%' that is not followed by two hex digits")
        raw = _PERCENT.sub(decode, raw)
    output: list[str] = []
    for segment in raw.split("/")[1:]:
        if segment in ("", "."):
            continue
        if segment == "..":
            if output:
                output.pop()
            continue
        output.append(segment)
    trailing = raw.endswith(("/", "/.", "/.."))
    path = "/" + "/".join(output)
    return path + "/" if trailing and output else path


@dataclass(frozen=True)
class Rule:
    """Send requests matching every given condition to ``pool``."""

    pool: str
    path: str | None = None
    host: str | None = None
    header: tuple[str, str] | None = None
    method: str | None = None

    def __post_init__(self) -> None:
        if not NAME_RE.fullmatch(self.pool):
            raise ConfigError(f"bad pool name {self.pool!r}")
        if self.path is not None and not self.path.startswith("/"):
            raise ConfigError(f"a path rule must start with '/', not {self.path!r}")
        if self.method is not None and not self.method.isalpha():
            raise ConfigError(f"bad method {self.method!r}")
        if (self.path, self.host, self.header, self.method) == (None, None, None, None):
            raise ConfigError(f"a rule for {self.pool} needs at least one condition")

    def matches(
        self, method: str, host: str, path: str, header: Callable[[str], str | None]
    ) -> bool:
        """Whether a request (``path`` already normalised) meets every condition."""
        if self.method is not None and method != self.method.upper():
            return False
        if self.host is not None and not fnmatch.fnmatchcase(_bare_host(host), self.host.lower()):
            return False
        if self.path is not None and not _path_matches(self.path, path):
            return False
        if self.header is not None:
            value = header(self.header[0])
            if value is None or not fnmatch.fnmatchcase(value, self.header[1]):
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.method:
            parts.append(f"method={self.method.upper()}")
        if self.host:
            parts.append(f"host={self.host}")
        if self.path:
            parts.append(f"path={self.path}")
        if self.header:
            parts.append(f"header={self.header[0]}:{self.header[1]}")
        return f"{','.join(parts)}->{self.pool}"

    @classmethod
    def parse(cls, text: str) -> Rule:
        """``path=/api/*,method=GET->api``; conditions are path, host, header, method."""
        conditions, arrow, pool = text.partition("->")
        if not arrow or not pool.strip():
            raise ConfigError(f"bad route {text!r}: use CONDITION[,CONDITION...]->POOL")
        for joiner in ("&&", "||", " and ", ";"):
            if joiner in conditions:
                raise ConfigError(
                    f"bad route {text!r}: conditions are joined with ',' and all must match,"
                    f" e.g. path=/api/*,method=POST->{pool.strip() or 'api'}"
                )
        fields: dict[str, object] = {}
        for part in conditions.split(","):
            key, eq, value = part.strip().partition("=")
            key = key.strip().lower()
            if not eq or not value or key not in ("path", "host", "header", "method"):
                raise ConfigError(
                    f"bad route condition {part.strip()!r}: use path=, host=, header=NAME:VALUE"
                    " or method="
                )
            if key in fields:
                raise ConfigError(f"route {text!r} names {key} twice")
            if key == "header":
                name, colon, wanted = value.partition(":")
                if not colon or not name:
                    raise ConfigError(f"bad header condition {value!r}: use header=NAME:VALUE")
                fields[key] = (name.strip(), wanted.strip())
            else:
                fields[key] = value.strip().upper() if key == "method" else value.strip()
        return cls(pool.strip(), **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Route:
    """Where a request goes, and why."""

    pool: str
    path: str
    rule: Rule | None

    @property
    def reason(self) -> str:
        if self.rule is None:
            return f"no rule matched {self.path}: pool {self.pool}"
        return f"rule {self.rule.describe()} matched {self.path}"


class Router:
    """First matching rule wins; otherwise the default pool."""

    def __init__(self, rules: Sequence[Rule] = (), default: str = DEFAULT_POOL) -> None:
        self.rules = list(rules)
        self.default = default

    def route(
        self, method: str, host: str, raw_path: str, header: Callable[[str], str | None]
    ) -> Route:
        """The pool for a request; ``PathError`` when its path is ambiguous."""
        path = normalise_path(raw_path)
        for rule in self.rules:
            if rule.matches(method, host, path, header):
                return Route(rule.pool, path, rule)
        return Route(self.default, path, None)

    def pools(self) -> set[str]:
        """Every pool some rule or the default names."""
        return {self.default, *(r.pool for r in self.rules)}


def _path_matches(pattern: str, path: str) -> bool:
    if _GLOB & set(pattern):
        return fnmatch.fnmatchcase(path, pattern)
    prefix = pattern.rstrip("/")
    return not prefix or path == prefix or path.startswith(prefix + "/")


def _bare_host(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
