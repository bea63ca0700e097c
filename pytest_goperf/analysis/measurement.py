"""Measurement records: what a test asked for, each round's records, and the assertions on them.

Each round is an independent sample for the statistical comparison with a
baseline; views such as ``result.runnable.p99`` give the median across rounds,
and ``result.values(name)`` every round's value of a catalogued metric. Pure:
records in, numbers and assertion errors out.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..comparison.metrics import CATALOGUE, get_metric
from ..errors import ConfigError, GoperfAssertionError, GoperfError, UsageError
from ..formats.goroutines import Goroutine
from ..formats.window import WindowFiles
from ..load.callable import CallableLoad
from ..load.result import LoadResult
from ..load.scenario import ClosedModel, Model, OpenModel, Request, Scenario
from .functions import FunctionTable
from .leaks import LeakReport
from .trace_metrics import TraceMetrics
from .wakeups import Wakeups
from .window import WindowAnalysis

__all__ = [
    "DEFAULT_METRICS",
    "Floor",
    "LatencyView",
    "MeasureSpec",
    "Measurement",
    "Round",
    "as_scenario",
    "model_from",
]

# What every measurement records for baselines; hot_share:<fn> metrics are added per test.
DEFAULT_METRICS = tuple(CATALOGUE)

#: A test's own effect floor for a metric: a relative fraction, or {"rel": .., "abs": ..}.
Floor = float | Mapping[str, float]


@dataclass(frozen=True)
class Round:
    """One window of load with everything seen during it."""

    index: int
    window: float
    started_at: float  # time.time() at the start of the window
    files: WindowFiles
    load: LoadResult | None
    trace: TraceMetrics | None
    cpu: FunctionTable | None
    goroutines_start: tuple[Goroutine, ...]
    goroutines_end: tuple[Goroutine, ...]
    leaked_goroutines: int | None  # the runtime's proven leaks at the end; None without the profile
    main_module: str | None = None
    process_cpu_ns: int | None = None  # the service process's CPU time over the window (kernel, exact)

    @classmethod
    def of(cls, index: int, analysis: WindowAnalysis, files: WindowFiles) -> Round:
        """The round made of one analysed window and where its files were saved."""
        raw = analysis.raw
        return cls(
            index=index,
            window=float(raw.seconds or 0.0),
            started_at=float(raw.started_at or 0.0),
            files=files,
            load=raw.load,
            trace=analysis.trace,
            cpu=analysis.cpu,
            goroutines_start=analysis.goroutines_start,
            goroutines_end=analysis.goroutines_end,
            leaked_goroutines=analysis.leaked_goroutines,
            main_module=analysis.main_module,
            process_cpu_ns=raw.process_cpu_ns,
        )

    @property
    def wakeups(self) -> Wakeups:
        """This round's blocking episodes and who woke them (measure with ``wakeups=True``)."""
        if self.trace is None:
            raise UsageError("this round has no execution trace, so no wake-ups")
        if self.trace.wakeups is None:
            raise UsageError("wake-ups were not read for this round: measure with wakeups=True "
                             "(goperf.measure(..., wakeups=True) or @pytest.mark.goperf(wakeups=True))")
        return self.trace.wakeups

    @property
    def goroutine_delta(self) -> int:
        """Goroutines alive at the end minus at the start of the window."""
        return len(self.goroutines_end) - len(self.goroutines_start)

    def hot_share(self, which: str | Sequence[str], *, cum: bool = False) -> float:
        """Share of CPU samples in the named function(s) (names or glob/regex patterns; flat by default)."""
        if self.cpu is None:
            raise GoperfError("this round has no CPU profile: capture it with cpu_profile=True")
        return self.cpu.hot_share(which, cum=cum)


@dataclass(frozen=True)
class MeasureSpec:
    """What a test asked of one measurement: the marker's and ``measure()``'s arguments, merged and checked.

    ``gate`` names the metrics the regression gate compares (None: ``track``,
    else the defaults); ``floors`` replaces their effect floors; ``limits``
    are maxima checked on the median of each metric; ``name`` tells several
    measurements of one test apart in baselines; ``wakeups`` also reads who
    woke each blocked goroutine (``round.wakeups``).
    """

    load: Scenario | CallableLoad = field(default_factory=lambda: Scenario([Request("GET", "/")]))
    model: Model = field(default_factory=lambda: ClosedModel(concurrency=4))
    rounds: int = 5
    window: float = 2.0
    warmup: float = 1.0
    warmup_rounds: int = 0
    track: tuple[str, ...] = ()
    gate: tuple[str, ...] | None = None
    floors: Mapping[str, Floor] = field(default_factory=dict)
    limits: Mapping[str, float] = field(default_factory=dict)
    check_leaks: bool = True
    name: str = ""
    wakeups: bool = False

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.warmup_rounds < 0:
            raise ConfigError(
                f"rounds must be >= 1 and warmup_rounds >= 0, got {self.rounds} and {self.warmup_rounds}"
            )
        if self.window < 1 or self.window != int(self.window):
            raise ConfigError(
                "window must be a whole number of seconds >= 1 (the CPU profile endpoint takes whole seconds), "
                f"got {self.window!r}"
            )
        if self.warmup < 0:
            raise ConfigError(f"warmup must be >= 0 seconds, got {self.warmup!r}")
        for name in (*self.track, *(self.gate or ()), *self.limits, *self.floors):
            get_metric(name)  # unknown metric names fail before any load runs
        for name, floor in self.floors.items():
            if isinstance(floor, bool) or not isinstance(floor, (int, float, Mapping)):
                raise ConfigError(f"floors[{name!r}] must be a fraction or {{'rel': .., 'abs': ..}}, got {floor!r}")
            if isinstance(floor, Mapping) and set(floor) - {"rel", "abs"}:
                raise ConfigError(f"floors[{name!r}] takes the keys 'rel' and 'abs', got {sorted(floor)}")

    @property
    def recorded(self) -> tuple[str, ...]:
        """The metrics named by this spec besides the defaults: tracked, and limited shares and annotations."""
        shares = tuple(n for n in self.limits if n.startswith(("hot_share", "class_share", "region_", "task_", "log_")))
        return tuple(dict.fromkeys((*self.track, *shares)))


class _MedianView:
    """Attribute access that answers the median across rounds of a per-round record."""

    def __init__(self, what: str, records: Sequence[Any]) -> None:
        self._what = what
        self._records = [r for r in records if r is not None]

    def __getattr__(self, name: str) -> float:
        if name.startswith("_"):
            raise AttributeError(name)
        if not self._records:
            raise ConfigError(f"no round captured {self._what}: enable it in the measurement")
        if not hasattr(self._records[0], name) and hasattr(self._records[0], f"{name}_ns"):
            name = f"{name}_ns"  # sched_latency.p99 is sched_latency.p99_ns (nanoseconds)
        values = [getattr(r, name) for r in self._records]
        if not all(isinstance(v, (int, float)) for v in values):
            raise AttributeError(f"{self._what}.{name} is not a number")
        return float(statistics.median(values))

    def per_round(self, name: str) -> list[float]:
        """Every round's value of ``name``."""
        return [float(getattr(r, name)) for r in self._records]


@dataclass(frozen=True)
class LatencyView:
    """Request latency percentiles in milliseconds, median across rounds."""

    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    # result.latency.p99 reads as the examples do: milliseconds.
    p50 = property(lambda self: self.p50_ms)
    p90 = property(lambda self: self.p90_ms)
    p99 = property(lambda self: self.p99_ms)
    max = property(lambda self: self.max_ms)


@dataclass(frozen=True)
class Measurement:
    """The rounds of one ``measure`` call (warm-up rounds excluded)."""

    rounds: tuple[Round, ...]
    window: float
    scenario: Scenario | CallableLoad
    model: Model
    directory: Path
    warmup_rounds: int = 0
    tracked: tuple[str, ...] = ()
    leak_report: LeakReport | None = None
    spec: MeasureSpec = field(default_factory=MeasureSpec)
    go_version: str | None = None  # the toolchain that built the service (None when attached)
    base: Measurement | None = None  # the base's rounds, taken beside these (same-run comparison)
    base_leak_report: LeakReport | None = None  # the base's leak check, never a failure of the test

    # ------------------------------------------------------------------ values

    def round_values(self, metric: str) -> list[float | None]:
        """The catalogued ``metric`` of every round, in order (None where a round lacks the data)."""
        m = get_metric(metric)
        return [m.value(r) for r in self.rounds]

    def values(self, metric: str) -> list[float]:
        """Every round's value of the catalogued ``metric`` (rounds without the data are skipped)."""
        return get_metric(metric).values(self.rounds)

    def median(self, metric: str) -> float:
        values = self.values(metric)
        if not values:
            raise ConfigError(f"no round has a value for {metric!r}: is its capture enabled?")
        return float(statistics.median(values))

    def metric_names(self) -> list[str]:
        """The metrics this measurement records for baselines."""
        names = [n for n in DEFAULT_METRICS if self.values(n)]
        return names + [n for n in self.tracked if n not in names]

    @property
    def runnable(self) -> _MedianView:
        """Runnable goroutines (``mean``, ``p50``, ``p95``, ``p99``, ``max``), median across rounds."""
        return _MedianView("an execution trace", [r.trace.runnable if r.trace else None for r in self.rounds])

    @property
    def runnable_per_p(self) -> _MedianView:
        return _MedianView("an execution trace", [r.trace.runnable_per_p if r.trace else None for r in self.rounds])

    @property
    def sched_latency(self) -> _MedianView:
        """Scheduling latency (``p50_ns`` ... ``max_ns``, ``total_ns``, ``count``), median across rounds."""
        return _MedianView("an execution trace", [r.trace.sched_latency if r.trace else None for r in self.rounds])

    @property
    def trace(self) -> _MedianView:
        """Any numeric field of the trace metrics (``utilisation``, ``gc_share`` ...), median across rounds."""
        return _MedianView("an execution trace", [r.trace for r in self.rounds])

    @property
    def latency(self) -> LatencyView:
        """Request latency percentiles (ms), median across rounds."""
        loads = [r.load for r in self.rounds if r.load is not None and r.load.completed]
        if not loads:
            raise ConfigError("no round completed a request: check the load scenario")
        def med(p: float) -> float:
            return float(statistics.median(ld.latency.percentile(p) / 1e6 for ld in loads))

        return LatencyView(med(50), med(90), med(99), float(statistics.median(ld.latency.max_ns / 1e6 for ld in loads)))

    @property
    def throughput(self) -> float:
        """Completed requests per second, median across rounds."""
        return self.median("throughput")

    def hot_share(self, which: str | Sequence[str], *, cum: bool = False) -> float:
        """CPU share of the function(s) ``which`` (name, glob or ``re:`` pattern), median across rounds."""
        shares = [r.hot_share(which, cum=cum) for r in self.rounds if r.cpu is not None]
        if not shares:
            raise ConfigError("no round captured a CPU profile")
        return float(statistics.median(shares))

    def class_share(self, cls: str) -> float:
        """CPU share of ``user``, ``stdlib``, ``runtime`` or ``module`` code, median across rounds."""
        return self.median(f"class_share:{cls}")

    # ------------------------------------------------------------------ assertions

    def _where(self) -> str:
        return f"{len(self.rounds)} round(s) of {self.window:g} s; files in {self.directory}"

    def assert_metric(self, metric: str, *, max: float | None = None, min: float | None = None) -> None:
        """Fail when the median of ``metric`` across rounds is above ``max`` or below ``min``."""
        value = self.median(metric)
        unit = get_metric(metric).unit
        per_round = ", ".join(f"{v:.4g}" for v in self.values(metric))
        if max is not None and value > max:
            raise GoperfAssertionError(
                f"{metric} = {value:.4g} {unit} (median; rounds: {per_round}) exceeds the limit {max:g} {unit} "
                f"in {self._where()}"
            )
        if min is not None and value < min:
            raise GoperfAssertionError(
                f"{metric} = {value:.4g} {unit} (median; rounds: {per_round}) is below the limit {min:g} {unit} "
                f"in {self._where()}"
            )

    def assert_runnable_below(self, limit: float, *, stat: str = "p99", per_p: bool = False) -> None:
        """Fail when runnable goroutines (``stat`` of the trace, median across rounds) exceed ``limit``."""
        name = f"runnable_per_p.{stat}" if per_p else f"runnable.{stat}"
        view = self.runnable_per_p if per_p else self.runnable
        value = getattr(view, stat)
        if value > limit:
            raise GoperfAssertionError(
                f"{name} = {value:.2f} goroutines (median; rounds: "
                f"{', '.join(f'{v:.2f}' for v in view.per_round(stat))}) exceeds the limit {limit:g} "
                f"in {self._where()}; traces: {', '.join(str(r.files.trace) for r in self.rounds if r.files.trace)}"
            )

    def assert_sched_latency_below(self, limit_ns: float, *, stat: str = "p99_ns") -> None:
        """Fail when scheduling latency (``stat``, median across rounds) exceeds ``limit_ns``."""
        value = getattr(self.sched_latency, stat)
        if value > limit_ns:
            raise GoperfAssertionError(
                f"scheduling latency {stat} = {value / 1e3:.1f} us (median) exceeds the limit "
                f"{limit_ns / 1e3:.1f} us in {self._where()}"
            )

    def assert_hot_share_below(self, which: str | Sequence[str], max_share: float, *, cum: bool = False) -> None:
        """Fail when the CPU share of ``which`` (median across rounds) exceeds ``max_share``, listing the top functions."""
        value = self.hot_share(which, cum=cum)
        if value > max_share:
            from ..report.text import format_top

            last = next(r.cpu for r in reversed(self.rounds) if r.cpu is not None)
            raise GoperfAssertionError(
                f"{'cumulative' if cum else 'flat'} CPU share of {which} = {value:.1%} (median) exceeds the limit "
                f"{max_share:.1%} in {self._where()}\ntop functions of the last round:\n{format_top(last, 8)}"
            )



def as_scenario(load: Scenario | Request | str | Iterable[Any] | Callable[..., Any] | None) -> Scenario | CallableLoad:
    """A scenario from a scenario, a request, a path, or a list of those / (path, weight) pairs;
    a function (or :class:`CallableLoad`) is load of its own: one call, one request."""
    if isinstance(load, (Scenario, CallableLoad)):
        return load
    if callable(load) and not isinstance(load, (str, Request)):
        return CallableLoad(load)
    if load is None:
        return Scenario([Request("GET", "/")])
    if isinstance(load, Request):
        return Scenario([load])
    if isinstance(load, str):
        return Scenario([Request("GET", load)])
    requests = []
    for item in load:
        if isinstance(item, Request):
            requests.append(item)
        elif isinstance(item, str):
            requests.append(Request("GET", item))
        elif isinstance(item, tuple) and len(item) == 2:
            requests.append(Request("GET", item[0], weight=item[1]))
        else:
            raise ConfigError(f"cannot turn {item!r} into a request: use a path, (path, weight) or Request(...)")
    return Scenario(requests)




def model_from(rate: float | None, concurrency: int | None) -> Model:
    """The load model for ``rate`` (open) or ``concurrency`` (closed); default 4 clients."""
    if rate is not None and concurrency is not None:
        raise ConfigError("give either rate (open model) or concurrency (closed model), not both")
    if rate is not None:
        return OpenModel(rate=rate)
    return ClosedModel(concurrency=concurrency or 4)
