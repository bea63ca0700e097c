#!/usr/bin/env python3
"""Coverage-guided fuzzing of goperf's readers with atheris (libFuzzer for Python).

    pip install atheris            # into any environment that can import pytest_goperf
    python bench/fuzz/fuzz.py TARGET [--runs 1000000] [--timeout 10] [--rss-mb 2048]
    python bench/fuzz/fuzz.py all --runs 1000000    # each target in turn

Targets (``bench/fuzz/targets.py``): ``dump``, ``trace``, ``profile``,
``buildinfo``, ``baseline``, ``config``. Each is seeded from ``tests/samples/``
(traces also from ``bench/fuzz/seeds/trace/``, made by ``make_seeds.py``).

Limits: ``--timeout`` seconds per input (libFuzzer's ``-timeout``: an input
that takes longer is a finding, "hang") and ``--rss-mb`` of resident memory
(libFuzzer's ``-rss_limit_mb``: "memory"). An exception that is not a
``GoperfError`` is a finding too ("crash").

The campaign runs in a child process that a parent restarts after each
finding, so one finding does not end it: the parent keeps count, saves each
distinct finding (``WORKDIR/TARGET/findings/``: the input, and the traceback
or libFuzzer's report) and writes ``WORKDIR/TARGET/result.json`` (inputs run,
seconds, new corpus entries, findings). The corpus grows in
``WORKDIR/TARGET/corpus`` and is reused by the next run. Run it niced, in the
background: ``nice -n 10 python bench/fuzz/fuzz.py trace --runs 1000000 &``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

DEFAULT_WORKDIR = Path(os.environ.get("GOPERF_FUZZ_DIR", "/tmp/goperf-fuzz"))
_COUNT_EVERY = 1000


def _signature(exc: BaseException) -> str:
    """Exception type and the innermost frame in pytest_goperf: one finding however often it recurs."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "pytest_goperf" in f.filename] or frames
    last = ours[-1] if ours else None
    where = f"{Path(last.filename).name}:{last.lineno}" if last else "?"
    return f"{type(exc).__name__} at {where}"


def child(args: argparse.Namespace) -> None:
    """Run libFuzzer on one target in this process (started by :func:`parent`)."""
    import atheris

    with atheris.instrument_imports(include=["pytest_goperf"]):
        import importlib
        import pkgutil

        import pytest_goperf

        for info in pkgutil.walk_packages(pytest_goperf.__path__, "pytest_goperf."):
            if ".plugin" in info.name:
                continue  # the pytest edge: not on any reader's path
            importlib.import_module(info.name)
    from targets import TARGETS

    target = TARGETS[args.target]
    work = args.workdir / args.target
    findings = work / "findings"
    count_file = work / "count"
    seen = {p.stem for p in findings.glob("*.txt")}
    state = {"n": 0}

    def one(data: bytes) -> None:
        state["n"] += 1
        if state["n"] % _COUNT_EVERY == 0:
            count_file.write_text(str(state["n"]))
        try:
            target.run(data)
        except Exception as exc:
            sig = _signature(exc)
            key = hashlib.sha1(sig.encode()).hexdigest()[:12]
            if key not in seen:
                seen.add(key)
                (findings / f"{key}.bin").write_bytes(data)
                (findings / f"{key}.txt").write_text(f"crash: {sig}\n\n" + "".join(traceback.format_exception(exc)))
            if not args.keep_going:
                raise

    libfuzzer = [
        sys.argv[0], str(work / "corpus"), str(work / "seeds"),
        f"-runs={args.runs}", f"-timeout={args.timeout}", f"-rss_limit_mb={args.rss_mb}",
        f"-max_len={args.max_len or target.max_len}", f"-artifact_prefix={findings}/", "-print_final_stats=1",
        "-close_fd_mask=1",  # the targets print nothing worth keeping
    ]
    atheris.Setup(libfuzzer, one)
    atheris.Fuzz()


def _prepare(name: str, workdir: Path) -> Path:
    from targets import TARGETS

    work = workdir / name
    for sub in ("seeds", "corpus", "findings"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    for data in TARGETS[name].seeds():
        digest = hashlib.sha1(data).hexdigest()
        (work / "seeds" / digest).write_bytes(data)
    return work


_DONE_RE = re.compile(r"Done (\d+) runs in (\d+) second")
_KIND_RE = re.compile(r"ERROR: libFuzzer: (timeout|out-of-memory|deadly signal)|==\d+== ERROR: libFuzzer: (\S+)")


def parent(name: str, args: argparse.Namespace) -> dict[str, object]:
    """Fuzz ``name`` until ``args.runs`` inputs have run, restarting the child after each finding."""
    from targets import TARGETS

    work = _prepare(name, args.workdir)
    corpus_before = len(list((work / "corpus").iterdir()))
    total = 0
    started = time.monotonic()
    findings: list[dict[str, str]] = []
    log = work / "fuzz.log"
    restarts = 0
    while total < args.runs and restarts <= args.max_restarts:
        count_file = work / "count"
        count_file.write_text("0")
        before = {p.name for p in (work / "findings").iterdir()}
        cmd = [sys.executable, __file__, name, "--child", f"--runs={args.runs - total}", f"--timeout={args.timeout}",
               f"--rss-mb={args.rss_mb}", f"--workdir={args.workdir}", f"--max-len={args.max_len}"]
        if args.keep_going:
            cmd.append("--keep-going")
        with log.open("a") as fh:
            fh.write(f"\n=== {' '.join(cmd)}\n")
            fh.flush()
            proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False)
        tail = log.read_text(errors="replace")[-20000:]
        done = _DONE_RE.findall(tail)
        ran = int(done[-1][0]) if done and proc.returncode == 0 else int(count_file.read_text() or 0)
        total += ran
        added = sorted({p.name for p in (work / "findings").iterdir()} - before)
        for new in added:
            if new.endswith(".bin"):
                continue  # the input of a finding whose report (.txt) is listed
            kind = _KIND_RE.search(tail)
            findings.append({"file": new, "kind": (kind.group(1) or kind.group(2)) if kind else "crash"})
        if proc.returncode == 0:
            break
        if ran == 0 and not added:
            # the child died before its first input (an import error, a bad option): no campaign at all
            raise SystemExit(f"fuzz child for {name!r} failed before running any input (exit {proc.returncode});"
                             f" see {log}:\n{tail[-3000:]}")
        restarts += 1
    result = {
        "target": name,
        "inputs": total,
        "seconds": round(time.monotonic() - started, 1),
        "corpus_added": len(list((work / "corpus").iterdir())) - corpus_before,
        "findings": findings,
        "restarts": restarts,
        "timeout_s": args.timeout,
        "rss_limit_mb": args.rss_mb,
        "max_len": args.max_len or TARGETS[name].max_len,
    }
    (work / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    from targets import TARGETS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", choices=[*TARGETS, "all"])
    p.add_argument("--runs", type=int, default=1_000_000, help="inputs to run (default 1,000,000)")
    p.add_argument("--timeout", type=int, default=10, help="seconds one input may take (default 10)")
    p.add_argument("--rss-mb", type=int, default=2048, help="resident memory limit in MB (default 2048)")
    p.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"corpus and findings (default {DEFAULT_WORKDIR})")
    p.add_argument("--max-len", type=int, default=0,
                   help="longest input the fuzzer makes, bytes (default: the target's own, e.g. 16 KiB for traces)")
    p.add_argument("--keep-going", action="store_true", help="log an exception and go on instead of restarting")
    p.add_argument("--max-restarts", type=int, default=50, help="give up after this many findings that end the child")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0
    names = list(TARGETS) if args.target == "all" else [args.target]
    for name in names:
        result = parent(name, args)
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
