"""A wheel of lbplay carries its L7 data path compiled with mypyc, when it can be built.

The proxy's per-request code (parsing, forwarding, the upstream client, the relay, the
balancer's and the metrics' bookkeeping) runs as C extension modules made by mypyc from
the same, type-annotated Python: measured with ``benchmarks/proxy.py``, about 30% less
CPU per request for ``lbplay serve``. Everything else stays Python.

Compiling needs a C compiler and Python's headers. Where either is missing, or mypyc
fails for any other reason, the wheel is built as pure Python, which behaves the same
(only slower) and says so in ``lbplay --version``. (One difference, for code that
calls ``lbplay.core`` directly with the wrong types: compiled functions check their
annotations, so ``True`` passed as an ``int`` weight is taken as 1, and a float passed
as an ``int`` is a TypeError, where pure Python's own checks say ConfigError. lbplay's
commands, controls and files check their values before they get there.)

``LBPLAY_PURE_PYTHON=1`` asks for pure Python on purpose; an editable install (``pip
install -e``) is always pure Python, so that an edit to a module takes effect.

``compile_data_path`` is also how ``.ci/compiled`` builds the compiled modules in place,
in a copy of the repository, to run the tests against them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: The modules compiled, relative to the project's root. (None may define an async
#: generator: mypyc cannot compile those; ``lbplay.net.bodies`` holds the data path's.)
COMPILED = (
    "lbplay/core/backends.py",
    "lbplay/core/balancer.py",
    "lbplay/core/metrics.py",
    "lbplay/core/affinity.py",
    "lbplay/core/routing.py",
    "lbplay/net/attempt.py",
    "lbplay/net/forwarding.py",
    "lbplay/net/http1.py",
    "lbplay/net/outbox.py",
    "lbplay/net/proxy_http.py",
    "lbplay/net/relay.py",
    "lbplay/net/upstream.py",
)


def compile_data_path(root: Path, out: Path) -> list[Path]:
    """Compile ``COMPILED`` under ``root`` into ``out``: the extension modules made,
    as paths under ``out`` that mirror where they go in the package (plus mypyc's shared
    runtime module, at the top). Raises whatever mypyc or the C compiler raises."""
    from mypyc.build import mypycify
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    with tempfile.TemporaryDirectory(prefix="lbplay-mypyc-") as scratch:
        work = Path(scratch)
        # Its own mypy configuration: the project's is for checking, not for building.
        # Installed packages are not looked at (--no-site-packages): pip builds in an
        # environment without lbplay's dependencies, and this way every build compiles
        # the same code (what they return is typed Any), CI's too.
        config = work / "mypy.ini"
        config.write_text("[mypy]\nignore_missing_imports = True\n")
        here = Path.cwd()
        os.chdir(root)  # mypy finds the lbplay package from here
        try:
            extensions = mypycify(
                [
                    "--config-file",
                    str(config),
                    "--cache-dir",
                    str(work / "mypy-cache"),
                    "--no-site-packages",
                    *COMPILED,
                ],
                opt_level="3",
                target_dir=str(work / "c"),
            )
            command = build_ext(Distribution({"name": "lbplay", "ext_modules": extensions}))
            command.build_lib = str(out)
            command.build_temp = str(work / "objects")
            command.ensure_finalized()
            command.run()
            return [Path(path) for path in command.get_outputs()]
        finally:
            os.chdir(here)


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """hatchling's hook: add the compiled modules to a (non-editable) wheel."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        if os.environ.get("LBPLAY_PURE_PYTHON", "").strip().lower() in ("1", "true", "yes"):
            self.app.display_info("lbplay: pure Python, as LBPLAY_PURE_PYTHON asks")
            return
        out = self._out()
        shutil.rmtree(out, ignore_errors=True)
        try:
            built = compile_data_path(Path(self.root), out)
        except BaseException as error:  # (SystemExit too: setuptools exits on a failed compile)
            if isinstance(error, KeyboardInterrupt):
                raise
            shutil.rmtree(out, ignore_errors=True)
            print(
                f"lbplay: building the data path with mypyc failed ({error!r});"
                " this wheel is pure Python (the same, slower)",
                file=sys.stderr,
            )
            return
        for path in built:
            build_data["force_include"][str(path)] = path.relative_to(out).as_posix()
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        shutil.rmtree(self._out(), ignore_errors=True)  # in the wheel now

    def _out(self) -> Path:
        """Where the extension modules are built, until they are in the wheel."""
        return Path(self.directory) / ".lbplay-mypyc"
