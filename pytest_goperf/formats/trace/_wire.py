"""Low-level reading: header, batches, generations, string/stack tables, varints.

The stream is split into generations without decoding events one by one: each
generation's M batches are concatenated and their varints decoded at once with
numpy (every event is a type byte below 128 followed by unsigned LEB128 varints,
so the whole payload is one run of varints). Only the per-event walk that
finds where each event starts (its argument count depends on its type) is a
Python loop. Every failure raises :class:`TraceParseError` with a byte offset.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ...errors import TraceParseError
from . import _format as F

__all__ = ["ClockSnapshot", "RawGeneration", "iter_generations", "read_header"]

HEADER_SIZE = 16
NO_ID = (1 << 64) - 1


def read_header(data: bytes) -> int:
    """Return the format version NN of a ``go 1.NN trace`` header; refuse what we cannot read."""
    head = bytes(data[:HEADER_SIZE])
    if len(head) < HEADER_SIZE or not head.startswith(b"go 1."):
        raise TraceParseError(
            "not a Go execution trace: it must start with the 16-byte header 'go 1.NN trace'; "
            f"this starts with {head!r}",
            where="byte 0",
        )
    text = head.rstrip(b"\x00")
    digits = text[5:].split(b" ", 1)[0]
    if not digits.isdigit() or not text.endswith(b" trace"):
        raise TraceParseError(f"malformed trace header {head!r}", where="byte 0")
    version = int(digits)
    if version < 22:
        raise TraceParseError(
            f"trace format go 1.{version} is the old (Go 1.21 and earlier) format, which pytest-goperf "
            "does not read; capture the trace with Go 1.22 or newer",
            where="byte 0",
        )
    if version not in F.MAX_CODE:
        raise TraceParseError(
            f"unknown trace format go 1.{version}: this reader knows go 1.22, 1.23, 1.25 and 1.26 "
            "(written by Go 1.22 to 1.27); upgrade pytest-goperf to read newer traces",
            where="byte 0",
        )
    return version


def _uvarint(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """Decode one unsigned LEB128 varint at ``pos``; return (value, next position)."""
    value = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise TraceParseError(f"trace truncated inside {what}", where=f"byte {start}")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise TraceParseError(f"corrupt varint in {what} (longer than 10 bytes)", where=f"byte {start}")
    if value > NO_ID:
        raise TraceParseError(f"corrupt varint in {what} (exceeds 64 bits)", where=f"byte {start}")
    return value, pos


@dataclass(frozen=True, slots=True)
class ClockSnapshot:
    """The wall and monotonic clocks read at one trace-clock instant (Go 1.25+)."""

    trace_ns: int
    mono_ns: int
    wall_sec: int
    wall_nsec: int


@dataclass(slots=True)
class RawGeneration:
    """One generation, its tables resolved and its M events decoded (not yet ordered)."""

    gen: int
    offset: int  # byte offset of its first batch
    ns_per_tick: float = 0.0
    min_ts: int = 0  # ticks
    clock: ClockSnapshot | None = None
    strings: dict[int, str] = field(default_factory=dict)
    stacks: dict[int, tuple[int, ...]] = field(default_factory=dict)  # stack ID -> PCs
    frames: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # pc -> (func sid, file sid, line)
    # (time ns, m, p, g, stack ID), sorted by time
    cpu_samples: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    batch_ms: list[int] = field(default_factory=list)  # Ms in order of first batch
    # decoded events: one token list (type, dt, args...) for the whole generation and, per M,
    # its batches in file order as (first token, end token, base time ns, byte offset).
    tokens: list[int] = field(default_factory=list)
    m_batches: dict[int, list[tuple[int, int, int, int]]] = field(default_factory=dict)


@dataclass(slots=True)
class _Batch:
    m: int
    time: int
    start: int  # payload offset in the file
    end: int
    exp: int  # experiment ID, 0 for ordinary batches


def _read_batch(data: bytes, pos: int, size: int) -> tuple[_Batch | None, int, int]:
    """Read the batch at ``pos``: (batch or None for EndOfGeneration, gen, next pos)."""
    typ = data[pos]
    if typ == F.EV_END_OF_GENERATION:
        return None, 0, pos + 1
    if typ not in (F.EV_EVENT_BATCH, F.EV_EXPERIMENTAL_BATCH):
        raise TraceParseError(
            f"corrupt trace: expected a batch header (byte 0x01), found byte 0x{typ:02x}; "
            "the file is damaged or is not a trace", where=f"byte {pos}")
    p = pos + 1
    exp = 0
    if typ == F.EV_EXPERIMENTAL_BATCH:
        if p >= size:
            raise TraceParseError("trace truncated inside a batch header", where=f"byte {pos}")
        exp = data[p]
        p += 1
    gen, p = _uvarint(data, p, size, "a batch header")
    m, p = _uvarint(data, p, size, "a batch header")
    ts, p = _uvarint(data, p, size, "a batch header")
    length, p = _uvarint(data, p, size, "a batch header")
    if length > F.MAX_BATCH_SIZE:
        raise TraceParseError(
            f"corrupt batch header: payload length {length} exceeds the format's maximum {F.MAX_BATCH_SIZE}",
            where=f"byte {pos}")
    if p + length > size:
        raise TraceParseError(
            f"trace truncated: a batch of {length} bytes starting here runs past the end of the file "
            f"({size} bytes); capture the trace again and let it finish", where=f"byte {pos}")
    if gen == 0:
        raise TraceParseError("corrupt batch header: generation number 0", where=f"byte {pos}")
    mid = -1 if m == NO_ID else m
    return _Batch(mid, ts, p, p + length, exp), gen, p + length


def iter_generations(data: bytes, version: int) -> Iterator[RawGeneration]:
    """Yield every :class:`RawGeneration` of the trace in order, streaming batch by batch."""
    size = len(data)
    pos = HEADER_SIZE
    in_band_end = version >= F.END_OF_GENERATION_SINCE
    cur: list[_Batch] = []
    cur_gen = 0
    cur_off = pos
    while pos < size:
        batch_pos = pos
        try:
            batch, gen, pos = _read_batch(data, pos, size)
        except TraceParseError as read_error:
            if in_band_end or not cur:
                raise
            # Before 1.26 a bad batch after a generation's batches may be the next generation's
            # first: Go hands over the generation read so far and reports this error after it
            # (generation.go, spillErr), so errors come in file order. So does this reader. When
            # the generation read so far is itself incomplete (its strings or stacks, written last,
            # are missing) the cut is inside it: then the read error is the one that explains it.
            try:
                partial = _build_generation(data, cur_gen, cur_off, cur, version)
            except TraceParseError:
                raise read_error from None
            yield partial
            raise
        if batch is None:
            if not in_band_end:
                raise TraceParseError(
                    f"corrupt trace: EndOfGeneration byte in a go 1.{version} trace (only 1.26+ has it)",
                    where=f"byte {batch_pos}")
            if not cur:
                raise TraceParseError("corrupt trace: empty generation", where=f"byte {batch_pos}")
            yield _build_generation(data, cur_gen, cur_off, cur, version)
            cur, cur_gen, cur_off = [], 0, pos
            continue
        if cur_gen == 0:
            cur_gen, cur_off = gen, batch_pos
        elif gen != cur_gen:
            if in_band_end:
                raise TraceParseError(
                    f"broken trace: batch of generation {gen} inside generation {cur_gen} "
                    "(missing end-of-generation byte, or generations interleaved)", where=f"byte {batch_pos}")
            if gen != cur_gen + 1:
                raise TraceParseError(
                    f"broken trace: generations out of order ({cur_gen} then {gen})", where=f"byte {batch_pos}")
            yield _build_generation(data, cur_gen, cur_off, cur, version)
            cur, cur_gen, cur_off = [], gen, batch_pos
        cur.append(batch)
    if cur:
        if in_band_end:
            raise TraceParseError(
                f"trace truncated: generation {cur_gen} has no end-of-generation byte; "
                "the capture was cut short, capture it again", where=f"byte {size}")
        yield _build_generation(data, cur_gen, cur_off, cur, version)


def _build_generation(data: bytes, gen: int, offset: int, batches: list[_Batch], version: int) -> RawGeneration:
    g = RawGeneration(gen=gen, offset=offset)
    g.min_ts = min(b.time for b in batches)
    freq = 0
    m_batches: dict[int, list[_Batch]] = {}
    cpu_raw: list[tuple[int, int, int, int, int]] = []
    sync_first = F.EV_SYNC if version >= F.SYNC_BATCH_SINCE else F.EV_FREQUENCY
    for b in batches:
        if b.start == b.end:
            kind = -1
        else:
            kind = data[b.start]
        if b.exp:
            continue  # experimental batches are opaque to this reader
        if kind == F.EV_STRINGS:
            _read_strings(data, b, g.strings)
        elif kind == F.EV_STACKS:
            _read_stacks(data, b, g.stacks, g.frames)
        elif kind == F.EV_CPU_SAMPLES:
            _read_cpu_samples(data, b, cpu_raw)
        elif kind == sync_first:
            f, clock = _read_sync(data, b, version)
            if f:
                if freq:
                    raise TraceParseError(f"corrupt trace: two frequency events in generation {gen}",
                                          where=f"byte {b.start}")
                freq = f
            if clock is not None:
                g.clock = clock
        else:
            if b.m not in m_batches:
                m_batches[b.m] = []
                g.batch_ms.append(b.m)
            m_batches[b.m].append(b)
    if not freq:
        raise TraceParseError(f"corrupt trace: generation {gen} has no frequency event", where=f"byte {offset}")
    if version >= F.SYNC_BATCH_SINCE and g.clock is None:
        raise TraceParseError(f"corrupt trace: generation {gen} has no clock snapshot", where=f"byte {offset}")
    # Go converts ticks with float64(t) * (1 / (f / 1e9)); same arithmetic here.
    g.ns_per_tick = 1.0 / (freq / 1e9)
    if g.clock is not None:
        g.clock = ClockSnapshot(int(g.clock.trace_ns * g.ns_per_tick), g.clock.mono_ns, g.clock.wall_sec,
                                g.clock.wall_nsec)
    for pcs in g.stacks.values():
        for pc in pcs:
            fsid, flsid, _ = g.frames[pc]
            if (fsid not in g.strings and fsid != 0) or (flsid not in g.strings and flsid != 0):
                raise TraceParseError(f"corrupt trace: stack frame names unknown string in generation {gen}",
                                      where=f"byte {offset}")
    k = g.ns_per_tick
    g.cpu_samples = sorted(((int(ts * k), m, p, gg, st) for ts, m, p, gg, st in cpu_raw), key=lambda s: s[0])
    _decode_events(data, g, m_batches, version)
    return g


def _read_strings(data: bytes, b: _Batch, out: dict[int, str]) -> None:
    pos, end = b.start + 1, b.end
    while pos < end:
        if data[pos] != F.EV_STRING:
            raise TraceParseError(f"corrupt strings batch: expected String event, found {data[pos]}",
                                  where=f"byte {pos}")
        sid, pos = _uvarint(data, pos + 1, end, "a string")
        n, pos = _uvarint(data, pos, end, "a string")
        if n > F.MAX_STRING_SIZE or pos + n > end:
            raise TraceParseError(f"corrupt string of length {n}", where=f"byte {pos}")
        if sid in out:
            raise TraceParseError(f"corrupt trace: string ID {sid} defined twice", where=f"byte {pos}")
        out[sid] = data[pos:pos + n].decode("utf-8", "replace")
        pos += n


def _read_stacks(data: bytes, b: _Batch, stacks: dict[int, tuple[int, ...]],
                 frames: dict[int, tuple[int, int, int]]) -> None:
    pos, end = b.start + 1, b.end
    uv = _uvarint
    while pos < end:
        if data[pos] != F.EV_STACK:
            raise TraceParseError(f"corrupt stacks batch: expected Stack event, found {data[pos]}",
                                  where=f"byte {pos}")
        sid, pos = uv(data, pos + 1, end, "a stack")
        n, pos = uv(data, pos, end, "a stack")
        if n > F.MAX_FRAMES_PER_STACK:
            raise TraceParseError(f"corrupt stack {sid}: {n} frames (maximum {F.MAX_FRAMES_PER_STACK})",
                                  where=f"byte {pos}")
        pcs = []
        for _ in range(n):
            pc, pos = uv(data, pos, end, "a stack frame")
            fn, pos = uv(data, pos, end, "a stack frame")
            fl, pos = uv(data, pos, end, "a stack frame")
            line, pos = uv(data, pos, end, "a stack frame")
            pcs.append(pc)
            if pc not in frames:
                frames[pc] = (fn, fl, line)
        if sid in stacks:
            raise TraceParseError(f"corrupt trace: stack ID {sid} defined twice", where=f"byte {pos}")
        stacks[sid] = tuple(pcs)


def _signed(x: int) -> int:
    return x - (1 << 64) if x >= (1 << 63) else x


def _read_cpu_samples(data: bytes, b: _Batch, out: list[tuple[int, int, int, int, int]]) -> None:
    pos, end = b.start + 1, b.end
    while pos < end:
        if data[pos] != F.EV_CPU_SAMPLE:
            raise TraceParseError(f"corrupt CPU samples batch: found event {data[pos]}", where=f"byte {pos}")
        ts, pos = _uvarint(data, pos + 1, end, "a CPU sample")
        m, pos = _uvarint(data, pos, end, "a CPU sample")
        p, pos = _uvarint(data, pos, end, "a CPU sample")
        g, pos = _uvarint(data, pos, end, "a CPU sample")
        st, pos = _uvarint(data, pos, end, "a CPU sample")
        out.append((ts, _signed(m), _signed(p), -1 if g == 0 else g, st))


def _read_sync(data: bytes, b: _Batch, version: int) -> tuple[int, ClockSnapshot | None]:
    pos, end = b.start, b.end
    if version >= F.SYNC_BATCH_SINCE:
        pos += 1  # the Sync byte
    freq = 0
    clock = None
    last = b.time
    while pos < end:
        et = data[pos]
        pos += 1
        if et == F.EV_FREQUENCY:
            if freq:
                raise TraceParseError("corrupt sync batch: two frequency events", where=f"byte {pos - 1}")
            freq, pos = _uvarint(data, pos, end, "a frequency event")
            if freq == 0:
                raise TraceParseError("corrupt sync batch: frequency 0", where=f"byte {pos}")
        elif et == F.EV_CLOCK_SNAPSHOT and version >= F.SYNC_BATCH_SINCE:
            dt, pos = _uvarint(data, pos, end, "a clock snapshot")
            mono, pos = _uvarint(data, pos, end, "a clock snapshot")
            sec, pos = _uvarint(data, pos, end, "a clock snapshot")
            nsec, pos = _uvarint(data, pos, end, "a clock snapshot")
            clock = ClockSnapshot(last + dt, mono, sec, nsec)  # trace time in ticks until converted
        else:
            raise TraceParseError(f"corrupt sync batch: unexpected event {et}", where=f"byte {pos - 1}")
    return freq, clock


# step[t] = 1 (type byte) + number of wire args (dt included) for timed event types; 0 = invalid.
def _steps(version: int) -> list[int]:
    top = F.MAX_CODE[version]
    steps = [0] * 256
    for code, spec in F.SPECS.items():
        if not spec.timed or code == F.EV_CLOCK_SNAPSHOT:
            continue
        if code <= top or (code >= 128 and version >= F.EXPERIMENTAL_SINCE):
            steps[code] = 1 + len(spec.args)
    return steps


#: format version -> event step table (see _steps), used while walking the events.
STEPS = {v: _steps(v) for v in F.MAX_CODE}


def _varints(buf: np.ndarray, base_offset: int) -> np.ndarray:
    """Decode a byte array that is a run of complete varints into uint64 values."""
    ends = np.flatnonzero(buf < 0x80)
    if ends.size == 0:
        return np.zeros(0, dtype=np.uint64)
    # The last byte of a varint is below 0x80: its value as is. Only the varint ends are
    # widened to 64 bits (not the whole buffer).
    vals = buf[ends].astype(np.uint64)
    # Length of each varint: distance from the previous varint's end.
    lengths = np.diff(ends, prepend=-1)
    longest = int(lengths.max())
    if longest > 10:
        bad = int(ends[np.argmax(lengths > 10)] - lengths[np.argmax(lengths > 10)] + 1)
        raise TraceParseError("corrupt varint in event data (longer than 10 bytes)",
                              where=f"byte {base_offset + bad}")
    # Fold in the lower 7-bit groups, most significant (last byte) first; most varints are
    # one or two bytes long, so the working set shrinks fast.
    idx = np.flatnonzero(lengths > 1)
    k = 1
    seven = np.uint64(7)
    while idx.size:
        vals[idx] = (vals[idx] << seven) | (buf[ends[idx] - k] & 0x7F).astype(np.uint64)
        k += 1
        idx = idx[lengths[idx] > k]
    return vals


def _decode_events(data: bytes, g: RawGeneration, m_batches: dict[int, list[_Batch]], version: int) -> None:
    """Decode every M batch's varints into ``g.tokens``; record each batch's token range per M.

    The events themselves (type byte, then its arguments) are walked while ordering,
    where each event is touched anyway.
    """
    order = [b for m in g.batch_ms for b in m_batches[m]]
    if not order:
        return
    mv = memoryview(data)
    chunks = []
    for b in order:
        if b.start == b.end:
            continue
        if data[b.end - 1] >= 0x80:
            raise TraceParseError("corrupt or truncated batch: its last varint is incomplete",
                                  where=f"byte {b.end - 1}")
        chunks.append(np.frombuffer(mv[b.start:b.end], dtype=np.uint8))
    if not chunks:
        return  # every event batch is empty: nothing to order
    buf = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    # Token index where each batch's payload begins: the number of varint ends before it.
    # (Counted batch by batch: a cumulative sum over the whole buffer costs a 64-bit array of its size.)
    tok_bounds = [0]
    pos = 0
    for b in order:
        size = b.end - b.start
        tok_bounds.append(tok_bounds[-1] + int(np.count_nonzero(buf[pos:pos + size] < 0x80)))
        pos += size
    g.tokens = _varints(buf, g.offset).tolist()
    k = g.ns_per_tick
    for j, b in enumerate(order):
        if tok_bounds[j] == tok_bounds[j + 1]:
            continue
        g.m_batches.setdefault(b.m, []).append((tok_bounds[j], tok_bounds[j + 1], int(b.time * k), b.start))
