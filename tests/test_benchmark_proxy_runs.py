"""The proxy benchmark still runs end to end (a smoke run; speed is not asserted here).

It uses the load client and static backend of its own, which need nothing installed,
so this runs the same with or without wrk, nginx and HAProxy on the machine.
"""

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
ROWS = ("direct", "lbplay L7", "lbplay L4", "naive aiohttp")
TARGETS = ("naive aiohttp req/s", "p50 at 500 req/s", "lbplay L7 req/s")


def test_proxy_benchmark_runs_and_reports_every_target() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/proxy.py",
            "--quick",
            "--tool",
            "python",
            "--backend",
            "static",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("target "))
    rows = [line for line in lines[header + 1 :] if not line.startswith("#")]
    table, verdicts = rows[: len(ROWS)], rows[len(ROWS) :]
    for row, label in zip(table, ROWS, strict=True):
        assert row.startswith(label + " "), row
        assert row.split()[-1] == "0", f"errors through {label}: {row}"
    assert len(verdicts) == len(TARGETS)
    for verdict, what in zip(verdicts, TARGETS, strict=True):
        assert what in verdict
        assert any(word in verdict.split() for word in ("ok", "MISS")), verdict
