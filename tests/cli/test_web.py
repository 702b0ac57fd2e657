"""``lbplay web`` in a real headless Chromium (Debian's, driven by Selenium): the page
loads, the dashboard's text arrives, a key press kills a backend and the page shows it.

The terminal is drawn on a canvas, so the test reads what the page receives instead:
a script installed before the page's own wraps ``WebSocket`` and keeps every message.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains

from lbplay.errors import ConfigError
from lbplay.web import check_host, command_for
from tests.cli.processes import environment

RECORD = """
window.__received = [];
const Native = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const socket = protocols ? new Native(url, protocols) : new Native(url);
  socket.addEventListener("message", (event) => {
    const keep = (buffer) => window.__received.push(new TextDecoder().decode(buffer));
    if (typeof event.data === "string") window.__received.push(event.data);
    else if (event.data instanceof Blob) event.data.arrayBuffer().then(keep);
    else keep(event.data);
  });
  return socket;
};
window.WebSocket.prototype = Native.prototype;
"""


def needs(program: str) -> str:
    found = shutil.which(program)
    assert found, f"this test drives the real {program}: apt-get install chromium chromium-driver"
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def web(tmp_path: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "lbplay", "web", "--port", str(port)],
        env=environment(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:  # until it listens: polling a port, there is no event to wait on
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "lbplay web did not listen within 20 s"
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = needs("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(needs("chromedriver")), options=options)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD})
        yield driver
    finally:
        driver.quit()


def received(driver: webdriver.Chrome, text: str, timeout: float = 20.0) -> bool:
    """Whether the page receives ``text`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in driver.execute_script("return window.__received.join('')"):
            return True
        time.sleep(0.2)  # the page's state is read by polling: no event crosses to Python
    return False


def test_the_dashboard_works_in_a_real_browser(tmp_path: Path) -> None:
    port = free_port()
    with web(tmp_path, port), chromium() as driver:
        driver.get(f"http://127.0.0.1:{port}/")
        assert "googleapis" not in driver.page_source  # nothing fetched from outside
        assert received(driver, "Fleet")
        assert received(driver, "round_robin")
        # keys go to the terminal's hidden text box, as a learner's typing does
        driver.execute_script("document.querySelector('.xterm-helper-textarea').focus()")
        ActionChains(driver).send_keys("2").pause(0.3).send_keys("k").perform()
        assert received(driver, "killed")


def test_web_runs_lbplay_learn_or_demo_and_warns_off_loopback() -> None:
    assert command_for(None, None)[1:] == ["-m", "lbplay"]
    assert command_for("10", None)[-2:] == ["learn", "10"]
    assert command_for(None, "failover")[-2:] == ["demo", "failover"]
    with pytest.raises(ConfigError, match="choose one"):
        command_for("10", "failover")
    assert check_host("127.0.0.1")
    assert check_host("::1")
    assert not check_host("192.168.1.20")
    with pytest.raises(ConfigError, match="bad host 'school'"):
        check_host("school")
