#!/usr/bin/env python3
"""Capture the goroutine-dump samples in tests/samples/goroutines/.

For every Go release in samplekit.GO_RELEASES the example service is built and
run on 127.0.0.1, the leak defects are triggered (leak-orphan, leak-global,
leak-ticker, leak-nil-send) plus a short-lived sleeper (/background), and then:

* ``goX.YY-quiet-debug1.txt`` + ``goX.YY-quiet-debug2.txt``: the count profile
  and the full dump fetched back to back over ONE keep-alive connection with
  no other traffic, so both see the same goroutines (the tests compare their
  totals exactly);
* ``goX.YY-load-debug2.txt`` + ``goX.YY-load-debug1.txt``: the same while a
  bounded load (4 keep-alive clients) is in flight, so handler goroutines in
  all sorts of states appear; totals only agree within the in-flight slack.

Extra runs, one each:

* 1.26 built with GOEXPERIMENT=goroutineleakprofile and run with
  GODEBUG=tracebacklabels=1 (labels INSIDE the brackets, 1.26 style), and
  1.27 built with ``go 1.27`` in go.mod (labels after the brackets):
  ``goX.YY-labels-{quiet,load}-debug{1,2}.txt``, ``goX.YY-labels-leak-debug1.txt``
  (goroutineleak profile) and ``goX.YY-labels-leak-debug2.txt`` (a full dump
  fetched right after it: "(leaked)" markers);
* 1.27 with GODEBUG=tracebackancestors=5: ``go1.27-ancestors-quiet-debug{1,2}.txt``;
* crash logs after /defect/crash, with GOTRACEBACK=system (gp=/m= headers,
  fp=/sp=/pc= frame suffixes, runtime goroutines) for 1.21 and 1.27, and with
  the default setting for 1.27: ``goX.YY-crash-system.txt``, ``go1.27-crash.txt``;
  and GOTRACEBACK=all for 1.27 while CPU-bound requests run on other threads
  with GODEBUG=asyncpreemptoff=1 ("goroutine running on other thread; stack
  unavailable"): ``go1.27-crash-all-busy.txt``;
* scripts/deepstack/cgocrash: a SIGSEGV inside C code with GOTRACEBACK=system
  (signal message, register dump after the goroutines): ``go1.27-crash-cgo-signal.txt``;
* scripts/deepstack (a tiny extra program): a 150-frame stack ("...N frames
  elided..."), ancestors with "...additional frames elided...", generics,
  methods, closures, labels that need quoting: ``goX.YY-deepstack.txt`` and
  ``goX.YY-deepstack-debug1.txt`` for 1.21, 1.26 and 1.27 (1.26/1.27 with
  GODEBUG=tracebacklabels=1); and its synctest test (testing/synctest.Test,
  Go 1.25+) -> ``go1.25-synctest.txt``, ``go1.27-synctest.txt``;
* ``defects.go.txt``: the example service's defects.go the samples were built
  from (the tests find the defect statements' line numbers in it).

Run:  GOPERF_TOOLCHAINS=/opt/gotoolchains python scripts/capture_dumps.py [RELEASE ...]
Only 127.0.0.1 is used; every load is bounded (a few seconds).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import samplekit

OUT = samplekit.SAMPLES / "goroutines"
DEEPSTACK = Path(__file__).resolve().parent / "deepstack"

DEFECTS = [
    "/defect/leak-orphan?n=3",
    "/defect/leak-global?n=2",
    "/defect/leak-ticker",
    "/defect/leak-nil-send",
    "/background?ms=10000",  # a sleeper that is alive while we capture
]
LOAD_PATHS = ["/work?n=3000", "/items/k1", "/defect/contention?n=4&work=200", "/background?ms=50"]


def get(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status >= 300:
        raise SystemExit(f"GET {path}: HTTP {resp.status}: {body[:200]!r}")
    return body


def write(name: str, data: bytes) -> None:
    (OUT / name).write_bytes(data)
    print(f"  {name}: {len(data)} bytes", file=sys.stderr)


def capture_service(minor: str, go: Path, tag: str, *, build: dict, env: dict, leak: bool = False,
                    load: bool = True, quiet: bool = True) -> None:
    """One service run: defects, then the dumps named goMINOR-TAG-*.txt."""
    with tempfile.TemporaryDirectory() as tmp:
        binary = samplekit.build_service(go, Path(tmp) / "svc", **build)
        with samplekit.run_service(binary, env=env) as url:
            host = url.split("//", 1)[1]
            conn = http.client.HTTPConnection(host, timeout=60)
            for path in DEFECTS:
                get(conn, path)
            time.sleep(0.3)  # let the defect goroutines reach their blocking point
            prefix = f"go{minor}" + (f"-{tag}" if tag else "")
            if quiet:
                # Back to back on one connection: the same goroutines exist for both.
                write(f"{prefix}-quiet-debug1.txt", get(conn, "/debug/pprof/goroutine?debug=1"))
                write(f"{prefix}-quiet-debug2.txt", get(conn, "/debug/pprof/goroutine?debug=2"))
            if load:
                with samplekit.load(url, LOAD_PATHS, clients=4, max_seconds=10):
                    time.sleep(1.0)
                    write(f"{prefix}-load-debug2.txt", get(conn, "/debug/pprof/goroutine?debug=2"))
                    write(f"{prefix}-load-debug1.txt", get(conn, "/debug/pprof/goroutine?debug=1"))
            if leak:
                write(f"{prefix}-leak-debug1.txt", get(conn, "/debug/pprof/goroutineleak?debug=1"))
                write(f"{prefix}-leak-debug2.txt", get(conn, "/debug/pprof/goroutine?debug=2"))
            conn.close()


def capture_crash(minor: str, go: Path, name: str, gotraceback: str | None, busy: bool = False) -> None:
    """Run the service, request /defect/crash and keep what it printed.

    ``busy``: two clients keep CPU-bound /work requests running on other
    threads, and GODEBUG=asyncpreemptoff=1 keeps the runtime from stopping
    their loops, so GOTRACEBACK=all shows "goroutine running on other thread;
    stack unavailable" for them (with preemption they show as runnable).
    """
    with tempfile.TemporaryDirectory() as tmp:
        binary = samplekit.build_service(go, Path(tmp) / "svc")
        env = dict(os.environ)
        env.pop("GOTRACEBACK", None)
        if gotraceback:
            env["GOTRACEBACK"] = gotraceback
        env.pop("GODEBUG", None)
        if busy:
            env["GODEBUG"] = "asyncpreemptoff=1"
        proc = subprocess.Popen([str(binary), "-addr", "127.0.0.1:0"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env)
        try:
            assert proc.stdout is not None
            m = re.match(rb"listening on (\S+)", proc.stdout.readline())
            if not m:
                raise SystemExit("service did not start")
            addr = m.group(1).decode()
            conn = http.client.HTTPConnection(addr, timeout=10)
            for path in DEFECTS[:2]:
                get(conn, path)
            if busy:
                with samplekit.load(f"http://{addr}", ["/work?n=100000"], clients=2, max_seconds=10):
                    time.sleep(0.5)
                    get(conn, "/defect/crash")
                    out, _ = proc.communicate(timeout=20)
            else:
                get(conn, "/defect/crash")
                out, _ = proc.communicate(timeout=20)
            conn.close()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 2:
            raise SystemExit(f"expected exit status 2 after /defect/crash, got {proc.returncode}")
        write(name, out)


def capture_deepstack(minor: str, go: Path) -> None:
    godebug = "tracebackancestors=3"
    if minor >= "1.26":
        godebug += ",tracebacklabels=1"  # header labels: inside the brackets in 1.26, after them in 1.27
    env = samplekit.go_env(go, {"GODEBUG": godebug})
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "deepstack"
        subprocess.run([str(go), "build", "-o", str(exe), "."], cwd=DEEPSTACK, env=env, check=True)
        out = subprocess.run([str(exe)], env=env, check=True, capture_output=True, timeout=60).stdout
        write(f"go{minor}-deepstack.txt", out)
        out = subprocess.run([str(exe), "debug=1"], env=env, check=True, capture_output=True, timeout=60).stdout
        write(f"go{minor}-deepstack-debug1.txt", out)


def capture_cgo_crash(minor: str, go: Path) -> None:
    """A SIGSEGV in C code with GOTRACEBACK=system (skipped without a C compiler)."""
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        print("  no C compiler: cgo crash sample skipped", file=sys.stderr)
        return
    env = samplekit.go_env(go, {"CGO_ENABLED": "1", "GOTRACEBACK": "system"})
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "cgocrash"
        subprocess.run([str(go), "build", "-o", str(exe), "./cgocrash"], cwd=DEEPSTACK, env=env, check=True)
        proc = subprocess.run([str(exe)], env=env, capture_output=True, timeout=60)
    if proc.returncode != 2:
        raise SystemExit(f"cgocrash: expected exit status 2, got {proc.returncode}")
    write(f"go{minor}-crash-cgo-signal.txt", proc.stdout + proc.stderr)


def capture_synctest(minor: str, go: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "dump.txt"
        env = samplekit.go_env(go, {"GODEBUG": "asynctimerchan=0", "DEEPSTACK_DUMP": str(dump),
                                    "GOCACHE": str(Path(tmp) / "cache")})
        subprocess.run([str(go), "test", "-count=1", "-run", "TestBubbleDump", "."], cwd=DEEPSTACK, env=env,
                       check=True, timeout=300, stdout=subprocess.DEVNULL)
        write(f"go{minor}-synctest.txt", dump.read_bytes())


def main(argv: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    # The tests look up the defect goroutines' line numbers in the source the
    # samples were built from, so keep that source next to them.
    write("defects.go.txt", (samplekit.SERVICE_DIR / "defects.go").read_bytes())
    minors = argv or list(samplekit.GO_RELEASES)
    for minor in minors:
        go = samplekit.toolchain(samplekit.GO_RELEASES[minor])
        print(f"go {minor}: {go}", file=sys.stderr)
        capture_service(minor, go, "", build={}, env={})
        if minor == "1.26":
            capture_service(minor, go, "labels", build={"goexperiment": "goroutineleakprofile"},
                            env={"GODEBUG": "tracebacklabels=1"}, leak=True)
        if minor == "1.27":
            capture_service(minor, go, "labels", build={"go_directive": "1.27"}, env={}, leak=True)
            capture_service(minor, go, "ancestors", build={}, env={"GODEBUG": "tracebackancestors=5"},
                            load=False)
            capture_crash(minor, go, f"go{minor}-crash.txt", None)
            capture_crash(minor, go, f"go{minor}-crash-all-busy.txt", "all", busy=True)
            capture_cgo_crash(minor, go)
        if minor in ("1.21", "1.27"):
            capture_crash(minor, go, f"go{minor}-crash-system.txt", "system")
        if minor in ("1.21", "1.26", "1.27"):
            capture_deepstack(minor, go)
        if minor in ("1.25", "1.27"):
            capture_synctest(minor, go)


if __name__ == "__main__":
    main(sys.argv[1:])
