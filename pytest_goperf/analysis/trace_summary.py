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
        }

    def to_text(self) -> str:
        m = self.metrics
        r, s, c = m.runnable, m.sched_latency, m.start_latency
        lines = [
            f"execution trace (format go {m.go_version}), {m.duration_ns / 1e6:.1f} ms, GOMAXPROCS {m.gomaxprocs}, "
            f"{m.generations} generation(s)",
            f"runnable goroutines: mean {r.mean:.2f}  p50 {r.p50:g}  p95 {r.p95:g}  p99 {r.p99:g}  max {r.max:g}  "
            f"(per P: mean {m.runnable_per_p.mean:.2f}, p99 {m.runnable_per_p.p99:.2f})",
            f"scheduling latency: {s.count} waits, total {_ms(s.total_ns)}, p50 {_us(s.p50_ns)}  p90 {_us(s.p90_ns)}  "
            f"p99 {_us(s.p99_ns)}  max {_us(s.max_ns)}",
            f"creation to first run: {c.count} goroutines, p50 {_us(c.p50_ns)}  p99 {_us(c.p99_ns)}  "
            f"max {_us(c.max_ns)}",
            "processors busy: " + "  ".join(f"P{p.proc} {p.share:.0%}" for p in m.procs),
            f"goroutines: {m.goroutines_created} created, {m.goroutines_ended} ended, "
            f"{m.goroutines_alive_at_end} alive at end",
            "blocked (goroutine-time): " + "  ".join(
                f"{k} {_ms(v)}" for k, v in m.blocked_ns.to_json().items() if v),
            f"GC {m.gc_share:.1%} of the window, stop-the-world {m.stw_share:.2%}; {len(m.cpu_samples)} CPU samples",
        ]
        if s.top_stacks:
            lines.append("scheduling latency by stack that made the goroutine runnable:")
            for st in s.top_stacks:
                head = st.stack[0].function if st.stack else "(no stack: woken by the scheduler, netpoller or timer)"
                lines.append(f"  {st.share:6.1%}  {_ms(st.total_ns):>10}  {st.count:6d}x  {head}")
        return "\n".join(lines)


def _ms(ns: int) -> str:
    return f"{ns / 1e6:.2f} ms"


def _us(ns: int) -> str:
    return f"{ns / 1e3:.1f} us"


def summarize(data: bytes) -> TraceSummary:
    """Read a trace's bytes and summarise its scheduler metrics (``goperf analyze``)."""
    return TraceSummary(compute_metrics(data))
