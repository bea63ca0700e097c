"""Execution traces: an independent reader of the Go 1.22-1.27 trace format and scheduler metrics.

Public API::

    metrics = compute_metrics(open("trace.out", "rb").read())
    metrics.runnable.p99, metrics.sched_latency.p99_ns, metrics.cpu_samples

    for ev in TraceReader(data).events(): ...   # GoTransition, ProcTransition, CPUSample, ...

``summarize(data)`` is what ``goperf analyze`` calls.
"""

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

__all__ = [
    "CPUSample",
    "Frame",
    "GoTransition",
    "LabelEvent",
    "LogEvent",
    "MetricEvent",
    "ProcTransition",
    "RangeEvent",
    "RegionEvent",
    "SyncEvent",
    "TaskEvent",
    "TraceEvent",
    "TraceReader",
]
