"""``lbplay serve`` and ``lbplay ctl`` as a user runs them: real processes, real curl."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbplay.serve import is_loopback
from tests.cli.processes import environment, lbplay, serving


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return environment(tmp_path)


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    with serving(env, "--backends", "3") as running:
        yield running


def curl(*args: str) -> str:
    return subprocess.run(
        ["curl", "-s", "--max-time", "10", *args], capture_output=True, text=True, check=True
    ).stdout


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_serve_curl_ctl_and_clean_stop(
    served: tuple[subprocess.Popen[str], dict[str, str]], env: dict[str, str]
) -> None:
    process, urls = served
    runfile = Path(env["LBPLAY_RUNFILE"])
    [lab] = json.loads(runfile.read_text())["labs"]
    assert (lab["proxy_url"], lab["kind"]) == (urls["proxy"], "serve")
    assert oct(runfile.stat().st_mode & 0o777) == "0o600"

    answer = json.loads(curl(urls["proxy"] + "/hello?x=1"))
    assert answer["backend"] == "s1"
    assert answer["path"] == "/hello?x=1"
    head = curl("-D", "-", "-o", "/dev/null", urls["proxy"] + "/")
    assert "X-Lbplay-Backend: s2" in head

    state = lbplay(env, "ctl", "state")
    assert state.returncode == 0, state.stderr
    assert "round_robin" in state.stdout
    assert "s3" in state.stdout
    killed = lbplay(env, "ctl", "kill", "s2").stdout.splitlines()
    assert killed[0] == "s2 killed: it refuses connections now"
    assert killed[1].startswith("watch: the health checker needs 3 failed checks")
    assert lbplay(env, "ctl", "algorithm", "least_connections").returncode == 0
    mistake = lbplay(env, "ctl", "weight", "s9", "2")
    assert mistake.returncode == 2
    assert mistake.stderr == "lbplay: error: no backend named 's9' (backends: s1, s2, s3)\n"
    events = lbplay(env, "ctl", "events", "--limit", "5")
    assert "s2 killed" in events.stdout
    assert "algorithm least_connections" in events.stdout

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "stopped" in out
    assert not runfile.exists()
    for url in urls.values():
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port_of(url)), timeout=2).close()


def test_ctl_without_a_running_lab(env: dict[str, str]) -> None:
    result = lbplay(env, "ctl", "state")
    assert result.returncode == 2
    assert result.stderr.startswith("lbplay: error: no running lab found")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--backend", "http://127.0.0.1:1"], "cannot reach backend http://127.0.0.1:1"),
        (["serve", "--backend", "ftp://x:1"], "bad backend URL"),
        (["serve", "--algorithm", "nope"], "unknown algorithm 'nope'"),
        (["serve", "--backends", "0"], "bad backends 0: use a whole number from 1 to 64"),
        (["serve", "--trust", "not-an-ip"], "bad trusted proxy address"),
        (["serve", "--sessions", "redis://127.0.0.1:1/0"], "cannot reach Redis"),
        (["serve", "--sessions", "memcached://x"], "bad sessions"),
        (["serve", "--sticky", "glue"], "unknown sticky mode"),
        (["serve", "--route", "path=/api->api"], "a route names no pool api"),
        (["serve", "--pool", "api"], "NAME=COUNT"),
    ],
)
def test_serve_mistakes_give_one_line(env: dict[str, str], args: list[str], message: str) -> None:
    result = lbplay(env, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.8.9.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.4")


def test_curl_with_a_cookie_jar_stays_logged_in(env: dict[str, str], tmp_path: Path) -> None:
    """As a browser would: curl keeps the affinity and session cookies in its jar."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lbplay", "serve", "--sticky", "cookie", "--no-live"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        proxy = next(
            line.split(":", 1)[1].strip() for line in process.stdout if line.startswith("proxy:")
        )
        jar = str(tmp_path / "jar.txt")
        login = json.loads(curl("-c", jar, "-b", jar, "-X", "POST", proxy + "/login?user=ann"))
        home = login["backend"]
        for _ in range(5):
            page = json.loads(curl("-c", jar, "-b", jar, proxy + "/profile"))
            assert (page["user"], page["backend"]) == ("ann", home)
        cookies = Path(jar).read_text()
        assert "LBPLAY_AFFINITY" in cookies
        assert "lbplay_session" in cookies
        # Without the jar, the profile needs a login.
        assert "not logged in" in curl(proxy + "/profile")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_logins_without_traffic_is_a_warning(env: dict[str, str]) -> None:
    """Found: --logins at rate 0 was accepted silently, and nobody ever logged in."""
    with serving(env, "--logins") as (process, _):
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert "warning: --logins makes generated users log in, but --rate is 0" in err
