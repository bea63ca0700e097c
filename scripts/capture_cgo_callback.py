#!/usr/bin/env python3
"""Capture tests/samples/traces/goX.YY-cgo-callback.trace with Go's own trace test program.

``$(go env GOROOT)/src/internal/trace/testdata/testprog/cgo-callback.go``
calls into Go from C threads that Go did not create, so the trace shows the
same goroutine IDs re-created again and again (NotExist -> Syscall for each
callback). It is built with the ``go`` on PATH (cgo, so a C compiler is
needed) and run with GOMAXPROCS=2; it writes the trace to its stdout.

    python scripts/capture_cgo_callback.py [--go /path/to/go]

The test compares the trace with ``go tool trace -pprof=sched`` of the same file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from samplekit import go_facts

OUT = Path(__file__).resolve().parent.parent / "tests" / "samples" / "traces"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--go", default="go")
    args = p.parse_args()
    goroot, minor = go_facts(args.go)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "cgo-callback.go"
        src.write_bytes((goroot / "src/internal/trace/testdata/testprog/cgo-callback.go").read_bytes())
        (Path(tmp) / "go.mod").write_text("module cgocallback\n\ngo 1.22\n")
        env = {**os.environ, "CGO_ENABLED": "1"}
        # Named explicitly, the file builds despite its //go:build ignore line.
        subprocess.run([args.go, "build", "-trimpath", "-o", "cgo-callback", "cgo-callback.go"], cwd=tmp, env=env,
                       check=True)
        proc = subprocess.run([str(Path(tmp) / "cgo-callback")], env={**env, "GOMAXPROCS": "2"},
                              capture_output=True, timeout=120, check=True)
    out = OUT / f"go{minor}-cgo-callback.trace"
    out.write_bytes(proc.stdout)
    print(out, len(proc.stdout), "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
