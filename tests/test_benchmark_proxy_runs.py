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
ROWS = (
    "direct",
    "lbplay L7",
    "lbplay serve",
    "lbplay L4",
    "pooled aiohttp",
    "naive aiohttp (new session per request)",
    "python floor (uvloop+httptools only)",
)
#: Issue 15's targets in the order printed, and whether each needs nginx (which a
#: --quick run leaves out: those say "skipped").
TARGETS = (
    ("lbplay serve req/s >= 2.5x pooled aiohttp's", False),
    ("lbplay L7 req/s >= 2.5x pooled aiohttp's", False),
    ("lbplay serve CPU µs/req <= 3x nginx's", True),
    ("lbplay L7 CPU µs/req <= 3x nginx's", True),
    ("lbplay serve adds <= 0.3 ms p50 at 500 req/s", False),
    ("lbplay L7 adds <= 0.3 ms p50 at 500 req/s", False),
    ("lbplay L4 CPU µs/req <= 1.5x nginx's", True),
)


def quick_run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A --quick run of the proxy benchmark with its own load client and backends (so it
    needs neither wrk nor nginx), from the sources' root; it must succeed."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "proxy.py"),
            "--quick",
            "--tool",
            "python",
            "--backend",
            "static",
            *args,
        ],
        cwd=ROOT,  # (a script's folder goes on sys.path, not the working one)
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_proxy_benchmark_runs_and_reports_every_target() -> None:
    result = quick_run({**os.environ, "PYTHONPATH": str(ROOT)})
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("target "))
    assert "CPU µs/req" in lines[header]
    assert "load average before" in result.stdout
    assert "load average after" in result.stdout
    rows = [line for line in lines[header + 1 :] if not line.startswith("#")]
    table, verdicts = rows[: len(ROWS)], rows[len(ROWS) :]
    for row, label in zip(table, ROWS, strict=True):
        assert row.startswith(label + " "), row
        assert row.split()[-1] == "0", f"errors through {label}: {row}"
    assert len(verdicts) == len(TARGETS)
    for verdict, (what, needs_nginx) in zip(verdicts, TARGETS, strict=True):
        assert verdict.startswith(what), verdict
        expected = ("skipped",) if needs_nginx else ("ok", "MISS")
        assert any(word in verdict.split() for word in expected), verdict
    # The floor next to lbplay (no nginx in a --quick run: no ratio to nginx).
    floor = next(line for line in lines if "x the floor's" in line)
    assert floor.startswith("# lbplay serve "), floor
    assert "lbplay L4 " in floor, floor


def test_proxy_benchmark_can_measure_the_installed_lbplay() -> None:
    """--installed: the rows run the lbplay installed for this Python (in CI, the wheel
    .ci/run installed, compiled), not these sources, and the header says which."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = quick_run(env, "--installed", "--only", "serve")
    header = next(line for line in result.stdout.splitlines() if line.startswith("# lbplay "))
    assert ", data path " in header
    assert ", installed in " in header
    row = next(line for line in result.stdout.splitlines() if line.startswith("lbplay serve "))
    assert row.split()[-1] == "0", row
