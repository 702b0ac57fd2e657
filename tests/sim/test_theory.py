"""The simulator against published results (issue 16 §3): M/M/1 within 2%, the power
of d choices at n = 1,000 within 3% of Mitzenmacher's T_d(λ), ring hash spread
within 10% of 1/√k. Seeded, so each run makes the very same requests.

A plain ``pytest`` checks one case of each kind (a few seconds); ``pytest -m slow``
checks the whole grid (``benchmarks/sim_accuracy.py`` prints it as a table).
"""

from __future__ import annotations

import math

import pytest

from lbplay.sim import theory


def test_the_formulas_give_the_published_values() -> None:
    """REFERENCE.md's table: T_2 and T_3 at λ = 0.5, 0.7, 0.8, 0.9, 0.95, 0.99."""
    loads = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
    two = (1.2657, 1.6145, 1.9474, 2.6141, 3.3830, 5.4320)
    three = (1.1252, 1.3568, 1.5809, 2.0279, 2.5351, 3.8578)
    for load, t2, t3 in zip(loads, two, three, strict=True):
        assert theory.supermarket(load, 2) == pytest.approx(t2, abs=6e-5)
        assert theory.supermarket(load, 3) == pytest.approx(t3, abs=6e-5)
    assert theory.supermarket(0.9, 1) == pytest.approx(10.0)


def _check(case: theory.Case) -> None:
    row = theory.measure(case)
    assert math.isfinite(row.simulated)
    assert row.ok, (
        f"{case.label}: simulated {row.simulated:.4f}, theory {row.theory:.4f},"
        f" error {row.error:+.2%} (tolerance {case.tolerance:.0%})"
    )


@pytest.mark.parametrize("case", theory.QUICK, ids=lambda c: c.label)
def test_one_of_each_kind_agrees_with_theory(case: theory.Case) -> None:
    _check(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", theory.CASES, ids=lambda c: c.label)
def test_the_whole_grid_agrees_with_theory(case: theory.Case) -> None:
    _check(case)
