"""Service lifecycle: build cache, start, readiness, stop by PID, no orphans on interruption."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_goperf.errors import (
    BuildError,
    ConfigError,
    ServiceDiedError,
    ServiceStartError,
)
from pytest_goperf.runtime.build import build_binary
from pytest_goperf.runtime.service import GoService, ServiceSpec, start_service

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "go-service"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    return build_binary(EXAMPLE, tmp_path_factory.mktemp("bin")).path


def test_build_is_reused_until_a_source_changes(tmp_path):
    src = tmp_path / "svc"
    src.mkdir()
    for f in EXAMPLE.glob("*.go"):
        (src / f.name).write_bytes(f.read_bytes())
    (src / "go.mod").write_bytes((EXAMPLE / "go.mod").read_bytes())
    cache = tmp_path / "cache"
    first = build_binary(src, cache)
    again = build_binary(src, cache)
    assert not first.reused and again.reused and again.path == first.path
    (src / "README.md").write_text("docs are not build inputs")
    assert build_binary(src, cache).reused
    with (src / "main.go").open("a") as fh:
        fh.write("\n// a change\n")
    changed = build_binary(src, cache)
    assert not changed.reused and changed.key != first.key
    flagged = build_binary(src, cache, flags=["-trimpath"])
    assert flagged.key not in (first.key, changed.key)


def test_build_errors_carry_the_compiler_output(tmp_path):
    (tmp_path / "go.mod").write_text("module example.com/x\n\ngo 1.21\n")
    (tmp_path / "main.go").write_text("package main\n\nfunc main() { undefinedThing() }\n")
    with pytest.raises(BuildError, match=r"(?s)go build failed.*undefined: undefinedThing"):
        build_binary(tmp_path, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.tmp")), "a failed build leaves no half-written binary"


def test_missing_toolchain_and_missing_module_are_clear(tmp_path):
    with pytest.raises(BuildError, match="Go toolchain was not found"):
        build_binary(EXAMPLE, tmp_path, go="/nonexistent/go")
    with pytest.raises(ConfigError, match="no go.mod found"):
        build_binary(tmp_path, tmp_path / "cache")


def test_start_ready_and_stop_by_pid(binary, tmp_path):
    spec = ServiceSpec(binary=binary, args=("-addr", "{addr}"), env={"GOPERF_DEMO_EXTRA_CPU": "0"})
    svc = start_service(spec, tmp_path / "svc.log")
    try:
        assert svc.url.startswith("http://127.0.0.1:")
        assert svc.client.get("/healthz").json()["status"] == "ok"
        assert any(g.id == 1 for g in svc.goroutines())
        assert "listening on 127.0.0.1:" in svc.log_tail()
    finally:
        status = svc.stop()
    assert status == 0  # graceful shutdown on SIGTERM
    assert "stopped" in svc.log_tail()
    assert not pid_alive(svc.pid)


def test_separate_pprof_listener(binary, tmp_path):
    spec = ServiceSpec(binary=binary, args=("-addr", "{addr}", "-pprof-addr", "{pprof_addr}"), ready_path="/healthz")
    svc = start_service(spec, tmp_path / "svc.log")
    try:
        assert svc.pprof_url != svc.url
        assert svc.client.get("/debug/pprof/").status_code == 404
        assert svc.goroutine_dump().startswith("goroutine ")
    finally:
        svc.stop()


def test_exit_during_start_reports_status_and_log(tmp_path):
    script = tmp_path / "fails.sh"
    script.write_text("#!/bin/sh\necho 'config file missing' >&2\nexit 3\n")
    script.chmod(0o755)
    with pytest.raises(ServiceStartError, match=r"(?s)exited with status 3.*config file missing"):
        start_service(ServiceSpec(binary=script, args=("{addr}",)), tmp_path / "svc.log")


def test_stop_escalates_to_sigkill(tmp_path):
    proc = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"], start_new_session=True
    )
    time.sleep(0.2)
    svc = GoService("http://127.0.0.1:9", process=proc, spec=ServiceSpec(binary=Path("sh"), stop_timeout=0.5))
    t0 = time.monotonic()
    assert svc.stop() == -signal.SIGKILL
    assert time.monotonic() - t0 < 5
    with pytest.raises(ServiceDiedError, match="killed by SIGKILL"):
        svc.check_alive()


def _inner_project(tmp_path: Path, body: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.goperf]\npackage = "{EXAMPLE}"\nargs = ["-addr", "{{addr}}"]\n'
    )
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(body))
    return tmp_path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_no_orphan_when_the_run_is_interrupted(tmp_path, sig, tmp_path_factory):
    pidfile = tmp_path / "pid"
    project = _inner_project(
        tmp_path,
        f"""
        import time

        def test_waits(go_service):
            open({str(pidfile)!r}, "w").write(str(go_service.pid))
            time.sleep(60)
        """,
    )
    env = dict(os.environ, GOPERF_CACHE_DIR=str(tmp_path_factory.getbasetemp() / "interrupt-cache"))
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A shell's background job starts with SIGINT ignored, and children inherit that: Ctrl-C is
        # what this test sends, so the inner pytest gets the default disposition whatever ours is.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while not (pidfile.exists() and pidfile.read_text()):
            assert run.poll() is None, run.stdout.read().decode()
            assert time.monotonic() < deadline, "the inner test never started"
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        assert pid_alive(pid)
        run.send_signal(sig)
        try:
            run.wait(timeout=45)
        except subprocess.TimeoutExpired:
            run.kill()
            out = run.communicate()[0].decode(errors="replace")
            pytest.fail(f"pytest did not end within 45 s of {sig.name}; its output:\n{out[-3000:]}")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert wait_dead(pid), f"service {pid} outlived pytest after {sig.name}"
