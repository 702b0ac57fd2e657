"""``lbplay sim`` as a user meets it: the table and charts, --json, --csv, --plot, a
scenario's [sim] table, and bad input refused in one line. Small runs (20,000
requests), so each takes a fraction of a second."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from lbplay import cli, sim_cli

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--servers", "100", "--load", "0.8", "--requests", "2e4"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        cli.main(["sim", *args])
    except SystemExit as done:
        captured = capsys.readouterr()
        return int(done.code or 0), captured.out, captured.err
    raise AssertionError("lbplay sim returned without exiting")


def test_the_table_and_charts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *SMALL, "--compare", "random,power_of_two_choices")
    assert code == 0, err
    assert "100 servers · load 0.8" in out
    for word in ("random", "power_of_two_choices", "p99.9", "Latency CDF", "Queues:"):
        assert word in out
    assert "Simulated requests per" in out


def test_json_has_each_algorithms_figures(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *SMALL, "--compare", "random,power_of_two_choices", "--json")
    assert code == 0
    document = json.loads(out)
    random, p2c = document["results"]
    for record in (random, p2c):
        for key in ("algorithm", "mean", "p50", "p99", "p999", "max_queue"):
            assert record[key] is not None, key
    assert (random["algorithm"], p2c["algorithm"]) == ("random", "power_of_two_choices")
    assert p2c["p99"] < random["p99"]
    assert document["config"]["requests"] == 20_000
    assert document["unit"] == "time: mean service time = 1"


def test_csv_with_replications_has_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *SMALL, "-a", "round_robin", "--csv", "--replications", "2")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["algorithm"] for r in rows] == ["round_robin"]
    assert float(rows[0]["p99"]) > float(rows[0]["p50"])
    assert rows[0]["mean_ci95"]


def test_an_svg_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "cdf.svg"
    code, _, err = run(capsys, *SMALL, "--compare", "random,round_robin", "--plot", str(target))
    assert code == 0
    assert f"wrote {target}" in err
    text = target.read_text()
    assert text.startswith("<svg")
    assert text.rstrip().endswith("</svg>")
    assert text.count("<polyline") == 2
    assert ">random<" in text
    assert ">round_robin<" in text
    assert "time in system (mean service times)" in text


def test_a_png_plot_or_the_way_to_get_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cdf.png"
    if sim_cli._has_matplotlib():
        code, _, _ = run(capsys, *SMALL, "-a", "random", "--plot", str(target))
        assert code == 0
        assert target.read_bytes().startswith(b"\x89PNG")
        assert [p.name for p in tmp_path.iterdir()] == ["cdf.png"]  # no temporary left
        missing = tmp_path / "no" / "cdf.png"
        code, _, err = run(capsys, *SMALL, "-a", "random", "--plot", str(missing))
        assert code == 2
        assert err.count("\n") == 1
        assert f"cannot write {missing}" in err
    monkeypatch.setattr(sim_cli, "_has_matplotlib", lambda: False)
    code, _, err = run(capsys, *SMALL, "-a", "random", "--plot", str(tmp_path / "b.png"))
    assert code == 2
    assert "pip install 'lbplay[plot]'" in err
    assert err.count("\n") == 1


def test_a_scenario_files_sim_table(capsys: pytest.CaptureFixture[str]) -> None:
    """The failover scenario's [sim] table: its three algorithms and its outage; the
    options given on the command line win."""
    scenario = str(ROOT / "lessons/scenarios/failover.toml")
    code, out, err = run(capsys, scenario, "--requests", "3e4", "--warmup", "0", "--json")
    assert code == 0, err
    document = json.loads(out)
    names = [r["algorithm"] for r in document["results"]]
    assert names == ["round_robin", "least_connections", "power_of_two_choices"]
    assert document["config"]["requests"] == 30_000
    assert document["config"]["servers"] == 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--requests", "lots"], "bad number of requests 'lots'"),
        (["--requests", "2.5"], "use a whole number"),
        (["--plot", "x.jpg"], "end it in .svg or .png"),
        (["--json", "--csv"], "give --json or --csv, not both"),
        (["--compare", "random,nope"], "unknown algorithm 'nope'"),
        (["-a", "random", "--compare", "round_robin"], "not both"),
        (["--servers", "0"], "bad number of servers 0"),
        (["-o", "choices=3", "-a", "random"], "no algorithm here has an option 'choices'"),
        (["no-such-file.toml"], "cannot read it"),
        ([str(ROOT / "lessons/03-weighted-round-robin.toml")], "has no [sim] table"),
        ([str(ROOT / "lessons")], "is a folder"),
    ],
)
def test_bad_input_is_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1
