#!/usr/bin/env python3
"""Capture tests/samples/goroutines/goX.YY-crash-badtraceback.txt from Go's own test program.

``$(go env GOROOT)/src/runtime/testdata/testprog/badtraceback.go`` (the
runtime's TestBadTraceback) smashes a return PC and panics, so the runtime
prints its unwinding diagnostics inside the crashing goroutine's traceback:
``runtime: g N: unexpected return pc for main.badLR2 called from 0xbad``,
``stack: frame={sp:..., fp:...} stack=[...)`` and a hex dump of the stack with
``^ <func+0x..>``, ``^ SP`` and ``^ FP`` markers. The file is copied from the
toolchain into a temporary module (with a two-line main that registers it, as
testprog's main.go does), built with the ``go`` on PATH and run with
GOTRACEBACK=all; its whole output is the sample.

    python scripts/capture_badtraceback.py [--go /path/to/go]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from samplekit import go_facts

OUT = Path(__file__).resolve().parent.parent / "tests" / "samples" / "goroutines"
MAIN = """package main

var cmds = map[string]func(){}

func register(name string, f func()) { cmds[name] = f }

func main() { cmds["BadTraceback"]() }
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--go", default="go")
    args = p.parse_args()
    goroot, minor = go_facts(args.go)
    with tempfile.TemporaryDirectory() as tmp:
        src = goroot / "src/runtime/testdata/testprog/badtraceback.go"
        (Path(tmp) / "badtraceback.go").write_bytes(src.read_bytes())
        (Path(tmp) / "main.go").write_text(MAIN)
        (Path(tmp) / "go.mod").write_text("module badtraceback\n\ngo 1.22\n")
        env = {**os.environ, "CGO_ENABLED": "0"}
        subprocess.run([args.go, "build", "-trimpath", "-o", "badtraceback", "."], cwd=tmp, env=env, check=True)
        proc = subprocess.run([str(Path(tmp) / "badtraceback")], env={**env, "GOTRACEBACK": "all"},
                              capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 2 or "unexpected return pc" not in proc.stderr:
        raise SystemExit(f"expected exit status 2 and the bad-return-pc diagnostics, got {proc.returncode}")
    out = OUT / f"go{minor}-crash-badtraceback.txt"
    out.write_text(proc.stdout + proc.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
