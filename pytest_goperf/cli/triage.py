"""``goperf triage URL|DIR``: the command-line edge (network, files, exit status).

A URL is captured into a new timestamped folder first (the same files a
measurement round writes), then the folder is read back and analysed: a live
window and a saved one take the same path.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..config import check_service_url
from ..errors import ConfigError
from ..runtime.capture import CaptureOptions, capture_folder

__all__ = ["run_triage_command"]

def run_triage_command(args: argparse.Namespace) -> int:
    """Capture (for a URL) or read (for a folder), analyse, print; 1 when a finding reaches ``--fail-on``."""
    from ..analysis.triage.findings import analyse, dumps
    from ..analysis.triage.rules import level_rank
    from ..runtime.files import load_window

    target: str = args.target
    if "://" in target:
        check_service_url(target, "goperf triage URL", allow_remote=args.allow_remote, option="--allow-remote")
        if not all(math.isfinite(v) and v > 0 for v in (args.max_mb, args.timeout)):
            raise ConfigError("--max-mb and --timeout must be positive, finite numbers")
        limit = int(args.max_mb * (1 << 20))
        options = CaptureOptions(goroutine_profile=True, leak_profile=True, request_timeout=args.timeout,
                                 max_bytes=limit, max_dump_bytes=limit, strict=False)
        folder = capture_folder(target, Path(args.out), seconds=args.seconds, options=options, allow_remote=args.allow_remote,
                                progress=lambda msg: print(f"goperf: {msg}", file=sys.stderr)).directory
        print(f"goperf: saved in {folder}", file=sys.stderr)
    else:
        folder = Path(target)
    triage = analyse(load_window(folder), main_module=args.main_module)
    if args.html:
        from ..report.html import write_report

        path = write_report(args.html, triage)
        print(f"goperf: report written to {path}", file=sys.stderr)
    print(dumps(triage) if args.json else triage.to_text())
    if args.fail_on != "never" and any(level_rank(f.level) >= level_rank(args.fail_on) for f in triage.findings):
        return 1
    return 0
