"""``lbplay export`` as a user meets it: from the running lab (its live settings and
real addresses), from a file, to a file; bad input in one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.cli.processes import environment, lbplay, serving

ROOT = Path(__file__).resolve().parents[2]


def test_export_writes_the_running_labs_live_settings(tmp_path: Path) -> None:
    env = environment(tmp_path)
    with serving(env, "--backends", "a:5,b:3,c:2", "--algorithm", "weighted_round_robin") as (
        _,
        _urls,
    ):
        assert lbplay(env, "ctl", "weight", "c", "4").returncode == 0
        assert lbplay(env, "ctl", "backup", "b").returncode == 0
        done = lbplay(env, "export", "haproxy", "-o", str(tmp_path / "lb.cfg"))
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip() == f"wrote {tmp_path / 'lb.cfg'}"
        text = (tmp_path / "lb.cfg").read_text()
        assert "balance roundrobin" in text
        assert " weight 4" in text  # the live weight, not the launch one
        assert "backup" in text
        assert "placeholders" not in text  # the lab's real addresses
        nginx = lbplay(env, "export", "nginx")
        assert nginx.returncode == 0
        assert "weight=5;  # a" in nginx.stdout


def test_export_from_a_scenario_file(tmp_path: Path) -> None:
    env = environment(tmp_path)
    done = lbplay(env, "export", "envoy", "--from", str(ROOT / "lessons/scenarios/failover.toml"))
    assert done.returncode == 0, done.stderr
    assert 'lb_policy: "ROUND_ROBIN"' in done.stdout
    assert "placeholders" in done.stdout
    # To a file: the same text, readable as a file written with ">" would be.
    out = tmp_path / "envoy.yaml"
    done = lbplay(
        env, "export", "envoy", "--from", str(ROOT / "lessons/scenarios/failover.toml"),
        "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert 'lb_policy: "ROUND_ROBIN"' in out.read_text()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_bad_exports_are_one_line(tmp_path: Path) -> None:
    env = environment(tmp_path)
    for args, message in (
        (["export", "traefik", "--from", "x.toml"], "unknown export target 'traefik'"),
        (["export", "nginx", "--from", str(tmp_path / "none.toml")], "no file"),
        (["export", "nginx"], "no running lab found"),
        (["export", "nginx", "--from", str(ROOT / "lessons/scenarios/failover.toml"),
          "-o", str(tmp_path / "no" / "lb.conf")], "cannot write"),
        (["export", "nginx", "--from", str(ROOT / "lessons/03-weighted-round-robin.toml"),
          "--listen", "nowhere"], "bad listen address"),
    ):  # fmt: skip
        done = lbplay(env, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("lbplay: error: "), done.stderr
        assert message in done.stderr
        assert done.stderr.count("\n") == 1
