"""The dashboard serves its Lab's admin API and records itself in the run file, so
``lbplay ctl`` from another terminal changes the lab on screen."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lbplay.cli import main
from lbplay.tui.app import LbplayApp
from tests.tui.support import eventually, fleet_line, quiet


def ctl(*args: str) -> int:
    try:
        main(["ctl", *args])
    except SystemExit as done:
        return int(done.code or 0)
    return 0


async def test_ctl_reaches_the_dashboards_lab(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runfile = tmp_path / "run.json"
    monkeypatch.setenv("LBPLAY_RUNFILE", str(runfile))
    app = LbplayApp(quiet(), admin=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await eventually(pilot, lambda: fleet_line(app, "s2"))
        [info] = json.loads(runfile.read_text())["labs"]
        assert info["kind"] == "dashboard"
        assert info["proxy_url"] == app.lab.proxy_url
        # ctl is a blocking client: in a thread, as from another terminal
        assert await asyncio.to_thread(ctl, "kill", "s2") == 0
        await eventually(pilot, lambda: _killed(app))
    assert not runfile.exists()  # the dashboard took its entry away on quitting


def _killed(app: LbplayApp) -> None:
    assert "killed" in fleet_line(app, "s2")
