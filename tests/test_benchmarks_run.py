"""The benchmark scripts still run (a smoke run; speed is not asserted here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: A smoke run of a whole benchmark: CI runs it once (``pytest -m slow``), not every
#: local ``pytest``.
pytestmark = pytest.mark.slow


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` from the repository root with ``args``; fail if it fails."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def test_pick_benchmark_runs_and_covers_every_algorithm() -> None:
    result = run_benchmark("benchmarks/pick.py", "--quick", "--only", "round_robin", "maglev")
    rows = [
        line.split()[0]
        for line in result.stdout.splitlines()
        if not line.startswith(("#", "algorithm"))
    ]
    assert rows == ["round_robin", "maglev"]


def test_sim_benchmark_runs_with_its_simpy_anchor() -> None:
    result = run_benchmark("benchmarks/sim.py", "--quick")
    rows = [
        line.split()[:2]
        for line in result.stdout.splitlines()
        if line.startswith(("lbplay", "simpy"))
    ]
    assert [r[0] + " " + r[1] for r in rows] == [
        "lbplay round_robin",
        "lbplay power_of_two_choices",
        "simpy (round",
    ]
    assert result.stdout.count("peak RSS") == 2


def test_sim_accuracy_table_runs() -> None:
    result = run_benchmark("benchmarks/sim_accuracy.py", "--quick")
    assert result.stdout.count(" ok") == 3
