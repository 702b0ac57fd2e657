"""Predictions: the engine computes the answers, and grades what a learner typed."""

from __future__ import annotations

import pytest

from lbplay.core.health import HealthCheckConfig
from lbplay.course import predict
from lbplay.errors import ConfigError
from lbplay.model.config import LabConfig


def ask(kind: str, setup: LabConfig, **params: object) -> predict.Answer:
    question = predict.parse_question({"question": kind, **params}, "step 1")
    return predict.answer(question, setup)


def test_smooth_weighted_round_robin_interleaves_as_nginx_documents() -> None:
    # nginx's own example for weights 5, 1, 1 (ngx_http_upstream_round_robin.c).
    setup = LabConfig(backends="a:5,b:1,c:1", algorithm="weighted_round_robin")
    assert ask("picks", setup, count=7).value == ["a", "a", "b", "a", "c", "a", "a"]


def test_shares_follow_the_weights() -> None:
    setup = LabConfig(backends="s1:5,s2:3,s3:2", algorithm="weighted_round_robin")
    truth = ask("share", setup, count=100)
    assert truth.value == {"s1": 0.5, "s2": 0.3, "s3": 0.2}
    assert truth.text == "s1=50% s2=30% s3=20%"


def test_the_seeds_weighted_least_connections_example_picks_the_lowest_ratio() -> None:
    # The explainer: s1 20 connections weight 5, s2 12/3, s3 10/2, and it picks by
    # the highest weight/connections. Really the lowest connections/weight wins:
    # s1 and s2 tie at 4, s3 (5) is never picked.
    setup = LabConfig(backends="s1:5,s2:3,s3:2", algorithm="weighted_least_connections")
    truth = ask("picks", setup, count=8, in_flight={"s1": 20, "s2": 12, "s3": 10})
    assert set(truth.value) == {"s1", "s2"}
    assert "20 in flight / weight 5" in truth.why


def test_unweighted_least_connections_ignores_weights() -> None:
    setup = LabConfig(backends="s1:5,s2:3,s3:2", algorithm="least_connections")
    truth = ask("picks", setup, count=3, in_flight={"s1": 20, "s2": 12, "s3": 10})
    assert truth.value == ["s3", "s3", "s3"]


def test_keys_moved_modulo_versus_consistent_hashing() -> None:
    modulo = ask("keys_moved", LabConfig(backends=4, algorithm="hash_modulo"), change="add s5")
    maglev = ask("keys_moved", LabConfig(backends=4, algorithm="maglev"), change="add s5")
    assert modulo.value > 0.7  # about 4 in 5 keys move
    assert 0.18 < maglev.value < 0.23  # about the 1 in 5 the new backend must take
    assert "the fewest possible is 20%" in maglev.why


def test_a_keys_moved_question_may_name_another_algorithm_and_its_options() -> None:
    # One lesson (modulo hashing in its lab) asks about a ring as well.
    setup = LabConfig(backends=4, algorithm="hash_modulo")
    modulo = ask("keys_moved", setup, change="add s5")
    ring = ask("keys_moved", setup, change="add s5", algorithm="ring_hash")
    few = ask("keys_moved", setup, change="add s5", algorithm="ring-hash", options={"vnodes": 1})
    assert modulo.value > 0.7
    assert 0.15 < ring.value < 0.25
    assert "with ring_hash" in ring.why
    assert "with hash_modulo" in modulo.why
    assert few.value != ring.value  # the options are used, not the setup's
    assert ask("keys_moved", setup, change="add s5", algorithm="hash_modulo") == modulo


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"question": "picks", "algorithm": "random"}, "only a keys_moved question"),
        ({"question": "keys_moved", "change": "add s5", "algorithm": "ringhash"}, "ringhash"),
        ({"question": "keys_moved", "change": "add s5", "options": {"vnodes": 1}}, "need the"),
        (
            {
                "question": "keys_moved",
                "change": "add s5",
                "algorithm": "ring_hash",
                "options": {"points": 1},
            },
            "no option 'points'",
        ),
    ],
)
def test_a_question_about_another_algorithm_is_checked(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        predict.parse_question(data, "step 2")


def test_detection_and_recovery_come_from_the_health_settings() -> None:
    health = HealthCheckConfig(interval=5.0, timeout=2.0, fall=2, rise=3)
    setup = LabConfig(backends=3, health=health)
    down = ask("detection", setup, tolerance=0.5)
    assert (down.low, down.high) == (4.5, 10.5)
    assert down.text == "5 to 10 s"
    up = ask("recovery", setup)
    assert (up.low, up.high) == (10.0, 15.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"question": "mood"}, "question must be one of"),
        ({"question": "picks", "count": 0}, "count must be a whole number"),
        ({"question": "keys_moved", "change": "double"}, "'add NAME' or 'remove NAME'"),
        ({"question": "picks", "in_flight": {"s1": -1}}, "in_flight must map"),
        ({"question": "detection", "tolerance": -2}, "tolerance must be a number"),
    ],
)
def test_a_question_of_the_wrong_shape_says_what(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        predict.parse_question(data, "step 2")


def test_questions_the_engine_cannot_answer_are_refused() -> None:
    with pytest.raises(ConfigError, match="draws random numbers"):
        ask("picks", LabConfig(backends=3, algorithm="random"))
    with pytest.raises(ConfigError, match="needs health checks"):
        ask("detection", LabConfig(backends=3, health=None))
    with pytest.raises(ConfigError, match="not in the setup"):
        ask("picks", LabConfig(backends=3, algorithm="least_connections"), in_flight={"s9": 1})


def test_grading_picks_counts_the_right_places() -> None:
    setup = LabConfig(backends="a:5,b:1,c:1", algorithm="weighted_round_robin")
    question = predict.Question("picks", 7)
    truth = predict.answer(question, setup)
    assert predict.grade(question, truth, "a a b a c a a").correct
    assert predict.grade(question, truth, "a, a, b, a, c, a, a").correct
    bursty = predict.grade(question, truth, "a a a a a b c")
    assert not bursty.correct
    assert bursty.score == pytest.approx(3 / 7)
    assert "the engine says a a b a c a a" in bursty.feedback


def test_grading_numbers_accepts_units_and_the_range() -> None:
    setup = LabConfig(backends=3, health=HealthCheckConfig(interval=1.0, fall=3))
    question = predict.Question("detection")
    truth = predict.answer(question, setup)
    assert predict.grade(question, truth, "2.5").correct
    assert predict.grade(question, truth, "3s").correct
    assert not predict.grade(question, truth, "10").correct
    assert "not a number" in predict.grade(question, truth, "soon").feedback
    moved = predict.Question("keys_moved", change="add s4")
    mod = predict.answer(moved, LabConfig(backends=3, algorithm="hash_modulo"))
    exact = f"{mod.value:.2%}"
    assert predict.grade(moved, mod, exact).correct
    assert predict.grade(moved, mod, predict.typed(mod)).correct


def test_grading_shares_allows_five_points() -> None:
    setup = LabConfig(backends="s1:5,s2:3,s3:2", algorithm="weighted_round_robin")
    question = predict.Question("share", 100)
    truth = predict.answer(question, setup)
    assert predict.grade(question, truth, "s1=48% s2=33% s3=19%").correct
    partly = predict.grade(question, truth, "s1=0.33 s2=0.33 s3=0.34")
    assert not partly.correct
    assert partly.score == pytest.approx(1 / 3)
