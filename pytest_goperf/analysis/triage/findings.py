"""The findings engine: pure functions from one window's records to ranked findings with evidence.

Input: one window, as raw bytes (:class:`~pytest_goperf.formats.window.RawWindow`)
or already analysed (:class:`~pytest_goperf.analysis.window.WindowAnalysis`,
with its timeline). Output: a :class:`Triage` with the goroutine clusters, every
rule's measured value, and the findings above ``info``, most likely root
cause first (level, then how far past its error threshold), each with its
evidence and the stories of a few goroutines aligned between the dump and
the trace by goroutine id.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import UsageError
from ...formats.goroutines import Goroutine
from ...formats.symbols import Frame
from ...formats.window import RawWindow
from ..classify import classify
from ..functions import FunctionTable, function_table
from ..go_runtime import (
    BLOCKED_STATES,
    LOCK_FRAMES,
    LOCK_STATES,
    LOCK_WAIT_REASONS,
    SIGNAL_FUNCTIONS,
    is_lock_frame,
    is_lock_handoff,
)
from ..groups import by_stack_prefix, group_goroutines
from ..timeline import TraceTimeline, _Goroutines
from ..trace_metrics import TraceMetrics
from ..wakeups import WakeupPair
from ..window import WindowAnalysis, analyse_window
from .rules import (
    LOCK_WAKEUP_SHARE,
    MIN_CPU_SAMPLES,
    MIN_CPU_UTILISATION,
    RULES,
    Level,
    Rule,
    level_rank,
)

__all__ = ["Cluster", "Evidence", "Finding", "GoroutineStory", "Measure", "Triage", "analyse"]

#: Frames that pick the goroutines shown for allocation and lock findings.
ALLOC_FUNCTIONS = ("runtime.mallocgc",)
LOCK_FUNCTIONS = ("sync.(*Mutex).lockSlow", "internal/sync.(*Mutex).lockSlow", "sync.(*Mutex).Lock",
                  "internal/sync.(*Mutex).Lock")
LOCK_PATTERN = "re:" + LOCK_FRAMES
STORIES = 3  # goroutines shown per finding
SPIN_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class Evidence:
    """One line of evidence: what was measured and its value, in words."""

    label: str
    value: str


@dataclass(frozen=True, slots=True)
class GoroutineStory:
    """One goroutine seen from both sides: the dump at the end, and the trace over the window.

    Times are ns from the trace start. Fields of a side that did not see the
    goroutine stay empty (``None``/``()``).
    """

    id: int
    state: str | None = None  # in the end dump
    wait_minutes: int = 0
    leaked: bool = False
    stack: tuple[str, ...] = ()  # "function file:line", innermost first (dump)
    created_by: str | None = None  # the dump's "created by" frame
    created_ns: int | None = None  # trace: when it was created (None: before the window)
    creator: int | None = None  # trace: the goroutine that created it
    creator_stack: tuple[str, ...] = ()
    state_ns: tuple[tuple[str, int], ...] = ()  # trace: time in each state
    changes: tuple[tuple[int, str, str], ...] = ()  # trace: (t, new state, reason), first ones
    cpu_samples: int = 0


@dataclass(frozen=True, slots=True)
class Cluster:
    """Goroutines of the end dump with the same state, innermost frames and creator."""

    state: str
    count: int
    top_function: str
    stack: tuple[str, ...]
    created_by: str | None
    ids: tuple[int, ...]
    max_wait_minutes: int
    leaked: int
    grew: int | None  # count minus the same cluster's count in the start dump (None: no start dump)
    ran_ns: int | None  # trace: running time summed over members (None: no trace)
    cpu_samples: int


@dataclass(frozen=True, slots=True)
class Measure:
    """A rule's value on this window, whatever its level."""

    key: str
    value: float
    level: Level
    warning: float
    error: float


@dataclass(frozen=True, slots=True)
class Finding:
    """A probable cause: its level, the measured value against its thresholds, and the evidence."""

    key: str
    title: str
    level: Level
    value: float
    warning: float
    error: float
    summary: str
    advice: str
    evidence: tuple[Evidence, ...] = ()
    goroutine_ids: tuple[int, ...] = ()
    stacks: tuple[tuple[str, ...], ...] = ()
    stories: tuple[GoroutineStory, ...] = ()

    @property
    def score(self) -> float:
        """How far past its error threshold (1.0 = at it): orders findings of one level."""
        return self.value / self.error if self.error else self.value


@dataclass(frozen=True)
class Triage:
    """Everything triage concluded about one window."""

    source: str
    seconds: float | None
    gomaxprocs: int | None
    cpu_utilisation: float | None  # CPU profile time / (window x processors)
    metrics: TraceMetrics | None
    timeline: TraceTimeline | None
    cpu: FunctionTable | None
    goroutine_count: int
    clusters: tuple[Cluster, ...]
    measures: tuple[Measure, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = field(default=RULES, repr=False)

    @property
    def worst_level(self) -> Level | None:
        """The highest level among the findings, None when there are none."""
        return max((f.level for f in self.findings), key=level_rank, default=None)

    def above(self, level: str) -> tuple[Finding, ...]:
        """The findings strictly above ``level``."""
        return tuple(f for f in self.findings if level_rank(f.level) > level_rank(level))

    def to_text(self) -> str:
        """The root-cause table, then each finding's evidence (:func:`pytest_goperf.report.text.triage_text`)."""
        from ...report.text import triage_text

        return triage_text(self)

    def to_json(self) -> dict[str, Any]:
        """Stable keys, documented in docs/triage.md."""
        m = self.metrics
        return {
            "kind": "triage",
            "source": self.source,
            "seconds": self.seconds,
            "gomaxprocs": self.gomaxprocs,
            "cpu_utilisation": self.cpu_utilisation,
            "goroutines": self.goroutine_count,
            "worst_level": self.worst_level,
            "findings": [_finding_json(f) for f in self.findings],
            "measures": {x.key: {"value": x.value, "level": x.level, "warning": x.warning, "error": x.error}
                         for x in self.measures},
            "clusters": [_cluster_json(c) for c in self.clusters],
            "trace": None if m is None else {
                "go_version": m.go_version, "duration_ns": m.duration_ns, "runnable": m.runnable.to_json(),
                "runnable_per_p": m.runnable_per_p.to_json(), "sched_latency": m.sched_latency.to_json(),
                "gc_share": m.gc_share, "stw_share": m.stw_share, "blocked_ns": m.blocked_ns.to_json(),
                "utilisation": m.utilisation,
            },
            "cpu": None if self.cpu is None else {
                "total": self.cpu.total, "unit": self.cpu.unit,
                "by_class": {g.key: g.flat_share for g in self.cpu.by_class()},
                "top": [{"function": f.name, "class": f.cls, "flat_share": f.flat_share, "cum_share": f.cum_share}
                        for f in self.cpu.top(10)],
            },
            "wakeups": None if m is None or m.wakeups is None else m.wakeups.to_json(),
            "notes": list(self.notes),
        }


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.3g} ms" if ns < 1e9 else f"{ns / 1e9:.3g} s"


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "key": f.key, "title": f.title, "level": f.level, "value": f.value, "warning": f.warning,
        "error": f.error, "score": f.score, "summary": f.summary, "advice": f.advice,
        "evidence": [{"label": e.label, "value": e.value} for e in f.evidence],
        "goroutine_ids": list(f.goroutine_ids), "stacks": [list(s) for s in f.stacks],
        "stories": [_story_json(s) for s in f.stories],
    }


def _story_json(s: GoroutineStory) -> dict[str, Any]:
    return {
        "id": s.id, "state": s.state, "wait_minutes": s.wait_minutes, "leaked": s.leaked, "stack": list(s.stack),
        "created_by": s.created_by, "created_ns": s.created_ns, "creator": s.creator,
        "creator_stack": list(s.creator_stack), "state_ns": dict(s.state_ns),
        "changes": [list(c) for c in s.changes], "cpu_samples": s.cpu_samples,
    }


def _cluster_json(c: Cluster) -> dict[str, Any]:
    return {
        "state": c.state, "count": c.count, "top_function": c.top_function, "stack": list(c.stack),
        "created_by": c.created_by, "ids": list(c.ids[:50]), "max_wait_minutes": c.max_wait_minutes,
        "leaked": c.leaked, "grew": c.grew, "ran_ns": c.ran_ns, "cpu_samples": c.cpu_samples,
    }


# ---------------------------------------------------------------------------------------------
# Analysis.


def clusters_of(end: Sequence[Goroutine], start: Sequence[Goroutine] = (),
                timeline: TraceTimeline | None = None) -> tuple[Cluster, ...]:
    """Cluster the end dump by state, innermost frames and creator (:func:`~..groups.by_stack_prefix`); largest first."""
    before = Counter(by_stack_prefix(g) for g in start)
    out = []
    for grp in group_goroutines(end, by_stack_prefix):
        ran = None
        samples = 0
        if timeline is not None:
            ran = 0
            for gid in grp.ids:
                t = timeline.goroutines.get(gid)
                if t is not None:
                    ran += t.state_ns.get("running", 0)
                    samples += t.cpu_samples
        out.append(Cluster(
            state=grp.state, count=grp.count, top_function=grp.top_function,
            stack=tuple(str(f) for f in grp.frames[:12]),
            created_by=str(grp.created_by) if grp.created_by else None,
            ids=grp.ids, max_wait_minutes=grp.max_wait_minutes,
            leaked=grp.leaked, grew=grp.count - before.get(grp.key, 0) if start else None,
            ran_ns=ran, cpu_samples=samples,
        ))
    return tuple(out)


def _story(gid: int, dump: dict[int, Goroutine], timeline: TraceTimeline | None) -> GoroutineStory:
    g = dump.get(gid)
    t = timeline.goroutines.get(gid) if timeline is not None else None
    return GoroutineStory(
        id=gid,
        state=g.state if g else None,
        wait_minutes=g.wait_minutes if g else 0,
        leaked=g.leaked if g else False,
        stack=tuple(str(f) for f in g.frames[:10]) if g else (),
        created_by=str(g.created_by) if g and g.created_by else None,
        created_ns=t.created_ns if t else None,
        creator=t.creator if t else (g.parent_id if g else None),
        creator_stack=tuple(f"{f.function} {f.file}:{f.line}" for f in t.creator_stack[:6]) if t else (),
        state_ns=tuple(sorted(t.state_ns.items(), key=lambda kv: -kv[1])) if t else (),
        changes=tuple(t.changes[:24]) if t else (),
        cpu_samples=t.cpu_samples if t else 0,
    )


def _level(rule: Rule, value: float) -> Level:
    if value >= rule.error:
        return "error"
    if value >= rule.warning:
        return "warning"
    return "info"


def _samples_by_goroutine(metrics: TraceMetrics | None, functions: Iterable[str]) -> list[int]:
    """Goroutine ids ordered by how many of the trace's CPU samples have one of ``functions`` on the stack."""
    if metrics is None:
        return []
    names = set(functions)
    counts: dict[int, int] = {}
    for s in metrics.cpu_samples:
        if s.goroutine >= 0 and any(f.function in names for f in s.stack):
            counts[s.goroutine] = counts.get(s.goroutine, 0) + 1
    return [g for g, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def analyse(window: RawWindow | WindowAnalysis, *, rules: Sequence[Rule] = RULES,
            main_module: str | None = None) -> Triage:
    """Analyse one window: its bytes (read here, with the trace's timeline) or its records."""
    if isinstance(window, RawWindow):
        window = analyse_window(window, main_module=main_module, timeline=True, wakeups=True)
    elif window.trace is not None and window.timeline is None:
        raise UsageError("triage needs the trace's timeline: analyse the window with analyse_window(raw, timeline=True)")
    inp = window
    raw = window.raw
    notes = list(raw.notes)
    metrics = window.trace
    timeline = window.timeline
    cpu = window.cpu
    main_module = window.main_module if main_module is None else main_module
    if cpu is not None:
        profile_seconds = window.cpu_seconds or raw.seconds
    else:
        profile_seconds = raw.seconds or (metrics.duration_ns / 1e9 if metrics else None)
    if cpu is None and metrics is not None and metrics.cpu_samples:
        notes.append("no CPU profile: hot functions come from the execution trace's CPU samples")
        cpu = function_table((([f.function for f in s.stack], 1) for s in metrics.cpu_samples if s.stack),
                             main_module=main_module, sample_type="samples", unit="count")
    gomaxprocs = metrics.gomaxprocs if metrics is not None else None
    utilisation = None
    if cpu is not None and cpu.unit == "nanoseconds" and profile_seconds:
        utilisation = cpu.total / (profile_seconds * 1e9 * (gomaxprocs or 1))
    elif metrics is not None:
        utilisation = metrics.utilisation

    dump = {g.id: g for g in inp.goroutines_end}
    lock_floor: Level = "info"
    clusters = clusters_of(inp.goroutines_end, inp.goroutines_start, timeline)
    by_key = {r.key: r for r in rules}
    found: list[Finding] = []
    measures: list[Measure] = []

    def add(key: str, value: float, summary: str, evidence: list[Evidence], ids: Sequence[int] = (),
            stacks: Sequence[tuple[str, ...]] = (), cap: Level = "error", floor: Level = "info",
            advice: str | None = None) -> None:
        rule = by_key.get(key)
        if rule is None:
            return
        level = max(min(_level(rule, value), cap, key=level_rank), floor, key=level_rank)
        measures.append(Measure(key, value, level, rule.warning, rule.error))
        if level == "info":
            return
        ids = tuple(ids)
        found.append(Finding(key, rule.title, level, value, rule.warning, rule.error, summary, advice or rule.advice,
                             tuple(evidence), ids[:200], tuple(stacks),
                             tuple(_story(i, dump, timeline) for i in ids[:STORIES])))

    # Leaks proven by the runtime: the (leaked) marker of the end dump, or the leak profile's total.
    # A main goroutine parked forever in `select {}` (Caddy's cmdRun) is marked leaked by the
    # runtime, but blocking main forever is how such a program waits: by design, left out.
    parked_main = {g.id for g in inp.goroutines_end if g.leaked and is_parked_main(g)}
    leaked_clusters = [c for c in clusters if c.leaked and not set(c.ids) <= parked_main]
    leaked = sum(c.leaked for c in leaked_clusters)
    if not leaked and inp.leak_profile is not None:
        leaked = max(0, inp.leak_profile.total - len(parked_main))
    if inp.leak_profile is not None or any(g.leaked for g in inp.goroutines_end):
        ev = [Evidence(f"{c.leaked} leaked in [{c.state}]",
                       f"{c.top_function}" + (f", created by {c.created_by}" if c.created_by else ""))
              for c in leaked_clusters[:5]]
        if inp.leak_profile is not None:
            ev.append(Evidence("goroutineleak profile total", str(inp.leak_profile.total)))
        if parked_main:
            ev.append(Evidence("left out: the main goroutine parked forever in select {}",
                               "how a program that serves from other goroutines waits (by design)"))
        top = leaked_clusters[0] if leaked_clusters else None
        summary = (f"{leaked} goroutines can never run again" +
                   (f"; most in [{top.state}] at {top.top_function} (created by {top.created_by})" if top else ""))
        # Newest first: the ones the trace saw being created (when, by whom) come first.
        add("leak_proven", leaked, summary, ev,
            [i for c in leaked_clusters for i in reversed(c.ids) if dump[i].leaked and i not in parked_main],
            [c.stack for c in leaked_clusters[:3]])

    if metrics is not None:
        procs = max(1, metrics.gomaxprocs)
        per_p = metrics.runnable_per_p
        sl = metrics.sched_latency
        ev = [
            Evidence("runnable goroutines", f"mean {metrics.runnable.mean:.1f}, p95 {metrics.runnable.p95:.0f}, "
                                            f"max {metrics.runnable.max:.0f} for GOMAXPROCS {metrics.gomaxprocs}"),
            Evidence("scheduling latency", f"p50 {_ms(sl.p50_ns)}, p99 {_ms(sl.p99_ns)}, max {_ms(sl.max_ns)} "
                                           f"over {sl.count} waits"),
            Evidence("goroutines created in the window", str(metrics.goroutines_created)),
        ]
        stacks = []
        for st in sl.top_stacks[:3]:
            if st.share < 0.01:
                continue
            frames = tuple(f"{f.function} {f.file}:{f.line}" for f in st.stack[:8])
            stacks.append(frames)
            ev.append(Evidence(f"{st.share:.0%} of the latency made runnable at",
                               frames[0] if frames else "(no stack)"))
        ids: list[int] = []
        backlog_advice: str | None = None
        if timeline is not None:
            gs = timeline.goroutines
            creators = gs.creators(2) if isinstance(gs, _Goroutines) else []
            # The goroutines shown: from the `go` statement that made most of them, longest runnable first.
            ids = gs.most("runnable", 20, created_at=creators[0][0]) if creators and isinstance(gs, _Goroutines) else []
            ids = ids or _most(timeline, "runnable", 20)
            for stack, count in creators:
                site = _user_site(stack, main_module) or (stack[0] if stack else None)
                if site is not None:
                    ev.append(Evidence(f"{count} goroutines created in the window at",
                                       f"{site.function} {site.file}:{site.line}"))
            if creators and _user_site(creators[0][0], main_module) is None:
                # The goroutines are the library's own (net/http: one per connection, a background read per
                # request): a worker pool is not the service's to add. Name the user code that drives them.
                first = creators[0][0]
                backlog_advice = (
                    f"most goroutines created in the window are the library's own ({first[0].function if first else '?'}"
                    ": net/http starts one per connection and per request), the server's normal shape under this "
                    "load: bound the load (connections, client concurrency) or give it more processors, and see "
                    "the hot functions for what each request costs")
        wk = metrics.wakeups
        if wk is not None:
            # Who made the goroutines runnable: the blocker -> waker pairs with the most wake-ups.
            for pair in sorted(wk.pairs, key=lambda p: -p.count)[:2]:
                ev.append(Evidence("blocker -> waker", pair.describe()))
        lock_wakeups = sum(st.share for st in sl.top_stacks if any(is_lock_handoff(f.function) for f in st.stack))
        consequence = ""
        if lock_wakeups >= LOCK_WAKEUP_SHARE:
            consequence = (f"; {lock_wakeups:.0%} of the latency is goroutines handed a lock "
                           "(a consequence of lock contention)")
            ev.append(Evidence("made runnable by lock code", f"{lock_wakeups:.0%} of the scheduling latency"))
        add("runnable_backlog", per_p.p95,
            f"p95 {metrics.runnable.p95:.0f} runnable goroutines for {procs} processors "
            f"({per_p.p95:.1f} per processor), scheduling latency p99 {_ms(sl.p99_ns)}" + consequence,
            ev, ids, stacks, cap="warning" if consequence else "error", advice=backlog_advice)
        if consequence and "runnable_backlog" in by_key:
            # The root cause takes the level its consequence would have had.
            lock_floor = _level(by_key["runnable_backlog"], per_p.p95)

        # os/signal's goroutine waits for the next signal in a system call for the whole window, in
        # almost every server: by design, not a pile-up; so does the CPU profile's own writer
        # (runtime/pprof.profileWriter, started by the capture). Their time is left out, and their clusters.
        signal_ids = {g.id for g in inp.goroutines_end if any(f.function in SIGNAL_FUNCTIONS for f in g.frames)}
        signal_ns = observer_ns = 0
        start_ids = {g.id for g in inp.goroutines_start}
        if timeline is not None:
            for gid in set(_most(timeline, "syscall", 20)) | signal_ids:
                t = timeline.goroutines.get(gid)
                if t is None:
                    continue
                in_sys = t.state_ns.get("syscall", 0)
                if gid in signal_ids:
                    signal_ns += in_sys
                elif any(f.function.startswith(OBSERVER_CREATORS) for f in t.creator_stack) or (
                        # Started by the capture between the start dump and the trace (so no creation
                        # stack), gone by the end dump, in a system call all window: the profile writer.
                        start_ids and gid not in start_ids and gid not in dump and t.created_ns is None
                        and in_sys >= SPIN_SHARE * metrics.duration_ns):
                    observer_ns += in_sys
        syscall_ns = max(0, metrics.blocked_ns.syscall - signal_ns - observer_ns)
        syscall_per_p = syscall_ns / max(1, metrics.duration_ns) / procs
        in_syscall = [c for c in clusters if c.state == "syscall" and not set(c.ids) <= signal_ids]
        n_sys = sum(c.count for c in in_syscall)
        sys_ev = [Evidence(f"{c.count} in [syscall]", c.top_function) for c in in_syscall[:5]]
        if signal_ns:
            sys_ev.append(Evidence("left out: os/signal waiting for a signal",
                                   f"{_ms(signal_ns)} in a system call (every server that handles signals)"))
        if observer_ns:
            sys_ev.append(Evidence("left out: the capture's own CPU profile writer",
                                   f"{_ms(observer_ns)} in a system call"))
        add("syscall_pileup", syscall_per_p,
            f"{syscall_per_p * procs:.1f} goroutines in system calls on average ({syscall_per_p:.1f} per processor); "
            f"{n_sys} in [syscall] at the end",
            sys_ev, [i for c in in_syscall for i in c.ids], [c.stack for c in in_syscall[:3]])

    if timeline is not None and timeline.duration_ns > 0:
        spinners = [timeline.goroutines[i] for i in _spinning(timeline, int(SPIN_SHARE * timeline.duration_ns))]
        add("spinning", len(spinners),
            f"{len(spinners)} goroutines ran at least {SPIN_SHARE:.0%} of the window and never blocked",
            [Evidence(f"goroutine {g.id}", f"running {_ms(g.state_ns.get('running', 0))} of "
                                           f"{_ms(timeline.duration_ns)}, {g.cpu_samples} CPU samples")
             for g in spinners[:5]],
            [g.id for g in spinners],
            [tuple(f"{f}" for f in dump[g.id].frames[:8]) for g in spinners[:3] if g.id in dump])

    if cpu is not None and cpu.total:
        util = utilisation if utilisation is not None else 1.0
        samples = sum(abs(st.weight) for st in cpu.stacks) if cpu.unit == "count" else cpu.total // 10_000_000
        busy: Level = "error"
        if util < MIN_CPU_UTILISATION or samples < MIN_CPU_SAMPLES:
            busy = "info"
            notes.append(f"the service was mostly idle (CPU {util:.0%} of the processors, {samples} samples): "
                         "CPU shares are shown but not ranked")
        classes = {g.key: g.flat_share for g in cpu.by_class()}
        split = ", ".join(f"{k} {v:.0%}" for k, v in classes.items())
        signals = {s.key: s for s in cpu.signals()}
        gc_share = metrics.gc_share if metrics is not None else None

        alloc = signals["allocation"]
        gcw = signals["gc"]
        ev = [Evidence("runtime.mallocgc (cum)", f"{alloc.share:.0%} of CPU"),
              Evidence("GC workers and assists (cum)", f"{gcw.share:.0%} of CPU ({', '.join(gcw.functions[:3])})")]
        if gc_share is not None:
            ev.append(Evidence("time with the GC running", f"{gc_share:.0%} of the window"))
        if timeline is not None and timeline.duration_ns:
            average = timeline.mark_assist_ns / timeline.duration_ns
            ev.append(Evidence("GC mark assists", f"{_ms(timeline.mark_assist_ns)} of goroutine time "
                                                  f"({average:.2f} goroutines on average)"))
        callers = _callers(cpu, "runtime.mallocgc")
        if callers:
            ev.append(Evidence("allocating functions (cum)", ", ".join(f"{n} {s:.0%}" for n, s in callers)))
        add("allocation_storm", max(alloc.share, gcw.share),
            f"runtime.mallocgc {alloc.share:.0%} and GC {gcw.share:.0%} of CPU"
            + (f"; mostly from {callers[0][0]}" if callers else ""),
            ev, _samples_by_goroutine(metrics, ALLOC_FUNCTIONS), cap=busy)

        lock_share = cpu.hot_share(LOCK_PATTERN, cum=True)
        lock_names = [f.name for f in cpu.top(len(cpu.functions), cum=True) if is_lock_frame(f.name)]
        waiting = [c for c in clusters if c.state in LOCK_STATES]
        n_wait = sum(c.count for c in waiting)
        ev = [Evidence("lock frames (cum)", f"{lock_share:.0%} of CPU ({', '.join(lock_names[:4])})"),
              Evidence("goroutines waiting on a lock at the end", str(n_wait))]
        ev += [Evidence(f"{c.count} in [{c.state}]", f"{_first_user(c.stack) or c.top_function}") for c in waiting[:3]]
        lock_callers = _callers(cpu, "sync.(*Mutex).Lock") or _callers(cpu, "internal/sync.(*Mutex).Lock")
        if lock_callers:
            ev.append(Evidence("locking functions (cum)", ", ".join(f"{n} {s:.0%}" for n, s in lock_callers)))
        if metrics is not None:
            handed = sum(st.share for st in metrics.sched_latency.top_stacks
                         if any(is_lock_handoff(f.function) for f in st.stack))
            if handed:
                ev.append(Evidence("scheduling latency of goroutines woken by lock code", f"{handed:.0%}"))
        lock_pairs = _lock_pairs(metrics)
        for pair in lock_pairs[:3]:
            ev.append(Evidence("lock waits woken by", pair.describe()))
        ids = ([i for c in waiting for i in c.ids] or [g for p in lock_pairs for g in p.goroutines]
               or _samples_by_goroutine(metrics, LOCK_FUNCTIONS))
        add("lock_contention", lock_share,
            f"lock frames {lock_share:.0%} of CPU, {n_wait} goroutines waiting on a lock"
            + (f"; taken in {lock_callers[0][0]}" if lock_callers else ""),
            ev, ids, [c.stack for c in waiting[:3]], cap=busy,
            floor=lock_floor if busy == "error" and lock_share >= by_key["lock_contention"].warning else "info")

        user = [f for f in cpu.functions if f.cls == "user"]
        hottest = user[0] if user else None
        if hottest is not None:
            ev = [Evidence("CPU split (flat)", split),
                  Evidence("CPU utilisation", f"{util:.0%} of {gomaxprocs or '?'} processors")]
            ev += [Evidence(f.name, f"flat {f.flat_share:.0%}, cum {f.cum_share:.0%} ({f.file})") for f in user[:5]]
            names = ", ".join(f"{f.name} {f.flat_share:.0%}" for f in user[:3] if f.flat)
            add("hot_user_function", classes.get("user", 0.0),
                f"the service's own code is {classes.get('user', 0.0):.0%} of CPU (flat): {names}; "
                f"CPU {util:.0%} busy",
                ev, _samples_by_goroutine(metrics, [hottest.name]), cap=busy)
        # Library code that another rule explains (lock, allocation, syscall frames) is left out here.
        explained = {name for sig in signals.values() if sig.triggered for name in sig.functions}
        std = [f for f in cpu.functions if f.cls == "stdlib" and f.name not in explained
               and not is_lock_handoff(f.name) and "Mutex)." not in f.name]
        if std:
            std_share = sum(f.flat_share for f in std)
            add("stdlib_hot", std_share,
                f"standard library {std_share:.0%} of CPU (flat, lock/allocation/syscall frames aside), "
                f"CPU {util:.0%} busy",
                [Evidence("CPU split (flat)", split)]
                + [Evidence(f.name, f"flat {f.flat_share:.0%}, cum {f.cum_share:.0%}") for f in std[:5]],
                _samples_by_goroutine(metrics, [std[0].name]), cap=busy)

    # Suspected leaks: large clusters parked on a channel/select/lock, not proven leaked, that grew
    # during the window or did not run in it (or have waited for minutes).
    suspects = []
    for c in clusters:
        n = c.count - c.leaked
        if c.state not in BLOCKED_STATES or n <= 0:
            continue
        grew = c.grew is not None and c.grew >= max(1, n // 2)
        idle = c.ran_ns == 0 and timeline is not None
        if grew or idle or c.max_wait_minutes >= 10:
            suspects.append((n, c))
    suspects.sort(key=lambda x: -x[0])
    if suspects:
        n, c = suspects[0]
        why = []
        if c.grew is not None:
            why.append(f"{_change(c.grew)} during the window")
        if c.ran_ns == 0:
            why.append("none of them ran in the window")
        if c.max_wait_minutes:
            why.append(f"waiting up to {c.max_wait_minutes} minutes")
        value = n if c.max_wait_minutes < 30 else max(n, by_key["leak_suspected"].error if "leak_suspected" in by_key else n)
        add("leak_suspected", value,
            f"{n} goroutines in [{c.state}] at {_first_user(c.stack) or c.top_function}, "
            f"created by {c.created_by}; " + ", ".join(why),
            [Evidence(f"{m} in [{cl.state}]", f"{cl.top_function}" + (f", created by {cl.created_by}" if cl.created_by else "")
                      + (f", {_change(cl.grew)}" if cl.grew is not None else "")) for m, cl in suspects[:5]],
            [i for i in reversed(c.ids) if not dump[i].leaked], [cl.stack for _, cl in suspects[:3]])
    elif "leak_suspected" in by_key:
        add("leak_suspected", 0, "", [])

    found.sort(key=lambda f: (-level_rank(f.level), -f.score, f.key))
    return Triage(
        source=raw.source, seconds=window.seconds,
        gomaxprocs=gomaxprocs, cpu_utilisation=utilisation, metrics=metrics, timeline=timeline, cpu=cpu,
        goroutine_count=len(inp.goroutines_end), clusters=clusters, measures=tuple(measures), findings=tuple(found),
        notes=tuple(notes), rules=tuple(rules),
    )


def _lock_pairs(metrics: TraceMetrics | None) -> list[WakeupPair]:
    """The wake-up pairs of goroutines that waited on a lock (Mutex, RWMutex), by total wait."""
    if metrics is None or metrics.wakeups is None:
        return []
    return [p for p in metrics.wakeups.pairs
            if p.reason in LOCK_WAIT_REASONS and any(is_lock_frame(f.function) for f in p.stack)]


def _most(timeline: TraceTimeline, state: str, n: int) -> list[int]:
    gs = timeline.goroutines
    if hasattr(gs, "most"):
        return gs.most(state, n)  # type: ignore[no-any-return]
    return [g.id for g in sorted(gs.values(), key=lambda g: -g.state_ns.get(state, 0)) if g.state_ns.get(state)][:n]


def _spinning(timeline: TraceTimeline, min_running_ns: int) -> list[int]:
    gs = timeline.goroutines
    if hasattr(gs, "spinning"):
        return gs.spinning(min_running_ns)  # type: ignore[no-any-return]
    return [g.id for g in sorted(gs.values(), key=lambda g: -g.state_ns.get("running", 0))
            if g.state_ns.get("running", 0) >= min_running_ns and not g.state_ns.get("waiting")
            and not g.state_ns.get("syscall")]


#: Functions whose goroutines the capture itself starts (the CPU profile's writer, pprof handlers, the tracer).
OBSERVER_CREATORS = ("runtime/pprof.", "net/http/pprof.", "runtime/trace.")


def is_parked_main(g: Goroutine) -> bool:
    """The main goroutine blocked forever on purpose: ``select {}`` in goroutine 1 (or under ``main.main``)."""
    if g.state != "select (no cases)":
        return False
    return g.id == 1 or any(f.function == "main.main" for f in g.frames)


def _change(grew: int) -> str:
    """A cluster's change over the window in words: "grew by 3", "shrank by 12", "unchanged"."""
    if grew > 0:
        return f"grew by {grew}"
    return f"shrank by {-grew}" if grew < 0 else "unchanged"


def _user_site(stack: Sequence[Frame], main_module: str | None) -> Frame | None:
    """The innermost frame of the service's own code on a creation stack, None when it has none."""
    return next((f for f in stack if classify(f.function, main_module) == "user"), None)


def _first_user(stack: Sequence[str]) -> str | None:
    """The first frame of the service's own code (package main) in a cluster's stack."""
    for s in stack:
        if s.startswith("main."):
            return s
    return None


def _callers(cpu: FunctionTable, callee: str, n: int = 3) -> list[tuple[str, float]]:
    """User or module functions on the stacks through ``callee``, by cum share of those stacks."""
    if callee not in cpu:
        return []
    totals: dict[str, int] = {}
    for st in cpu.stacks:
        names = [f if isinstance(f, str) else f.function for f in st.frames]
        if callee not in names:
            continue
        seen = set()
        for name in names[names.index(callee) + 1:]:
            row = cpu.get(name)
            if row is not None and row.cls in ("user", "module") and name not in seen:
                seen.add(name)
                totals[name] = totals.get(name, 0) + abs(st.weight)
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [(name, v / cpu.total) for name, v in ranked]


def dumps(t: Triage) -> str:
    """The JSON text of a triage (sorted keys, two-space indent)."""
    return json.dumps(t.to_json(), indent=2, sort_keys=True)


