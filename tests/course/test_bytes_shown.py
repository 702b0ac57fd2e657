"""Bytes are shown as people read them: in an observation, a check's verdict and a
recap (``12 MB``, not ``12012345``)."""

from __future__ import annotations

from lbplay.course import checks
from lbplay.course.lesson import fill_recap
from lbplay.course.session import describe
from lbplay.model.numbers import fmt_bytes


def test_fmt_bytes_uses_decimal_units_and_keeps_a_digit_below_ten() -> None:
    assert fmt_bytes(None) == "—"
    assert fmt_bytes(0) == "0 B"
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(3_400) == "3.4 kB"
    assert fmt_bytes(1_000_000) == "1.0 MB"
    assert fmt_bytes(12_012_345) == "12 MB"
    assert fmt_bytes(1_500_000_000) == "1.5 GB"


def test_an_observation_and_a_recap_show_bytes_in_units() -> None:
    assert describe("bytes.s1", 12_012_345) == "bytes.s1 12 MB"
    assert describe("requests.s1", 120) == "requests.s1 120"
    measured = {"big.bytes.s1": 12_012_345, "big.requests": 400}
    assert fill_recap("{big.bytes.s1} in {big.requests}", measured) == "12 MB in 400"


def test_a_bytes_check_says_its_verdict_in_units() -> None:
    recorder = checks.Recorder(lambda take: lambda: None)
    recorder.requests.extend(
        checks.Finished(seq, float(seq), "s1", 200, 0.001, False, 1_000_000) for seq in (1, 2, 3)
    )
    check = checks.parse({"measure": "bytes", "backend": "s1", "at_least": 2_000_000})
    assert isinstance(check, checks.MeasureCheck)
    verdict = checks._measure(check, recorder, checks.Mark(0, 0.0))
    assert verdict.passed
    assert verdict.text == "bytes.s1 3.0 MB over 3 requests (wanted at least 2.0 MB)"
