"""``goperf analyze TRACE``: the metrics of one trace as stable JSON and as text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .trace_metrics import TraceMetrics, compute_metrics

__all__ = ["TraceSummary", "summarize"]

#: Bump when a key of ``to_json`` changes meaning or disappears (adding keys does not).
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """What ``goperf analyze`` prints for an execution trace."""

    metrics: TraceMetrics

    def to_json(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "kind": "trace",
            "schema": SCHEMA_VERSION,
            "go_version": m.go_version,
            "duration_ns": m.duration_ns,
            "gomaxprocs": m.gomaxprocs,
            "generations": m.generations,
            "runnable": m.runnable.to_json(),
            "runnable_per_p": m.runnable_per_p.to_json(),
            "sched_latency": m.sched_latency.to_json(),
            "start_latency": m.start_latency.to_json(),
            "procs": [{"proc": p.proc, "busy_ns": p.busy_ns, "share": p.share} for p in m.procs],
            "utilisation": m.utilisation,
            "goroutines": {"created": m.goroutines_created, "ended": m.goroutines_ended,
                           "alive_at_end": m.goroutines_alive_at_end},
            "blocked_ns": m.blocked_ns.to_json(),
            "gc": {"ns": m.gc_ns, "share": m.gc_share},
            "stw": {"ns": m.stw_ns, "share": m.stw_share},
            "cpu_samples": len(m.cpu_samples),
            "transitions": dict(m.transitions),
            **m.annotations.to_json(),
            **({} if m.wakeups is None else {"wakeups": m.wakeups.to_json()}),
        }

    def to_text(self) -> str:
        """The text rendering."""
        from ..report.text import trace_summary_text

        return trace_summary_text(self)

def summarize(data: bytes, *, wakeups: bool = False) -> TraceSummary:
    """Read a trace's bytes and summarise its scheduler metrics (``goperf analyze``; ``--wakeups`` adds who woke whom)."""
    return TraceSummary(compute_metrics(data, wakeups=wakeups))
