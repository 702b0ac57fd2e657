"""What a simulation is: the fleet, the traffic, the work, the balancers, the run.

A ``SimConfig`` is checked when it is made (every number finite and in range, every
algorithm and option known to the registry), so the engine never meets a bad value
and every mistake reaches the user as one ``ConfigError`` line. The same names are
used on the command line (``--service lognormal:1.5``), in a scenario file's ``[sim]``
table (``service = "lognormal:1.5"``) and here.

Time is measured in the model's unit: the mean service time is 1 unless
``service_mean`` says otherwise, so "p99 = 4.6" means 4.6 mean service times.

Specs written as text:

* service: ``exp``, ``det`` (every request takes the mean), ``lognormal[:SIGMA]``
  (default 1), ``pareto[:ALPHA]`` (the heavy tail; default 1.5: finite mean, infinite
  variance), ``bimodal[:SHARE:FACTOR]`` (a share of requests, default 0.1, takes
  FACTOR times, default 10, as long as the rest);
* arrivals: ``poisson``, ``mmpp[:FACTOR:SHARE:LENGTH]`` (a two-state Markov-modulated
  Poisson process: bursts at FACTOR times the calm rate, default 4, for a SHARE of the
  time, default 0.1, lasting LENGTH on average, default 50; the mean rate is still the
  load asked for), ``diurnal[:AMPLITUDE:PERIOD]`` (the rate swings ± AMPLITUDE,
  default 0.5, around the load over a PERIOD, default the whole run: a day of traffic);
* outages: ``S@START[-END]``: server S (1-based) fails at START and comes back at END
  (never, without one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lbplay.core import registry
from lbplay.errors import ConfigError
from lbplay.model.numbers import number, parse_number, whole

MAX_SERVERS = 10_000
MAX_REQUESTS = 1_000_000_000
MAX_BALANCERS = 1_000

ServiceKind = Literal["exp", "det", "lognormal", "pareto", "bimodal"]
SERVICE_KINDS: tuple[ServiceKind, ...] = ("exp", "det", "lognormal", "pareto", "bimodal")
ArrivalKind = Literal["poisson", "mmpp", "diurnal"]
ARRIVAL_KINDS: tuple[ArrivalKind, ...] = ("poisson", "mmpp", "diurnal")
Discipline = Literal["fifo", "ps"]
DISCIPLINES: tuple[Discipline, ...] = ("fifo", "ps")


def _parts(text: str, kinds: Sequence[str], what: str, most: int) -> tuple[str, list[str]]:
    """``"lognormal:1.5"`` → (``"lognormal"``, [``"1.5"``]), the kind checked."""
    if not isinstance(text, str):
        raise ConfigError(f"bad {what} {text!r}: use one of {', '.join(kinds)}")
    kind, *params = text.strip().lower().split(":")
    if kind not in kinds:
        raise ConfigError(f"bad {what} {text!r}: use one of {', '.join(kinds)}")
    if len(params) > most:
        raise ConfigError(f"bad {what} {text!r}: {kind} takes at most {most} parameter(s)")
    return kind, params


@dataclass(frozen=True)
class Service:
    """How long requests take: a distribution with the given mean."""

    kind: ServiceKind = "exp"
    mean: float = 1.0
    sigma: float = 1.0
    alpha: float = 1.5
    long_share: float = 0.1
    long_factor: float = 10.0

    @classmethod
    def parse(cls, text: str, mean: float = 1.0) -> Service:
        """``exp``, ``det``, ``lognormal[:SIGMA]``, ``pareto[:ALPHA]``,
        ``bimodal[:SHARE:FACTOR]``."""
        kind, params = _parts(text, SERVICE_KINDS, "service", 2)
        mean = number(mean, "service mean", 1e-9, 1e9)
        if kind in ("exp", "det") and params:
            raise ConfigError(f"bad service {text!r}: {kind} takes no parameter")
        if kind == "lognormal":
            sigma = parse_number(params[0], "lognormal sigma", 0.01, 5) if params else 1.0
            if len(params) > 1:
                raise ConfigError(f"bad service {text!r}: lognormal takes one parameter (sigma)")
            return cls("lognormal", mean, sigma=sigma)
        if kind == "pareto":
            alpha = parse_number(params[0], "Pareto alpha", 1.01, 100) if params else 1.5
            if len(params) > 1:
                raise ConfigError(f"bad service {text!r}: pareto takes one parameter (alpha)")
            return cls("pareto", mean, alpha=alpha)
        if kind == "bimodal":
            share = parse_number(params[0], "bimodal long share", 0.0001, 0.9999) if params else 0.1
            factor = parse_number(params[1], "bimodal factor", 1, 1e6) if len(params) > 1 else 10.0
            return cls("bimodal", mean, long_share=share, long_factor=factor)
        return cls(kind, mean)  # type: ignore[arg-type]

    def text(self) -> str:
        """The spec back as text (``lognormal:1.5``)."""
        if self.kind == "lognormal":
            return f"lognormal:{self.sigma:g}"
        if self.kind == "pareto":
            return f"pareto:{self.alpha:g}"
        if self.kind == "bimodal":
            return f"bimodal:{self.long_share:g}:{self.long_factor:g}"
        return self.kind

    @property
    def scv(self) -> float:
        """The squared coefficient of variation (variance / mean²); inf for a tail
        without a variance."""
        if self.kind == "exp":
            return 1.0
        if self.kind == "det":
            return 0.0
        if self.kind == "lognormal":
            return math.expm1(self.sigma**2)
        if self.kind == "pareto":
            a = self.alpha
            return math.inf if a <= 2 else 1.0 / (a * (a - 2))
        p, f = self.long_share, self.long_factor
        second = (1 - p) + p * f * f
        first = (1 - p) + p * f
        return second / first**2 - 1


@dataclass(frozen=True)
class Arrivals:
    """When requests arrive; the mean rate always makes the asked-for load."""

    kind: ArrivalKind = "poisson"
    factor: float = 4.0
    share: float = 0.1
    length: float = 50.0
    amplitude: float = 0.5
    #: 0: the whole run is one period.
    period: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Arrivals:
        """``poisson``, ``mmpp[:FACTOR:SHARE:LENGTH]``, ``diurnal[:AMPLITUDE:PERIOD]``."""
        kind, params = _parts(text, ARRIVAL_KINDS, "arrivals", 3)
        if kind == "poisson":
            if params:
                raise ConfigError(f"bad arrivals {text!r}: poisson takes no parameter")
            return cls()
        if kind == "mmpp":
            factor = parse_number(params[0], "burst factor", 1, 1000) if params else 4.0
            share = parse_number(params[1], "burst share", 0.001, 0.999) if len(params) > 1 else 0.1
            length = parse_number(params[2], "burst length", 1e-6, 1e9) if len(params) > 2 else 50.0
            return cls("mmpp", factor=factor, share=share, length=length)
        if len(params) > 2:
            raise ConfigError(f"bad arrivals {text!r}: diurnal takes AMPLITUDE:PERIOD")
        amplitude = parse_number(params[0], "diurnal amplitude", 0, 0.99) if params else 0.5
        period = parse_number(params[1], "diurnal period", 1e-6, 1e12) if len(params) > 1 else 0.0
        return cls("diurnal", amplitude=amplitude, period=period)

    def text(self) -> str:
        if self.kind == "mmpp":
            return f"mmpp:{self.factor:g}:{self.share:g}:{self.length:g}"
        if self.kind == "diurnal":
            return f"diurnal:{self.amplitude:g}:{self.period:g}"
        return "poisson"


@dataclass(frozen=True)
class Outage:
    """Server ``server`` (0-based) is down from ``start`` until ``end``."""

    server: int
    start: float
    end: float = math.inf

    @classmethod
    def parse(cls, text: str, servers: int) -> Outage:
        """``S@START[-END]``, S counted from 1 as the servers are named (s1, s2, ...)."""
        if not isinstance(text, str):
            raise ConfigError(f"bad outage {text!r}: use SERVER@START[-END], e.g. 3@100-400")
        who, sep, when = text.strip().partition("@")
        start_text, dash, end_text = when.partition("-")
        if not sep or not who.strip().lstrip("s").isdigit() or not start_text.strip():
            raise ConfigError(f"bad outage {text!r}: use SERVER@START[-END], e.g. 3@100-400")
        server = whole(int(who.strip().lstrip("s")), "outage server", 1, servers)
        start = parse_number(start_text, "outage start", 0, 1e12)
        end = parse_number(end_text, "outage end", 0, 1e12) if dash else math.inf
        if end <= start:
            raise ConfigError(f"bad outage {text!r}: it must end after it starts")
        return cls(server - 1, start, end)

    def text(self) -> str:
        end = "" if math.isinf(self.end) else f"-{self.end:g}"
        return f"{self.server + 1}@{self.start:g}{end}"


@dataclass(frozen=True)
class HealthCheck:
    """Active checks: a probe every ``interval``; down after ``fall`` failures in a
    row, up after ``rise`` successes (HAProxy's defaults are 2 s, 3 and 2)."""

    interval: float = 5.0
    fall: int = 3
    rise: int = 2

    def __post_init__(self) -> None:
        number(self.interval, "health interval", 1e-6, 1e12)
        whole(self.fall, "health fall", 1, 100)
        whole(self.rise, "health rise", 1, 100)


@dataclass(frozen=True)
class SimConfig:
    """One simulation: the fleet, the traffic, the balancers and the run."""

    servers: int = 1000
    #: Utilisation: the arrival rate as a share of the fleet's total capacity.
    load: float = 0.9
    service: Service = field(default_factory=Service)
    arrivals: Arrivals = field(default_factory=Arrivals)
    algorithms: tuple[str, ...] = ("power_of_two_choices",)
    #: Algorithm options (``choices = 3``), given to each algorithm that has them.
    options: Mapping[str, Any] = field(default_factory=dict)
    requests: int = 1_000_000
    #: Requests discarded at the start: a share of ``requests`` below 1, else a count.
    warmup: float = 0.1
    seed: int = 0
    replications: int = 1
    balancers: int = 1
    #: How old a balancer's view of the servers may be (0: live).
    staleness: float = 0.0
    #: Requests a server works on at once (fifo: that many at full speed each; ps:
    #: sharing it; 0 with ps: no limit).
    concurrency: int = 1
    discipline: Discipline = "fifo"
    #: Speed factors, repeated over the fleet (1, 1, 2: every third server twice as fast).
    speeds: tuple[float, ...] = ()
    #: Server s1 takes this many times as long (1: not slow).
    slow: float = 1.0
    outages: tuple[Outage, ...] = ()
    health: HealthCheck = field(default_factory=HealthCheck)
    #: Further attempts on another server after a refused connection.
    retries: int = 0
    #: Requests that may wait at a server beyond those it works on (0: no limit);
    #: more are rejected, as HAProxy's full queue answers 503.
    queue_limit: int = 0
    #: Distinct users (hash keys) for the algorithms that hash.
    keys: int = 10_000

    def __post_init__(self) -> None:
        whole(self.servers, "number of servers", 1, MAX_SERVERS)
        number(self.load, "load", 1e-6, 10)
        whole(self.requests, "number of requests", 1, MAX_REQUESTS)
        number(self.warmup, "warm-up", 0, MAX_REQUESTS)
        if self.warmup_requests >= self.requests:
            raise ConfigError(
                f"bad warm-up {self.warmup:g}: it discards every one of the"
                f" {self.requests:,} requests (use a share below 1, or fewer)"
            )
        whole(self.seed, "seed", 0, 2**63)
        whole(self.replications, "number of replications", 1, 1000)
        whole(self.balancers, "number of balancers", 1, MAX_BALANCERS)
        number(self.staleness, "staleness", 0, 1e12)
        low = 0 if self.discipline == "ps" else 1
        whole(self.concurrency, "concurrency", low, 100_000)
        if self.discipline not in DISCIPLINES:
            raise ConfigError(f"bad discipline {self.discipline!r}: use fifo or ps")
        for speed in self.speeds:
            number(speed, "server speed", 1e-6, 1e6)
        number(self.slow, "slow factor", 1e-6, 1e6)
        whole(self.retries, "number of retries", 0, 100)
        whole(self.queue_limit, "queue limit", 0, 10_000_000)
        whole(self.keys, "number of keys", 1, 10_000_000)
        if not self.algorithms:
            raise ConfigError("no algorithm to simulate")
        names = tuple(registry.get(name).name for name in self.algorithms)
        if len(set(names)) != len(names):
            raise ConfigError(f"an algorithm is listed twice: {', '.join(names)}")
        object.__setattr__(self, "algorithms", names)
        self.options_for(names[0])  # every option belongs to some algorithm
        ends: dict[int, float] = {}
        for outage in sorted(self.outages, key=lambda o: (o.server, o.start)):
            if outage.server >= self.servers:
                raise ConfigError(f"outage {outage.text()}: there are {self.servers} servers")
            if outage.start < ends.get(outage.server, -1.0):
                raise ConfigError(f"outage {outage.text()} overlaps another of that server")
            ends[outage.server] = outage.end
        if self.outages and self.discipline == "ps":
            raise ConfigError("outages (--fail) work with --discipline fifo only")

    @property
    def warmup_requests(self) -> int:
        """How many requests the warm-up discards."""
        if self.warmup < 1:
            return int(self.requests * self.warmup)
        return int(self.warmup)

    def speed_of(self, server: int) -> float:
        """Server ``server``'s (0-based) speed factor."""
        speed = self.speeds[server % len(self.speeds)] if self.speeds else 1.0
        return speed / self.slow if server == 0 else speed

    def options_for(self, algorithm: str) -> dict[str, Any]:
        """The options that ``algorithm`` has (checked by the registry); an option no
        listed algorithm has is an error."""
        info = registry.get(algorithm)
        mine = {k: v for k, v in self.options.items() if k in info.options}
        known = {k for name in self.algorithms for k in registry.get(name).options}
        stray = sorted(set(self.options) - known)
        if stray:
            raise ConfigError(
                f"no algorithm here has an option {stray[0]!r}"
                f" (options: {', '.join(sorted(known)) or 'none'})"
            )
        info.resolve_options(mine)
        return mine

    def with_(self, **changes: Any) -> SimConfig:
        """A copy with ``changes`` (checked again)."""
        return replace(self, **changes)


# -- a scenario file's [sim] table ----------------------------------------------------------

#: Keys of a ``[sim]`` table, as the command line's long options (with ``_``).
TABLE_KEYS = (
    "servers",
    "load",
    "service",
    "service_mean",
    "arrivals",
    "algorithm",
    "compare",
    "options",
    "requests",
    "warmup",
    "seed",
    "replications",
    "balancers",
    "staleness",
    "concurrency",
    "discipline",
    "speeds",
    "slow",
    "fail",
    "health",
    "retries",
    "queue_limit",
    "keys",
)


def table_values(data: Any, where: str = "sim") -> dict[str, Any]:
    """A ``[sim]`` table's values, as the command line's options would give them
    (names checked; values are checked when the ``SimConfig`` is made)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"[{where}] must be a table")
    values = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(values) - set(TABLE_KEYS))
    if unknown:
        raise ConfigError(f"[{where}] has no key {unknown[0]!r} (keys: {', '.join(TABLE_KEYS)})")
    for key in ("compare", "fail", "speeds"):
        value = values.get(key)
        if isinstance(value, list):
            values[key] = ",".join(str(v) for v in value)
    if "options" in values and not isinstance(values["options"], Mapping):
        raise ConfigError(f"[{where}].options must be a table like {{ choices = 3 }}")
    if "health" in values and not isinstance(values["health"], Mapping):
        raise ConfigError(f"[{where}].health must be a table like {{ interval = 5, fall = 3 }}")
    return values


def build(values: Mapping[str, Any]) -> SimConfig:
    """A ``SimConfig`` from option values by their command-line names (``compare``,
    ``service_mean``, ``fail``...); what is missing keeps its default."""
    data = dict(values)
    servers = whole(data.pop("servers", SimConfig.servers), "number of servers", 1, MAX_SERVERS)
    mean = data.pop("service_mean", 1.0)
    service = Service.parse(data.pop("service", "exp"), mean)
    arrivals = Arrivals.parse(data.pop("arrivals", "poisson"))
    compare = data.pop("compare", None)
    algorithm = data.pop("algorithm", None)
    if compare is not None and algorithm is not None:
        raise ConfigError("give --algorithm or --compare, not both")
    if compare is not None:
        if not isinstance(compare, str):
            raise ConfigError(f"bad --compare {compare!r}: use NAME,NAME,...")
        algorithms = tuple(a.strip() for a in compare.split(",") if a.strip())
        if not algorithms:
            raise ConfigError("--compare needs algorithm names, e.g. random,power_of_two_choices")
    elif algorithm is not None:
        if not isinstance(algorithm, str):
            raise ConfigError(f"bad algorithm {algorithm!r}")
        algorithms = (algorithm,)
    else:
        algorithms = SimConfig.algorithms
    fail = data.pop("fail", "")
    if not isinstance(fail, str):
        raise ConfigError(f"bad outage {fail!r}: use SERVER@START[-END], e.g. 3@100-400")
    outages = tuple(Outage.parse(item, servers) for item in fail.split(",") if item.strip())
    speeds_text = data.pop("speeds", "")
    if isinstance(speeds_text, int | float) and not isinstance(speeds_text, bool):
        speeds_text = str(speeds_text)
    if not isinstance(speeds_text, str):
        raise ConfigError(f"bad speeds {speeds_text!r}: use numbers like 1,1,2")
    speeds = tuple(
        parse_number(s, "server speed", 1e-6, 1e6) for s in speeds_text.split(",") if s.strip()
    )
    health_data = data.pop("health", {})
    extra = sorted(set(health_data) - {"interval", "fall", "rise"})
    if extra:
        raise ConfigError(f"health has no key {extra[0]!r} (interval, fall, rise)")
    health = HealthCheck(**health_data)
    discipline = data.pop("discipline", "fifo")
    if discipline not in DISCIPLINES:
        raise ConfigError(f"bad discipline {discipline!r}: use fifo or ps")
    requests = data.pop("requests", SimConfig.requests)
    if isinstance(requests, float) and math.isfinite(requests) and requests.is_integer():
        requests = int(requests)
    options = data.pop("options", {})
    return SimConfig(
        servers=servers,
        service=service,
        arrivals=arrivals,
        algorithms=algorithms,
        options=dict(options),
        requests=requests,
        outages=outages,
        speeds=speeds,
        health=health,
        discipline=discipline,
        **data,
    )
