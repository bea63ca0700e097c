"""Execution traces: an independent reader of the Go 1.22-1.27 trace format and scheduler metrics.

Public API::

    metrics = compute_metrics(open("trace.out", "rb").read())
    metrics.runnable.p99, metrics.sched_latency.p99_ns, metrics.cpu_samples

    for ev in TraceReader(data).events(): ...   # GoTransition, ProcTransition, CPUSample, ...

``summarize(data)`` is what ``goperf analyze`` calls.
"""

from .assertions import assert_runnable_below, assert_sched_latency_below, assert_utilisation_below
from .metrics import (
    BlockedTime,
    LatencyStats,
    ProcUtilisation,
    RunnableStats,
    SchedLatency,
    StackLatency,
    TraceMetrics,
    compute_metrics,
)
from .reader import (
    CPUSample,
    Frame,
    GoTransition,
    LabelEvent,
    LogEvent,
    MetricEvent,
    ProcTransition,
    RangeEvent,
    RegionEvent,
    SyncEvent,
    TaskEvent,
    TraceEvent,
    TraceReader,
)
from .summary import TraceSummary, summarize

__all__ = [
    "BlockedTime",
    "CPUSample",
    "Frame",
    "GoTransition",
    "LabelEvent",
    "LatencyStats",
    "LogEvent",
    "MetricEvent",
    "ProcTransition",
    "ProcUtilisation",
    "RangeEvent",
    "RegionEvent",
    "RunnableStats",
    "SchedLatency",
    "StackLatency",
    "SyncEvent",
    "TaskEvent",
    "TraceEvent",
    "TraceMetrics",
    "TraceReader",
    "TraceSummary",
    "assert_runnable_below",
    "assert_sched_latency_below",
    "assert_utilisation_below",
    "compute_metrics",
    "summarize",
]
