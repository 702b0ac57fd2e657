"""The layers point one way, and the pure ones stay pure.

errors < core < model < sim < net < course < tui < the command line (cli, ctl,
serve, learn, demo, sim_cli): a module may
import its own layer and the ones below, never one above, and no import cycle
exists anywhere in lbplay/ (imports only needed for type checking excepted). The
pure layers are also checked by importing them in a fresh interpreter: ``core``,
``model`` and ``sim`` load nothing but the standard library, each other and two
small pure libraries (no asyncio); ``net`` and ``course`` load no Textual.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lbplay"
#: Each top-level part of lbplay and its rank: imports go to the same rank or lower.
RANKS = {
    "lbplay": 0,
    "lbplay.errors": 0,
    "lbplay.core": 1,
    "lbplay.model": 2,
    "lbplay.resources": 2,
    # The simulator: pure like the model, below the network (it never needs it).
    "lbplay.sim": 3,
    "lbplay.net": 4,
    "lbplay.runfile": 4,
    "lbplay.course": 5,
    "lbplay.tui": 6,
    "lbplay.serve": 7,
    "lbplay.ctl": 7,
    "lbplay.learn": 7,
    "lbplay.quiz": 7,
    "lbplay.interview": 7,
    "lbplay.demo": 7,
    "lbplay.export_cli": 7,
    "lbplay.web": 7,
    "lbplay.sim_cli": 7,
    "lbplay.cli": 8,
    "lbplay.__main__": 9,
}
#: Third-party libraries the pure layers may load, and why.
PURE_LIBRARIES = {
    "xxhash": "core: the fixed 64-bit hash of every hashing algorithm",
    "tomli_w": "model: writes lab models as TOML (a formatter, no I/O of its own)",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(name: str) -> str:
    """The lbplay module ``name`` refers to (a submodule, or its package)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> set[str]:
    """The lbplay modules ``path`` imports at run time (anywhere in the file)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and is_type_checking(node):
            skip.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lbplay"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lbplay"):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {resolve(name) for name in found} - {module_name(path)}


GRAPH = {name: imports(path) for name, path in MODULES.items()}


def rank(module: str) -> int:
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        key = ".".join(parts[:size])
        if key in RANKS:
            return RANKS[key]
    raise AssertionError(f"{module} is in no layer: add it to RANKS")


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        rank(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    upward = sorted(m for m in GRAPH[module] if rank(m) > rank(module))
    assert upward == [], f"{module} imports a layer above it"


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components: every one must be a single module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []


def loaded_by(code: str) -> list[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return list(json.loads(result.stdout))


@pytest.mark.parametrize(("layer", "sample"), [("model", "controls"), ("sim", "engine")])
def test_the_model_and_the_simulator_load_only_the_standard_library_and_below(
    layer: str, sample: str
) -> None:
    modules = [m for m in MODULES if m.startswith(f"lbplay.{layer}.")]
    loaded = loaded_by("\n".join(f"import {m}" for m in modules))
    assert f"lbplay.{layer}.{sample}" in loaded  # the check really imported everything
    foreign = sorted(
        m
        for m in loaded
        if m.split(".")[0] not in sys.stdlib_module_names
        and m.split(".")[0] not in ("lbplay", *PURE_LIBRARIES)
        and not m.startswith("_")
        # lbplay's own compiled modules share mypyc's runtime, named <hash>__mypyc
        # (hatch_build.py), when the layers are run compiled (.ci/run does).
        and not m.endswith("__mypyc")
    )
    assert foreign == []
    assert not [
        m
        for m in loaded
        if m.startswith(("lbplay.net", "lbplay.course", "lbplay.tui", "lbplay.cli"))
    ]
    assert "asyncio" not in loaded


@pytest.mark.parametrize(("layer", "sample"), [("net", "lab"), ("course", "session")])
def test_net_and_course_import_no_textual(layer: str, sample: str) -> None:
    modules = [m for m in MODULES if m.startswith(f"lbplay.{layer}.")]
    loaded = loaded_by("\n".join(f"import {m}" for m in modules))
    assert f"lbplay.{layer}.{sample}" in loaded
    assert not [m for m in loaded if m.split(".")[0] in ("textual", "rich", "typer")]
