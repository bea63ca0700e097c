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
    return metrics_from_generations(reader.generations(), reader.version)


def metrics_from_generations(gens: Iterable[OrderedGeneration], version: int) -> TraceMetrics:
    acc = _Accumulator()
    for og in gens:
        acc.feed(og)
    return acc.finish(version)


class _Accumulator:
    def __init__(self) -> None:
        # gid -> [state, since, proc when running, runnable since, runnable stack key, started,
        #         wait reason, created in the trace and not yet started]
        self.gs: dict[int, list] = {}
        self.start = None
        self.last = 0
        self.runnable = 0
        self.hist: dict[int, int] = {}  # runnable count -> ns
        self.sched: list[np.ndarray] = []
        self.creation: list[int] = []
        self.stack_lat: dict[tuple[int, ...], list] = {}  # pcs -> [count, total, frames]
        self.busy: dict[int, int] = {}
        self.created = 0
        self.ended = 0
        self.blocked: dict[str, int] = {}
        self.gc_ns = 0
        self.gc_since = None
        self.stw_ns = 0
        self.stw_since: dict[int, int] = {}
        self.transitions: dict[tuple[int, int], int] = {}
        self.cpu: list[CPUSample] = []
        self.gomaxprocs = 0
        self.procs_seen: set[int] = set()
        self.gens = 0
        self.pc_frames: dict[int, Frame] = {}

    def feed(self, og: OrderedGeneration) -> None:
        recs = og.records
        times = og.times.tolist()
        if self.start is None:
            self.start = times[0]
        start = self.start
        gs = self.gs
        GT = GO_TRANSITIONS
        trans = self.transitions
        sched: list[int] = []
        sched_append = sched.append
        busy = self.busy
        blocked = self.blocked
        stack_lat = self.stack_lat
        raw_stacks = og.raw.stacks
        strings = og.raw.strings
        # runnable-count changes of this generation: times and deltas (+1/-1)
        rt: list[int] = []
        rc: list[int] = []
        runnable = self.runnable
        prev_t = self.last if self.gens else start
        for rec, t in zip(recs, times):
            typ = rec[0]
            spec = GT.get(typ)
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
                continue
            gid = rec[spec[0]]
            frm = spec[1]
            if frm is None:
                frm, to = rec[6], rec[7]
            else:
                to = spec[2]
            key = (frm, to)
            trans[key] = trans.get(key, 0) + 1
            if frm == to:
                continue
            st = gs.get(gid)
            if frm == _UNDET:
                # First seen: back-date the state to the trace start.
                st = gs[gid] = [to, start, rec[3], -1, None, False, "", False]
                since = start
                if to == _RUNNABLE:
                    rt.append(start)
                    rc.append(1)
                    runnable += 1
                    st[3] = t  # -pprof=sched tracks from the status event itself
                    st[4] = None
                elif to == _RUNNING:
                    st[5] = True
                elif to == _WAITING:
                    st[6] = ""
                continue
            if frm == _NOTEXIST:
                self.created += 1
                st = gs[gid] = [to, t, rec[3], -1, None, False, "", True]
                if to == _RUNNABLE:
                    runnable += 1
                    rt.append(t)
                    rc.append(1)
                    st[3] = t
                    st[4] = _pcs(raw_stacks, rec[spec[4]])
                continue
            if st is None:  # cannot happen in a well-formed trace; be lenient
                st = gs[gid] = [frm, start, rec[3], -1, None, False, "", False]
            since = st[1]
            # close the interval of the old state
            if frm == _RUNNING:
                p = st[2]
                busy[p] = busy.get(p, 0) + t - since
            elif frm == _RUNNABLE:
                runnable -= 1
                rt.append(t)
                rc.append(-1)
                r0 = st[3]
                if st[5]:
                    d = t - r0
                    sched_append(d)
                    k = st[4]
                    ent = stack_lat.get(k)
                    if ent is None:
                        stack_lat[k] = [1, d, k]
                    else:
                        ent[0] += 1
                        ent[1] += d
                elif st[7]:
                    self.creation.append(t - r0)  # creation -> first start
            elif frm == _WAITING:
                cat = _CATEGORY.get(st[6], "other")
                blocked[cat] = blocked.get(cat, 0) + t - since
            elif frm == _SYSCALL:
                blocked["syscall"] = blocked.get("syscall", 0) + t - since
            # open the new state
            st[0] = to
            st[1] = t
            if to == _RUNNING:
                st[2] = rec[3]
                st[5] = True
                st[7] = False
            elif to == _RUNNABLE:
                runnable += 1
                rt.append(t)
                rc.append(1)
                st[3] = t
                sk = spec[4]
                st[4] = _pcs(raw_stacks, rec[sk]) if sk >= 0 else ()
            elif to == _WAITING:
                rs = spec[3]
                st[6] = strings.get(rec[rs], "") if rs >= 0 else ""
            elif to == _NOTEXIST:
                self.ended += 1
                del gs[gid]
        # Fold the generation's runnable step function into the time-weighted histogram.
        # Back-dated entries sit at the trace start, so order the changes by time first.
        hist = self.hist
        end_t = times[-1]
        if rt:
            ts = np.asarray(rt, dtype=np.int64)
            ds = np.asarray(rc, dtype=np.int64)
            order = np.argsort(ts, kind="stable")
            ts = ts[order]
            counts = self.runnable + np.cumsum(ds[order])
            edges = np.concatenate(([prev_t], ts, [end_t]))
            vals = np.concatenate(([self.runnable], counts))
            widths = np.diff(edges)
            uv, inv = np.unique(vals, return_inverse=True)
            sums = np.bincount(inv, weights=widths)
            for v, w in zip(uv.tolist(), sums.tolist()):
                hist[v] = hist.get(v, 0) + int(w)
        else:
            hist[runnable] = hist.get(runnable, 0) + max(0, end_t - prev_t)
        self.runnable = runnable
        self.last = times[-1]
        if sched:
            self.sched.append(np.asarray(sched, dtype=np.int64))
        # Keep every PC's frame: a stack captured in one generation may be charged in the next,
        # after that generation's tables are gone (a PC means the same code all trace long).
        pc_frames = self.pc_frames
        strings = og.raw.strings
        for pc, (fn, fl, line) in og.raw.frames.items():
            if pc not in pc_frames:
                pc_frames[pc] = Frame(strings.get(fn, ""), strings.get(fl, ""), line, pc)

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
                cat = _CATEGORY.get(st[6], "other")
                self.blocked[cat] = self.blocked.get(cat, 0) + end - since
            elif s == _SYSCALL:
                self.blocked["syscall"] = self.blocked.get("syscall", 0) + end - since
        gc_ns = self.gc_ns + (end - self.gc_since if self.gc_since is not None else 0)
        procs_n = self.gomaxprocs or len(self.procs_seen) or 1
        runnable = _weighted_stats(self.hist)
        per_p = RunnableStats(*(x / procs_n for x in (runnable.mean, runnable.p50, runnable.p95, runnable.p99,
                                                      runnable.max)))
        sched = np.concatenate(self.sched) if self.sched else np.zeros(0, dtype=np.int64)
        base = LatencyStats.of(sched)
        total = base.total_ns or 1
        top = sorted(self.stack_lat.values(), key=lambda e: -e[1])[:TOP_STACKS]
        pcf = self.pc_frames
        top_stacks = tuple(StackLatency(tuple(pcf[pc] for pc in e[2] if pc in pcf), e[0], e[1], e[1] / total)
                           for e in top)
        sched_latency = SchedLatency(base.count, base.total_ns, base.p50_ns, base.p90_ns, base.p99_ns,
                                     base.max_ns, top_stacks)
        procs = tuple(ProcUtilisation(p, ns, ns / duration if duration else 0.0)
                      for p, ns in sorted(self.busy.items()) if p >= 0)
        names = F.GO_STATE_NAMES
        transitions = {f"{names[a]}->{names[b]}": n for (a, b), n in sorted(self.transitions.items())}
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
            blocked_ns=BlockedTime(**self.blocked),
            gc_ns=gc_ns,
            gc_share=gc_ns / duration if duration else 0.0,
            stw_ns=self.stw_ns,
            stw_share=self.stw_ns / duration if duration else 0.0,
            transitions=transitions,
            cpu_samples=tuple(self.cpu),
        )


def _pcs(stacks: dict[int, tuple[int, ...]], sid: int) -> tuple[int, ...]:
    return stacks.get(sid, ()) if sid else ()


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
