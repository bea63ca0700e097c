"""A process's own CPU time from the kernel (the exact side of CPU per request)."""

from __future__ import annotations

import subprocess
import sys
import time

from pytest_goperf.runtime.proc import _from_stat, process_cpu_ns


def test_cpu_time_of_a_busy_child_is_exact_and_agrees_with_proc_stat():
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        time.sleep(0.3)
        a = process_cpu_ns(child.pid)
        time.sleep(1.0)
        b = process_cpu_ns(child.pid)
        ticks = _from_stat(child.pid)
        assert a is not None and b is not None and ticks is not None
        assert 0 < b - a < 1.2e9  # one busy thread for a second, at most (less on a loaded machine)
        assert abs(ticks - b) < 50_000_000  # /proc/PID/stat has 10 ms ticks
    finally:
        child.kill()
        child.wait()
    assert process_cpu_ns(child.pid) is None  # gone: unknown, not an error
