"""The Go load worker (engine="go") beside the Python engine, against the live example service.

The worker is built from the package's own Go source on first use (into
GOPERF_CACHE_DIR when set). Loads are short; rate figures are checked loosely
(the 2 % target is bench/bench_load.py's, not a timed test's).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_goperf.cli.main import main
from pytest_goperf.errors import BuildError, ConfigError, ServiceError
from pytest_goperf.load import goworker
from pytest_goperf.load.engine import choose_engine, run_load
from pytest_goperf.load.histogram import BUCKET_COUNT, LatencyHistogram, histogram_from_sparse
from pytest_goperf.load.scenario import ClosedModel, OpenModel, Request, Scenario, Target

REPO = Path(__file__).resolve().parent.parent


def shape(data):
    """The JSON keys of a result, nested, without the values."""
    if isinstance(data, dict):
        return {k: shape(v) for k, v in data.items() if k not in ("status_counts", "errors", "error_samples")}
    if isinstance(data, list):
        return [shape(v) for v in data]
    return type(data).__name__ if not isinstance(data, (int, float)) or isinstance(data, bool) else "number"


def test_both_engines_send_the_same_mix_and_give_the_same_shape(go_service):
    scenario = Scenario([Request("GET", "/items", weight=3), Request("GET", "/items/missing", weight=1)])
    results = {
        name: run_load(go_service.url, scenario, model=ClosedModel(4), duration=5, max_requests=2000, engine=name)
        for name in ("go", "python")
    }
    go, py = results["go"], results["python"]
    assert go.client == "go" and py.client in ("asyncio", "uvloop")
    for r in (go, py):
        assert r.stopped_by == "max_requests"
        assert r.sent == r.completed == 2000 and r.failed == 0
        assert dict(r.status_counts) == {200: 1500, 404: 500}
        assert [(b.name, b.sent, b.completed, dict(b.status_counts)) for b in r.by_request] == [
            ("GET /items", 1500, 1500, {200: 1500}),
            ("GET /items/missing", 500, 500, {404: 500}),
        ]
        assert r.latency.count == 2000 == sum(b.count for b in r.latency.buckets())
        assert 0 < r.latency.min_ns <= r.latency.percentile(50) <= r.latency.percentile(99) <= r.latency.max_ns
        assert r.connections == 4
    assert shape(go.to_json()) == shape(py.to_json())
    # The merged histogram is the per-request ones added up, bucket for bucket.
    total = LatencyHistogram()
    for b in go.by_request:
        total.merge(b.latency)
    assert total == go.latency


def test_go_engine_holds_an_open_model_rate(go_service):
    r = run_load(go_service.url, "/items", model=OpenModel(2000), duration=1.0, warmup=0.2, engine="go")
    assert r.model == "open" and r.client == "go"
    # Request i is due at i/2000 s: exactly 2000 fall inside the 1 s window.
    assert r.sent == r.completed == 2000 and r.failed == r.dropped == 0
    assert r.send_lag.count == 2000
    assert 0.9 < r.achieved_ratio <= 1.01
    assert r.duration == pytest.approx(1.0, abs=1e-6)
    assert r.late <= r.sent


def test_go_engine_closed_model_on_the_real_service(go_service):
    t0 = time.monotonic()
    r = run_load(go_service.url, "/items", model=ClosedModel(16), duration=0.6, warmup=0.2, engine="go")
    assert time.monotonic() - t0 < 0.8 + 2.0  # a cached build, then the bounded run
    assert r.completed == r.sent > 500 and r.failed == 0
    assert r.duration == pytest.approx(0.6, abs=0.01)
    assert r.requests_per_second == pytest.approx(r.completed / r.elapsed)


def test_the_worker_refuses_what_resolves_to_a_remote_address():
    # The Python side refuses the name first; the worker checks what it is handed again.
    with pytest.raises(ConfigError, match="not a loopback address"):
        run_load("http://192.0.2.1:80/", model=ClosedModel(1), duration=0.2, engine="go")
    tgt = Target(host="192.0.2.1", port=80, host_header="192.0.2.1")
    scen = Scenario(Request("GET", "/"))
    with pytest.raises(ConfigError, match="192.0.2.1, not a loopback address"):
        goworker.run_worker("http://192.0.2.1/", tgt, scen, "", model=ClosedModel(1), duration=0.2, warmup=0,
                            max_requests=None, timeout=1.0, allow_remote=False)


def test_a_closed_port_is_a_service_error_at_once():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    for model in (ClosedModel(4), OpenModel(100)):
        t0 = time.monotonic()
        with pytest.raises(ServiceError, match="connection refused; is the service running"):
            run_load(f"http://127.0.0.1:{port}/", model=model, duration=10, engine="go")
        assert time.monotonic() - t0 < 2


def test_histograms_cross_from_go_bucket_for_bucket():
    h = LatencyHistogram.of([0, 1, 255, 256, 1000, 123_456, 10**9, 2**41])
    pairs = [(i, c) for i, c in enumerate(h._counts) if c]
    again = histogram_from_sparse(pairs, count=h.count, total_ns=h.total_ns, min_ns=h.min_ns, max_ns=h.max_ns)
    assert again == h
    with pytest.raises(Exception, match="bucket layout"):
        histogram_from_sparse([(BUCKET_COUNT, 1)], count=1, total_ns=1, min_ns=1, max_ns=1)
    with pytest.raises(Exception, match="count says"):
        histogram_from_sparse([(3, 1)], count=2, total_ns=6, min_ns=3, max_ns=3)


def test_the_python_engine_is_the_default_and_go_without_a_toolchain_fails(go_service, monkeypatch):
    monkeypatch.setattr(goworker, "_built", {})
    monkeypatch.setenv("PATH", "")
    with pytest.raises(BuildError, match="Go toolchain"):
        choose_engine("go")
    assert choose_engine(None) == "python"  # the default needs no toolchain at all
    r = run_load(go_service.url, "/items", model=ClosedModel(2), duration=0.2)
    assert r.client in ("asyncio", "uvloop")
    with pytest.raises(ConfigError, match="one of go, python"):
        choose_engine("rust")  # type: ignore[arg-type]


def test_use_uvloop_selects_the_python_engine_and_contradicts_go():
    assert choose_engine(None, use_uvloop=False) == "python"
    with pytest.raises(ConfigError, match="Python engine only"):
        choose_engine("go", use_uvloop=False)


def test_goperf_load_engine_option(go_service, capsys):
    out = {}
    for name in ("go", "python"):
        code = main(["load", go_service.url + "/items", "--concurrency", "2", "--duration", "0.3", "--engine", name, "--json"])
        assert code == 0
        out[name] = json.loads(capsys.readouterr().out)
    assert out["go"]["client"] == "go" and out["python"]["client"] in ("asyncio", "uvloop")
    assert shape(out["go"]) == shape(out["python"])


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(p) for p in text)
    return found


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie of a reparented child is gone too


def _start_load_in_a_child(url: str) -> tuple[subprocess.Popen, int]:
    code = textwrap.dedent(f"""
        from pytest_goperf.load.engine import run_load
        from pytest_goperf.load.scenario import ClosedModel
        print("start", flush=True)
        run_load({url!r}, "/items", model=ClosedModel(2), duration=60, engine="go")
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            # The default SIGINT disposition, even when this run was started with it ignored.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"start"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        kids = _children(proc.pid)
        if kids:
            return proc, kids[0]
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the load worker did not start")


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_the_worker_goes_when_its_caller_is_interrupted_or_killed(go_service, how):
    proc, worker = _start_load_in_a_child(go_service.url)
    try:
        time.sleep(0.3)
        assert not _gone(worker)
        os.kill(proc.pid, signal.SIGINT if how == "sigint" else signal.SIGKILL)
        proc.wait(timeout=10)
        if how == "sigint":
            # Killed by PID in run_worker's cleanup, and reaped, before the KeyboardInterrupt ends Python.
            assert _gone(worker)
            assert b"KeyboardInterrupt" in proc.stderr.read()
        else:
            # Its caller gone, standard input ends: the worker stops sending and exits by itself.
            deadline = time.monotonic() + 5
            while not _gone(worker) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _gone(worker)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not _gone(worker):
            os.kill(worker, signal.SIGKILL)
