#!/usr/bin/env python3
"""Speed of goperf triage's analysis against the Go toolchain's readers of the same files.

A triage window is REAL runtime output: the example service (built with the
machine's ``go``) is started on 127.0.0.1 and driven on ``--route`` by the
built-in load engine while ``goperf triage`` captures ``--seconds`` of it
(execution trace and CPU profile of the same window, goroutine dumps, the
leak profile). Then, side by side from one run, best of ``--repeat``:

* ``analyse(load_folder(dir))``: everything triage concludes (trace metrics,
  per-goroutine timelines, CPU table, clusters, findings);
* its two expensive parts alone: ``compute_metrics`` and ``trace_timeline``;
* what an on-call engineer would otherwise run on the same folder:
  ``go tool trace -pprof=sched trace.out`` (scheduling latency only) plus
  ``go tool pprof -top cpu.pprof`` (hot functions only), each a process
  (start-up included, as a user would pay it);
* ``render_html`` + write of the report.

Run by hand:  python bench/bench_triage.py [--route /defect/storm?n=2000] [--seconds 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import samplekit

from pytest_goperf.analysis.timeline import trace_timeline
from pytest_goperf.analysis.trace_metrics import compute_metrics
from pytest_goperf.analysis.triage.findings import analyse
from pytest_goperf.load.engine import run_load
from pytest_goperf.load.scenario import ClosedModel
from pytest_goperf.report.html import render_html
from pytest_goperf.runtime.capture import capture_folder
from pytest_goperf.runtime.files import load_window as load_folder


def best(f, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--route", default="/defect/storm?n=2000&work=20")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    go = Path(shutil.which("go") or "go")
    work = Path(tempfile.mkdtemp(prefix="bench-triage-"))
    binary = samplekit.build_service(go, work / "svc", goexperiment="goroutineleakprofile")
    with samplekit.run_service(binary, ["-addr", "127.0.0.1:0"]) as url:
        th = threading.Thread(target=run_load, args=(url, args.route),
                              kwargs={"model": ClosedModel(4), "duration": args.seconds + 2.5}, daemon=True)
        th.start()
        time.sleep(0.6)
        folder = capture_folder(url, work, seconds=args.seconds).directory
        th.join(args.seconds + 30)
    trace = (folder / "trace.out").read_bytes()
    print(f"window: {args.seconds:g} s of {args.route}; trace {len(trace) / 1e6:.2f} MB, "
          f"cpu.pprof {(folder / 'cpu.pprof').stat().st_size / 1e3:.1f} kB; folder {folder}")
    t0 = os.times()
    rows = []
    result = {}
    rows.append(("goperf analyse(load_folder(dir))", best(lambda: result.setdefault("t", analyse(load_folder(folder))), args.repeat)))
    rows.append(("  compute_metrics(trace)", best(lambda: compute_metrics(trace), args.repeat)))
    rows.append(("  trace_timeline(trace)", best(lambda: trace_timeline(trace), args.repeat)))
    env = {**os.environ, "GOFLAGS": ""}
    rows.append(("go tool trace -pprof=sched", best(lambda: subprocess.run(
        [str(go), "tool", "trace", "-pprof=sched", str(folder / "trace.out")], capture_output=True, check=True, env=env),
        args.repeat)))
    rows.append(("go tool pprof -top", best(lambda: subprocess.run(
        [str(go), "tool", "pprof", "-top", str(folder / "cpu.pprof")], capture_output=True, check=True, env=env),
        args.repeat)))
    rows.append(("render_html + write", best(lambda: (work / "r.html").write_text(render_html(result["t"])), args.repeat)))
    t1 = os.times()
    go_both = rows[3][1] + rows[4][1]
    for name, sec in rows:
        print(f"{name:40s} {sec * 1000:9.1f} ms")
    print(f"{'ratio analyse / (go tool trace + go tool pprof)':40s} {rows[0][1] / go_both:9.2f}")
    print(f"cpu seconds (user+sys) of this process: {(t1.user - t0.user) + (t1.system - t0.system):.1f}, "
          f"children: {(t1.children_user - t0.children_user) + (t1.children_system - t0.children_system):.1f}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print("top finding:", result["t"].findings[0].key if result["t"].findings else None)


if __name__ == "__main__":
    main()
