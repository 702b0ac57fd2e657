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


def test_pick_benchmark_runs_and_covers_every_algorithm() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "benchmarks/pick.py", "--quick", "--only", "round_robin", "maglev"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [
        line.split()[0]
        for line in result.stdout.splitlines()
        if not line.startswith(("#", "algorithm"))
    ]
    assert rows == ["round_robin", "maglev"]
