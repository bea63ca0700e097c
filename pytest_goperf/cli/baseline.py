"""``goperf baseline``: list, show, diff and prune a baseline store.

The argument parser is in :mod:`pytest_goperf.cli` (``_add_baseline``); this
module does the work and the printing. Errors are :class:`GoperfError` with
one-line messages, printed by the CLI.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..baseline.store import (
    BaselineStore,
    TestBaseline,
    diff,
    read_baseline_file,
)
from ..config import load_config, resolve
from ..errors import GoperfError
from ..report.text import baseline_text, number_text, text_table

__all__ = ["collect_nodeids", "find_project_root", "parse_nodeids", "run_baseline_command"]

COLLECT_TIMEOUT = 600.0


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (default: the working directory)
    holding a pyproject.toml, else ``start`` itself."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return here


def _store(args: argparse.Namespace) -> BaselineStore:
    """``--dir``, else the project's ``[tool.goperf] baselines`` (default ``.goperf/baselines``)."""
    if args.dir:
        return BaselineStore(Path(args.dir))
    root = find_project_root()
    config = load_config(root)
    return BaselineStore(resolve(config, config.baselines))


def parse_nodeids(text: str) -> list[str]:
    """Test node ids from ``pytest --collect-only -q`` output or a hand-written list.

    Lines holding ``::`` are node ids; blank lines, the "N tests collected"
    summary and anything else are skipped.
    """
    out = []
    for line in text.splitlines():
        line = line.rstrip()
        if "::" in line and not line[:1].isspace():
            out.append(line)
    return out


def collect_nodeids(root: Path, extra: Sequence[str] = ()) -> list[str]:
    """Node ids of the tests that exist now: ``python -m pytest --collect-only -q`` in ``root``.

    A collection with errors raises: pruning against a partial list would drop
    the baselines of tests that still exist.
    """
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", *extra]
    try:
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=COLLECT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise GoperfError(f"`{' '.join(cmd)}` in {root} took longer than {COLLECT_TIMEOUT:.0f} s; nothing pruned") from None
    except OSError as exc:
        raise GoperfError(f"cannot run pytest to collect tests: {exc.strerror or exc}") from None
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        raise GoperfError(
            f"test collection in {root} failed (pytest exit status {proc.returncode}: {tail}); "
            "nothing pruned: fix the collection errors or pass --tests-file"
        )
    return parse_nodeids(proc.stdout)


def _show_json(nodeid: str, tb: TestBaseline) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "updated": tb.updated,
        "environment": tb.environment.to_json() if tb.environment else None,
        "metrics": {n: {"unit": m.unit, "worse": m.worse, "values": list(m.values), "median": m.median}
                    for n, m in tb.metrics.items()},
    }


# --------------------------------------------------------------------------
# subcommands


def _cmd_list(args: argparse.Namespace) -> int:
    store = _store(args)
    entries = store.list()
    if args.json:
        print(json.dumps([
            {"nodeid": e.nodeid, "file": e.file.name, "updated": e.baseline.updated,
             "metrics": {n: len(m.values) for n, m in e.metrics.items()}}
            for e in entries
        ], indent=2, sort_keys=True))
        return 0
    if not entries:
        print(f"no baselines in {store.root}")
        return 0
    rows = [["test", "metrics", "rounds", "updated", "file"]]
    for e in entries:
        rounds = sorted({len(m.values) for m in e.metrics.values()})
        rows.append([e.nodeid, str(len(e.metrics)), "/".join(map(str, rounds)) or "-", e.baseline.updated or "?", e.file.name])
    print("\n".join(text_table(rows)))
    print(f"{len(entries)} test(s) in {len({e.file for e in entries})} file(s) under {store.root}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    target = Path(args.target)
    if target.is_file():
        tests = read_baseline_file(target)
        chosen = sorted(tests.items())
    else:
        store = _store(args)
        tb = store.load(args.target)
        if tb is None:
            known = [e.nodeid for e in store.list() if e.nodeid.split("::")[0] == args.target.split("::")[0]]
            hint = f"; that module has: {', '.join(known[:5])}" if known else f"; see `goperf baseline list --dir {store.root}`"
            raise GoperfError(f"no baseline for {args.target!r} in {store.root}{hint}")
        chosen = [(args.target, tb)]
    if args.json:
        print(json.dumps([_show_json(n, tb) for n, tb in chosen], indent=2, sort_keys=True))
    else:
        print("\n\n".join(baseline_text(n, tb) for n, tb in chosen))
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    a, b = BaselineStore(args.dir_a), BaselineStore(args.dir_b)
    for s in (a, b):
        if not s.root.is_dir():
            raise GoperfError(f"{s.root} is not a directory")
    records = diff(a, b)
    if args.json:
        print(json.dumps([r.to_json() for r in records], indent=2, sort_keys=True))
        return 0
    if not records:
        print("both stores are empty")
        return 0
    rows = [["test", "metric", "before", "after", "change", "rounds"]]
    for r in records:
        if r.metric is None:
            rows.append([r.nodeid, "(whole test)", "", "", r.status, ""])
            continue
        if r.status in ("changed", "unchanged"):
            change = "?" if r.relative_change is None else f"{r.relative_change * 100:+.1f}%"
            if r.status == "unchanged":
                change = "same values"
        else:
            change = r.status
        rows.append([r.nodeid, r.metric, number_text(r.median_a), number_text(r.median_b), change, f"{r.n_a}->{r.n_b}"])
    print("\n".join(text_table(rows)))
    return 0


def _cmd_prune(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.tests_file is not None:
        keep = _read_ids(Path(args.tests_file))
    elif args.collect:
        keep = collect_nodeids(find_project_root())
    else:
        where = Path(args.keep_from)
        if where.is_file():
            keep = _read_ids(where)
        elif where.is_dir():
            keep = collect_nodeids(where)
        else:
            raise GoperfError(f"{where} is neither a file of node ids nor a directory to collect tests in")
    if not keep:
        raise GoperfError(
            "the list of existing tests is empty; refusing to remove every baseline "
            "(check the file or the collection, or delete the directory by hand)"
        )
    removed = store.prune(keep, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for n in removed:
        print(f"{verb} {n}")
    print(f"{verb} {len(removed)} baseline(s); {len(keep)} existing test(s) given")
    return 0


def _read_ids(path: Path) -> list[str]:
    try:
        return parse_nodeids(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GoperfError(f"cannot read test list {path}: {exc.strerror or exc}") from None


_COMMANDS = {"list": _cmd_list, "show": _cmd_show, "diff": _cmd_diff, "prune": _cmd_prune}


def run_baseline_command(args: argparse.Namespace) -> int:
    """Run ``goperf baseline ACTION`` with the parsed arguments."""
    return _COMMANDS[args.action](args)
