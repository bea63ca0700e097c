"""The public reader: a trace's bytes -> ordered, typed event records.

``TraceReader(data).events()`` yields the same events, in the same order and
with the same times, as ``go tool trace -d=parsed`` prints them: sync points,
goroutine and proc state transitions, metrics, GC/STW ranges, user tasks,
regions and logs, and CPU samples, with stacks resolved to function, file
and line. It streams one generation (about a second of trace) at a time, so
memory stays flat in the length of the trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import TraceParseError, UnknownNameError
from ..symbols import Frame
from . import _format as F
from ._order import NFIELDS, SYNC, Orderer
from ._wire import ClockSnapshot, RawGeneration, iter_generations, read_header

__all__ = [
    "CPUSample",
    "GoTransition",
    "LabelEvent",
    "LogEvent",
    "MetricEvent",
    "OrderedGeneration",
    "ProcTransition",
    "RangeEvent",
    "RegionEvent",
    "SyncEvent",
    "TaskEvent",
    "TraceEvent",
    "TraceReader",
]


Stack = tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class GoTransition:
    """A goroutine changed state (``from_state`` and ``to_state`` are GoState names)."""

    time_ns: int
    goroutine: int
    from_state: str
    to_state: str
    reason: str
    stack: Stack  # the event's stack (for GoUnblock: the unblocker's; for GoCreate: the creator's)
    m: int
    p: int
    g: int  # the goroutine running on the M when the event happened (-1 for none)


@dataclass(frozen=True, slots=True)
class ProcTransition:
    """A processor (P) changed state (ProcState names)."""

    time_ns: int
    proc: int
    from_state: str
    to_state: str
    m: int
    p: int
    g: int


@dataclass(frozen=True, slots=True)
class CPUSample:
    """One CPU profile sample recorded in the trace (a CPU profile was running)."""

    time_ns: int
    m: int
    p: int
    goroutine: int  # -1 when no goroutine was running
    stack: Stack


@dataclass(frozen=True, slots=True)
class SyncEvent:
    """A generation boundary; ``n`` counts from 1. The last one closes the trace."""

    time_ns: int
    n: int
    clock: ClockSnapshot | None


@dataclass(frozen=True, slots=True)
class MetricEvent:
    time_ns: int
    name: str  # e.g. "/sched/gomaxprocs:threads"
    value: int
    m: int
    p: int
    g: int


@dataclass(frozen=True, slots=True)
class RangeEvent:
    """Begin/active/end of a GC, stop-the-world, sweep or mark-assist range."""

    time_ns: int
    name: str
    phase: str  # "begin", "active" or "end"
    scope: str  # "global", "goroutine" or "proc"
    resource: int
    m: int
    p: int
    g: int


@dataclass(frozen=True, slots=True)
class TaskEvent:
    time_ns: int
    phase: str  # "begin" or "end"
    task: int
    parent: int
    type: str
    goroutine: int


@dataclass(frozen=True, slots=True)
class RegionEvent:
    time_ns: int
    phase: str
    task: int
    type: str
    goroutine: int


@dataclass(frozen=True, slots=True)
class LogEvent:
    time_ns: int
    task: int
    category: str
    message: str
    goroutine: int


@dataclass(frozen=True, slots=True)
class LabelEvent:
    time_ns: int
    label: str
    goroutine: int


TraceEvent = (GoTransition | ProcTransition | CPUSample | SyncEvent | MetricEvent | RangeEvent | TaskEvent
              | RegionEvent | LogEvent | LabelEvent)

GS = F.GO_STATE_NAMES
PS = F.PROC_STATE_NAMES

# wire type -> (goroutine id source, from, to, reason arg, stack arg). Sources and args index the
# record tuple (typ, t, m, p, g, a1, a2, a3, a4): 4 = ctx goroutine, 5.. = arguments; -1 = none.
# A from/to of None means "taken from the record" (statuses carry both states).
GO_TRANSITIONS: dict[int, tuple[int, int | None, int | None, int, int]] = {
    14: (5, 1, 2, -1, 7),   # GoCreate (stack: creator's)
    47: (5, 1, 4, -1, 7),   # GoCreateBlocked
    15: (5, 1, 5, -1, -1),  # GoCreateSyscall
    16: (5, 2, 3, -1, -1),  # GoStart
    17: (4, 3, 1, -1, -1),  # GoDestroy
    18: (4, 5, 1, -1, -1),  # GoDestroySyscall
    19: (4, 3, 2, 5, 6),    # GoStop
    20: (4, 3, 4, 5, 6),    # GoBlock
    21: (5, 4, 2, -1, 7),   # GoUnblock (stack: unblocker's)
    45: (5, 4, 2, -1, -1),  # GoSwitch (next goroutine made runnable)
    46: (5, 4, 2, -1, -1),  # GoSwitchDestroy
    22: (4, 3, 5, -1, 6),   # GoSyscallBegin
    23: (4, 5, 3, -1, -1),  # GoSyscallEnd
    24: (4, 5, 2, -1, -1),  # GoSyscallEndBlocked
    25: (5, None, None, -1, -1),  # GoStatus
    48: (5, None, None, -1, 8),   # GoStatusStack
}
PROC_TRANSITIONS = frozenset({10, 11, 12, 13})


def _go_table(pos: int, none: int) -> np.ndarray:
    out = np.zeros(256, dtype=np.int64)
    for typ, spec in GO_TRANSITIONS.items():
        v = spec[pos]
        out[typ] = none if v is None else v
    return out


# Wire type -> goroutine id column (0: not a goroutine transition), fixed from/to states (-1: in the record).
_GO_SRC, _GO_FROM, _GO_TO = _go_table(0, 0), _go_table(1, -1), _go_table(2, -1)


def _state_mask(states: Iterable[str] | None, which: str) -> np.ndarray:
    """A lookup over GoState indexes: True for the states named (any case); all when None."""
    mask = np.ones(len(GS), dtype=bool)
    if states is None:
        return mask
    by_name = {n.lower(): i for i, n in enumerate(GS)}
    mask[:] = False
    for name in states:
        i = by_name.get(name.lower())
        if i is None:
            raise UnknownNameError(f"unknown goroutine state {name!r} (a {which} state): use one of {', '.join(GS)}")
        mask[i] = True
    return mask
_METRICS = {9: "/sched/gomaxprocs:threads", 37: "/memory/classes/heap/objects:bytes", 38: "/gc/heap/goal:bytes"}


@dataclass(slots=True)
class OrderedGeneration:
    """One generation's ordered records (see :mod:`._order`, laid flat) with their final times."""

    raw: RawGeneration
    records: list[Any]  # ints, and a task's name where the toolchain keeps it
    times: np.ndarray

    def rows(self) -> Iterator[tuple[Any, ...]]:
        """The records as ``(typ, time_ns, m, p, g, a1, a2, a3, a4)`` tuples, in order."""
        it = iter(self.records)
        return zip(*[it] * NFIELDS, strict=True)

    def string(self, sid: int) -> str:
        return self.raw.strings.get(sid, "")

    def stack(self, sid: int) -> Stack:
        if sid == 0:
            return ()
        pcs = self.raw.stacks.get(sid)
        if pcs is None:
            raise TraceParseError(f"corrupt trace: unknown stack ID {sid} in generation {self.raw.gen}",
                                  where=f"generation at byte {self.raw.offset}")
        strings = self.raw.strings
        frames = self.raw.frames
        return tuple(Frame(strings.get(frames[pc][0], ""), strings.get(frames[pc][1], ""), frames[pc][2], pc=pc)
                     for pc in pcs)


class TraceReader:
    """Reads one execution trace held in memory (``bytes`` or a ``memoryview``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.version = read_header(data)
        #: The time of the trace's first event, once its first generation was read.
        self.start_ns: int | None = None

    def generations(self) -> Iterator[OrderedGeneration]:
        """Yield each generation's ordered records; the last yielded holds only the closing Sync."""
        orderer = Orderer(self.version)
        last_gen: RawGeneration | None = None
        for raw in iter_generations(self.data, self.version):
            records, times = orderer.order(raw)
            # The decoded tokens are spent once ordered; drop them (and this generation's records
            # once handed over) so that only one generation is ever held.
            raw.tokens = []
            raw.m_batches = {}
            last_gen = raw
            if self.start_ns is None and times.size:
                self.start_ns = int(times[0])
            og = OrderedGeneration(raw, records, times)
            del records, times
            yield og
            del og
        if last_gen is None:
            raise TraceParseError("the trace has a header but no events; it was cut short", where="byte 16")
        rec, t = orderer.finish()
        yield OrderedGeneration(last_gen, rec, np.array([t], dtype=np.int64))

    def events(self) -> Iterator[TraceEvent]:
        """Yield every event as a typed record, in the toolchain's order."""
        for og in self.generations():
            stack = _StackCache(og)
            for rec in og.rows():
                ev = _to_event(rec, rec[1], og, stack)
                if ev is not None:
                    yield ev

    def transitions(self, *, goroutines: Iterable[int] | None = None, from_states: Iterable[str] | None = None,
                    to_states: Iterable[str] | None = None, since_ns: int | None = None, until_ns: int | None = None,
                    changes_only: bool = False) -> Iterator[GoTransition]:
        """The goroutine state transitions, optionally filtered (the toolchain browser's transition filter).

        ``goroutines``: only these goroutine IDs; ``from_states``/``to_states``: GoState
        names (``Running``, ``Waiting``, ... any case); ``since_ns``/``until_ns``: from/to
        that many nanoseconds after the trace's first event (inclusive); ``changes_only``
        leaves out the status events of later generations that restate a state (``X->X``).
        The records are filtered with numpy before any event is built.
        """
        gids = None if goroutines is None else np.array(sorted(set(goroutines)), dtype=np.int64)
        frm_ok, to_ok = _state_mask(from_states, "from"), _state_mask(to_states, "to")
        for og in self.generations():
            recs = og.records
            typ = np.array(recs[0::NFIELDS], dtype=np.int64)
            idx = np.flatnonzero(_GO_SRC[typ] > 0)
            if not idx.size:
                continue
            tt = typ[idx]
            a = {c: np.array(recs[c::NFIELDS], dtype=np.uint64)[idx].astype(np.int64) for c in (5, 6, 7)}
            g = np.array(recs[4::NFIELDS], dtype=np.int64)[idx]
            gid = np.where(_GO_SRC[tt] == 4, g, a[5])
            frm = np.where(_GO_FROM[tt] < 0, a[6], _GO_FROM[tt])
            to = np.where(_GO_TO[tt] < 0, a[7], _GO_TO[tt])
            keep = frm_ok[frm] & to_ok[to]
            if changes_only:
                keep &= frm != to
            if gids is not None:
                keep &= np.isin(gid, gids)
            t = og.times[idx] - (self.start_ns or 0)
            if since_ns is not None:
                keep &= t >= since_ns
            if until_ns is not None:
                keep &= t <= until_ns
            stack = _StackCache(og)
            for i in idx[keep].tolist():
                rec = tuple(recs[i * NFIELDS:(i + 1) * NFIELDS])
                ev = _to_event(rec, int(og.times[i]), og, stack)
                assert type(ev) is GoTransition
                yield ev


class _StackCache:
    """One generation's stacks, resolved once each."""

    def __init__(self, og: OrderedGeneration) -> None:
        self.og = og
        self.cache: dict[int, Stack] = {}

    def __call__(self, sid: int) -> Stack:
        s = self.cache.get(sid)
        if s is None:
            s = self.cache[sid] = self.og.stack(sid)
        return s


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= (1 << 63) else x


def _to_event(rec: tuple[Any, ...], t: int, og: OrderedGeneration, stack: Callable[[int], Stack]) -> TraceEvent | None:
    typ = rec[0]
    spec = GO_TRANSITIONS.get(typ)
    if spec is not None:
        src, frm, to, reason, st = spec
        if frm is None or to is None:
            frm, to = rec[6], rec[7]
        return GoTransition(t, rec[src], GS[frm], GS[to], og.string(rec[reason]) if reason >= 0 else "",
                            stack(rec[st]) if st >= 0 else (), rec[2], rec[3], rec[4])
    if typ in PROC_TRANSITIONS:
        if typ == 10:
            pid, frm, to = rec[5], 3, 2
        elif typ == 11:
            pid, frm, to = rec[3], 2, 3
        elif typ == 12:
            pid, frm, to = rec[5], 3 if rec[8] == 4 else 2, 3
        else:
            pid, frm, to = rec[5], rec[6], rec[7]
        return ProcTransition(t, pid, PS[frm], PS[to], rec[2], rec[3], rec[4])
    if typ == SYNC:
        clock = None if rec[6] else og.raw.clock  # the closing Sync has no snapshot
        return SyncEvent(t, rec[5], clock)
    if typ == F.EV_CPU_SAMPLE:
        return CPUSample(t, rec[2], rec[3], rec[4], stack(rec[5]))
    name = _METRICS.get(typ)
    if name is not None:
        return MetricEvent(t, name, rec[5], rec[2], rec[3], rec[4])
    if typ in (28, 29, 30):
        return RangeEvent(t, "GC concurrent mark phase", ("active", "begin", "end")[typ - 28], "global", -1,
                          rec[2], rec[3], rec[4])
    if typ in (26, 27):
        return RangeEvent(t, f"stop-the-world ({og.string(rec[5])})", "begin" if typ == 26 else "end",
                          "goroutine", rec[4], rec[2], rec[3], rec[4])
    if typ in (31, 32, 33):
        pid = rec[5] if typ == 31 else rec[3]
        return RangeEvent(t, "GC incremental sweep", ("active", "begin", "end")[typ - 31], "proc", pid,
                          rec[2], rec[3], rec[4])
    if typ in (34, 35, 36):
        gid = rec[5] if typ == 34 else rec[4]
        return RangeEvent(t, "GC mark assist", ("active", "begin", "end")[typ - 34], "goroutine", gid,
                          rec[2], rec[3], rec[4])
    if typ == 40:
        return TaskEvent(t, "begin", rec[5], _signed(rec[6]), og.string(rec[7]), rec[4])
    if typ == 41:
        return TaskEvent(t, "end", rec[5], _signed(rec[7]), rec[8], rec[4])
    if typ in (42, 43):
        return RegionEvent(t, "begin" if typ == 42 else "end", rec[5], og.string(rec[6]), rec[4])
    if typ == 44:
        return LogEvent(t, rec[5], og.string(rec[6]), og.string(rec[7]), rec[4])
    if typ == 39:
        return LabelEvent(t, og.string(rec[5]), rec[4])
    return None  # experimental events

