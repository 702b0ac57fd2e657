"""core/ must stay pure: importing all of it pulls in no I/O framework."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("asyncio", "aiohttp", "textual", "rich", "typer")


def test_core_imports_no_io_frameworks() -> None:
    code = (
        "import json, sys\n"
        "import lbplay.core, lbplay.core.explore\n"
        "from lbplay.core import registry\n"
        "for name in registry.names(): registry.get(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    assert "lbplay.core.algorithms.maglev" in loaded  # the check really imported everything
    bad = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert bad == []
