"""The trace reader against the toolchain's own reading of the same files.

Every committed sample (captured by scripts/capture_traces.py from the example
service, Go 1.22 to 1.27, GOMAXPROCS 2 and 4, one with a CPU profile running)
is read by ``go tool trace -d=parsed`` and ``go tool trace -pprof=sched`` of
the machine's Go, which reads every older format, and by our reader.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_goperf.analysis.trace_metrics import compute_metrics
from pytest_goperf.formats.trace.reader import (
    CPUSample,
    GoTransition,
    LabelEvent,
    LogEvent,
    MetricEvent,
    ProcTransition,
    RangeEvent,
    RegionEvent,
    SyncEvent,
    TaskEvent,
    TraceReader,
)

SAMPLES = Path(__file__).parent / "samples" / "traces"
TRACES = sorted(p for p in SAMPLES.glob("go1.*.trace") if not p.name.startswith("go1.21"))

_TRANSITION = re.compile(
    r'^M=(-?\d+) P=(-?\d+) G=(-?\d+) StateTransition Time=(\d+) (GoID|ProcID)=(-?\d+) (\w+)->(\w+) Reason="(.*)"$')
_SAMPLE = re.compile(r"^M=(-?\d+) P=(-?\d+) G=(-?\d+) StackSample Time=(\d+)$")
_SYNC = re.compile(r"^M=-1 P=-1 G=-1 Sync Time=(\d+) N=(\d+)")
_ANY = re.compile(r"^M=(-?\d+) P=(-?\d+) G=(-?\d+) (\w+) Time=(\d+)(.*)$")
_DETAIL = {
    "Metric": re.compile(r' Name="(.*?)" Value=Value\{Uint64\((\d+)\)\}'),
    "RangeBegin": re.compile(r' Name="(.*?)"'),
    "RangeActive": re.compile(r' Name="(.*?)"'),
    "RangeEnd": re.compile(r' Name="(.*?)"'),
    "Label": re.compile(r' Label="(.*?)"'),
    "TaskBegin": re.compile(r' ID=(\d+) Parent=(\d+) Type="(.*?)"'),
    "TaskEnd": re.compile(r' ID=(\d+) Parent=(\d+) Type="(.*?)"'),
    "RegionBegin": re.compile(r' Task=(\d+) Type="(.*?)"'),
    "RegionEnd": re.compile(r' Task=(\d+) Type="(.*?)"'),
    "Log": re.compile(r' Task=(\d+) Category="(.*?)" Message="(.*?)"'),
}


@dataclass
class Oracle:
    transitions: list[tuple]  # (kind, m, p, g, time, id, from, to, reason)
    samples: list[tuple]  # (m, p, g, time, first frame function)
    syncs: list[tuple]  # (time, n)
    sched_count: int
    sched_total_ns: int
    events: list[tuple]  # every event: (kind, time, detail)


def _uvarint(b: bytes, i: int) -> tuple[int, int]:
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _fields(b: bytes):
    """Minimal protobuf field walk, enough to sum a pprof profile's sample values."""
    i = 0
    while i < len(b):
        key, i = _uvarint(b, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _uvarint(b, i)
            yield field, v
        elif wire == 2:
            n, i = _uvarint(b, i)
            yield field, b[i:i + n]
            i += n
        elif wire == 1:
            yield field, b[i:i + 8]
            i += 8
        elif wire == 5:
            yield field, b[i:i + 4]
            i += 4
        else:
            raise ValueError(f"unexpected wire type {wire}")


def _pprof_totals(profile: bytes) -> tuple[int, int]:
    count = total = 0
    for field, value in _fields(gzip.decompress(profile)):
        if field != 2:  # Profile.sample
            continue
        values: list[int] = []
        for sf, sv in _fields(value):
            if sf == 2:  # Sample.value, packed or not
                if isinstance(sv, bytes):
                    j = 0
                    while j < len(sv):
                        x, j = _uvarint(sv, j)
                        values.append(x)
                else:
                    values.append(sv)
        count += values[0]  # contentions/count
        total += values[1]  # delay/nanoseconds
    return count, total


def _run_oracle(go: str, path: Path) -> Oracle:
    parsed = subprocess.run([go, "tool", "trace", "-d=parsed", str(path)], capture_output=True, text=True,
                            check=True, timeout=120).stdout
    transitions, samples, syncs, events = [], [], [], []
    lines = parsed.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("M="):
            continue
        a = _ANY.match(line)
        if a:
            d = _DETAIL.get(a[4])
            detail = d.search(a[6]).groups() if d else ()
            events.append((a[4], int(a[5]), detail))
        m = _TRANSITION.match(line)
        if m:
            g = m.groups()
            transitions.append((g[4], int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[5]), g[6], g[7], g[8]))
            continue
        m = _SAMPLE.match(line)
        if m:
            func = lines[i + 2].strip().rsplit(" @ ", 1)[0] if i + 2 < len(lines) else ""
            samples.append((int(m[1]), int(m[2]), int(m[3]), int(m[4]), func))
            continue
        m = _SYNC.match(line)
        if m:
            syncs.append((int(m[1]), int(m[2])))
    profile = subprocess.run([go, "tool", "trace", "-pprof=sched", str(path)], capture_output=True, check=True,
                             timeout=120).stdout
    count, total = _pprof_totals(profile)
    return Oracle(transitions, samples, syncs, count, total, events)


@pytest.fixture(scope="session")
def oracles() -> dict[str, Oracle]:
    """The toolchain's readings of every sample, computed once per session (two at a time)."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("these tests need the Go toolchain (go on PATH) as the reference reader")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda p: (p.name, _run_oracle(go, p)), TRACES)
        return dict(results)


@pytest.fixture(scope="session")
def metrics():
    """Our metrics of each sample, computed once per session."""
    cache = {}

    def get(path: Path):
        if path.name not in cache:
            cache[path.name] = compute_metrics(path.read_bytes())
        return cache[path.name]

    return get


def test_samples_cover_every_format_and_release():
    names = {p.name for p in TRACES}
    for minor in range(22, 28):
        assert f"go1.{minor}-p2.trace" in names
        assert f"go1.{minor}-p4-cpu.trace" in names
    versions = {TraceReader(p.read_bytes()).version for p in TRACES}
    assert versions == {22, 23, 25, 26}


def _ours(path: Path):
    transitions, samples, syncs = [], [], []
    for ev in TraceReader(path.read_bytes()).events():
        t = type(ev)
        if t is GoTransition:
            transitions.append(("GoID", ev.m, ev.p, ev.g, ev.time_ns, ev.goroutine, ev.from_state, ev.to_state,
                                ev.reason))
        elif t is ProcTransition:
            transitions.append(("ProcID", ev.m, ev.p, ev.g, ev.time_ns, ev.proc, ev.from_state, ev.to_state, ""))
        elif t is CPUSample:
            samples.append((ev.m, ev.p, ev.goroutine, ev.time_ns, ev.stack[0].function if ev.stack else ""))
        elif t is SyncEvent:
            syncs.append((ev.time_ns, ev.n))
    return transitions, samples, syncs


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_transitions_equal_go_tool_trace_parsed(path, oracles):
    """Every goroutine and proc transition, with its M, P, G, time, states and reason, in the same order."""
    oracle = oracles[path.name]
    transitions, samples, syncs = _ours(path)
    assert len(transitions) == len(oracle.transitions)
    for i, (a, b) in enumerate(zip(transitions, oracle.transitions, strict=True)):
        assert a == b, f"transition #{i} differs: ours {a}, go tool trace {b}"
    assert samples == oracle.samples
    assert syncs == oracle.syncs


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_sched_latency_equals_pprof_sched(path, oracles, metrics):
    oracle = oracles[path.name]
    m = metrics(path)
    assert oracle.sched_total_ns > 0
    assert m.sched_latency.count == oracle.sched_count
    assert abs(m.sched_latency.total_ns - oracle.sched_total_ns) <= 0.01 * oracle.sched_total_ns


_KIND = {GoTransition: "StateTransition", ProcTransition: "StateTransition", CPUSample: "StackSample",
         SyncEvent: "Sync", MetricEvent: "Metric", LabelEvent: "Label"}


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_every_event_equals_go_tool_trace_parsed(path, oracles):
    """Every event of every kind (metrics, GC/STW/sweep/assist ranges, labels, ...) in order, with its time."""
    ours = []
    for ev in TraceReader(path.read_bytes()).events():
        kind = _KIND.get(type(ev))
        detail: tuple = ()
        if isinstance(ev, RangeEvent):
            kind = "Range" + ev.phase.capitalize()
            detail = (ev.name,)
        elif isinstance(ev, MetricEvent):
            detail = (ev.name, str(ev.value))
        elif isinstance(ev, LabelEvent):
            detail = (ev.label,)
        elif isinstance(ev, TaskEvent):  # user annotations (the go1.NN-annot samples)
            kind = "Task" + ev.phase.capitalize()
            detail = (str(ev.task), str(ev.parent % (1 << 64)), ev.type)
        elif isinstance(ev, RegionEvent):
            kind = "Region" + ev.phase.capitalize()
            detail = (str(ev.task), ev.type)
        elif isinstance(ev, LogEvent):
            kind = "Log"
            detail = (str(ev.task), ev.category, ev.message)
        assert kind is not None, f"unexpected event {ev}"
        ours.append((kind, ev.time_ns, detail))
    theirs = oracles[path.name].events
    assert {k for k, _, _ in theirs} >= {"Sync", "StateTransition", "Metric", "RangeBegin", "RangeEnd"}
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, f"event #{i} differs: ours {a}, go tool trace {b}"


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.stem)
def test_transition_counts_and_runnable_mean_match_oracle(path, oracles, metrics):
    """The JSON transition counts and the time-weighted runnable mean, recomputed from the oracle's lines."""
    oracle = oracles[path.name]
    m = metrics(path)
    counts: dict[str, int] = {}
    for kind, *_, frm, to, _reason in oracle.transitions:
        if kind == "GoID":
            counts[f"{frm}->{to}"] = counts.get(f"{frm}->{to}", 0) + 1
    assert m.transitions == counts

    # Independent, naive recomputation: runnable count integrated over the window,
    # goroutines first seen Runnable counted from the window start.
    start, end = oracle.syncs[0][0], oracle.syncs[-1][0]
    area = 0
    count = 0
    last = start
    pending_backdated = 0
    for kind, _m, _p, _g, t, _id, frm, to, _r in oracle.transitions:
        if kind != "GoID" or frm == to:
            continue
        area += count * (t - last)
        last = t
        if frm == "Undetermined" and to == "Runnable":
            pending_backdated += t - start  # it was runnable since the start
            count += 1
            continue
        count += (to == "Runnable") - (frm == "Runnable")
    area += count * (end - last) + pending_backdated
    assert m.duration_ns == end - start
    assert m.runnable.mean == pytest.approx(area / (end - start), rel=1e-9)
    assert m.runnable.p50 <= m.runnable.p95 <= m.runnable.p99 <= m.runnable.max


def test_more_than_two_processors(oracles, metrics):
    """The GOMAXPROCS=4 samples really ran four Ps, all of which ran goroutines."""
    for path in TRACES:
        if "-p4" not in path.name:
            continue
        m = metrics(path)
        assert m.gomaxprocs == 4, path.name
        assert [p.proc for p in m.procs] == [0, 1, 2, 3], path.name
        assert all(0 < p.share <= 1 for p in m.procs), path.name
        procs_in_oracle = {t[5] for t in oracles[path.name].transitions if t[0] == "ProcID"}
        assert procs_in_oracle == {0, 1, 2, 3}


def test_cpu_samples_exposed_with_stacks(oracles, metrics):
    """A CPU profile ran during the -cpu traces: its samples come out with goroutine, time and stack."""
    seen = 0
    for path in TRACES:
        if "cpu" not in path.name:
            continue
        m = metrics(path)
        oracle = oracles[path.name]
        assert len(m.cpu_samples) == len(oracle.samples) > 0, path.name
        assert [(s.time_ns, s.goroutine) for s in m.cpu_samples] == [(o[3], o[2]) for o in oracle.samples]
        seen += len(m.cpu_samples)
        assert all(s.stack and s.stack[-1].function for s in m.cpu_samples)
    assert seen > 0


def test_generation_boundaries_are_exercised(oracles, metrics):
    """The -p4-cpu samples span several generations (traceadvanceperiod=80ms), in every format."""
    for path in TRACES:
        if "-p4" in path.name:
            syncs = oracles[path.name].syncs
            assert len(syncs) >= 3, path.name
            assert metrics(path).generations == len(syncs) - 1


def test_recreated_goroutine_ids_count_like_pprof_sched(oracles, metrics):
    """Go's cgo-callback test program: goroutine IDs re-created (NotExist -> Syscall) for every callback.

    The toolchain keeps one summary per ID, the last incarnation's, and counts a
    runnable wait by its overlap with that incarnation's life from its first start;
    the waits of earlier incarnations count nothing (issue 13: 4 waits too many).
    """
    path = SAMPLES / "go1.26-cgo-callback.trace"
    oracle = oracles[path.name]
    creations = sum(1 for t in oracle.transitions if t[0] == "GoID" and t[6] == "NotExist" and t[7] == "Syscall")
    assert creations >= 5  # the callbacks' goroutines really are re-created
    m = metrics(path)
    assert (m.sched_latency.count, m.sched_latency.total_ns) == (oracle.sched_count, oracle.sched_total_ns)
