"""Ordering: merge the per-M event streams into the toolchain's total order.

This follows ``internal/trace`` (``reader.go``, ``order.go``, ``batchcursor.go``)
step for step, because "equal to ``go tool trace -d=parsed``, event for event"
depends on its exact choices: a min-heap of per-M cursors keyed by event time
(ties broken by the heap's own shape), an event is taken only when the
scheduler state allows it (goroutine and proc sequence numbers, GC sequence),
otherwise the frontier is sorted and the next ready cursor taken; CPU samples
are injected when older than the frontier; every output time is forced to be
strictly greater than the previous one.

Output records are ``(typ, time_ns, m, p, g, a1, a2, a3, a4)``, laid flat in one list,
where ``typ`` is the wire event code, ``m/p/g`` the scheduling context (-1 for
none) and ``a1..`` the event's arguments after ``dt``, with the toolchain's
rewrites (the old state packed into GoStatus/ProcStatus/ProcSteal arguments).
``SYNC`` records open each generation and close the trace.
"""

from __future__ import annotations

from array import array
from typing import Any, NoReturn

import numpy as np

from ...errors import TraceParseError
from . import _format as F
from ._wire import NO_ID, STEPS, RawGeneration

__all__ = ["NFIELDS", "SYNC", "Orderer"]

SYNC = F.EV_SYNC  # output record type of the Sync events
#: Values per output record. Records are laid flat in one list (one list.extend per event
#: is cheaper than a tuple kept per event, and halves the memory); read them back with
#: ``zip(*[iter(records)] * NFIELDS)``.
NFIELDS = 9
#: The latest event time accepted (ns since boot): 2^62 ns is 146 years, and leaves room for the
#: toolchain's time fix-up (t = last + 1) without overflowing int64.
MAX_TIME_NS = 1 << 62

# wire GoStatus values
_G_RUNNABLE, _G_RUNNING, _G_SYSCALL, _G_WAITING = 1, 2, 3, 4
# wire ProcStatus values
_P_RUNNING, _P_IDLE, _P_SYSCALL, _P_ABANDONED = 1, 2, 3, 4
# public state indexes (see _format.GO_STATE_NAMES / PROC_STATE_NAMES)
_UNDETERMINED, _NOTEXIST = 0, 1
_PROC_RUNNING, _PROC_IDLE = 2, 3


def _heap_up(h: list[list[Any]], i: int) -> int:
    while i > 0:
        j = (i - 1) // 2
        if h[j][1] <= h[i][1]:
            break
        h[j], h[i] = h[i], h[j]
        i = j
    return i


def _heap_down(h: list[list[Any]], i: int) -> None:
    n = len(h)
    while True:
        m = i
        mt = h[i][1] if i < n else None
        left = 2 * i + 1
        if left < n and (mt is None or h[left][1] < mt):
            m, mt = left, h[left][1]
        r = left + 1
        if r < n and h[r][1] < mt:
            m = r
        if m == i:
            return
        h[i], h[m] = h[m], h[i]
        i = m


def _heap_remove(h: list[list[Any]], i: int) -> None:
    while i > 0:
        j = (i - 1) // 2
        h[j], h[i] = h[i], h[j]
        i = j
    h[0], h[-1] = h[-1], h[0]
    h.pop()
    if h:
        _heap_down(h, 0)


class Orderer:
    """Scheduler-state simulation across generations (one per trace)."""

    def __init__(self, version: int) -> None:
        self.version = version
        # gid -> [wire status, seq gen, seq]
        self.gs: dict[int, list[int]] = {}
        # pid -> [wire status, seq gen, seq]
        self.ps: dict[int, list[int]] = {}
        # m -> [g, p]
        self.ms: dict[int, list[int]] = {}
        self.gc_seq = 0
        self.gc_state = 0  # 0 undetermined, 1 not running, 2 running
        self.initial_gen = 0
        self.last_ts = 0
        self.syncs = 0
        # open ranges per goroutine (STW kind string or 0) and active tasks
        self.stw_kind: dict[int, int] = {}
        self.tasks: dict[int, tuple[int, str]] = {}

    # ------------------------------------------------------------------ driver
    def order(self, g: RawGeneration) -> tuple[list[Any], np.ndarray]:
        """Order one generation; return its flat records and their fixed (strictly increasing) times."""
        if self.initial_gen == 0:
            self.initial_gen = g.gen
        out: list[Any] = []
        self.syncs += 1
        out.extend((SYNC, int(g.min_ts * g.ns_per_tick), -1, -1, -1, self.syncs, 0, 0, 0))
        try:
            self._order_into(g, out)
        except IndexError:
            # Only corrupt event data (arguments running past the generation's last batch) gets here.
            raise TraceParseError("corrupt trace: an event's arguments run past the end of its batch",
                                  where=f"generation {g.gen} at byte {g.offset}") from None
        except TraceParseError as e:
            if e.where is None:  # context checks do not know the generation: add it
                raise TraceParseError(str(e), where=f"generation {g.gen} at byte {g.offset}") from None
            raise
        col = out[1::NFIELDS]
        # Trace times are nanoseconds since boot; a corrupt timestamp (or frequency) can put them
        # beyond int64, where neither Go's Time nor a numpy column holds them.
        raw_times: np.ndarray | None
        try:  # times are non-negative: array('Q') converts them about twice as fast as np.array
            raw_times = np.frombuffer(array("Q", col), dtype=np.uint64)
            too_late = bool(raw_times.size) and int(raw_times.max()) > MAX_TIME_NS
        except (OverflowError, TypeError):
            too_late = max(col, default=0) > MAX_TIME_NS
            raw_times = None if too_late else np.array(col, dtype=np.int64)
        del col
        if too_late or raw_times is None:
            raise TraceParseError(
                f"corrupt trace: an event time in generation {g.gen} lies beyond 2^62 ns (146 years), "
                "outside the 64-bit range of trace times; the batch timestamps or the frequency are damaged",
                where=f"generation {g.gen} at byte {g.offset}")
        raw_times = raw_times.astype(np.int64)
        times = self._fix_times(raw_times)
        # Few times need fixing (equal times of one batch): write back only those.
        changed = np.flatnonzero(times != raw_times)
        if changed.size:
            for i, v in zip((changed * NFIELDS + 1).tolist(), times[changed].tolist(), strict=False):
                out[i] = v
        return out, times

    def _order_into(self, g: RawGeneration, out: list[Any]) -> None:
        # This loop runs once per event, so the frequent event kinds are handled inline;
        # every other kind, every not-ready case and every error goes through _advance,
        # the complete (slower) transcription of order.go.
        toks = g.tokens
        steps = STEPS[self.version]
        k = g.ns_per_tick
        k64 = k == 64.0
        gen = g.gen
        gs = self.gs
        ps = self.ps
        mstates = self.ms
        slow = self._advance
        out_append = out.extend  # records are laid flat, NFIELDS values each
        # cursor: [m, time, token index of its event, end of its batch, batches, batch index, mstate]
        heap: list[list[Any]] = []
        # The loop reuses its locals across event kinds (a CPU sample's tuple, a goroutine's state list):
        # declared loosely once, so the hot path needs no casts.
        st: Any
        ms: Any
        t: Any
        m: Any
        for m in g.batch_ms:
            batches = g.m_batches.get(m)
            if not batches:
                continue
            bc = [m, 0, batches[0][0], batches[0][1], batches, 0, None]
            self._load(bc, batches[0][0], batches[0][2], toks, steps, k)
            heap.append(bc)
            _heap_up(heap, len(heap) - 1)
        cpu = g.cpu_samples
        ci = 0
        ncpu = len(cpu)
        INF = 1 << 62
        while True:
            if ncpu and ci < ncpu and (not heap or cpu[ci][0] < heap[0][1]):
                t, m, p, gg, st = cpu[ci]
                out_append((F.EV_CPU_SAMPLE, t, m, p, gg, st, 0, 0, 0))
                ci += 1
                continue
            if not heap:
                break
            # Run the top cursor for as long as it stays the minimum of the heap (its
            # children do not move meanwhile) and no CPU sample is due: M streams come
            # in runs of dozens of events, so the heap is touched once per run.
            bc = heap[0]
            n = len(heap)
            limit = INF
            if n > 1:
                limit = heap[1][1]
                if n > 2 and heap[2][1] < limit:
                    limit = heap[2][1]
            cpu_t = cpu[ci][0] if ci < ncpu else INF
            bound = limit if limit < cpu_t else cpu_t  # leave the run once past either
            m = bc[0]
            t = bc[1]
            s = bc[2]
            end = bc[3]
            ms = bc[6]
            if ms is None and m != -1:
                ms = mstates.get(m)
                if ms is None:  # the toolchain creates an M's state on its first event
                    ms = mstates[m] = [-1, -1]
                bc[6] = ms
            stalled = False
            if ms is None:
                # Events of "no M" (end-of-generation statuses): one at a time through _advance.
                if not slow(bc, toks, gen, g, out):
                    stalled = True
                else:
                    self._next(heap, 0, toks, steps, k, g)
                if not stalled:
                    continue
            else:
                while True:
                    # Wire statuses are literals here (1 runnable, 2 running, 3 syscall, 4 waiting
                    # for goroutines; 1 running, 2 idle, 3 syscall for procs): cheaper than globals.
                    # Each inline kind either applies at once or goes through _advance (slow).
                    typ = toks[s]
                    if typ == 16:  # GoStart
                        gid = toks[s + 2]
                        seq = toks[s + 3]
                        st = gs.get(gid)
                        if st is not None and st[0] == 1 and st[1] == gen and seq == st[2] + 1 \
                                and ms[1] != -1 and ms[0] == -1:
                            st[0] = 2
                            st[2] = seq
                            out_append((16, t, m, ms[1], -1, gid, seq, 0, 0))
                            ms[0] = gid
                        else:
                            bc[1] = t
                            bc[2] = s
                            if not slow(bc, toks, gen, g, out):
                                stalled = True
                                break
                    elif typ == 20 or typ == 19:  # GoBlock, GoStop
                        cg = ms[0]
                        st = gs.get(cg)
                        if st is not None and st[0] == 2 and ms[1] != -1:
                            st[0] = 4 if typ == 20 else 1
                            out_append((typ, t, m, ms[1], cg, toks[s + 2], toks[s + 3], 0, 0))
                            ms[0] = -1
                        else:
                            bc[1] = t
                            bc[2] = s
                            if not slow(bc, toks, gen, g, out):
                                stalled = True
                                break
                    elif typ == 21:  # GoUnblock
                        gid = toks[s + 2]
                        seq = toks[s + 3]
                        st = gs.get(gid)
                        if st is not None and st[0] == 4 and st[1] == gen and seq == st[2] + 1:
                            st[0] = 1
                            st[2] = seq
                            out_append((21, t, m, ms[1], ms[0], gid, seq, toks[s + 4], 0))
                        else:
                            bc[1] = t
                            bc[2] = s
                            if not slow(bc, toks, gen, g, out):
                                stalled = True
                                break
                    elif typ == 10:  # ProcStart
                        pid = toks[s + 2]
                        seq = toks[s + 3]
                        pst = ps.get(pid)
                        if pst is not None and pst[0] == 2 and pst[1] == gen and seq == pst[2] + 1 \
                                and ms[1] == -1:
                            pst[0] = 1
                            pst[2] = seq
                            out_append((10, t, m, -1, ms[0], pid, seq, 0, 0))
                            ms[1] = pid
                        else:
                            bc[1] = t
                            bc[2] = s
                            if not slow(bc, toks, gen, g, out):
                                stalled = True
                                break
                    elif typ == 11:  # ProcStop
                        pst = ps.get(ms[1])
                        if pst is not None and (pst[0] == 1 or pst[0] == 3):
                            pst[0] = 2
                            out_append((11, t, m, ms[1], ms[0], 0, 0, 0, 0))
                            ms[1] = -1
                        else:
                            bc[1] = t
                            bc[2] = s
                            if not slow(bc, toks, gen, g, out):
                                stalled = True
                                break
                    elif typ == 17:  # GoDestroy
                        cg = ms[0]
                        st = gs.get(cg)
                        if st is not None and st[0] == 2 and ms[1] != -1:
                            del gs[cg]
                            out_append((17, t, m, ms[1], cg, 0, 0, 0, 0))
                            ms[0] = -1
                        else:
                            bc[1] = t
                            bc[2] = s
                            if not slow(bc, toks, gen, g, out):
                                stalled = True
                                break
                    elif typ == 14:  # GoCreate
                        nid = toks[s + 2]
                        cst = gs.get(ms[0])
                        if ms[1] != -1 and (cst is None or cst[0] == 2) and nid not in gs:
                            gs[nid] = [1, gen, 0]
                            out_append((14, t, m, ms[1], ms[0], nid, toks[s + 3], toks[s + 4], 0))
                        else:
                            bc[1] = t
                            bc[2] = s
                            if not slow(bc, toks, gen, g, out):
                                stalled = True
                                break
                    elif typ == 22:  # GoSyscallBegin
                        cg = ms[0]
                        st = gs.get(cg)
                        pst = ps.get(ms[1])
                        seq = toks[s + 2]
                        if st is not None and st[0] == 2 and pst is not None and pst[1] == gen \
                                and seq == pst[2] + 1:
                            st[0] = 3
                            pst[0] = 3
                            pst[2] = seq
                            out_append((22, t, m, ms[1], cg, seq, toks[s + 3], 0, 0))
                        else:
                            bc[1] = t
                            bc[2] = s
                            if not slow(bc, toks, gen, g, out):
                                stalled = True
                                break
                    elif typ == 23:  # GoSyscallEnd
                        cg = ms[0]
                        st = gs.get(cg)
                        pst = ps.get(ms[1])
                        if st is not None and st[0] == 3 and pst is not None and pst[0] == 3:
                            st[0] = 2
                            pst[0] = 1
                            out_append((23, t, m, ms[1], cg, 0, 0, 0, 0))
                        else:
                            bc[1] = t
                            bc[2] = s
                            if not slow(bc, toks, gen, g, out):
                                stalled = True
                                break
                    elif typ == 37 and ms[1] != -1:  # HeapAlloc
                        out_append((37, t, m, ms[1], ms[0], toks[s + 2], 0, 0, 0))
                    else:
                        bc[1] = t
                        bc[2] = s
                        if not slow(bc, toks, gen, g, out):
                            stalled = True
                            break
                    # Step to this M's next event. Its type is checked where it is handled: the
                    # inline kinds above are valid by construction, _advance checks the others.
                    s2 = s + steps[typ]
                    if s2 >= end:
                        if s2 > end:
                            self._bad_event(bc, s, toks, g)
                        bc[1] = t
                        bc[2] = s
                        self._next(heap, 0, toks, steps, k, g)
                        break
                    s = s2
                    if k64:
                        t += toks[s + 1] << 6
                    else:
                        t += int(toks[s + 1] * k)
                    if t > bound:
                        bc[1] = t
                        bc[2] = s
                        if t > limit:
                            # _heap_down(heap, 0), inlined (same choices, ties included): the
                            # top cursor, at time t, sinks while a child is earlier than t.
                            if n == 2:
                                heap[0] = heap[1]
                                heap[1] = bc
                            else:
                                hi = 0
                                hl = 1
                                while hl < n:
                                    hm = -1
                                    hmt = t
                                    ht = heap[hl][1]
                                    if ht < hmt:
                                        hm = hl
                                        hmt = ht
                                    hl += 1
                                    if hl < n and heap[hl][1] < hmt:
                                        hm = hl
                                    if hm < 0:
                                        break
                                    heap[hi] = heap[hm]
                                    hi = hm
                                    hl = 2 * hi + 1
                                heap[hi] = bc
                        break
            if not stalled:
                continue
            # The top event cannot be ordered yet: order.go sorts the frontier and takes the
            # first other cursor whose event is ready.
            heap.sort(key=lambda c: c[1])
            for j in range(1, len(heap)):
                if slow(heap[j], toks, gen, g, out):
                    self._next(heap, j, toks, steps, k, g)
                    break
            else:
                raise TraceParseError(
                    f"broken trace: no event can be ordered next in generation {gen} "
                    f"(frontier: {self._frontier(heap, toks)})", where=f"generation at byte {g.offset}")

    def _load(self, bc: list[Any], i: int, base: int, toks: list[int], steps: list[int], k: float) -> None:
        """Point cursor ``bc`` at the event starting at token ``i`` (first of a batch with base time ``base``)."""
        typ = toks[i]
        st = steps[typ] if typ < 256 else 0
        if not st or i + st > bc[3]:
            self._bad_event(bc, i, toks, None)
        bc[2] = i
        dt = toks[i + 1]
        bc[1] = base + (dt * 64 if k == 64.0 else int(dt * k))

    def _next(self, heap: list[list[Any]], j: int, toks: list[int], steps: list[int], k: float, g: RawGeneration) -> None:
        """Step cursor ``heap[j]`` to its next event and restore the heap (order.go's heapUpdate/heapRemove)."""
        bc = heap[j]
        i = bc[2] + steps[toks[bc[2]]]
        if i >= bc[3]:
            bi = bc[5] + 1
            batches = bc[4]
            if bi >= len(batches):
                _heap_remove(heap, j)
                return
            bc[5] = bi
            b = batches[bi]
            bc[3] = b[1]
            self._load(bc, b[0], b[2], toks, steps, k)
        else:
            t = bc[1]
            typ = toks[i]
            st = steps[typ] if typ < 256 else 0
            if not st or i + st > bc[3]:
                self._bad_event(bc, i, toks, g)
            dt = toks[i + 1]
            bc[1] = t + (dt * 64 if k == 64.0 else int(dt * k))
            bc[2] = i
        if _heap_up(heap, j) == j:
            _heap_down(heap, j)

    def _bad_event(self, bc: list[Any], i: int, toks: list[int], g: RawGeneration | None) -> None:
        typ = toks[i]
        batch = bc[4][bc[5]]
        if typ < 256 and STEPS[self.version][typ]:
            raise TraceParseError("corrupt or truncated batch: its last event is incomplete",
                                  where=f"batch at byte {batch[3]}")
        raise TraceParseError(
            f"corrupt trace: unknown event type {typ} for format go 1.{self.version} in a batch of M {bc[0]}",
            where=f"batch at byte {batch[3]}")

    def finish(self) -> tuple[list[Any], int]:
        """The closing Sync record and its time."""
        self.syncs += 1
        self.last_ts += 1
        return [SYNC, self.last_ts, -1, -1, -1, self.syncs, 1, 0, 0], self.last_ts

    def _fix_times(self, t: np.ndarray) -> np.ndarray:
        # Times are at most MAX_TIME_NS (checked by order), so t + size never overflows int64.
        # Go: if t <= last { t = last + 1 }, event by event. Closed form:
        # fixed[i] = i + max(last + 1 - 0, max_{j<=i}(t[j] - j)) with the carry-in.
        if t.size == 0:
            return t
        idx = np.arange(t.size, dtype=np.int64)
        adj = np.maximum.accumulate(np.maximum(t - idx, self.last_ts + 1))
        fixed = adj + idx
        self.last_ts = int(fixed[-1])
        return fixed

    @staticmethod
    def _frontier(heap: list[list[Any]], toks: list[int]) -> str:
        parts = []
        for bc in heap:
            s = bc[2]
            typ = toks[s]
            parts.append(f"M {bc[0]} {F.SPECS[typ].name} t={bc[1]}")
        return "; ".join(parts)

    # --------------------------------------------------------------- advance
    def _advance(self, bc: list[Any], toks: list[int], gen: int, g: RawGeneration, out: list[Any]) -> bool:
        st: Any  # a goroutine's or a proc's state list, or None
        ms: Any
        m = bc[0]
        t = bc[1]
        s = bc[2]
        typ = toks[s]
        step = STEPS[self.version][typ] if typ < 256 else 0
        if not step or s + step > bc[3]:
            self._bad_event(bc, s, toks, g)
        if m == -1:
            ms = None
            cp = cg = -1
        else:
            ms = self.ms.get(m)
            if ms is None:
                ms = self.ms[m] = [-1, -1]
            cg, cp = ms
        gs = self.gs
        ps = self.ps

        if typ == 16:  # GoStart
            gid = toks[s + 2]
            st = gs.get(gid)
            if st is None or st[0] != _G_RUNNABLE or st[1] != gen or toks[s + 3] != st[2] + 1:
                return False
            self._req(m, cp, cg, typ, p=True, g=False)
            st[0] = _G_RUNNING
            st[2] = toks[s + 3]
            out.extend((16, t, m, cp, cg, gid, toks[s + 3], 0, 0))
            ms[0] = gid
            return True
        if typ == 20 or typ == 19 or typ == 17:  # GoBlock, GoStop, GoDestroy
            self._req(m, cp, cg, typ, p=True, g=True)
            st = gs.get(cg)
            if st is None or st[0] != _G_RUNNING:
                self._bad(typ, g, f"goroutine {cg} is not running")
            if typ == 17:
                del gs[cg]
                out.extend((17, t, m, cp, cg, 0, 0, 0, 0))
            else:
                st[0] = _G_WAITING if typ == 20 else _G_RUNNABLE
                out.extend((typ, t, m, cp, cg, toks[s + 2], toks[s + 3], 0, 0))
            ms[0] = -1
            return True
        if typ == 21:  # GoUnblock
            gid = toks[s + 2]
            st = gs.get(gid)
            if st is None or st[0] != _G_WAITING or st[1] != gen or toks[s + 3] != st[2] + 1:
                return False
            st[0] = _G_RUNNABLE
            st[2] = toks[s + 3]
            out.extend((21, t, m, cp, cg, gid, toks[s + 3], toks[s + 4], 0))
            return True
        if typ == 10:  # ProcStart
            pid = toks[s + 2]
            pst = ps.get(pid)
            if pst is None or pst[0] != _P_IDLE or pst[1] != gen or toks[s + 3] != pst[2] + 1 or cp != -1:
                return False
            if m == -1:
                self._bad(typ, g, "expected a thread")
            pst[0] = _P_RUNNING
            pst[2] = toks[s + 3]
            out.extend((10, t, m, cp, cg, pid, toks[s + 3], 0, 0))
            ms[1] = pid
            return True
        if typ == 11:  # ProcStop
            pst = ps.get(cp)
            if pst is None:
                self._bad(typ, g, f"proc {cp} does not exist")
            if pst[0] != _P_RUNNING and pst[0] != _P_SYSCALL:
                self._bad(typ, g, f"proc {cp} is not running")
            self._req(m, cp, cg, typ, p=True, g=None)
            pst[0] = _P_IDLE
            out.extend((11, t, m, cp, cg, 0, 0, 0, 0))
            ms[1] = -1
            return True
        if typ == 14 or typ == 47:  # GoCreate, GoCreateBlocked
            self._req(m, cp, cg, typ, p=True, g=None)
            cst = gs.get(cg)
            if cst is not None and cst[0] != _G_RUNNING:
                self._bad(typ, g, f"creator goroutine {cg} is not running")
            nid = toks[s + 2]
            if nid in gs:
                self._bad(typ, g, f"goroutine {nid} already exists")
            gs[nid] = [_G_WAITING if typ == 47 else _G_RUNNABLE, gen, 0]
            out.extend((typ, t, m, cp, cg, nid, toks[s + 3], toks[s + 4], 0))
            return True
        if typ == 25 or typ == 48:  # GoStatus, GoStatusStack
            return self._go_status(typ, s, t, m, ms, cp, cg, toks, gen, g, out)
        if typ == 13:  # ProcStatus
            return self._proc_status(s, t, m, ms, cp, cg, toks, gen, g, out)
        if typ == 22:  # GoSyscallBegin
            self._req(m, cp, cg, typ, p=True, g=True)
            st = gs.get(cg)
            if st is None or st[0] != _G_RUNNING:
                self._bad(typ, g, f"goroutine {cg} is not running")
            st[0] = _G_SYSCALL
            pst = ps.get(cp)
            if pst is None:
                self._bad(typ, g, f"uninitialized proc {cp}")
            pst[0] = _P_SYSCALL
            if pst[1] != gen or toks[s + 2] != pst[2] + 1:
                self._bad(typ, g, "proc sequence number out of order")
            pst[2] = toks[s + 2]
            out.extend((22, t, m, cp, cg, toks[s + 2], toks[s + 3], 0, 0))
            return True
        if typ == 23:  # GoSyscallEnd
            self._req(m, cp, cg, typ, p=True, g=True)
            st = gs.get(cg)
            if st is None or st[0] != _G_SYSCALL:
                self._bad(typ, g, f"goroutine {cg} is not in a syscall")
            st[0] = _G_RUNNING
            pst = ps.get(cp)
            if pst is None or pst[0] != _P_SYSCALL:
                self._bad(typ, g, f"proc {cp} is not in a syscall")
            pst[0] = _P_RUNNING
            out.extend((23, t, m, cp, cg, 0, 0, 0, 0))
            return True
        if typ == 24:  # GoSyscallEndBlocked
            if cp != -1:
                pst = ps.get(cp)
                if pst is None:
                    self._bad(typ, g, f"uninitialized proc {cp}")
                if pst[0] == _P_SYSCALL:
                    return False
            self._req(m, cp, cg, typ, p=None, g=True)
            st = gs.get(cg)
            if st is None or st[0] != _G_SYSCALL:
                self._bad(typ, g, f"goroutine {cg} is not in a syscall")
            st[0] = _G_RUNNABLE
            out.extend((24, t, m, cp, cg, 0, 0, 0, 0))
            ms[0] = -1
            return True
        if typ == 12:  # ProcSteal
            return self._proc_steal(s, t, m, ms, cp, cg, toks, gen, g, out)
        if typ == 45 or typ == 46:  # GoSwitch, GoSwitchDestroy
            self._req(m, cp, cg, typ, p=True, g=True)
            cst = gs.get(cg)
            if cst is None or cst[0] != _G_RUNNING:
                self._bad(typ, g, f"goroutine {cg} is not running")
            nid = toks[s + 2]
            nst = gs.get(nid)
            if nst is None or nst[0] != _G_WAITING or nst[1] != gen or toks[s + 3] != nst[2] + 1:
                return False
            out.extend((typ, t, m, cp, cg, nid, toks[s + 3], 0, 0))
            if typ == 45:
                cst[0] = _G_WAITING
                out.extend((20, t, m, cp, cg, 0, 0, 0, 0))
            else:
                del gs[cg]
                out.extend((17, t, m, cp, cg, 0, 0, 0, 0))
            nst[0] = _G_RUNNING
            nst[2] = toks[s + 3]
            out.extend((16, t, m, cp, -1, nid, toks[s + 3], 0, 0))
            ms[0] = nid
            return True
        if typ == 15:  # GoCreateSyscall
            self._req(m, cp, cg, typ, p=None, g=False)
            nid = toks[s + 2]
            if nid in gs:
                self._bad(typ, g, f"goroutine {nid} already exists")
            gs[nid] = [_G_SYSCALL, gen, 0]
            out.extend((15, t, m, cp, cg, nid, 0, 0, 0))
            ms[0] = nid
            return True
        if typ == 18:  # GoDestroySyscall
            self._req(m, cp, cg, typ, p=None, g=True)
            st = gs.get(cg)
            if st is None or st[0] != _G_SYSCALL:
                self._bad(typ, g, f"goroutine {cg} is not in a syscall")
            del gs[cg]
            if cp != -1:
                pst = ps.get(cp)
                if pst is None or pst[0] != _P_SYSCALL:
                    self._bad(typ, g, f"proc {cp} is not in a syscall")
                pst[0] = _P_ABANDONED
                # The toolchain emits a self-steal of the P first (old status Syscall).
                out.extend((12, t, m, cp, cg, cp, 0, 0, _P_SYSCALL))
                ms[1] = -1
            out.extend((18, t, m, cp, cg, 0, 0, 0, 0))
            ms[0] = -1
            return True
        if typ == 28 or typ == 29 or typ == 30:  # GCActive, GCBegin, GCEnd
            seq = toks[s + 2]
            if typ == 28 and gen == self.initial_gen:
                if self.gc_state != 0:
                    self._bad(typ, g, "GCActive in the first generation is not the first GC event")
                self.gc_seq, self.gc_state = seq, 2
            elif typ == 29 and self.gc_state == 0:
                self.gc_seq, self.gc_state = seq, 2
            else:
                if seq != self.gc_seq + 1:
                    return False
                if typ == 28 and self.gc_state != 2:
                    self._bad(typ, g, "GCActive while GC was not running")
                if typ == 29 and self.gc_state == 2:
                    self._bad(typ, g, "GCBegin while GC was running")
                if typ == 30 and self.gc_state != 2:
                    self._bad(typ, g, "GCEnd while GC was not running")
                self.gc_seq = seq
                self.gc_state = 1 if typ == 30 else 2
                self._req(m, cp, cg, typ, p=True, g=True)
            out.extend((typ, t, m, cp, cg, seq, toks[s + 3] if typ == 29 else 0, 0, 0))
            return True
        if typ == 26:  # STWBegin: remember its kind for STWEnd
            self._req(m, cp, cg, typ, p=True, g=True)
            self.stw_kind[cg] = toks[s + 2]
            out.extend((26, t, m, cp, cg, toks[s + 2], toks[s + 3], 0, 0))
            return True
        if typ == 27:  # STWEnd
            self._req(m, cp, cg, typ, p=True, g=True)
            out.extend((27, t, m, cp, cg, self.stw_kind.pop(cg, 0), 0, 0, 0))
            return True
        if typ == 40:  # UserTaskBegin
            tid = toks[s + 2]
            parent = toks[s + 3]
            if parent == 0:
                parent = NO_ID
            self.tasks[tid] = (parent, g.strings.get(toks[s + 4], ""))
            self._req(m, cp, cg, typ, p=True, g=True)
            out.extend((40, t, m, cp, cg, tid, parent, toks[s + 4], toks[s + 5]))
            return True
        if typ == 41:  # UserTaskEnd
            tid = toks[s + 2]
            self._req(m, cp, cg, typ, p=True, g=True)
            parent, name = self.tasks.pop(tid, (NO_ID, ""))
            out.extend((41, t, m, cp, cg, tid, toks[s + 3], parent, name))
            return True
        # Everything else is ready at the head of its M and changes no scheduler state.
        spec = F.SPECS[typ]
        n = len(spec.args) - 1
        a = [*toks[s + 2:s + 2 + n], 0, 0, 0, 0]
        if typ in _NEED_P:
            self._req(m, cp, cg, typ, p=True, g=None)
        elif typ in _NEED_PG:
            self._req(m, cp, cg, typ, p=True, g=True)
        out.extend((typ, t, m, cp, cg, a[0], a[1], a[2], a[3]))
        return True

    def _go_status(self, typ: Any, s: Any, t: Any, m: Any, ms: Any, cp: Any, cg: Any, toks: Any, gen: Any, g: Any,
                   out: Any) -> bool:
        gid, mid, status = toks[s + 2], toks[s + 3], toks[s + 4]
        if status < 1 or status > 4:
            self._bad(typ, g, f"invalid status {status} for goroutine {gid}")
        old = F.GO_STATUS_TO_STATE[status]
        st = self.gs.get(gid)
        if st is not None:
            if st[0] != status:
                self._bad(typ, g, f"inconsistent status for goroutine {gid}: {st[0]} then {status}")
            st[1], st[2] = gen, 0
        elif gen == self.initial_gen:
            self.gs[gid] = [status, gen, 0]
            old = _UNDETERMINED
        else:
            self._bad(typ, g, f"status for new goroutine {gid} after the first generation")
        ctx_m, ctx_g = m, cg
        new_g = cg
        if status == _G_RUNNING:
            new_g = gid
        elif status == _G_SYSCALL:
            if mid == NO_ID:
                self._bad(typ, g, f"goroutine {gid} in syscall without a thread")
            if mid == m:
                if gen != self.initial_gen and cg != gid:
                    self._bad(typ, g, f"inconsistent thread for syscalling goroutine {gid}")
                new_g = gid
            else:
                other = self.ms.get(mid)
                if other is not None:
                    if other[0] != gid:
                        self._bad(typ, g, f"inconsistent thread for syscalling goroutine {gid}")
                    ctx_g = other[0]
                else:
                    self.ms[mid] = [gid, -1]
                ctx_m = mid
        stack = toks[s + 5] if typ == 48 else 0
        out.extend((typ, t, ctx_m, cp, ctx_g, gid, old, F.GO_STATUS_TO_STATE[status], stack))
        if ms is not None:
            ms[0] = new_g
        return True

    def _proc_status(self, s: Any, t: Any, m: Any, ms: Any, cp: Any, cg: Any, toks: Any, gen: Any, g: Any, out: Any) -> bool:
        pid, status = toks[s + 2], toks[s + 3]
        if status > 4:
            self._bad(13, g, f"invalid status {status} for proc {pid}")
        old = F.PROC_STATUS_TO_STATE[status]
        shown = status  # the toolchain rewrites the argument, not its local status
        pst = self.ps.get(pid)
        if pst is not None:
            if status == _P_ABANDONED and pst[0] == _P_SYSCALL:
                old = _PROC_RUNNING
                shown = _P_SYSCALL
            elif status == _P_ABANDONED and pst[0] == _P_ABANDONED:
                old = _PROC_IDLE
            elif pst[0] != status:
                self._bad(13, g, f"inconsistent status for proc {pid}: {pst[0]} then {status}")
            pst[1], pst[2] = gen, 0
        else:
            self.ps[pid] = [status, gen, 0]
            old = _UNDETERMINED if gen == self.initial_gen else _NOTEXIST
        new_p = cp
        if status in (_P_RUNNING, _P_SYSCALL):
            new_p = pid
        ctx = (m, cp, cg)
        if status == _P_ABANDONED and old == _PROC_RUNNING:
            found = None
            for mid, st in self.ms.items():
                if st[1] == pid:
                    found = (mid, pid, st[0])
            if found is None:
                self._bad(13, g, f"no thread holds proc {pid} that is about to be stolen")
            ctx = found
        out.extend((13, t, ctx[0], ctx[1], ctx[2], pid, old, F.PROC_STATUS_TO_STATE[shown], 0))
        if ms is not None:
            ms[1] = new_p
        return True

    def _proc_steal(self, s: Any, t: Any, m: Any, ms: Any, cp: Any, cg: Any, toks: Any, gen: Any, g: Any, out: Any) -> bool:
        pid = toks[s + 2]
        pst = self.ps.get(pid)
        if pst is None or (pst[0] != _P_SYSCALL and pst[0] != _P_ABANDONED) or pst[1] != gen \
                or toks[s + 3] != pst[2] + 1:
            return False
        if m == -1:
            self._bad(12, g, "ProcSteal without a thread")
        old = pst[0]
        pst[0] = _P_IDLE
        pst[2] = toks[s + 3]
        rec = (12, t, m, cp, cg, pid, toks[s + 3], toks[s + 4], old)
        if old == _P_ABANDONED:
            out.extend(rec)
            return True
        mid = toks[s + 4]
        if mid == m:
            if cp != pid:
                self._bad(12, g, f"self-steal of proc {pid} but thread holds proc {cp}")
            out.extend(rec)
            ms[1] = -1
            return True
        victim = self.ms.get(mid)
        if victim is None:
            self._bad(12, g, f"stole proc from unknown thread {mid}")
        if victim[1] != pid:
            self._bad(12, g, f"stole proc {pid} from thread {mid} holding proc {victim[1]}")
        victim[1] = -1
        out.extend(rec)
        return True

    @staticmethod
    def _bad(typ: int, g: RawGeneration, why: str) -> NoReturn:
        raise TraceParseError(f"broken trace: {F.SPECS[typ].name}: {why}",
                              where=f"generation {g.gen} at byte {g.offset}")

    @staticmethod
    def _req(m: int, cp: int, cg: int, typ: int, *, p: bool | None, g: bool | None) -> None:
        # Context requirements of the toolchain's validateCtx (True must have, False must not).
        if m == -1:
            why = "expected a thread"
        elif p is True and cp == -1:
            why = "expected a proc"
        elif p is False and cp != -1:
            why = "expected no proc"
        elif g is True and cg == -1:
            why = "expected a goroutine"
        elif g is False and cg != -1:
            why = "expected no goroutine"
        else:
            return
        raise TraceParseError(f"broken trace: {F.SPECS[typ].name}: {why}")


# Event types with the toolchain's context requirements (M always required).
_NEED_P = frozenset({37, 38, 32, 33})  # HeapAlloc, HeapGoal, GCSweepBegin, GCSweepEnd
_NEED_PG = frozenset({9, 39, 44, 42, 43, 35, 36})  # annotations and G-scoped ranges
