"""The metric catalogue: every number the gate can compare, in one place.

A :class:`Metric` has a name (used in baselines, reports and limits), a unit,
which direction is worse, how to read it from a :class:`~pytest_goperf.analysis.measurement.Round`,
and the smallest change that matters in practice (the effect floor). Names
are stable: baselines store them.

Besides the fixed metrics there are families named with a parameter:
``hot_share:<function>`` (flat CPU share of a function or pattern),
``hot_share_cum:<function>`` (cumulative share), ``cpu_per_request:<function>``
(the function's flat CPU time per completed request) and ``class_share:<class>``
(share of ``user``, ``stdlib``, ``runtime`` or ``module`` code).

From the user annotations of the window's trace (``runtime/trace`` tasks,
regions and logs): ``region_p50:<name>``, ``region_p99:<name>`` (ms, of the
regions completed inside the window; regions cut by its edges are not
counted), ``region_count:<name>``, ``task_p50:<type>``, ``task_p99:<type>``,
``task_count:<type>`` and ``log_count:<category>``. Names are exact, glob or
``re:`` patterns, as function names are; a name that matches nothing in any
round's trace is an :class:`~pytest_goperf.UnknownNameError` listing the names
that did occur. A region is the most direct measure of a code path: it is not
diluted by the rest of the request as a request latency is.

CPU per request is the most sensitive way to see "this function got slower":
a share is diluted by the rest of the profile (15 % more work in a function
that has 30 % of the CPU moves its share by only ~10 %), while its CPU time per
request moves by the full 15 % and does not depend on how much load the round
happened to push.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from ..errors import ConfigError, UsageError

if TYPE_CHECKING:
    import numpy as np

    from ..analysis.classify import FunctionClass
    from ..analysis.measurement import Round
    from ..analysis.trace_metrics import TraceMetrics
    from ..load.result import LoadResult

__all__ = ["CATALOGUE", "DEFAULT_GATE", "Metric", "get_metric"]

# Metrics the regression gate compares when a test names none (``gate=`` or
# ``track=``): few, so the multiple-comparison correction keeps its power, and
# chosen by bench/bench_noise.py beside a noisy neighbour: the process's own CPU
# time per request (exact, and the steadier of the two CPU measures) and the
# runnable queue. Wall-clock metrics (latency, throughput) move with the
# neighbours: they are recorded and shown, gated only when a test asks.
DEFAULT_GATE = ("proc_cpu_per_request", "runnable.p99")
#: proc_cpu_per_request's floor in same-run pairs: drift between sessions (5-14 % in the noise bench) needs the
#: 5 % floor against a stored baseline, but within a pair it cancels (bench/bench_noise.py, docs/baselines.md).
PAIRED_PROC_CPU_FLOOR = 0.02

Reader = Callable[["Round"], "float | None"]


@dataclass(frozen=True)
class Metric:
    """One comparable number per round."""

    name: str
    unit: str
    worse: Literal["higher", "lower"]
    description: str
    read: Reader
    min_effect_rel: float = 0.05  # changes smaller than this fraction never count
    min_effect_abs: float = 0.0  # ... nor smaller than this, in the metric's unit
    log_scale: bool = False  # compare ratios (times, rates), not differences
    exact: bool = False  # deterministic: compared exactly, without statistics
    #: The floor in same-run comparisons (pairs of the base and head side by side, where the session's
    #: drift cancels); None: :attr:`min_effect_rel`. Stored baselines keep the wider floor (drift between sessions).
    paired_min_effect_rel: float | None = None
    #: Raises when the rounds cannot have this metric at all (a region name that never occurred).
    check: Callable[[Sequence[Round]], None] | None = None

    def value(self, round_: Round) -> float | None:
        """This metric's value in ``round_`` (None when the round lacks the data)."""
        return self.read(round_)

    def values(self, rounds: Sequence[Round]) -> list[float]:
        """Every round's value (rounds without the data skipped), after :attr:`check`."""
        if self.check is not None:
            self.check(rounds)
        return [v for v in (self.read(r) for r in rounds) if v is not None]


def _trace(get: Callable[[TraceMetrics], float]) -> Reader:
    return lambda r: None if r.trace is None else float(get(r.trace))


def _load(get: Callable[[LoadResult], float]) -> Reader:
    return lambda r: None if r.load is None or r.load.completed == 0 else float(get(r.load))


def _ms(percentile: float) -> Callable[[LoadResult], float]:
    return lambda load: load.latency.percentile(percentile) / 1e6


_FIXED = [
    Metric("runnable.mean", "goroutines", "higher", "time-weighted mean of runnable goroutines",
           _trace(lambda t: t.runnable.mean), min_effect_rel=0.10, min_effect_abs=0.25),
    Metric("runnable.p99", "goroutines", "higher", "99th percentile (by time) of runnable goroutines",
           _trace(lambda t: t.runnable.p99), min_effect_rel=0.10, min_effect_abs=1.0),
    Metric("runnable_per_p.p99", "goroutines/P", "higher", "runnable goroutines per processor, 99th percentile",
           _trace(lambda t: t.runnable_per_p.p99), min_effect_rel=0.10, min_effect_abs=0.5),
    Metric("sched_latency.p99", "ns", "higher", "scheduling latency (runnable to running), 99th percentile",
           _trace(lambda t: t.sched_latency.p99_ns), min_effect_rel=0.20, min_effect_abs=50_000, log_scale=True),
    Metric("sched_latency.total", "ns", "higher", "total scheduling latency in the window",
           _trace(lambda t: t.sched_latency.total_ns), min_effect_rel=0.20, log_scale=True),
    Metric("utilisation", "fraction", "higher", "mean share of time the processors ran goroutines",
           _trace(lambda t: t.utilisation), min_effect_rel=0.05, min_effect_abs=0.02),
    Metric("gc_share", "fraction", "higher", "share of the window with a GC cycle running",
           _trace(lambda t: t.gc_share), min_effect_rel=0.10, min_effect_abs=0.02),
    Metric("latency.p50", "ms", "higher", "request latency, median", _load(_ms(50)),
           min_effect_rel=0.10, min_effect_abs=0.05, log_scale=True),
    Metric("latency.p99", "ms", "higher", "request latency, 99th percentile", _load(_ms(99)),
           min_effect_rel=0.20, min_effect_abs=0.2, log_scale=True),
    Metric("throughput", "req/s", "lower", "completed requests per second", _load(lambda ld: ld.requests_per_second),
           min_effect_rel=0.05, log_scale=True),
    Metric("cpu_per_request", "ms", "higher", "CPU time (profile samples) per completed request",
           lambda r: _cpu_per_request(r, None), min_effect_rel=0.05, log_scale=True),
    Metric("proc_cpu_per_request", "ms", "higher",
           "the service process's CPU time (kernel accounting, exact) per completed request",
           lambda r: None if r.process_cpu_ns is None or r.load is None or r.load.completed == 0
           else r.process_cpu_ns / 1e6 / r.load.completed, min_effect_rel=0.05, log_scale=True,
           paired_min_effect_rel=PAIRED_PROC_CPU_FLOOR),
    Metric("errors", "requests", "higher", "failed requests (no HTTP response) in the window",
           lambda r: None if r.load is None else float(r.load.failed), exact=True),
    Metric("goroutines.delta", "goroutines", "higher", "goroutines alive at the end minus at the start of the window",
           lambda r: float(r.goroutine_delta), exact=True, min_effect_abs=0),
]

def _cpu_per_request(r: Round, which: str | None) -> float | None:
    if r.cpu is None or r.load is None or r.load.completed == 0 or r.cpu.unit != "nanoseconds":
        return None
    ns = r.cpu.total if which is None else r.cpu.value(which)
    return ns / 1e6 / r.load.completed


CATALOGUE: dict[str, Metric] = {m.name: m for m in _FIXED}
_CLASSES = ("user", "stdlib", "runtime", "module", "syscall")

# Annotation families: family -> (annotation kind, statistic).
_ANNOTATION_FAMILIES: dict[str, tuple[Literal["region", "task", "log"], str]] = {
    "region_p50": ("region", "p50"), "region_p99": ("region", "p99"), "region_count": ("region", "count"),
    "task_p50": ("task", "p50"), "task_p99": ("task", "p99"), "task_count": ("task", "count"),
    "log_count": ("log", "count"),
}
_NOUNS = {"region": "regions", "task": "tasks of type", "log": "log entries of category"}
_PARAMETER = {"region": "name", "task": "type", "log": "category"}


def _nearest_rank_ms(d: np.ndarray, q: float) -> float:
    import numpy as np

    s = np.sort(d)
    return float(s[min(s.size - 1, max(0, int(np.ceil(q * s.size)) - 1))]) / 1e6


def _annotation_metric(name: str, family: str, arg: str) -> Metric:
    kind, stat = _ANNOTATION_FAMILIES[family]

    def read(r: Round) -> float | None:
        if r.trace is None:
            return None
        a = r.trace.annotations
        if stat == "count" or kind == "log":
            return float(a.count(kind, arg))
        d = a.durations(kind, arg)
        return _nearest_rank_ms(d, 0.5 if stat == "p50" else 0.99) if d.size else None

    def check(rounds: Sequence[Round]) -> None:
        from ..analysis.annotations import unknown_name

        traced = [r.trace.annotations for r in rounds if r.trace is not None]
        if not traced or any(a.matching(kind, arg) for a in traced):
            if traced and stat != "count" and not any(a.count(kind, arg) for a in traced):
                cut = sum(a.summary(kind)[n].open for a in traced for n in a.matching(kind, arg))
                raise UsageError(
                    f"{name}: {_NOUNS[kind]} {arg!r} occurred, but none completed inside a window "
                    f"({cut} cut by the window's edges): lengthen the window")
            return
        seen: dict[str, int] = {}
        for a in traced:
            for n, c in a.names(kind).items():
                seen[n] = seen.get(n, 0) + c
        raise unknown_name(kind, arg, name, seen, where=f"the traces of {len(traced)} round(s)")

    what = {"p50": "median duration", "p99": "99th-percentile duration", "count": "number"}[stat]
    if stat == "count":
        return Metric(name, "count", "higher", f"{what} of {_NOUNS[kind]} {arg} completed in the window",
                      read, min_effect_rel=0.10, min_effect_abs=1.0, check=check)
    p99 = stat == "p99"
    return Metric(name, "ms", "higher", f"{what} of the {_NOUNS[kind]} {arg} completed in the window", read,
                  # regions can be microseconds long: the absolute floors are 1 us (p50) and 5 us (p99)
                  min_effect_rel=0.10 if p99 else 0.05, min_effect_abs=0.005 if p99 else 0.001, log_scale=True,
                  check=check)


def get_metric(name: str) -> Metric:
    """The metric called ``name``, including the parameterised families."""
    if name in CATALOGUE:
        return CATALOGUE[name]
    family, _, arg = name.partition(":")
    if arg:
        if family in _ANNOTATION_FAMILIES:
            return _annotation_metric(name, family, arg)
        if family in ("hot_share", "hot_share_cum"):
            cum = family == "hot_share_cum"
            return Metric(
                name, "fraction", "higher",
                f"{'cumulative' if cum else 'flat'} share of CPU samples in {arg}",
                lambda r: None if r.cpu is None else r.cpu.hot_share(arg, cum=cum),
                min_effect_rel=0.03, min_effect_abs=0.005,  # a share is diluted: 5 % more own CPU at s=0.4 is +3 %
            )
        if family == "cpu_per_request":
            return Metric(
                name, "ms", "higher", f"flat CPU time of {arg} per completed request",
                lambda r: _cpu_per_request(r, arg), min_effect_rel=0.05, log_scale=True,
            )
        if family == "class_share" and arg in _CLASSES:
            cls = cast("FunctionClass", arg)
            return Metric(
                name, "fraction", "higher", f"share of CPU samples in {arg} code",
                lambda r: None if r.cpu is None else r.cpu.class_share(cls),
                min_effect_rel=0.05, min_effect_abs=0.01,
            )
    known = ", ".join(sorted(CATALOGUE))
    raise ConfigError(
        f"unknown metric {name!r}: use one of {known}, hot_share:<function>, hot_share_cum:<function>, "
        f"cpu_per_request:<function>, class_share:<{'|'.join(_CLASSES)}>, "
        f"{', '.join(f'{f}:<{_PARAMETER[k]}>' for f, (k, _) in _ANNOTATION_FAMILIES.items())}"
    )
