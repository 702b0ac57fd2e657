"""Generated quiz questions: parameters drawn from a seeded RNG, answers computed by
lbplay's own engine, so there are endless fresh ones and none can be wrong by typo.

A bank entry ``kind = "generated"`` names a ``generator`` and its ``params`` (ranges
as ``[low, high]``, choices as lists); ``draw(name, params, rng)`` makes one concrete
question (an ``answers.Drawn``) answerable from its text alone:

* ``picks`` — the next pick(s) of an algorithm: round robin and nginx's smooth
  weighted round robin (weights), least connections and weighted least connections
  (requests in flight), least response time (latency estimates and requests in
  flight), nginx ``ip_hash`` (two clients of one /24) and the hash algorithms (a user
  id whose last request went to a named backend). The core's ``Balancer`` computes
  the answer (through ``course.predict`` where it can), and its reasons are the
  feedback;
* ``keys_moved`` — the share of keys that move when a backend is added or removed,
  for modulo, ring, jump, Maglev and rendezvous hashing
  (``core.explore.key_movement`` via ``course.predict``; the range that counts also
  holds the textbook answer: ~N/(N+1) for modulo, ~1/N for consistent hashing, and for
  jump hash the backends renumbered after a removed one);
* ``health_timing`` — at most how many seconds until a crashed or hung backend is
  DOWN, or a revived one UP, for a drawn interval, timeout, fall and rise (the health
  model, ``core.health``, through ``course.predict``);
* ``health_preset`` — which real system's defaults a check is, or how long a crashed
  server keeps its traffic under one system's defaults (``core.health.PRESETS``);
* ``session_death`` — what a user sees when their sticky server dies, per session
  mode (``model.narration.SESSION_MODES``: where sessions live and what pins a user;
  ``tests/course/test_quiz_lab.py`` plays the outcomes on a real Lab).

Wrong answers learners often give are recognised (``Wrong`` numbers, ``Trap`` pick
sequences, wrong ``Choice``\\ s) and name the misconception they reveal.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbplay.core.backends import Backend
from lbplay.core.balancer import Balancer
from lbplay.core.explore import VirtualClock, pick_sequence
from lbplay.core.health import PRESETS, HealthCheckConfig
from lbplay.core.picker import Pick
from lbplay.course import predict
from lbplay.course.answers import Choice, Drawn, Number, Trap, Wrong
from lbplay.errors import ConfigError
from lbplay.model.config import LabConfig, fleet
from lbplay.model.narration import SESSION_MODES

#: Algorithms the ``picks`` generator can ask about.
PICK_ALGORITHMS = (
    "round_robin",
    "weighted_round_robin",
    "least_connections",
    "weighted_least_connections",
    "least_response_time",
    "ip_hash",
    "hash_modulo",
    "ring_hash",
    "jump_hash",
    "maglev",
    "rendezvous",
)
#: Algorithms the ``keys_moved`` generator can ask about.
MOVING_ALGORITHMS = ("hash_modulo", "ring_hash", "jump_hash", "maglev", "rendezvous")
HEALTH_EVENTS = ("crash", "hang", "revive")
PRESET_QUESTIONS = ("which", "detection")
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy")
#: How the real systems name each preset, for questions about them.
PRESET_NAMES = {
    "haproxy": "HAProxy",
    "aws-alb": "the AWS Application Load Balancer",
    "nginx-plus": "NGINX Plus",
    "playground": "lbplay's playground preset",
}
#: What each hashing algorithm is, in words a question can use.
HASHING_WORDS = {
    "hash_modulo": "modulo hashing, hash(key) mod N (nginx `hash $key` without `consistent`)",
    "ring_hash": "a hash ring with 160 points per backend (nginx `hash $key consistent`)",
    "jump_hash": "jump consistent hash (Lamping & Veach), which numbers the backends 0 to N−1",
    "maglev": "Maglev hashing, a 65,537-slot lookup table (Envoy `MAGLEV`)",
    "rendezvous": "rendezvous (highest random weight) hashing",
}


@dataclass(frozen=True)
class Generator:
    """A kind of generated question: its parameters and how to draw one."""

    name: str
    summary: str
    #: Every parameter with its default; a bank entry may override any of them.
    defaults: Mapping[str, Any]
    #: Checks a full set of parameters; raises ConfigError naming the bad one.
    check: Callable[[Mapping[str, Any]], None]
    draw: Callable[[Mapping[str, Any], random.Random], Drawn]


# -- parameters ----------------------------------------------------------------------------


def _pair(params: Mapping[str, Any], key: str, low: float, high: float) -> None:
    value = params[key]
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and low <= value[0] <= value[1] <= high
    )
    if not ok:
        raise ConfigError(f"params.{key} must be [low, high], whole numbers from {low} to {high}")


def _subset(params: Mapping[str, Any], key: str, allowed: Sequence[str]) -> None:
    value = params[key]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v in allowed for v in value)
    ):
        raise ConfigError(f"params.{key} must be a list drawn from: {', '.join(allowed)}")


def _numbers(params: Mapping[str, Any], key: str, low: float, high: float) -> None:
    value = params[key]
    if (
        not isinstance(value, list)
        or not value
        or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and low <= v <= high
            for v in value
        )
    ):
        raise ConfigError(f"params.{key} must be a list of numbers from {low:g} to {high:g}")


def _draw(rng: random.Random, pair: Sequence[int]) -> int:
    return rng.randint(pair[0], pair[1])


def _names(count: int) -> list[str]:
    return [f"s{n}" for n in range(1, count + 1)]


def _listed(names: Sequence[str]) -> str:
    """``s1, s2 and s3``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


# -- picks ---------------------------------------------------------------------------------


def _check_picks(params: Mapping[str, Any]) -> None:
    _subset(params, "algorithms", PICK_ALGORITHMS)
    _pair(params, "backends", 2, 6)
    _pair(params, "weights", 1, 9)
    _pair(params, "count", 1, 10)
    _pair(params, "in_flight", 0, 100)
    _pair(params, "latency_ms", 1, 2000)


def _draw_picks(params: Mapping[str, Any], rng: random.Random) -> Drawn:
    algorithm = rng.choice(params["algorithms"])
    names = _names(_draw(rng, params["backends"]))
    if algorithm in ("round_robin", "weighted_round_robin"):
        return _rotation(algorithm, names, params, rng)
    if algorithm in ("least_connections", "weighted_least_connections"):
        return _least_connections(algorithm, names, params, rng)
    if algorithm == "least_response_time":
        return _least_response_time(names, params, rng)
    if algorithm == "ip_hash":
        return _ip_hash(names, rng)
    return _keyed(algorithm, names, params, rng)


def _picks_drawn(
    text: str,
    setup: LabConfig,
    question: predict.Question,
    truth: predict.Answer,
    params: dict[str, Any],
    traps: Sequence[Trap] = (),
) -> Drawn:
    answer = tuple(truth.value)
    return Drawn(
        "picks",
        text,
        predicted=(question, truth),
        reasoning=truth.why,
        traps=tuple(t for t in traps if t.answer != answer),
        params={
            "algorithm": setup.algorithm,
            "backends": ",".join(f"{b.name}:{b.weight}" for b in setup.backends),
            "count": question.count,
            **params,
        },
    )


def _rotation(
    algorithm: str, names: list[str], params: Mapping[str, Any], rng: random.Random
) -> Drawn:
    count = _draw(rng, params["count"])
    if algorithm == "round_robin":
        weights = [1] * len(names)
        shown = _listed(names)
        how = "**round_robin** (nginx's default with equal weights, HAProxy `roundrobin`)"
    else:
        for _ in range(20):  # equal weights would make it plain round robin
            weights = [_draw(rng, params["weights"]) for _ in names]
            if len(set(weights)) > 1:
                break
        shown = _listed([f"{n} (weight {w})" for n, w in zip(names, weights, strict=True)])
        how = "nginx's smooth **weighted_round_robin** (`weight=` in an upstream)"
    setup = LabConfig(
        backends=fleet(",".join(f"{n}:{w}" for n, w in zip(names, weights, strict=True))),
        algorithm=algorithm,
    )
    question = predict.Question("picks", count)
    truth = predict.answer(question, setup)
    text = (
        f"A balancer has just started {how} over {shown}. Every request finishes before"
        f" the next one arrives.\n\nWhich backends serve the next {count} requests, in order?"
    )
    traps = []
    if algorithm == "weighted_round_robin":
        bursty = [n for n, w in zip(names, weights, strict=True) for _ in range(w)] * count
        traps.append(
            Trap(
                tuple(bursty[:count]),
                "that sends each backend's whole weight in a burst; nginx's smooth weighted"
                " round robin interleaves the picks",
                misconception=4,
            )
        )
    return _picks_drawn(text, setup, question, truth, {}, traps)


def _least_connections(
    algorithm: str, names: list[str], params: Mapping[str, Any], rng: random.Random
) -> Drawn:
    weighted = algorithm == "weighted_least_connections"
    for _ in range(100):
        weights = [_draw(rng, params["weights"]) if weighted else 1 for _ in names]
        flying = [_draw(rng, params["in_flight"]) for _ in names]
        ratios = [f / w for f, w in zip(flying, weights, strict=True)]
        if ratios.count(min(ratios)) == 1 and (not weighted or len(set(weights)) > 1):
            break
    in_flight = dict(zip(names, flying, strict=True))
    setup = LabConfig(
        backends=fleet(",".join(f"{n}:{w}" for n, w in zip(names, weights, strict=True))),
        algorithm=algorithm,
    )
    question = predict.Question("picks", 1, in_flight=in_flight)
    truth = predict.answer(question, setup)
    if weighted:
        state = _listed(
            [f"{n} {f} (weight {w})" for n, f, w in zip(names, flying, weights, strict=True)]
        )
        how = "**weighted_least_connections** (nginx `least_conn` with `weight=`)"
    else:
        state = _listed([f"{n} {f}" for n, f in zip(names, flying, strict=True)])
        how = "**least_connections** (HAProxy `leastconn`, the ALB's least outstanding requests)"
    text = (
        f"A balancer runs {how} over {_listed(names)}. Requests in flight right now: {state}.\n\n"
        "Which backend gets the next request?"
    )
    traps = []
    if weighted:
        fewest = names[flying.index(min(flying))]
        highest = names[ratios.index(max(ratios))]
        traps.append(
            Trap(
                (fewest,),
                f"{fewest} has the fewest requests in flight, but with weights nginx compares"
                " in flight ÷ weight: the lowest ratio wins",
                catches="ignoring the weights (least_conn with weight= is weighted least"
                " connections)",
            )
        )
        traps.append(
            Trap(
                (highest,),
                f"{highest} has the highest in flight ÷ weight; the lowest wins, as in the"
                " explainer's own example once its tick is moved",
                catches="picking the highest score, as the explainer's example ticks",
            )
        )
    return _picks_drawn(text, setup, question, truth, {"in_flight": in_flight}, traps)


def _least_response_time(names: list[str], params: Mapping[str, Any], rng: random.Random) -> Drawn:
    low, high = params["latency_ms"]
    for _ in range(100):
        latency = [rng.randrange(low, high + 1, 5) if high - low >= 5 else low for _ in names]
        flying = [rng.randint(0, min(4, params["in_flight"][1])) for _ in names]
        costs = [ms * (f + 1) for ms, f in zip(latency, flying, strict=True)]
        if costs.count(min(costs)) == 1:
            break
    backends = [Backend(n) for n in names]
    # A new backend starts at a pessimistic estimate; 1 ms lets one response at each
    # latency set the estimate (a slower response replaces the estimate at once).
    balancer = Balancer(
        backends,
        "least_response_time",
        options={"initial_latency": 0.001},
        clock=VirtualClock(),
    )
    for backend, ms in zip(backends, latency, strict=True):
        balancer.end(balancer.begin(Pick(backend, "warm-up")), latency=ms / 1000)
    for backend, count in zip(backends, flying, strict=True):
        for _ in range(count):
            balancer.begin(Pick(backend, "held"))
    pick = balancer.pick()
    question = predict.Question("picks", 1)
    truth = predict.Answer([pick.backend.name], pick.backend.name, pick.reason)
    state = _listed(
        [f"{n} {ms} ms with {f} in flight" for n, ms, f in zip(names, latency, flying, strict=True)]
    )
    text = (
        "A balancer runs **least_response_time** as Linkerd and Finagle weigh hosts (peak"
        " EWMA): each backend's cost is its latency estimate × (requests in flight + 1), and"
        f" the lowest cost wins. Right now: {state}.\n\nWhich backend gets the next request?"
    )
    fastest = names[latency.index(min(latency))]
    idlest = names[flying.index(min(flying))]
    traps = [
        Trap(
            (fastest,),
            f"{fastest} is the fastest per request, but its requests in flight make its cost"
            " higher",
            catches="forgetting the requests in flight: cost = latency × (in flight + 1)",
        ),
        Trap(
            (idlest,),
            f"{idlest} has the fewest requests in flight, but a high latency estimate",
            catches="ignoring latency: this is not least connections",
        ),
    ]
    setup = LabConfig(backends=fleet(",".join(names)), algorithm="least_response_time")
    extra = {
        "latency_ms": dict(zip(names, latency, strict=True)),
        "in_flight": dict(zip(names, flying, strict=True)),
    }
    return _picks_drawn(text, setup, question, truth, extra, traps)


def _ip_hash(names: list[str], rng: random.Random) -> Drawn:
    network = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}"
    first, second = rng.sample(range(2, 255), 2)
    before, after = f"{network}.{first}", f"{network}.{second}"
    backends = [Backend(n) for n in names]
    [seen] = pick_sequence("ip_hash", backends, 1, client_ip=before)
    [row] = pick_sequence("ip_hash", backends, 1, client_ip=after)
    question = predict.Question("picks", 1)
    truth = predict.Answer([row.backend], row.backend, row.reason)
    text = (
        f"A balancer runs nginx **ip_hash** over {_listed(names)}. A request from client"
        f" {before} went to **{seen.backend}**.\n\nWhich backend gets the next request, from"
        f" client {after}?"
    )
    setup = LabConfig(backends=fleet(",".join(names)), algorithm="ip_hash")
    extra = {"client_ip": after, "first": {"client_ip": before, "backend": seen.backend}}
    return _picks_drawn(text, setup, question, truth, extra)


def _keyed(
    algorithm: str, names: list[str], params: Mapping[str, Any], rng: random.Random
) -> Drawn:
    user = rng.choice(USERS)
    count = min(_draw(rng, params["count"]), 4)
    backends = [Backend(n) for n in names]
    rows = pick_sequence(algorithm, backends, count + 1, key=user)
    first, rest = rows[0].backend, rows[1:]
    question = predict.Question("picks", count)
    value = [row.backend for row in rest]
    truth = predict.Answer(
        value,
        " ".join(value),
        "\n".join(f"{n}. {row.reason}" for n, row in enumerate(rest, start=1)),
    )
    text = (
        f"A balancer runs {HASHING_WORDS[algorithm]} over {_listed(names)}, hashing each"
        f" request's user id. {user}'s last request went to **{first}**; nothing in the fleet"
        f" changes.\n\nWhich backends serve {user}'s next {count} requests, in order?"
    )
    start = names.index(first)
    turns = tuple(names[(start + n) % len(names)] for n in range(1, count + 1))
    traps = [
        Trap(
            turns,
            "that is round robin; a hash sends the same key to the same backend while the"
            " fleet stays the same",
            catches="thinking a hash balances each request afresh",
        )
    ]
    setup = LabConfig(backends=fleet(",".join(names)), algorithm=algorithm)
    extra = {"key": user, "first": {"key": user, "backend": first}}
    return _picks_drawn(text, setup, question, truth, extra, traps)


# -- keys moved ----------------------------------------------------------------------------


def _check_keys_moved(params: Mapping[str, Any]) -> None:
    _subset(params, "algorithms", MOVING_ALGORITHMS)
    _pair(params, "backends", 2, 20)
    _subset(params, "changes", ("add", "remove"))
    _pair(params, "tolerance", 1, 20)


def textbook_share(algorithm: str, backends: int, change: str, removed: int = 0) -> float:
    """The share of keys the textbook says move (``removed``: the 1-based position of
    the backend removed): modulo ~N/(N+1) or ~(N−1)/N; consistent hashing the new
    backend's share 1/(N+1) or the removed one's 1/N; jump hash also every key of the
    backends renumbered after the removed one."""
    n = backends
    if algorithm == "hash_modulo":
        return n / (n + 1) if change == "add" else (n - 1) / n
    if change == "add":
        return 1 / (n + 1)
    if algorithm == "jump_hash":
        return (n - removed + 1) / n
    return 1 / n


def _draw_keys_moved(params: Mapping[str, Any], rng: random.Random) -> Drawn:
    algorithm = rng.choice(params["algorithms"])
    n = _draw(rng, params["backends"])
    change = rng.choice(params["changes"])
    removed = rng.randint(1, n) if change == "remove" else 0
    if change == "remove" and n == 1:
        change, removed = "add", 0
    target = f"s{n + 1}" if change == "add" else f"s{removed}"
    setup = LabConfig(backends=fleet(n), algorithm=algorithm)
    truth = predict.answer(predict.Question("keys_moved", change=f"{change} {target}"), setup)
    moved = float(truth.value)
    # Points either side, but never more than a third of the answer itself: 10% ± 6
    # would accept half or double.
    tolerance = min(_draw(rng, params["tolerance"]) / 100, max(0.02, moved / 3))
    book = textbook_share(algorithm, n, change, removed)
    # The textbook answer always counts: a hash's spread is never quite the ideal.
    low = max(0.0, min(moved - tolerance, book - 0.02))
    high = min(1.0, max(moved + tolerance, book + 0.02))
    doing = f"We add **{target}**." if change == "add" else f"**{target}** is removed."
    text = (
        f"{n} backends, s1 to s{n}, sit behind {HASHING_WORDS[algorithm]}, and 10,000 keys"
        f" are spread over them. {doing}\n\nAbout what share of the keys now go to a different"
        " backend than before? (a percentage)"
    )
    theory = _theory(algorithm, n, change, removed)
    wrong = []
    if algorithm == "hash_modulo":
        ideal = textbook_share("ring_hash", n, change, removed)
        wrong.append(
            Wrong(
                100 * ideal,
                "that is what consistent hashing moves; hash mod N changes for most keys"
                " when N changes",
                misconception=1,
            )
        )
    else:
        wrong.append(
            Wrong(
                100 * textbook_share("hash_modulo", n, change, removed),
                f"that is modulo hashing; {algorithm} is consistent: it moves about the"
                " share that has to move",
                misconception=1,
            )
        )
        if algorithm == "jump_hash" and change == "remove" and removed < n:
            wrong.append(
                Wrong(
                    100 / n,
                    f"jump hash can only shrink at the end: removing s{removed} renumbers"
                    f" s{removed + 1} to s{n}, so their keys move too",
                    catches="thinking every consistent hash moves 1/N whichever backend goes",
                )
            )
    number = Number(
        100 * moved,
        100 * low,
        100 * high,
        "%",
        f"{truth.why}. {theory}",
        tuple(w for w in wrong if not low * 100 <= w.value <= high * 100),
    )
    return Drawn(
        "number",
        text,
        number=number,
        reasoning=truth.why,
        params={"algorithm": algorithm, "backends": n, "change": f"{change} {target}"},
    )


def _theory(algorithm: str, n: int, change: str, removed: int) -> str:
    book = textbook_share(algorithm, n, change, removed)
    if algorithm == "hash_modulo":
        return (
            f"Hash mod {n} and hash mod {n + 1 if change == 'add' else n - 1} agree for few"
            f" keys: about {book:.0%} move"
        )
    if change == "add":
        return f"The new backend takes its share, about 1/{n + 1} = {book:.0%}, and no more"
    if algorithm == "jump_hash" and removed < n:
        return (
            f"Jump hash numbers backends 0 to {n - 1}: removing s{removed} moves its keys and"
            f" renumbers the {n - removed} after it, about {n - removed + 1}/{n} = {book:.0%}"
        )
    return f"Only the removed backend's keys move, about 1/{n} = {book:.0%}"


# -- health checks -------------------------------------------------------------------------


def _check_health_timing(params: Mapping[str, Any]) -> None:
    _numbers(params, "intervals", 0.1, 300)
    _numbers(params, "timeouts", 0.1, 300)
    _pair(params, "fall", 1, 10)
    _pair(params, "rise", 1, 10)
    _subset(params, "events", HEALTH_EVENTS)
    if min(params["timeouts"]) > max(params["intervals"]):
        raise ConfigError("params.timeouts: some timeout must be at most the longest interval")


def _draw_health_timing(params: Mapping[str, Any], rng: random.Random) -> Drawn:
    interval = float(rng.choice(params["intervals"]))
    timeouts = [t for t in params["timeouts"] if t <= interval] or [interval]
    timeout = float(rng.choice(timeouts))
    fall, rise = _draw(rng, params["fall"]), _draw(rng, params["rise"])
    event = rng.choice(params["events"])
    health = HealthCheckConfig(interval, timeout, rise, fall, name="quiz")
    setup = LabConfig(backends=fleet(3), health=health)
    counts = (
        f"{fall} failure{'s' * (fall > 1)} in a row mark{'s' * (fall == 1)} a backend DOWN;"
        f" {rise} success{'es' * (rise > 1)} in a row mark{'s' * (rise == 1)} it UP again"
    )
    intro = (
        f"Active health checks probe every backend every {interval:g} s, waiting up to"
        f" {timeout:g} s for an answer. {counts}."
    )
    wrong: list[Wrong] = []
    if event in ("crash", "revive"):
        kind = "detection" if event == "crash" else "recovery"
        truth = predict.answer(predict.Question(kind), setup)
        assert truth.high is not None
        value = truth.high
        count, what = (fall, "fail") if event == "crash" else (rise, "pass")
        why = (
            f"{count} check{'s' * (count > 1)} must {what} in a row, one every {interval:g} s,"
            f" and the first comes at most {interval:g} s after the change: at most"
            f" {count} × {interval:g} s"
        )
    else:
        value = health.detection_time
        why = (
            f"the first check after the hang starts within {interval:g} s; {fall} must fail,"
            f" one every {interval:g} s, and each waits its full {timeout:g} s timeout:"
            f" {fall} × {interval:g} + {timeout:g}"
        )
    if event == "crash":
        ask = (
            "**s2** crashes: its port refuses connections, so each check of it fails at once."
            "\n\nAt most how many seconds after the crash is s2 marked DOWN?"
        )
        wrong += [
            Wrong(interval, f"one failed check is not enough: it takes {fall} in a row", 9),
            Wrong(
                value + timeout,
                "a refused connection fails at once; the timeout only delays a server that hangs",
                catches="adding the timeout to a check that fails at once",
            ),
            Wrong(
                rise * interval,
                "that counts the rise threshold; going DOWN takes fall failures",
                catches="mixing up rise (healthy threshold) and fall (unhealthy threshold)",
            ),
        ]
    elif event == "hang":
        ask = (
            "**s2** hangs: it accepts connections but never answers, so each check of it"
            " fails only when its timeout runs out.\n\nAt most how many seconds after the"
            " hang is s2 marked DOWN?"
        )
        wrong += [
            Wrong(
                fall * interval,
                f"each check of a hung server fails only after its {timeout:g} s timeout",
                catches="forgetting that a check of a hung server waits for its timeout",
            ),
            Wrong(interval, f"one failed check is not enough: it takes {fall} in a row", 9),
        ]
    else:
        ask = (
            "**s2** was DOWN. It comes back and answers every check from now on.\n\nAt most"
            " how many seconds after it comes back is s2 marked UP?"
        )
        wrong.append(
            Wrong(
                fall * interval,
                "that counts the fall threshold; coming back UP takes rise successes",
                catches="mixing up rise (healthy threshold) and fall (unhealthy threshold)",
            )
        )
    slack = max(1e-6, value * 0.001)  # rounding only: "at most" has one answer
    number = Number(
        value,
        value - slack,
        value + slack,
        "s",
        why,
        _distinct(wrong, value, slack),
    )
    return Drawn(
        "number",
        f"{intro}\n\n{ask}",
        number=number,
        reasoning=why,
        params={
            "interval": interval,
            "timeout": timeout,
            "fall": fall,
            "rise": rise,
            "event": event,
        },
    )


def _distinct(wrong: Sequence[Wrong], right: float, slack: float) -> tuple[Wrong, ...]:
    """Wrong values that are not the right one and not each other."""
    kept: list[Wrong] = []
    for item in wrong:
        if abs(item.value - right) > slack and all(abs(item.value - k.value) > slack for k in kept):
            kept.append(item)
    return tuple(kept)


def _check_health_preset(params: Mapping[str, Any]) -> None:
    _subset(params, "presets", tuple(PRESETS))
    _subset(params, "questions", PRESET_QUESTIONS)
    if len(params["presets"]) < 2 and "which" in params["questions"]:
        raise ConfigError("params.presets: 'which' questions need at least two presets")


def _preset_words(health: HealthCheckConfig) -> str:
    fall = f"{health.fall} failed check{'s' * (health.fall > 1)}"
    rise = f"{health.rise} good check{'s' * (health.rise > 1)}"
    return (
        f"a check every {health.interval:g} s; unhealthy after {fall} in a row, healthy again"
        f" after {rise} in a row"
    )


def _draw_health_preset(params: Mapping[str, Any], rng: random.Random) -> Drawn:
    names = list(params["presets"])
    right = rng.choice(names)
    health = PRESETS[right]
    question = rng.choice(params["questions"])
    if question == "which" and len(names) >= 2:
        rng.shuffle(names)
        choices = tuple(
            Choice(
                PRESET_NAMES[name],
                name == right,
                f"{PRESET_NAMES[name]}: {_preset_words(PRESETS[name])}",
                catches="" if name == right else "mixing up the real systems' defaults",
            )
            for name in names
        )
        text = (
            f"Whose default active health check is this: {_preset_words(health)}?\n\n"
            "(The defaults as each system documents them.)"
        )
        return Drawn(
            "choice",
            text,
            choices=choices,
            reasoning=f"{PRESET_NAMES[right]}: {health.describe()}",
            params={"preset": right, "question": question},
        )
    value = health.refused_time
    text = (
        f"With the default health checks of {PRESET_NAMES[right]} ({_preset_words(health)}),"
        " a server crashes and refuses every connection.\n\nAt most how many seconds does it"
        " keep being sent new requests before it is marked unhealthy?"
    )
    why = (
        f"{health.fall} check{'s' * (health.fall > 1)} must fail in a row, one every"
        f" {health.interval:g} s: at most {health.fall} × {health.interval:g} s"
    )
    wrong = [Wrong(health.interval, f"one failed check is not enough: it takes {health.fall}", 9)]
    number = Number(value, value, value, "s", why, _distinct(wrong, value, 0.01))
    return Drawn(
        "number",
        text,
        number=number,
        reasoning=why,
        params={"preset": right, "question": question},
    )


# -- sessions ------------------------------------------------------------------------------


def _check_session_death(params: Mapping[str, Any]) -> None:
    _subset(params, "modes", tuple(SESSION_MODES))
    _pair(params, "backends", 2, 10)


#: What pins a user to a backend in each sticky mode, in words.
_PIN = {
    "cookie": "the balancer's affinity cookie",
    "ip": "their client address",
    "header:X-User": "their X-User header",
}


def session_outcome(mode: str) -> str:
    """What a user sees, from what the mode is (where sessions live, what pins a user):
    ``kept`` (shared store), ``spread`` (no affinity, sessions in memory: lost as soon
    as requests spread) or ``lost`` (sticky, sessions in memory: lost with the server)."""
    facts = SESSION_MODES[mode]
    if facts.store == "shared":
        return "kept"
    return "spread" if facts.sticky == "none" else "lost"


def _draw_session_death(params: Mapping[str, Any], rng: random.Random) -> Drawn:
    mode = rng.choice(params["modes"])
    facts = SESSION_MODES[mode]
    names = _names(_draw(rng, params["backends"]))
    home = rng.choice(names)
    user = rng.choice(USERS).capitalize()
    outcome = session_outcome(mode)
    setting = f"Session set-up: {facts.detail}."
    if outcome == "lost":
        pin = _PIN[facts.sticky]
        text = (
            f"{setting} Backends: {_listed(names)}. {user} logged in on **{home}**, and {pin}"
            f" has sent every request since to {home}.\n\n{home} crashes, and the health checks"
            f" mark it DOWN. What does {user} see on the next request?"
        )
        choices = [
            Choice(
                f"Another backend answers, but the session is gone: {user} must log in again.",
                True,
                f"the balancer picks a live backend and pins {user} there instead"
                + (" (HAProxy and the ALB rewrite the cookie)" if mode == "cookie" else "")
                + f", but the session lived in {home}'s memory and died with it: in lbplay"
                " the new backend answers 401 'session … not found'",
            ),
            Choice(
                f"Another backend answers and {user} stays logged in.",
                False,
                f"the session lived only in {home}'s memory; {pin} sent {user} back to {home},"
                " it never copied the session anywhere",
                misconception=7,
            ),
            Choice(
                f"{user}'s requests keep going to {home} and fail until it comes back: {pin}"
                " pins them there.",
                False,
                f"once {home} is DOWN the balancer picks another backend and pins {user} there"
                " instead; no balancer waits for a dead server",
                catches="thinking affinity outlives its server",
            ),
            Choice(
                f"{user} is served elsewhere until {home} returns, then goes back to {home}"
                " with the session intact.",
                False,
                f"a crashed server's memory is gone: {home} comes back empty, and {user} has"
                " been pinned to another backend by then",
                misconception=7,
            ),
        ]
    elif outcome == "kept":
        text = (
            f"{setting} Backends: {_listed(names)}. {user} logged in; the login was served by"
            f" **{home}**.\n\n{home} crashes, and the health checks mark it DOWN. What does"
            f" {user} see on the next request?"
        )
        choices = [
            Choice(
                f"Another backend answers and {user} stays logged in.",
                True,
                "the session lives in the shared store, which every backend reads: a dead"
                " backend loses no session (the explainer's 'session replication' is this:"
                " a shared store)",
            ),
            Choice(
                f"Another backend answers, but the session is gone: {user} must log in again.",
                False,
                "the session was written to the shared store, not kept in the memory of the"
                " backend that made it; only sessions in a server's own memory die with it",
                catches="thinking every session dies with the server that created it",
            ),
            Choice(
                f"{user}'s requests fail until {home} returns, because the session was made there.",
                False,
                "with a shared store it does not matter which backend made a session, and"
                f" nothing pins {user} to {home}",
                catches="thinking a session belongs to the server that created it",
            ),
            Choice(
                f"{user} seems logged out at random: without sticky sessions, requests spread.",
                False,
                "spreading is harmless when every backend reads the same store; sticky"
                " sessions are only needed when sessions live in one server's memory",
                catches="thinking sessions need sticky routing even with a shared store",
            ),
        ]
    else:
        others = len(names) - 1
        text = (
            f"{setting} Backends: {_listed(names)}, balanced by round robin. {user} has just"
            f" logged in; the login was served by **{home}**, which keeps the session in its"
            f" memory.\n\nNothing breaks. What does {user} see over the next few requests?"
        )
        choices = [
            Choice(
                f"The requests spread; the ones not served by {home} answer 401 (no such"
                f" session), about {others} in {len(names)}.",
                True,
                f"without affinity each request is balanced on its own, and only {home} knows"
                " the session: this is the problem sticky sessions and shared stores solve",
            ),
            Choice(
                f"Every request goes to {home}, where the session is.",
                False,
                f"nothing pins {user}: without affinity a balancer does not remember where a"
                " client went before",
                catches="thinking a balancer remembers clients without session affinity",
            ),
            Choice(
                "Every backend knows the session: the balancer passes it along.",
                False,
                "a balancer forwards requests; it never copies sessions between backends —"
                " that takes a shared store",
                catches="thinking the balancer shares sessions between servers",
            ),
            Choice(
                f"Everything works until {home} fails; then {user} must log in again.",
                False,
                f"requests spread from the first one: most land on backends that never saw"
                f" {user}'s session, long before anything fails",
                catches="thinking requests stay on the login server without affinity",
            ),
        ]
    rng.shuffle(choices)
    right = next(c for c in choices if c.correct)
    return Drawn(
        "choice",
        text,
        choices=tuple(choices),
        reasoning=f"{mode}: {facts.watch}; {right.why}",
        params={"mode": mode, "backends": len(names), "home": home, "outcome": outcome},
    )


# -- the registry --------------------------------------------------------------------------

GENERATORS: dict[str, Generator] = {
    generator.name: generator
    for generator in (
        Generator(
            "picks",
            "the next pick(s) of an algorithm, computed by the core",
            {
                "algorithms": [
                    "round_robin",
                    "weighted_round_robin",
                    "least_connections",
                    "weighted_least_connections",
                    "least_response_time",
                    "ip_hash",
                    "ring_hash",
                ],
                "backends": [3, 4],
                "weights": [1, 5],
                "count": [3, 7],
                "in_flight": [0, 30],
                "latency_ms": [10, 200],
            },
            _check_picks,
            _draw_picks,
        ),
        Generator(
            "keys_moved",
            "the share of keys that move when a backend is added or removed",
            {
                "algorithms": list(MOVING_ALGORITHMS),
                "backends": [3, 10],
                "changes": ["add", "remove"],
                "tolerance": [6, 6],
            },
            _check_keys_moved,
            _draw_keys_moved,
        ),
        Generator(
            "health_timing",
            "seconds until a dead backend is DOWN, or a revived one UP",
            {
                "intervals": [1, 2, 5, 10, 30],
                "timeouts": [0.5, 1, 2, 5],
                "fall": [1, 5],
                "rise": [1, 5],
                "events": list(HEALTH_EVENTS),
            },
            _check_health_timing,
            _draw_health_timing,
        ),
        Generator(
            "health_preset",
            "which real system's defaults a health check is, and what they cost",
            {"presets": ["haproxy", "aws-alb", "nginx-plus"], "questions": ["which", "detection"]},
            _check_health_preset,
            _draw_health_preset,
        ),
        Generator(
            "session_death",
            "what a user sees when their server dies, per session mode",
            {"modes": list(SESSION_MODES), "backends": [2, 5]},
            _check_session_death,
            _draw_session_death,
        ),
    )
}


def resolve(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` over the generator's defaults, every key and value checked
    (``ConfigError`` naming the bad one)."""
    generator = GENERATORS.get(name)
    if generator is None:
        raise ConfigError(f"no generator {name!r} (generators: {', '.join(GENERATORS)})")
    unknown = sorted(set(given) - set(generator.defaults))
    if unknown:
        raise ConfigError(
            f"generator {name} has no parameter {unknown[0]!r}"
            f" (parameters: {', '.join(generator.defaults)})"
        )
    params = {**generator.defaults, **given}
    generator.check(params)
    return params


def draw(name: str, params: Mapping[str, Any], rng: random.Random) -> Drawn:
    """One question from generator ``name`` with ``params`` (already resolved)."""
    return GENERATORS[name].draw(params, rng)
