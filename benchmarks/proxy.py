"""Requests per second, CPU per request and added latency of lbplay's proxies, next to
the alternatives.

Targets, each in its own process(es), each balancing round robin over the same two
backends on loopback:

* ``direct``: no proxy, the load tool straight at one backend (the baseline);
* ``lbplay L7``: ``HttpProxy`` in a process of the benchmark's, with an ``EventBus`` and
  ``Metrics`` (``--bare``: without them), on uvloop when importable;
* ``lbplay serve``: the real CLI exactly as a user runs it, ``lbplay serve --backend
  http://127.0.0.1:P1 --backend http://127.0.0.1:P2 --port N --no-live`` (a whole Lab:
  admin API, health checks, on whatever loop ``serve`` picks), its CPU read from /proc
  for its whole process tree;
* ``lbplay L4``: ``TcpProxy``;
* ``pooled aiohttp``: the simplest proxy done right: one ``aiohttp.ClientSession``
  created once, with a pooled keep-alive ``TCPConnector``, forwarding method, path and
  query, headers and body, copying status, headers and body back;
* ``naive aiohttp (new session per request)``: the classic Flask + requests example (a
  new client session, so a new connection, per request);
* ``python floor``: the least a Python proxy can do (uvloop and httptools, round robin
  over pooled keep-alive connections, no checks, limits, headers, balancer, metrics or
  events; GET only). Not a proxy to use: its CPU per request is what any Python proxy
  pays on this machine, printed under the targets next to nginx's and lbplay's;
* ``nginx`` (one worker, upstream ``keepalive 32``) and ``haproxy`` (one thread,
  ``http-reuse safe``) when installed.

Backends: nginx answering ``ok`` on two ports when installed, else a raw asyncio
responder of our own (``--backend static``), or lbplay's ``FakeBackend`` with zero
latency (``--backend fake``). The backends must be much faster than the proxies, or
the table would measure them.

Two measurements per target in every round; ``--runs`` rounds (default 3), interleaved
(round 1 of every target, then round 2, ...; the order rotates), medians reported:

* maximum throughput: wrk (``-t1 -c32 --latency``) when installed, else a closed-loop
  client of our own (32 keep-alive connections, raw sockets) in another process; both
  report requests/s and p50/p99. ``cpu%`` is what the target's processes used during
  that run (100% = one core): near 100% means the target was the bottleneck. ``CPU
  µs/req`` is the same user+system CPU time divided by the requests completed in that
  run: steadier than req/s on a shared machine, where the load tool and the backends
  compete with the target for the cores.
* added latency at a fixed rate: an open-loop client of our own sends 500 requests/s
  (Poisson arrivals) over 8 keep-alive connections and times each request; the added
  p50/p99 is the target's minus direct's, paired round by round.

Targets (issue 15, "A lean L7 data path"), each printed under the table with ok or MISS
from the medians:

* ``lbplay serve`` (and ``lbplay L7``) reach >= 2.5x the pooled aiohttp proxy's req/s;
* ``lbplay L7`` (and ``lbplay serve``) spend <= 3x nginx's CPU µs per request;
* at 500 requests/s ``lbplay L7`` (and ``lbplay serve``) add <= 0.3 ms at p50 over
  direct (nginx adds about 0.09 ms);
* ``lbplay L4`` spends <= 1.5x nginx's (nginx as an L7 proxy) CPU µs per request;
* the dashboard at its default 50 req/s uses under 10% of a core: measured apart, by
  ``python benchmarks/tui.py --cpu``.

Misses are reported, not raised: the exit status is 0 either way (1 only when the
benchmark itself could not run). A target whose rows did not run (no nginx, ``--only``,
``--quick``) is ``skipped``.

The benchmark's own Python pieces (backends, proxies, load clients) run on uvloop when
it is importable; ``lbplay serve`` runs on the loop it chooses, and the header says
which (uvloop mapped into its process or not). The load tool, the backends and the
target share the machine, so read ``cpu%`` and the load averages printed before and
after the table before trusting a ratio. Every process and temporary directory is
removed on exit, Ctrl-C included.

Which lbplay: the sources beside this script, by default (pure Python, so a tree can be
measured before and after a change); with ``--installed``, the one this Python has
installed, as a user runs it: compiled with mypyc if its wheel was (``hatch_build.py``).
The header says which, with ``lbplay --version``.

Run: ``python benchmarks/proxy.py`` (``--quick`` for a smoke run: one short round,
no nginx/haproxy; ``--runs N``, ``--seconds S``, ``--only l7 serve pooled``, ``--tool
python``, ``--backend fake``, ``--bare``, ``--installed``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import importlib.util
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import _proxy_parts as parts
from _procs import cpu_seconds, process_tree

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
#: Where the rows' lbplay comes from, put first on their PYTHONPATH: these sources, or
#: nothing (``--installed``: the lbplay installed for this Python).
LBPLAY_PATH = [str(ROOT)]

ProxyKey = Literal["l7", "serve", "l4", "pooled", "naive", "floor", "nginx", "haproxy"]
#: Every target but direct, in table order, with its row label.
PROXIES: dict[ProxyKey, str] = {
    "l7": "lbplay L7",
    "serve": "lbplay serve",
    "l4": "lbplay L4",
    "pooled": "pooled aiohttp",
    "naive": "naive aiohttp (new session per request)",
    "floor": "python floor (uvloop+httptools only)",
    "nginx": "nginx",
    "haproxy": "haproxy",
}
#: Rows that need a program of their own on the PATH (or next to this Python).
EXTERNAL: tuple[ProxyKey, ...] = ("serve", "nginx", "haproxy")
#: Rows run by a child of this script's (``--serve KEY``).
CHILDREN: tuple[ProxyKey, ...] = ("l7", "l4", "pooled", "naive", "floor")
DIRECT = "direct"
RATE = 500.0
#: Issue 15's targets.
L7_OVER_POOLED = 2.5
L7_CPU_OVER_NGINX = 3.0
MAX_ADDED_P50_MS = 0.3
L4_CPU_OVER_NGINX = 1.5
DASHBOARD_MAX_CORE = 0.10
WRK_CONNECTIONS = 32
OPEN_CONNECTIONS = 8
READY_TIMEOUT = 15.0


class BenchError(Exception):
    """Something the benchmark needs did not work; the message says what."""


# -- child processes ----------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux only).

    So that nginx or HAProxy never outlive a benchmark that was killed with SIGKILL.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Children:
    """Every process the benchmark started, so that all of them can be ended."""

    def __init__(self, temp: Path) -> None:
        self.temp = temp
        self.procs: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def env(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH", "")
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (*LBPLAY_PATH, path) if p),
            # lbplay serve records itself for lbplay ctl: here, not in the user's list.
            "LBPLAY_RUNFILE": str(self.temp / "lbplay-runfile.json"),
        }

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.temp / f"{name}.log").open("wb")
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,  # closed when we die: Python children then stop
                stdout=subprocess.PIPE,
                stderr=log,
                env=self.env(),
                start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as error:
            log.close()
            raise BenchError(f"cannot start {name}: {error}") from None
        self.procs.append((name, proc, log))
        return proc

    def log_tail(self, name: str, lines: int = 8) -> str:
        path = self.temp / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        for extra in self.temp.glob(f"{name}*/nginx-error.log"):
            text += extra.read_text(errors="replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def wait_ready(self, name: str, proc: subprocess.Popen[bytes]) -> list[int]:
        """The ports a Python child announced with ``READY <port>...``."""
        assert proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                break
            readable, _, _ = select.select([proc.stdout], [], [], left)
            if readable:
                chunk = os.read(proc.stdout.fileno(), 256)
                if not chunk:
                    break
                line += chunk
        words = line.decode(errors="replace").split()
        if not words or words[0] != "READY":
            raise BenchError(f"{name} did not start:\n{self.log_tail(name)}")
        return [int(word) for word in words[1:]]

    def wait_listening(self, name: str, proc: subprocess.Popen[bytes], ports: list[int]) -> None:
        """Wait until a real server (nginx, HAProxy) accepts on every port."""
        deadline = time.monotonic() + READY_TIMEOUT
        waiting = list(ports)
        while waiting:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"{name} did not start:\n{self.log_tail(name)}")
            try:
                with socket.create_connection(("127.0.0.1", waiting[0]), timeout=1):
                    waiting.pop(0)
            except OSError:
                time.sleep(0.05)

    def close(self) -> None:
        """End every child, newest first: SIGTERM, then SIGKILL after 3 s."""
        for _, proc, _ in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        for _, proc, log in reversed(self.procs):
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
            log.close()
        self.procs.clear()


def free_port() -> int:
    """A port nobody listens on now, for servers that cannot be told to pick one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def python_child(*args: str) -> list[str]:
    return [sys.executable, str(HERE), *args]


def lbplay_command() -> str | None:
    """The ``lbplay`` a user of this Python runs: the one beside it, else on the PATH."""
    beside = Path(sys.executable).parent / "lbplay"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("lbplay")


def serve_argv(command: str, addresses: list[str], port: int) -> list[str]:
    """``lbplay serve`` as the README tells a user to run it against real servers.

    ``--no-live``: no table redrawn (serve turns it off by itself when stdout is not a
    terminal, as here; said out loud so that the row never measures the table).
    """
    argv = [command, "serve"]
    for address in addresses:
        argv += ["--backend", f"http://{address}"]
    return [*argv, "--port", str(port), "--no-live"]


def tool_version(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=10, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0] if text else "?"


# -- what runs and where ------------------------------------------------------------


@dataclass
class Target:
    key: str
    label: str
    url: str
    #: Processes whose CPU time is the target's (nginx: the master; its worker is found).
    pids: list[int]
    throughput: list[parts.LoadResult] = field(default_factory=list)
    #: CPU seconds the target used during each throughput run (None: unknown).
    cpu: list[float | None] = field(default_factory=list)
    at_rate: list[parts.LoadResult] = field(default_factory=list)


def start_nginx(
    children: Children, name: str, conf: Callable[[str], str]
) -> subprocess.Popen[bytes]:
    """nginx with the configuration ``conf(prefix)``, everything under its own prefix."""
    prefix = children.temp / name
    prefix.mkdir()
    # nginx's worker runs as an unprivileged user when we are root: let it in.
    prefix.chmod(0o755)
    children.temp.chmod(0o755)
    path = prefix / "nginx.conf"
    path.write_text(conf(str(prefix)))
    return children.spawn(name, ["nginx", "-p", str(prefix), "-c", str(path)])


def start_backends(children: Children, kind: str) -> tuple[list[str], list[int]]:
    """Two backends; their addresses and the processes serving them."""
    if kind == "nginx":
        ports = [free_port(), free_port()]
        conf = functools.partial(parts.nginx_backend_conf, ports=ports)
        proc = start_nginx(children, "nginx-backends", conf)
        children.wait_listening("nginx-backends", proc, ports)
    else:
        proc = children.spawn(f"{kind}-backends", python_child("--serve", kind))
        ports = children.wait_ready(f"{kind}-backends", proc)
    return [f"127.0.0.1:{port}" for port in ports], [proc.pid]


def start_proxies(
    children: Children, keys: list[ProxyKey], addresses: list[str], *, bare: bool
) -> list[Target]:
    """Start every proxy first, then wait for each: the Python ones start in parallel."""
    joined = ",".join(addresses)
    pending: list[tuple[ProxyKey, subprocess.Popen[bytes], int | None]] = []
    for key in keys:
        if key in CHILDREN:
            extra = ["--bare"] if bare else []
            argv = python_child("--serve", key, "--backends", joined, *extra)
            pending.append((key, children.spawn(key, argv), None))
        elif key == "serve":
            command = lbplay_command()
            if command is None:
                raise BenchError("lbplay serve: no lbplay command beside Python or on PATH")
            port = free_port()
            argv = serve_argv(command, addresses, port)
            pending.append((key, children.spawn("serve", argv), port))
        elif key == "nginx":
            port = free_port()
            conf = functools.partial(parts.nginx_proxy_conf, port=port, addresses=addresses)
            pending.append((key, start_nginx(children, "nginx-proxy", conf), port))
        else:
            port = free_port()
            path = children.temp / "haproxy.cfg"
            path.write_text(parts.haproxy_conf(port, addresses))
            argv = ["haproxy", "-db", "-f", str(path)]
            pending.append((key, children.spawn("haproxy", argv), port))
    targets = []
    for key, proc, fixed in pending:
        if fixed is None:
            port = children.wait_ready(key, proc)[0]
        else:
            port = fixed
            children.wait_listening("nginx-proxy" if key == "nginx" else key, proc, [port])
        targets.append(Target(key, PROXIES[key], f"http://127.0.0.1:{port}/", [proc.pid]))
    return targets


def check(target: Target) -> None:
    """One request through the target: it must answer 200, or nothing it says counts."""
    try:
        with urllib.request.urlopen(target.url, timeout=5) as response:
            status = response.status
            response.read()
    except OSError as error:
        raise BenchError(f"{target.label} does not answer at {target.url}: {error}") from None
    if status != 200:
        raise BenchError(f"{target.label} answered {status} at {target.url}")


# -- measuring ----------------------------------------------------------------------


@dataclass
class LoadTool:
    """Closed-loop load at maximum throughput: wrk, or our own client."""

    name: Literal["wrk", "python"]
    env: dict[str, str]

    def run(self, url: str, seconds: float, connections: int = WRK_CONNECTIONS) -> parts.LoadResult:
        if self.name == "wrk":
            argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
            output = _run([*argv, "--latency", url], seconds, self.env)
            try:
                return parts.parse_wrk(output)
            except ValueError as error:
                raise BenchError(f"{error}:\n{output}") from None
        return python_load("closed", url, seconds, self.env, connections=connections)


def _run(argv: list[str], seconds: float, env: dict[str, str]) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 30, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{argv[0]} did not finish in {seconds + 30:g} s") from None
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed:\n{done.stderr.strip()}")
    return done.stdout


def python_load(
    mode: str,
    url: str,
    seconds: float,
    env: dict[str, str],
    *,
    connections: int,
    rate: float = RATE,
) -> parts.LoadResult:
    argv = python_child("--load", mode, "--url", url, "--seconds", f"{seconds:g}")
    argv += ["--connections", str(connections), "--rate", f"{rate:g}"]
    output = _run(argv, seconds, env)
    try:
        return parts.LoadResult.from_json(output.strip().splitlines()[-1])
    except (IndexError, KeyError, TypeError, ValueError):
        raise BenchError(f"the load client printed no result:\n{output}") from None


def measure(
    target: Target,
    tool: LoadTool,
    seconds: float,
    rate_seconds: float,
    progress: Callable[[str], None],
) -> None:
    before = cpu_seconds(target.pids)
    result = tool.run(target.url, seconds)
    after = cpu_seconds(target.pids)
    # (What the target did while the tool started and stopped is counted too: idle,
    # except for the connections being opened and closed.)
    used = None if before is None or after is None else after - before
    target.cpu.append(used)
    target.throughput.append(result)
    slow = python_load(
        "open", target.url, rate_seconds, tool.env, connections=OPEN_CONNECTIONS, rate=RATE
    )
    target.at_rate.append(slow)
    per = (
        f"{used / result.requests * 1e6:7.1f}"
        if used is not None and result.requests
        else "      -"
    )
    progress(
        f"  {target.label:40} {result.rps:>9,.0f} req/s {per} CPU µs/req"
        f"  p50 {result.p50:7.3f} ms   at {RATE:g}/s: p50 {slow.p50:6.3f} p99 {slow.p99:6.3f} ms"
    )


# -- the report ---------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rps(target: Target) -> float:
    return median([r.rps for r in target.throughput])


def cpu_share(target: Target) -> float | None:
    """Median share of one core the target used at full load (None: unknown)."""
    pairs = zip(target.cpu, target.throughput, strict=True)
    known = [c * r.rps / r.requests for c, r in pairs if c is not None and r.requests]
    return median(known) if known else None


def cpu_per_request(target: Target) -> float | None:
    """Median CPU microseconds per request at full load: steadier than req/s on a busy
    machine, where the target does not always get its core."""
    pairs = zip(target.cpu, target.throughput, strict=True)
    known = [c / r.requests * 1e6 for c, r in pairs if c is not None and r.requests]
    return median(known) if known else None


def added(target: Target, direct: Target, attr: str) -> float:
    """Median over runs of (target - direct) at the fixed rate, paired by run."""
    pairs = zip(target.at_rate, direct.at_rate, strict=True)
    return median([getattr(t, attr) - getattr(d, attr) for t, d in pairs])


def table(targets: list[Target]) -> list[str]:
    direct = targets[0]
    width = max(len(t.label) for t in [*targets, Target("", "target", "", [])])
    lines = [
        f"{'target':{width}} {'req/s':>9} {'cpu%':>5} {'CPU µs/req':>10} {'p50':>7} {'p99':>7}"
        f"  | {f'p50@{RATE:g}':>7} {f'p99@{RATE:g}':>7} {'+p50':>7} {'+p99':>7} {'errors':>6}"
    ]
    for target in targets:
        share, per = cpu_share(target), cpu_per_request(target)
        cpu = f"{share:5.0%}" if share is not None else f"{'-':>5}"
        us = f"{per:10.1f}" if per is not None else f"{'-':>10}"
        errors = sum(r.errors for r in target.throughput + target.at_rate)
        if target is direct:
            plus = f"{'-':>7} {'-':>7}"
        else:
            plus = f"{added(target, direct, 'p50'):+7.3f} {added(target, direct, 'p99'):+7.3f}"
        lines.append(
            f"{target.label:{width}} {rps(target):9,.0f} {cpu} {us}"
            f" {median([r.p50 for r in target.throughput]):7.3f}"
            f" {median([r.p99 for r in target.throughput]):7.3f}  |"
            f" {median([r.p50 for r in target.at_rate]):7.3f}"
            f" {median([r.p99 for r in target.at_rate]):7.3f} {plus} {errors:6,}"
        )
    return lines


def verdicts(targets: list[Target]) -> list[str]:
    """One line per target of issue 15: what, the figure, then ok, MISS or skipped."""
    by_key = {t.key: t for t in targets}
    direct = targets[0]

    def line(what: str, figure: str = "", ok: bool | None = None, note: str = "") -> str:
        verdict = "skipped" if ok is None else "ok" if ok else "MISS"
        return f"{what:46} {figure:30} {verdict:7} {note}".rstrip()

    def cpu_note(a: Target, b: Target) -> str:
        cost_a, cost_b = cpu_per_request(a), cpu_per_request(b)
        if cost_a is None or cost_b is None:
            return ""
        return f"CPU µs/req {cost_a:,.1f} vs {cost_b:,.1f}: {cost_b / cost_a:.2f}x as lean"

    def faster(key: ProxyKey, than: ProxyKey, factor: float) -> str:
        what = f"{PROXIES[key]} req/s >= {factor:g}x {PROXIES[than]}'s"
        if key not in by_key or than not in by_key:
            return line(what)
        a, b = by_key[key], by_key[than]
        ratio = rps(a) / rps(b)
        figure = f"{ratio:.2f}x ({rps(a):,.0f} vs {rps(b):,.0f})"
        return line(what, figure, ratio >= factor, cpu_note(a, b))

    def leaner(key: ProxyKey, than: ProxyKey, factor: float) -> str:
        what = f"{PROXIES[key]} CPU µs/req <= {factor:g}x {PROXIES[than]}'s"
        if key not in by_key or than not in by_key:
            return line(what)
        cost, base = cpu_per_request(by_key[key]), cpu_per_request(by_key[than])
        if cost is None or base is None or base <= 0:
            return line(what, "CPU time unknown (not Linux?)")
        ratio = cost / base
        return line(what, f"{ratio:.2f}x ({cost:,.1f} vs {base:,.1f} µs)", ratio <= factor)

    def quick(key: ProxyKey) -> str:
        what = f"{PROXIES[key]} adds <= {MAX_ADDED_P50_MS:g} ms p50 at {RATE:g} req/s"
        if key not in by_key:
            return line(what)
        extra = added(by_key[key], direct, "p50")
        note = (
            f"nginx adds {added(by_key['nginx'], direct, 'p50'):+.3f} ms"
            if "nginx" in by_key
            else ""
        )
        return line(what, f"{extra:+.3f} ms", extra <= MAX_ADDED_P50_MS, note)

    return [
        faster("serve", "pooled", L7_OVER_POOLED),
        faster("l7", "pooled", L7_OVER_POOLED),
        leaner("serve", "nginx", L7_CPU_OVER_NGINX),
        leaner("l7", "nginx", L7_CPU_OVER_NGINX),
        quick("serve"),
        quick("l7"),
        leaner("l4", "nginx", L4_CPU_OVER_NGINX),
    ]


def floor_note(targets: list[Target]) -> str | None:
    """The Python floor's CPU per request next to nginx's, and lbplay's next to the
    floor's: how much of a ratio to nginx any Python proxy pays (None: no floor row)."""
    cost = {t.key: cpu_per_request(t) for t in targets}
    floor = cost.get("floor")
    if floor is None or floor <= 0:
        return None
    said = []
    if cost.get("nginx"):
        said.append(f"the Python floor spends {floor / cost['nginx']:.2f}x nginx's CPU µs/req")
    for key in ("serve", "l7", "l4"):
        if cost.get(key):
            said.append(f"{PROXIES[key]} {cost[key] / floor:.2f}x the floor's")
    return "# " + "; ".join(said) if said else None


# -- entry points -------------------------------------------------------------------


def child_main(args: argparse.Namespace) -> None:
    """``--serve ROLE`` or ``--load MODE``: one piece, in this process."""
    if args.serve:
        addresses = [a for a in (args.backends or "").split(",") if a]
        roles = {
            "static": lambda: parts.serve_static(2),
            "fake": lambda: parts.serve_fake(2),
            "l7": lambda: parts.serve_l7(addresses, telemetry=not args.bare),
            "l4": lambda: parts.serve_l4(addresses, telemetry=not args.bare),
            "pooled": lambda: parts.serve_pooled(addresses),
            "naive": lambda: parts.serve_naive(addresses),
            "floor": lambda: parts.serve_floor(addresses),
        }
        parts.run(roles[args.serve]())
        return
    results: list[parts.LoadResult] = []

    async def load() -> None:
        if args.load == "closed":
            results.append(await parts.closed_loop(args.url, args.connections, args.seconds))
        else:
            results.append(
                await parts.open_loop(args.url, args.rate, args.seconds, args.connections)
            )

    parts.run(load())
    print(results[0].to_json())


def pick_tool(choice: str) -> Literal["wrk", "python"]:
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        raise BenchError("--tool wrk: wrk is not installed")
    return "wrk" if choice == "wrk" else "python"


def available(key: ProxyKey) -> bool:
    if key == "serve":
        return lbplay_command() is not None
    return key not in ("nginx", "haproxy") or shutil.which(key) is not None


def selected(args: argparse.Namespace) -> list[ProxyKey]:
    keys: list[ProxyKey] = list(args.only or PROXIES)
    if args.quick and not args.only:
        keys = [k for k in keys if k not in ("nginx", "haproxy")]
    return [k for k in keys if available(k)]


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"


def loop_in(pids: list[int]) -> str:
    """Which event loop a Python target runs: uvloop when its extension is mapped into
    one of the processes (Linux), else asyncio's; ``?`` when /proc cannot tell."""
    try:
        for root in pids:
            for pid in process_tree(root):
                if "/uvloop/" in Path(f"/proc/{pid}/maps").read_text():
                    return "uvloop"
    except OSError:
        return "?"
    return "asyncio"


def lbplay_state() -> str:
    """lbplay's version, where it is imported from, and the commit of that tree (with
    whether lbplay/ differs from it): the table is a before or an after of something."""
    command = lbplay_command()
    path = os.pathsep.join(p for p in (*LBPLAY_PATH, os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}  # the lbplay the rows run
    version = tool_version([command, "--version"], env) if command else "lbplay ?"
    if not LBPLAY_PATH:
        spec = importlib.util.find_spec("lbplay")
        where = Path(spec.origin).parent if spec is not None and spec.origin else "?"
        return f"{version}, installed in {where}"

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(ROOT), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    head, status = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--", "lbplay")
    if head is None or status is None:
        return f"{version} from {ROOT} (not a git work tree)"
    changed = "with uncommitted changes in lbplay/" if status else "lbplay/ as committed"
    return f"{version} from {ROOT} at {head}, {changed}"


def conditions(args: argparse.Namespace, tool: str, backend: str, keys: list[ProxyKey]) -> str:
    uvloop = importlib.util.find_spec("uvloop") is not None
    has = {name: shutil.which(name) is not None for name in ("wrk", "nginx", "haproxy")}
    versions = []
    if has["wrk"]:
        versions.append(tool_version(["wrk", "-v"]).split(" [")[0])
    if has["nginx"]:
        versions.append(tool_version(["nginx", "-v"]).replace("nginx version: ", ""))
    if has["haproxy"]:
        versions.append(" ".join(tool_version(["haproxy", "-v"]).split()[:3]))
    skipped = [k for k in EXTERNAL if k not in keys]
    return (
        f"# {os.cpu_count()} CPUs ({platform.machine()}), load average before {load_average()};"
        f" Python {platform.python_version()}\n"
        f"# {lbplay_state()}\n"
        f"# found: {', '.join(versions) or 'none of wrk, nginx, haproxy'}"
        f"{'; not run: ' + ', '.join(skipped) if skipped else ''}\n"
        f"# load tool: {'wrk -t1 -c32' if tool == 'wrk' else 'own closed-loop client, 32 conn'};"
        f" backends: {backend}; lbplay L7/L4 {'bare' if args.bare else 'with events+metrics'};"
        f" the benchmark's Python pieces on {'uvloop' if uvloop else 'asyncio'}"
    )


def loops(targets: list[Target], backend: str) -> str:
    """The event loop each Python target turned out to run (read from its processes)."""
    python = [
        t
        for t in targets
        if t.key in CHILDREN or t.key == "serve" or (t.key == DIRECT and backend != "nginx")
    ]
    return "# loops: " + ", ".join(f"{t.label} {loop_in(t.pids)}" for t in python)


def bench(args: argparse.Namespace) -> None:
    tool_name = pick_tool(args.tool)
    backend = args.backend
    if backend == "auto":
        backend = "nginx" if shutil.which("nginx") and not args.quick else "static"
    if backend == "nginx" and not shutil.which("nginx"):
        raise BenchError("--backend nginx: nginx is not installed")
    keys = selected(args)
    if args.runs < 1 or args.seconds <= 0:
        raise BenchError("--runs must be at least 1 and --seconds more than 0")
    runs = 1 if args.quick else args.runs
    seconds, rate_seconds, warm = (1.0, 1.0, 0.2) if args.quick else (args.seconds, 4.0, 1.0)

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    temp = Path(tempfile.mkdtemp(prefix="lbplay-bench-proxy-"))
    children = Children(temp)
    try:
        addresses, backend_pids = start_backends(children, backend)
        targets = [Target(DIRECT, DIRECT, f"http://{addresses[0]}/", backend_pids)]
        targets += start_proxies(children, keys, addresses, bare=args.bare)
        for target in targets:
            check(target)
        tool = LoadTool(tool_name, children.env())
        print(conditions(args, tool_name, backend, keys), flush=True)
        for target in targets:  # fill pools, page code in; results discarded
            python_load("closed", target.url, warm, tool.env, connections=WRK_CONNECTIONS)
        print(loops(targets, backend), flush=True)
        for run in range(runs):
            progress(f"# round {run + 1} of {runs}")
            # Rotate the order, so that no target always runs right after the same one.
            for target in targets[run % len(targets) :] + targets[: run % len(targets)]:
                measure(target, tool, seconds, rate_seconds, progress)
        print(
            f"# median of {runs} interleaved round(s): {seconds:g} s at full load (req/s,"
            f" cpu%, CPU µs/req, p50, p99), then {rate_seconds:g} s at {RATE:g} req/s (open"
            f" loop, {OPEN_CONNECTIONS} conn; + is over direct, paired by round)\n"
            f"# latencies in ms; cpu%: the target's processes (direct: the backends'),"
            f" 100% = one core; CPU µs/req: their user+system CPU time / requests completed"
        )
        for line in table(targets):
            print(line)
        print(f"# load average after {load_average()}")
        print("# targets (issue 15), from the medians")
        for line in verdicts(targets):
            print(line)
        if (floor := floor_note(targets)) is not None:
            print(floor)
        print(
            f"# and: the dashboard at its default 50 req/s under {DASHBOARD_MAX_CORE:.0%} of a"
            " core: python benchmarks/tui.py --cpu"
        )
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children.close()
        shutil.rmtree(temp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=3, help="interleaved rounds of every target (median)"
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="length of a full-load run")
    parser.add_argument("--quick", action="store_true", help="1 short round, no nginx/haproxy")
    parser.add_argument("--only", nargs="*", choices=list(PROXIES), help="proxies to run")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--backend", choices=["auto", "nginx", "static", "fake"], default="auto")
    parser.add_argument("--bare", action="store_true", help="lbplay proxies without telemetry")
    parser.add_argument(
        "--installed",
        action="store_true",
        help="run the lbplay installed for this Python (as a user does), not these sources",
    )
    inner = parser.add_argument_group("child processes (started by the benchmark itself)")
    inner.add_argument("--serve", choices=["static", "fake", *CHILDREN])
    inner.add_argument("--backends", help="host:port,host:port for --serve")
    inner.add_argument("--load", choices=["closed", "open"])
    inner.add_argument("--url")
    inner.add_argument("--connections", type=int, default=WRK_CONNECTIONS)
    inner.add_argument("--rate", type=float, default=RATE)
    args = parser.parse_args()
    if args.installed:
        LBPLAY_PATH.clear()
    if args.serve or args.load:
        child_main(args)
        return
    # SIGTERM unwinds like Ctrl-C, so the finally blocks end every child; and Ctrl-C
    # works even when started with SIGINT ignored (as background jobs of scripts are).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        bench(args)
    except BenchError as error:
        print(f"proxy benchmark: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("proxy benchmark: interrupted; every process was stopped", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
