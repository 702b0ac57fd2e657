"""The chaos benchmark still runs end to end and prints every part of its report.

A smoke run (``--quick``): it checks the shape of the output only. Whether the run had
0 client-visible errors is the benchmark's verdict to print, not this test's to assert.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: A smoke run of a whole benchmark: CI runs it once (``pytest -m slow``), not every
#: local ``pytest``.
pytestmark = pytest.mark.slow
CYCLES = 5


def test_chaos_benchmark_runs_and_prints_its_report() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "benchmarks/chaos.py", "--quick", "--cycles", str(CYCLES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    machine = next(line for line in lines if line.startswith("# machine: "))
    assert re.search(r"\d+ CPUs .*load average [\d.]+ [\d.]+ [\d.]+; Python 3\.", machine)
    header = lines.index(next(line for line in lines if line.startswith("kill ")))
    rows = lines[header + 1 : header + 1 + CYCLES]
    for number, row in enumerate(rows, start=1):
        assert re.fullmatch(rf"\s*{number}\s+s[1-3]\s+\d+\.\d\d\s+(DOWN|-)\s+\d+", row), row
    rest = "\n".join(lines[header + 1 + CYCLES :])
    assert re.search(r"^requests sent: \d+ in ", rest, re.M)
    assert re.search(r"^client-visible errors: \d+ \(", rest, re.M)
    assert re.search(r"^retries performed: \d+ ", rest, re.M)
    assert re.search(rf"^kills: {CYCLES}, dead for min ", rest, re.M)
    verdict = lines[-1]
    assert verdict == "verdict: 0 client-visible errors: ok" or verdict.startswith(
        "verdict: MISS"
    ), verdict
