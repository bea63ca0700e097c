"""Wake-up chains: for each blocking episode of a goroutine, why it blocked, how long, and who woke it.

A goroutine blocks with a GoBlock event (its wait reason and its stack: where
it blocked) and is made runnable again by a GoUnblock event, emitted by the
goroutine that woke it (a channel send, a mutex unlock, a WaitGroup done: the
event's stack is the waker's) or, with no goroutine running, by the runtime
itself: the scheduler's timers (sleeps, timeouts), the netpoller (network
readiness) or other scheduler work. One episode is the pair, for one goroutine,
of its block and the unblock that follows it.

Episodes are gathered per generation from the same columns the trace metrics
read (only when asked: :func:`~pytest_goperf.analysis.trace_metrics.compute_metrics`
with ``wakeups=True``) and paired once at the end, with numpy. They are
summarised as blocker -> waker pairs ("412 waits on chan receive in
main.consume, 96 % woken by main.produce, total 1.3 s"): the blocker is the
first frame of the service's code on the blocked stack (else the first frame
outside the runtime), the waker the same on the waker's stack, or ``timer``,
``netpoller`` or ``scheduler`` when the runtime woke it.

Episodes already under way when the window began (the goroutine was first seen
waiting) have no known start: they are counted apart (``open_at_start``) and
left out of the pairs, as are goroutines still blocked at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..formats.symbols import Frame
from ..formats.trace import _format as F
from .annotations import Span, fields_equal
from .classify import classify

__all__ = ["Wakeup", "WakeupPair", "Wakeups", "duration_text", "site_of"]

_WAITING, _UNDET = F.GS_WAITING, F.GS_UNDETERMINED
_GO_BLOCK, _GO_UNBLOCK, _GO_CREATE_BLOCKED = 20, 21, 47
assert (F.SPECS[_GO_BLOCK].name, F.SPECS[_GO_UNBLOCK].name, F.SPECS[_GO_CREATE_BLOCKED].name) == (
    "GoBlock", "GoUnblock", "GoCreateBlocked")
#: Pairs kept in the summary.
TOP_PAIRS = 10
#: Goroutine ids kept per pair (blocked goroutines and wakers), as examples.
PAIR_IDS = 8
#: The runtime wakers, by the wait reason of the goroutine woken with no goroutine running.
RUNTIME_WAKERS: Mapping[str, str] = {"sleep": "timer", "network": "netpoller"}
_EMPTY = np.zeros(0, dtype=np.int64)

Stack = tuple[Frame, ...]


def duration_text(ns: float, *, micro: str = "us") -> str:
    """``"412 us"``, ``"2.22 ms"``, ``"1.3 s"``: three significant digits in a unit that fits."""
    if ns >= 1e9:
        return f"{ns / 1e9:.3g} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.3g} ms"
    return f"{ns / 1e3:.3g} {micro}"


def site_of(stack: Stack, main_module: str | None = None) -> str:
    """The function a stack is "in": its first frame of the service's code, else the first outside the runtime."""
    for f in stack:
        if classify(f.function, main_module) == "user":
            return f.function
    for f in stack:
        if classify(f.function, main_module) != "runtime":
            return f.function
    return stack[0].function if stack else "(no stack)"


@dataclass(frozen=True, slots=True)
class Wakeup(Span):
    """One blocking episode of one goroutine (times: ns of the trace clock)."""

    goroutine: int
    reason: str  # the wait reason of the GoBlock ("chan receive", "sync", "select", "sleep", "network", ...)
    start_ns: int  # when it blocked (the window start when it was already blocked then: ``since_start``)
    end_ns: int  # when it was made runnable again
    stack: Stack  # where it blocked
    waker: int  # the goroutine that woke it; -1: the runtime (see waker_kind)
    waker_kind: str  # "goroutine", "timer", "netpoller" or "scheduler"
    waker_stack: Stack  # the waker's stack at the wake-up (empty for the runtime)
    since_start: bool = False

    @property
    def blocked_at(self) -> str:
        return site_of(self.stack)

    @property
    def woken_by(self) -> str:
        """The waker's function, or the runtime waker's kind."""
        return site_of(self.waker_stack) if self.waker >= 0 else self.waker_kind

    def to_json(self) -> dict[str, Any]:
        return {"goroutine": self.goroutine, "reason": self.reason, "start_ns": self.start_ns, "end_ns": self.end_ns,
                "duration_ns": self.duration_ns, "blocked_at": self.blocked_at, "waker": self.waker,
                "waker_kind": self.waker_kind, "woken_by": self.woken_by, "since_start": self.since_start,
                "stack": [str(f) for f in self.stack[:8]], "waker_stack": [str(f) for f in self.waker_stack[:8]]}


@dataclass(frozen=True, slots=True)
class WakeupPair:
    """The waits of one kind (reason and blocking function) woken by one waker, summed."""

    reason: str
    blocked_at: str
    woken_by: str  # the waker's function, or "timer" / "netpoller" / "scheduler"
    waker_kind: str
    count: int
    total_ns: int
    max_ns: int
    share: float  # of the waits with this reason and blocking function, the fraction this waker woke
    goroutines: tuple[int, ...] = ()  # some of the goroutines that waited
    wakers: tuple[int, ...] = ()  # some of the goroutines that woke them
    stack: Stack = ()  # an example blocking stack
    waker_stack: Stack = ()  # an example waker stack

    @property
    def via(self) -> str | None:
        """The library call the waker made (``sync.(*Mutex).Unlock``), when it is not the waker's own function."""
        via = next((f.function for f in self.waker_stack if classify(f.function) != "runtime"), None)
        return via if via != self.woken_by else None

    def describe(self) -> str:
        """``"412 waits on chan receive in main.consume, 96 % woken by main.produce, total 1.3 s"``."""
        by = self.woken_by if self.waker_kind == "goroutine" else f"the {self.woken_by} (no goroutine)"
        if self.via:
            by += f" ({self.via})"
        return (f"{self.count} waits on {self.reason or 'an unnamed reason'} in {self.blocked_at}, "
                f"{self.share:.0%} woken by {by}, total {duration_text(self.total_ns)}")

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "blocked_at": self.blocked_at, "woken_by": self.woken_by,
                "waker_kind": self.waker_kind, "via": self.via, "count": self.count, "total_ns": self.total_ns,
                "max_ns": self.max_ns,
                "share": self.share, "goroutines": list(self.goroutines), "wakers": list(self.wakers),
                "stack": [str(f) for f in self.stack[:8]], "waker_stack": [str(f) for f in self.waker_stack[:8]]}


@dataclass(frozen=True, eq=False)
class Wakeups:
    """Every blocking episode of one trace, as columns sorted by goroutine then time, and the top pairs.

    ``count``/``total_ns`` cover the episodes that began and ended in the window;
    ``open_at_start`` were already blocked when it began, ``still_blocked`` had not
    been woken when it ended.
    """

    count: int = 0
    total_ns: int = 0
    open_at_start: int = 0
    still_blocked: int = 0
    pairs: tuple[WakeupPair, ...] = ()
    reasons: tuple[str, ...] = ()
    stacks: tuple[Stack, ...] = ((),)
    goroutine: np.ndarray = field(default_factory=lambda: _EMPTY)
    start: np.ndarray = field(default_factory=lambda: _EMPTY)
    end: np.ndarray = field(default_factory=lambda: _EMPTY)
    reason: np.ndarray = field(default_factory=lambda: _EMPTY)
    stack: np.ndarray = field(default_factory=lambda: _EMPTY)
    waker: np.ndarray = field(default_factory=lambda: _EMPTY)
    waker_stack: np.ndarray = field(default_factory=lambda: _EMPTY)
    since_start: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __eq__(self, other: object) -> bool:
        return fields_equal(self, other)

    __hash__ = None  # type: ignore[assignment]  # holds arrays

    def __len__(self) -> int:
        return int(self.goroutine.size)

    def _episode(self, i: int) -> Wakeup:
        reason = self.reasons[int(self.reason[i])]
        waker = int(self.waker[i])
        return Wakeup(int(self.goroutine[i]), reason, int(self.start[i]), int(self.end[i]),
                      self.stacks[int(self.stack[i])], waker, waker_kind(waker, reason),
                      self.stacks[int(self.waker_stack[i])], bool(self.since_start[i]))

    def episodes(self, goroutine: int | None = None) -> Iterator[Wakeup]:
        """Every episode (or only ``goroutine``'s), by goroutine then time."""
        lo, hi = (0, len(self)) if goroutine is None else self._range(goroutine)
        for i in range(lo, hi):
            yield self._episode(i)

    def woken_by_goroutine(self, waker: int) -> list[Wakeup]:
        """The episodes that goroutine ``waker`` ended (whom it woke), in time order."""
        idx = np.flatnonzero(self.waker == waker)
        idx = idx[np.argsort(self.end[idx], kind="stable")]
        return [self._episode(int(i)) for i in idx.tolist()]

    def chain(self, goroutine: int, *, depth: int = 6, at_ns: int | None = None) -> list[Wakeup]:
        """Who woke ``goroutine``, who woke that waker before, and so on: the wake-up chain.

        Starts from ``goroutine``'s longest episode (or the one that ended last at or
        before ``at_ns``), then follows each waker back to its own latest wake-up
        before it acted, until the runtime woke someone, a goroutine repeats, the
        waker was not seen blocking in the window, or ``depth`` steps.
        """
        lo, hi = self._range(goroutine)
        if lo == hi:
            return []
        if at_ns is None:
            i = lo + int(np.argmax(self.end[lo:hi] - self.start[lo:hi]))
        else:
            j = int(np.searchsorted(self.end[lo:hi], at_ns, side="right")) - 1
            if j < 0:
                return []
            i = lo + j
        out = [self._episode(i)]
        seen = {goroutine}
        while len(out) < depth:
            prev = out[-1]
            if prev.waker < 0 or prev.waker in seen:
                break
            seen.add(prev.waker)
            lo, hi = self._range(prev.waker)
            j = int(np.searchsorted(self.end[lo:hi], prev.end_ns, side="right")) - 1
            if lo == hi or j < 0:
                break
            out.append(self._episode(lo + j))
        return out

    def to_json(self, *, top: int = TOP_PAIRS) -> dict[str, Any]:
        return {"count": self.count, "total_ns": self.total_ns, "open_at_start": self.open_at_start,
                "still_blocked": self.still_blocked, "pairs": [p.to_json() for p in self.pairs[:top]]}

    def _range(self, goroutine: int) -> tuple[int, int]:
        lo = int(np.searchsorted(self.goroutine, goroutine, side="left"))
        hi = int(np.searchsorted(self.goroutine, goroutine, side="right"))
        return lo, hi


def waker_kind(waker: int, reason: str) -> str:
    """``goroutine`` when a goroutine woke it, else the runtime waker its wait reason implies."""
    if waker >= 0:
        return "goroutine"
    return RUNTIME_WAKERS.get(reason, "scheduler")


class WakeupAccumulator:
    """Collects block and unblock rows of each generation (fed by the trace metrics' accumulator)."""

    def __init__(self) -> None:
        self.reason_index: dict[str, int] = {"": 0}
        self.parts: list[tuple[np.ndarray, ...]] = []

    def feed(self, strings: Mapping[int, str], map_stacks: Callable[[np.ndarray], np.ndarray], tt: np.ndarray,
             gid: np.ndarray, frm: np.ndarray, to: np.ndarray, t: np.ndarray, col: Mapping[int, np.ndarray]) -> None:
        """One generation's goroutine transitions (state changes only, first-seen states back-dated)."""
        blk = to == _WAITING
        unb = frm == _WAITING
        sel = blk | unb
        if not sel.any():
            return
        tt, blk, unb = tt[sel], blk[sel], unb[sel]
        kind = np.where(unb, 2, np.where(frm[sel] == _UNDET, 1, 0))  # 0 block, 1 blocked at the start, 2 unblock
        c4, c5, c6, c7 = (col[c][sel] for c in (4, 5, 6, 7))
        reason = np.zeros(tt.size, dtype=np.int64)
        r = blk & (tt == _GO_BLOCK)
        if r.any():
            uniq, inv = np.unique(c5[r], return_inverse=True)
            index = self.reason_index
            reason[r] = np.array([index.setdefault(strings.get(int(s), ""), len(index)) for s in uniq.tolist()],
                                 dtype=np.int64)[inv]
        sid = np.where((tt == _GO_BLOCK) | (tt == _GO_CREATE_BLOCKED), c6, np.where(tt == _GO_UNBLOCK, c7, 0))
        stack = map_stacks(sid)
        waker = np.where(unb, c4, -1)
        self.parts.append((gid[sel], t[sel], kind, reason, stack, waker))

    def finish(self, stacks: Mapping[tuple[int, ...], int], pc_frames: Mapping[int, Frame]) -> Wakeups:
        """Pair blocks with the unblocks that follow them; summarise the pairs."""
        by_index: dict[int, tuple[int, ...]] = {i: pcs for pcs, i in stacks.items()}
        frames = tuple(tuple(pc_frames[pc] for pc in by_index[i] if pc in pc_frames) for i in range(len(by_index)))
        reasons = tuple(sorted(self.reason_index, key=self.reason_index.__getitem__))
        if not self.parts:
            return Wakeups(reasons=reasons, stacks=frames)
        gid, t, kind, reason, stack, waker = (np.concatenate(x) for x in zip(*self.parts, strict=True))
        order = np.argsort(gid, kind="stable")  # rows arrive in time order; keep it within a goroutine
        gid, t, kind, reason, stack, waker = (x[order] for x in (gid, t, kind, reason, stack, waker))
        n = gid.size
        nxt = np.zeros(n, dtype=bool)
        nxt[:-1] = (gid[1:] == gid[:-1]) & (kind[:-1] != 2) & (kind[1:] == 2)
        b = np.flatnonzero(nxt)
        e = b + 1
        last = np.ones(n, dtype=bool)
        last[:-1] = gid[1:] != gid[:-1]
        still = int(np.count_nonzero(last & (kind != 2)))
        w = Wakeups(
            reasons=reasons, stacks=frames, goroutine=gid[b], start=t[b], end=t[e], reason=reason[b], stack=stack[b],
            waker=waker[e], waker_stack=stack[e], since_start=kind[b] == 1, still_blocked=still,
        )
        complete = ~w.since_start
        d = (w.end - w.start)[complete]
        pairs = _pairs(w, complete)
        return Wakeups(
            count=int(d.size), total_ns=int(d.sum()), open_at_start=int(np.count_nonzero(w.since_start)),
            still_blocked=still, pairs=pairs, reasons=reasons, stacks=frames, goroutine=w.goroutine, start=w.start,
            end=w.end, reason=w.reason, stack=w.stack, waker=w.waker, waker_stack=w.waker_stack,
            since_start=w.since_start,
        )


def _pairs(w: Wakeups, complete: np.ndarray) -> tuple[WakeupPair, ...]:
    """The top blocker -> waker pairs by total wait, from the complete episodes."""
    idx = np.flatnonzero(complete)
    if not idx.size:
        return ()
    # Blocker: (reason, blocking function); waker: its function or the runtime waker's kind.
    sites: dict[str, int] = {}
    stack_site = np.zeros(len(w.stacks), dtype=np.int64)
    used = np.unique(np.concatenate((w.stack[idx], w.waker_stack[idx])))
    stack_site[used] = [sites.setdefault(site_of(w.stacks[i]), len(sites)) for i in used.tolist()]
    kinds = {"timer": -2, "netpoller": -3, "scheduler": -4}
    runtime_site = np.array([kinds[RUNTIME_WAKERS.get(r, "scheduler")] for r in w.reasons], dtype=np.int64)
    reason = w.reason[idx]
    blocked = stack_site[w.stack[idx]]
    wakers = w.waker[idx]
    woke = np.where(wakers >= 0, stack_site[w.waker_stack[idx]], runtime_site[reason])
    dur = (w.end - w.start)[idx]
    key_b = reason * len(sites) + blocked
    # One integer key per (blocker, waker): the runtime wakers are -2..-4, hence the offset.
    width = len(sites) + 4
    uniq, inv = np.unique(key_b * width + (woke + 4), return_inverse=True)
    inv = inv.reshape(-1)
    totals = np.bincount(inv, weights=dur)
    counts = np.bincount(inv)
    by_pair = np.argsort(inv, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    maxes = np.maximum.reduceat(dur[by_pair], starts)
    per_blocker = {int(k): int(c) for k, c in zip(*np.unique(key_b, return_counts=True), strict=True)}
    names = {v: k for k, v in sites.items()}
    names.update({v: k for k, v in kinds.items()})
    out = []
    for u in np.argsort(-totals, kind="stable")[:TOP_PAIRS].tolist():
        kb, kw = int(uniq[u]) // width, int(uniq[u]) % width - 4
        members = idx[by_pair[starts[u]:starts[u] + counts[u]]]
        first = int(members[0])
        gs = tuple(dict.fromkeys(w.goroutine[members].tolist()))[:PAIR_IDS]
        ws = tuple(x for x in dict.fromkeys(w.waker[members].tolist()) if x >= 0)[:PAIR_IDS]
        reason_name = w.reasons[kb // len(sites)]
        out.append(WakeupPair(
            reason=reason_name, blocked_at=names[kb % len(sites)], woken_by=names[kw],
            waker_kind="goroutine" if kw >= 0 else names[kw], count=int(counts[u]), total_ns=int(totals[u]),
            max_ns=int(maxes[u]), share=float(counts[u]) / per_blocker[kb], goroutines=gs, wakers=ws,
            stack=w.stacks[int(w.stack[first])], waker_stack=w.stacks[int(w.waker_stack[first])],
        ))
    return tuple(out)
