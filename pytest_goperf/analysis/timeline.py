"""Per-goroutine timelines of one execution trace, for triage and the report's pictures.

:func:`~pytest_goperf.analysis.trace_metrics.compute_metrics` gives distributions over the
window; triage also needs *when* and *who*: the runnable count as a time
series (the report's chart), the scheduling-latency intervals as a histogram,
and for every goroutine its creation (time, creator goroutine and stack), the
time it spent in each state and its state changes (to align a suspicious
goroutine of a dump with what the trace saw of it). One pass over the ordered
records of :class:`~pytest_goperf.formats.trace.reader.TraceReader`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ..formats.symbols import Frame
from ..formats.trace import _format as F
from ..formats.trace._order import NFIELDS
from ..formats.trace.reader import GO_TRANSITIONS, OrderedGeneration, TraceReader
from .trace_metrics import TraceMetrics, metrics_from_generations

__all__ = ["GoroutineTimeline", "LatencyHistogram", "RunnableSeries", "TraceTimeline", "metrics_and_timeline", "trace_timeline"]

# Public GoState indices and event codes, from the trace format's tables.
_NOTEXIST, _RUNNABLE, _RUNNING, _WAITING, _SYSCALL = F.GS_NOTEXIST, F.GS_RUNNABLE, F.GS_RUNNING, F.GS_WAITING, F.GS_SYSCALL
STATE_NAMES = tuple(name.lower() for name in F.GO_STATE_NAMES)
_GO_CREATE = F.EV_GO_CREATE
_ASSIST_ACTIVE, _ASSIST_END = F.EV_GC_MARK_ASSIST_ACTIVE, F.EV_GC_MARK_ASSIST_END
#: State changes kept per goroutine; a busy goroutine changes state thousands of
#: times a second and the story of one needs only its outline.
MAX_CHANGES = 120
#: Points of the runnable time series (one per pixel column of the chart, roughly).
SERIES_POINTS = 400
#: Upper edges of the scheduling-latency histogram buckets (ns): 1-2-5 steps from 1 µs to 1 s.
LATENCY_EDGES_NS: tuple[int, ...] = (*tuple(m * 10 ** e for e in range(3, 9) for m in (1, 2, 5)), 10 ** 9)


@dataclass(frozen=True, slots=True)
class RunnableSeries:
    """Runnable goroutines over the window, downsampled to equal bins.

    ``times_ns`` are bin starts relative to the trace start; ``mean`` is the
    time-weighted mean count in the bin, ``peak`` its maximum.
    """

    times_ns: tuple[int, ...]
    mean: tuple[float, ...]
    peak: tuple[int, ...]
    bin_ns: int


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Runnable-to-running intervals counted in buckets with upper edges ``edges_ns`` (last: above)."""

    edges_ns: tuple[int, ...]
    counts: tuple[int, ...]  # len(edges_ns) + 1: the last bucket is "> edges_ns[-1]"

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(slots=True)
class GoroutineTimeline:
    """What the trace saw of one goroutine (times relative to the trace start, ns)."""

    id: int
    created_ns: int | None = None  # None: it existed before the window
    creator: int | None = None  # the goroutine that ran ``go`` (None: unknown or before the window)
    creator_stack: tuple[Frame, ...] = ()
    ended_ns: int | None = None
    state_ns: dict[str, int] = field(default_factory=dict)  # time in each state within the window
    changes: list[tuple[int, str, str]] = field(default_factory=list)  # (t, new state, reason), capped
    transitions: int = 0
    cpu_samples: int = 0


@dataclass(frozen=True, slots=True)
class TraceTimeline:
    """The time series and per-goroutine timelines of one trace."""

    duration_ns: int
    runnable: RunnableSeries
    latency: LatencyHistogram
    goroutines: Mapping[int, GoroutineTimeline]  # built lazily: see _Goroutines (most(), spinning())
    mark_assist_ns: int = 0  # goroutine time in GC mark assists (allocating goroutines made to help the GC)


def trace_timeline(data: bytes) -> TraceTimeline:
    """Read ``data`` (an execution trace) into a :class:`TraceTimeline`."""
    reader = TraceReader(data)
    was_enabled = gc.isenabled()
    gc.disable()  # acyclic records only, as in compute_metrics
    try:
        feed, finish = _builder()
        for og in reader.generations():
            feed(og)
        return finish()
    finally:
        if was_enabled:
            gc.enable()


def metrics_and_timeline(data: bytes, *, wakeups: bool = False) -> tuple[TraceMetrics, TraceTimeline]:
    """:func:`~pytest_goperf.analysis.trace_metrics.compute_metrics` and :func:`trace_timeline` in one read of the trace."""
    reader = TraceReader(data)
    feed, finish = _builder()

    def tee() -> Iterator[OrderedGeneration]:
        for og in reader.generations():
            feed(og)
            yield og

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        metrics = metrics_from_generations(tee(), reader.version, wakeups=wakeups)
        return metrics, finish()
    finally:
        if was_enabled:
            gc.enable()


def _lookup(values: dict[int, int], default: int = -1) -> np.ndarray:
    size = max(max(GO_TRANSITIONS), F.EV_CPU_SAMPLE, 64) + 1
    out = np.full(size, default, dtype=np.int64)
    for k, v in values.items():
        out[k] = v
    return out


# Wire type -> columns of the record tuple (typ, t, m, p, g, a1, a2, a3, a4); -1: none. From/to of
# status events (None in GO_TRANSITIONS) are read from columns 6 and 7, marked here with -2.
_IS_GO = _lookup({k: 1 for k in GO_TRANSITIONS}, 0).astype(bool)
_SRC = _lookup({k: v[0] for k, v in GO_TRANSITIONS.items()})
_FROM = _lookup({k: -2 if v[1] is None else v[1] for k, v in GO_TRANSITIONS.items()})
_TO = _lookup({k: -2 if v[2] is None else v[2] for k, v in GO_TRANSITIONS.items()})
_REASON = _lookup({k: v[3] for k, v in GO_TRANSITIONS.items()})
_CREATE_STACK = _lookup({k: v[4] for k, v in GO_TRANSITIONS.items() if v[1] == _NOTEXIST})


def _column(recs: list[int], c: int, idx: np.ndarray) -> np.ndarray:
    col: np.ndarray = np.array(recs[c::NFIELDS], dtype=np.int64 if c < 5 else np.uint64)[idx].astype(np.int64)
    return col


def _builder() -> tuple[Callable[[OrderedGeneration], None], Callable[[], TraceTimeline]]:
    """Vectorised per generation (numpy), one sort at the end: a Python step per event is 6x slower.

    Returns ``feed(generation)`` and ``finish()``, so that the same pass can feed the trace metrics too.
    """
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("gid", "t", "frm", "to", "reason")}
    cpu_g: list[np.ndarray] = []
    created_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    stacks: list[tuple[Frame, ...]] = []
    reasons: dict[str, int] = {"": 0}
    assist_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    first: list[int] = []  # the window start, once seen
    last = [0]  # the latest event time

    def feed(og: OrderedGeneration) -> None:
        recs, times = og.records, og.times
        if times.size == 0:
            return
        if not first:
            first.append(int(times[0]))
        last[0] = max(last[0], int(times[-1]))
        start = first[0]
        typ = np.array(recs[0::NFIELDS], dtype=np.int64)
        typ = np.where(typ < _IS_GO.size, typ, 0)
        samples = np.flatnonzero(typ == F.EV_CPU_SAMPLE)
        if samples.size:
            cpu_g.append(_column(recs, 4, samples))
        assists = np.flatnonzero((typ >= _ASSIST_ACTIVE) & (typ <= _ASSIST_END))
        if assists.size:
            at = typ[assists]
            assist_parts.append((times[assists], np.where(at == _ASSIST_ACTIVE, _column(recs, 5, assists),
                                                          _column(recs, 4, assists)), at))
        idx = np.flatnonzero(_IS_GO[typ])
        if idx.size == 0:
            return
        tt = typ[idx]
        cols = {c: _column(recs, c, idx) for c in (4, 5, 6, 7)}
        gid = np.where(_SRC[tt] == 4, cols[4], cols[5])
        frm, to = _FROM[tt], _TO[tt]
        status = frm == -2
        frm = np.where(status, cols[6], frm)
        to = np.where(status, cols[7], to)
        keep = frm != to
        t = times[idx]
        t = np.where(frm == 0, start, t)  # first seen in a status event: in that state since the start
        reason = np.zeros(idx.size, dtype=np.int64)
        has_reason = keep & (_REASON[tt] == 5)
        if has_reason.any():
            for sid in np.unique(cols[5][has_reason]).tolist():
                name = og.string(sid)
                code = reasons.setdefault(name, len(reasons))
                reason[has_reason & (cols[5] == sid)] = code
        new = np.flatnonzero(keep & (frm == _NOTEXIST))
        if new.size:
            stack_col = _CREATE_STACK[tt[new]]
            sids = np.where(stack_col == 7, cols[7][new], 0)
            uniq_sids, inv = np.unique(sids, return_inverse=True)
            base = len(stacks)
            stacks.extend(og.stack(int(sid)) if sid else () for sid in uniq_sids.tolist())
            created_parts.append((gid[new], t[new] - start, cols[4][new], inv.astype(np.int64) + base))
        for k, v in (("gid", gid), ("t", t), ("frm", frm), ("to", to), ("reason", reason)):
            parts[k].append(v[keep])

    def finish() -> TraceTimeline:
        tl = _finish(parts, cpu_g, created_parts, stacks, reasons, first[0] if first else None, last[0])
        return replace(tl, mark_assist_ns=_assist_ns(assist_parts, last[0]))

    return feed, finish


def _assist_ns(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], end: int) -> int:
    """Goroutine time spent in GC mark assists: begin (or active at a generation start) to end."""
    if not parts:
        return 0
    t, g, typ = (np.concatenate(x) for x in zip(*parts, strict=False))
    order = np.lexsort((t, g))
    total = 0
    open_at: dict[int, int] = {}
    for ti, gi, ty in zip(t[order].tolist(), g[order].tolist(), typ[order].tolist(), strict=False):
        if ty == _ASSIST_END:
            began = open_at.pop(gi, None)
            if began is not None:
                total += ti - began
        else:
            open_at.setdefault(gi, ti)
    total += sum(end - b for b in open_at.values())
    return total


def _finish(parts: dict[str, list[np.ndarray]], cpu_g: list[np.ndarray],
            created_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
            stacks: list[tuple[Frame, ...]],
            reasons: dict[str, int], start: int | None, end: int) -> TraceTimeline:
    start = start or 0
    cat = {k: (np.concatenate(v) if v else np.zeros(0, dtype=np.int64)) for k, v in parts.items()}
    series = _series(cat["t"], cat["frm"], cat["to"], start, end)
    # One stable sort by goroutine keeps each goroutine's rows in time order.
    order = np.argsort(cat["gid"], kind="stable")
    gid, t, frm, to, reason = (cat[k][order] for k in ("gid", "t", "frm", "to", "reason"))
    n = gid.size
    last = np.ones(n, dtype=bool)
    if n:
        last[:-1] = gid[1:] != gid[:-1]
    nxt_t = np.empty(n, dtype=np.int64)
    nxt_to = np.full(n, -1, dtype=np.int64)
    if n:
        nxt_t[:-1] = t[1:]
        nxt_to[:-1] = to[1:]
    nxt_t[last] = end
    nxt_to[last] = -1
    dur = np.maximum(0, nxt_t - t)
    # Scheduling latency as -pprof=sched: runnable intervals closed by a start, except the first
    # wait of a goroutine created in the window.
    lat = (to == _RUNNABLE) & (nxt_to == _RUNNING) & (frm != _NOTEXIST)
    histogram = _histogram(dur[lat])
    uniq, first_idx, inverse = np.unique(gid, return_index=True, return_inverse=True)
    per_state = np.zeros((uniq.size, len(STATE_NAMES)), dtype=np.int64)
    alive = to != _NOTEXIST
    np.add.at(per_state, (inverse[alive], to[alive]), dur[alive])
    if cpu_g:
        g_ids, g_n = np.unique(np.concatenate(cpu_g), return_counts=True)
    else:
        g_ids = g_n = np.zeros(0, dtype=np.int64)
    if created_parts:
        c_gid, c_t, c_creator, c_stack = (np.concatenate(x) for x in zip(*created_parts, strict=False))
        order = np.argsort(c_gid, kind="stable")
        created = (c_gid[order], c_t[order], c_creator[order], c_stack[order])
    else:
        empty = np.zeros(0, dtype=np.int64)
        created = (empty, empty, empty, empty)
    ends = np.flatnonzero(to == _NOTEXIST)
    e_order = np.argsort(gid[ends], kind="stable")
    gs = _Goroutines(
        uniq=uniq, per_state=per_state, bounds=np.append(first_idx, n), t=t, to=to, reason=reason,
        reason_names={v: k for k, v in reasons.items()}, start=start, created=created, stacks=stacks,
        ended=(gid[ends][e_order], (t[ends] - start)[e_order]), cpu=(g_ids, g_n),
    )
    return TraceTimeline(max(0, end - start), series, histogram, gs)


def _find(keys: np.ndarray, key: int) -> int:
    """Index of ``key`` in the sorted array ``keys``, -1 when absent."""
    i = int(np.searchsorted(keys, key))
    return i if i < keys.size and int(keys[i]) == key else -1


class _Goroutines(Mapping[int, GoroutineTimeline]):
    """Goroutine id -> :class:`GoroutineTimeline`, each built from the arrays when first asked for.

    A storm window has hundreds of thousands of goroutines and triage looks at a
    few dozen; building them all took longer than reading the trace.
    """

    def __init__(self, *, uniq: np.ndarray, per_state: np.ndarray, bounds: np.ndarray, t: np.ndarray,
                 to: np.ndarray, reason: np.ndarray, reason_names: dict[int, str], start: int,
                 created: tuple[np.ndarray, ...], stacks: list[tuple[Frame, ...]],
                 ended: tuple[np.ndarray, np.ndarray], cpu: tuple[np.ndarray, np.ndarray]) -> None:
        self._uniq, self._per_state, self._bounds = uniq, per_state, bounds
        self._t, self._to, self._reason, self._names, self._start = t, to, reason, reason_names, start
        self._created, self._stacks, self._ended, self._cpu = created, stacks, ended, cpu
        self._cache: dict[int, GoroutineTimeline] = {}

    def __len__(self) -> int:
        return int(self._uniq.size)

    def __iter__(self) -> Iterator[int]:
        return iter(self._uniq.tolist())

    def __contains__(self, gid: object) -> bool:
        return isinstance(gid, int) and _find(self._uniq, gid) >= 0

    def __getitem__(self, gid: int) -> GoroutineTimeline:
        hit = self._cache.get(gid)
        if hit is not None:
            return hit
        k = _find(self._uniq, gid)
        if k < 0:
            raise KeyError(gid)
        row = self._per_state[k]
        lo, hi = int(self._bounds[k]), int(self._bounds[k + 1])
        c = _find(self._created[0], gid)
        e = _find(self._ended[0], gid)
        s = _find(self._cpu[0], gid)
        creator = int(self._created[2][c]) if c >= 0 else -1
        g = GoroutineTimeline(
            id=gid,
            created_ns=int(self._created[1][c]) if c >= 0 else None,
            creator=creator if creator >= 0 else None,
            creator_stack=self._stacks[int(self._created[3][c])] if c >= 0 else (),
            ended_ns=int(self._ended[1][e]) if e >= 0 else None,
            state_ns={STATE_NAMES[i]: int(row[i]) for i in range(2, len(STATE_NAMES)) if row[i]},
            changes=[(int(self._t[i]) - self._start, STATE_NAMES[int(self._to[i])], self._names.get(int(self._reason[i]), ""))
                     for i in range(lo, min(hi, lo + MAX_CHANGES))],
            transitions=hi - lo,
            cpu_samples=int(self._cpu[1][s]) if s >= 0 else 0,
        )
        self._cache[gid] = g
        return g

    def state_ns(self, state: str) -> dict[int, int]:
        """Time each goroutine spent in ``state`` (only goroutines with some), vectorised."""
        col = self._per_state[:, STATE_NAMES.index(state)]
        nz = np.flatnonzero(col)
        return dict(zip(self._uniq[nz].tolist(), col[nz].tolist(), strict=False))

    def most(self, state: str, n: int, *, created_in_window: bool = False,
             created_at: tuple[Frame, ...] | None = None) -> list[int]:
        """The ``n`` goroutines that spent the most time in ``state``, most first.

        ``created_in_window`` keeps only goroutines the trace saw being created
        (their creator and its stack are known); ``created_at`` only those
        created at that stack (one of :meth:`creators`).
        """
        col = self._per_state[:, STATE_NAMES.index(state)].copy()
        if created_at is not None:
            at = [i for i, st in enumerate(self._stacks) if st == created_at]
            col[~np.isin(self._uniq, self._created[0][np.isin(self._created[3], at)])] = 0
        elif created_in_window:
            col[~np.isin(self._uniq, self._created[0])] = 0
        top = np.argsort(-col, kind="stable")[:n]
        return [int(self._uniq[i]) for i in top if col[i] > 0]

    def creators(self, n: int = 3) -> list[tuple[tuple[Frame, ...], int]]:
        """The stacks that created the most goroutines in the window (the ``go`` statements), with counts."""
        if not self._created[3].size:
            return []
        counts = np.bincount(self._created[3], minlength=len(self._stacks))
        merged: dict[tuple[Frame, ...], int] = {}
        for i in np.flatnonzero(counts).tolist():
            merged[self._stacks[i]] = merged.get(self._stacks[i], 0) + int(counts[i])
        return sorted(merged.items(), key=lambda kv: -kv[1])[:n]

    def spinning(self, min_running_ns: int) -> list[int]:
        """Goroutines that ran at least ``min_running_ns`` and never waited nor made a system call."""
        ps = self._per_state
        sel = (ps[:, _RUNNING] >= min_running_ns) & (ps[:, _WAITING] == 0) & (ps[:, _SYSCALL] == 0)
        idx = np.flatnonzero(sel)
        idx = idx[np.argsort(-ps[idx, _RUNNING], kind="stable")]
        return [int(self._uniq[i]) for i in idx]


def _series(t: np.ndarray, frm: np.ndarray, to: np.ndarray, start: int, end: int) -> RunnableSeries:
    """Runnable count over time: +1 entering, -1 leaving; downsampled to SERIES_POINTS bins."""
    n = SERIES_POINTS
    duration = max(1, end - start)
    bin_ns = max(1, -(-duration // n))
    plus = t[to == _RUNNABLE]
    minus = t[frm == _RUNNABLE]
    st = np.concatenate((plus, minus))
    order = np.argsort(st, kind="stable")
    st = st[order]
    c = np.cumsum(np.concatenate((np.ones(plus.size, np.int64), -np.ones(minus.size, np.int64)))[order])
    edges = start + np.arange(n + 1, dtype=np.int64) * bin_ns
    pts = np.clip(np.concatenate(([start], st, [edges[-1]])), start, edges[-1])
    vals = np.concatenate(([0], c))
    integral = np.concatenate(([0.0], np.cumsum(vals * np.diff(pts).astype(np.float64))))

    def area(x: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(pts, x, side="right") - 1, 0, vals.size - 1)
        out: np.ndarray = integral[i] + vals[i] * (x - pts[i])
        return out

    mean = np.diff(area(edges.astype(np.float64))) / bin_ns
    carried = np.clip(np.searchsorted(pts, edges[:-1], side="right") - 1, 0, vals.size - 1)
    peak = vals[carried].copy()
    if st.size:
        np.maximum.at(peak, np.clip((st - start) // bin_ns, 0, n - 1), c)
    return RunnableSeries(
        tuple(int(x) for x in (edges[:-1] - start)),
        tuple(round(float(x), 3) for x in mean),
        tuple(int(x) for x in peak),
        int(bin_ns),
    )


def _histogram(d: np.ndarray) -> LatencyHistogram:
    idx = np.searchsorted(np.asarray(LATENCY_EDGES_NS), d, side="left")
    counts = np.bincount(idx, minlength=len(LATENCY_EDGES_NS) + 1)
    return LatencyHistogram(LATENCY_EDGES_NS, tuple(int(x) for x in counts))
