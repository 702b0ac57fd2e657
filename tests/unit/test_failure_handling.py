"""Passive health, drains, backups, panic, slow start and connection limits in the
Balancer, on a virtual clock."""

from __future__ import annotations

import random

import pytest

from lbplay.core import Backend, Balancer, PickContext, parse_backends
from lbplay.core.events import BackendStateChanged, Event, Notice
from lbplay.core.explore import VirtualClock
from lbplay.core.passive import NginxPassive, OutlierDetection, PassiveHealth
from lbplay.core.picker import Pick
from lbplay.errors import AllBackendsFull, ConfigError, NoBackendAvailable


def make(spec: str = "a,b,c", **kwargs: object) -> tuple[Balancer, VirtualClock, list[Event]]:
    clock = VirtualClock(100.0)
    events: list[Event] = []
    balancer = Balancer(
        parse_backends(spec),
        "round_robin",
        clock=clock,
        events=events.append,
        rng=random.Random(3),
        **kwargs,  # type: ignore[arg-type]
    )
    return balancer, clock, events


def fail(balancer: Balancer, name: str, kind: str | None = "connect") -> None:
    ticket = balancer.begin(Pick(balancer.get(name), "test"))
    balancer.end(ticket, ok=kind is None, failure=kind)


def names(balancer: Balancer, n: int) -> set[str]:
    return {balancer.pick().backend.name for _ in range(n)}


def test_nginx_max_fails_makes_backend_unavailable_for_fail_timeout() -> None:
    passive = PassiveHealth(nginx=NginxPassive(max_fails=2, fail_timeout=10.0))
    balancer, clock, events = make(passive=passive)
    fail(balancer, "b")
    assert "b" in names(balancer, 3)
    fail(balancer, "b", "timeout")
    assert names(balancer, 6) == {"a", "c"}
    change = [e for e in events if isinstance(e, BackendStateChanged)][-1]
    assert change.evidence == (
        "b unavailable for 10 s after 2 failures within 10 s (max_fails=2): connect, timeout"
    )
    clock.advance(9.9)
    assert names(balancer, 6) == {"a", "c"}
    clock.advance(0.2)
    assert names(balancer, 6) == {"a", "b", "c"}


def test_nginx_failures_outside_the_window_do_not_add_up() -> None:
    passive = PassiveHealth(nginx=NginxPassive(max_fails=2, fail_timeout=10.0))
    balancer, clock, _ = make(passive=passive)
    fail(balancer, "b")
    clock.advance(11)
    fail(balancer, "b")
    assert "b" in names(balancer, 3)


def test_nginx_passive_is_ignored_with_a_single_backend() -> None:
    balancer, _, _ = make("a", passive=PassiveHealth(nginx=NginxPassive()))
    fail(balancer, "a")
    assert balancer.pick().backend.name == "a"


def test_only_configured_failure_kinds_count() -> None:
    passive = PassiveHealth(nginx=NginxPassive(max_fails=1, counts=frozenset({"5xx"})))
    balancer, _, _ = make(passive=passive)
    fail(balancer, "b", "timeout")
    assert "b" in names(balancer, 3)
    fail(balancer, "b", "5xx")
    assert "b" not in names(balancer, 3)


def test_outlier_ejection_grows_with_each_ejection_and_is_capped() -> None:
    detection = OutlierDetection(
        consecutive=3, base_ejection_time=30, max_ejection_time=70, max_ejection_percent=100
    )
    balancer, clock, events = make(passive=PassiveHealth(outlier=detection))
    durations = []
    for _ in range(3):
        for _ in range(3):
            fail(balancer, "b", "5xx")
        assert "b" not in names(balancer, 3)
        status = balancer.status("b")
        assert status.label == "ejected"
        durations.append(status.passive_until - clock())
        clock.advance(durations[-1] + 0.01)
        assert "b" in names(balancer, 3)
    assert durations == [30, 60, 70]
    ejections = [e for e in events if isinstance(e, BackendStateChanged) and e.new == "ejected"]
    assert "ejection #2" in ejections[1].evidence
    assert "3 consecutive failures: 5xx, 5xx, 5xx" in ejections[0].evidence


def test_a_success_resets_the_consecutive_count() -> None:
    balancer, _, _ = make(passive=PassiveHealth(outlier=OutlierDetection(consecutive=2)))
    fail(balancer, "b", "5xx")
    fail(balancer, "b", None)
    fail(balancer, "b", "5xx")
    assert "b" in names(balancer, 3)


def test_ejection_cap_keeps_most_of_the_pool_but_allows_one() -> None:
    detection = OutlierDetection(consecutive=1, max_ejection_percent=10)
    balancer, _, _ = make("a,b,c,d,e", passive=PassiveHealth(outlier=detection))
    fail(balancer, "a", "5xx")
    fail(balancer, "b", "5xx")  # 10% of 5 rounds down to 0, but one may always go
    assert balancer.status("a").passive == "ejected"
    assert balancer.status("b").passive == ""


def test_drain_lets_in_flight_finish_then_drains() -> None:
    balancer, clock, events = make()
    tickets = [balancer.begin(Pick(balancer.get("b"), "held")) for _ in range(2)]
    balancer.drain("b")
    assert balancer.status("b").label == "draining"
    assert "b" not in names(balancer, 6)
    balancer.end(tickets[0])
    assert balancer.status("b").admin == "draining"
    clock.advance(1.5)
    balancer.end(tickets[1])
    assert balancer.status("b").admin == "drained"
    last = [e for e in events if isinstance(e, BackendStateChanged)][-1]
    assert last.evidence == "b drained: nothing left in flight after 1.5 s"
    assert balancer.pick_pinned("b", "pinned") is None


def test_drain_deadline() -> None:
    balancer, clock, events = make(drain_timeout=5.0)
    balancer.begin(Pick(balancer.get("b"), "held"))
    balancer.drain("b")
    assert balancer.pick_pinned("b", "session") is not None  # sticky traffic still served
    clock.advance(5.0)
    balancer.tick()
    assert balancer.status("b").admin == "drained"
    assert "deadline reached after 5.0 s with 1 still in flight" in events[-1].text


def test_disable_and_enable() -> None:
    balancer, _, _ = make()
    balancer.disable("a")
    assert names(balancer, 6) == {"b", "c"}
    balancer.enable("a")
    assert names(balancer, 6) == {"a", "b", "c"}
    balancer.disable("a")
    with pytest.raises(ConfigError, match="only an active backend can drain"):
        balancer.drain("a")


def test_backups_take_over_only_when_all_primaries_are_out_and_stop_after() -> None:
    balancer, _, _ = make("a,b,z!backup", panic_threshold=0)
    assert balancer.status("z").label == "backup"
    balancer.set_health("a", False)
    balancer.set_health("b", False)
    assert names(balancer, 4) == {"z"}
    assert balancer.status("z").label == "backup (in use)"
    balancer.set_health("b", True)
    assert names(balancer, 4) == {"b"}


def test_panic_mode_balances_across_all_when_too_few_are_healthy() -> None:
    balancer, _, events = make("a,b,c,d", panic_threshold=0.5)
    balancer.set_health("a", False)
    balancer.set_health("b", False)
    assert not balancer.panic  # 2 of 4 is not below 50%
    assert names(balancer, 8) == {"c", "d"}
    balancer.set_health("c", False)
    assert balancer.panic
    assert names(balancer, 8) == {"a", "b", "c", "d"}
    notice = [e for e in events if isinstance(e, Notice)][-1]
    assert notice.message.startswith("panic mode ON: 1 of 4 primaries healthy")
    balancer.set_health("a", True)
    assert not balancer.panic


def test_all_down_fails_open_with_panic_and_503s_without() -> None:
    balancer, _, _ = make("a,b", panic_threshold=0.5)
    balancer.set_health("a", False)
    balancer.set_health("b", False)
    assert names(balancer, 4) == {"a", "b"}
    balancer.set_panic_threshold(0)
    with pytest.raises(NoBackendAvailable, match="a down, b down"):
        balancer.pick()


def test_slow_start_ramps_linearly_from_ten_percent() -> None:
    balancer, clock, _ = make("a,b", slow_start=10.0)
    balancer.set_health("b", False)
    balancer.set_health("b", True)  # comes back: ramp starts
    shares = []
    for _ in range(5):
        picks = [balancer.pick().backend.name for _ in range(4000)]
        shares.append(picks.count("b") / len(picks))
        clock.advance(2.5)
    # b's effective weight ramps 10%, 32.5%, 55%, 77.5%, 100% of a's, so its share of
    # the picks is w / (1 + w): what weighted round robin gives that weight.
    for share, weight in zip(shares, (0.1, 0.325, 0.55, 0.775, 1.0), strict=True):
        assert share == pytest.approx(weight / (1 + weight), abs=0.02)
    assert balancer.status("b").label == "up"


def test_no_slow_start_at_start_up() -> None:
    balancer, _, _ = make("a,b", slow_start=10.0)
    assert balancer.status("b").slow_start == 1.0


def test_max_conns_avoids_full_backends_then_reports_all_full() -> None:
    balancer, _, _ = make("a,b")
    freed: list[bool] = []
    balancer.on_capacity = lambda: freed.append(True)
    for name in ("a", "b"):
        balancer.set_max_conns(name, 2)
    tickets = [balancer.begin(balancer.pick()) for _ in range(4)]
    assert sorted(t.backend.name for t in tickets) == ["a", "a", "b", "b"]
    assert balancer.status("a").full
    with pytest.raises(AllBackendsFull):
        balancer.pick()
    balancer.end(tickets[0])
    assert freed == [True]
    assert balancer.pick().backend.name == tickets[0].backend.name
    with pytest.raises(ConfigError):
        balancer.set_max_conns("a", 0)


def test_a_full_backend_is_skipped_not_waited_for() -> None:
    balancer, _, _ = make("a,b")
    balancer.set_max_conns("a", 1)
    balancer.begin(Pick(balancer.get("a"), "held"))
    assert names(balancer, 5) == {"b"}


def test_health_events_carry_evidence() -> None:
    balancer, _, events = make()
    balancer.set_health("b", False, "b DOWN after 3 consecutive failures: timeout")
    change = events[-1]
    assert isinstance(change, BackendStateChanged)
    assert (change.old, change.new) == ("UP", "DOWN")
    assert change.text.endswith("timeout")


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="panic threshold"):
        Balancer([Backend("a")], panic_threshold=1.5)
    with pytest.raises(ConfigError, match="slow start"):
        Balancer([Backend("a")], slow_start=-1)
    with pytest.raises(ConfigError, match="unknown failure kind"):
        NginxPassive(counts=frozenset({"boom"}))
    with pytest.raises(ConfigError, match="ejection times"):
        OutlierDetection(base_ejection_time=400, max_ejection_time=300)
    ctx = PickContext()
    assert ctx.avoid == frozenset()
