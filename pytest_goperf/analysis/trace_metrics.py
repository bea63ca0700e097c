"""Scheduler metrics of one trace (one measurement window), as plain records.

Everything is computed in one streaming pass over the ordered records of
:class:`~.reader.TraceReader`, one generation at a time: per-goroutine state
(current state, since when, on which P), a histogram of the runnable count
weighted by time, and the scheduling-latency intervals as a compact array.

Scheduling latency is counted the way ``go tool trace -pprof=sched`` counts it:
every closed runnable interval of a goroutine, by its overlap with the
goroutine's life after its first start. The interval from creation to first
start is therefore left out there; it is reported separately as
``start_latency``. A goroutine ID that is re-created (cgo callbacks leave and
re-enter NotExist) has one life in the toolchain's summary, its last
incarnation's: the waits of earlier incarnations count nothing, and when the
last one never ran its life starts at time 0.
Other accounting (runnable count, blocked time, utilisation) covers the whole
window: states first seen in a status event are back-dated to the trace
start, as the toolchain's summary does, and open intervals close at the end.
"""

from __future__ import annotations

import gc
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..formats.symbols import Frame
from ..formats.trace import _format as F
from ..formats.trace._order import NFIELDS, SYNC
from ..formats.trace.reader import (
    GO_TRANSITIONS,
    CPUSample,
    OrderedGeneration,
    TraceReader,
)
from .annotations import IS_ANNOTATION, AnnotationAccumulator, UserAnnotations
from .go_runtime import WAIT_REASON_CATEGORIES
from .wakeups import WakeupAccumulator, Wakeups

__all__ = [
    "BlockedTime",
    "LatencyStats",
    "ProcUtilisation",
    "RunnableStats",
    "SchedLatency",
    "StackLatency",
    "TraceMetrics",
    "compute_metrics",
]

#: No start (yet) in an incarnation: later than any trace time.
_NEVER = np.iinfo(np.int64).max
_RUNNABLE, _RUNNING, _WAITING, _SYSCALL, _NOTEXIST, _UNDET = (
    F.GS_RUNNABLE, F.GS_RUNNING, F.GS_WAITING, F.GS_SYSCALL, F.GS_NOTEXIST, F.GS_UNDETERMINED)
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
    def of(cls, durations: np.ndarray) -> LatencyStats:
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

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "total_ns": self.total_ns, "share": self.share,
                "stack": [f"{f.function} {f.file}:{f.line}" for f in self.stack]}


@dataclass(frozen=True, slots=True)
class SchedLatency(LatencyStats):
    """Runnable-to-running latency as ``-pprof=sched`` counts it, and its top stacks."""

    top_stacks: tuple[StackLatency, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(LatencyStats.to_json(self))
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
    #: The tasks, regions and logs the service marked with runtime/trace (always read: they cost
    #: nothing in a trace without them).
    annotations: UserAnnotations = field(default_factory=UserAnnotations)
    #: Blocking episodes and who woke them; None unless asked for (``compute_metrics(data, wakeups=True)``).
    wakeups: Wakeups | None = None

    @property
    def utilisation(self) -> float:
        """Mean share of time the processors ran goroutines."""
        if not self.procs:
            return 0.0
        return sum(p.share for p in self.procs) / len(self.procs)


_CATEGORY: dict[str, str] = {reason: cat for cat, reasons in WAIT_REASON_CATEGORIES for reason in reasons}


def compute_metrics(data: bytes, *, wakeups: bool = False) -> TraceMetrics:
    """Read a trace and compute its scheduler metrics (and, with ``wakeups``, its wake-up chains)."""
    reader = TraceReader(data)
    # Everything built here is acyclic; the cyclic collector would only rescan the
    # millions of short-lived records of each generation (10-15 % of the time).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return metrics_from_generations(reader.generations(), reader.version, wakeups=wakeups)
    finally:
        if was_enabled:
            gc.enable()


def metrics_from_generations(gens: Iterable[OrderedGeneration], version: int, *,
                             wakeups: bool = False) -> TraceMetrics:
    acc = _Accumulator(wakeups=wakeups)
    for og in gens:
        acc.feed(og)
    return acc.finish(version)


_CATEGORIES = ("channel", "select", "sync", "io", "syscall", "sleep", "gc", "other")
_CAT_INDEX = {name: i for i, name in enumerate(_CATEGORIES)}
_CAT_OTHER = _CAT_INDEX["other"]
_CAT_SYSCALL = _CAT_INDEX["syscall"]
def _table(values: dict[int, int], default: int) -> np.ndarray:
    arr = np.full(256, default, dtype=np.int64)
    for k, v in values.items():
        arr[k] = v
    return arr


# Per wire type, from the reader's GO_TRANSITIONS table: which record field holds the goroutine,
# its fixed from/to states (-1: taken from the record, as for statuses), and which field holds
# the stack of the event that made it runnable and the wait reason.
_GID_COL = _table({typ: spec[0] for typ, spec in GO_TRANSITIONS.items()}, 0)
_FROM = _table({typ: -1 if spec[1] is None else spec[1] for typ, spec in GO_TRANSITIONS.items()}, 0)
_TO = _table({typ: -1 if spec[2] is None else spec[2] for typ, spec in GO_TRANSITIONS.items()}, 0)
_STACK_COL = _table({typ: spec[4] for typ, spec in GO_TRANSITIONS.items() if spec[4] in (6, 7)}, 0)
_REASON_COL = _table({typ: spec[3] for typ, spec in GO_TRANSITIONS.items() if spec[3] >= 0}, 0)
#: Record types the metrics read one by one (few per generation).
_MISC = np.zeros(256, dtype=bool)
_MISC[[SYNC, 7, 9, 26, 27, 28, 29, 30]] = True


def _group_order(gid: np.ndarray) -> np.ndarray:
    """``np.argsort(gid, kind="stable")``, faster when the IDs span less than 65536."""
    if gid.size:
        lo = int(gid.min())
        if int(gid.max()) - lo < 65536:
            # numpy's stable sort of 16-bit keys is a radix sort, several times faster than
            # the 64-bit one; same keys, same (stable) order.
            return np.argsort((gid - lo).astype(np.uint16), kind="stable")
    return np.argsort(gid, kind="stable")


def _int64_column(values: list[int]) -> np.ndarray:
    """A record column of signed values (contexts, -1 for none) as int64."""
    return np.fromiter(values, dtype=np.int64, count=len(values))  # a little faster than np.array


def _uint64_column(values: list[int]) -> np.ndarray:
    """A record column of unsigned values (arguments) as uint64."""
    try:
        return np.frombuffer(array("Q", values), dtype=np.uint64)  # about twice as fast as np.array
    except (OverflowError, TypeError):
        return np.array(values, dtype=np.uint64)


class _Accumulator:
    """Scheduler metrics, generation by generation, with numpy over each generation's records.

    Each goroutine transition is a row (goroutine, from, to, time, extra) where "extra" is
    what the metrics need about the new state: the P for Running, the stack of the event
    that made it runnable for Runnable, the wait category for Waiting. Sorting the rows by
    goroutine (stably) turns consecutive rows into state intervals. A goroutine's last,
    still open, state is carried into the next generation as a leading row.
    """

    def __init__(self, *, wakeups: bool = False) -> None:
        self.annotations = AnnotationAccumulator()
        self.wakeups = WakeupAccumulator() if wakeups else None
        self.start: int | None = None
        self.last = 0
        self.runnable = 0
        self.hist: dict[int, int] = {}  # runnable count -> ns
        # Per generation, every closed runnable interval: goroutine, start, end and stack index;
        # which of them count is decided at the end (see _sched_waits).
        self.waits: list[tuple[np.ndarray, ...]] = []
        # Per goroutine ID seen (sorted): its latest incarnation's birth, first start (or _NEVER)
        # and end (or -1); one entry an ID, however many generations it lives through.
        self.l_gid = self.l_born = self.l_run = self.l_end = np.zeros(0, dtype=np.int64)
        self.creation: list[np.ndarray] = []
        self.stack_index: dict[tuple[int, ...], int] = {(): 0}  # PCs -> index
        self.busy: dict[int, int] = {}
        self.created = 0
        self.ended = 0
        self.blocked = np.zeros(len(_CATEGORIES), dtype=np.int64)
        self.gc_ns = 0
        self.gc_since: int | None = None
        self.stw_ns = 0
        self.stw_since: dict[int, int] = {}
        self.pairs = np.zeros(64, dtype=np.int64)  # transition counts by from * 8 + to
        self.cpu: list[CPUSample] = []
        self.gomaxprocs = 0
        self.procs_seen: set[int] = set()
        self.gens = 0
        self.pc_frames: dict[int, Frame] = {}
        # open goroutine states carried between generations
        empty = np.zeros(0, dtype=np.int64)
        self.c_gid = self.c_state = self.c_since = self.c_extra = empty
        self.c_born = empty
        self.c_started = self.c_fresh = np.zeros(0, dtype=bool)

    def feed(self, og: OrderedGeneration) -> None:
        recs = og.records
        times = og.times
        if self.start is None:
            self.start = int(times[0])
        start = self.start
        typ = _uint64_column(recs[0::NFIELDS]).astype(np.int64)  # wire types: small, non-negative
        for i in np.flatnonzero(_MISC[typ]).tolist():
            self._misc(recs[i * NFIELDS:(i + 1) * NFIELDS], og, start)
        ann = np.flatnonzero(IS_ANNOTATION[typ])
        if ann.size:
            self.annotations.feed(og, ann, typ[ann])

        idx = np.flatnonzero(_GID_COL[typ])
        tt = typ[idx]
        col = {c: _int64_column(recs[c::NFIELDS])[idx] for c in (3, 4)}
        a1 = _uint64_column(recs[5::NFIELDS])
        # Procs seen (ProcStart, ProcStatus: their first argument), gathered at once.
        pmask = (typ == 10) | (typ == 13)
        if pmask.any():
            self.procs_seen.update(a1[pmask].tolist())
        col[5] = a1[idx].astype(np.int64)
        del a1
        for c in (6, 7):
            col[c] = _uint64_column(recs[c::NFIELDS])[idx].astype(np.int64)
        gid = np.where(_GID_COL[tt] == 4, col[4], col[5])
        frm = _FROM[tt]
        to = _TO[tt]
        status = frm < 0
        if status.any():
            frm = np.where(status, col[6], frm)
            to = np.where(status, col[7], to)
        self.pairs += np.bincount(frm * 8 + to, minlength=64)[:64]
        keep = frm != to
        gid, frm, to, tt = gid[keep], frm[keep], to[keep], tt[keep]
        t = times[idx][keep]
        col = {c: v[keep] for c, v in col.items()}
        undet = frm == _UNDET
        t = np.where(undet, start, t)  # first seen: back-dated to the window start
        if self.wakeups is not None:
            self.wakeups.feed(og.raw.strings, lambda sid: self._map_unique(sid, lambda v: self._stack_of(og, v)),
                              tt, gid, frm, to, t, col)

        # What the metrics need about each new state.
        extra = np.zeros(t.size, dtype=np.int64)
        running = to == _RUNNING
        extra[running] = col[3][running]
        runnable = (to == _RUNNABLE) & ~undet
        if runnable.any():
            sc = _STACK_COL[tt[runnable]]
            sid = np.where(sc == 6, col[6][runnable], np.where(sc == 7, col[7][runnable], 0))
            extra[runnable] = self._map_unique(sid, lambda v: self._stack_of(og, v))
        waiting = to == _WAITING
        extra[waiting] = _CAT_OTHER
        w = waiting & (_REASON_COL[tt] == 5)
        if w.any():
            strings = og.raw.strings
            extra[w] = self._map_unique(
                col[5][w], lambda v: _CAT_INDEX[_CATEGORY.get(strings.get(v, ""), "other")])
        self.created += int(np.count_nonzero(frm == _NOTEXIST))
        self.ended += int(np.count_nonzero(to == _NOTEXIST))

        # Runnable count over time: +1 entering, -1 leaving (back-dated entries at the start).
        plus = t[to == _RUNNABLE]
        minus = t[frm == _RUNNABLE]
        self._fold_runnable(np.concatenate((plus, minus)),
                            np.concatenate((np.ones(plus.size, np.int64), -np.ones(minus.size, np.int64))),
                            int(times[-1]))

        # Rows = carried open states, then this generation's transitions; stable sort by goroutine.
        a_gid = np.concatenate((self.c_gid, gid))
        a_to = np.concatenate((self.c_state, to))
        a_t = np.concatenate((self.c_since, t))
        a_extra = np.concatenate((self.c_extra, extra))
        a_run = np.concatenate((self.c_started, running))
        a_fresh = np.concatenate((self.c_fresh, (frm == _NOTEXIST) & (to == _RUNNABLE)))
        # An incarnation of a goroutine ID begins where it leaves NotExist (or is first seen); carried
        # rows bring theirs. The ID can be re-created (cgo callbacks: NotExist -> Syscall, again and again).
        a_born = np.concatenate((self.c_born, t))
        a_has_born = np.concatenate((np.ones(self.c_gid.size, dtype=bool), (frm == _NOTEXIST) | undet))
        n = a_gid.size
        order = _group_order(a_gid)
        a_gid, a_to, a_t, a_extra, a_run, a_fresh, a_born, a_has_born = (
            x[order] for x in (a_gid, a_to, a_t, a_extra, a_run, a_fresh, a_born, a_has_born))
        n = a_gid.size
        if n == 0:
            self._keep_frames(og)
            return
        first = np.ones(n, dtype=bool)
        first[1:] = a_gid[1:] != a_gid[:-1]
        last = np.ones(n, dtype=bool)
        last[:-1] = first[1:]
        # Each row's incarnation: the latest birth at or before it in its group (a group's first row
        # always has one, unless the trace is corrupt: then the window start stands in).
        has = a_has_born | first
        a_born = np.where(a_has_born, a_born, np.where(first, start, 0))
        a_born = a_born[np.maximum.accumulate(np.where(has, np.arange(n), 0))]
        # started[i]: the goroutine ran at or before row i (carried rows bring their flag).
        cum = np.cumsum(a_run)
        group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        started = (cum - cum[group_start] + a_run[group_start]) > 0
        closed = ~last
        dur = np.zeros(n, dtype=np.int64)
        dur[:-1] = a_t[1:] - a_t[:-1]
        # Running: busy time of the P it ran on.
        sel = closed & (a_to == _RUNNING)
        if sel.any():
            p = a_extra[sel]
            b = np.bincount(p + 1, weights=dur[sel])
            for k in np.flatnonzero(b).tolist():
                self.busy[k - 1] = self.busy.get(k - 1, 0) + int(b[k])
        # Runnable: every closed wait is a candidate for the scheduling latency (decided at the end,
        # as -pprof=sched does); the wait from creation to first start is also the start latency.
        sel = closed & (a_to == _RUNNABLE)
        if sel.any():
            self.waits.append((a_gid[sel], a_t[sel], a_t[sel] + dur[sel], a_extra[sel]))
        seg = first.copy()
        seg[1:] |= a_born[1:] != a_born[:-1]
        at = np.flatnonzero(seg)
        self._note_lives(a_gid[at], a_born[at], np.minimum.reduceat(np.where(a_to == _RUNNING, a_t, _NEVER), at),
                         np.maximum.reduceat(np.where(a_to == _NOTEXIST, a_t, -1), at))
        cw = sel & ~started & a_fresh
        if cw.any():
            self.creation.append(dur[cw])
        # Waiting and Syscall: blocked time by category.
        sel = closed & (a_to == _WAITING)
        if sel.any():
            self.blocked += np.bincount(a_extra[sel], weights=dur[sel], minlength=len(_CATEGORIES)).astype(np.int64)
        sel = closed & (a_to == _SYSCALL)
        self.blocked[_CAT_SYSCALL] += int(dur[sel].sum())
        # Carry the open states on.
        open_ = last & (a_to != _NOTEXIST)
        self.c_gid = a_gid[open_]
        self.c_state = a_to[open_]
        self.c_since = a_t[open_]
        self.c_extra = a_extra[open_]
        self.c_born = a_born[open_]
        self.c_started = started[open_]
        self.c_fresh = a_fresh[open_] & ~started[open_]
        self._keep_frames(og)

    @staticmethod
    def _map_unique(values: np.ndarray, f: Callable[[int], int]) -> np.ndarray:
        """``f`` of each value, called once per distinct value in increasing order."""
        if values.size:
            lo, hi = int(values.min()), int(values.max())
            if lo >= 0 and hi < 4 * values.size + 65536:
                # Small IDs (stacks, strings): a lookup table instead of a sort.
                present = np.zeros(hi + 1, dtype=bool)
                present[values] = True
                uniq = np.flatnonzero(present)
                table = np.zeros(hi + 1, dtype=np.int64)
                table[uniq] = [f(v) for v in uniq.tolist()]
                looked_up: np.ndarray = table[values]
                return looked_up
        uniq, inv = np.unique(values, return_inverse=True)
        mapped: np.ndarray = np.array([f(v) for v in uniq.tolist()], dtype=np.int64)
        return mapped[inv]

    def _stack_of(self, og: OrderedGeneration, sid: int) -> int:
        pcs = og.raw.stacks.get(sid, ()) if sid else ()
        gi = self.stack_index.get(pcs)
        if gi is None:
            gi = self.stack_index[pcs] = len(self.stack_index)
        return gi

    def _fold_runnable(self, ts: np.ndarray, ds: np.ndarray, end_t: int) -> None:
        """Fold this generation's runnable step function into the time-weighted histogram."""
        hist = self.hist
        prev_t = self.last if self.last else (self.start or 0)
        if ts.size:
            order = np.argsort(ts, kind="stable")
            ts = ts[order]
            counts = self.runnable + np.cumsum(ds[order])
            edges = np.concatenate(([prev_t], ts, [end_t]))
            vals = np.concatenate(([self.runnable], counts))
            widths = np.diff(edges)
            low = min(0, int(vals.min()))  # counts are small integers, never negative in a sound trace
            sums = np.bincount(vals - low, weights=widths)
            for v in np.flatnonzero(sums).tolist():
                hist[v + low] = hist.get(v + low, 0) + int(sums[v])
            self.runnable = int(counts[-1])
        else:
            hist[self.runnable] = hist.get(self.runnable, 0) + max(0, end_t - prev_t)
        self.last = end_t

    def _keep_frames(self, og: OrderedGeneration) -> None:
        # Keep every PC's frame: a stack captured in one generation may be charged in the next,
        # after that generation's tables are gone (a PC means the same code all trace long).
        pc_frames = self.pc_frames
        strings = og.raw.strings
        for pc, (fn, fl, line) in og.raw.frames.items():
            if pc not in pc_frames:
                pc_frames[pc] = Frame(strings.get(fn, ""), strings.get(fl, ""), line, pc=pc)

    def _misc(self, rec: list[int], og: OrderedGeneration, start: int) -> None:
        """Records other than goroutine transitions: sync points, samples, GOMAXPROCS, GC, STW, Ps."""
        typ, t = rec[0], rec[1]
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

    def _note_lives(self, gid: np.ndarray, born: np.ndarray, run: np.ndarray, fin: np.ndarray) -> None:
        """Fold one generation's incarnations (sorted by goroutine, then birth) into the per-ID record."""
        last = np.ones(gid.size, dtype=bool)
        last[:-1] = gid[1:] != gid[:-1]
        gid, born, run, fin = gid[last], born[last], run[last], fin[last]  # each ID's latest incarnation here
        n = self.l_gid.size
        pos = np.searchsorted(self.l_gid, gid)
        found = pos < n
        found[found] = self.l_gid[pos[found]] == gid[found]
        k = pos[found]
        b, r, f = born[found], run[found], fin[found]
        same, newer = b == self.l_born[k], b > self.l_born[k]
        self.l_run[k] = np.where(same, np.minimum(self.l_run[k], r), np.where(newer, r, self.l_run[k]))
        self.l_end[k] = np.where(same, np.maximum(self.l_end[k], f), np.where(newer, f, self.l_end[k]))
        self.l_born[k] = np.where(newer, b, self.l_born[k])
        new = ~found
        if new.any():
            cols = [np.concatenate((old, x[new])) for old, x in
                    ((self.l_gid, gid), (self.l_born, born), (self.l_run, run), (self.l_end, fin))]
            order = np.argsort(cols[0], kind="stable")
            self.l_gid, self.l_born, self.l_run, self.l_end = (c[order] for c in cols)

    def _sched_waits(self, end: int) -> tuple[np.ndarray, np.ndarray]:
        """The waits ``go tool trace -pprof=sched`` counts, and their stack indexes.

        The toolchain keeps one summary per goroutine ID, the last incarnation's
        (internal/trace summary: leaving NotExist makes a new one), and counts
        each runnable interval by its overlap with that incarnation's life from
        its first start (or from time 0 when it never ran) to its end (or the
        trace's end). So the wait before a goroutine's first start counts
        nothing, and neither do the waits of an ID's earlier incarnations.
        """
        none = np.zeros(0, dtype=np.int64)
        if not self.waits:
            return none, none
        w_gid, w_t0, w_t1, w_stack = (np.concatenate(c) for c in zip(*self.waits, strict=True))
        lo = np.where(self.l_run == _NEVER, 0, self.l_run)
        hi = np.where(self.l_end < 0, end, self.l_end)
        # Every waiting goroutine has a record (its wait's rows were noted in the same generation).
        k = np.searchsorted(self.l_gid, w_gid)
        overlap = np.minimum(w_t1, hi[k]) - np.maximum(w_t0, lo[k])
        counted = overlap > 0
        return overlap[counted].astype(np.int64), w_stack[counted]

    def finish(self, version: int) -> TraceMetrics:
        start = self.start or 0
        end = self.last
        duration = max(0, end - start)
        # close every open interval at the end of the window
        for s, since, extra in zip(self.c_state.tolist(), self.c_since.tolist(), self.c_extra.tolist(), strict=True):
            if s == _RUNNING:
                self.busy[extra] = self.busy.get(extra, 0) + end - since
            elif s == _WAITING:
                self.blocked[extra] += end - since
            elif s == _SYSCALL:
                self.blocked[_CAT_SYSCALL] += end - since
        gc_ns = self.gc_ns + (end - self.gc_since if self.gc_since is not None else 0)
        procs_n = self.gomaxprocs or len(self.procs_seen) or 1
        runnable = _weighted_stats(self.hist)
        per_p = RunnableStats(*(x / procs_n for x in (runnable.mean, runnable.p50, runnable.p95, runnable.p99,
                                                      runnable.max)))
        sched, idx = self._sched_waits(end)
        base = LatencyStats.of(sched)
        top_stacks: tuple[StackLatency, ...] = ()
        if sched.size:
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
        names = F.GO_STATE_NAMES
        transitions = {f"{names[k // 8]}->{names[k % 8]}": int(self.pairs[k]) for k in np.flatnonzero(self.pairs)}
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
            start_latency=LatencyStats.of(np.concatenate(self.creation) if self.creation
                                          else np.zeros(0, dtype=np.int64)),
            procs=procs,
            goroutines_created=self.created,
            goroutines_ended=self.ended,
            goroutines_alive_at_end=int(self.c_gid.size),
            blocked_ns=BlockedTime(**dict(zip(_CATEGORIES, (int(x) for x in self.blocked), strict=True))),
            gc_ns=gc_ns,
            gc_share=gc_ns / duration if duration else 0.0,
            stw_ns=self.stw_ns,
            stw_share=self.stw_ns / duration if duration else 0.0,
            transitions=transitions,
            cpu_samples=tuple(self.cpu),
            annotations=self.annotations.finish(),
            wakeups=None if self.wakeups is None else self.wakeups.finish(self.stack_index, self.pc_frames),
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
