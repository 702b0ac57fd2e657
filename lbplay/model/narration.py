"""What lbplay tells the learner about a change: what it did and what to watch next.

Every control the Lab applies is announced as a ``ControlAction`` with a detail and a
"watch" line ("the health checker needs 3 failed checks, about 3.5 s, before it
stops sending traffic there"). The words live here, in one place, as functions of
the facts they depend on (the health settings, the algorithm, the mode), so the
Lab only supplies facts, and the dashboard, ``ctl`` and lessons all read the same
sentences. The classic session set-ups and their descriptions are here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbplay.core import registry
from lbplay.core.backends import Backend
from lbplay.core.explore import key_movement
from lbplay.core.health import HealthCheckConfig
from lbplay.core.passive import NginxPassive, OutlierDetection

#: Keys hashed to say how many move when a backend is added (a few ms per thousand).
MOVEMENT_KEYS = 5_000


@dataclass(frozen=True)
class SessionMode:
    """A classic session set-up: the affinity, where sessions live, and its story."""

    #: Session affinity (``AffinityConfig.parse`` form).
    sticky: str
    #: "local" (each backend's memory) or "shared" (a shared store).
    store: str
    #: One line for the chooser: what it is, as real balancers call it.
    summary: str
    #: What is configured, in words.
    detail: str
    #: What the learner should see happen.
    watch: str


SESSION_MODES: dict[str, SessionMode] = {
    "none": SessionMode(
        "none",
        "local",
        "every request is balanced on its own; sessions in memory get lost",
        "no affinity; sessions in each backend's memory",
        "requests spread, so most land where their session is not: 401s, losses climb",
    ),
    "cookie": SessionMode(
        "cookie",
        "local",
        "a signed cookie names the backend (HAProxy cookie insert, ALB AWSALB)",
        "signed affinity cookie; sessions in each backend's memory",
        "users stick to one backend; kill it and its users lose their sessions",
    ),
    "ip": SessionMode(
        "ip",
        "local",
        "each client address is pinned to the backend it first reached (stick table)",
        "affinity by client address; sessions in each backend's memory",
        "each client address sticks to one backend (everyone behind one NAT would too)",
    ),
    "header": SessionMode(
        "header:X-User",
        "local",
        "each X-User header value is pinned to one backend (stick table)",
        "affinity by the X-User header; sessions in each backend's memory",
        "each user sends X-User, so each user sticks to one backend",
    ),
    "shared": SessionMode(
        "none",
        "shared",
        "sessions live in a shared store: any backend can serve anyone",
        "no affinity; sessions in the shared store",
        "any backend can serve any user: kill one, no session is lost",
    ),
}


def session_mode(sticky: str, shared: bool) -> str:
    """The classic set-up that ``sticky`` and the store make ("cookie", "shared"), or
    both parts in words when they make none of them ("ip + shared store")."""
    store = "shared" if shared else "local"
    return next(
        (name for name, m in SESSION_MODES.items() if (m.sticky, m.store) == (sticky, store)),
        f"{sticky} + {'shared store' if shared else 'local sessions'}",
    )


def sticky_watch(mode: str, name: str, l4: bool) -> str:
    """What to watch after choosing an affinity mode."""
    if l4 and mode in ("ip", "ip/24"):
        return (
            "lbplay's L4 proxy keeps no affinity: this applies once you switch to L7"
            " (a real L4 balancer can pin by source address)"
        )
    if l4 and mode != "none":
        return "L4 cannot see cookies or headers: this applies once you switch to L7"
    return {
        "none": "requests spread again: sessions kept in one backend's memory get lost",
        "cookie": "each client is pinned by a signed cookie: watch its requests stay put",
        "ip": "each client address is pinned to one backend",
        "header": f"requests with the same {name} header stick together",
        "query": f"requests with the same {name} parameter stick together",
    }[mode]


def algorithm_watch(name: str) -> str:
    """What changes when the balancer switches to algorithm ``name``."""
    info = registry.get(name)
    if info.uses_key:
        return "requests with the same key (client address) now stick to one backend"
    if info.uses_load:
        return "slow or busy backends now get less traffic"
    if info.uses_weights:
        return "shares now follow the weights"
    return "every backend gets an equal share of requests, fast or slow"


def added_watch(
    name: str,
    algorithm: str,
    fleet: Sequence[tuple[str, int]] = (),
    weight: int = 1,
    options: Mapping[str, Any] | None = None,
) -> str:
    """What to watch when backend ``name`` (``weight``) joins a pool of ``fleet``
    (name, weight) running ``algorithm``: for a hashing algorithm, how many keys the
    engine computes will move — a ring moves about 1/N, modulo hashing most."""
    info = registry.get(algorithm)
    if info.uses_key and fleet:
        movement = key_movement(
            info.name,
            [Backend(n, w) for n, w in fleet],
            add=[Backend(name, weight)],
            keys=MOVEMENT_KEYS,
            options=options,
        )
        keys = "client networks (/24s)" if info.hashes_address else "keys"
        return (
            f"{info.name} moves {movement.moved_share:.0%} of {keys} to another backend"
            f" (computed for {MOVEMENT_KEYS:,}); the fewest possible is"
            f" {movement.minimum / movement.keys:.0%}, the new backend's share"
        )
    if info.uses_key:
        return f"watch which keys move to {name}"
    if info.uses_load:
        return f"{name} starts with nothing in flight, so {info.name} favours it at first"
    return f"{name} gets its turn in the rotation at once"


def kill_watch(health: HealthCheckConfig | None) -> str:
    """What happens after a kill: how long until the checker notices, and retries."""
    if health is not None:
        return (
            f"the health checker needs {health.fall} failed checks, at most"
            f" {health.refused_time:.3g} s (a killed backend refuses them at once), before it"
            " stops sending traffic there;"
            " until then retries carry its requests to another backend"
        )
    return (
        "without health checks the balancer keeps picking it; retries send each"
        " request on to another backend (X-Lbplay-Backend lists both)"
    )


def slow_watch(ms: float) -> str:
    if not ms:
        return "its latency returns to normal"
    return (
        "least_connections and least_response_time shift traffic away from it;"
        " round robin keeps sending it a full share"
    )


def weight_watch(name: str, algorithm: str) -> str:
    info = registry.get(algorithm)
    if info.uses_weights:
        return f"{name}'s share moves toward its weight"
    return f"{info.name} ignores weights: nothing changes"


def enable_watch(slow_start: float) -> str:
    if slow_start:
        return f"slow start ramps its share from 10% over {slow_start:g} s"
    return "it takes its full share at once"


def health_watch(health: HealthCheckConfig) -> str:
    return f"a dead backend is noticed {health.noticed()}"


def passive(nginx: NginxPassive | None, outlier: OutlierDetection | None) -> tuple[str, str]:
    """(detail, watch) for passive health: what counts as a failure, and what follows."""
    parts = []
    watch = []
    if nginx:
        counted = "connection errors, resets and timeouts"
        if "5xx" in nginx.counts:
            counted = "connection errors, resets, timeouts and retried 5xx answers"
        parts.append(f"nginx max_fails={nginx.max_fails} fail_timeout={nginx.fail_timeout:g}s")
        failures = "1 failure" if nginx.max_fails == 1 else f"{nginx.max_fails} failures"
        takes = "takes" if nginx.max_fails == 1 else "take"
        watch.append(
            f"{failures} ({counted}) within {nginx.fail_timeout:g} s {takes} a backend out"
            f" for {nginx.fail_timeout:g} s"
            + (
                ""
                if "5xx" in nginx.counts
                else "; a backend answering 500 stays in, as in nginx, where max_fails counts"
                " what proxy_next_upstream retries (retries --on 500 to count 500s)"
            )
        )
    if outlier:
        parts.append(
            f"Envoy outlier: {outlier.consecutive} consecutive failures,"
            f" {outlier.base_ejection_time:g} s x ejections"
        )
        watch.append(
            f"{outlier.consecutive} failures in a row (5xx answers or connection errors)"
            f" eject a backend for {outlier.base_ejection_time:g} s, longer each time"
        )
    return "; ".join(parts) or "off", "; ".join(watch)


def retries(tries: int, on: frozenset[int]) -> tuple[str, str]:
    """(detail, watch) for the retry rules."""
    statuses = ", ".join(map(str, sorted(on)))
    detail = f"{tries} tries" + (f", also on {statuses}" if on else "") if tries > 1 else "off"
    if tries == 1:
        return detail, "a failed attempt is the client's error now: no second backend is tried"
    return detail, (
        "connection failures and timeouts go to another backend (never a POST once sent)"
        + (f"; so do {statuses} answers" if on else "; a 5xx answer is passed on")
        + " — each retry is one more request for the fleet"
    )


def nat(mode: str) -> tuple[str, str]:
    """(detail, watch) for where the generated clients come from."""
    return {
        "off": (
            "each client has a network of its own",
            "client-address hashing spreads them again",
        ),
        "subnet": (
            "every client in one /24, like an office network",
            "nginx ip_hash hashes only the first three octets: they all land on one backend",
        ),
        "address": (
            "every client behind one address, like a NAT gateway",
            "anything keyed on the client address (ip_hash, ip affinity) sees one client",
        ),
    }[mode]


def mix(name: str) -> tuple[str, str]:
    """(detail, watch) for what the generated clients ask for."""
    if name == "downloads":
        return (
            "1 request in 10 downloads 1 MB from /bytes",
            "bytes and requests part ways: least_bandwidth sends the small ones elsewhere",
        )
    if name == "site":
        return (
            "pages, /api/users (some with X-API-Version: v2), /static/app.js, and /admin/"
            " on host admin.example.com",
            "routing rules have something to route: each request's pool shows in the feed",
        )
    return "small pages", "every request costs about the same again"


def hang_watch(read_timeout: float) -> str:
    return f"requests to it time out after {read_timeout:g} s (504)"


def l4_ignored(rules: int, sticky: str) -> str:
    """What L4 mode cannot apply of the current settings."""
    ignored = []
    if rules:
        ignored.append(f"{rules} routing rule(s)")
    if sticky not in ("none", "ip"):
        ignored.append(f"{sticky} stickiness")
    return f" Ignored until you switch back: {', '.join(ignored)}." if ignored else ""


#: Said once L7 is back.
L7_WATCH = "keep-alive connections now spread across backends"
WELCOME_EMPTY_TIMELINE = (
    "Nothing has happened yet. Select a backend and press k to kill it:"
    " the health checker needs a few failed checks before it notices."
)


#: What to watch when the balancer itself is down (misconception 14).
BALANCER_DOWN_WATCH = (
    "every request fails with 'connection refused' while every backend stays UP: one"
    " balancer is a single point of failure. Real ones run in pairs (keepalived, a"
    " floating IP) or as a managed service spread over zones; 'balancer up' ends it"
)
