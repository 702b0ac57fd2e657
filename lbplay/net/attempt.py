"""One try of a request on one backend, and the two ways a try can fail.

A ``Try`` is made when the L7 proxy has picked a backend: it counts the request as in
flight there (``Balancer.begin``), and ends exactly once, as ok or failed, with the
kind of failure passive health counts ("connect", "timeout", "reset", "5xx"). Ending
it calls ``Balancer.end`` and returns the ``events.Attempt`` that the request's
``RequestCompleted`` event carries. It sits on every request's path, so it is a plain
slotted class: one small object per try, nothing else.

``Failure`` is a try that failed before any byte of the response reached the client
(the proxy can still answer 502/503/504, or retry); ``ClientFailed`` is the client's
own fault while its body was being forwarded, which is not held against the backend.
"""

from __future__ import annotations

from collections.abc import Callable

from lbplay.core.balancer import Balancer
from lbplay.core.events import Attempt, make_attempt
from lbplay.core.picker import Pick
from lbplay.net.http1 import HttpError


class Try:
    """One request in flight on ``pick.backend``: begun when made, ended exactly once.

    ``ok`` and ``failed`` end it with its latency and return its record; ``abandon``
    ends it without one (the request was cancelled, nobody will read the record).
    """

    __slots__ = ("balancer", "pick", "ticket", "started", "_clock")

    def __init__(self, balancer: Balancer, pick: Pick, clock: Callable[[], float]) -> None:
        self.balancer = balancer
        self.pick = pick
        self.ticket = balancer.begin(pick)
        self._clock = clock
        #: When the try began, on ``clock`` (the proxy's).
        self.started = clock()

    def transferred(self, nbytes: int) -> None:
        """Count response bytes relayed to the client (bytes-based algorithms use them)."""
        self.balancer.transferred(self.ticket, nbytes)

    def ok(self, outcome: str = "ok", status: int | None = None) -> Attempt:
        """End it as a success of the backend (also when the client was at fault)."""
        return self._end(True, None, outcome, status)

    def failed(self, outcome: str, failure: str | None, status: int | None = None) -> Attempt:
        """End it as the backend's failure; ``failure`` is the kind passive health counts
        (None: a failure that is not one of those kinds)."""
        return self._end(False, failure, outcome, status)

    def abandon(self) -> None:
        """End it unrecorded, as not ok (the request was cancelled mid-try)."""
        self.balancer.end(self.ticket, ok=False)

    def _end(self, ok: bool, failure: str | None, outcome: str, status: int | None) -> Attempt:
        if self.ticket.done:
            raise RuntimeError(f"the try on {self.pick.backend.name} has already ended")
        latency = self._clock() - self.started
        self.balancer.end(self.ticket, ok=ok, latency=latency, failure=failure)
        pick = self.pick
        return make_attempt(pick.backend.name, pick.reason, outcome, status, latency)


class Failure(Exception):
    """A try that failed before any response byte reached the client."""

    def __init__(
        self, outcome: str, status: int, message: str, *, sent: bool, kind: str | None
    ) -> None:
        super().__init__(message)
        #: The attempt's outcome as recorded ("refused", "timeout", "closed", ...).
        self.outcome = outcome
        #: The status the proxy answers with if it does not retry (502, 503 or 504).
        self.status = status
        self.message = message
        #: True when the request may have reached the backend.
        self.sent = sent
        #: What passive health counts it as ("connect", "timeout", "reset"); None: no
        #: fault of a backend.
        self.kind = kind


class ClientFailed(Exception):
    """The client's body failed (too large, stalled, cut off) while being forwarded."""

    def __init__(self, error: HttpError) -> None:
        super().__init__(error.reason)
        self.error = error
