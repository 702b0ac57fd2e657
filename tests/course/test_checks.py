"""The course's checks: their shapes, and how they judge what a Lab did."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lbplay.core.events import (
    Attempt,
    BackendStateChanged,
    ControlAction,
    Event,
    RequestCompleted,
    SessionLost,
)
from lbplay.course import checks
from lbplay.errors import ConfigError
from lbplay.net.lab import Lab


class Feed:
    """A stand-in for ``Lab.subscribe``: the test pushes events by hand."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[Event], None]] = []

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def push(self, event: Event) -> None:
        for listener in list(self.listeners):
            listener(event)


def request(at: float, backend: str, status: int = 200, latency: float = 0.01, **kw: object):
    return RequestCompleted(
        at=at,
        client="127.0.0.1",
        method="GET",
        path=str(kw.pop("path", "/")),
        status=status,
        latency=latency,
        backend=backend,
        **kw,
    )


@pytest.fixture
def feed() -> Feed:
    return Feed()


@pytest.fixture
def recorder(feed: Feed) -> checks.Recorder:
    return checks.Recorder(feed.subscribe)


# -- shapes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("kill s2", "must be a table"),
        ({"event": "explosion"}, "no kind of event 'explosion'"),
        ({"event": "health", "colour": "red"}, "a health event has no field 'colour'"),
        ({"setting": "backend.s1.colour", "equals": 1}, "no setting 'backend.s1.colour'"),
        ({"setting": "algorithm"}, "needs equals, at_least or at_most"),
        ({"setting": "algorithm", "equals": "x", "at_most": 1}, "equals goes alone"),
        ({"measure": "happiness", "at_least": 1}, "no measure 'happiness'"),
        ({"measure": "share", "at_least": 0.5}, "a share is of one backend"),
        ({"measure": "p99", "at_most": 0.1, "over": -1}, "over must be a number"),
        ({"measure": "p99", "at_most": "fast"}, "at_most must be a number"),
        ({"all": []}, "must be a list of checks"),
        ({"all": [{"event": "health"}], "any": []}, "has no key 'any'"),
        ({"nothing": 1}, "must name an event, a setting, a measure"),
    ],
)
def test_a_check_of_the_wrong_shape_says_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        checks.parse(data)


def test_backends_named_finds_every_backend_a_check_mentions() -> None:
    check = checks.parse(
        {
            "all": [
                {"event": "health", "backend": "s2", "new": "DOWN"},
                {"event": "health", "backend": "s*"},  # a glob names no one
                {"setting": "backend.s3.weight", "equals": 5},
                {"any": [{"measure": "share", "backend": "s1", "at_least": 0.1}]},
            ]
        }
    )
    assert checks.backends_named(check) == {"s1", "s2", "s3"}


# -- events -----------------------------------------------------------------------------------


def test_an_event_check_passes_only_on_an_event_since_the_mark(
    feed: Feed, recorder: checks.Recorder
) -> None:
    check = checks.parse({"event": "health", "backend": "s2", "new": "DOWN"})
    feed.push(BackendStateChanged(at=1.0, backend="s2", old="UP", new="DOWN"))
    mark = checks.Mark(recorder.last_seq, 2.0)
    assert checks.evaluate(check, recorder, None, mark, 2.5).passed is None
    feed.push(BackendStateChanged(at=3.0, backend="s1", old="UP", new="DOWN"))
    assert checks.evaluate(check, recorder, None, mark, 3.0).passed is None
    feed.push(BackendStateChanged(at=4.5, backend="s2", old="UP", new="DOWN"))
    verdict = checks.evaluate(check, recorder, None, mark, 5.0)
    assert verdict.passed is True
    assert verdict.values["seconds"] == pytest.approx(2.5)
    assert "after 2.5 s" in verdict.text


def test_within_fails_an_event_that_came_too_late_or_never(
    feed: Feed, recorder: checks.Recorder
) -> None:
    check = checks.parse({"event": "health", "new": "DOWN", "within": 2})
    mark = checks.Mark(recorder.last_seq, 10.0)
    assert checks.evaluate(check, recorder, None, mark, 11.0).passed is None
    never = checks.evaluate(check, recorder, None, mark, 12.5)
    assert never.passed is False
    assert "within 2 s" in never.text
    feed.push(BackendStateChanged(at=13.0, backend="s1", old="UP", new="DOWN"))
    late = checks.evaluate(check, recorder, None, mark, 13.0)
    assert late.passed is False
    assert "after 3.0 s" in late.text


def test_event_fields_match_globs_and_request_fields(feed: Feed, recorder: checks.Recorder) -> None:
    mark = checks.Mark(0, 0.0)
    feed.push(ControlAction(at=1.0, action="weight s3 5", backend="s3"))
    glob = checks.parse({"event": "control", "action": "weight s3 *"})
    assert checks.evaluate(glob, recorder, None, mark, 1.0).passed is True
    api = checks.parse({"event": "request", "path": "/api/*", "route": "api"})
    feed.push(request(1.0, "s1", path="/static/app.js", route="static"))
    assert checks.evaluate(api, recorder, None, mark, 1.0).passed is None
    feed.push(request(1.5, "api-1", path="/api/users", route="api"))
    assert checks.evaluate(api, recorder, None, mark, 1.5).passed is True


# -- measures ---------------------------------------------------------------------------------


def test_a_share_is_judged_only_over_the_requests_it_asks_for(
    feed: Feed, recorder: checks.Recorder
) -> None:
    check = checks.parse(
        {"measure": "share", "backend": "s1", "at_least": 0.45, "at_most": 0.55, "over": 10}
    )
    mark = checks.Mark(recorder.last_seq, 0.0)
    for n in range(9):
        feed.push(request(n, "s1" if n % 2 else "s2"))
    waiting = checks.evaluate(check, recorder, None, mark, 9)
    assert waiting.passed is None
    assert "9 of 10" in waiting.text
    feed.push(request(9, "s1"))
    verdict = checks.evaluate(check, recorder, None, mark, 10)
    assert verdict.passed is True
    assert verdict.values == {"share.s1": 0.5}
    # Only the last 10 count: ten more all on s2 bring s1's share to 0.
    for n in range(10):
        feed.push(request(10 + n, "s2"))
    assert checks.evaluate(check, recorder, None, mark, 20).passed is None


def test_measures_count_what_a_learner_would() -> None:
    done = [
        checks.Finished(1, 0.0, "s1", 200, 0.010, False, 100),
        checks.Finished(2, 0.0, "s1", 502, 0.001, True, 0),
        checks.Finished(3, 0.0, "s2", 200, 0.030, False, 300),
        checks.Finished(4, 0.0, None, 0, 0.002, False, 0),
    ]
    assert checks.measure("requests", done, None, 0) == 4
    assert checks.measure("requests", done, "s1", 0) == 2
    assert checks.measure("errors", done, None, 0) == 2  # a 5xx and a failed connection
    assert checks.measure("error_rate", done, "s1", 0) == 0.5
    assert checks.measure("retried", done, None, 0) == 1
    assert checks.measure("bytes", done, None, 0) == 400
    assert checks.measure("share", done, "s2", 0) == 0.25
    assert checks.measure("p50", done, None, 0) == 0.002
    assert checks.measure("p99", done, None, 0) == 0.030
    assert checks.measure("mean", done, "s1", 0) == pytest.approx(0.0055)
    assert checks.measure("p99", done, "s9", 0) is None
    assert checks.measure("session_losses", done, None, 7) == 7


def test_attempts_count_what_the_backends_received_retries_included(
    feed: Feed, recorder: checks.Recorder
) -> None:
    mark = checks.Mark(recorder.last_seq, 0.0)
    refused = Attempt("s2", "next in rotation", "http 500", 500)
    ok = Attempt("s3", "next in rotation", "ok", 200)
    feed.push(request(1, "s3", attempts=(refused, ok)))  # retried: two backend requests
    feed.push(request(2, "s1", attempts=(Attempt("s1", "next", "ok", 200),)))
    feed.push(request(3, None, 503))  # the proxy answered itself: no backend request
    done = recorder.since(mark.seq)
    assert [r.tried for r in done] == [("s2", "s3"), ("s1",), ()]
    assert checks.measure("requests", done, None, 0) == 3
    assert checks.measure("attempts", done, None, 0) == 3
    # s2 answered nobody in the end, yet it received a request.
    assert checks.measure("attempts", done, "s2", 0) == 1
    assert checks.measure("requests", done, "s2", 0) == 0
    check = checks.parse({"measure": "attempts", "backend": "s2", "at_least": 1})
    assert checks.evaluate(check, recorder, None, mark, 3.0).passed is True


def test_session_losses_count_lost_sessions_since_the_mark(
    feed: Feed, recorder: checks.Recorder
) -> None:
    feed.push(SessionLost(at=0.5, session="a", backend="s2", home="s1", reason="home down"))
    mark = checks.Mark(recorder.last_seq, 1.0)
    check = checks.parse({"measure": "session_losses", "at_least": 1})
    assert checks.evaluate(check, recorder, None, mark, 1.0).passed is None
    feed.push(SessionLost(at=1.5, session="b", backend="s3", home="s1", reason="home down"))
    verdict = checks.evaluate(check, recorder, None, mark, 2.0)
    assert verdict.passed is True
    assert verdict.values == {"session_losses": 1}


def test_all_and_any_combine_verdicts(feed: Feed, recorder: checks.Recorder) -> None:
    down = {"event": "health", "new": "DOWN", "within": 1}
    up = {"event": "health", "new": "UP"}
    mark = checks.Mark(0, 0.0)
    feed.push(BackendStateChanged(at=0.5, backend="s1", old="DOWN", new="UP"))
    both = checks.parse({"all": [down, up]})
    either = checks.parse({"any": [down, up]})
    assert checks.evaluate(both, recorder, None, mark, 0.6).passed is None
    assert checks.evaluate(either, recorder, None, mark, 0.6).passed is True
    assert checks.evaluate(both, recorder, None, mark, 2.0).passed is False
    neither = checks.parse({"any": [down, {"event": "health", "new": "DOWN", "within": 1.5}]})
    assert checks.evaluate(neither, recorder, None, mark, 2.0).passed is False


def test_the_recorder_stops_hearing_once_closed(feed: Feed, recorder: checks.Recorder) -> None:
    recorder.close()
    feed.push(request(1.0, "s1"))
    assert not recorder.requests
    assert not feed.listeners


# -- settings, on a real Lab -------------------------------------------------------------------


async def test_setting_checks_read_the_labs_snapshot(quiet_lab: Lab) -> None:
    weight = checks.parse({"setting": "backend.s3.weight", "equals": 5})
    algorithm = checks.parse({"setting": "algorithm", "equals": "least_connections"})
    mark = checks.Mark(0, 0.0)
    recorder = checks.Recorder(quiet_lab.subscribe)
    not_yet = checks.evaluate(weight, recorder, quiet_lab.snapshot(), mark, 0.0)
    assert not_yet.passed is None
    assert "is 1 (wanted = 5)" in not_yet.text
    await quiet_lab.apply("weight s3 5")
    await quiet_lab.apply("algorithm least_connections")
    snapshot = quiet_lab.snapshot()
    assert checks.evaluate(weight, recorder, snapshot, mark, 0.0).passed is True
    assert checks.evaluate(algorithm, recorder, snapshot, mark, 0.0).passed is True
    assert checks.resolve("backend.s9.weight", snapshot) is None
    recorder.close()
