"""A regular (non-editable) wheel install: its lessons and assets, its compiled data path,
and CI's commands."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hatch_build import COMPILED

ROOT = Path(__file__).resolve().parents[1]


def build_wheel(dist: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``pip wheel`` of lbplay into ``dist``, offline (this environment's hatchling, mypy
    and setuptools), verbose: the build hook's messages are in the output."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(dist),
            str(ROOT),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def installed_wheel(tmp_path: Path, *, pure: bool) -> tuple[Path, Path, dict[str, str]]:
    """Build lbplay's wheel offline (pure Python, or with the data path compiled) and
    install it in a new venv: the wheel, the venv's site-packages and the environment to
    run its ``lbplay`` in."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    build_env = {**env, "LBPLAY_PURE_PYTHON": "1"} if pure else env
    dist = tmp_path / "dist"
    built = build_wheel(dist, build_env)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("lbplay-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    # The new venv borrows this environment's dependencies (typer, rich, ...) through a
    # .pth file, but lbplay itself comes from the wheel: its own site-packages is first.
    (own_site,) = (venv / "lib").glob("python3*/site-packages")
    (own_site / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return wheel, own_site, env


def lbplay(tmp_path: Path, env: dict[str, str], *args: str) -> str:
    venv_lbplay = tmp_path / "venv" / "bin" / "lbplay"
    result = subprocess.run(
        [str(venv_lbplay), *args], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_wheel_ships_lessons_and_assets(tmp_path: Path) -> None:
    wheel, own_site, env = installed_wheel(tmp_path, pure=True)
    assert wheel.name.endswith("-py3-none-any.whl")  # LBPLAY_PURE_PYTHON: nothing compiled
    lines = dict(line.split(":", 1) for line in lbplay(tmp_path, env, "info").splitlines()[1:])
    for name in ("lessons", "assets"):
        folder = Path(lines[name].strip())
        assert folder.is_relative_to(own_site), folder
        assert (folder / "README.md").is_file()
    assert lbplay(tmp_path, env, "--version").endswith(", data path in pure Python)\n")


@pytest.mark.slow
def test_a_wheel_built_with_a_c_compiler_carries_the_compiled_data_path(tmp_path: Path) -> None:
    """hatch_build.py: every module it lists is an extension module in the wheel (a
    platform wheel), installed where the .py is, and lbplay says so and runs."""
    wheel, own_site, env = installed_wheel(tmp_path, pure=False)
    assert "-cp3" in wheel.name
    assert not wheel.name.endswith("-none-any.whl")
    for module in COMPILED:
        source = own_site / module
        assert source.is_file()  # (tracebacks still show the source)
        assert list(source.parent.glob(f"{source.stem}.cpython-*.so")), module
    # mypyc's runtime, which every compiled module needs, is in the wheel (at the top).
    assert list(own_site.glob("*__mypyc.cpython-*.so"))
    assert lbplay(tmp_path, env, "--version").endswith(", data path compiled with mypyc)\n")
    assert "round_robin" in lbplay(tmp_path, env, "algorithms")
    # Nothing of mypy is needed at run time (this venv could reach the test's mypy).
    python = tmp_path / "venv" / "bin" / "python"
    code = (
        "import sys, lbplay.net.proxy_http, lbplay.core.balancer\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'mypy', 'mypyc', 'librt'}))"
    )
    ran = subprocess.run(
        [str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


def test_without_a_c_compiler_the_wheel_is_pure_python(tmp_path: Path) -> None:
    """hatch_build.py: a failed compile (here the compiler itself fails) falls back to a
    pure-Python wheel and says why, instead of failing the install."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LBPLAY_PURE_PYTHON")}
    result = build_wheel(tmp_path, {**env, "CC": "/bin/false"})
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("lbplay-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    said = result.stdout + result.stderr
    assert "lbplay: building the data path with mypyc failed" in said
    assert "this wheel is pure Python" in said


def ci_test_commands() -> list[str]:
    """What .ci/run does from making its venv on: its commands, in order."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("python3 -m venv "))
    return [line for line in lines[start:] if line and not line.startswith("#")]


def test_ci_runs_the_readme_test_command_then_the_slow_tests() -> None:
    """.ci/run spells out the README's test command, with the venv in a temp folder,
    then the same tests on the data path compiled as the installed wheel carries it,
    then runs the slow tests (which that command leaves out) with the same pytest,
    then plays every lesson and every scenario on a real Lab, each bounded in time."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- test-command -->", 1)[1].split("```sh\n", 1)[1]
    command = block.split("\n```", 1)[0].strip()
    assert command == (
        "python3 -m venv .venv && .venv/bin/pip install '.[test]' && .venv/bin/python -m pytest"
    )
    steps = [step.replace(".venv", '"$venv"') for step in command.split(" && ")]
    compiled = [
        """"$venv"/bin/lbplay --version | grep 'data path compiled with mypyc'""",
        '.ci/compiled "$venv" "$work/compiled"',
    ]
    lessons = 'timeout 900 "$venv"/bin/lbplay lessons check --run'
    scenarios = 'timeout 600 "$venv"/bin/lbplay demo all --headless'
    assert ci_test_commands() == [*steps, *compiled, f"{steps[-1]} -m slow", lessons, scenarios]


def test_a_plain_pytest_leaves_the_slow_tests_to_pytest_m_slow() -> None:
    """The default run deselects ``slow``; ``-m slow`` (CI's second step) overrides it."""
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(marker.startswith("slow:") for marker in options["markers"])
    assert "--strict-markers" in options["addopts"]

    def collected(*args: str) -> set[str]:
        pytest = (sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider")
        files = ("tests/test_benchmarks_run.py", "tests/test_packaging.py")
        result = subprocess.run(
            [*pytest, *args, *files],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        return {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}

    assert collected() == {"tests/test_packaging.py"}
    # (test_packaging.py has one slow test too: the compiled wheel.)
    assert collected("-m", "slow") == {"tests/test_benchmarks_run.py", "tests/test_packaging.py"}
