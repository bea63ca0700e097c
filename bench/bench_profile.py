#!/usr/bin/env python3
"""Speed of the profile engine (formats/profile, analysis/functions) against ``go tool pprof -top`` on the same large profiles.

The profiles are REAL runtime output: the example service (built with the
machine's ``go``, or ``--go PATH``) runs on 127.0.0.1 under a mixed, bounded
load (/work, /items, /defect/alloc, /defect/contention) while a
``--seconds``-long CPU profile is taken (default 30 s); then its allocs
profile (every allocation site of the run) is fetched. Those are small (tens
of KB: a small service has few distinct stacks), so ``--large`` also times a
big real profile: the heap profile of the standard library's net/http tests
run with ``-test.memprofilerate=1`` (every allocation recorded: about 1.3 MB,
120k samples, 12k locations). ``--file`` times existing files instead.

Printed side by side, from one run, best of ``--repeat``:

* ours: ``read_profile`` + ``profile_table`` (decode, resolve, flat/cum of
  every function), i.e. what a test pays to get ``hot_share``;
* ``go tool pprof -top -nodecount=1000000 -nodefraction=0 -edgefraction=0``
  on the same file: the tool a user would otherwise run (its time includes
  process start, which is part of what the user waits for);
* the ratio pprof / ours (> 1: ours is faster).

Run by hand:  python bench/bench_profile.py [--seconds 30] [--repeat 5] [--file P ...]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO))
import samplekit

from pytest_goperf.analysis.functions import profile_table
from pytest_goperf.formats.profile._decode import read_profile

MIXED = ["/work?n=2000", "/items", "/defect/alloc?n=5000", "/work?n=500", "/defect/contention?n=8&work=20"]


def capture(go: Path, tmp: Path, seconds: int) -> list[Path]:
    binary = samplekit.build_service(go, tmp / "svc")
    out: list[Path] = []
    with samplekit.run_service(binary) as url:
        result: dict[str, bytes] = {}

        def cpu() -> None:
            result["cpu"] = samplekit.fetch(f"{url}/debug/pprof/profile?seconds={seconds}", timeout=seconds + 60)

        with samplekit.load(url, MIXED, clients=4, max_seconds=seconds + 15):
            t = threading.Thread(target=cpu)
            t.start()
            t.join(timeout=seconds + 70)
        for name, data in (("cpu", result["cpu"]), ("allocs", samplekit.fetch(f"{url}/debug/pprof/allocs"))):
            path = tmp / f"{name}.pb.gz"
            path.write_bytes(data)
            out.append(path)
    return out


def capture_large(go: Path, tmp: Path) -> Path:
    """Heap profile of net/http's tests with every allocation sampled (about 1 minute to build and run)."""
    env = samplekit.go_env(go)
    test_bin = tmp / "http.test"
    subprocess.run([str(go), "test", "-c", "-o", str(test_bin), "net/http"], check=True, env=env, timeout=600)
    out = tmp / "nethttp-heap.pb.gz"
    # A failing net/http test (some need network access) does not matter: only the profile does.
    subprocess.run([str(test_bin), "-test.short", "-test.run", ".", f"-test.memprofile={out}",
                    "-test.memprofilerate=1"], check=False, cwd=tmp, capture_output=True, timeout=600)
    if not out.exists():
        raise SystemExit("the net/http test binary wrote no heap profile")
    return out


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=30, help="CPU profile length (default 30)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--go", type=Path, default=None, help="go binary (default: go on PATH)")
    ap.add_argument("--file", type=Path, action="append", help="time this profile instead of capturing")
    ap.add_argument("--large", action="store_true", help="also time the net/http memprofilerate=1 heap profile")
    args = ap.parse_args()
    go = args.go or Path(shutil.which("go") or "go").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        files = args.file or capture(go, Path(tmp), args.seconds)
        if args.large:
            files.append(capture_large(go, Path(tmp)))
        print(f"{'profile':<19} {'size':>9} {'samples':>8} {'locs':>6} {'funcs':>6} "
              f"{'ours (s)':>9} {'pprof -top (s)':>15} {'ratio':>6}")
        for path in files:
            data = path.read_bytes()
            prof = read_profile(data)

            def ours(data: bytes = data) -> None:
                profile_table(read_profile(data))

            def pprof(path: Path = path) -> None:
                subprocess.run([str(go), "tool", "pprof", "-symbolize=none", "-top", "-nodecount=1000000",
                                "-nodefraction=0", "-edgefraction=0", str(path)],
                               check=True, capture_output=True)

            t_ours = best(ours, args.repeat)
            t_pprof = best(pprof, args.repeat)
            print(f"{path.name:<19} {len(data):>9} {len(prof.samples):>8} {len(prof.locations):>6} "
                  f"{len(prof.functions):>6} {t_ours:>9.4f} {t_pprof:>15.4f} {t_pprof / t_ours:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
