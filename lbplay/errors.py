"""Every error lbplay raises on purpose, in one tree.

::

    LbplayError                  base: a message a learner can read, no traceback
    ├── ConfigError              the user asked for something invalid (CLI exit 2)
    │   ├── UnknownAlgorithm     a name not in the registry; carries suggestions
    │   └── UnknownBackend       no backend by that name (admin API: 404)
    ├── NoBackendAvailable       nothing is eligible to take the request (HTTP 503)
    │   └── AllBackendsFull      every eligible backend is at max_conns (the proxy queues)
    ├── HttpError                a client request the proxy refuses (net.http1: 400-505)
    ├── StoreUnavailable         the shared session store failed (net.session_store: 503)
    └── AdminUnreachable         ``lbplay ctl`` found no running lab to talk to

The CLI catches ``LbplayError`` and prints its message on one line; the proxy maps
``NoBackendAvailable`` to 503. Anything else escaping is a bug.
"""

from __future__ import annotations


class LbplayError(Exception):
    """Base of lbplay's own errors; ``str(error)`` is a one-line explanation."""


class ConfigError(LbplayError, ValueError):
    """Invalid user input: a bad backend spec, weight, option or name."""


class UnknownAlgorithm(ConfigError):
    """An algorithm name that is not registered."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown algorithm {name!r}{hint} (see 'lbplay algorithms')")


class UnknownBackend(ConfigError):
    """A backend name that is not in the fleet."""


class NoBackendAvailable(LbplayError):
    """No backend is eligible (all down, draining, removed or avoided)."""


class AllBackendsFull(NoBackendAvailable):
    """Every eligible backend is at its connection limit; the request may queue."""


class AdminUnreachable(LbplayError):
    """No running lab answers on the admin address."""
