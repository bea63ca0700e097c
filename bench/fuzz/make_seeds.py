#!/usr/bin/env python3
"""Write the trace fuzz target's seeds to bench/fuzz/seeds/trace/.

* small traces of ``seedprog`` (a few milliseconds of one workload each), run
  with the ``go`` on PATH (``--go`` for another toolchain: seeds of several
  releases cover the format versions);
* the inputs of Go's own trace fuzz corpus
  (``$(go env GOROOT)/src/internal/trace/testdata/fuzz/FuzzReader/``), when present.

    python bench/fuzz/make_seeds.py [--go /path/to/go]

The seeds are not committed (they are made from the machine's toolchain in
seconds); ``fuzz.py`` reads whatever is there.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "seeds" / "trace"


def go_fuzz_corpus(goroot: Path) -> list[bytes]:
    """The []byte values of Go's trace reader fuzz corpus ("go test fuzz v1" files)."""
    out = []
    for path in sorted((goroot / "src/internal/trace/testdata/fuzz/FuzzReader").glob("*")):
        lines = path.read_text(errors="replace").splitlines()
        for line in lines[1:]:
            if line.startswith("[]byte(") and line.endswith(")"):
                # A Go escape Python lacks (\u in a byte string) skips that input.
                with contextlib.suppress(ValueError, SyntaxError):
                    out.append(ast.literal_eval("b" + line[len("[]byte("):-1]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--go", default="go", help="the go binary (default: go on PATH)")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "go.mod").write_text("module seedprog\n\ngo 1.22\n")
        (Path(tmp) / "main.go").write_bytes((HERE / "seedprog" / "main.go").read_bytes())
        subprocess.run([args.go, "build", "-o", "seedprog", "."], cwd=tmp, env=env, check=True)
        for i in range(2):  # two runs: the schedules differ
            run_dir = Path(tmp) / f"run{i}"
            run_dir.mkdir()
            subprocess.run([str(Path(tmp) / "seedprog"), "-out", str(run_dir)], env={**env, "GOMAXPROCS": "2"},
                           check=True, stdout=subprocess.DEVNULL)
            for f in run_dir.iterdir():
                (OUT / f"{f.stem}-{i}.trace").write_bytes(f.read_bytes())
    goroot = Path(subprocess.run([args.go, "env", "GOROOT"], capture_output=True, text=True, check=True).stdout.strip())
    for k, data in enumerate(go_fuzz_corpus(goroot)):
        (OUT / f"go-fuzz-corpus-{k:02d}.trace").write_bytes(data)
    sizes = sorted(f.stat().st_size for f in OUT.iterdir())
    print(f"{len(sizes)} seeds in {OUT}, {sizes[0]}-{sizes[-1]} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
