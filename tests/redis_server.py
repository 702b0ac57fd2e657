"""A real ``redis-server`` for the tests, on a free loopback port: no fake Redis.

Fixtures (registered in ``tests/conftest.py`` with ``pytest_plugins``):

* ``redis_url`` — one server for the whole test session; yields ``redis://127.0.0.1:P/0``.
  Tests share it, so they use their own keys or database (or flush first).
* ``disposable_redis`` — a server of the test's own, a ``RedisServer`` it may ``stop()``
  (Redis down) or ``pause()`` (Redis hung) at run time, and ``start()`` or ``resume()``
  again, on the same port.

Without ``redis-server`` on the PATH these fixtures fail, saying how to install it:
the Redis-backed mode is a feature, and a skipped test would hide that it went
untested. ``.ci/run`` installs it when missing.

The servers keep nothing on disk (``--save ''``, ``--appendonly no``, working folder
in the test's temporary directory) and listen on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTALL_HINT = "install it (apt-get install redis-server) — these tests need a real Redis"
#: Bound on a server's start-up (a few milliseconds normally) and shut-down.
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; ``port`` stays the same across restarts."""

    def __init__(self, executable: str, folder: Path) -> None:
        self.executable = executable
        self.folder = folder
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start (or restart on the same port); returns once it answers PING."""
        if self.running:
            return
        # A port another process grabs between probe and bind makes redis-server exit;
        # a fresh port then, unless restarting, where the port is the point.
        attempts = 3 if self.port == 0 else 1
        for attempt in range(attempts):
            port = self.port or _free_port()
            if self._launch(port):
                self.port = port
                return
            if attempt == attempts - 1:
                log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"redis-server did not start on port {port}:\n{log}", pytrace=False)

    def _launch(self, port: int) -> bool:
        options = {
            "--port": str(port),
            "--bind": "127.0.0.1",
            "--save": "",  # no snapshots
            "--appendonly": "no",
            "--protected-mode": "yes",
            "--dir": str(self.folder),
        }
        argv = [self.executable, *(part for pair in options.items() for part in pair)]
        log = (self.folder / "redis.log").open("ab")
        with log:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._process = process
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            if _answers_ping(port):
                return True
            time.sleep(0.01)
        self.stop()
        return False

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections open, nothing is answered — a hung Redis."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo ``pause``."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL if it lingers)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # a paused server would not act on SIGTERM
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _executable() -> str:
    found = shutil.which("redis-server")
    if found is None:
        pytest.fail(f"redis-server is not installed: {INSTALL_HINT}", pytrace=False)
    return found


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real Redis shared by the whole test session."""
    server = RedisServer(_executable(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def disposable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A real Redis of the test's own, running; the test may stop and restart it."""
    server = RedisServer(_executable(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            server.stop()
