"""A process's own CPU time, from the kernel: exact, not sampled.

The CPU profile estimates CPU time from 100 Hz samples; the kernel keeps the
real total of every thread of the process (alive or exited). Read through the
process's CPU-time clock (``clock_gettime`` on the clock id that glibc's
``clock_getcpuclockid`` builds, nanoseconds), else from ``/proc/PID/stat``
(``utime + stime``, in clock ticks of usually 10 ms).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

__all__ = ["cpu_clock", "process_cpu_ns"]

# linux/posix-timers.h: MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) = ((~pid) << 3) | 2
_CPUCLOCK_SCHED = 2


def _clock_id(pid: int) -> int:
    return ((~pid) << 3) | _CPUCLOCK_SCHED


def _from_stat(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            text = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after its last ")".
    fields = text[text.rfind(")") + 2:].split()
    try:
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the whole line)
    except (IndexError, ValueError):
        return None
    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def process_cpu_ns(pid: int) -> int | None:
    """CPU time the process ``pid`` has used so far, in nanoseconds; None when it cannot be read (gone, not ours)."""
    try:
        return time.clock_gettime_ns(_clock_id(pid))
    except (OSError, OverflowError, ValueError):
        return _from_stat(pid)


def cpu_clock(pid: int | None) -> Callable[[], int | None] | None:
    """A reader of ``pid``'s CPU time for :func:`~pytest_goperf.runtime.capture.capture_window`, or None without a pid."""
    if pid is None:
        return None
    return lambda: process_cpu_ns(pid)
