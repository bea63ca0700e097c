"""Benchmark: ``goperf load`` (each engine) against wrk on the same endpoint, side by side in one run.

Run by hand (not by pytest):

    python bench/bench_load.py [--duration 5] [--rounds 3] [--rates 2000,5000,10000,20000]

It builds the example service (examples/go-service) and the Go load worker
with the ``go`` on PATH, starts the service on a loopback port and then, for
each round, runs on ``/items`` (a cheap handler), in alternating order:

* ``wrk -t2 -c16 -dNs``,
* ``goperf load URL --concurrency 16 --duration N --engine go`` (the whole command),
* the same with ``--engine python`` (uvloop when installed),

and prints each round's ours/wrk throughput ratio, the medians and the spread
(min-max over rounds), and the client's CPU time per request (the whole
command's, Python's start-up included). Then the open model at each rate, both
engines in the same process: achieved/target, dropped, late and latency.

wrk is not installed by this script: on Debian or Ubuntu, ``apt-get install
wrk``. Without it only our figures are printed. Client and service share the
machine's cores (2 on the project's machines), so the client's own CPU use
lowers the service's throughput too: the ratio is what a user gets, not a pure
client-speed figure. On a shared machine run several rounds and read the spread.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))

import samplekit  # noqa: E402

from pytest_goperf.load.engine import run_load  # noqa: E402
from pytest_goperf.load.goworker import worker_binary  # noqa: E402
from pytest_goperf.load.scenario import OpenModel  # noqa: E402

PATH = "/items"
CONCURRENCY = 16


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def wrk(url: str, duration: float) -> tuple[float, float]:
    """(requests/s, client CPU µs per request) of ``wrk -t2 -c16``."""
    c0 = children_cpu()
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{int(duration)}s", url],
        capture_output=True, text=True, check=True, timeout=duration + 30,
    ).stdout
    cpu = children_cpu() - c0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    if not m or not n:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"    wrk reported: {errors.group(0)}")
    return float(m.group(1)), cpu / max(1, int(n.group(1))) * 1e6


def goperf_load(url: str, duration: float, engine: str) -> tuple[float, float]:
    """(requests/s, client CPU µs per request) of the ``goperf load`` command with ``engine``."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    c0 = children_cpu()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_goperf.cli", "load", url, "--concurrency", str(CONCURRENCY),
         "--duration", f"{duration:g}", "--engine", engine, "--json"],
        capture_output=True, text=True, env=env, timeout=duration + 60, check=False,
    )
    cpu = children_cpu() - c0
    if proc.returncode != 0:
        raise SystemExit(f"goperf load --engine {engine} failed:\n{proc.stderr}")
    r = json.loads(proc.stdout)
    if r["failed"] or set(r["status_counts"]) != {"200"}:
        print(f"    ours ({engine}): failed {r['failed']} errors {r['errors']} statuses {r['status_counts']}")
    return r["requests_per_second"], cpu / max(1, r["completed"]) * 1e6


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} [{min(xs):.2f}-{max(xs):.2f}]"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating wrk/ours rounds (default 3)")
    ap.add_argument("--rates", default="2000,5000,10000,20000", help="open-model rates")
    ap.add_argument("--open-duration", type=float, default=3.0, help="seconds per open-model rate (default 3)")
    args = ap.parse_args()

    have_wrk = shutil.which("wrk") is not None
    if not have_wrk:
        print("wrk not found: install it with 'apt-get install wrk' (Debian/Ubuntu) to get the ratios")
    go = shutil.which("go")
    if go is None:
        raise SystemExit("the Go toolchain ('go') is needed to build the example service and the load worker")
    try:
        import uvloop

        uv_version: str | None = uvloop.__version__
    except ImportError:
        uv_version = None
    t0 = time.monotonic()
    worker = worker_binary()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, uvloop {uv_version or '-'}, "
          f"load worker {worker} ({time.monotonic() - t0:.1f} s to build or find)")
    tools = (["wrk"] if have_wrk else []) + ["go", "python"]

    with tempfile.TemporaryDirectory() as tmp:
        binary = samplekit.build_service(Path(go).resolve(), Path(tmp) / "goperf-demo")
        with samplekit.run_service(binary) as base:
            url = base + PATH
            print(f"service: {base}, endpoint {PATH}; wrk -t2 -c{CONCURRENCY} vs goperf load --concurrency "
                  f"{CONCURRENCY} --engine go|python, {args.duration:g} s each, {args.rounds} rounds\n")
            if have_wrk:
                wrk(url, 1)  # warm the service up
            rate: dict[str, list[float]] = {t: [] for t in tools}
            cpu: dict[str, list[float]] = {t: [] for t in tools}
            ratio: dict[str, list[float]] = {t: [] for t in tools}
            for rnd in range(args.rounds):
                order = tools if rnd % 2 == 0 else tools[::-1]  # ABC, CBA, ...: drift cancels
                got: dict[str, tuple[float, float]] = {}
                for t in order:
                    got[t] = wrk(url, args.duration) if t == "wrk" else goperf_load(url, args.duration, t)
                for t in tools:
                    r, us = got[t]
                    rate[t].append(r)
                    cpu[t].append(us)
                    line = f"  round {rnd + 1}  {t:7} {r:10,.0f} req/s  {us:5.1f} CPU us/req"
                    if have_wrk and t != "wrk":
                        ratio[t].append(r / got["wrk"][0])
                        line += f"  ours/wrk {ratio[t][-1]:.2f}"
                    print(line)
            print(f"\nclosed model, {args.rounds} rounds: median [min-max]")
            for t in tools:
                line = f"  {t:7} {statistics.median(rate[t]):10,.0f} req/s  CPU us/req {spread(cpu[t])}"
                if ratio.get(t):
                    line += f"  ours/wrk {spread(ratio[t])}"
                print(line)

            print(f"\nopen model, {args.open_duration:g} s each after 0.5 s warm-up (latency from due time):")
            for target in (float(x) for x in args.rates.split(",")):
                for engine in ("go", "python"):
                    r = run_load(url, model=OpenModel(target), duration=args.open_duration, warmup=0.5, engine=engine)
                    lat = r.latency.to_json()
                    achieved = r.achieved_ratio or 0.0
                    flag = "ok  " if abs(achieved - 1) <= 0.02 else "MISS"
                    print(
                        f"  {engine:6} target {target:8,.0f}  achieved {r.requests_per_second:9,.0f} "
                        f"({achieved:7.2%}) {flag} dropped {r.dropped:6d} late {r.late:6d} failed {r.failed:4d}  "
                        f"p50 {lat['p50_ms']:7.3f} ms  p99 {lat['p99_ms']:8.3f} ms"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
