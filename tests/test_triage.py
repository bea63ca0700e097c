"""goperf triage against the example service: each defect route under load comes out as the top finding.

Every scenario captures a real window (execution trace and CPU profile of the
same seconds, goroutine dumps, the leak profile) from a private copy of the
example service while the built-in load engine drives one route, then runs
the findings engine on the saved folder, as ``goperf triage DIR`` does.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_goperf.analysis.timeline import metrics_and_timeline, trace_timeline
from pytest_goperf.analysis.trace_metrics import compute_metrics
from pytest_goperf.analysis.triage.findings import Triage, analyse
from pytest_goperf.analysis.triage.rules import RULES, level_rank, rules_with
from pytest_goperf.analysis.window import analyse_window
from pytest_goperf.cli.main import main
from pytest_goperf.errors import ConfigError, GoperfError, ParseError, PprofError
from pytest_goperf.formats.window import FILE_NAMES as FILES
from pytest_goperf.load.engine import run_load
from pytest_goperf.load.scenario import ClosedModel, OpenModel
from pytest_goperf.runtime.capture import TRIAGE_CAPTURE, capture_folder
from pytest_goperf.runtime.files import load_window as load_folder

SECONDS = 2.0
SAMPLES = Path(__file__).parent / "samples" / "traces"


def triage_under_load(service, path: str, model, tmp_path: Path, *, max_requests: int | None = None) -> tuple[Triage, Path]:
    """Drive ``path`` from a thread, capture one window in the middle of it, analyse the saved folder."""
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            run_load(service.url, path, model=model, duration=SECONDS + 2.5, max_requests=max_requests, timeout=20)
        except BaseException as exc:  # noqa: BLE001 (surfaced below)
            errors.append(exc)

    th = threading.Thread(target=drive, daemon=True)
    th.start()
    time.sleep(0.6)  # the load is running before the window opens
    result = capture_folder(service.pprof_url, tmp_path, seconds=SECONDS)
    th.join(SECONDS + 30)
    assert not errors, errors
    assert not result.errors, result.errors
    return analyse(load_folder(result.directory)), result.directory


@pytest.fixture
def fresh_service(go_service_factory):
    """A private example service: leaks and load stay out of the shared one."""
    return go_service_factory()


@pytest.mark.parametrize(
    ("path", "key", "evidence"),
    [
        ("/defect/storm?n=2000&work=20", "runnable_backlog", "per processor"),
        ("/work?n=2000", "hot_user_function", "main.spinCore"),
        ("/defect/contention?n=32&iters=2000", "lock_contention", "main.contendedUpdate"),
        ("/defect/alloc?n=20000", "allocation_storm", "main.allocationStorm"),
    ],
    ids=["storm", "cpu", "contention", "alloc"],
)
def test_defect_route_is_the_top_finding(fresh_service, tmp_path, path, key, evidence):
    triage, _ = triage_under_load(fresh_service, path, ClosedModel(4), tmp_path)
    top = triage.findings[0]
    assert top.key == key, triage.to_text()
    assert top.level == "error", triage.to_text()
    assert evidence in top.summary, top.summary
    text = triage.to_text()
    assert text.splitlines()[4].split()[1] == "error"  # the root-cause table's first row
    if key == "runnable_backlog":
        m = triage.metrics
        assert m is not None and m.runnable_per_p.p95 >= 16
        assert top.value == m.runnable_per_p.p95
        assert top.stacks, "the stacks that made the backlog runnable"
        # Where they come from: the `go` statement that created most goroutines in the window.
        assert any("created in the window at" in e.label and "main.goroutineStorm" in e.value for e in top.evidence)
        # The goroutines shown were created in the window there, and waited to run.
        story = top.stories[0]
        assert any("main.goroutineStorm" in f for f in story.creator_stack)
        assert dict(story.state_ns).get("runnable", 0) > 0
        assert any(e.label == "blocker -> waker" for e in top.evidence)
    if key == "hot_user_function":
        assert triage.cpu is not None
        assert top.value == triage.cpu.class_share("user")
        assert "main.hashPayload" in top.summary
        assert any(e.label == "CPU split (flat)" and "user" in e.value for e in top.evidence)
        # Aligned by id: the goroutines shown ran the hot function in the trace's CPU samples.
        assert top.stories and top.stories[0].cpu_samples > 0
    if key == "lock_contention":
        assert any("lock code" in e.label for e in top.evidence)
        # The waker's code: goroutines parked in Mutex.Lock were woken by the Unlock in main.contendedUpdate.
        woken = [e.value for e in top.evidence if e.label == "lock waits woken by"]
        assert woken and "in main.contendedUpdate" in woken[0] and "woken by main.contendedUpdate" in woken[0], woken
        assert "Unlock" in woken[0]
        w = triage.metrics.wakeups if triage.metrics else None
        assert w is not None and w.pairs and triage.to_json()["wakeups"]["count"] == w.count
        backlog = [f for f in triage.findings if f.key == "runnable_backlog"]
        assert not backlog or "consequence of lock contention" in backlog[0].summary
    if key == "allocation_storm":
        assert triage.cpu is not None and triage.cpu.hot_share("runtime.mallocgc", cum=True) == pytest.approx(
            next(x.value for x in triage.measures if x.key == key), abs=0.2)


@pytest.mark.parametrize(
    ("path", "key", "function", "creator"),
    [
        ("/defect/leak-orphan?n=50", "leak_proven", "main.orphanReceiver", "main.leakOrphan"),
        ("/defect/leak-nil-send", "leak_proven", "main.nilSender", "main.leakNilSend"),
        ("/defect/leak-global?n=50", "leak_suspected", "main.globalWaiter", "main.leakGlobal"),
        ("/defect/leak-ticker", "leak_suspected", "main.tickerLoop", "main.leakTicker"),
    ],
    ids=["orphan", "nil-send", "global", "ticker"],
)
def test_leak_route_is_the_top_finding(fresh_service, tmp_path, path, key, function, creator):
    triage, folder = triage_under_load(fresh_service, path, OpenModel(rate=40), tmp_path, max_requests=100)
    top = triage.findings[0]
    assert top.key == key, triage.to_text()
    assert top.level == "error", triage.to_text()
    assert function in top.summary and creator in top.summary, top.summary
    dump = {g.id: g for g in analyse_window(load_folder(folder)).goroutines_end}
    # Every id given as evidence is a goroutine of the dump at that function, leaked where proven.
    assert len(top.goroutine_ids) >= 20
    for gid in top.goroutine_ids:
        g = dump[gid]
        assert g.has_function(function)
        assert g.leaked == (key == "leak_proven")
    # Time + space: a goroutine created during the window is found in the trace by its id,
    # with its creator's stack at the `go` statement.
    created = [s for s in top.stories if s.created_ns is not None]
    story = created[0] if created else None
    if story is None:
        tl = triage.timeline
        assert tl is not None
        story_ids = [i for i in top.goroutine_ids if tl.goroutines.get(i) and tl.goroutines[i].created_ns is not None]
        assert story_ids, "some leaked goroutines were created inside the window"
        g = tl.goroutines[story_ids[0]]
        assert any(f.function == creator for f in g.creator_stack)
    else:
        assert story.creator is not None and any(creator in f for f in story.creator_stack)
        assert 0 <= story.created_ns <= triage.metrics.duration_ns


def test_healthy_service_has_no_finding_above_info(fresh_service, tmp_path):
    triage, folder = triage_under_load(fresh_service, "/items", ClosedModel(2), tmp_path)
    assert triage.cpu_utilisation is not None and triage.cpu_utilisation > 0.1, "the service was under load"
    assert triage.above("info") == (), triage.to_text()
    assert main(["triage", str(folder), "--fail-on", "warning"]) == 0


def test_cli_exit_status_json_and_html(fresh_service, tmp_path, capsys):
    _, folder = triage_under_load(fresh_service, "/defect/leak-nil-send", OpenModel(rate=25), tmp_path, max_requests=40)
    capsys.readouterr()
    assert main(["triage", str(folder), "--json"]) == 1  # an error finding: a failing health check
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "triage" and data["worst_level"] == "error"
    assert data["findings"][0]["key"] == "leak_proven"
    assert "leak_proven" in data["measures"] and set(data["measures"]) <= {r.key for r in RULES}
    assert main(["triage", str(folder), "--fail-on", "never"]) == 0
    # Raised thresholds make the same window pass.
    t = analyse(load_folder(folder), rules=rules_with({"leak_proven": (10**6, 10**6)}))
    assert all(f.key != "leak_proven" for f in t.findings)
    # Capture from the URL, with the HTML report.
    html = tmp_path / "r.html"
    rc = main(["triage", fresh_service.pprof_url, "--seconds", "1", "--out", str(tmp_path / "cap"), "--html", str(html)])
    assert rc == 1
    [folder2] = (tmp_path / "cap").iterdir()
    assert {p.name for p in folder2.iterdir()} >= {FILES[k] for k in ("trace", "cpu_profile", "goroutines_end", "goroutines_start",
                                                                      "goroutine_profile", "leak_profile", "meta")}
    assert "goroutine leak" in html.read_text()


def test_capture_is_bounded(fresh_service, tmp_path):
    with pytest.raises(ConfigError, match="between 0 and 60"):
        capture_folder(fresh_service.pprof_url, tmp_path, seconds=120)
    # A cap smaller than the trace: the file is refused with a message, the rest is captured.
    small = capture_folder(fresh_service.pprof_url, tmp_path, seconds=1, options=replace(TRIAGE_CAPTURE, max_bytes=64))
    assert "more than 64 bytes" in small.errors["trace"] and "trace" not in small.files
    assert "goroutines_end" in small.files
    inp = load_folder(small.directory)
    assert inp.trace is None and any("trace was not captured" in n for n in inp.notes)


def test_second_cpu_profile_is_explained_and_triage_goes_on(fresh_service, tmp_path):
    """Only one CPU profile can run in a process: someone else's is running during our window."""
    import httpx

    other = threading.Thread(
        target=lambda: httpx.get(f"{fresh_service.pprof_url}/debug/pprof/profile", params={"seconds": 3}, timeout=30,
                                 trust_env=False),
        daemon=True)
    other.start()
    time.sleep(0.5)
    result = capture_folder(fresh_service.pprof_url, tmp_path, seconds=1)
    other.join(30)
    assert "only one can run at a time" in result.errors["cpu_profile"]
    triage = analyse(load_folder(result.directory))
    assert triage.metrics is not None
    assert any("CPU profile was not captured" in n for n in triage.notes)


def test_unreadable_folders_raise_our_errors(tmp_path, capsys):
    with pytest.raises(GoperfError, match="holds no file goperf can read"):
        (tmp_path / "x.txt").write_text("hello")
        load_folder(tmp_path)
    trace = (SAMPLES / "go1.26-p2.trace").read_bytes()
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "trace.out").write_bytes(trace[: len(trace) // 3])
    with pytest.raises(ParseError, match=r"execution trace \(trace.out\): .*byte"):
        analyse(load_folder(cut))
    assert main(["triage", str(cut)]) == 2
    assert "goperf: error:" in capsys.readouterr().err
    prof = (SAMPLES.parent / "profiles" / "go1.26.8" / "cpu-work.pb.gz").read_bytes()
    cutp = tmp_path / "cutp"
    cutp.mkdir()
    (cutp / "cpu.pprof").write_bytes(prof[: len(prof) // 2])
    with pytest.raises(ParseError, match=r"CPU profile \(cpu.pprof\)"):
        analyse(load_folder(cutp))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "goroutines.txt").write_text("goroutine 1 [running]:\nmain.main()\n\tnot a file line\n")
    with pytest.raises(ParseError, match="goroutines.txt"):
        analyse_window(load_folder(bad))


def test_files_captured_by_hand_are_recognised_by_content(tmp_path):
    (tmp_path / "t.bin").write_bytes((SAMPLES / "go1.24-p4-cpu.trace").read_bytes())
    inp = load_folder(tmp_path)
    assert inp.trace is not None and inp.cpu_profile is None
    triage = analyse(inp)
    assert triage.metrics is not None and triage.timeline is not None
    assert triage.cpu is not None, "hot functions from the trace's CPU samples when there is no profile"


@pytest.mark.parametrize("name", ["go1.26-p2.trace", "go1.24-p4-cpu.trace", "go1.22-p2.trace"])
def test_timeline_agrees_with_the_trace_metrics(name):
    """The runnable series and latency histogram against compute_metrics (itself checked against go tool trace)."""
    data = (SAMPLES / name).read_bytes()
    m = compute_metrics(data)
    tl = trace_timeline(data)
    # One read for both gives the same metrics and the same series.
    m2, tl2 = metrics_and_timeline(data)
    assert m2 == m and tl2.runnable == tl.runnable and tl2.latency == tl.latency
    assert tl.duration_ns == m.duration_ns
    mean = sum(tl.runnable.mean) / len(tl.runnable.mean)
    assert mean == pytest.approx(m.runnable.mean, rel=0.02, abs=0.05)
    assert max(tl.runnable.peak) == m.runnable.max
    assert tl.latency.total == pytest.approx(m.sched_latency.count, rel=0.02, abs=5)
    # Time spent per state adds up, for each goroutine, to at most the window.
    for g in tl.goroutines.values():
        assert sum(g.state_ns.values()) <= tl.duration_ns
    assert sum(g.cpu_samples for g in tl.goroutines.values()) == sum(1 for s in m.cpu_samples if s.goroutine >= 0)


def test_levels_and_rules_are_data():
    assert [level_rank(x) for x in ("info", "warning", "error")] == [0, 1, 2]
    for r in RULES:
        assert r.warning <= r.error, r.key
    with pytest.raises(KeyError, match="unknown rule"):
        rules_with({"nope": (1, 2)})


def _assist_from_events(data: bytes) -> tuple[int, int]:
    """Mark-assist goroutine time from the reader's typed RangeEvents (the reader is checked against go tool trace)."""
    from pytest_goperf.formats.trace.reader import RangeEvent, TraceReader

    open_at: dict[int, int] = {}
    total = end = 0
    for ev in TraceReader(data).events():
        end = max(end, getattr(ev, "time_ns", 0))
        if type(ev) is RangeEvent and ev.name == "GC mark assist":
            if ev.phase == "end":
                began = open_at.pop(ev.resource, None)
                if began is not None:
                    total += ev.time_ns - began
            else:
                open_at.setdefault(ev.resource, ev.time_ns)
    return total + sum(end - b for b in open_at.values()), len(open_at)


@pytest.mark.parametrize("name", ["go1.24-p4-cpu.trace", "go1.26-p2.trace"])
def test_mark_assist_time_agrees_with_the_typed_events(name):
    data = (SAMPLES / name).read_bytes()
    expected, _ = _assist_from_events(data)
    assert trace_timeline(data).mark_assist_ns == expected


def test_a_service_that_never_answers_times_out(tmp_path):
    """Every request has a timeout: a stuck endpoint costs seconds, not a hang."""
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)  # the kernel accepts; nobody ever answers
    port = srv.getsockname()[1]
    try:
        t0 = time.monotonic()
        with pytest.raises(PprofError, match="did not answer within 1 s"):
            capture_folder(f"http://127.0.0.1:{port}", tmp_path, seconds=1,
                           options=replace(TRIAGE_CAPTURE, request_timeout=1))
        assert time.monotonic() - t0 < 5
        assert main(["triage", f"http://127.0.0.1:{port}", "--seconds", "1", "--timeout", "1",
                     "--out", str(tmp_path)]) == 2
    finally:
        srv.close()
    assert not list(tmp_path.iterdir()), "nothing is written when nothing could be captured"


# --------------------------------------------------------------------- issue 12: real servers' own shapes


def test_signal_goroutine_is_no_syscall_pileup_on_an_idle_service(go_service_factory, tmp_path):
    """os/signal.signal_recv waits in a system call the whole window: at GOMAXPROCS=1 that alone was a warning."""
    idle = go_service_factory(env={"GOMAXPROCS": "1"}, name="idle-1p")
    result = capture_folder(idle.pprof_url, tmp_path, seconds=SECONDS)
    t = analyse(load_folder(result.directory))
    assert t.gomaxprocs == 1
    dump = analyse_window(load_folder(result.directory)).goroutines_end
    assert any(g.has_function("os/signal.signal_recv") for g in dump), "the example service handles SIGTERM"
    pileup = next(m for m in t.measures if m.key == "syscall_pileup")
    assert pileup.value < pileup.warning / 2, t.to_text()
    assert all(f.key != "syscall_pileup" for f in t.findings)


def test_backlog_of_the_library_s_own_goroutines_gets_no_worker_pool_advice(go_service_factory, tmp_path):
    """Many connections on one processor: the per-request goroutines are net/http's, not the service's `go` statements."""
    busy = go_service_factory(env={"GOMAXPROCS": "1"}, name="busy-1p")
    t, _ = triage_under_load(busy, "/work?n=200", ClosedModel(32), tmp_path)
    backlog = next((f for f in t.findings if f.key == "runnable_backlog"), None)
    assert backlog is not None, t.to_text()  # 32 connections ready to run on one P
    assert "worker pool" not in backlog.advice
    assert "library's own" in backlog.advice and "net/http" in backlog.advice
    # The storm route's goroutines are the service's own: there the advice stays.
    storm, _ = triage_under_load(busy, "/defect/storm?n=2000&work=20", ClosedModel(2), tmp_path / "storm")
    own = next(f for f in storm.findings if f.key == "runnable_backlog")
    assert "worker pool" in own.advice


def test_shrinking_clusters_are_said_to_shrink():
    from pytest_goperf.analysis.triage.findings import _change

    assert (_change(3), _change(-12), _change(0)) == ("grew by 3", "shrank by 12", "unchanged")
@pytest.mark.parametrize(("argv", "message"), [
    (["triage", "http://10.0.0.7:6060"], "host '10.0.0.7' is not a loopback address"),
    (["triage", "http://svc:6060", "--seconds", "1"], "set --allow-remote"),
    (["triage", "ftp://127.0.0.1/x"], "must be an http:// or https:// URL"),
    (["triage", "http://127.0.0.1:1", "--max-mb", "nan"], "--max-mb and --timeout must be positive, finite numbers"),
])
def test_triage_refuses_remote_and_bad_urls_before_connecting(argv, message, capsys):
    """Issue 13: goperf triage accepted any host; non-loopback needs --allow-remote, as goperf load does."""
    from pytest_goperf.cli.main import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("goperf: error: ") and message in err and err.count("\n") == 1


def test_triage_allow_remote_reaches_the_capture(tmp_path, capsys):
    from pytest_goperf.cli.main import main

    # With the opt-in the URL is accepted and the capture is tried (port 9 on loopback: nothing listens).
    assert main(["triage", "http://localhost:9", "--allow-remote", "--seconds", "0.5", "--timeout", "1",
                 "--out", str(tmp_path)]) == 2
    assert "not a loopback" not in capsys.readouterr().err
