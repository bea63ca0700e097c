"""Assertion helpers over :class:`TraceMetrics`, usable with or without pytest.

Each raises :class:`GoperfAssertionError` whose message shows the measured value,
the limit and the window (the trace file, when there is one, opens in
``go tool trace``).
"""

from __future__ import annotations

from ..errors import GoperfAssertionError, UsageError
from .trace_metrics import TraceMetrics

__all__ = ["assert_runnable_below", "assert_sched_latency_below", "assert_utilisation_below"]


def _window(m: TraceMetrics, trace_path: str | None) -> str:
    where = f"trace {trace_path}" if trace_path else "the traced window"
    return f"{where} ({m.duration_ns / 1e6:.1f} ms, GOMAXPROCS {m.gomaxprocs}, format go {m.go_version})"


def assert_runnable_below(m: TraceMetrics, limit: float, *, stat: str = "p99", per_p: bool = False,
                          trace_path: str | None = None) -> None:
    """Fail when the runnable-goroutine statistic ``stat`` (mean, p50, p95, p99, max) exceeds ``limit``."""
    source = m.runnable_per_p if per_p else m.runnable
    if stat not in ("mean", "p50", "p95", "p99", "max"):
        raise UsageError(f"stat must be one of mean, p50, p95, p99, max; got {stat!r}")
    value = getattr(source, stat)
    if value > limit:
        what = "runnable goroutines per P" if per_p else "runnable goroutines"
        raise GoperfAssertionError(
            f"{what} {stat} = {value:.2f} exceeds the limit {limit:g} in {_window(m, trace_path)}")


def assert_sched_latency_below(m: TraceMetrics, limit_ns: int, *, stat: str = "p99_ns",
                               trace_path: str | None = None) -> None:
    """Fail when the scheduling-latency statistic ``stat`` exceeds ``limit_ns``.

    ``stat`` is one of p50_ns, p90_ns, p99_ns, max_ns, total_ns.
    """
    if stat not in ("p50_ns", "p90_ns", "p99_ns", "max_ns", "total_ns"):
        raise UsageError(f"stat must be one of p50_ns, p90_ns, p99_ns, max_ns, total_ns; got {stat!r}")
    value = getattr(m.sched_latency, stat)
    if value > limit_ns:
        top = m.sched_latency.top_stacks
        hint = ""
        if top and top[0].stack:
            hint = f"; most of it after {top[0].stack[0].function} ({top[0].share:.0%})"
        raise GoperfAssertionError(
            f"scheduling latency {stat[:-3]} = {value / 1e3:.1f} us exceeds the limit {limit_ns / 1e3:.1f} us "
            f"({m.sched_latency.count} waits) in {_window(m, trace_path)}{hint}")


def assert_utilisation_below(m: TraceMetrics, limit: float, *, trace_path: str | None = None) -> None:
    """Fail when the mean processor utilisation (0..1) exceeds ``limit``."""
    value = m.utilisation
    if value > limit:
        raise GoperfAssertionError(
            f"processor utilisation {value:.1%} exceeds the limit {limit:.1%} in {_window(m, trace_path)}")
