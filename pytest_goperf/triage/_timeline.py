"""Per-goroutine timelines of one execution trace, for triage and the report's pictures.

:func:`~pytest_goperf.trace.compute_metrics` gives distributions over the
window; triage also needs *when* and *who*: the runnable count as a time
series (the report's chart), the scheduling-latency intervals as a histogram,
and for every goroutine its creation (time, creator goroutine and stack), the
time it spent in each state and its state changes (to align a suspicious
goroutine of a dump with what the trace saw of it). One pass over the ordered
records of :class:`~pytest_goperf.trace.TraceReader`.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

import numpy as np

from ..trace import _format as F
from ..trace._order import NFIELDS
from ..trace.reader import GO_TRANSITIONS, Frame, TraceReader

__all__ = ["GoroutineTimeline", "LatencyHistogram", "RunnableSeries", "TraceTimeline", "trace_timeline"]

# Public GoState indices (trace/_format.py GO_STATE_NAMES).
_NOTEXIST, _RUNNABLE, _RUNNING, _WAITING, _SYSCALL = 1, 2, 3, 4, 5
STATE_NAMES = ("undetermined", "notexist", "runnable", "running", "waiting", "syscall")
_GO_CREATE = 14
#: State changes kept per goroutine; a busy goroutine changes state thousands of
#: times a second and the story of one needs only its outline.
MAX_CHANGES = 120
#: Points of the runnable time series (one per pixel column of the chart, roughly).
SERIES_POINTS = 400
#: Upper edges of the scheduling-latency histogram buckets (ns): 1-2-5 steps from 1 µs to 1 s.
LATENCY_EDGES_NS: tuple[int, ...] = tuple(
    m * 10**e for e in range(3, 9) for m in (1, 2, 5)
) + (10**9,)


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
    goroutines: dict[int, GoroutineTimeline]


def trace_timeline(data: bytes) -> TraceTimeline:
    """Read ``data`` (an execution trace) into a :class:`TraceTimeline`."""
    reader = TraceReader(data)
    was_enabled = gc.isenabled()
    gc.disable()  # acyclic records only, as in compute_metrics
    try:
        return _timeline(reader)
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


def _column(recs: list, c: int, idx: np.ndarray) -> np.ndarray:
    return np.array(recs[c::NFIELDS], dtype=np.int64 if c < 5 else np.uint64)[idx].astype(np.int64)


def _timeline(reader: TraceReader) -> TraceTimeline:
    """Vectorised per generation (numpy), one sort at the end: a Python step per event is 6x slower."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("gid", "t", "frm", "to", "reason")}
    cpu_g: list[np.ndarray] = []
    created: dict[int, tuple[int, int, tuple[Frame, ...]]] = {}
    reasons: dict[str, int] = {"": 0}
    start: int | None = None
    end = 0
    for og in reader.generations():
        recs, times = og.records, og.times
        if times.size == 0:
            continue
        if start is None:
            start = int(times[0])
        end = max(end, int(times[-1]))
        typ = np.array(recs[0::NFIELDS], dtype=np.int64)
        typ = np.where(typ < _IS_GO.size, typ, 0)
        samples = np.flatnonzero(typ == F.EV_CPU_SAMPLE)
        if samples.size:
            cpu_g.append(_column(recs, 4, samples))
        idx = np.flatnonzero(_IS_GO[typ])
        if idx.size == 0:
            continue
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
            cache: dict[int, tuple[Frame, ...]] = {}
            for i, sc in zip(new.tolist(), stack_col.tolist()):
                sid = int(cols[7][i]) if sc == 7 else 0
                st = cache.get(sid)
                if st is None:
                    st = cache[sid] = og.stack(sid) if sid else ()
                created[int(gid[i])] = (int(t[i]) - start, int(cols[4][i]), st)
        for k, v in (("gid", gid), ("t", t), ("frm", frm), ("to", to), ("reason", reason)):
            parts[k].append(v[keep])
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
    cpu_counts: dict[int, int] = {}
    if cpu_g:
        g_ids, g_n = np.unique(np.concatenate(cpu_g), return_counts=True)
        cpu_counts = dict(zip(g_ids.tolist(), g_n.tolist()))
    reason_names = {v: k for k, v in reasons.items()}
    bounds = np.append(first_idx, n)
    gs: dict[int, GoroutineTimeline] = {}
    ends = np.flatnonzero(to == _NOTEXIST)
    ended = dict(zip(gid[ends].tolist(), (t[ends] - start).tolist()))
    for k, g in enumerate(uniq.tolist()):
        c = created.get(g)
        row = per_state[k]
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        hi_c = min(hi, lo + MAX_CHANGES)
        gs[g] = GoroutineTimeline(
            id=g,
            created_ns=c[0] if c else None,
            creator=c[1] if c and c[1] >= 0 else None,
            creator_stack=c[2] if c else (),
            ended_ns=ended.get(g),
            state_ns={STATE_NAMES[i]: int(row[i]) for i in range(2, len(STATE_NAMES)) if row[i]},
            changes=_Changes(t, to, reason, reason_names, start, lo, hi_c),
            transitions=hi - lo,
            cpu_samples=cpu_counts.get(g, 0),
        )
    return TraceTimeline(max(0, end - start), series, histogram, gs)


class _Changes(list):  # type: ignore[type-arg]
    """A goroutine's state changes, built only when read: most goroutines' never are."""

    def __init__(self, t: np.ndarray, to: np.ndarray, reason: np.ndarray, names: dict[int, str], start: int,
                 lo: int, hi: int) -> None:
        super().__init__()
        self._src: tuple | None = (t, to, reason, names, start, lo, hi)

    def _fill(self) -> None:
        if self._src is not None:
            t, to, reason, names, start, lo, hi = self._src
            self._src = None
            self.extend((int(t[i]) - start, STATE_NAMES[int(to[i])], names.get(int(reason[i]), ""))
                        for i in range(lo, hi))

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        self._fill()
        return super().__getitem__(i)

    def __repr__(self) -> str:
        self._fill()
        return super().__repr__()


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
        return integral[i] + vals[i] * (x - pts[i])

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
