"""User annotations of one trace: the tasks, regions and logs a service marks with ``runtime/trace``.

``trace.NewTask`` / ``trace.WithRegion`` / ``trace.StartRegion`` / ``trace.Log``
write TaskBegin/TaskEnd, RegionBegin/RegionEnd and Log events; this module pairs
them into completed spans, the way ``internal/trace``'s summary does:

* a region is begun and ended on one goroutine and regions nest, so an end
  closes the innermost region open on its goroutine (whatever its name, as
  the toolchain does); an end with no region open began before the window,
  a begin never ended is still open after it;
* a task is one ID begun once and ended once, on any goroutines (one begun
  before the trace has no known type and is left out);
* logs are counted by category.

Only completed spans (both ends inside the window) have a duration; spans cut
by the window's edges are counted apart as ``open`` and never mixed into the
percentiles. Names are matched with the exact/glob/``re:`` patterns of
:mod:`~pytest_goperf.analysis.patterns`.

Everything is gathered with numpy per generation (a few vector operations, and
nothing at all for a trace without annotations) and paired once at the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from ..errors import UnknownNameError
from ..formats.trace import _format as F
from ..formats.trace._order import NFIELDS
from ..formats.trace.reader import OrderedGeneration
from .patterns import Selector, name_matcher

__all__ = ["AnnotationSummary", "RegionSpan", "TaskSpan", "UserAnnotations"]

EV_TASK_BEGIN, EV_TASK_END, EV_REGION_BEGIN, EV_REGION_END, EV_LOG = 40, 41, 42, 43, 44
assert [F.SPECS[c].name for c in range(40, 45)] == [
    "UserTaskBegin", "UserTaskEnd", "UserRegionBegin", "UserRegionEnd", "UserLog"]
#: Wire types that are user annotations (a lookup table over wire codes).
IS_ANNOTATION = np.zeros(256, dtype=bool)
IS_ANNOTATION[EV_TASK_BEGIN:EV_LOG + 1] = True

Kind = Literal["region", "task", "log"]
_EMPTY = np.zeros(0, dtype=np.int64)


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


def fields_equal(a: Any, b: object) -> bool:
    """Equality of two dataclass records of one type whose fields include numpy arrays."""
    names = [f.name for f in fields(a)]
    return type(b) is type(a) and all(_same(getattr(a, n), getattr(b, n)) for n in names)


class Span:
    """Something with a start and an end on the trace clock (ns)."""

    __slots__ = ()
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True, slots=True)
class RegionSpan(Span):
    """One completed region: ``trace.WithRegion(ctx, name, ...)`` from begin to end (ns of the trace clock)."""

    name: str
    goroutine: int
    task: int  # the task of the region's context (0: none)
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class TaskSpan(Span):
    """One completed task: ``trace.NewTask(ctx, type)`` to ``task.End()``."""

    type: str
    id: int
    parent: int  # -1: no parent task
    start_ns: int
    end_ns: int
    goroutine: int  # the goroutine that began it
    end_goroutine: int  # ... and the one that ended it


@dataclass(frozen=True, slots=True)
class AnnotationSummary:
    """Count and nearest-rank percentiles (ns) of the completed spans with one name; ``open`` were cut by the window."""

    name: str
    count: int
    total_ns: int
    p50_ns: int
    p99_ns: int
    max_ns: int
    open: int = 0

    def to_json(self) -> dict[str, int]:
        return {"count": self.count, "total_ns": self.total_ns, "p50_ns": self.p50_ns, "p99_ns": self.p99_ns,
                "max_ns": self.max_ns, "open": self.open}


def _rank(sorted_d: np.ndarray, q: float) -> int:
    n = sorted_d.size
    return int(sorted_d[min(n - 1, max(0, int(np.ceil(q * n)) - 1))])


@dataclass(frozen=True, eq=False)
class UserAnnotations:
    """The completed regions and tasks and the logs of one trace, as columns (one entry per span).

    ``region_names[region_name[i]]`` is the name of region ``i``; likewise for tasks.
    ``regions_open`` / ``tasks_open`` count, by name, the spans cut by the window's edges.
    """

    region_names: tuple[str, ...] = ()
    region_name: np.ndarray = field(default_factory=lambda: _EMPTY)
    region_goroutine: np.ndarray = field(default_factory=lambda: _EMPTY)
    region_task: np.ndarray = field(default_factory=lambda: _EMPTY)
    region_start: np.ndarray = field(default_factory=lambda: _EMPTY)
    region_end: np.ndarray = field(default_factory=lambda: _EMPTY)
    regions_open: Mapping[str, int] = field(default_factory=dict)
    task_types: tuple[str, ...] = ()
    task_type: np.ndarray = field(default_factory=lambda: _EMPTY)
    task_id: np.ndarray = field(default_factory=lambda: _EMPTY)
    task_parent: np.ndarray = field(default_factory=lambda: _EMPTY)
    task_start: np.ndarray = field(default_factory=lambda: _EMPTY)
    task_end: np.ndarray = field(default_factory=lambda: _EMPTY)
    task_goroutine: np.ndarray = field(default_factory=lambda: _EMPTY)
    task_end_goroutine: np.ndarray = field(default_factory=lambda: _EMPTY)
    tasks_open: Mapping[str, int] = field(default_factory=dict)
    logs: Mapping[str, int] = field(default_factory=dict)  # category -> count

    def __eq__(self, other: object) -> bool:
        return fields_equal(self, other)

    __hash__ = None  # type: ignore[assignment]  # holds arrays

    def __bool__(self) -> bool:
        return bool(self.region_name.size or self.task_type.size or self.logs or self.regions_open or self.tasks_open)

    # ------------------------------------------------------------------ names and selections

    def names(self, kind: Kind) -> dict[str, int]:
        """Every name of ``kind`` that occurred, with how many completed spans (log: entries) it has."""
        if kind == "log":
            return dict(self.logs)
        names, col, cut = self._columns(kind)[:3]
        counts = np.bincount(col, minlength=len(names)) if col.size else np.zeros(len(names), dtype=np.int64)
        out = {n: int(c) for n, c in zip(names, counts.tolist(), strict=True) if c}
        for n in cut:
            out.setdefault(n, 0)
        return out

    def matching(self, kind: Kind, which: Selector) -> list[str]:
        """The names of ``kind`` that occurred and match ``which`` (exact, glob or ``re:`` patterns)."""
        match = name_matcher(which)
        return [n for n in self.names(kind) if match(n)]

    def durations(self, kind: Literal["region", "task"], which: Selector) -> np.ndarray:
        """Durations (ns) of the completed regions or tasks whose name matches ``which``, in time order."""
        names, col, _, start, end = self._columns(kind)
        idx = self._selected(names, col, which)
        d: np.ndarray = (end - start)[idx]
        return d

    def count(self, kind: Kind, which: Selector) -> int:
        """Completed spans (or log entries) whose name (category) matches ``which``."""
        if kind == "log":
            match = name_matcher(which)
            return sum(c for n, c in self.logs.items() if match(n))
        return int(self.durations(kind, which).size)

    def summary(self, kind: Kind) -> dict[str, AnnotationSummary]:
        """Per name: count, total, p50, p99, max (ns) of the completed spans, and how many were cut (``open``)."""
        if kind == "log":
            return {n: AnnotationSummary(n, c, 0, 0, 0, 0) for n, c in sorted(self.logs.items())}
        names, col, cut, start, end = self._columns(kind)
        out: dict[str, AnnotationSummary] = {}
        if col.size:
            order = np.lexsort((end - start, col))
            d = (end - start)[order]
            c = col[order]
            bounds = np.flatnonzero(np.diff(c)) + 1
            for chunk, k in zip(np.split(d, bounds), c[np.concatenate(([0], bounds))].tolist(), strict=True):
                name = names[k]
                out[name] = AnnotationSummary(name, int(chunk.size), int(chunk.sum()), _rank(chunk, 0.50),
                                              _rank(chunk, 0.99), int(chunk[-1]), cut.get(name, 0))
        for name, n in cut.items():
            if name not in out:
                out[name] = AnnotationSummary(name, 0, 0, 0, 0, 0, n)
        return dict(sorted(out.items()))

    def regions(self, which: Selector | None = None) -> Iterator[RegionSpan]:
        """The completed regions (optionally only those matching ``which``), in order of their end."""
        idx = (np.arange(self.region_name.size) if which is None
               else self._selected(self.region_names, self.region_name, which))
        for i in idx.tolist():
            yield RegionSpan(self.region_names[int(self.region_name[i])], int(self.region_goroutine[i]),
                             int(self.region_task[i]), int(self.region_start[i]), int(self.region_end[i]))

    def tasks(self, which: Selector | None = None) -> Iterator[TaskSpan]:
        """The completed tasks (optionally only the types matching ``which``), in order of their end."""
        idx = (np.arange(self.task_type.size) if which is None
               else self._selected(self.task_types, self.task_type, which))
        for i in idx.tolist():
            yield TaskSpan(self.task_types[int(self.task_type[i])], int(self.task_id[i]), int(self.task_parent[i]),
                           int(self.task_start[i]), int(self.task_end[i]), int(self.task_goroutine[i]),
                           int(self.task_end_goroutine[i]))

    def to_json(self) -> dict[str, Any]:
        """``{"regions": {name: summary}, "tasks": {type: summary}, "logs": {category: count}}``."""
        return {"regions": {n: s.to_json() for n, s in self.summary("region").items()},
                "tasks": {n: s.to_json() for n, s in self.summary("task").items()},
                "logs": dict(sorted(self.logs.items()))}

    def _columns(self, kind: Kind) -> tuple[tuple[str, ...], np.ndarray, Mapping[str, int], np.ndarray, np.ndarray]:
        if kind == "region":
            return self.region_names, self.region_name, self.regions_open, self.region_start, self.region_end
        if kind == "task":
            return self.task_types, self.task_type, self.tasks_open, self.task_start, self.task_end
        raise UnknownNameError(f"unknown annotation kind {kind!r}: use 'region', 'task' or 'log'")

    @staticmethod
    def _selected(names: tuple[str, ...], col: np.ndarray, which: Selector) -> np.ndarray:
        match = name_matcher(which)
        chosen = np.array([match(n) for n in names], dtype=bool)
        if not chosen.size:
            return _EMPTY
        return np.flatnonzero(chosen[col])


_WHAT = {"region": ("region", "regions", "trace.WithRegion / trace.StartRegion"),
         "task": ("task type", "task types", "trace.NewTask"),
         "log": ("log category", "log categories", "trace.Log / trace.Logf")}


def unknown_name(kind: Kind, which: str, metric: str, seen: Mapping[str, int], where: str = "the trace") -> UnknownNameError:
    """The error for a metric naming a region, task type or log category that never occurred."""
    one, many, api = _WHAT[kind]
    if seen:
        listed = ", ".join(f"{n} ({c})" for n, c in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))[:20])
        did = f"the {many} that did (with counts): {listed}"
    else:
        did = f"no {one} at all occurred: does the service annotate this code path with {api}?"
    return UnknownNameError(f"{metric}: no {one} named {which!r} occurred in {where}; {did}")


class AnnotationAccumulator:
    """Gathers the annotation records of each generation; :meth:`finish` pairs them into spans."""

    def __init__(self) -> None:
        self.names: dict[tuple[int, str], int] = {}  # (kind 0 region / 1 task / 2 log, name) -> index
        self.name_list: tuple[list[str], list[str], list[str]] = ([], [], [])
        self.rows: list[tuple[np.ndarray, ...]] = []  # per generation: typ, t, g, a1, a2, name index

    def _index(self, kind: int, name: str) -> int:
        key = (kind, name)
        i = self.names.get(key)
        if i is None:
            i = self.names[key] = len(self.name_list[kind])
            self.name_list[kind].append(name)
        return i

    def feed(self, og: OrderedGeneration, idx: np.ndarray, typ: np.ndarray) -> None:
        """Take the records at ``idx`` (all annotations) of one generation, ``typ`` their wire types."""
        recs = og.records
        rows = idx.tolist()

        def col(c: int) -> np.ndarray:
            return np.array([recs[i * NFIELDS + c] for i in rows], dtype=np.uint64).astype(np.int64)  # -1: none

        t = og.times[idx].astype(np.int64)
        g = np.array([recs[i * NFIELDS + 4] for i in rows], dtype=np.int64)
        a1, a2 = col(5), col(6)  # region: task, name; task begin: id, parent; task end: id, stack; log: task, category
        name = np.zeros(idx.size, dtype=np.int64)
        for kind, sel, sids in ((0, (typ == EV_REGION_BEGIN) | (typ == EV_REGION_END), a2),
                                (1, typ == EV_TASK_BEGIN, None), (2, typ == EV_LOG, a2)):
            if not sel.any():
                continue
            if sids is None:
                sids = col(7)  # a task's type
            uniq, inv = np.unique(sids[sel], return_inverse=True)
            name[sel] = np.array([self._index(kind, og.string(int(s))) for s in uniq.tolist()], dtype=np.int64)[inv]
        ends = np.flatnonzero(typ == EV_TASK_END)
        if ends.size:
            # The orderer keeps the type and parent of a task begun in the trace (else "" and none).
            name[ends] = [self._index(1, str(recs[rows[i] * NFIELDS + 8])) for i in ends.tolist()]
            a2[ends] = [_signed(int(recs[rows[i] * NFIELDS + 7])) for i in ends.tolist()]
        self.rows.append((typ.astype(np.int64), t, g, a1, a2, name))

    def finish(self) -> UserAnnotations:
        if not self.rows:
            return UserAnnotations()
        typ, t, g, a1, a2, name = (np.concatenate(x) for x in zip(*self.rows, strict=True))
        region_names, task_types, categories = (tuple(x) for x in self.name_list)
        logs = np.flatnonzero(typ == EV_LOG)
        log_counts = np.bincount(name[logs], minlength=len(categories)) if logs.size else np.zeros(len(categories))
        r = _pair_regions(typ, t, g, a1, name, region_names)
        k = _pair_tasks(typ, t, g, a1, a2, name, task_types)
        return UserAnnotations(
            region_names=region_names, region_name=r[0], region_goroutine=r[1], region_task=r[2],
            region_start=r[3], region_end=r[4], regions_open=r[5],
            task_types=task_types, task_type=k[0], task_id=k[1], task_parent=k[2], task_start=k[3],
            task_end=k[4], task_goroutine=k[5], task_end_goroutine=k[6], tasks_open=k[7],
            logs={c: int(n) for c, n in zip(categories, log_counts.tolist(), strict=True) if n},
        )


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= (1 << 63) else x


def _open_counts(names: tuple[str, ...], idx: np.ndarray) -> dict[str, int]:
    if not idx.size:
        return {}
    counts = np.bincount(idx, minlength=len(names))
    return {names[i]: int(c) for i, c in enumerate(counts.tolist()) if c}


def _pair_regions(typ: np.ndarray, t: np.ndarray, g: np.ndarray, task: np.ndarray, name: np.ndarray,
                  names: tuple[str, ...]) -> tuple[Any, ...]:
    """Pair region begins and ends per goroutine as a stack (innermost first), vectorised.

    Sorted by goroutine then time, a running depth (+1 begin, -1 end) gives each event a
    level (a begin's depth after it, an end's before it); within one goroutine and level,
    a begin is closed by the next event when that is an end. That is the toolchain's stack
    matching: an end on an empty stack (the region began before the window) is left over,
    as is a begin never ended.
    """
    sel = np.flatnonzero((typ == EV_REGION_BEGIN) | (typ == EV_REGION_END))
    if not sel.size:
        return (_EMPTY,) * 5 + ({},)
    order = sel[np.lexsort((np.arange(sel.size), g[sel]))]  # stable: time order within a goroutine
    is_begin = typ[order] == EV_REGION_BEGIN
    step = np.where(is_begin, 1, -1)
    gg = g[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = gg[1:] != gg[:-1]
    cum = np.cumsum(step)
    base = np.maximum.accumulate(np.where(first, np.arange(order.size), 0))
    depth_after = cum - (cum[base] - step[base])
    level = np.where(is_begin, depth_after, depth_after + 1)
    # Group by (goroutine, level), keeping time order, and look at consecutive events.
    k = np.lexsort((np.arange(order.size), level, gg))
    ko = order[k]
    kb = is_begin[k]
    same = np.zeros(k.size, dtype=bool)
    same[:-1] = (gg[k][1:] == gg[k][:-1]) & (level[k][1:] == level[k][:-1])
    pair = np.zeros(k.size, dtype=bool)
    pair[:-1] = same[:-1] & kb[:-1] & ~kb[1:]
    b = ko[:-1][pair[:-1]]
    e = ko[1:][pair[:-1]]
    matched = np.zeros(k.size, dtype=bool)
    matched[:-1] |= pair[:-1]
    matched[1:] |= pair[:-1]
    cut = ko[~matched]
    # In order of the end (the time the region completed).
    by_end = np.argsort(t[e], kind="stable")
    b, e = b[by_end], e[by_end]
    return (name[b], g[b], task[b], t[b], t[e], _open_counts(names, name[cut]))


def _pair_tasks(typ: np.ndarray, t: np.ndarray, g: np.ndarray, tid: np.ndarray, parent: np.ndarray,
                name: np.ndarray, names: tuple[str, ...]) -> tuple[Any, ...]:
    """Pair task begins and ends by task ID (IDs are unique in a process)."""
    begins = np.flatnonzero(typ == EV_TASK_BEGIN)
    ends = np.flatnonzero(typ == EV_TASK_END)
    if not begins.size and not ends.size:
        return (_EMPTY,) * 7 + ({},)
    bi = begins[np.argsort(tid[begins], kind="stable")]
    pos = np.searchsorted(tid[bi], tid[ends]) if bi.size else np.zeros(ends.size, dtype=np.int64)
    pos = np.minimum(pos, max(0, bi.size - 1))
    hit = (tid[bi][pos] == tid[ends]) if bi.size else np.zeros(ends.size, dtype=bool)
    hit &= t[bi[pos]] <= t[ends] if bi.size else hit
    e = ends[hit]
    b = bi[pos[hit]]
    ended = np.zeros(bi.size, dtype=bool)
    ended[pos[hit]] = True
    # A task begun before the trace has no known type (the toolchain's is ""): it is left out.
    cut = np.concatenate((name[bi[~ended]], name[ends[~hit]]))
    if "" in names:
        cut = cut[cut != names.index("")]
    by_end = np.argsort(t[e], kind="stable")
    b, e = b[by_end], e[by_end]
    return (name[b], tid[b], parent[b], t[b], t[e], g[b], g[e], _open_counts(names, cut))

