"""Terminal text: every table and message goperf prints, from records.

The one home of the text renderings: the gate's table, the leak report, the
triage table, the ``goperf analyze`` summaries, a profile's top functions and
the load result. Records keep a ``to_text()``/``__str__`` that calls these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..comparison.status import Status
from ._gate_cells import VERDICT, header, rows

if TYPE_CHECKING:
    from ..analysis.annotations import UserAnnotations
    from ..analysis.functions import FunctionTable
    from ..analysis.goroutine_summary import GoroutineSummary
    from ..analysis.leaks import LeakReport
    from ..analysis.profile_summary import ProfileSummary
    from ..analysis.trace_summary import TraceSummary
    from ..analysis.triage.findings import GoroutineStory, Triage
    from ..analysis.wakeups import Wakeups
    from ..baseline.store import TestBaseline
    from ..comparison.verdict import RunEvaluation
    from ..formats.symbols import Frame
    from ..load.result import LoadResult

__all__ = [
    "baseline_environment_line",
    "baseline_text",
    "finding_value",
    "format_top",
    "format_value",
    "gate_lines",
    "gate_mode_line",
    "goroutine_summary_text",
    "leak_report_text",
    "load_text",
    "number_text",
    "profile_summary_text",
    "regression_text",
    "story_parts",
    "text_table",
    "trace_summary_text",
    "triage_text",
]

#: Goroutine clusters listed under the triage table.
CLUSTERS_SHOWN = 8


# ------------------------------------------------------------------------------------------- gate

def gate_mode_line(ev: RunEvaluation) -> str:
    """What the gate compared with: the base of the same run, or the stored baselines."""
    if ev.mode == "compare" and ev.base is not None:
        return (f"goperf gate: same-run comparison with the base {ev.base.describe()} ({ev.base.schedule} "
                "schedule; each pair of rounds compared, signed-rank test)")
    return "goperf gate: comparison with the stored baselines (Mann-Whitney test)"


def _verdict_counts(ev: RunEvaluation) -> str:
    res = ev.result
    counts = {s: sum(1 for v in res.verdicts if v.status is s) for s in Status}
    missing = "no base" if ev.mode == "compare" else "no baseline"
    share = f" shared by {ev.share} measuring tests" if ev.share > 1 else ""
    return (
        f"gate: {counts[Status.REGRESSED]} regressed, {counts[Status.IMPROVED]} improved, "
        f"{counts[Status.UNCHANGED]} unchanged, {counts[Status.NOT_ENOUGH_DATA]} not enough data, "
        f"{counts[Status.NO_BASELINE]} {missing}; {res.family_size} comparison(s) under "
        f"{'Benjamini-Hochberg' if res.method == 'bh' else 'Holm'} at alpha {res.alpha:g}{share}"
    )


def gate_lines(ev: RunEvaluation) -> list[str]:
    """The summary table for the terminal, regressions first, then notes and warnings."""
    order = {Status.REGRESSED: 0, Status.IMPROVED: 1, Status.NOT_ENOUGH_DATA: 2, Status.UNCHANGED: 3}
    compared = [r for r in rows(ev) if r[VERDICT] != Status.NO_BASELINE.value]
    lines = [gate_mode_line(ev)]
    if compared:
        lines += text_table([header(ev), *sorted(compared, key=lambda r: (order.get(Status(r[VERDICT]), 9), r[0], r[1]))])
    res = ev.result
    missing = [v for v in res.verdicts if v.status is Status.NO_BASELINE]
    if missing:
        tests = sorted({v.test or "" for v in missing})
        which = f"{len(missing)} metric(s) of {len(tests)} test(s) ({', '.join(tests[:3])}{' ...' if len(tests) > 3 else ''})"
        if ev.mode == "compare":
            why = sorted({v.reason.removeprefix("no base: ") for v in missing})
            lines.append(f"no base for {which}: {'; '.join(why)}")
        else:
            lines.append(f"no baseline for {which}: record them with `pytest --goperf-update-baselines`")
    lines.append("")
    lines.append(_verdict_counts(ev))
    for v in res.regressions:
        lines.append(f"REGRESSED {v.test} {v.metric}: {v.reason}")
    for note in res.notes:
        lines.append(f"note: {note}")
    for w in ev.warnings:
        lines.append(f"warning: {w}")
    return lines


def regression_text(ev: RunEvaluation) -> str:
    """The failure message of a test whose measurements regressed: what, by how much, against what."""
    regressions = ev.result.regressions
    against = f"the base {ev.base.describe()}" if ev.mode == "compare" and ev.base is not None else "its stored baseline"
    lines = [f"{len(regressions)} metric(s) regressed against {against}:"]
    for v in regressions:
        lines.append(f"  {v.metric}: {v.reason}")
    lines.append(f"({_verdict_counts(ev)})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ leaks

def _where(frame: Frame) -> str:
    return f"{frame.file}:{frame.line}" if frame.file else "?"


def leak_report_text(report: LeakReport, max_frames: int = 6, max_groups: int = 20) -> str:
    """The failure message: leaked goroutines grouped by creation site and stack."""
    n = len(report.leaks)
    proven = sum(1 for g in report.leaks if g.id in report.proven_ids)
    if report.leak_profile:
        verdict = f"{proven} proven by the Go runtime's leak detector, {n - proven} suspected"
    else:
        verdict = "suspected: " + _no_leak_profile(report.go_version)
    lines = [
        f"{n} goroutine{'s' if n != 1 else ''} leaked: started during the block and still alive after settling "
        f"for {report.settle_seconds:.1f} s ({verdict})",
    ]
    if report.discounted:
        lines.append("not counted as leaks: " + "; ".join(
            f"{d.count} goroutine{'s' if d.count != 1 else ''} {d.description}" for d in report.discounted))
    groups = report.groups
    for grp in groups[:max_groups]:
        kind = ""
        if report.leak_profile:
            kind = "proven" if grp.proven == grp.count else "suspected" if grp.proven == 0 else f"{grp.proven} proven"
            kind = f", {kind}"
        wait = f", waiting {grp.max_wait_minutes}+ min" if grp.max_wait_minutes else ""
        ids = ", ".join(str(i) for i in grp.ids[:8]) + (" ..." if len(grp.ids) > 8 else "")
        lines.append("")
        lines.append(f"  {grp.count} x [{grp.state}]{wait}{kind}  (goroutine {ids})")
        if grp.labels:
            lines.append("    labels: " + ", ".join(f"{k}={v}" for k, v in grp.labels))
        for f in grp.frames[:max_frames]:
            lines.append(f"    {f.function}")
            lines.append(f"        {_where(f)}")
        if len(grp.frames) > max_frames:
            lines.append(f"    ... {len(grp.frames) - max_frames} more frames")
        if grp.created_by is not None:
            lines.append(f"    created by {grp.created_by.function}")
            lines.append(f"        {_where(grp.created_by)}")
    if len(groups) > max_groups:
        lines.append(f"\n  ... and {len(groups) - max_groups} more groups")
    if report.dump_paths:
        lines.append("")
        lines.append("dumps: " + ", ".join(str(p) for p in report.dump_paths))
    return "\n".join(lines)


def _no_leak_profile(go_version: str | None) -> str:
    """Why a service has no goroutineleak profile, in the words its Go version calls for."""
    from ..analysis.go_runtime import go_minor

    minor = go_minor(go_version) if go_version else None
    if minor is None:
        return "the service serves no goroutineleak profile (Go 1.27+, or 1.26 built with GOEXPERIMENT=goroutineleakprofile)"
    if minor >= 27:
        return (f"the service ({go_version}) does not serve /debug/pprof/goroutineleak: register pprof.Index on "
                "/debug/pprof/ (it serves every profile), not only some pprof handlers")
    if minor == 26:
        return (f"the service ({go_version}) was built without GOEXPERIMENT=goroutineleakprofile, "
                "which Go 1.26 needs for the goroutineleak profile")
    return f"{go_version} has no goroutineleak profile (Go 1.27+, or 1.26 with GOEXPERIMENT=goroutineleakprofile)"


# ----------------------------------------------------------------------------------------- triage

def finding_value(v: float) -> str:
    if abs(v) >= 100 or (v == int(v) and abs(v) >= 1):
        return f"{v:.0f}"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.3g} ms" if ns < 1e9 else f"{ns / 1e9:.3g} s"


def story_parts(s: GoroutineStory, *, text: Callable[[str], str] = str, code: Callable[[str], str] = str) -> list[str]:
    """What one goroutine's story says, part by part; ``text`` and ``code`` quote names for the medium (HTML)."""
    parts = []
    if s.state is not None:
        parts.append(f"[{text(s.state)}{', leaked' if s.leaked else ''}] at the end")
    if s.created_ns is not None:
        who = f" by goroutine {s.creator}" if s.creator is not None else ""
        where = f" at {code(s.creator_stack[0])}" if s.creator_stack else ""
        parts.append(f"created {_ms(s.created_ns)} into the window{who}{where}")
    elif s.created_by:
        parts.append(f"created by {code(s.created_by)}")
    if s.state_ns:
        parts.append(", ".join(f"{text(k)} {_ms(v)}" for k, v in s.state_ns))
    if s.cpu_samples:
        parts.append(f"{s.cpu_samples} CPU samples")
    return parts


def _story_line(s: GoroutineStory) -> str:
    return "; ".join(story_parts(s))


def triage_text(triage: Triage) -> str:
    """The root-cause table, then each finding's evidence."""
    out = [f"goperf triage of {triage.source}"]
    head = []
    if triage.seconds:
        head.append(f"window {triage.seconds:g} s")
    if triage.gomaxprocs:
        head.append(f"GOMAXPROCS {triage.gomaxprocs}")
    if triage.cpu_utilisation is not None:
        head.append(f"CPU {triage.cpu_utilisation:.0%} of the processors")
    head.append(f"{triage.goroutine_count} goroutines")
    out.append(", ".join(head))
    out.append("")
    if not triage.findings:
        out.append("no finding: nothing above its threshold in this window")
    else:
        rows = [("#", "level", "finding", "value", "evidence")]
        for i, f in enumerate(triage.findings, 1):
            rows.append((str(i), f.level, f.title, finding_value(f.value), f.summary))
        widths = [max(len(r[k]) for r in rows) for k in range(4)]
        for r in rows:
            out.append("  ".join(r[k].ljust(widths[k]) for k in range(4)) + "  " + r[4])
    for i, f in enumerate(triage.findings, 1):
        out.append("")
        out.append(f"{i}. [{f.level}] {f.title}: {f.summary}")
        for e in f.evidence:
            out.append(f"   {e.label}: {e.value}")
        for s in f.stories:
            out.append(f"   goroutine {s.id}: {_story_line(s)}")
        out.append(f"   what to do: {f.advice}")
    if triage.clusters:
        out.append("")
        out.append("goroutine clusters (end dump, largest first):")
        for c in triage.clusters[:CLUSTERS_SHOWN]:
            extra = []
            if c.max_wait_minutes:
                extra.append(f"waiting up to {c.max_wait_minutes} min")
            if c.grew:
                extra.append(f"grew by {c.grew}" if c.grew > 0 else f"shrank by {-c.grew}")
            if c.leaked:
                extra.append(f"{c.leaked} leaked")
            created = f" <- {c.created_by.split(' ')[0]}" if c.created_by else ""
            out.append(f"  {c.count:6d}  [{c.state}] {c.top_function}{created}"
                       + (f" ({', '.join(extra)})" if extra else ""))
    for n in triage.notes:
        out.append(f"note: {n}")
    return "\n".join(out)


# ------------------------------------------------------------------------- goperf analyze summaries

def goroutine_summary_text(summary: GoroutineSummary) -> str:
    """A readable table: totals, counts per state, then one line per group."""
    head = f"{summary.total} goroutines ({summary.format}"
    head += f", {summary.profile} profile)" if summary.profile else ")"
    if summary.leaked:
        head += f", {summary.leaked} leaked"
    out = [head]
    if summary.message:
        out.append(summary.message.split("\n", 1)[0])
    if summary.by_state:
        out.append("by state: " + ", ".join(f"{s} {c}" for s, c in summary.by_state))
    out.append("")
    rows = [("COUNT", "STATE", "TOP FUNCTION", "CREATED BY")]
    for g in summary.groups:
        cb = g.created_by
        where = f"{cb.function} ({cb.file.rsplit('/', 1)[-1]}:{cb.line})" if cb else "-"
        state = g.state + (f" ({g.leaked} leaked)" if g.leaked else "")
        rows.append((str(g.count), state, g.top_function or "-", where))
    for sg in summary.stack_groups:
        labels = ", ".join(f"{k}={v}" for k, v in sg.labels)
        rows.append((str(sg.count), "-", sg.top_function or "-", labels))
    if summary.stack_groups:
        rows[0] = ("COUNT", "STATE", "TOP FUNCTION", "LABELS")
    widths = [max(len(r[k]) for r in rows) for k in range(3)]
    for r in rows:
        out.append(f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip())
    return "\n".join(out)


def trace_summary_text(summary: TraceSummary) -> str:
    m = summary.metrics
    r, s, c = m.runnable, m.sched_latency, m.start_latency
    lines = [
        f"execution trace (format go {m.go_version}), {m.duration_ns / 1e6:.1f} ms, GOMAXPROCS {m.gomaxprocs}, "
        f"{m.generations} generation(s)",
        f"runnable goroutines: mean {r.mean:.2f}  p50 {r.p50:g}  p95 {r.p95:g}  p99 {r.p99:g}  max {r.max:g}  "
        f"(per P: mean {m.runnable_per_p.mean:.2f}, p99 {m.runnable_per_p.p99:.2f})",
        f"scheduling latency: {s.count} waits, total {_ms_2f(s.total_ns)}, p50 {_us_1f(s.p50_ns)}  p90 {_us_1f(s.p90_ns)}  "
        f"p99 {_us_1f(s.p99_ns)}  max {_us_1f(s.max_ns)}",
        f"creation to first run: {c.count} goroutines, p50 {_us_1f(c.p50_ns)}  p99 {_us_1f(c.p99_ns)}  "
        f"max {_us_1f(c.max_ns)}",
        "processors busy: " + "  ".join(f"P{p.proc} {p.share:.0%}" for p in m.procs),
        f"goroutines: {m.goroutines_created} created, {m.goroutines_ended} ended, "
        f"{m.goroutines_alive_at_end} alive at end",
        "blocked (goroutine-time): " + "  ".join(
            f"{k} {_ms_2f(v)}" for k, v in m.blocked_ns.to_json().items() if v),
        f"GC {m.gc_share:.1%} of the window, stop-the-world {m.stw_share:.2%}; {len(m.cpu_samples)} CPU samples",
    ]
    if s.top_stacks:
        lines.append("scheduling latency by stack that made the goroutine runnable:")
        for st in s.top_stacks:
            head = st.stack[0].function if st.stack else "(no stack: woken by the scheduler, netpoller or timer)"
            lines.append(f"  {st.share:6.1%}  {_ms_2f(st.total_ns):>10}  {st.count:6d}x  {head}")
    lines += annotation_lines(m.annotations)
    if m.wakeups is not None:
        lines += wakeup_lines(m.wakeups)
    return "\n".join(lines)


def annotation_lines(a: UserAnnotations) -> list[str]:
    """The user regions, tasks and logs of a trace, one name a line (nothing when it has none)."""
    from ..analysis.wakeups import duration_text

    lines = []
    for kind, title in (("region", "user regions"), ("task", "user tasks")):
        summary = a.summary(kind)  # type: ignore[arg-type]
        if not summary:
            continue
        cut = sum(x.open for x in summary.values())
        lines.append(f"{title} (completed in the window; {cut} cut by its edges are not counted):")
        width = max(len(n) for n in summary)
        for name, x in summary.items():
            lines.append(f"  {name:<{width}}  {x.count:6d}x  p50 {duration_text(x.p50_ns)}  "
                         f"p99 {duration_text(x.p99_ns)}  max {duration_text(x.max_ns)}"
                         + (f"  ({x.open} cut)" if x.open else ""))
    if a.logs:
        lines.append("user logs by category: " + "  ".join(f"{c} {n}" for c, n in sorted(a.logs.items())))
    return lines


def wakeup_lines(w: Wakeups, n: int = 8) -> list[str]:
    """The top blocker -> waker pairs of a trace."""
    from ..analysis.wakeups import duration_text

    lines = [f"wake-ups: {w.count} blocking episodes in the window, total {duration_text(w.total_ns)} "
             f"({w.open_at_start} already blocked at the start and {w.still_blocked} still blocked at the end "
             "not counted); top blocker -> waker pairs by total wait:"]
    lines += [f"  {p.describe()}" for p in w.pairs[:n]]
    return lines


def _ms_2f(ns: int) -> str:
    return f"{ns / 1e6:.2f} ms"


def _us_1f(ns: int) -> str:
    return f"{ns / 1e3:.1f} us"


def format_value(value: int, unit: str) -> str:
    """A value in a readable unit, e.g. ``2.52s``, ``1.8MB``, ``13``."""
    if unit == "nanoseconds":
        return f"{value / 1e9:.2f}s"
    if unit == "bytes":
        for factor, suffix in ((1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB")):
            if abs(value) >= factor:
                return f"{value / factor:.1f}{suffix}"
        return f"{value}B"
    return str(value)


def format_top(table: FunctionTable, n: int = 8, *, cum: bool = False) -> str:
    """The ``n`` hottest functions, one per line: flat%, cum%, class, name."""
    lines = [f"  {'flat%':>7} {'cum%':>7}  {'class':<8} function"]
    for f in table.top(n, cum=cum):
        lines.append(f"  {f.flat_share * 100:6.2f}% {f.cum_share * 100:6.2f}%  {f.cls:<8} {f.name}")
    return "\n".join(lines)


def profile_summary_text(summary: ProfileSummary) -> str:
    p, t = summary.profile, summary.table
    lines = [
        f"Type: {p.kind} profile, sample type {t.sample_type} ({t.unit}); {len(p.samples)} samples",
        f"Total: {format_value(t.total, t.unit)}"
        + (f" in {p.duration_seconds:.2f}s" if p.duration_nanos else ""),
    ]
    if t.total:
        split = ", ".join(f"{g.key} {g.flat_share * 100:.1f}%" for g in t.by_class())
        lines.append(f"Flat split: {split}" + ("" if t.main_module else " (user = package main)"))
        for s in summary.warning_signs():
            lines.append(f"Warning: {s.title}: {s.share * 100:.1f}% of the total (cum). {s.advice}")
        lines.append(format_top(t, 20))
    else:
        lines.append("No samples with a non-zero value"
                     + (" (mutex/block profiles need runtime.SetMutexProfileFraction / "
                        "SetBlockProfileRate in the service)" if p.kind == "contentions" else ""))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- load

def load_text(result: LoadResult) -> str:
    """A short human-readable summary."""
    lat = result.latency.to_json()
    if result.model == "open":
        how = f"open model, target {result.target_rate:g} req/s"
        ratio = result.achieved_ratio or 0.0
        rate = f"{result.requests_per_second:,.1f} req/s ({ratio:.1%} of target)"
    else:
        how = f"closed model, {result.concurrency} connections"
        rate = f"{result.requests_per_second:,.1f} req/s"
    lines = [
        (
            f"load {result.target} ({how}; {result.duration:.2f} s measured after {result.warmup:g} s warm-up, "
            f"stopped by {result.stopped_by}; client {result.client})"
        ),
        f"  rate       {rate}",
        (
            f"  requests   sent {result.sent}  completed {result.completed}  failed {result.failed}  "
            f"dropped {result.dropped}  late {result.late}  (connections opened: {result.connections})"
        ),
        "  status     " + ("  ".join(f"{k}: {v}" for k, v in sorted(result.status_counts.items())) or "-"),
        (
            f"  latency    p50 {lat['p50_ms']:.3f} ms  p90 {lat['p90_ms']:.3f} ms  p99 {lat['p99_ms']:.3f} ms  "
            f"max {lat['max_ms']:.3f} ms"
        ),
    ]
    for kind, n in sorted(result.errors.items()):
        lines.append(f"  error      {kind}: {n} (e.g. {result.error_samples.get(kind, '')})")
    if len(result.by_request) > 1:
        for r in result.by_request:
            rl = r.latency.to_json()
            codes = " ".join(f"{k}:{v}" for k, v in sorted(r.status_counts.items()))
            lines.append(
                f"  {r.name:<30} completed {r.completed}  failed {r.failed}  [{codes}]  "
                f"p50 {rl['p50_ms']:.3f} ms  p99 {rl['p99_ms']:.3f} ms"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- baselines

def number_text(v: float | None) -> str:
    """A number in six significant digits, ``-`` when unknown."""
    return "-" if v is None else f"{v:.6g}"


def baseline_environment_line(tb: TestBaseline) -> str:
    """When and where a baseline was recorded, in one line."""
    parts = [f"updated {tb.updated or '?'}"]
    env = tb.environment
    if env is not None:
        if env.go_version:
            parts.append(f"Go {env.go_version}")
        if env.gomaxprocs is not None:
            parts.append(f"GOMAXPROCS {env.gomaxprocs}")
        if env.cpu_model or env.cpu_count:
            parts.append(f"{env.cpu_model or 'CPU ?'} x{env.cpu_count or '?'}")
        if env.os:
            parts.append(env.os)
        if env.build_flags:
            parts.append("flags " + " ".join(env.build_flags))
        if env.commit:
            parts.append(f"commit {env.commit[:12]}")
    return " · ".join(parts)


def text_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as left-aligned columns (the first row is the header)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]


def baseline_text(nodeid: str, tb: TestBaseline) -> str:
    """One stored test: its environment line and a row per metric."""
    lines = [nodeid, "  " + baseline_environment_line(tb)]
    rows = [["metric", "unit", "worse", "rounds", "median", "min", "max"]]
    for name, m in tb.metrics.items():
        vals = m.values
        low, high = (min(vals), max(vals)) if vals else (None, None)
        rows.append([name, m.unit, m.worse, str(len(vals)), number_text(m.median), number_text(low), number_text(high)])
    lines.extend("  " + line for line in text_table(rows))
    return "\n".join(lines)
