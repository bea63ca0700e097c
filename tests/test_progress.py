"""Progress (issue 12, item 9): the pytest way in the plugin, a progress line on a terminal for the CLI.

pytester runs of the real example service: a cold build and each measurement round get a
``goperf:`` line at the default verbosity, none under ``-q`` or in xdist workers (whose
controller output stays as xdist writes it). ``goperf load`` and ``goperf triage`` draw their
line on standard error only when it is a terminal (a pseudo-terminal here), never into a pipe.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "go-service"

MEASURING_TEST = """
def test_measured(goperf):
    goperf.measure("/work?n=10", rounds=2, window=1, warmup=0.2, concurrency=1, check_leaks=False)
"""


@pytest.fixture
def measuring_project(pytester, inner_go_env):
    pytester.makepyprojecttoml(textwrap.dedent(f"""\
        [tool.goperf]
        package = "{EXAMPLE}"
        args = ["-addr", "{{addr}}"]
        """))
    pytester.makepyfile(test_measuring=MEASURING_TEST)
    return pytester


def test_build_and_rounds_get_a_line_each(measuring_project, tmp_path, monkeypatch):
    monkeypatch.setenv("GOPERF_CACHE_DIR", str(tmp_path / "cold-cache"))  # a build of its own: cold
    result = measuring_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    go126 = "go1.26" in subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout
    if go126:
        assert "goperf: " in out and "the build adds GOEXPERIMENT=goroutineleakprofile (Go 1.26 serves the goroutineleak" in out
    assert "goperf: building . in " in out and "can take minutes" in out
    assert "goperf: built go-service in " in out
    assert "test_measuring.py::test_measured: round 1/2: 0.2 s warm-up, 1 s window (about 3 s left)" in out
    assert "round 2/2" in out
    # A warm build says nothing more about building.
    again = measuring_project.runpytest_subprocess("-p", "no:cacheprovider")
    assert "goperf: building" not in again.stdout.str() and "round 1/2" in again.stdout.str()


def test_quiet_under_q_and_in_xdist_workers(measuring_project):
    quiet = measuring_project.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    quiet.assert_outcomes(passed=1)
    assert "goperf: " not in quiet.stdout.str().split("-- goperf --")[0]
    assert "round 1/2" not in quiet.stdout.str()
    xdist = measuring_project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v")
    xdist.assert_outcomes(passed=1)
    out = xdist.stdout.str()
    assert "round 1/2" not in out
    xdist.stdout.fnmatch_lines(["*PASSED test_measuring.py::test_measured*"])


def _run_on_a_terminal(argv: list[str], timeout: float = 60) -> tuple[int, bytes]:
    """Run ``argv`` with stdout a pipe and stderr a pseudo-terminal; return the exit status and what the terminal got."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    proc.stdout.read()
    return proc.wait(timeout=timeout), seen


def test_goperf_load_draws_a_line_on_a_terminal_only(go_service):
    argv = [sys.executable, "-m", "pytest_goperf.cli", "load", go_service.url + "/healthz",
            "--concurrency", "1", "--duration", "1.5"]
    code, tty = _run_on_a_terminal(argv)
    assert code == 0
    assert b"\r\x1b[Kgoperf: load on " in tty and b"s left)" in tty
    assert tty.endswith(b"\r\x1b[K") or tty.rstrip(b"\r\n").endswith(b"\x1b[K"), "the line is cleared at the end"
    piped = subprocess.run(argv, capture_output=True, timeout=60)
    assert piped.returncode == 0 and b"goperf: load on" not in piped.stderr and b"\x1b[K" not in piped.stderr


def test_goperf_triage_draws_a_line_on_a_terminal(go_service, tmp_path):
    argv = [sys.executable, "-m", "pytest_goperf.cli", "triage", go_service.pprof_url, "--seconds", "1",
            "--out", str(tmp_path), "--fail-on", "never"]
    code, tty = _run_on_a_terminal(argv)
    assert code == 0
    assert b"\x1b[Kgoperf: capturing a 1 s window" in tty
    assert b"goperf: saved in " in tty
