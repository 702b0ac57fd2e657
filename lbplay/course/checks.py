"""Checks: declarative predicates over what a real Lab did, for lesson steps and
scenario expectations.

A step turns green only when the Lab shows it happened, never because a key was
pressed. A check is one of:

* an **event**: ``{ event = "health", backend = "s2", new = "DOWN" }`` — an event of
  that kind (request, health, control, session, notice) whose fields match (strings
  may be globs: ``action = "s2 *"``), since the step began, optionally
  ``within = 5`` seconds of it;
* a **setting**: ``{ setting = "backend.s2.weight", equals = 5 }`` — a value of the
  Lab's snapshot now (``algorithm``, ``mode``, ``session_mode``, ``health``,
  ``backend.NAME.FIELD``, ``pool.NAME.FIELD``, ...);
* a **measure**: ``{ measure = "share", backend = "s1", at_least = 0.45, at_most =
  0.55, over = 200 }`` — a figure measured from the real requests since the step
  began (``share``, ``requests``, ``errors``, ``error_rate``, ``retried``,
  ``attempts``, ``p50``, ``p99``, ``mean``, ``bytes``, ``session_losses``), over the
  last ``over`` requests, judged only once that many have been seen;
* ``{ all = [...] }`` or ``{ any = [...] }`` of those.

``parse`` checks a check's shape (every name, kind, field and measure must exist);
``Recorder`` subscribes to a Lab and keeps what it needs; ``evaluate`` returns a
``Verdict``: passed, failed for good, or not yet (``None``), with what was measured in
words a learner can read.
"""

from __future__ import annotations

import fnmatch
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from lbplay.core.events import (
    KINDS,
    BackendStateChanged,
    ConnectionCompleted,
    ControlAction,
    Event,
    Notice,
    RequestCompleted,
    SessionLost,
)
from lbplay.errors import ConfigError
from lbplay.model.numbers import fmt_bytes, fmt_ms
from lbplay.model.snapshot import BackendView, LabSnapshot, PoolView

#: The fields each kind of event can be matched on.
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "request": ("backend", "status", "path", "retried", "route"),
    "health": ("backend", "old", "new"),
    "control": ("action", "detail", "backend"),
    "session": ("backend", "home"),
    "notice": ("message", "level"),
}
#: What a measure can be.
MEASURES = (
    "share",
    "requests",
    "errors",
    "error_rate",
    "retried",
    "attempts",
    "p50",
    "p99",
    "mean",
    "bytes",
    "session_losses",
)
#: Settings read from the snapshot's top level (name in a check → attribute).
TOP_SETTINGS = {
    "algorithm": "algorithm",
    "mode": "mode",
    "session_mode": "session_mode",
    "sticky": "sticky",
    "health": "health_name",
    "rate": "rate",
    "paused": "paused",
    "panic": "panic",
    "routes": "routes",
    "logins": "logins",
    "session_store": "session_store",
    "session_losses": "session_losses",
    "balancer_up": "balancer_up",
}
BACKEND_FIELDS = tuple(f.name for f in fields(BackendView))
POOL_FIELDS = tuple(f.name for f in fields(PoolView))


@dataclass(frozen=True)
class Bounds:
    """``at_least`` <= value <= ``at_most``, or == ``equals``."""

    at_least: float | None = None
    at_most: float | None = None
    equals: Any = None

    def holds(self, value: Any) -> bool:
        if self.equals is not None:
            if isinstance(self.equals, float) and isinstance(value, int | float):
                return math.isclose(value, self.equals, rel_tol=1e-9, abs_tol=1e-9)
            return bool(value == self.equals)
        if value is None:
            return False
        if self.at_least is not None and value < self.at_least:
            return False
        return not (self.at_most is not None and value > self.at_most)

    def describe(self, show: Callable[[Any], str]) -> str:
        if self.equals is not None:
            return f"= {show(self.equals)}"
        if self.at_least is not None and self.at_most is not None:
            return f"{show(self.at_least)} to {show(self.at_most)}"
        if self.at_least is not None:
            return f"at least {show(self.at_least)}"
        return f"at most {show(self.at_most)}"


@dataclass(frozen=True)
class EventCheck:
    kind: str
    match: Mapping[str, Any]
    within: float | None = None


@dataclass(frozen=True)
class SettingCheck:
    path: str
    bounds: Bounds


@dataclass(frozen=True)
class MeasureCheck:
    measure: str
    bounds: Bounds
    backend: str | None = None
    over: int = 0


@dataclass(frozen=True)
class AllOf:
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class AnyOf:
    checks: tuple[Check, ...]


Check = EventCheck | SettingCheck | MeasureCheck | AllOf | AnyOf


@dataclass(frozen=True)
class Verdict:
    """True (passed), False (failed for good) or None (not yet), and what was seen."""

    passed: bool | None
    text: str
    #: Measured values by name, for recaps ("share.s1": 0.49).
    values: Mapping[str, Any] = field(default_factory=dict)


# -- reading a check ------------------------------------------------------------------------


def parse(data: Any, where: str = "check") -> Check:
    """A check from its TOML/JSON form; ``ConfigError`` naming what is wrong."""
    if not isinstance(data, Mapping):
        raise ConfigError(f'{where} must be a table like {{ event = "health", ... }}')
    if "all" in data or "any" in data:
        key = "all" if "all" in data else "any"
        _only(data, {key}, where)
        items = data[key]
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}.{key} must be a list of checks")
        parsed = tuple(parse(item, f"{where}.{key}[{i}]") for i, item in enumerate(items))
        return AllOf(parsed) if key == "all" else AnyOf(parsed)
    if "event" in data:
        kind = data["event"]
        if kind not in KINDS:
            raise ConfigError(f"{where}: no kind of event {kind!r} (kinds: {', '.join(KINDS)})")
        allowed = set(EVENT_FIELDS[kind])
        match = {k: v for k, v in data.items() if k not in ("event", "within")}
        unknown = sorted(set(match) - allowed)
        if unknown:
            raise ConfigError(
                f"{where}: a {kind} event has no field {unknown[0]!r}"
                f" (fields: {', '.join(EVENT_FIELDS[kind])})"
            )
        within = data.get("within")
        if within is not None:
            within = _number(within, f"{where}.within")
        return EventCheck(kind, match, within)
    if "setting" in data:
        _only(data, {"setting", "equals", "at_least", "at_most"}, where)
        path = data["setting"]
        _check_path(path, where)
        return SettingCheck(path, _bounds(data, where))
    if "measure" in data:
        _only(data, {"measure", "backend", "over", "equals", "at_least", "at_most"}, where)
        measure = data["measure"]
        if measure not in MEASURES:
            raise ConfigError(f"{where}: no measure {measure!r} (measures: {', '.join(MEASURES)})")
        backend = data.get("backend")
        if backend is not None and not isinstance(backend, str):
            raise ConfigError(f"{where}.backend must be a backend's name")
        if measure == "share" and backend is None:
            raise ConfigError(f'{where}: a share is of one backend: add backend = "s1"')
        over = data.get("over", 0)
        if isinstance(over, bool) or not isinstance(over, int) or not 0 <= over <= 100_000:
            raise ConfigError(f"{where}.over must be a number of requests from 0 to 100000")
        return MeasureCheck(measure, _bounds(data, where), backend, over)
    raise ConfigError(f"{where} must name an event, a setting, a measure, all or any")


def _only(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ConfigError(f"{where} has no key {extra[0]!r} ({', '.join(sorted(allowed))})")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a number, not {value!r}")
    return float(value)


def _bounds(data: Mapping[str, Any], where: str) -> Bounds:
    given = {k: data[k] for k in ("equals", "at_least", "at_most") if k in data}
    if not given:
        raise ConfigError(f"{where} needs equals, at_least or at_most")
    if "equals" in given and len(given) > 1:
        raise ConfigError(f"{where}: equals goes alone, not with at_least/at_most")
    for key in ("at_least", "at_most"):
        if key in given:
            _number(given[key], f"{where}.{key}")
    return Bounds(given.get("at_least"), given.get("at_most"), given.get("equals"))


def _check_path(path: Any, where: str) -> None:
    if not isinstance(path, str):
        raise ConfigError(f'{where}.setting must be a name like "algorithm"')
    parts = path.split(".")
    if len(parts) == 1 and path in TOP_SETTINGS:
        return
    if len(parts) == 3 and parts[0] == "backend" and parts[2] in BACKEND_FIELDS:
        return
    if len(parts) == 3 and parts[0] == "pool" and parts[2] in POOL_FIELDS:
        return
    raise ConfigError(
        f"{where}: no setting {path!r} (use one of {', '.join(TOP_SETTINGS)},"
        " backend.NAME.FIELD or pool.NAME.FIELD)"
    )


def backends_named(check: Check) -> set[str]:
    """Every backend name a check mentions (to validate it against a lesson's lab)."""
    if isinstance(check, AllOf | AnyOf):
        return set().union(*(backends_named(c) for c in check.checks))
    if isinstance(check, EventCheck):
        name = check.match.get("backend")
        return {name} if isinstance(name, str) and not _is_glob(name) else set()
    if isinstance(check, SettingCheck) and check.path.startswith("backend."):
        return {check.path.split(".")[1]}
    if isinstance(check, MeasureCheck) and check.backend:
        return {check.backend}
    return set()


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


# -- what happened --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finished:
    """One finished request (or L4 connection) as a check needs it."""

    seq: int
    at: float
    backend: str | None
    status: int
    latency: float
    retried: bool
    bytes: int
    path: str = ""
    #: The routing rule that chose the pool ("" without content routing).
    route: str = ""
    #: The backend of every attempt, in order (retries included): what the backends
    #: saw of this one client request.
    tried: tuple[str, ...] = ()


class Recorder:
    """Subscribes to a Lab's events and keeps what checks read, since any mark.

    Requests are kept in a bounded ring (the latest ``keep``); every other event is
    kept (a lesson's worth of health changes and controls is small).
    """

    def __init__(
        self,
        subscribe: Callable[[Callable[[Event], None]], Callable[[], None]],
        *,
        keep: int = 20_000,
    ) -> None:
        self.requests: deque[Finished] = deque(maxlen=keep)
        self.notable: deque[Event] = deque(maxlen=keep)
        self.last_seq = 0
        self._unsubscribe = subscribe(self._take)

    def _take(self, event: Event) -> None:
        self.last_seq = event.seq
        if isinstance(event, RequestCompleted):
            self.requests.append(
                Finished(
                    event.seq,
                    event.at,
                    event.backend,
                    event.status,
                    event.latency,
                    event.retried,
                    event.bytes,
                    event.path,
                    event.route,
                    tuple(a.backend for a in event.attempts),
                )
            )
        elif isinstance(event, ConnectionCompleted):
            failed = 0 if event.error else 200
            self.requests.append(
                Finished(
                    event.seq,
                    event.at,
                    event.backend,
                    failed,
                    event.duration,
                    len(event.attempts) > 1,
                    event.bytes_down,
                    tried=tuple(a.backend for a in event.attempts),
                )
            )
        else:
            self.notable.append(event)

    def close(self) -> None:
        self._unsubscribe()

    def since(self, mark: int) -> list[Finished]:
        return [r for r in self.requests if r.seq > mark]

    def events_since(self, mark: int) -> list[Event]:
        return [e for e in self.notable if e.seq > mark]


# -- judging --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """Where a step began: the last event seen, and the Lab's clock."""

    seq: int
    at: float


def evaluate(
    check: Check, recorder: Recorder, snapshot: LabSnapshot, mark: Mark, now: float
) -> Verdict:
    """Judge ``check`` against what ``recorder`` saw since ``mark`` and ``snapshot``."""
    if isinstance(check, AllOf):
        verdicts = [evaluate(c, recorder, snapshot, mark, now) for c in check.checks]
        passed: bool | None = (
            False
            if any(v.passed is False for v in verdicts)
            else True
            if all(v.passed for v in verdicts)
            else None
        )
        return Verdict(passed, "; ".join(v.text for v in verdicts), _merge(verdicts))
    if isinstance(check, AnyOf):
        verdicts = [evaluate(c, recorder, snapshot, mark, now) for c in check.checks]
        passed = (
            True
            if any(v.passed for v in verdicts)
            else False
            if all(v.passed is False for v in verdicts)
            else None
        )
        return Verdict(passed, " or ".join(v.text for v in verdicts), _merge(verdicts))
    if isinstance(check, EventCheck):
        return _event(check, recorder, mark, now)
    if isinstance(check, SettingCheck):
        return _setting(check, snapshot)
    return _measure(check, recorder, mark)


def _merge(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for verdict in verdicts:
        merged.update(verdict.values)
    return merged


def _event_fields(event: Event) -> dict[str, Any]:
    if isinstance(event, BackendStateChanged):
        return {"backend": event.backend, "old": event.old, "new": event.new}
    if isinstance(event, ControlAction):
        return {"action": event.action, "detail": event.detail, "backend": event.backend}
    if isinstance(event, SessionLost):
        return {"backend": event.backend, "home": event.home}
    if isinstance(event, Notice):
        return {"message": event.message, "level": event.level}
    return {}


def _matches(wanted: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    for key, value in wanted.items():
        actual = got.get(key)
        if isinstance(value, str) and isinstance(actual, str) and _is_glob(value):
            if not fnmatch.fnmatchcase(actual, value):
                return False
        elif actual != value:
            return False
    return True


def _event(check: EventCheck, recorder: Recorder, mark: Mark, now: float) -> Verdict:
    what = " ".join(f"{k}={v}" for k, v in check.match.items())
    label = f"a {check.kind} event {what}".rstrip()
    if check.kind == "request":
        found = [
            r
            for r in recorder.since(mark.seq)
            if _matches(
                check.match,
                {
                    "backend": r.backend,
                    "status": r.status,
                    "retried": r.retried,
                    "path": r.path,
                    "route": r.route,
                },
            )
        ]
        times = [r.at for r in found]
    else:
        events = [
            e
            for e in recorder.events_since(mark.seq)
            if check.kind == e.KIND and _matches(check.match, _event_fields(e))
        ]
        times = [e.at for e in events]
    if times:
        took = times[0] - mark.at
        if check.within is not None and took > check.within:
            return Verdict(
                False,
                f"{label} after {took:.1f} s (wanted within {check.within:g} s)",
                {"seconds": took},
            )
        return Verdict(True, f"{label} after {took:.1f} s", {"seconds": took})
    if check.within is not None and now - mark.at > check.within:
        return Verdict(False, f"no {label} within {check.within:g} s")
    return Verdict(None, f"waiting for {label}")


def resolve(path: str, snapshot: LabSnapshot) -> Any:
    """The value of a setting path in ``snapshot`` (None when the backend or pool is gone)."""
    parts = path.split(".")
    if len(parts) == 1:
        return getattr(snapshot, TOP_SETTINGS[path])
    kind, name, attribute = parts
    if kind == "backend":
        view = snapshot.backend(name)
        return None if view is None else getattr(view, attribute)
    pool = snapshot.pools.get(name)
    return None if pool is None else getattr(pool, attribute)


def _setting(check: SettingCheck, snapshot: LabSnapshot) -> Verdict:
    value = resolve(check.path, snapshot)
    passed = check.bounds.holds(value)
    wanted = check.bounds.describe(_show)
    return Verdict(
        passed or None,  # a setting can still change: not yet, rather than failed
        f"{check.path} is {_show(value)} (wanted {wanted})",
        {check.path: value},
    )


def measure(name: str, requests: Sequence[Finished], backend: str | None, losses: int) -> Any:
    """One measured figure over ``requests`` (latencies in seconds)."""
    if name == "session_losses":
        return losses
    if name == "share":
        return sum(1 for r in requests if r.backend == backend) / len(requests) if requests else 0.0
    if name == "attempts":
        # Requests the backends received, retries included (of ``backend``: every attempt
        # it got, whichever backend answered in the end).
        if backend is None:
            return sum(len(r.tried) for r in requests)
        return sum(r.tried.count(backend) for r in requests)
    mine = [r for r in requests if backend is None or r.backend == backend]
    if name == "requests":
        return len(mine)
    if name == "errors":
        return sum(1 for r in mine if r.status >= 500 or r.status == 0)
    if name == "error_rate":
        return (
            (sum(1 for r in mine if r.status >= 500 or r.status == 0) / len(mine)) if mine else 0.0
        )
    if name == "retried":
        return sum(1 for r in mine if r.retried)
    if name == "bytes":
        return sum(r.bytes for r in mine)
    latencies = sorted(r.latency for r in mine)
    if not latencies:
        return None
    if name == "mean":
        return sum(latencies) / len(latencies)
    q = 0.5 if name == "p50" else 0.99
    return latencies[max(0, math.ceil(q * len(latencies)) - 1)]


def _measure(check: MeasureCheck, recorder: Recorder, mark: Mark) -> Verdict:
    requests = recorder.since(mark.seq)
    if check.over:
        if len(requests) < check.over:
            return Verdict(None, f"measuring: {len(requests)} of {check.over} requests")
        requests = requests[-check.over :]
    losses = sum(1 for e in recorder.events_since(mark.seq) if isinstance(e, SessionLost))
    value = measure(check.measure, requests, check.backend, losses)
    key = f"{check.measure}.{check.backend}" if check.backend else check.measure
    show = formatter(check.measure)
    text = (
        f"{key} {show(value)} over {len(requests)} requests (wanted {check.bounds.describe(show)})"
    )
    # Not met yet is not failed: more requests may bring it (a caller with a deadline
    # decides when "not yet" becomes "no").
    return Verdict(True if check.bounds.holds(value) else None, text, {key: value})


def formatter(measure: str) -> Callable[[Any], str]:
    """How a measure's values are written: shares as %, latencies in ms, bytes in units."""
    if measure in ("share", "error_rate"):
        return _pct
    if measure in ("p50", "p99", "mean"):
        return _ms
    if measure == "bytes":
        return fmt_bytes
    return _show


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _pct(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else str(value)


def _ms(value: Any) -> str:
    return fmt_ms(value) if isinstance(value, int | float) else "—"
