"""User regions, tasks, logs, wake-ups and the transition filter, on traces of the example service.

The samples ``go1.NN-annot.trace`` (scripts/capture_traces.py, one per trace format: Go 1.22,
1.23, 1.25, 1.27) were traced while a bounded load hit ``/checkout`` (a task per request,
regions validate / db.query / price, one cache log), ``/pipeline`` (a producer handing items
to consumers over an unbuffered channel) and ``/defect/contention``. Every reading is checked
against ``go tool trace -d=parsed`` of the same file, paired here independently of our code,
and against what the route is known to do (db.query sleeps db_ms milliseconds).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_goperf import (
    RawWindow,
    Round,
    TraceReader,
    UnknownNameError,
    UsageError,
    analyse_window,
    compute_metrics,
    get_metric,
)
from pytest_goperf.cli.analyze import parse_duration_ns
from pytest_goperf.cli.main import main
from pytest_goperf.formats.window import WindowFiles

SAMPLES = Path(__file__).parent / "samples" / "traces"
ANNOTATED = sorted(SAMPLES.glob("go1.*-annot.trace"))
_HEAD = re.compile(r"^M=(-?\d+) P=(-?\d+) G=(-?\d+) (\w+) Time=(\d+)(.*)$")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_STATES = re.compile(r" GoID=-?\d+ (\w+)->(\w+)")
_FRAME = re.compile(r"^\t(\S.*) @ 0x[0-9a-f]+$")


@dataclass
class Parsed:
    """What ``go tool trace -d=parsed`` says, paired by this test's own code."""

    start: int = 0
    regions: list[tuple[str, int, int, int, int]] = field(default_factory=list)  # name, g, task, start, end
    regions_cut: Counter[str] = field(default_factory=Counter)
    tasks: dict[int, list] = field(default_factory=dict)  # id -> [type, parent, start, end]
    logs: list[tuple[int, str, str]] = field(default_factory=list)  # task, category, message
    # complete blocking episodes: (goroutine, start, end, reason, waker, first blocked frame, first waker frame)
    episodes: list[tuple[int, int, int, str, int, str, str]] = field(default_factory=list)
    transitions: list[tuple[int, int, str, str, str, int]] = field(default_factory=list)  # t, gid, from, to, reason, g


def _value(v: str) -> str | int:
    if v.startswith('"'):
        return json.loads(v)
    try:
        return int(v)
    except ValueError:
        return v


def _oracle(path: Path) -> Parsed:
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain is required")
    text = subprocess.run([go, "tool", "trace", "-d=parsed", str(path)], capture_output=True, text=True,
                          check=True, timeout=300).stdout
    out = Parsed()
    events = []  # (kind, g, time, fields, {stack kind: [functions]})
    stacks: dict[str, list[str]] = {}
    which = ""
    for line in text.splitlines():
        m = _HEAD.match(line)
        if m:
            stacks = {}
            fields = {k: _value(v) for k, v in _FIELD.findall(m[6])}
            states = _STATES.search(m[6])
            if states:
                fields["from"], fields["to"] = states[1], states[2]
            events.append((m[4], int(m[3]), int(m[5]), fields, stacks))
        elif line in ("Stack=", "TransitionStack="):
            which = line[:-1]
            stacks[which] = []
        else:
            f = _FRAME.match(line)
            if f and which:
                stacks[which].append(f[1])
    out.start = events[0][2]  # the first sync point: the trace's start
    open_regions: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    last: dict[int, tuple[str, int, str, str]] = {}  # goroutine -> (to-state, since, reason, blocked frame)
    for kind, g, t, f, st in events:
        if kind == "RegionBegin":
            open_regions[g].append((f["Type"], f["Task"], t))
        elif kind == "RegionEnd":
            if open_regions[g]:
                name, task, t0 = open_regions[g].pop()
                out.regions.append((name, g, task, t0, t))
            else:
                out.regions_cut[f["Type"]] += 1
        elif kind == "TaskBegin":
            out.tasks[f["ID"]] = [f["Type"], f["Parent"], t, None]
        elif kind == "TaskEnd":
            if f["ID"] in out.tasks:
                out.tasks[f["ID"]][3] = t
        elif kind == "Log":
            out.logs.append((f["Task"], f["Category"], f["Message"]))
        elif kind == "StateTransition" and "GoID" in f:
            gid = f["GoID"]
            frm, to = f["from"], f["to"]
            if frm != to:
                out.transitions.append((t, gid, frm, to, f.get("Reason", ""), g))
            if frm == "Waiting" and gid in last and last[gid][0] == "Waiting" and last[gid][1] >= 0:
                _, t0, reason, blocked = last[gid]
                out.episodes.append((gid, t0, t, reason, g, blocked, (st.get("Stack") or ["-"])[0]))
            if frm != to:
                since = -1 if frm == "Undetermined" else t
                last[gid] = (to, since, f.get("Reason", ""), (st.get("TransitionStack") or ["-"])[0])
    for regs in open_regions.values():
        for name, _, _ in regs:
            out.regions_cut[name] += 1
    return out


_CACHE: dict[Path, Parsed] = {}


def oracle(path: Path) -> Parsed:
    if path not in _CACHE:
        _CACHE[path] = _oracle(path)
    return _CACHE[path]


def test_samples_are_there():
    assert {p.name.split("-")[0] for p in ANNOTATED} >= {"go1.22", "go1.23", "go1.25", "go1.27"}


def _round(data: bytes, *, wakeups: bool = False, index: int = 0) -> Round:
    analysis = analyse_window(RawWindow(seconds=0.3, trace=data), wakeups=wakeups)
    return Round.of(index, analysis, WindowFiles(Path(".")))


@pytest.mark.parametrize("path", ANNOTATED, ids=lambda p: p.name)
def test_regions_tasks_and_logs_equal_the_toolchains_events(path):
    theirs = oracle(path)
    a = compute_metrics(path.read_bytes()).annotations
    ours = sorted((r.name, r.goroutine, r.task, r.start_ns, r.end_ns) for r in a.regions())
    assert ours == sorted(theirs.regions)
    assert {n: s.open for n, s in a.summary("region").items() if s.open} == dict(theirs.regions_cut)
    done = {i: v for i, v in theirs.tasks.items() if v[3] is not None}
    assert sorted((t.id, t.type, t.parent, t.start_ns, t.end_ns) for t in a.tasks()) == sorted(
        (i, v[0], v[1] if v[1] != (1 << 64) - 1 else -1, v[2], v[3]) for i, v in done.items())
    assert a.logs == dict(Counter(c for _, c, _ in theirs.logs))
    # The summary's percentiles are nearest-rank over the same spans.
    db = sorted(e - s for n, _, _, s, e in theirs.regions if n == "db.query")
    s = a.summary("region")["db.query"]
    assert (s.count, s.max_ns, s.p50_ns) == (len(db), db[-1], db[(len(db) + 1) // 2 - 1])


@pytest.mark.parametrize("path", ANNOTATED, ids=lambda p: p.name)
def test_the_checkout_route_takes_the_time_it_is_known_to_take(path):
    """db.query sleeps 1 or 2 ms (two load paths); a checkout task holds its regions and one cache log."""
    a = compute_metrics(path.read_bytes()).annotations
    db = a.durations("region", "db.query")
    assert db.size > 50 and db.min() >= 1_000_000  # time.Sleep(1 ms) never wakes early
    assert set(a.names("region")) == {"validate", "db.query", "price"} and set(a.names("task")) == {"checkout"}
    tasks = {t.id: t for t in a.tasks("checkout")}
    inside = defaultdict(int)
    for r in a.regions("db.*"):  # a glob
        t = tasks.get(r.task)
        if t is not None:
            assert t.start_ns <= r.start_ns <= r.end_ns <= t.end_ns
            inside[t.id] += r.duration_ns
    assert inside and all(inside[i] <= tasks[i].duration_ns for i in inside)
    # every checkout of 3 items spent at least 3 x 2 ms in db.query, of 2 items 2 x 1 ms
    counts = Counter(r.task for r in a.regions("db.query") if r.task in tasks)
    assert set(counts.values()) <= {2, 3}
    assert all(inside[i] >= (6_000_000 if n == 3 else 2_000_000) for i, n in counts.items())
    # one cache log per checkout: 3 hits to a miss, over the whole trace
    messages = Counter(m for task, c, m in oracle(path).logs if c == "cache")
    assert set(messages) == {"hit", "miss"} and messages["hit"] > messages["miss"] > 0
    assert a.count("log", "cache") == sum(messages.values())


@pytest.mark.parametrize("path", ANNOTATED, ids=lambda p: p.name)
def test_wakeups_equal_the_toolchains_blocks_and_unblocks(path):
    theirs = oracle(path)
    w = compute_metrics(path.read_bytes(), wakeups=True).wakeups
    assert w is not None
    ours = [(e.goroutine, e.start_ns, e.end_ns, e.reason, e.waker, e.stack[0].function if e.stack else "-",
             e.waker_stack[0].function if e.waker_stack else "-") for e in w.episodes() if not e.since_start]
    assert sorted(ours) == sorted(theirs.episodes)
    assert w.count == len(theirs.episodes) and w.total_ns == sum(e[2] - e[1] for e in theirs.episodes)
    # The producer/consumer route: consumers wait in a receive in main.consume, woken by main.produce's send.
    [pair] = [p for p in w.pairs if p.blocked_at == "main.consume" and p.reason == "chan receive"]
    assert pair.woken_by == "main.produce" and pair.waker_kind == "goroutine" and pair.share > 0.95
    expected = [e for e in theirs.episodes if e[3] == "chan receive" and e[4] >= 0]
    consume = [e for e in ours if e[3] == "chan receive" and e[5] == "runtime.chanrecv2"]
    assert pair.count <= len(consume) <= len(expected)
    assert "waits on chan receive in main.consume" in pair.describe() and "woken by main.produce" in pair.describe()
    # db.query sleeps are woken by the timer, with no goroutine running.
    sleep = [p for p in w.pairs if p.reason == "sleep" and "checkout" in p.blocked_at]
    assert sleep and all(p.woken_by == "timer" and not p.wakers for p in sleep)
    # The chain of a consumer: woken by the producer, which was woken by a consumer taking an item (or the runtime).
    g = pair.goroutines[0]
    chain = w.chain(g)
    assert chain[0].goroutine == g and chain[0].waker >= 0
    if len(chain) > 1:
        assert chain[1].goroutine == chain[0].waker and chain[1].end_ns <= chain[0].end_ns


def _dur(spec: str | None) -> int | None:
    return None if spec is None else parse_duration_ns(spec)


@pytest.mark.parametrize(("goids", "frm", "to", "since", "until"), [
    (None, ["Waiting"], ["Runnable"], "10ms", "40ms"),
    ("first-consumer", None, None, None, None),
    (None, ["running"], ["waiting", "Syscall"], "1000000", None),
], ids=["unblocks-in-a-span", "one-goroutine", "blocks-after-1ms"])
def test_the_transition_filter_equals_filtering_the_toolchains_lines(goids, frm, to, since, until, capsys):
    path = ANNOTATED[-1]
    theirs = oracle(path)
    if goids == "first-consumer":
        w = compute_metrics(path.read_bytes(), wakeups=True).wakeups
        assert w is not None
        goids = [next(p for p in w.pairs if p.blocked_at == "main.consume").goroutines[0]]
    lo, hi = _dur(since), _dur(until)
    expected = [(t, gid, f, to_, r, g) for t, gid, f, to_, r, g in theirs.transitions
                if (goids is None or gid in goids) and (frm is None or f.lower() in [x.lower() for x in frm])
                and (to is None or to_.lower() in [x.lower() for x in to])
                and (lo is None or t - theirs.start >= lo) and (hi is None or t - theirs.start <= hi)]
    assert expected
    ours = [(e.time_ns, e.goroutine, e.from_state, e.to_state, e.reason, e.g) for e in TraceReader(path.read_bytes())
            .transitions(goroutines=goids, from_states=frm, to_states=to, since_ns=lo, until_ns=hi, changes_only=True)]
    assert ours == expected
    # The same through the command line, as JSON lines.
    argv = ["analyze", str(path), "--transitions", "--json"]
    for flag, values in (("--goid", goids), ("--from", frm), ("--to", to)):
        for v in values or ():
            argv += [flag, str(v)]
    argv += ["--since", since] if since else []
    argv += ["--until", until] if until else []
    capsys.readouterr()
    assert main(argv) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(d["time_ns"], d["goroutine"], d["from"], d["to"], d["reason"], d["g"]) for d in lines] == expected
    assert all(d["since_start_ns"] == d["time_ns"] - theirs.start for d in lines)


def test_transition_filter_text_and_errors(capsys):
    path = ANNOTATED[-1]
    assert main(["analyze", str(path), "--transitions", "--to", "Waiting", "--until", "50ms"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all(re.match(r"^\s*\d+\.\d{6} ms  G\d+\s+\w+->Waiting\s+\"", line) for line in out)
    # the top frame, and the service's function it was called from
    assert any(re.search(r"  runtime\.chanrecv2 \S+chan\.go:\d+  in main\.consume$", line) for line in out)
    assert main(["analyze", str(path), "--transitions", "--from", "Sleeping"]) == 2
    assert "unknown goroutine state 'Sleeping'" in capsys.readouterr().err
    assert main(["analyze", str(path), "--goid", "3"]) == 2
    assert "add --transitions" in capsys.readouterr().err
    assert main(["analyze", str(path), "--transitions", "--since", "soon"]) == 2
    assert "not a duration" in capsys.readouterr().err
    assert [parse_duration_ns(x) for x in ("1500000", "1.5ms", "300us", "2s", "1m30s", ".5s")] == [
        1_500_000, 1_500_000, 300_000, 2 * 10**9, 90 * 10**9, 5 * 10**8]


def test_analyze_json_has_regions_tasks_logs_and_wakeups(capsys):
    path = ANNOTATED[0]
    a = compute_metrics(path.read_bytes()).annotations
    assert main(["analyze", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["schema"] == 1 and "wakeups" not in d
    assert set(d["regions"]) == {"validate", "db.query", "price"} and set(d["tasks"]) == {"checkout"}
    db = d["regions"]["db.query"]
    assert set(db) == {"count", "total_ns", "p50_ns", "p99_ns", "max_ns", "open"}
    assert db["count"] == a.count("region", "db.query") and db["p50_ns"] >= 1_000_000
    assert d["logs"] == {"cache": a.count("log", "cache")}
    assert main(["analyze", str(path), "--json", "--wakeups"]) == 0
    w = json.loads(capsys.readouterr().out)["wakeups"]
    assert w["count"] > 0 and any(p["blocked_at"] == "main.consume" and p["woken_by"] == "main.produce"
                                  for p in w["pairs"])
    assert main(["analyze", str(path)]) == 0
    text = capsys.readouterr().out
    assert "user regions (completed in the window;" in text and "db.query" in text and "cache" in text


def test_region_metrics_per_round_and_the_unknown_name_error():
    rounds = [_round(p.read_bytes(), index=i) for i, p in enumerate(ANNOTATED)]
    p99 = get_metric("region_p99:db.query")
    values = p99.values(rounds)
    assert len(values) == len(rounds) and all(v >= 1.0 for v in values)  # ms
    durations = rounds[0].trace.annotations.durations("region", "db.query")
    assert get_metric("region_p50:db.query").values(rounds[:1]) == [
        sorted(durations)[(durations.size + 1) // 2 - 1] / 1e6]
    assert get_metric("region_count:re:db\\..*").values(rounds) == [
        float(r.trace.annotations.count("region", "db.query")) for r in rounds]
    # one cache log per checkout: the completed ones, and a few whose task was cut by the window's edges
    for tasks, logs in zip(get_metric("task_count:checkout").values(rounds),
                           get_metric("log_count:cache").values(rounds), strict=True):
        assert tasks <= logs <= tasks + 8
    assert all(v > 5 for v in get_metric("task_p99:check*").values(rounds))  # 3 x 2 ms of db.query, at least
    assert get_metric("region_p99:db.query").unit == "ms" and get_metric("log_count:cache").unit == "count"
    with pytest.raises(UnknownNameError) as err:
        get_metric("region_p99:db.qeury").values(rounds)
    msg = str(err.value)
    assert "no region named 'db.qeury' occurred" in msg and "db.query (" in msg and "validate" in msg
    with pytest.raises(UnknownNameError, match=r"no task type named 'pay' .* checkout \(\d+\)"):
        get_metric("task_count:pay").values(rounds)
    with pytest.raises(UnknownNameError, match="log category named 'db'"):
        get_metric("log_count:db").values(rounds)
    # A trace without any annotation says so, and how to add them.
    plain = [_round((SAMPLES / "go1.27-p2.trace").read_bytes())]
    with pytest.raises(UnknownNameError, match=r"no region at all occurred: .*trace.WithRegion"):
        get_metric("region_count:db.query").values(plain)
    with pytest.raises(UsageError, match="unknown metric 'region_p95:x'.*region_p99:<name>"):
        get_metric("region_p95:x")


def test_round_wakeups_are_read_only_when_asked():
    data = ANNOTATED[-1].read_bytes()
    with pytest.raises(UsageError, match="wakeups=True"):
        _round(data).wakeups  # noqa: B018
    w = _round(data, wakeups=True).wakeups
    assert w.pairs and w == compute_metrics(data, wakeups=True).wakeups


def test_the_report_shows_the_wakeup_table_and_chains(tmp_path):
    from pytest_goperf import triage, write_report

    t = triage(RawWindow(seconds=0.3, trace=ANNOTATED[-1].read_bytes()))
    html = write_report(tmp_path / "r.html", t).read_text()
    assert "id='wakeup-pairs'" in html and "main.consume" in html and "main.produce" in html
    if t.findings and t.findings[0].goroutine_ids:
        assert "Wake-up chains of the goroutines of the top finding" in html


def test_region_metrics_reach_the_gate_and_assertions():
    from pytest_goperf import ClosedModel, GoperfAssertionError, Measurement, MeasureSpec, Request, Scenario
    from pytest_goperf.comparison.samples import metric_samples

    rounds = tuple(_round(p.read_bytes(), index=i) for i, p in enumerate(ANNOTATED))
    spec = MeasureSpec(track=("region_p50:db.query", "log_count:cache"), gate=("region_p50:db.query",),
                       limits={"task_p99:checkout": 1000.0})
    m = Measurement(rounds=rounds, window=0.3, scenario=Scenario([Request("GET", "/checkout")]),
                    model=ClosedModel(4), directory=Path("."), tracked=spec.recorded, spec=spec)
    assert set(spec.recorded) == {"region_p50:db.query", "log_count:cache", "task_p99:checkout"}
    samples = metric_samples([m])
    s = samples["region_p50:db.query"]
    assert s.gated and list(s.values) == m.values("region_p50:db.query") and len(s.values) == len(rounds)
    assert not samples["log_count:cache"].gated and "task_p99:checkout" in samples
    m.assert_metric("region_p50:db.query", min=1.0, max=1000.0)
    with pytest.raises(GoperfAssertionError, match=r"region_p50:db.query = .* ms \(median; rounds: .*\) exceeds the limit 0.5 ms"):
        m.assert_metric("region_p50:db.query", max=0.5)
