"""ruff (lint and format) is clean everywhere; mypy --strict is clean on the pure
layers (the core, the lab model and the simulator)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lint() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_core_model_and_sim() -> None:
    result = run("mypy", "lbplay/core", "lbplay/model", "lbplay/sim", "lbplay/errors.py")
    assert result.returncode == 0, result.stdout + result.stderr
