"""The trace engine's public surface: summary JSON, goperf analyze, assertion helpers, streaming, live capture."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest

from pytest_goperf.analysis.trace_checks import (
    assert_runnable_below,
    assert_sched_latency_below,
    assert_utilisation_below,
)
from pytest_goperf.analysis.trace_metrics import compute_metrics
from pytest_goperf.analysis.trace_summary import summarize
from pytest_goperf.cli.analyze import analyze_bytes, detect_kind
from pytest_goperf.errors import GoperfAssertionError, TraceParseError
from pytest_goperf.formats.trace.reader import GoTransition, TraceReader

SAMPLES = Path(__file__).parent / "samples" / "traces"
SAMPLE = SAMPLES / "go1.27-p4-cpu.trace"


@pytest.fixture(scope="module")
def sample_metrics():
    return compute_metrics(SAMPLE.read_bytes())


def test_goperf_analyze_json_has_the_documented_keys(sample_metrics):
    data = SAMPLE.read_bytes()
    assert detect_kind(data) == "trace"
    doc = analyze_bytes(data).to_json()
    json.dumps(doc)  # JSON-ready
    assert doc["kind"] == "trace"
    assert doc["go_version"] == "1.26"  # Go 1.27 writes the 1.26 format
    assert doc["gomaxprocs"] == 4
    assert doc["duration_ns"] == sample_metrics.duration_ns > 0
    assert set(doc["runnable"]) == {"mean", "p50", "p95", "p99", "max"}
    assert set(doc["sched_latency"]) >= {"count", "total_ns", "p50_ns", "p90_ns", "p99_ns", "max_ns", "top_stacks"}
    assert doc["sched_latency"]["p50_ns"] <= doc["sched_latency"]["p90_ns"] <= doc["sched_latency"]["p99_ns"] \
        <= doc["sched_latency"]["max_ns"]
    assert doc["transitions"]["Runnable->Running"] > 0
    assert all("->" in k for k in doc["transitions"])
    assert doc["cpu_samples"] == len(sample_metrics.cpu_samples) > 0
    text = summarize(data).to_text()
    assert "scheduling latency" in text and "GOMAXPROCS 4" in text


def test_goperf_analyze_command_line(tmp_path):
    goperf = shutil.which("goperf")
    if goperf is None:
        pytest.skip("goperf console script not installed")
    out = subprocess.run([goperf, "analyze", str(SAMPLE), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["kind"] == "trace"


def test_sched_latency_top_stacks_account_for_the_total(sample_metrics):
    s = sample_metrics.sched_latency
    assert s.top_stacks
    assert sum(t.total_ns for t in s.top_stacks) <= s.total_ns
    assert [t.total_ns for t in s.top_stacks] == sorted((t.total_ns for t in s.top_stacks), reverse=True)
    # Stacks are resolved to function, file and line.
    named = [t for t in s.top_stacks if t.stack]
    assert named and all(f.function and f.file and f.line > 0 for t in named for f in t.stack)


def test_start_latency_is_reported_apart_from_sched_latency(sample_metrics):
    m = sample_metrics
    assert m.start_latency.count > 0
    assert m.start_latency.count <= m.goroutines_created
    assert m.goroutines_created > 0 and m.goroutines_ended > 0


def test_assertion_helpers_show_value_limit_and_window(sample_metrics):
    m = sample_metrics
    with pytest.raises(GoperfAssertionError) as info:
        assert_sched_latency_below(m, m.sched_latency.p99_ns - 1, trace_path="artifacts/t.trace")
    msg = str(info.value)
    assert f"{m.sched_latency.p99_ns / 1e3:.1f} us" in msg
    assert "artifacts/t.trace" in msg and "GOMAXPROCS 4" in msg
    assert_sched_latency_below(m, m.sched_latency.p99_ns)  # at the limit passes

    with pytest.raises(GoperfAssertionError, match=r"runnable goroutines p99 = .* exceeds the limit 0"):
        assert_runnable_below(m, 0)
    assert_runnable_below(m, m.runnable.max, stat="max")
    with pytest.raises(GoperfAssertionError, match="per P"):
        assert_runnable_below(m, 0, per_p=True, stat="mean")
    with pytest.raises(ValueError):
        assert_runnable_below(m, 1, stat="p42")
    with pytest.raises(GoperfAssertionError, match="utilisation"):
        assert_utilisation_below(m, 0.0)
    assert isinstance(GoperfAssertionError("x"), AssertionError)


def test_reader_streams_generation_by_generation():
    """Generations come out one at a time: a trace damaged in its last generation still yields the earlier ones."""
    data = SAMPLE.read_bytes()
    reader = TraceReader(data)
    gens = reader.generations()
    first = next(gens)
    assert first.raw.offset == 16
    # Cut inside the final generation: every earlier generation is still delivered before the error.
    offsets = [g.raw.offset for g in TraceReader(data).generations()]
    last_start = max(offsets)
    delivered = 0
    with pytest.raises(TraceParseError):
        for _ in TraceReader(data[: last_start + 40]).generations():
            delivered += 1
    assert delivered == len(set(offsets)) - 1


def test_transitions_resolve_stacks():
    ev = next(e for e in TraceReader(SAMPLE.read_bytes()).transitions()
              if isinstance(e, GoTransition) and e.to_state == "Waiting" and e.stack)
    assert ev.reason
    assert ev.stack[-1].function  # outermost frame resolved


def _get(url: str, timeout: float = 30) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def test_live_trace_from_the_example_service(go_service, tmp_path):
    """A trace fetched from a running service under a little load reads, and agrees with -pprof=sched."""
    stop = threading.Event()

    def load():
        for _ in range(200):  # bounded
            if stop.is_set():
                return
            _get(f"{go_service.url}/defect/storm?n=20&work=5")

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        data = _get(f"{go_service.pprof_url}/debug/pprof/trace?seconds=0.3")
    finally:
        stop.set()
        worker.join(timeout=30)
    m = compute_metrics(data)
    assert m.goroutines_created > 0
    assert m.sched_latency.count > 0
    go = shutil.which("go")
    assert go, "the Go toolchain is required"
    path = tmp_path / "live.trace"
    path.write_bytes(data)
    prof = subprocess.run([go, "tool", "trace", "-pprof=sched", str(path)], capture_output=True, check=True,
                          timeout=120).stdout
    from test_trace_oracle import _pprof_totals

    count, total = _pprof_totals(prof)
    assert m.sched_latency.count == count
    assert abs(m.sched_latency.total_ns - total) <= 0.01 * total
