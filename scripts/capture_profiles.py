#!/usr/bin/env python3
"""Capture the pprof profiles the profile engine is tested on.

For each Go release asked for (default: 1.22, 1.27 and the machine's own
``go``), build the example service, run it on a loopback port and save, under
``tests/samples/profiles/go<VERSION>/``:

- ``cpu-work.pb.gz``        CPU profile while /work?n=2000 is under load
- ``cpu-alloc.pb.gz``       CPU profile while /defect/alloc is under load (mallocgc, GC)
- ``cpu-contention.pb.gz``  CPU profile while /defect/contention is under load (locks)
- ``heap.pb.gz``, ``allocs.pb.gz``, ``mutex.pb.gz``, ``block.pb.gz``,
  ``goroutine.pb.gz``       the other profiles, debug=0 (protobuf)
- ``cpu-recursion.pb.gz``   (machine's Go only, in ``recursion/``) a CPU profile of a tiny
                            program of our own with direct and mutual recursion, so
                            "a recursive function counts once per sample" is checked
                            against ``go tool pprof`` on real data
- ``buildinfo.txt``         ``go version -m`` of the binary (the toolchain's reading)
- ``buildinfo.bin``         the binary's bytes from the ``\\xff Go buildinf:`` magic on
                            (a few KB), so our build-info reader is tested on real bytes

The service does not enable mutex or block profiling, so those two profiles
hold no samples; they are still real, valid files to decode.

Usage::

    GOPERF_TOOLCHAINS=/opt/gotoolchains python scripts/capture_profiles.py [1.22 1.27 local]

Bounded: each CPU profile runs 3 s under a load that stops with it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import samplekit

OUT = samplekit.SAMPLES / "profiles"
CPU_SECONDS = 3
BUILDINFO_MAGIC = b"\xff Go buildinf:"
BUILDINFO_SLICE = 4096

# name -> (paths to load, client threads)
CPU_LOADS: dict[str, tuple[list[str], int]] = {
    "cpu-work": (["/work?n=2000"], 4),
    "cpu-alloc": (["/defect/alloc?n=20000"], 3),
    "cpu-contention": (["/defect/contention?n=32&iters=2000"], 3),
}


def go_for(release: str) -> Path:
    if release == "local":
        found = shutil.which("go")
        if not found:
            raise SystemExit("no go on PATH")
        return Path(found).resolve()
    return samplekit.toolchain(samplekit.GO_RELEASES.get(release, release))


def go_version(go: Path) -> str:
    out = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True, check=True,
                         env=samplekit.go_env(go)).stdout.strip()
    return out.removeprefix("go")


def capture_cpu(url: str, name: str) -> bytes:
    paths, clients = CPU_LOADS[name]
    result: dict[str, bytes] = {}

    def profile() -> None:
        result["data"] = samplekit.fetch(f"{url}/debug/pprof/profile?seconds={CPU_SECONDS}", timeout=CPU_SECONDS + 30)

    with samplekit.load(url, paths, clients=clients, max_seconds=CPU_SECONDS + 10):
        t = threading.Thread(target=profile)
        t.start()
        t.join(timeout=CPU_SECONDS + 35)
    if "data" not in result:
        raise SystemExit(f"{name}: the CPU profile did not arrive")
    return result["data"]


def capture_release(release: str) -> None:
    go = go_for(release)
    version = go_version(go)
    dest = OUT / f"go{version}"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        binary = samplekit.build_service(go, Path(tmp) / "goperf-demo")
        info = subprocess.run([str(go), "version", "-m", str(binary)], capture_output=True, text=True,
                              check=True, env=samplekit.go_env(go)).stdout
        # Drop the temporary path from the first line: it changes on every run.
        (dest / "buildinfo.txt").write_text(info.replace(str(binary), "goperf-demo"))
        raw = binary.read_bytes()
        at = raw.find(BUILDINFO_MAGIC)
        if at < 0:
            raise SystemExit(f"{binary}: no build info")
        (dest / "buildinfo.bin").write_bytes(raw[at:at + BUILDINFO_SLICE])

        with samplekit.run_service(binary) as url:
            for name in CPU_LOADS:
                (dest / f"{name}.pb.gz").write_bytes(capture_cpu(url, name))
                print(f"go{version}: {name}", file=sys.stderr)
            # Give the goroutine profile something to show: parked goroutines of two kinds.
            samplekit.fetch(f"{url}/defect/leak-global?n=5")
            samplekit.fetch(f"{url}/defect/leak-ticker")
            samplekit.fetch(f"{url}/background?ms=3000")
            for kind in ("heap", "allocs", "mutex", "block", "goroutine"):
                (dest / f"{kind}.pb.gz").write_bytes(samplekit.fetch(f"{url}/debug/pprof/{kind}"))
            print(f"go{version}: heap allocs mutex block goroutine", file=sys.stderr)


# Recursion the example service does not have: fib (direct) and even/odd (mutual).
RECURSION_PROGRAM = """package main

import (
	"os"
	"runtime/pprof"
	"time"
)

//go:noinline
func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

//go:noinline
func even(n int) bool {
	if n == 0 {
		return true
	}
	return odd(n - 1)
}

//go:noinline
func odd(n int) bool {
	if n == 0 {
		return false
	}
	return even(n - 1)
}

func main() {
	f, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	sink := 0
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		sink += fib(24)
		if even(5000 + sink%2) {
			sink++
		}
	}
	pprof.StopCPUProfile()
	f.Close()
	println(sink)
}
"""


def capture_recursion() -> None:
    go = go_for("local")
    dest = OUT / "recursion"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        (src / "go.mod").write_text("module example.com/recursion\n\ngo 1.21\n")
        (src / "main.go").write_text(RECURSION_PROGRAM)
        env = samplekit.go_env(go)
        subprocess.run([str(go), "build", "-o", "recursion", "."], cwd=src, env=env, check=True)
        subprocess.run([str(src / "recursion"), str(dest / "cpu-recursion.pb.gz")], check=True, timeout=60,
                       capture_output=True)
    print("recursion: cpu-recursion", file=sys.stderr)


def main(argv: list[str]) -> int:
    for release in argv or ["1.22", "1.27", "local"]:
        if release == "recursion":
            capture_recursion()
        else:
            capture_release(release)
    if not argv:
        capture_recursion()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
