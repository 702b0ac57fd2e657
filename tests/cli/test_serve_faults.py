"""``lbplay serve`` through faults a user meets: a Redis that dies and comes back, a
drain and a removal under load, an affinity cookie that expires — real processes,
real curl, real redis-server."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lbplay.ctl import AdminClient
from tests.cli.processes import environment, lbplay, serving
from tests.redis_server import RedisServer


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-s", "--max-time", "10", *args], capture_output=True, text=True, check=False
    )


def admin_of(env: dict[str, str], urls: dict[str, str]) -> AdminClient:
    [lab] = json.loads(Path(env["LBPLAY_RUNFILE"]).read_text())["labs"]
    token = lab["token"]
    return AdminClient(urls["admin"], token)


def until(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Poll ``condition`` (a question to a separate process) until it is truthy."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


def status_and_body(*args: str) -> tuple[int, str]:
    answer = curl("-w", "\n%{http_code}", *args).stdout
    body, _, code = answer.rpartition("\n")
    return int(code), body


def test_redis_killed_and_restarted(tmp_path: Path, disposable_redis: RedisServer) -> None:
    env = environment(tmp_path)
    with serving(env, "--sessions", disposable_redis.url) as (_, urls):
        proxy = urls["proxy"]
        jar = str(tmp_path / "jar")
        assert (
            status_and_body("-c", jar, "-b", jar, "-X", "POST", proxy + "/login?user=ann")[0] == 200
        )
        assert status_and_body("-c", jar, "-b", jar, proxy + "/profile")[0] == 200
        disposable_redis.stop()
        status, body = status_and_body("-c", jar, "-b", jar, proxy + "/profile")
        assert status == 503
        assert f"redis at 127.0.0.1:{disposable_redis.port}" in body  # it names the store
        disposable_redis.start()  # the same port, empty: a restarted Redis lost its keys
        login = status_and_body("-c", jar, "-b", jar, "-X", "POST", proxy + "/login?user=ann")
        assert login[0] == 200
        assert status_and_body("-c", jar, "-b", jar, proxy + "/profile")[0] == 200


def test_drain_and_remove_under_load_lose_nothing(tmp_path: Path) -> None:
    env = environment(tmp_path)
    with serving(env, "--backends", "3", "--rate", "150") as (_, urls):
        admin = admin_of(env, urls)
        until(lambda: admin.call("GET", "/state")["traffic"]["completed"] > 150, "traffic")
        assert lbplay(env, "ctl", "drain", "s2").returncode == 0
        until(
            lambda: (
                next(b for b in admin.call("GET", "/state")["backends"] if b["name"] == "s2")[
                    "admin"
                ]
                == "drained"
            ),
            "s2 drained",
        )
        assert lbplay(env, "ctl", "remove", "s2").returncode == 0
        after = admin.call("GET", "/state")["traffic"]["completed"]
        until(lambda: admin.call("GET", "/state")["traffic"]["completed"] > after + 150, "more")
        traffic = admin.call("GET", "/state")["traffic"]
        assert traffic["errors"] == {}
        assert traffic["status"]["failed"] == traffic["status"]["5xx"] == 0
        assert [b["name"] for b in admin.call("GET", "/state")["backends"]] == ["s1", "s3"]


def test_an_affinity_cookie_expires_after_its_lifetime(tmp_path: Path) -> None:
    env = environment(tmp_path)
    with serving(env, "--sticky", "cookie", "--cookie-ttl", "1") as (_, urls):
        proxy = urls["proxy"]
        head = curl("-D", "-", "-o", "/dev/null", proxy + "/").stdout
        cookie = next(
            line.split(":", 1)[1].strip()
            for line in head.splitlines()
            if line.lower().startswith("set-cookie:") and "LBPLAY_AFFINITY" in line
        )
        assert "Max-Age=1" in cookie
        pair = cookie.split(";")[0]
        pinned = curl("-D", "-", "-o", "/dev/null", "-H", f"Cookie: {pair}", proxy + "/").stdout
        assert "set-cookie" in pinned.lower()  # refreshed on every response, as the ALB does
        time.sleep(2.1)  # the lifetime is what is tested: a second and a bit must pass
        curl("-o", "/dev/null", "-H", f"Cookie: {pair}", proxy + "/late")
        admin = admin_of(env, urls)
        events = admin.call("GET", "/events?limit=50")["events"]
        late = [e for e in events if e["type"] == "RequestCompleted" and e["path"] == "/late"]
        assert "expired" in late[-1]["session"]
