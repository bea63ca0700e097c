"""``goperf triage URL|DIR``: the command-line edge (network, files, exit status)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis.triage.findings import analyse, dumps
from ..analysis.triage.rules import level_rank
from ..errors import ConfigError
from ..runtime.triage_capture import CaptureLimits, capture
from ..runtime.triage_input import load_folder


def run_triage_command(args: argparse.Namespace) -> int:
    target: str = args.target
    if target.startswith(("http://", "https://")):
        if args.max_mb <= 0 or args.timeout <= 0:
            raise ConfigError("--max-mb and --timeout must be positive")
        limits = CaptureLimits(seconds=args.seconds, request_timeout=args.timeout,
                               max_bytes=int(args.max_mb * (1 << 20)), max_dump_bytes=int(args.max_mb * (1 << 20)))
        result = capture(target, Path(args.out), limits=limits,
                         progress=lambda msg: print(f"goperf: {msg}", file=sys.stderr))
        print(f"goperf: saved in {result.directory}", file=sys.stderr)
        folder = result.directory
    else:
        folder = Path(target)
    triage = analyse(load_folder(folder), main_module=args.main_module)
    if args.html:
        from ..report.html import write_report

        path = write_report(args.html, triage)
        print(f"goperf: report written to {path}", file=sys.stderr)
    print(dumps(triage) if args.json else triage.to_text())
    if args.fail_on != "never" and any(level_rank(f.level) >= level_rank(args.fail_on) for f in triage.findings):
        return 1
    return 0
