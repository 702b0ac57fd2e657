"""When the L7 proxy tries another backend: nginx's ``proxy_next_upstream`` rules.

* a connection that could not be made (refused, connect timeout) is retried on
  another backend for every method: nothing was sent;
* a timeout or a failure after the request was sent is retried only for methods
  other than POST, PATCH and LOCK, and only when the request body can be replayed
  (bodies up to ``replay_limit`` bytes are read before the first attempt, as nginx's
  ``proxy_request_buffering`` does);
* chosen 5xx statuses are retried only when listed in ``RetryPolicy.on_status``, and
  only if another backend can be tried — otherwise the last answer is passed on;
* never once a byte of the response reached the client;
* at most ``tries`` attempts and ``timeout`` seconds, each avoiding the backends
  already tried.

The policy itself is ``model.config.RetryPolicy``; this module only applies it. Both
decisions are off the path of a request that succeeds at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lbplay.core.balancer import Balancer
from lbplay.core.picker import Pick, PickContext
from lbplay.errors import NoBackendAvailable
from lbplay.model.config import RetryPolicy

if TYPE_CHECKING:
    from lbplay.net.bodies import Body

#: nginx never retries these once the request was sent (since 1.9.13).
NON_IDEMPOTENT = frozenset({"POST", "PATCH", "LOCK"})


def may_retry(method: str, body: Body, policy: RetryPolicy, *, sent: bool) -> bool:
    """Whether a request whose try failed may be sent again (``sent``: it may have
    reached the backend)."""
    if body.error is not None:
        return False
    if not sent:
        return True  # nothing reached the backend: always safe
    if method in NON_IDEMPOTENT and not policy.non_idempotent:
        return False
    return body.replayable


def next_pick(
    balancer: Balancer,
    policy: RetryPolicy,
    *,
    made: int,
    started: float,
    clock: Callable[[], float],
    tried: Sequence[str],
    client_ip: str,
    hash_key: str,
) -> Pick | None:
    """The backend for another try, or None when the retry budget is spent.

    ``made``: tries made so far; ``started``: when the request arrived, on ``clock``;
    ``tried``: the backends tried, which the next pick avoids.
    """
    if made >= policy.tries:
        return None
    if clock() - started > policy.timeout:
        return None
    context = PickContext(client_ip=client_ip, hash_key=hash_key, avoid=frozenset(tried))
    try:
        pick = balancer.pick(context)
    except NoBackendAvailable:
        return None
    return None if pick.backend.name in tried else pick  # every eligible one tried
