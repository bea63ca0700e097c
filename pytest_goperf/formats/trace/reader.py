"""The public reader: a trace's bytes -> ordered, typed event records.

``TraceReader(data).events()`` yields the same events, in the same order and
with the same times, as ``go tool trace -d=parsed`` prints them: sync points,
goroutine and proc state transitions, metrics, GC/STW ranges, user tasks,
regions and logs, and CPU samples, with stacks resolved to function, file
and line. It streams one generation (about a second of trace) at a time, so
memory stays flat in the length of the trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import TraceParseError
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

    def transitions(self) -> Iterator[GoTransition]:
        """Only the goroutine state transitions."""
        for ev in self.events():
            if type(ev) is GoTransition:
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

