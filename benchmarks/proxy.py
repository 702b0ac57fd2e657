"""Requests per second and added latency of lbplay's proxies, next to the alternatives.

Targets, each in its own process, each balancing round robin over the same two
backends on loopback:

* ``direct``: no proxy, the load tool straight at one backend (the baseline);
* ``lbplay L7``: ``HttpProxy``, with an ``EventBus`` and ``Metrics`` as ``lbplay serve``
  runs it (``--bare``: without them);
* ``lbplay L4``: ``TcpProxy``;
* ``naive aiohttp``: a proxy written the simple way (read the whole body, a new client
  per request, copy the answer back: the classic Flask + requests example);
* ``nginx`` (one worker, upstream ``keepalive 32``) and ``haproxy`` (one thread,
  ``http-reuse safe``) when installed.

Backends: nginx answering ``ok`` on two ports when installed, else a raw asyncio
responder of our own (``--backend static``), or lbplay's ``FakeBackend`` with zero
latency (``--backend fake``). The backends must be much faster than the proxies, or
the table would measure them.

Two measurements per target, interleaved across ``--runs`` runs (median reported):

* maximum throughput: wrk (``-t1 -c32 --latency``) when installed, else a closed-loop
  client of our own (32 keep-alive connections, raw sockets) in another process; both
  report requests/s and p50/p99. ``cpu`` is what the target's processes used during
  that run (100% = one core): near 100% means the target was the bottleneck.
* added latency at a fixed rate: an open-loop client of our own sends 500 requests/s
  (Poisson arrivals) over 8 keep-alive connections and times each request; the added
  p50/p99 is the target's minus direct's, paired run by run.

Targets (issue "Real balancer"): lbplay L7 reaches 1.5x the naive proxy's requests/s;
at 500 requests/s lbplay L7 adds at most 1 ms at p50; L4 reaches 3x lbplay L7's
requests/s. Misses are reported, not raised: the exit status is 0 either way.

Every process runs on uvloop when it is importable. The load tool, the backends and
the target share the machine, so read ``cpu`` and the load average printed with the
table before trusting a ratio. Every process and temporary directory is removed on
exit, Ctrl-C included.

Run: ``python benchmarks/proxy.py`` (``--quick`` for a smoke run, ``--runs N``,
``--only l7 naive``, ``--tool python``, ``--backend fake``).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import _proxy_parts as parts

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]

ProxyKey = Literal["l7", "l4", "naive", "nginx", "haproxy"]
#: Every target but direct, in table order, with its row label.
PROXIES: dict[ProxyKey, str] = {
    "l7": "lbplay L7",
    "l4": "lbplay L4",
    "naive": "naive aiohttp",
    "nginx": "nginx",
    "haproxy": "haproxy",
}
DIRECT = "direct"
RATE = 500.0
MAX_ADDED_P50_MS = 1.0
L7_OVER_NAIVE = 1.5
L4_OVER_L7 = 3.0
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
        return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), path) if p)}

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


def tool_version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
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
        if key in ("l7", "l4", "naive"):
            extra = ["--bare"] if bare else []
            argv = python_child("--serve", key, "--backends", joined, *extra)
            pending.append((key, children.spawn(key, argv), None))
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

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _tree(pid: int) -> Iterator[int]:
    yield pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return
    for child in children:
        yield from _tree(int(child))


def cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU time of the processes and their children (Linux), else None."""
    total = 0
    for root in pids:
        for pid in _tree(root):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return None
            fields = stat.rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


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
    target.cpu.append(None if before is None or after is None else after - before)
    target.throughput.append(result)
    slow = python_load(
        "open", target.url, rate_seconds, tool.env, connections=OPEN_CONNECTIONS, rate=RATE
    )
    target.at_rate.append(slow)
    progress(
        f"  {target.label:14} {result.rps:>9,.0f} req/s  p50 {result.p50:7.3f} ms"
        f"   at {RATE:g}/s: p50 {slow.p50:6.3f} p99 {slow.p99:6.3f} ms"
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
    lines = [
        f"{'target':15} {'req/s':>9} {'cpu':>5} {'us/req':>6} {'p50':>7} {'p99':>7}  |"
        f" {f'p50@{RATE:g}':>7} {f'p99@{RATE:g}':>7} {'+p50':>7} {'+p99':>7} {'errors':>6}"
    ]
    for target in targets:
        share, per = cpu_share(target), cpu_per_request(target)
        cpu = f"{share:5.0%}" if share is not None else f"{'-':>5}"
        us = f"{per:6.0f}" if per is not None else f"{'-':>6}"
        errors = sum(r.errors for r in target.throughput + target.at_rate)
        if target is direct:
            plus = f"{'-':>7} {'-':>7}"
        else:
            plus = f"{added(target, direct, 'p50'):+7.3f} {added(target, direct, 'p99'):+7.3f}"
        lines.append(
            f"{target.label:15} {rps(target):9,.0f} {cpu} {us}"
            f" {median([r.p50 for r in target.throughput]):7.3f}"
            f" {median([r.p99 for r in target.throughput]):7.3f}  |"
            f" {median([r.p50 for r in target.at_rate]):7.3f}"
            f" {median([r.p99 for r in target.at_rate]):7.3f} {plus} {errors:6,}"
        )
    return lines


def verdicts(targets: list[Target]) -> list[str]:
    """One line per target of the issue: the figure, then ok, MISS or skipped."""
    by_key = {t.key: t for t in targets}
    direct = targets[0]

    def line(what: str, figure: str = "", ok: bool | None = None, note: str = "") -> str:
        verdict = "skipped" if ok is None else "ok" if ok else "MISS"
        return f"{what:42} {figure:28} {verdict:7} {note}".rstrip()

    def per_cpu(a: Target, b: Target) -> str:
        cost_a, cost_b = cpu_per_request(a), cpu_per_request(b)
        if cost_a is None or cost_b is None:
            return ""
        return f"CPU per request {cost_a:,.0f} vs {cost_b:,.0f} us: {cost_b / cost_a:.2f}x"

    out = []
    what = f"lbplay L7 >= {L7_OVER_NAIVE:g}x naive aiohttp req/s"
    if "l7" in by_key and "naive" in by_key:
        l7, naive = by_key["l7"], by_key["naive"]
        ratio = rps(l7) / rps(naive)
        figure = f"{ratio:.2f}x ({rps(l7):,.0f} vs {rps(naive):,.0f})"
        out.append(line(what, figure, ratio >= L7_OVER_NAIVE, per_cpu(l7, naive)))
    else:
        out.append(line(what))
    what = f"lbplay L7 adds <= {MAX_ADDED_P50_MS:g} ms p50 at {RATE:g} req/s"
    if "l7" in by_key:
        extra = added(by_key["l7"], direct, "p50")
        out.append(line(what, f"{extra:+.3f} ms", extra <= MAX_ADDED_P50_MS))
    else:
        out.append(line(what))
    what = f"lbplay L4 >= {L4_OVER_L7:g}x lbplay L7 req/s"
    if "l4" in by_key and "l7" in by_key:
        l4, l7 = by_key["l4"], by_key["l7"]
        ratio = rps(l4) / rps(l7)
        figure = f"{ratio:.2f}x ({rps(l4):,.0f} vs {rps(l7):,.0f})"
        note = per_cpu(l4, l7)
        if rps(l4) >= 0.8 * rps(direct):
            note = "near direct: the load tool or backend is the limit; " + note
        out.append(line(what, figure, ratio >= L4_OVER_L7, note))
    else:
        out.append(line(what))
    return out


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
            "naive": lambda: parts.serve_naive(addresses),
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


def selected(args: argparse.Namespace) -> list[ProxyKey]:
    keys: list[ProxyKey] = list(args.only or PROXIES)
    if args.quick and not args.only:
        keys = [k for k in keys if k not in ("nginx", "haproxy")]
    missing = [k for k in keys if k in ("nginx", "haproxy") and not shutil.which(k)]
    return [k for k in keys if k not in missing]


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
    skipped = [k for k in ("nginx", "haproxy") if k not in keys]
    load1, load5, _ = os.getloadavg()
    return (
        f"# {os.cpu_count()} CPUs ({platform.machine()}), load {load1:.2f} / {load5:.2f};"
        f" Python {platform.python_version()}, loop {'uvloop' if uvloop else 'asyncio'}\n"
        f"# found: {', '.join(versions) or 'none of wrk, nginx, haproxy'}"
        f"{'; not run: ' + ', '.join(skipped) if skipped else ''}\n"
        f"# load tool: {'wrk -t1 -c32' if tool == 'wrk' else 'own closed-loop client, 32 conn'};"
        f" backends: {backend}; lbplay proxies {'bare' if args.bare else 'with events+metrics'}"
    )


def bench(args: argparse.Namespace) -> None:
    tool_name = pick_tool(args.tool)
    backend = args.backend
    if backend == "auto":
        backend = "nginx" if shutil.which("nginx") and not args.quick else "static"
    if backend == "nginx" and not shutil.which("nginx"):
        raise BenchError("--backend nginx: nginx is not installed")
    keys = selected(args)
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
        for run in range(runs):
            progress(f"# run {run + 1} of {runs}")
            # Rotate the order, so that no target always runs right after the same one.
            for target in targets[run % len(targets) :] + targets[: run % len(targets)]:
                measure(target, tool, seconds, rate_seconds, progress)
        print(
            f"# median of {runs} run(s): {seconds:g} s at full load (req/s, cpu, us/req,"
            f" p50, p99), then {rate_seconds:g} s at {RATE:g} req/s (open loop,"
            f" {OPEN_CONNECTIONS} conn; + is over direct, paired by run)\n"
            f"# latencies in ms; cpu: the target's processes (direct: the backend's),"
            f" 100% = one core; us/req: CPU microseconds per request"
        )
        for line in table(targets):
            print(line)
        print(f"# load average after: {os.getloadavg()[0]:.2f}")
        print("# targets")
        for line in verdicts(targets):
            print(line)
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children.close()
        shutil.rmtree(temp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per target (median)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of a full-load run")
    parser.add_argument("--quick", action="store_true", help="1 short run, no nginx/haproxy")
    parser.add_argument("--only", nargs="*", choices=list(PROXIES), help="proxies to run")
    parser.add_argument("--tool", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--backend", choices=["auto", "nginx", "static", "fake"], default="auto")
    parser.add_argument("--bare", action="store_true", help="lbplay proxies without telemetry")
    inner = parser.add_argument_group("child processes (started by the benchmark itself)")
    inner.add_argument("--serve", choices=["static", "fake", "l7", "l4", "naive"])
    inner.add_argument("--backends", help="host:port,host:port for --serve")
    inner.add_argument("--load", choices=["closed", "open"])
    inner.add_argument("--url")
    inner.add_argument("--connections", type=int, default=WRK_CONNECTIONS)
    inner.add_argument("--rate", type=float, default=RATE)
    args = parser.parse_args()
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
