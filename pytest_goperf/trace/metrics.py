"""Scheduler metrics of one trace (one measurement window), as plain records.

Everything is computed in one streaming pass over the ordered records of
:class:`~.reader.TraceReader`, one generation at a time: per-goroutine state
(current state, since when, on which P), a histogram of the runnable count
weighted by time, and the scheduling-latency intervals as a compact array.

Scheduling latency is counted the way ``go tool trace -pprof=sched`` counts it:
every closed runnable interval of a goroutine that overlaps the goroutine's
life after its first start. The interval from creation to first start is
therefore left out there; it is reported separately as ``start_latency``.
Other accounting (runnable count, blocked time, utilisation) covers the whole
window: states first seen in a status event are back-dated to the trace
start, as the toolchain's summary does, and open intervals close at the end.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from . import _format as F
from ._order import SYNC
from .reader import GO_TRANSITIONS, CPUSample, Frame, OrderedGeneration, TraceReader

__all__ = [
    "RunnableStats",
    "LatencyStats",
    "StackLatency",
    "SchedLatency",
    "ProcUtilisation",
    "BlockedTime",
    "TraceMetrics",
    "compute_metrics",
]

_RUNNABLE, _RUNNING, _WAITING, _SYSCALL, _NOTEXIST, _UNDET = 2, 3, 4, 5, 1, 0
TOP_STACKS = 5


@dataclass(frozen=True, slots=True)
class RunnableStats:
    """Time-weighted distribution of the number of runnable goroutines."""

    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    def to_json(self) -> dict[str, float]:
        return {"mean": self.mean, "p50": self.p50, "p95": self.p95, "p99": self.p99, "max": self.max}


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Count, total and nearest-rank percentiles of a set of durations (ns)."""

    count: int
    total_ns: int
    p50_ns: int
    p90_ns: int
    p99_ns: int
    max_ns: int

    @classmethod
    def of(cls, durations: np.ndarray) -> "LatencyStats":
        if durations.size == 0:
            return cls(0, 0, 0, 0, 0, 0)
        d = np.sort(durations)
        n = d.size

        def rank(q: float) -> int:
            # nearest rank: the smallest value with at least q of the intervals at or below it
            return int(d[min(n - 1, max(0, int(np.ceil(q * n)) - 1))])

        return cls(n, int(d.sum()), rank(0.50), rank(0.90), rank(0.99), int(d[-1]))

    def to_json(self) -> dict[str, int]:
        return {"count": self.count, "total_ns": self.total_ns, "p50_ns": self.p50_ns, "p90_ns": self.p90_ns,
                "p99_ns": self.p99_ns, "max_ns": self.max_ns}


@dataclass(frozen=True, slots=True)
class StackLatency:
    """The scheduling latency charged to one stack (of the event that made the goroutine runnable)."""

    stack: tuple[Frame, ...]
    count: int
    total_ns: int
    share: float  # of the whole sched latency total

    def to_json(self) -> dict:
        return {"count": self.count, "total_ns": self.total_ns, "share": self.share,
                "stack": [f"{f.function} {f.file}:{f.line}" for f in self.stack]}


@dataclass(frozen=True, slots=True)
class SchedLatency(LatencyStats):
    """Runnable-to-running latency as ``-pprof=sched`` counts it, and its top stacks."""

    top_stacks: tuple[StackLatency, ...] = ()

    def to_json(self) -> dict:
        d = LatencyStats.to_json(self)
        d["top_stacks"] = [s.to_json() for s in self.top_stacks]
        return d


@dataclass(frozen=True, slots=True)
class ProcUtilisation:
    """Share of the window during which a processor ran a goroutine."""

    proc: int
    busy_ns: int
    share: float


@dataclass(frozen=True, slots=True)
class BlockedTime:
    """Goroutine-time spent waiting, by reason category (ns, summed over goroutines)."""

    channel: int = 0
    select: int = 0
    sync: int = 0
    io: int = 0
    syscall: int = 0
    sleep: int = 0
    gc: int = 0
    other: int = 0

    def to_json(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class TraceMetrics:
    """Scheduler metrics of one trace window."""

    go_version: str  # the format version, e.g. "1.26" (Go 1.27 writes 1.26)
    start_ns: int
    end_ns: int
    duration_ns: int
    gomaxprocs: int
    generations: int
    runnable: RunnableStats
    runnable_per_p: RunnableStats
    sched_latency: SchedLatency
    start_latency: LatencyStats  # creation -> first start (left out of sched_latency)
    procs: tuple[ProcUtilisation, ...]
    goroutines_created: int
    goroutines_ended: int
    goroutines_alive_at_end: int
    blocked_ns: BlockedTime
    gc_ns: int
    gc_share: float
    stw_ns: int
    stw_share: float
    transitions: dict[str, int] = field(default_factory=dict)
    cpu_samples: tuple[CPUSample, ...] = ()

    @property
    def utilisation(self) -> float:
        """Mean share of time the processors ran goroutines."""
        if not self.procs:
            return 0.0
        return sum(p.share for p in self.procs) / len(self.procs)


_CATEGORY: dict[str, str] = {reason: cat for cat, reasons in F.BLOCK_CATEGORIES for reason in reasons}


def compute_metrics(data: bytes) -> TraceMetrics:
    """Read a trace and compute its scheduler metrics."""
    reader = TraceReader(data)
    # Everything built here is acyclic; the cyclic collector would only rescan the
    # millions of short-lived records of each generation (10-15 % of the time).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return metrics_from_generations(reader.generations(), reader.version)
    finally:
        if was_enabled:
            gc.enable()


def metrics_from_generations(gens: Iterable[OrderedGeneration], version: int) -> TraceMetrics:
    acc = _Accumulator()
    for og in gens:
        acc.feed(og)
    return acc.finish(version)


_CATEGORIES = ("channel", "select", "sync", "io", "syscall", "sleep", "gc", "other")
_CAT_INDEX = {name: i for i, name in enumerate(_CATEGORIES)}
_CAT_OTHER = _CAT_INDEX["other"]
_CAT_SYSCALL = _CAT_INDEX["syscall"]
# Fixed (from, to) of the wire types that the fast paths below handle.
_FAST = {16: (_RUNNABLE, _RUNNING), 17: (_RUNNING, _NOTEXIST), 14: (_NOTEXIST, _RUNNABLE),
         19: (_RUNNING, _RUNNABLE), 20: (_RUNNING, _WAITING), 21: (_WAITING, _RUNNABLE),
         22: (_RUNNING, _SYSCALL), 23: (_SYSCALL, _RUNNING)}


class _Accumulator:
    """One pass over the ordered records; per-goroutine state carried across generations.

    Goroutine state: [state, since, proc while running, stack index of the event that made
    it runnable, has started, wait category, created in the window and not yet started].
    """

    def __init__(self) -> None:
        self.gs: dict[int, list] = {}
        self.start: int | None = None
        self.last = 0
        self.runnable = 0
        self.hist: dict[int, int] = {}  # runnable count -> ns
        self.sched: list[np.ndarray] = []  # per generation: waits counted like -pprof=sched
        self.sched_stack: list[np.ndarray] = []  # their stack indexes
        self.creation: list[int] = []
        self.stack_index: dict[tuple[int, ...], int] = {(): 0}  # PCs -> index
        self.busy: dict[int, int] = {}
        self.created = 0
        self.ended = 0
        self.blocked = [0] * len(_CATEGORIES)
        self.gc_ns = 0
        self.gc_since: int | None = None
        self.stw_ns = 0
        self.stw_since: dict[int, int] = {}
        self.typ_counts = [0] * 64
        self.transitions: dict[tuple[int, int], int] = {}
        self.cpu: list[CPUSample] = []
        self.gomaxprocs = 0
        self.procs_seen: set[int] = set()
        self.gens = 0
        self.pc_frames: dict[int, Frame] = {}

    def feed(self, og: OrderedGeneration) -> None:  # noqa: C901 - one hot loop, kept flat for speed
        times = og.times
        if self.start is None:
            self.start = int(times[0])
        start = self.start
        gs = self.gs
        busy = self.busy
        blocked = self.blocked
        tc = self.typ_counts
        raw_stacks = og.raw.stacks
        strings = og.raw.strings
        stack_index = self.stack_index
        sid_map: dict[int, int] = {0: 0}  # this generation's stack ID -> stack index
        cat_map: dict[int, int] = {}  # this generation's reason string ID -> category index
        sched: list[int] = []
        sched_stack: list[int] = []
        creation = self.creation
        rt: list[int] = []  # runnable changes: +t for +1, -t for -1 (times are > 0)
        rt_append = rt.append
        created = ended = 0

        def sidx(sid: int) -> int:
            gi = sid_map.get(sid)
            if gi is None:
                pcs = raw_stacks.get(sid, ())
                gi = stack_index.get(pcs)
                if gi is None:
                    gi = stack_index[pcs] = len(stack_index)
                sid_map[sid] = gi
            return gi

        def category(sid: int) -> int:
            c = cat_map.get(sid)
            if c is None:
                c = cat_map[sid] = _CAT_INDEX[_CATEGORY.get(strings.get(sid, ""), "other")]
            return c

        for rec in og.rows():
            typ = rec[0]
            t = rec[1]
            try:
                if typ == 16:  # GoStart: Runnable -> Running
                    st = gs[rec[5]]
                    if st[0] != _RUNNABLE:
                        raise KeyError
                    rt_append(-t)
                    if st[4]:
                        sched.append(t - st[1])
                        sched_stack.append(st[3])
                    elif st[6]:
                        creation.append(t - st[1])
                        st[6] = False
                    st[0] = _RUNNING
                    st[1] = t
                    st[2] = rec[3]
                    st[4] = True
                elif typ == 17:  # GoDestroy: Running -> NotExist
                    st = gs.pop(rec[4])
                    p = st[2]
                    busy[p] = busy.get(p, 0) + t - st[1]
                    ended += 1
                elif typ == 14:  # GoCreate: NotExist -> Runnable
                    gs[rec[5]] = [_RUNNABLE, t, -1, sidx(rec[7]), False, 0, True]
                    created += 1
                    rt_append(t)
                elif typ == 19 or typ == 20 or typ == 22:  # GoStop, GoBlock, GoSyscallBegin: Running -> ...
                    st = gs[rec[4]]
                    if st[0] != _RUNNING:
                        raise KeyError
                    p = st[2]
                    busy[p] = busy.get(p, 0) + t - st[1]
                    st[1] = t
                    if typ == 19:
                        st[0] = _RUNNABLE
                        st[3] = sidx(rec[6])
                        rt_append(t)
                    elif typ == 20:
                        st[0] = _WAITING
                        st[5] = category(rec[5])
                    else:
                        st[0] = _SYSCALL
                elif typ == 23:  # GoSyscallEnd: Syscall -> Running
                    st = gs[rec[4]]
                    if st[0] != _SYSCALL:
                        raise KeyError
                    blocked[_CAT_SYSCALL] += t - st[1]
                    st[0] = _RUNNING
                    st[1] = t
                    st[2] = rec[3]
                    st[4] = True
                    st[6] = False
                elif typ == 21:  # GoUnblock: Waiting -> Runnable
                    st = gs[rec[5]]
                    if st[0] != _WAITING:
                        raise KeyError
                    blocked[st[5]] += t - st[1]
                    st[0] = _RUNNABLE
                    st[1] = t
                    st[3] = sidx(rec[7])
                    rt_append(t)
                else:
                    self._other(rec, t, og, start, sidx, category, rt_append, sched, sched_stack)
                    continue
            except KeyError:
                # A state the fast path does not expect (cannot happen in a well-formed
                # trace): the general path handles it leniently.
                self._other(rec, t, og, start, sidx, category, rt_append, sched, sched_stack)
                continue
            tc[typ] += 1
        self.created += created
        self.ended += ended

        # Fold the generation's runnable step function into the time-weighted histogram.
        # Back-dated entries sit at the trace start, so order the changes by time first.
        hist = self.hist
        end_t = int(times[-1])
        prev_t = self.last if self.gens > 1 or self.last else start
        if rt:
            signed = np.asarray(rt, dtype=np.int64)
            ts = np.abs(signed)
            order = np.argsort(ts, kind="stable")
            ts = ts[order]
            counts = self.runnable + np.cumsum(np.sign(signed[order]))
            edges = np.concatenate(([prev_t], ts, [end_t]))
            vals = np.concatenate(([self.runnable], counts))
            widths = np.diff(edges)
            uv, inv = np.unique(vals, return_inverse=True)
            sums = np.bincount(inv, weights=widths)
            for v, w in zip(uv.tolist(), sums.tolist()):
                hist[v] = hist.get(v, 0) + int(w)
            self.runnable = int(counts[-1])
        else:
            hist[self.runnable] = hist.get(self.runnable, 0) + max(0, end_t - prev_t)
        self.last = end_t
        if sched:
            self.sched.append(np.asarray(sched, dtype=np.int64))
            self.sched_stack.append(np.asarray(sched_stack, dtype=np.int64))
        # Keep every PC's frame: a stack captured in one generation may be charged in the next,
        # after that generation's tables are gone (a PC means the same code all trace long).
        pc_frames = self.pc_frames
        for pc, (fn, fl, line) in og.raw.frames.items():
            if pc not in pc_frames:
                pc_frames[pc] = Frame(strings.get(fn, ""), strings.get(fl, ""), line, pc)

    def _other(self, rec, t, og, start, sidx, category, rt_append, sched, sched_stack) -> None:
        """Every record the fast paths do not take: statuses, rare transitions, GC, STW, samples."""
        typ = rec[0]
        spec = GO_TRANSITIONS.get(typ)
        if spec is None:
            if typ == SYNC:
                if rec[6] == 0:
                    self.gens += 1
            elif typ == 7:
                self.cpu.append(CPUSample(t, rec[2], rec[3], rec[4], og.stack(rec[5])))
            elif typ == 9:
                self.gomaxprocs = rec[5]
            elif typ == 29 or (typ == 28 and self.gc_since is None):
                self.gc_since = start if typ == 28 and self.gens == 1 else t
            elif typ == 30:
                if self.gc_since is not None:
                    self.gc_ns += t - self.gc_since
                self.gc_since = None
            elif typ == 26:
                self.stw_since[rec[4]] = t
            elif typ == 27:
                s0 = self.stw_since.pop(rec[4], None)
                if s0 is not None:
                    self.stw_ns += t - s0
            elif typ == 10 or typ == 13:
                self.procs_seen.add(rec[5])
            return
        gid = rec[spec[0]]
        frm = spec[1]
        if frm is None:
            frm, to = rec[6], rec[7]
        else:
            to = spec[2]
        key = (frm, to)
        self.transitions[key] = self.transitions.get(key, 0) + 1
        if frm == to:
            return
        gs = self.gs
        st = gs.get(gid)
        if frm == _UNDET or st is None and frm != _NOTEXIST:
            # First seen: back-date the state to the trace start.
            st = gs[gid] = [to, start, rec[3], 0, to == _RUNNING, _CAT_OTHER, False]
            if to == _RUNNABLE:
                rt_append(start)
            return
        if frm == _NOTEXIST:
            self.created += 1
            st = gs[gid] = [to, t, rec[3], 0, False, _CAT_OTHER, to == _RUNNABLE]
            if to == _RUNNABLE:
                rt_append(t)
                sk = spec[4]
                st[3] = sidx(rec[sk]) if sk >= 0 else 0
            return
        since = st[1]
        if frm == _RUNNING:
            p = st[2]
            self.busy[p] = self.busy.get(p, 0) + t - since
        elif frm == _RUNNABLE:
            rt_append(-t)
            if st[4]:
                sched.append(t - since)
                sched_stack.append(st[3])
            elif st[6]:
                self.creation.append(t - since)
        elif frm == _WAITING:
            self.blocked[st[5]] += t - since
        elif frm == _SYSCALL:
            self.blocked[_CAT_SYSCALL] += t - since
        st[0] = to
        st[1] = t
        if to == _RUNNING:
            st[2] = rec[3]
            st[4] = True
            st[6] = False
        elif to == _RUNNABLE:
            rt_append(t)
            sk = spec[4]
            st[3] = sidx(rec[sk]) if sk >= 0 else 0
        elif to == _WAITING:
            rs = spec[3]
            st[5] = category(rec[rs]) if rs >= 0 else _CAT_OTHER
        elif to == _NOTEXIST:
            self.ended += 1
            del gs[gid]

    def finish(self, version: int) -> TraceMetrics:
        start = self.start or 0
        end = self.last
        duration = max(0, end - start)
        # close every open interval at the end of the window
        for st in self.gs.values():
            s, since = st[0], st[1]
            if s == _RUNNING:
                self.busy[st[2]] = self.busy.get(st[2], 0) + end - since
            elif s == _WAITING:
                self.blocked[st[5]] += end - since
            elif s == _SYSCALL:
                self.blocked[_CAT_SYSCALL] += end - since
        gc_ns = self.gc_ns + (end - self.gc_since if self.gc_since is not None else 0)
        procs_n = self.gomaxprocs or len(self.procs_seen) or 1
        runnable = _weighted_stats(self.hist)
        per_p = RunnableStats(*(x / procs_n for x in (runnable.mean, runnable.p50, runnable.p95, runnable.p99,
                                                      runnable.max)))
        sched = np.concatenate(self.sched) if self.sched else np.zeros(0, dtype=np.int64)
        base = LatencyStats.of(sched)
        top_stacks: tuple[StackLatency, ...] = ()
        if sched.size:
            idx = np.concatenate(self.sched_stack)
            totals = np.bincount(idx, weights=sched)
            counts = np.bincount(idx)
            by_index = {i: pcs for pcs, i in self.stack_index.items()}
            pcf = self.pc_frames
            best = np.argsort(-totals, kind="stable")[:TOP_STACKS]
            top_stacks = tuple(
                StackLatency(tuple(pcf[pc] for pc in by_index[int(i)] if pc in pcf), int(counts[i]),
                             int(totals[i]), float(totals[i]) / base.total_ns)
                for i in best if counts[i])
        sched_latency = SchedLatency(base.count, base.total_ns, base.p50_ns, base.p90_ns, base.p99_ns,
                                     base.max_ns, top_stacks)
        procs = tuple(ProcUtilisation(p, ns, ns / duration if duration else 0.0)
                      for p, ns in sorted(self.busy.items()) if p >= 0)
        counts_by_pair = dict(self.transitions)
        for typ, pair in _FAST.items():
            if self.typ_counts[typ]:
                counts_by_pair[pair] = counts_by_pair.get(pair, 0) + self.typ_counts[typ]
        names = F.GO_STATE_NAMES
        transitions = {f"{names[a]}->{names[b]}": n for (a, b), n in sorted(counts_by_pair.items())}
        return TraceMetrics(
            go_version=f"1.{version}",
            start_ns=start,
            end_ns=end,
            duration_ns=duration,
            gomaxprocs=procs_n,
            generations=self.gens,
            runnable=runnable,
            runnable_per_p=per_p,
            sched_latency=sched_latency,
            start_latency=LatencyStats.of(np.asarray(self.creation, dtype=np.int64)),
            procs=procs,
            goroutines_created=self.created,
            goroutines_ended=self.ended,
            goroutines_alive_at_end=len(self.gs),
            blocked_ns=BlockedTime(**dict(zip(_CATEGORIES, self.blocked))),
            gc_ns=gc_ns,
            gc_share=gc_ns / duration if duration else 0.0,
            stw_ns=self.stw_ns,
            stw_share=self.stw_ns / duration if duration else 0.0,
            transitions=transitions,
            cpu_samples=tuple(self.cpu),
        )


def _weighted_stats(hist: dict[int, int]) -> RunnableStats:
    items = sorted((v, w) for v, w in hist.items() if w > 0)
    if not items:
        return RunnableStats(0.0, 0.0, 0.0, 0.0, 0.0)
    vals = np.array([v for v, _ in items], dtype=np.float64)
    w = np.array([w for _, w in items], dtype=np.float64)
    cum = np.cumsum(w)
    total = cum[-1]

    def q(p: float) -> float:
        return float(vals[min(len(vals) - 1, int(np.searchsorted(cum, p * total, side="left")))])

    return RunnableStats(float((vals * w).sum() / total), q(0.50), q(0.95), q(0.99), float(vals[-1]))
