"""Generated questions: every generator draws across many seeds, each question is
answerable from its text, and its computed answer agrees with an independent
reckoning (the textbook rule, nginx's own formula, the documented defaults).
``test_quiz_lab.py`` checks picks and sessions on a real Lab."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from lbplay.core.health import PRESETS
from lbplay.course import generators
from lbplay.course.answers import Drawn
from lbplay.course.quiz import Asked, ask, grade, load_bank
from lbplay.model.narration import SESSION_MODES


def drawn(name: str, seeds: range, **params: object) -> Iterator[tuple[int, Drawn]]:
    resolved = generators.resolve(name, params)
    for seed in seeds:
        yield seed, generators.draw(name, resolved, random.Random(seed))


def typed_right(asked: Asked) -> str:
    if asked.form == "choice":
        return next(
            label for label, c in zip(asked.labels, asked.choices, strict=False) if c.correct
        )
    if asked.number is not None:
        return f"{asked.number.value}"
    assert asked.predicted is not None
    return asked.predicted[1].text


def test_every_shipped_generated_question_computes_and_grades_across_seeds() -> None:
    generated = [q for q in load_bank().questions if q.generated]
    assert generated
    for question in generated:
        seeds = range(40) if question.generator == "keys_moved" else range(150)
        for seed in seeds:
            asked = ask(question, seed)
            assert asked.text.strip(), (question.id, seed)
            result = grade(asked, typed_right(asked))
            assert result.correct, (question.id, seed, result.feedback)
            assert asked.reasoning, (question.id, seed)


def smooth_wrr(weights: list[int], count: int) -> list[int]:
    """nginx's smooth weighted round robin, as ngx_http_upstream_round_robin.c has it."""
    current = [0] * len(weights)
    picks = []
    for _ in range(count):
        current = [c + w for c, w in zip(current, weights, strict=True)]
        best = current.index(max(current))
        current[best] -= sum(weights)
        picks.append(best)
    return picks


def nginx_ip_hash(address: str, backends: int) -> int:
    """nginx ip_hash: the first three octets, h = (h * 113 + byte) % 6271 from 89."""
    h = 89
    for byte in address.split(".")[:3]:
        h = (h * 113 + int(byte)) % 6271
    return h % backends


def weights_of(question: Drawn) -> dict[str, int]:
    spec = str(question.params["backends"])
    return {name: int(weight) for name, weight in (p.split(":") for p in spec.split(","))}


@pytest.mark.parametrize("algorithm", generators.PICK_ALGORITHMS)
def test_generated_picks_agree_with_the_rule_stated_in_the_question(algorithm: str) -> None:
    for seed, question in drawn("picks", range(120), algorithms=[algorithm]):
        assert question.form == "picks"
        assert question.predicted is not None
        answer = question.predicted[1].value
        weights = weights_of(question)
        names = list(weights)
        text = question.text
        assert all(name in text for name in names), (seed, text)
        if algorithm == "round_robin":
            assert answer == [names[i % len(names)] for i in range(len(answer))]
        elif algorithm == "weighted_round_robin":
            assert all(f"{n} (weight {w})" in text for n, w in weights.items())
            expected = smooth_wrr(list(weights.values()), len(answer))
            assert answer == [names[i] for i in expected], seed
        elif algorithm in ("least_connections", "weighted_least_connections"):
            flying = question.params["in_flight"]
            if algorithm == "least_connections":
                assert all(f"{n} {flying[n]}" in text for n in names)
                assert "weight" not in text  # lbplay's least_connections ignores weights
                score = {n: flying[n] for n in names}
            else:
                assert all(f"{n} {flying[n]} (weight {weights[n]})" in text for n in names)
                score = {n: flying[n] / weights[n] for n in names}
            assert answer == [min(score, key=score.__getitem__)], seed
        elif algorithm == "least_response_time":
            latency, flying = question.params["latency_ms"], question.params["in_flight"]
            assert all(f"{n} {latency[n]} ms with {flying[n]} in flight" in text for n in names)
            cost = {n: latency[n] * (flying[n] + 1) for n in names}
            assert answer == [min(cost, key=cost.__getitem__)], seed
        elif algorithm == "ip_hash":
            first, second = question.params["first"]["client_ip"], question.params["client_ip"]
            assert first in text
            assert second in text
            assert first.rsplit(".", 1)[0] == second.rsplit(".", 1)[0]  # one /24
            assert answer == [names[nginx_ip_hash(second, len(names))]]
            assert f"went to **{answer[0]}**" in text  # the first client's, the same
        else:
            first = question.params["first"]
            assert f"{first['key']}'s last request went to **{first['backend']}**" in text
            assert answer == [first["backend"]] * len(answer)


def test_a_bursty_weighted_round_robin_answer_names_misconception_4() -> None:
    question = generators.draw(
        "picks",
        generators.resolve(
            "picks", {"algorithms": ["weighted_round_robin"], "count": [7, 7], "backends": [2, 2]}
        ),
        random.Random(3),
    )
    [trap] = question.traps
    assert trap.misconception == 4
    assert len(trap.answer) == 7


@pytest.mark.parametrize("algorithm", list(generators.MOVING_ALGORITHMS))
def test_keys_moved_accepts_the_textbook_answer_and_the_engines(algorithm: str) -> None:
    for seed, question in drawn("keys_moved", range(12), algorithms=[algorithm]):
        number = question.number
        assert number is not None
        params = question.params
        verb, target = str(params["change"]).split()
        n = int(params["backends"])
        assert f"{n} backends, s1 to s{n}" in question.text
        assert f"**{target}**" in question.text
        removed = int(target[1:]) if verb == "remove" else 0
        book = 100 * generators.textbook_share(algorithm, n, verb, removed)
        assert number.counts(book), (seed, book, number)
        assert number.counts(number.value)
        if algorithm == "hash_modulo":
            assert number.value > 60  # most keys move
            assert any(w.misconception == 1 for w in number.wrong)
        elif algorithm == "jump_hash" and 0 < removed < n:
            # removing any but the last renumbers the backends after it
            assert not number.counts(100 / n)
        else:
            assert number.value < 55
        for wrong in number.wrong:
            assert not number.counts(wrong.value)


def test_health_timing_is_fall_or_rise_intervals_plus_a_timeout_for_a_hang() -> None:
    seen = set()
    for seed, question in drawn("health_timing", range(300)):
        p = question.params
        number = question.number
        assert number is not None
        expected = {
            "crash": p["fall"] * p["interval"],
            "hang": p["fall"] * p["interval"] + p["timeout"],
            "revive": p["rise"] * p["interval"],
        }[p["event"]]
        assert number.value == pytest.approx(expected), seed
        assert number.unit == "s"
        assert f"every {p['interval']:g} s" in question.text
        assert f"up to {p['timeout']:g} s" in question.text
        assert f"{p['fall']} failure" in question.text
        assert f"{p['rise']} success" in question.text
        assert p["timeout"] <= p["interval"]
        for wrong in number.wrong:
            assert abs(wrong.value - expected) > 1e-6
        seen.add(p["event"])
    assert seen == {"crash", "hang", "revive"}


def test_health_presets_are_the_documented_defaults() -> None:
    # REFERENCE.md: HAProxy inter 2 s, rise 2, fall 3; ALB 30 s, 5 healthy, 2 unhealthy;
    # NGINX Plus 5 s, passes 1, fails 1.
    documented = {"haproxy": (2, 2, 3), "aws-alb": (30, 5, 2), "nginx-plus": (5, 1, 1)}
    for name, (interval, rise, fall) in documented.items():
        preset = PRESETS[name]
        assert (preset.interval, preset.rise, preset.fall) == (interval, rise, fall)
    asked = set()
    for _seed, question in drawn("health_preset", range(60)):
        preset = PRESETS[question.params["preset"]]
        asked.add(question.params["question"])
        if question.form == "choice":
            [right] = [c for c in question.choices if c.correct]
            assert right.text == generators.PRESET_NAMES[question.params["preset"]]
            assert f"a check every {preset.interval:g} s" in question.text
            assert all(c.correct or c.caught for c in question.choices)
        else:
            assert question.number is not None
            assert question.number.value == preset.fall * preset.interval
    assert asked == {"which", "detection"}


def test_a_sticky_users_session_dies_with_the_server_unless_the_store_is_shared() -> None:
    expected = {"none": "spread", "cookie": "lost", "ip": "lost", "header": "lost"}
    expected["shared"] = "kept"
    assert {mode: generators.session_outcome(mode) for mode in SESSION_MODES} == expected
    words = {"lost": "must log in again", "kept": "stays logged in", "spread": "401"}
    modes = set()
    for seed, question in drawn("session_death", range(200)):
        mode = str(question.params["mode"])
        modes.add(mode)
        [right] = [c for c in question.choices if c.correct]
        assert words[expected[mode]] in right.text, (seed, mode)
        assert SESSION_MODES[mode].detail in question.text
        assert f"**{question.params['home']}**" in question.text
        assert len(question.choices) == 4
        assert all(c.why and (c.correct or c.caught) for c in question.choices)
        if expected[mode] == "lost":
            assert any(c.misconception == 7 for c in question.choices if not c.correct)
    assert modes == set(SESSION_MODES)


def test_the_same_seed_draws_the_same_question() -> None:
    for name in generators.GENERATORS:
        params = generators.resolve(name, {})
        one = generators.draw(name, params, random.Random(11))
        two = generators.draw(name, params, random.Random(11))
        assert one == two, name
