"""The discrete-event engine: a simulated clock, a heap, and the live balancer's pickers.

Every pick is made by a picker the core's registry creates, exactly as the live
``Balancer`` creates it (``registry.create`` with a seeded ``random.Random`` and the
simulated clock as ``clock``), and the backend stats those pickers read are kept as
``Balancer.begin``/``end`` keep them: ``in_flight`` up when a request is sent and
down when it finishes, and, for pickers that track load (``tracks_load``),
``completed``, the latency EWMA and the ``on_begin``/``on_end`` calls. No algorithm is
written twice: what the simulator shows at 1,000 servers is what the proxy does.

How it stays fast (pure Python; ``benchmarks/sim.py`` measures it). A FIFO server
serves its requests in arrival order, so a request's departure is known the moment
it arrives: ``max(now, server free at) + service / speed``. Latency, the queue it
found and the server's busy time are recorded then and there; the only events left
are departures (a heap of ``(time, server, arrival)`` tuples, popped to bring the
in-flight counts the pickers read up to date) and rare control events (outages,
health probes, view refreshes) behind one comparison per request. The loop binds
everything it touches to locals, draws exponential variates inline from bound
``random.Random.random``, creates no object per request but the heap tuple (the
picker's ``Pick`` aside) and records into lists: memory stays flat in the number of
requests (``stats.LogHistogram``). Processor sharing cannot know a departure at
arrival (later arrivals slow it down), so it runs a second, event-by-event loop.

The model (see ``config``): Poisson, bursty (MMPP) or diurnal arrivals at a share of
the fleet's capacity; five service-time distributions; servers with speeds, a
concurrency limit and a FIFO queue (or processor sharing), outages and a slow one;
``k`` balancers, arrivals split among them at random, each with its own picker and,
when ``staleness`` > 0, its own view of the in-flight counts: refreshed from the truth
every ``staleness``, and in between knowing only what it sent and what of that
finished. Health checks probe the servers that have outages (the others never fail a
probe) and take a server out of every picker after ``fall`` failures in a row;
retries go to another server after a refused connection. Algorithms that hash get
one of ``keys`` users per request. Randomness comes from named streams (arrivals,
service, routing, each balancer), so two algorithms run on the same seed see the
very same requests: their difference is the algorithms', not the dice's.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from heapq import heappop, heappush, heapreplace

from lbplay.core import registry
from lbplay.core.backends import Backend, BackendStats
from lbplay.core.picker import NO_CONTEXT, PickContext, Picker, PickerEnv
from lbplay.sim.config import SimConfig
from lbplay.sim.stats import BINS_PER_E, LOG_LOWEST, LOWEST, TOP, Estimate, LogHistogram

#: Requests per chunk: progress is reported (and could stop a run) between chunks.
CHUNK = 1 << 15
#: Queue lengths counted one by one up to here; longer ones share the last count.
QUEUE_TOP = 1 << 14

# Control events, in the order they are handled when they fall at the same time.
_RECOVER, _FAIL, _PROBE, _REFRESH = range(4)

#: Reported as requests are simulated: how many more are done.
Progress = Callable[[int], None]


@dataclass
class RunResult:
    """One run of one algorithm on one seed: what was measured after the warm-up."""

    algorithm: str
    seed: int
    latency: LogHistogram
    #: Arrivals by the number of requests they found at their server, themselves
    #: included (index 1: the server was idle).
    queue: list[int]
    #: Requests that arrived after the warm-up.
    requests: int
    failed: int
    rejected: int
    #: Each server's share of the measured span spent working (per lane).
    utilisation: list[float]
    #: Model time from the first to the last measured arrival.
    span: float
    #: Wall-clock and CPU seconds of the whole run, warm-up included.
    wall: float
    cpu: float
    #: Requests simulated, warm-up included.
    simulated: int

    @property
    def mean_queue(self) -> float:
        total = sum(self.queue)
        return sum(k * c for k, c in enumerate(self.queue)) / total if total else math.nan

    @property
    def max_queue(self) -> int:
        return max((k for k, c in enumerate(self.queue) if c), default=0)


def arrival_rate(config: SimConfig) -> float:
    """Requests per unit of model time: the load times the fleet's capacity (the sum
    of the speeds, times the lanes of a FIFO server), over the mean service time."""
    lanes = config.concurrency if config.discipline == "fifo" else 1
    speeds = sum(config.speed_of(i) for i in range(config.servers))
    return config.load * speeds * lanes / config.service.mean


def relaxation_time(load: float) -> float:
    """How long, in mean service times, an M/M/1 queue at ``load`` takes to forget
    how it started: 1 / (1 − √load)². The warm-up should cover it (random routing
    gives each server exactly such a queue; every other policy forgets faster)."""
    return math.inf if load >= 1 else 1.0 / (1.0 - math.sqrt(load)) ** 2


class _Run:
    """The state of one run; ``run`` drives it chunk by chunk."""

    def __init__(self, config: SimConfig, algorithm: str, seed: int) -> None:
        self.config = config
        self.algorithm = algorithm
        self.seed = seed
        n = self.n = config.servers
        fifo = config.discipline == "fifo"
        info = registry.get(algorithm)
        self.speed = [config.speed_of(i) for i in range(n)]
        self.inv = [1.0 / s for s in self.speed]
        #: Requests a server works on at full speed at once (its busy time's divisor).
        self.lanes = config.concurrency if fifo else 1
        self.rate = arrival_rate(config)

        def stream(name: str) -> random.Random:
            return random.Random(f"lbplay.sim/{seed}/{name}")

        self.arrival_rng = stream("arrivals")
        self.service_rng = stream("service")
        self.route_rng = stream("route")
        self.now = 0.0
        self.cell = [0.0]  # the pickers' clock reads the simulated time here

        # -- balancers and their views ---------------------------------------------------
        k = config.balancers
        self.truth = [Backend(f"s{i + 1}") for i in range(n)]
        self.shared = config.staleness == 0 or k == 1
        views = (
            [self.truth] * k
            if self.shared
            else [[Backend(f"s{i + 1}") for i in range(n)] for _ in range(k)]
        )
        self.views = views
        cell = self.cell
        options = config.options_for(algorithm)
        self.pickers: list[Picker] = [
            registry.create(
                algorithm, views[j], PickerEnv(stream(f"balancer{j}"), lambda: cell[0], options)
            )
            for j in range(k)
        ]
        tracks = self.pickers[0].tracks_load
        #: 0: the picks read no load; 1: they read in_flight; 2: the full accounting.
        self.acct = 2 if tracks else 1 if info.uses_load else 0
        self.vstats: list[list[BackendStats]] = [[b.stats for b in view] for view in views]
        self.index: dict[Backend, int] = {}
        for view in views:
            for i, backend in enumerate(view):
                self.index[backend] = i
        self.ctxs: list[PickContext] = []
        if info.uses_key:
            rnd = self.route_rng.randrange
            self.ctxs = [
                PickContext(
                    client_ip=f"10.{rnd(256)}.{rnd(256)}.{rnd(1, 255)}", hash_key=f"user{u}"
                )
                for u in range(config.keys)
            ]

        # -- servers --------------------------------------------------------------------
        self.inflight = [0] * n
        self.free = [0.0] * n
        c = config.concurrency
        self.slots = [[0.0] * c for _ in range(n)] if fifo and c > 1 else []
        self.down = [False] * n
        self.down_at = [math.inf] * n
        self.healthy = [True] * n
        self.dep: list[tuple[float, int, float]] = []
        # Processor sharing: attained service (virtual time), last update, jobs in
        # service (a heap by finishing virtual time), jobs waiting, event versions.
        self.ps_v = [0.0] * n
        self.ps_last = [0.0] * n
        self.ps_jobs: list[list[tuple[float, int, float, bool, int]]] = [[] for _ in range(n)]
        self.ps_wait: list[deque[tuple[float, float, bool, int]]] = [deque() for _ in range(n)]
        self.ps_version = [0] * n
        self.ps_pending = 0
        self.seq = 0

        # -- control events ---------------------------------------------------------------
        self.ctl: list[tuple[float, int, int]] = []
        self.outages: dict[int, list[tuple[float, float]]] = {}
        for outage in config.outages:
            self.outages.setdefault(outage.server, []).append((outage.start, outage.end))
            heappush(self.ctl, (outage.start, _FAIL, outage.server))
            if math.isfinite(outage.end):
                heappush(self.ctl, (outage.end, _RECOVER, outage.server))
        for i, spans in self.outages.items():
            spans.sort()
            self.down_at[i] = spans[0][0]
        health = config.health
        self.fails = [0] * n
        self.passes = [0] * n
        for i in sorted(self.outages):
            heappush(self.ctl, (self.route_rng.random() * health.interval, _PROBE, i))
        if not self.shared and self.acct:
            for j in range(k):
                phase = self.route_rng.random() * config.staleness
                heappush(self.ctl, (phase, _REFRESH, j))

        # -- arrivals and service ---------------------------------------------------------
        self.next_arrival = self._arrival_process()
        self.draw_service = self._service_sampler()

        # -- what is measured ---------------------------------------------------------------
        self.reset()

    def reset(self) -> None:
        """Forget what was measured (the end of the warm-up)."""
        self.hist = LogHistogram()
        self.queue = [0] * (QUEUE_TOP + 1)
        self.queue_beyond: list[int] = []
        self.busy = self._backlog()
        self.failed = 0
        self.rejected = 0
        self.measured = 0
        self.began = self.now

    def _backlog(self) -> list[float]:
        """Each FIFO server's work still to do from now on: a FIFO server is busy
        without a break until its lanes are free. Subtracted when the measured span
        begins (work done in it for requests before it) and added when it ends, a
        server's busy time is exactly the time it worked within the span. (Under
        processor sharing the work is counted when it arrives.)"""
        now = self.now
        if self.slots:
            return [sum(max(0.0, f - now) for f in lanes) for lanes in self.slots]
        return [max(0.0, f - now) for f in self.free]

    # -- randomness ----------------------------------------------------------------------------

    def _arrival_process(self) -> Callable[[], float] | None:
        """The next arrival time, for arrivals that are not plain Poisson (None: the
        loop draws Poisson gaps inline)."""
        arrivals = self.config.arrivals
        rnd = self.arrival_rng.random
        log = math.log
        rate = self.rate
        clock = [0.0]
        if arrivals.kind == "mmpp":
            p, f = arrivals.share, arrivals.factor
            calm = rate / (1 - p + p * f)
            rates = (calm, calm * f)
            lengths = (arrivals.length * (1 - p) / p, arrivals.length)
            burst = [1 if rnd() < p else 0]  # start where the process spends its time
            switch = [-log(1.0 - rnd()) * lengths[burst[0]]]

            def mmpp() -> float:
                while True:
                    state = burst[0]
                    t = clock[0] - log(1.0 - rnd()) / rates[state]
                    if t < switch[0]:
                        clock[0] = t
                        return t
                    clock[0] = switch[0]  # memoryless: draw again from the switch
                    burst[0] = 1 - state
                    switch[0] = clock[0] - log(1.0 - rnd()) * lengths[1 - state]

            return mmpp
        if arrivals.kind == "diurnal":
            a = arrivals.amplitude
            period = arrivals.period or self.config.requests / rate
            top = rate * (1 + a)
            sin = math.sin
            omega = 2 * math.pi / period

            def diurnal() -> float:
                # Thinning (Lewis and Shedler): candidates at the peak rate, each kept
                # with the probability rate(t) / peak.
                while True:
                    t = clock[0] - log(1.0 - rnd()) / top
                    clock[0] = t
                    if rnd() * top <= rate * (1 + a * sin(omega * t)):
                        return t

            return diurnal
        return None

    def _service_sampler(self) -> Callable[[], float] | None:
        """Draws one service time (None: exponential, drawn inline by the loop)."""
        service = self.config.service
        rng = self.service_rng
        mean = service.mean
        if service.kind == "det":
            return lambda: mean
        if service.kind == "lognormal":
            sigma = service.sigma
            mu = math.log(mean) - sigma * sigma / 2
            draw = rng.lognormvariate
            return lambda: draw(mu, sigma)
        if service.kind == "pareto":
            alpha = service.alpha
            scale = mean * (alpha - 1) / alpha
            pareto = rng.paretovariate
            return lambda: scale * pareto(alpha)
        if service.kind == "bimodal":
            p, f = service.long_share, service.long_factor
            short = mean / (1 - p + p * f)
            long = short * f
            rnd = rng.random
            return lambda: long if rnd() < p else short
        return None

    # -- the FIFO loop ---------------------------------------------------------------------------

    def fifo(self, count: int) -> None:
        """Simulate ``count`` arrivals to FIFO servers (the hot loop)."""
        n = self.n
        now = self.now
        log = math.log
        dep = self.dep
        push, pop = heappush, heappop
        rnd = self.arrival_rng.random
        gap = 1.0 / self.rate
        next_arrival = self.next_arrival
        poisson = next_arrival is None
        srnd = self.service_rng.random
        draw = self.draw_service
        smean = self.config.service.mean
        exp_service = draw is None
        pickers = self.pickers
        picks = [p.pick for p in pickers]
        pick = picks[0]
        k = len(picks)
        multi = k > 1
        rrnd = self.route_rng.random
        ctxs = self.ctxs
        nkeys = len(ctxs)
        keyed = nkeys > 0
        ctx = NO_CONTEXT
        index = self.index
        inflight = self.inflight
        free = self.free
        slots = self.slots
        one = not slots
        inv = self.inv
        acct = self.acct
        vstats = self.vstats
        begin, end = self._begin, self._end
        cell = self.cell
        clocked = acct == 2
        outages = bool(self.outages)
        down, down_at = self.down, self.down_at
        qlimit = self.config.queue_limit
        qlimit = qlimit + self.config.concurrency if qlimit else 0
        counts = self.hist.counts
        queue = self.queue
        busy = self.busy
        total = self.hist.total
        largest = self.hist.largest
        failed = rejected = 0
        recorded = 0
        ctl = self.ctl
        next_control = ctl[0][0] if ctl else math.inf
        j = 0
        for _ in range(count):
            if poisson:
                now -= log(1.0 - rnd()) * gap
            else:
                now = next_arrival()  # type: ignore[misc]
            if now >= next_control:
                next_control = self._controls(now)
            while dep and dep[0][0] <= now:
                t, code, t0 = pop(dep)
                ok = code >= 0
                if not ok:
                    code = ~code
                if multi:
                    j, i = divmod(code, n)
                else:
                    i = code
                inflight[i] -= 1
                if acct == 1:
                    vstats[j][i].in_flight -= 1
                elif acct:
                    end(t, i, j, t - t0, ok)
            if multi:
                j = int(rrnd() * k)
                pick = picks[j]
            if keyed:
                ctx = ctxs[int(rrnd() * nkeys)]
            if clocked:
                cell[0] = now
            i = index[pick(ctx).backend]
            if outages and down[i]:
                i = self._refused(i, j, ctx, now)
                if i < 0:
                    failed += 1
                    continue
            q = inflight[i]
            if qlimit and q >= qlimit:
                rejected += 1
                continue
            work = (-log(1.0 - srnd()) * smean if exp_service else draw()) * inv[i]  # type: ignore[misc]
            if one:
                f = free[i]
                d = (f if f > now else now) + work
                free[i] = d
            else:
                lanes = slots[i]
                f = lanes[0]
                d = (f if f > now else now) + work
                heapreplace(lanes, d)
            inflight[i] = q + 1
            if acct == 1:
                vstats[j][i].in_flight += 1
            elif acct:
                begin(i, j)
            code = i + n * j if multi else i
            if outages and d > down_at[i]:
                # Its server goes down before it is served: it fails then.
                push(dep, (down_at[i], ~code, now))
                failed += 1
                continue
            push(dep, (d, code, now))
            latency = d - now
            total += latency
            if latency > largest:
                largest = latency
            b = int((log(latency + LOWEST) - LOG_LOWEST) * BINS_PER_E)
            counts[b if b < TOP else TOP] += 1
            if q < QUEUE_TOP:
                queue[q + 1] += 1
            else:
                self.queue_beyond.append(q + 1)
            busy[i] += work
            recorded += 1
        self.now = now
        hist = self.hist
        hist.total = total
        hist.largest = largest
        hist.count += recorded
        self.failed += failed
        self.rejected += rejected
        self.measured += count

    # -- the processor-sharing loop ----------------------------------------------------------------

    def ps(self, count: int, measure: bool = True) -> None:
        """Simulate ``count`` arrivals to processor-sharing servers, event by event."""
        log = math.log
        rnd = self.arrival_rng.random
        gap = 1.0 / self.rate
        next_arrival = self.next_arrival
        srnd = self.service_rng.random
        draw = self.draw_service
        smean = self.config.service.mean
        rrnd = self.route_rng.random
        pickers = self.pickers
        k = len(pickers)
        qlimit = self.config.queue_limit
        limit = self.config.concurrency
        dep = self.dep
        now = self.now
        for _ in range(count):
            now = now - log(1.0 - rnd()) * gap if next_arrival is None else next_arrival()
            if self.ctl and self.ctl[0][0] <= now:
                self._controls(now)  # each after the departures before it
            self._ps_until(now)
            j = int(rrnd() * k) if k > 1 else 0
            ctx = self.ctxs[int(rrnd() * len(self.ctxs))] if self.ctxs else NO_CONTEXT
            self.cell[0] = now
            i = self.index[pickers[j].pick(ctx).backend]
            q = self.inflight[i]
            if qlimit and q >= qlimit + (limit or 0):
                self.rejected += measure
                continue
            work = (-log(1.0 - srnd()) * smean if draw is None else draw()) / self.speed[i]
            self._ps_advance(i, now)
            self.inflight[i] = q + 1
            if self.acct == 1:
                self.vstats[j][i].in_flight += 1
            elif self.acct:
                self._begin(i, j)
            jobs = self.ps_jobs[i]
            if limit == 0 or len(jobs) < limit:
                self.seq += 1
                heappush(jobs, (self.ps_v[i] + work, self.seq, now, measure, j))
                self._ps_schedule(i, now, dep)
            else:
                self.ps_wait[i].append((work, now, measure, j))
            if measure:
                self.ps_pending += 1
                if q < QUEUE_TOP:
                    self.queue[q + 1] += 1
                else:
                    self.queue_beyond.append(q + 1)
                self.busy[i] += work
                self.measured += 1
        self.now = now

    def _ps_advance(self, i: int, now: float) -> None:
        jobs = len(self.ps_jobs[i])
        if jobs:
            self.ps_v[i] += (now - self.ps_last[i]) / jobs
        self.ps_last[i] = now

    def _ps_schedule(self, i: int, now: float, dep: list[tuple[float, int, float]]) -> None:
        self.ps_version[i] += 1
        jobs = self.ps_jobs[i]
        if jobs:
            at = now + (jobs[0][0] - self.ps_v[i]) * len(jobs)
            heappush(dep, (at, i, float(self.ps_version[i])))

    def _ps_until(self, now: float) -> None:
        """Complete every processor-sharing job due by ``now``."""
        dep = self.dep
        while dep and dep[0][0] <= now:
            t, i, version = heappop(dep)
            if version != self.ps_version[i]:
                continue  # an arrival or departure rescheduled this server
            self._ps_advance(i, t)
            _, _, t0, measured, j = heappop(self.ps_jobs[i])
            self.inflight[i] -= 1
            if self.acct == 1:
                self.vstats[j][i].in_flight -= 1
            elif self.acct:
                self._end(t, i, j, t - t0, True)
            if measured:
                self.hist.add(t - t0)
                self.ps_pending -= 1
            waiting = self.ps_wait[i]
            if waiting:
                work, t1, flag, jj = waiting.popleft()
                self.seq += 1
                heappush(self.ps_jobs[i], (self.ps_v[i] + work, self.seq, t1, flag, jj))
            self._ps_schedule(i, t, dep)

    # -- the rare paths ---------------------------------------------------------------------------

    def _begin(self, i: int, j: int) -> None:
        """``Balancer.begin``'s accounting, for pickers that track load."""
        if self.shared:
            backend = self.truth[i]
            backend.stats.in_flight += 1
            for picker in self.pickers:
                picker.on_begin(backend)
        else:
            backend = self.views[j][i]
            backend.stats.in_flight += 1
            self.pickers[j].on_begin(backend)

    def _end(self, t: float, i: int, j: int, latency: float, ok: bool) -> None:
        """``Balancer.end``'s accounting, at the simulated time ``t``."""
        self.cell[0] = t
        backend = self.truth[i] if self.shared else self.views[j][i]
        stats = backend.stats
        stats.in_flight = max(0, stats.in_flight - 1)
        stats.completed += 1
        if not ok:
            stats.failures += 1
        stats.observe_latency(latency)
        for picker in self.pickers if self.shared else (self.pickers[j],):
            picker.on_end(backend, latency, ok)

    def _refused(self, i: int, j: int, ctx: PickContext, now: float) -> int:
        """Server ``i`` is down and refuses the connection: try another, as many
        times as ``retries`` allows, avoiding those tried. The server, or -1.

        Each refused attempt is begun and ended at once, failed, as the proxy does, so
        pickers that track load see what they see live: a server that fails fast has
        nothing in flight and a latency near 0 (the trap of least_connections and
        least_response_time)."""
        tried = {self.truth[i].name}
        for attempt in range(self.config.retries + 1):
            if self.acct == 2:
                self._begin(i, j)
                self._end(now, i, j, 0.0, False)
            if attempt == self.config.retries:
                break
            again = PickContext(ctx.client_ip, ctx.hash_key, frozenset(tried))
            i = self.index[self.pickers[j].pick(again).backend]
            if not self.down[i]:
                return i
            tried.add(self.truth[i].name)
        return -1

    def _depart_until(self, t: float) -> None:
        """Process FIFO departures up to time ``t`` (before a control event)."""
        dep, n, multi = self.dep, self.n, len(self.pickers) > 1
        while dep and dep[0][0] <= t:
            at, code, t0 = heappop(dep)
            ok = code >= 0
            code = code if ok else ~code
            j, i = divmod(code, n) if multi else (0, code)
            self.inflight[i] -= 1
            if self.acct == 1:
                self.vstats[j][i].in_flight -= 1
            elif self.acct:
                self._end(at, i, j, at - t0, ok)

    def _controls(self, now: float) -> float:
        """Handle every control event due by ``now``, each after the departures before
        it; return when the next one is due."""
        ctl = self.ctl
        fifo = self.config.discipline == "fifo"
        while ctl and ctl[0][0] <= now:
            t, kind, who = heappop(ctl)
            if fifo:
                self._depart_until(t)
            else:
                self._ps_until(t)
            if kind == _FAIL:
                self.down[who] = True
            elif kind == _RECOVER:
                self.down[who] = False
                self.free[who] = t
                if self.slots:
                    self.slots[who] = [t] * len(self.slots[who])
                later = [start for start, _ in self.outages[who] if start > t]
                self.down_at[who] = min(later, default=math.inf)
            elif kind == _PROBE:
                self._probe(who)
                heappush(ctl, (t + self.config.health.interval, _PROBE, who))
            else:
                self._refresh(who)
                heappush(ctl, (t + self.config.staleness, _REFRESH, who))
        return ctl[0][0] if ctl else math.inf

    def _probe(self, i: int) -> None:
        health = self.config.health
        if self.down[i]:
            self.passes[i] = 0
            self.fails[i] += 1
            if self.healthy[i] and self.fails[i] >= health.fall:
                self._set_health(i, False)
        else:
            self.fails[i] = 0
            self.passes[i] += 1
            if not self.healthy[i] and self.passes[i] >= health.rise:
                self._set_health(i, True)

    def _set_health(self, i: int, healthy: bool) -> None:
        """What the health checker concluded: every picker gets the eligible servers
        (all of them when none is healthy: failing open, as the ALB does)."""
        self.healthy[i] = healthy
        for j, picker in enumerate(self.pickers):
            view = self.views[j]
            eligible = [b for b, ok in zip(view, self.healthy, strict=True) if ok] or view
            picker.update(eligible)

    def _refresh(self, j: int) -> None:
        """Balancer ``j``'s view catches up with the truth."""
        for stats, count in zip(self.vstats[j], self.inflight, strict=True):
            stats.in_flight = count
        if self.acct == 2:
            view = self.views[j]
            eligible = [b for b, ok in zip(view, self.healthy, strict=True) if ok] or view
            self.pickers[j].update(eligible)

    # -- running -------------------------------------------------------------------------------

    def run(self, progress: Progress | None) -> RunResult:
        config = self.config
        wall, cpu = time.perf_counter(), time.process_time()
        step = self.fifo if config.discipline == "fifo" else self.ps
        warmup = config.warmup_requests
        for number, phase in enumerate((warmup, config.requests - warmup)):
            if number:
                self.reset()
            done = 0
            while done < phase:
                size = min(CHUNK, phase - done)
                step(size)
                done += size
                if progress is not None:
                    progress(size)
        span = self.now - self.began
        if config.discipline == "ps":
            # Jobs still in service would be missed, the long ones most: keep the
            # traffic coming (unmeasured) until every measured job has finished.
            while self.ps_pending > 0:
                self.ps(CHUNK, measure=False)
        for length in self.queue_beyond:
            self.queue.extend([0] * (length + 1 - len(self.queue)))
            self.queue[length] += 1
        while len(self.queue) > 1 and not self.queue[-1]:
            self.queue.pop()
        if config.discipline == "fifo":
            self.busy = [b - late for b, late in zip(self.busy, self._backlog(), strict=True)]
        utilisation = [busy / (span * self.lanes) if span > 0 else math.nan for busy in self.busy]
        return RunResult(
            algorithm=self.algorithm,
            seed=self.seed,
            latency=self.hist,
            queue=self.queue,
            requests=self.measured,
            failed=self.failed,
            rejected=self.rejected,
            utilisation=utilisation,
            span=span,
            wall=time.perf_counter() - wall,
            cpu=time.process_time() - cpu,
            simulated=config.requests,
        )


def simulate(
    config: SimConfig, algorithm: str, seed: int | None = None, progress: Progress | None = None
) -> RunResult:
    """One run of ``algorithm`` under ``config`` (its seed unless ``seed`` is given)."""
    name = registry.get(algorithm).name
    return _Run(config, name, config.seed if seed is None else seed).run(progress)


# -- comparing algorithms over replications ------------------------------------------------------


@dataclass
class Outcome:
    """One algorithm over every replication: estimates with 95% intervals, and the
    pooled distributions for charts."""

    algorithm: str
    runs: list[RunResult]
    latency: LogHistogram = field(default_factory=LogHistogram)
    queue: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        for run in self.runs:
            self.latency.merge(run.latency)
            if len(self.queue) < len(run.queue):
                self.queue.extend([0] * (len(run.queue) - len(self.queue)))
            for k, c in enumerate(run.queue):
                self.queue[k] += c

    def estimate(self, figure: Callable[[RunResult], float]) -> Estimate:
        return Estimate.of([figure(run) for run in self.runs])

    @property
    def figures(self) -> dict[str, Estimate]:
        """Every figure the report shows, by its JSON name."""
        return {
            "mean": self.estimate(lambda r: r.latency.mean),
            "p50": self.estimate(lambda r: r.latency.quantile(0.5)),
            "p99": self.estimate(lambda r: r.latency.quantile(0.99)),
            "p999": self.estimate(lambda r: r.latency.quantile(0.999)),
            "max": self.estimate(lambda r: r.latency.largest),
            "mean_queue": self.estimate(lambda r: r.mean_queue),
            "max_queue": self.estimate(lambda r: r.max_queue),
            "util_min": self.estimate(lambda r: _finite_min(r.utilisation)),
            "util_max": self.estimate(lambda r: _finite_max(r.utilisation)),
            "util_sd": self.estimate(lambda r: _sd(r.utilisation)),
            "failed": self.estimate(lambda r: r.failed / r.requests),
            "rejected": self.estimate(lambda r: r.rejected / r.requests),
        }

    @property
    def rate(self) -> float:
        """Simulated requests per wall-clock second."""
        wall = sum(run.wall for run in self.runs)
        return sum(run.simulated for run in self.runs) / wall if wall else math.nan


def _finite_min(values: Sequence[float]) -> float:
    return min((v for v in values if math.isfinite(v)), default=math.nan)


def _finite_max(values: Sequence[float]) -> float:
    return max((v for v in values if math.isfinite(v)), default=math.nan)


def _sd(values: Sequence[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return 0.0
    mean = math.fsum(finite) / len(finite)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / (len(finite) - 1))


def compare(config: SimConfig, progress: Progress | None = None) -> list[Outcome]:
    """Every algorithm of ``config`` over ``config.replications`` seeds (the same seeds
    for each, so they meet the same requests)."""
    seeds = [config.seed + r for r in range(config.replications)]
    return [
        Outcome(name, [simulate(config, name, seed, progress) for seed in seeds])
        for name in config.algorithms
    ]


def total_requests(config: SimConfig) -> int:
    """Requests a ``compare`` of ``config`` simulates (for a progress bar)."""
    return config.requests * config.replications * len(config.algorithms)


__all__ = [
    "Outcome",
    "RunResult",
    "compare",
    "simulate",
    "total_requests",
]
