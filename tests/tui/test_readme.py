"""The README's key table and screenshot match the real app."""

from __future__ import annotations

import re
from pathlib import Path

from lbplay.tui.app import LbplayApp
from lbplay.tui.bindings import help_rows, key_label
from lbplay.tui.screens.dashboard import DashboardScreen

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def tui_section() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- tui:start -->(.*?)<!-- tui:end -->", text, re.S)
    assert match, "README.md lost its <!-- tui:start --> / <!-- tui:end --> markers"
    return match.group(1)


def readme_keys() -> list[tuple[list[str], str]]:
    """(keys, what it does) for each row of the README's key table."""
    rows = []
    for line in tui_section().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("Key", "---"):
            continue
        rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return rows


def real_bindings() -> list[object]:
    return [*DashboardScreen.BINDINGS, *LbplayApp.BINDINGS]


def test_readme_key_table_matches_the_real_bindings() -> None:
    expected = [(row.keys.split(" / "), row.help) for row in help_rows(real_bindings())]  # type: ignore[arg-type]
    assert readme_keys() == expected


def test_every_real_binding_is_in_the_readme() -> None:
    listed = {key for keys, _ in readme_keys() for key in keys}
    for binding in real_bindings():
        label = key_label(binding)  # type: ignore[arg-type]
        if binding.id and binding.id.startswith("select.number"):  # type: ignore[attr-defined]
            continue  # nine bindings, one row: "1–9"
        assert set(label.split(" / ")) <= listed, label


def test_readme_shows_the_real_screenshot() -> None:
    section = tui_section()
    assert "(assets/screenshot.svg)" in section
    svg = (ROOT / "assets" / "screenshot.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg")
    assert "Generated with Rich" in svg
    assert "Fleet" in svg
    assert "Requests" in svg
