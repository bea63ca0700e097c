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
from ..runtime.pprof import PprofAccess, expand_env
from .progress import ProgressLine

__all__ = ["access_from_args", "run_triage_command"]

#: Environment variable holding the password of ``--user`` (never on the command line).
PASSWORD_ENV = "GOPERF_PPROF_PASSWORD"


def access_from_args(args: argparse.Namespace) -> PprofAccess:
    """TLS trust, headers (``${NAME}`` read from the environment) and basic auth from the command line."""
    import os

    headers = {}
    for h in args.header or ():
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise ConfigError("--header must look like 'Name: value', got a header without a colon")
        headers[name.strip()] = expand_env(value.strip(), what=f"--header {name.strip()}")
    password = None
    if args.user is not None:
        password = os.environ.get(args.password_env or PASSWORD_ENV)
        if password is None:
            raise ConfigError(f"--user needs the password in the environment variable {args.password_env or PASSWORD_ENV}")
    return PprofAccess(ca_bundle=Path(args.ca_bundle) if args.ca_bundle else None, insecure=args.insecure,
                       headers=headers, username=args.user, password=password)

def run_triage_command(args: argparse.Namespace) -> int:
    """Capture (for a URL) or read (for a folder), analyse, print; 1 when a finding reaches ``--fail-on``."""
    from ..analysis.triage.findings import analyse, dumps
    from ..analysis.triage.rules import level_rank
    from ..analysis.window import analyse_window
    from ..runtime.files import load_window
    from ..runtime.identify import identify, with_main_module

    target: str = args.target
    if "://" in target:
        check_service_url(target, "goperf triage URL", allow_remote=args.allow_remote, option="--allow-remote")
        if not all(math.isfinite(v) and v > 0 for v in (args.max_mb, args.timeout)):
            raise ConfigError("--max-mb and --timeout must be positive, finite numbers")
        limit = int(args.max_mb * (1 << 20))
        options = CaptureOptions(goroutine_profile=True, leak_profile=True, request_timeout=args.timeout,
                                 max_bytes=limit, max_dump_bytes=limit, strict=False)
        with ProgressLine() as line:
            def say(message: str) -> None:
                line.phase(message, args.seconds + 1 if "window" in message else None)

            folder = capture_folder(target, Path(args.out), seconds=args.seconds, options=options,
                                    progress=say, access=access_from_args(args), allow_remote=args.allow_remote).directory
        print(f"goperf: saved in {folder}", file=sys.stderr)
    else:
        folder = Path(target)
    window = analyse_window(load_window(folder), main_module=args.main_module, timeline=True)
    if args.main_module is None:
        # The binary the CPU profile maps, when it is on this machine, names the main module.
        window = with_main_module(window, identify(window).main_module)
    triage = analyse(window)
    if args.html:
        from ..report.html import write_report

        path = write_report(args.html, triage)
        print(f"goperf: report written to {path}", file=sys.stderr)
    print(dumps(triage) if args.json else triage.to_text())
    if args.fail_on != "never" and any(level_rank(f.level) >= level_rank(args.fail_on) for f in triage.findings):
        return 1
    return 0
