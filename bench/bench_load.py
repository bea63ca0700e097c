"""Benchmark: goperf's built-in load engine against wrk, on the same endpoint, in one run.

Run by hand (not by pytest):

    python bench/bench_load.py [--duration 5] [--rounds 2] [--rates 2000,5000,10000,15000]

It builds the example service (examples/go-service) with the ``go`` on PATH,
starts it on a loopback port and then, for each round, runs

* ``wrk -t1 -c32 -dNs`` on ``/items`` (a cheap handler),
* our closed model with 32 connections for N s, on uvloop when it is
  installed and on asyncio's own loop,

and prints ours/wrk throughput ratios; then our open model at each rate,
reporting achieved/target. wrk is not installed by this script: on Debian or
Ubuntu, ``apt-get install wrk``. Without it only our figures are printed.

Client and service share the machine's cores (2 on the project's machines),
so the client's own CPU use lowers the service's throughput too: the ratio is
what a user gets, not a pure client-speed figure.
"""

from __future__ import annotations

import argparse
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

import samplekit

from pytest_goperf.load import engine
from pytest_goperf.load.engine import run_load
from pytest_goperf.load.scenario import ClosedModel, OpenModel

PATH = "/items"


def wrk(url: str, duration: float, connections: int = 32) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 30,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise SystemExit(f"cannot read wrk's output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"    wrk reported: {errors.group(0)}")
    return float(m.group(1))


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def ours_closed(url: str, duration: float, variant: str) -> tuple[float, float]:
    """Closed model, 32 connections: (requests/s, client CPU µs per request)."""
    engine._FORCE_TRANSPORT = "asyncio" if variant == "asyncio-transports" else None
    c0 = cpu_seconds()
    try:
        r = run_load(url, model=ClosedModel(32), duration=duration, warmup=0.5, use_uvloop=variant == "uvloop")
    finally:
        engine._FORCE_TRANSPORT = None
    cpu = cpu_seconds() - c0
    if r.failed or set(r.status_counts) != {200}:
        print(f"    ours: failed {r.failed} errors {dict(r.errors)} statuses {dict(r.status_counts)}")
    return r.requests_per_second, cpu / max(1, r.completed) * 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (default 5)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating wrk/ours rounds (default 2)")
    ap.add_argument("--rates", default="2000,5000,10000,15000,20000,30000", help="open-model rates")
    args = ap.parse_args()

    have_wrk = shutil.which("wrk") is not None
    if not have_wrk:
        print("wrk not found: install it with 'apt-get install wrk' (Debian/Ubuntu) to get the ratios")
    try:
        import uvloop

        uv_version: str | None = uvloop.__version__
    except ImportError:
        uv_version = None
        print("uvloop not installed: only asyncio's own loop is measured (pip install uvloop)")
    go = shutil.which("go")
    if go is None:
        raise SystemExit("the Go toolchain ('go') is needed to build the example service")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, uvloop {uv_version or '-'}")

    with tempfile.TemporaryDirectory() as tmp:
        binary = samplekit.build_service(Path(go).resolve(), Path(tmp) / "goperf-demo")
        with samplekit.run_service(binary) as base:
            url = base + PATH
            print(f"service: {base}, endpoint {PATH}; wrk -t1 -c32 vs ours ClosedModel(32), {args.duration:g} s each\n")
            if have_wrk:
                wrk(url, 1)  # warm the service up
            # "asyncio" is the default on asyncio's loop (raw sockets); "asyncio-transports"
            # is the same engine on asyncio's own transports, for comparison.
            variants = (["uvloop"] if uv_version else []) + ["asyncio", "asyncio-transports"]
            wrk_rates: list[float] = []
            ours: dict[str, list[float]] = {v: [] for v in variants}
            cpu: dict[str, list[float]] = {v: [] for v in variants}
            for rnd in range(args.rounds):
                if have_wrk:
                    w = wrk(url, args.duration)
                    wrk_rates.append(w)
                    print(f"  round {rnd + 1}  wrk                       {w:10,.0f} req/s")
                for v in variants:
                    rate, us = ours_closed(url, args.duration, v)
                    ours[v].append(rate)
                    cpu[v].append(us)
                    ratio = f"  ours/wrk {rate / wrk_rates[-1]:.2f}" if have_wrk else ""
                    print(f"  round {rnd + 1}  ours ({v:18}) {rate:10,.0f} req/s  {us:5.1f} CPU us/req{ratio}")
            print("\nclosed model, medians over rounds:")
            w_med = statistics.median(wrk_rates) if wrk_rates else None
            if w_med:
                print(f"  wrk                       {w_med:10,.0f} req/s")
            for v in variants:
                med = statistics.median(ours[v])
                ratio = f"  ours/wrk {med / w_med:.2f}" if w_med else ""
                print(f"  ours ({v:18}) {med:10,.0f} req/s  {statistics.median(cpu[v]):5.1f} CPU us/req{ratio}")

            print(f"\nopen model, {args.duration:g} s each (latency from due time):")
            if w_med:
                print(f"  (the service's closed-loop capacity, wrk's median above: {w_med:,.0f} req/s)")
            for uv in [True, False] if uv_version else [False]:
                name = "uvloop" if uv else "asyncio"
                for target in (float(x) for x in args.rates.split(",")):
                    t0 = time.monotonic()
                    r = run_load(url, model=OpenModel(target), duration=args.duration, warmup=0.5, use_uvloop=uv)
                    lat = r.latency.to_json()
                    ratio = r.achieved_ratio or 0.0
                    flag = "ok " if abs(ratio - 1) <= 0.02 else "MISS"
                    print(
                        f"  {name:7} target {target:8,.0f}{f' ({target / w_med:4.0%} of wrk)' if w_med else ''}  "
                        f"achieved {r.requests_per_second:9,.0f} "
                        f"({ratio:6.1%}) {flag} dropped {r.dropped:6d} late {r.late:6d} failed {r.failed:4d}  "
                        f"p50 {lat['p50_ms']:7.3f} ms  p99 {lat['p99_ms']:8.3f} ms  "
                        f"[{time.monotonic() - t0:.1f} s]"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
