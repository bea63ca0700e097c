#!/usr/bin/env python3
"""Speed and memory of the trace engine (formats/trace, analysis/trace_metrics) against ``go tool trace -pprof=sched`` on the same trace.

The trace is REAL runtime output: the example service (built with the machine's
``go``) runs on 127.0.0.1 with GOMAXPROCS=2 under a bounded load (/work,
/defect/storm, /defect/contention) while ``/debug/pprof/trace?seconds=N`` is
fetched (default 4 s, lengthened until the trace has at least 2 MB). ``--file`` times existing traces
instead (no service needed; go still is).

Printed side by side, from one run, best of ``--repeat`` (the two alternate):

* ours: ``compute_metrics`` (read, order, every scheduler metric), in a fresh
  Python process; "compute" is the time inside the process once the trace
  bytes are in memory (what a test pays), "process" the whole run including
  interpreter start and imports;
* ``go tool trace -pprof=sched`` on the same file (its time includes process
  start, part of what a user waits for);
* the ratio ours / go (below 1.0: ours is faster), each side's peak RSS, and
  each side's CPU time (the Go tool spreads its work over both cores; on a busy
  machine the wall times swing, so read several runs).

Run by hand:  python bench/bench_trace.py [--seconds 3] [--repeat 5] [--file T ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import capture_traces  # noqa: E402
import samplekit  # noqa: E402

OURS = (
    "import sys, time\n"
    "from pytest_goperf import compute_metrics\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "t = time.perf_counter()\n"
    "m = compute_metrics(data)\n"
    "print(time.perf_counter() - t, m.sched_latency.count, m.sched_latency.total_ns)\n"
)


def run(cmd: list[str]) -> tuple[float, int, bytes, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in KiB, stdout, CPU seconds user+system) of that process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed: {err.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss, out, usage.ru_utime + usage.ru_stime


def bench(path: Path, go: str, repeat: int) -> None:
    size = path.stat().st_size
    ours_compute, ours_proc, ours_rss, ours_cpu = [], [], [], []
    go_wall, go_rss, go_cpu = [], [], []
    for _ in range(repeat):
        wall, rss, out, cpu = run([sys.executable, "-c", OURS, str(path)])
        fields = out.split()
        ours_compute.append(float(fields[0]))
        ours_proc.append(wall)
        ours_rss.append(rss)
        ours_cpu.append(cpu)
        wall, rss, _, cpu = run([go, "tool", "trace", "-pprof=sched", str(path)])
        go_wall.append(wall)
        go_rss.append(rss)
        go_cpu.append(cpu)
    oc, op, gw = min(ours_compute), min(ours_proc), min(go_wall)
    occ, gcc = min(ours_cpu), min(go_cpu)
    print(f"{path.name}: {size / 1e6:.2f} MB, sched latency {int(fields[1])} waits, {int(fields[2]) / 1e6:.2f} ms")
    print(f"  ours compute_metrics (in process) {oc:7.3f} s   ratio ours/go {oc / gw:5.2f}")
    print(f"  ours whole process                {op:7.3f} s   ratio ours/go {op / gw:5.2f}   "
          f"peak RSS {max(ours_rss) / 1024:6.1f} MiB")
    print(f"  go tool trace -pprof=sched        {gw:7.3f} s                        "
          f"peak RSS {max(go_rss) / 1024:6.1f} MiB")
    print(f"  CPU time (user+sys) of the whole process: ours {occ:.3f} s, go {gcc:.3f} s "
          f"(ratio {occ / gcc:.2f}; go's runtime also uses the other core)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--file", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    go = shutil.which("go")
    if go is None:
        raise SystemExit("go is not on PATH")
    subprocess.run([go, "tool", "trace", "-h"], capture_output=True)  # build/cache the tool once
    if args.file:
        for f in args.file:
            bench(f, go, args.repeat)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        binary = samplekit.build_service(Path(go).resolve(), Path(tmp) / "svc")
        path = Path(tmp) / "bench.trace"
        seconds = args.seconds
        for _ in range(3):  # the event rate depends on the machine's load: lengthen until >= 2 MB
            capture_traces.capture(binary, path, procs=2, seconds=seconds, cpu_profile=False)
            if path.stat().st_size >= 2_000_000:
                break
            seconds *= 2
        bench(path, go, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
