"""Prove a design on the Lab: play an interview prompt's incident against it, measure.

Each interview prompt carries an **incident script**: the traffic of its world (rate,
clients, logins, latency, each server's capacity) and timed steps that break things —
a third of the servers lost at once, a rolling deploy that drains two at a time, a 3×
surge, one server slow. ``prove`` builds the candidate's design as a real Lab
(``Design.lab``), plays the script with seeded generated traffic, and measures; then
it does the same for the prompt's model design, so the two **scorecards** sit side by
side. Everything on a scorecard is measured from the requests the Lab served (or, for
``keys moved``, computed by lbplay's core, and labelled so).

The script, in a prompt file::

    [incident]
    title = "An availability zone lost, then a slow server"
    warmup = 1.0        # seconds of traffic before the first step (logins, checks settle)
    seconds = 9.0       # the measured window, from the first step on
    scale = 0.1         # the design's operational times × this (see below)
    rate = 120          # generated requests per second (Poisson), seeded
    clients = 40        # distinct clients (addresses, cookie jars)
    logins = true       # users log in and browse pages that need their session
    latency = { kind = "lognormal", ms = 20, sigma = 0.5 }
    capacity = 0        # requests each server serves at once, the rest queue in it (0: no limit)
    keys = false        # also compute the share of keys that move when servers are lost

    [[incident.steps]]
    at = 0.0            # seconds after the measured window opens
    action = "kill"     # kill | revive | slow | errors | brownout | surge | burst | deploy
    servers = "1/3"     # of the main pool: a share ("1/3"), a count (2) or "all"
    pick = "first"      # first or last servers of the pool
    text = "A third of the servers die at once: an availability zone is lost."

``slow`` takes ``ms``; ``errors`` a ``rate`` (0..1); ``surge`` a ``factor`` and
``lasts`` (seconds, then the rate returns); ``burst`` a ``count``; ``deploy`` restarts
every server of the main pool, ``batch`` at a time: it drains them, waits until the
balancer calls them drained (idle, or at the design's drain timeout) but at most
``max_wait`` seconds, as a deploy tool would, then kills, revives and enables them.

**Scaled time.** A 10 s health check fails a server after 30 s: too long to wait for.
The design's operational times — health interval and timeout, passive windows, drain
timeout, slow start — are multiplied by ``scale`` (0.1: a 10 s interval runs as 1 s);
thresholds, retries and the traffic are not. The scorecard says so.

**The numbers**, over the measured window (requests completed from the first step to
the end):

* *errors*: requests answered 5xx or not answered at all (status 0), and their share;
* *p99*: the 99th percentile of the latency the proxy measured (retries included);
* *sessions lost*: requests that reached a server which did not have their session;
* *recovery*: seconds from the first step until the error rate stays below 1% — the
  start of the last 1-second window (windows start every 0.05 s, requests counted by
  when they completed) whose error rate is 1% or more; 0 when no window was that bad;
  *not recovered* when the last full window of the run still was;
* *attempts*: tries the servers received, retries included (retries multiply load).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lbplay.core.backends import parse_backends
from lbplay.core.events import BackendStateChanged, Event, SessionLost
from lbplay.core.explore import key_movement
from lbplay.core.registry import get as algorithm_info
from lbplay.course.checks import Finished, Recorder, measure
from lbplay.course.design import Design, KeyedError, is_number, keyed
from lbplay.errors import ConfigError
from lbplay.model.config import LabConfig
from lbplay.model.faults import LatencyModel
from lbplay.model.numbers import fmt_ms
from lbplay.model.tomlform import from_dict
from lbplay.model.workload import MIXES, NAT_MODES
from lbplay.net.lab import Lab

Action = Literal["kill", "revive", "slow", "errors", "brownout", "surge", "burst", "deploy"]
ACTIONS: tuple[Action, ...] = (
    "kill",
    "revive",
    "slow",
    "errors",
    "brownout",
    "surge",
    "burst",
    "deploy",
)
#: The parameters each action takes besides at, action, text.
_PARAMS: dict[str, tuple[str, ...]] = {
    "kill": ("servers", "pick"),
    "revive": ("servers", "pick"),
    "slow": ("servers", "pick", "ms"),
    "errors": ("servers", "pick", "rate"),
    "brownout": ("servers", "pick"),
    "surge": ("factor", "lasts"),
    "burst": ("count",),
    "deploy": ("batch", "max_wait", "pause"),
}
_INCIDENT_KEYS = (
    "title",
    "text",
    "warmup",
    "seconds",
    "scale",
    "rate",
    "clients",
    "logins",
    "mix",
    "nat",
    "latency",
    "capacity",
    "keys",
    "seed",
    "steps",
)
#: Error rate at or above which a 1-second window counts as bad (recovery).
BAD_RATE = 0.01
#: Seconds of a recovery window, and how often one starts.
WINDOW = 1.0
WINDOW_STEP = 0.05
#: The longest a prove run of one design may last (warm-up and window), seconds.
MAX_RUN = 30.0


# -- the script ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One timed step of an incident."""

    at: float
    action: Action
    text: str = ""
    #: Which servers of the main pool: "1/3", "2", "all" (kill, revive, slow, errors,
    #: brownout), from the ``pick`` end.
    servers: str = "1"
    pick: Literal["first", "last"] = "first"
    ms: float = 0.0
    rate: float = 0.0
    factor: float = 1.0
    lasts: float = 0.0
    count: int = 0
    batch: int = 2
    max_wait: float = 3.0
    pause: float = 0.2

    def targets(self, names: Sequence[str]) -> list[str]:
        """The servers this step acts on, of ``names`` (the main pool's, in order)."""
        count = server_count(self.servers, len(names))
        return list(names[:count] if self.pick == "first" else names[len(names) - count :])

    def describe(self, names: Sequence[str]) -> str:
        """What the step does, in words, on these servers."""
        if self.text:
            return self.text
        if self.action == "surge":
            return f"traffic × {self.factor:g} for {self.lasts:g} s"
        if self.action == "burst":
            return f"{self.count} requests at once"
        if self.action == "deploy":
            return f"a rolling deploy, {self.batch} servers at a time"
        extra = f" +{self.ms:g} ms" if self.action == "slow" else ""
        if self.action == "errors":
            extra = f" {self.rate:.0%} errors"
        return f"{self.action} {', '.join(self.targets(names))}{extra}"


def server_count(spec: str, total: int) -> int:
    """How many of ``total`` servers ``spec`` ("1/3", "2", "all") means: a share is
    rounded to the nearest whole server, and is at least one."""
    if spec == "all":
        return total
    if "/" in spec:
        top, _, bottom = spec.partition("/")
        return max(1, min(total, math.floor(total * int(top) / int(bottom) + 0.5)))
    return max(1, min(total, int(spec)))


@dataclass(frozen=True)
class Incident:
    """An incident script and the world it happens in (module docstring)."""

    title: str
    steps: tuple[Step, ...]
    text: str = ""
    warmup: float = 1.0
    seconds: float = 9.0
    scale: float = 0.1
    rate: float = 100.0
    clients: int = 40
    logins: bool = False
    mix: str = "pages"
    nat: str = "off"
    latency: LatencyModel | None = None
    capacity: int = 0
    keys: bool = False
    seed: int = 0

    @property
    def length(self) -> float:
        """Seconds one design's run lasts: warm-up and measured window."""
        return self.warmup + self.seconds

    def lab(self, design: Design) -> LabConfig:
        """The ``LabConfig`` of ``design`` in this incident's world."""
        return design.lab(
            scale=self.scale,
            rate=self.rate,
            clients=self.clients,
            logins=self.logins,
            latency=self.latency,
            capacity=self.capacity or None,
            mix=self.mix,
            nat=self.nat,
            seed=self.seed,
        )


def parse_incident(data: Any, where: str = "incident") -> Incident:
    """An ``Incident`` from TOML-shaped data; ``KeyedError`` naming the wrong key."""
    if not isinstance(data, Mapping):
        raise KeyedError(f"{where} must be a table ([incident])", where)

    def fail(key: str, message: str) -> KeyedError:
        return KeyedError(keyed(f"{where}.{key}", message), f"{where}.{key}")

    extra = sorted(set(data) - set(_INCIDENT_KEYS))
    if extra:
        raise fail(
            extra[0], f"an incident has no setting {extra[0]!r} ({', '.join(_INCIDENT_KEYS)})"
        )
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise KeyedError(f"{where}: an incident needs a title", f"{where}.title")
    text = data.get("text", "")
    if not isinstance(text, str):
        raise fail("text", "text must be Markdown text")
    numbers = {}
    for key, low, high, default in (
        ("warmup", 0.0, 10.0, 1.0),
        ("seconds", 1.0, 25.0, 9.0),
        ("scale", 0.01, 1.0, 0.1),
        ("rate", 1.0, 500.0, 100.0),
    ):
        value = data.get(key, default)
        if not is_number(value) or not low <= value <= high:
            raise fail(key, f"{key} must be a number from {low:g} to {high:g}")
        numbers[key] = float(value)
    if numbers["warmup"] + numbers["seconds"] > MAX_RUN:
        raise fail("seconds", f"warm-up and seconds together must be at most {MAX_RUN:g} s")
    ints = {}
    for key, low, high, default in (
        ("clients", 1, 500, 40),
        ("capacity", 0, 1000, 0),
        ("seed", 0, 2**31, 0),
    ):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise fail(key, f"{key} must be a whole number from {low} to {high}")
        ints[key] = value
    flags = {}
    for key in ("logins", "keys"):
        value = data.get(key, False)
        if not isinstance(value, bool):
            raise fail(key, f"{key} must be true or false")
        flags[key] = value
    mix = data.get("mix", "pages")
    if mix not in MIXES:
        raise fail("mix", f"mix must be one of {', '.join(MIXES)}")
    nat = data.get("nat", "off")
    if nat not in NAT_MODES:
        raise fail("nat", f"nat must be one of {', '.join(NAT_MODES)}")
    latency = None
    if "latency" in data:
        try:
            latency = from_dict({"latency": data["latency"]}, where).latency
        except ConfigError as error:
            raise KeyedError(str(error), f"{where}.latency") from None
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise KeyedError(f"{where}: an incident needs [[{where}.steps]]", f"{where}.steps")
    steps = tuple(_step(raw, i, f"{where}.steps[{i}]") for i, raw in enumerate(raw_steps))
    for step in steps:
        if step.at >= numbers["seconds"]:
            raise KeyedError(
                f"{where}.steps: a step at {step.at:g} s is after the end of the window"
                f" ({numbers['seconds']:g} s)",
                f"{where}.steps",
            )
    return Incident(
        title=title.strip(),
        steps=steps,
        text=text.strip(),
        warmup=numbers["warmup"],
        seconds=numbers["seconds"],
        scale=numbers["scale"],
        rate=numbers["rate"],
        clients=ints["clients"],
        logins=flags["logins"],
        mix=mix,
        nat=nat,
        latency=latency,
        capacity=ints["capacity"],
        keys=flags["keys"],
        seed=ints["seed"],
    )


def _step(raw: Any, index: int, where: str) -> Step:
    def fail(key: str, message: str) -> KeyedError:
        return KeyedError(keyed(f"{where}.{key}", message), f"{where}.{key}")

    if not isinstance(raw, Mapping):
        raise KeyedError(f"{where} must be a table", where)
    action = raw.get("action")
    if action not in ACTIONS:
        raise fail("action", f"action must be one of {', '.join(ACTIONS)}")
    allowed = {"at", "action", "text", *_PARAMS[action]}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise fail(
            extra[0],
            f"a {action} step has no setting {extra[0]!r} ({', '.join(sorted(allowed))})",
        )
    at: Any = raw.get("at")
    if not is_number(at) or not 0 <= at <= 25:
        raise fail("at", "at is the step's time in seconds from the window's start, 0 to 25")
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise fail("text", "text must be text")
    values: dict[str, Any] = {}
    if "servers" in _PARAMS[action]:
        servers = raw.get("servers", 1)
        spec = str(servers) if not isinstance(servers, bool) else ""
        valid = spec == "all" or (spec.isdecimal() and int(spec) >= 1)
        if "/" in spec:
            top, _, bottom = spec.partition("/")
            valid = top.isdecimal() and bottom.isdecimal() and 0 < int(top) <= int(bottom)
        if not valid:
            raise fail("servers", 'servers is a share ("1/3"), a count (2) or "all"')
        values["servers"] = spec
        pick = raw.get("pick", "first")
        if pick not in ("first", "last"):
            raise fail("pick", "pick is first or last (which end of the pool)")
        values["pick"] = pick
    for key, low, high in (
        ("ms", 1.0, 10_000.0),
        ("rate", 0.0, 1.0),
        ("factor", 0.1, 10.0),
        ("lasts", 0.1, 25.0),
        ("max_wait", 0.1, 10.0),
        ("pause", 0.0, 5.0),
    ):
        if key not in _PARAMS[action]:
            continue
        if key not in raw and key not in ("max_wait", "pause"):
            raise fail(key, f"a {action} step needs {key}")
        if key in raw:
            if not is_number(raw[key]) or not low <= raw[key] <= high:
                raise fail(key, f"{key} must be a number from {low:g} to {high:g}")
            values[key] = float(raw[key])
    for key, low, high in (("count", 1, 2000), ("batch", 1, 16)):
        if key not in _PARAMS[action]:
            continue
        value = raw.get(key, 2 if key == "batch" else None)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise fail(key, f"{key} must be a whole number from {low} to {high}")
        values[key] = value
    return Step(at=float(at), action=action, text=text.strip(), **values)


# -- playing it ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProveProgress:
    """Where a prove run is, for a progress bar: handed to ``on_progress``."""

    #: "your design" or "model design".
    design: str
    #: "starting", "warm-up", "incident", "measuring" or "done".
    stage: str
    #: Seconds into this design's run, and how long it lasts.
    elapsed: float
    total: float
    #: What is happening now, in words ("a third of the servers die at once").
    text: str = ""


ProgressCallback = Callable[[ProveProgress], None]


@dataclass(frozen=True)
class Scorecard:
    """What one design did during the incident, measured on the Lab."""

    label: str
    requests: int
    errors: int
    error_rate: float
    #: Seconds (None: no request finished).
    p99: float | None
    sessions_lost: int
    #: Seconds from the first step until the error rate stayed below 1%; None when it
    #: had not by the end of the run.
    recovery: float | None
    #: Tries the servers received, retries included.
    attempts: int
    retried: int
    #: Share of keys that move to another server when the incident's servers are lost,
    #: computed by lbplay's core (None when the prompt does not ask, or the algorithm
    #: does not map keys to servers).
    keys_moved: float | None = None
    #: Requests and errors in each second of the window (for a sparkline).
    per_second: tuple[tuple[int, int], ...] = ()
    #: Health changes, steps done and anything that did not go to plan, in order.
    timeline: tuple[str, ...] = ()
    #: The design in a few lines, and how its times were scaled.
    design: tuple[str, ...] = ()
    scaled: str = ""
    #: Wall seconds the run took.
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The measured numbers, as ``lbplay interview prove --json`` prints them."""
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "p99_ms": None if self.p99 is None else round(self.p99 * 1000, 1),
            "sessions_lost": self.sessions_lost,
            "recovery_seconds": None if self.recovery is None else round(self.recovery, 2),
            "recovered": self.recovery is not None,
            "attempts": self.attempts,
            "retried": self.retried,
            "keys_moved": None if self.keys_moved is None else round(self.keys_moved, 4),
            "run_seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True)
class ProveResult:
    """A design's scorecard beside the model design's, on one prompt's incident."""

    prompt: str
    incident: Incident
    yours: Scorecard
    model: Scorecard
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "incident": self.incident.title,
            "scale": self.incident.scale,
            "design": self.yours.to_json(),
            "model": self.model.to_json(),
            "seconds": round(self.seconds, 1),
        }


async def play(
    design: Design,
    incident: Incident,
    *,
    label: str = "your design",
    on_progress: ProgressCallback | None = None,
) -> Scorecard:
    """Build ``design`` as a Lab, play ``incident`` on it with traffic, measure."""
    report = on_progress or (lambda progress: None)
    began = time.monotonic()
    total = incident.length
    config = incident.lab(design)
    names = design.main.server_names()
    timeline: list[tuple[float, str]] = []
    report(ProveProgress(label, "starting", 0.0, total, "building the Lab"))
    async with Lab(config) as lab:
        recorder = Recorder(lab.subscribe, keep=100_000)
        drained = _Drained(lab.subscribe)
        try:
            start = lab.clock()
            await _wait_until(
                start + incident.warmup, lab, label, "warm-up", start, total, report, []
            )
            mark = recorder.last_seq
            t0 = lab.clock()
            tasks = [
                asyncio.create_task(_play_step(lab, step, t0, names, incident, drained, timeline))
                for step in incident.steps
            ]
            try:
                await _wait_until(
                    t0 + incident.seconds, lab, label, "incident", start, total, report, timeline
                )
            finally:
                for task in tasks:
                    if not task.done():
                        task.cancel()
                        timeline.append((lab.clock() - t0, "the run ended before a step finished"))
                await asyncio.gather(*tasks, return_exceptions=True)
            end = lab.clock()
            report(ProveProgress(label, "measuring", end - start, total, "counting"))
            requests = [r for r in recorder.since(mark) if r.at <= end]
            events = [e for e in recorder.events_since(mark) if e.at <= end]
        finally:
            recorder.close()
            drained.close()
    card = _scorecard(
        label, design, incident, requests, events, t0, end, timeline, time.monotonic() - began
    )
    report(ProveProgress(label, "done", total, total, "done"))
    return card


async def prove(
    design: Design,
    model: Design,
    incident: Incident,
    *,
    prompt: str = "",
    on_progress: ProgressCallback | None = None,
) -> ProveResult:
    """Play ``incident`` on ``design`` and then on ``model``: both scorecards."""
    began = time.monotonic()
    yours = await play(design, incident, label="your design", on_progress=on_progress)
    theirs = await play(model, incident, label="model design", on_progress=on_progress)
    return ProveResult(prompt, incident, yours, theirs, time.monotonic() - began)


async def _wait_until(
    deadline: float,
    lab: Lab,
    label: str,
    stage: str,
    start: float,
    total: float,
    report: ProgressCallback,
    timeline: list[tuple[float, str]],
) -> None:
    """Sleep until the Lab's clock reaches ``deadline``, reporting progress 4 times a
    second with the latest thing that happened."""
    while (now := lab.clock()) < deadline:
        text = timeline[-1][1] if timeline else "traffic settles"
        report(ProveProgress(label, stage, now - start, total, text))
        await asyncio.sleep(min(0.25, deadline - now))


class _Drained:
    """Wakes whoever waits for a backend to be drained (a deploy tool's wait)."""

    def __init__(self, subscribe: Callable[[Callable[[Event], None]], Callable[[], None]]) -> None:
        self._waiting: dict[str, asyncio.Event] = {}
        self._unsubscribe = subscribe(self._take)

    def _take(self, event: Event) -> None:
        if isinstance(event, BackendStateChanged) and event.new == "drained":
            waiter = self._waiting.get(event.backend)
            if waiter is not None:
                waiter.set()

    def expect(self, name: str) -> asyncio.Event:
        """An event set once ``name`` is drained (call before draining it)."""
        self._waiting[name] = asyncio.Event()
        return self._waiting[name]

    def close(self) -> None:
        self._unsubscribe()


async def _play_step(
    lab: Lab,
    step: Step,
    t0: float,
    names: Sequence[str],
    incident: Incident,
    drained: _Drained,
    timeline: list[tuple[float, str]],
) -> None:
    """Wait for ``step``'s time, then do it on the Lab."""
    delay = t0 + step.at - lab.clock()
    if delay > 0:
        await asyncio.sleep(delay)
    timeline.append((lab.clock() - t0, step.describe(names)))
    targets = step.targets(names)

    async def apply(control: str) -> None:
        try:
            await lab.apply(control)
        except ConfigError as error:
            timeline.append((lab.clock() - t0, f"could not {control}: {error}"))

    if step.action in ("kill", "revive", "brownout"):
        for name in targets:
            await apply(f"{step.action} {name}")
    elif step.action == "slow":
        for name in targets:
            await apply(f"slow {name} {step.ms:g}")
    elif step.action == "errors":
        for name in targets:
            await apply(f"errors {name} {step.rate:g}")
    elif step.action == "burst":
        await apply(f"burst {step.count}")
    elif step.action == "surge":
        await apply(f"rate {incident.rate * step.factor:g}")
        await asyncio.sleep(step.lasts)
        await apply(f"rate {incident.rate:g}")
        timeline.append((lab.clock() - t0, f"traffic back to {incident.rate:g}/s"))
    else:
        await _deploy(lab, step, t0, names, drained, timeline, apply)


async def _deploy(
    lab: Lab,
    step: Step,
    t0: float,
    names: Sequence[str],
    drained: _Drained,
    timeline: list[tuple[float, str]],
    apply: Callable[[str], Any],
) -> None:
    """Restart every server, ``batch`` at a time, as a deploy tool does: drain, wait
    for drained (at most ``max_wait``), stop, start, put back in rotation."""
    for first in range(0, len(names), step.batch):
        batch = names[first : first + step.batch]
        waits = [drained.expect(name) for name in batch]
        for name in batch:
            await apply(f"drain {name}")
        try:
            await asyncio.wait_for(
                asyncio.gather(*(w.wait() for w in waits)), timeout=step.max_wait
            )
        except TimeoutError:
            timeline.append(
                (
                    lab.clock() - t0,
                    f"{', '.join(batch)} not drained after {step.max_wait:g} s: restarted anyway",
                )
            )
        for name in batch:
            await apply(f"kill {name}")
        for name in batch:
            await apply(f"revive {name}")
            await apply(f"enable {name}")
        timeline.append((lab.clock() - t0, f"{', '.join(batch)} restarted"))
        if step.pause:
            await asyncio.sleep(step.pause)


# -- measuring -----------------------------------------------------------------------------


def recovery(requests: Sequence[Finished], t0: float, end: float) -> float | None:
    """Seconds from ``t0`` until the error rate stays below 1% (module docstring):
    the start of the last bad 1 s window minus ``t0``; 0 when none was bad; None when
    the last full window (ending at ``end``) was still bad."""
    times = sorted((r.at, _failed(r)) for r in requests if t0 <= r.at <= end)
    last_start = end - WINDOW
    if last_start < t0:
        return None if any(bad for _, bad in times) else 0.0
    steps = int((last_start - t0) / WINDOW_STEP + 1e-9)
    starts = [t0 + i * WINDOW_STEP for i in range(steps + 1)]
    if starts[-1] < last_start - 1e-9:
        starts.append(last_start)
    at = [t for t, _ in times]
    failed_before = [0]
    for _, bad in times:
        failed_before.append(failed_before[-1] + bad)
    worst: float | None = None
    for start in starts:
        low = _bisect(at, start)
        high = _bisect(at, start + WINDOW)
        count = high - low
        if count and (failed_before[high] - failed_before[low]) / count >= BAD_RATE:
            worst = start
    if worst is None:
        return 0.0
    if worst >= last_start - 1e-9:
        return None
    return worst - t0


def _bisect(values: Sequence[float], x: float) -> int:
    """The number of ``values`` (sorted) below ``x``."""
    low, high = 0, len(values)
    while low < high:
        middle = (low + high) // 2
        if values[middle] < x:
            low = middle + 1
        else:
            high = middle
    return low


def _failed(request: Finished) -> bool:
    return request.status >= 500 or request.status == 0


def per_second(requests: Sequence[Finished], t0: float, end: float) -> tuple[tuple[int, int], ...]:
    """Requests and errors in each whole second from ``t0`` to ``end``."""
    # The wait ends a few milliseconds late: round, so no near-empty last bucket.
    seconds = max(1, round(end - t0))
    buckets = [[0, 0] for _ in range(seconds)]
    for request in requests:
        index = min(seconds - 1, max(0, int(request.at - t0)))
        buckets[index][0] += 1
        buckets[index][1] += _failed(request)
    return tuple((count, errors) for count, errors in buckets)


def keys_moved(design: Design, incident: Incident) -> float | None:
    """The share of keys that move when the incident's kills take servers away, from
    lbplay's core (None when the prompt does not ask, or nothing maps keys)."""
    if not incident.keys:
        return None
    main = design.main
    if not algorithm_info(main.algorithm).uses_key:
        return None
    names = main.server_names()
    removed = sorted({n for s in incident.steps if s.action == "kill" for n in s.targets(names)})
    if not removed or len(removed) == len(names):
        return None
    fleet = parse_backends(",".join(names))
    movement = key_movement(main.algorithm, fleet, remove=removed, options=dict(main.options))
    return movement.moved_share


def scale_note(design: Design, scale: float) -> str:
    """How the design's times were scaled for the run, in one sentence."""
    if scale == 1:
        return "Times as designed."
    main = design.main
    parts = []
    if main.health is not None:
        parts.append(
            f"health every {main.health.interval * scale:g} s"
            f" (designed {main.health.interval:g} s),"
            f" timeout {main.health.timeout * scale:g} s"
        )
    if main.passive_nginx is not None:
        parts.append(f"fail_timeout {main.passive_nginx.fail_timeout * scale:g} s")
    if main.passive_outlier is not None:
        parts.append(f"ejection {main.passive_outlier.base_ejection_time * scale:g} s")
    parts.append(
        f"drain timeout {main.drain_timeout * scale:g} s (designed {main.drain_timeout:g} s)"
    )
    if main.slow_start:
        parts.append(f"slow start {main.slow_start * scale:g} s")
    return (
        f"Times scaled ×{scale:g} for a short run: {'; '.join(parts)}."
        " Thresholds, retries and traffic as designed."
    )


def _scorecard(
    label: str,
    design: Design,
    incident: Incident,
    requests: Sequence[Finished],
    events: Sequence[Event],
    t0: float,
    end: float,
    timeline: list[tuple[float, str]],
    seconds: float,
) -> Scorecard:
    window = [r for r in requests if t0 <= r.at <= end]
    losses = sum(1 for e in events if isinstance(e, SessionLost) and e.at >= t0)
    # Health changes of several servers within the same tenth of a second: one line.
    changed: dict[tuple[float, str], list[str]] = {}
    for e in events:
        if (
            isinstance(e, BackendStateChanged)
            and e.at >= t0
            and e.new in ("DOWN", "UP", "unavailable", "ejected")
        ):
            changed.setdefault((round(e.at - t0, 1), e.new), []).append(e.backend)
    health = [
        (at, f"{', '.join(sorted(names, key=_natural))} {state}")
        for (at, state), names in changed.items()
    ]
    steps = [f"{at:4.1f} s  {text}" for at, text in sorted([*timeline, *health])]
    return Scorecard(
        label=label,
        requests=len(window),
        errors=measure("errors", window, None, losses),
        error_rate=measure("error_rate", window, None, losses),
        p99=measure("p99", window, None, losses),
        sessions_lost=losses,
        recovery=recovery(window, t0, end),
        attempts=measure("attempts", window, None, losses),
        retried=measure("retried", window, None, losses),
        keys_moved=keys_moved(design, incident),
        per_second=per_second(window, t0, end),
        timeline=tuple(steps),
        design=tuple(design.describe()),
        scaled=scale_note(design, incident.scale),
        seconds=seconds,
    )


def _natural(name: str) -> tuple[str, int]:
    """``api-10`` after ``api-9``."""
    stem = name.rstrip("0123456789")
    return stem, int(name[len(stem) :] or 0)


# -- showing it ----------------------------------------------------------------------------


def rows(result: ProveResult) -> list[tuple[str, str, str]]:
    """The scorecard as (measure, yours, model) rows: the CLI's table and the export's."""

    def errors(card: Scorecard) -> str:
        return f"{card.errors} ({card.error_rate:.1%})"

    def p99(card: Scorecard) -> str:
        return fmt_ms(card.p99) if card.p99 is not None else "—"

    def recovered(card: Scorecard) -> str:
        return "not recovered" if card.recovery is None else f"{card.recovery:.1f} s"

    def moved(card: Scorecard) -> str:
        if card.keys_moved is None:
            return "n/a: no key affinity (every node caches every key)"
        return f"{card.keys_moved:.0%} (computed)"

    table = [
        ("requests", str(result.yours.requests), str(result.model.requests)),
        ("errors", errors(result.yours), errors(result.model)),
        ("p99 latency", p99(result.yours), p99(result.model)),
        ("sessions lost", str(result.yours.sessions_lost), str(result.model.sessions_lost)),
        ("seconds to recover", recovered(result.yours), recovered(result.model)),
        (
            "attempts (retries)",
            f"{result.yours.attempts} ({result.yours.retried} retried)",
            f"{result.model.attempts} ({result.model.retried} retried)",
        ),
    ]
    if result.incident.keys:
        table.append(("keys moved by the loss", moved(result.yours), moved(result.model)))
    return table


def markdown(result: ProveResult) -> str:
    """The scorecards side by side as Markdown (for the session's export)."""
    lines = [
        f"**Incident:** {result.incident.title}",
        "",
        "| measure | your design | model design |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows(result)),
        "",
        f"*{result.yours.scaled}* Model design: *{result.model.scaled}*",
        "",
        "Recovery: seconds from the first step until the error rate over every later"
        " 1-second window stays below 1%.",
        "",
        "Your design:",
        "",
        *(f"- {line}" for line in result.yours.design),
        "",
        "Model design:",
        "",
        *(f"- {line}" for line in result.model.design),
    ]
    return "\n".join(lines)
