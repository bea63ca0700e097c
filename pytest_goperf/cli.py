"""The ``goperf`` command: the same engine as the pytest plugin, outside pytest.

Subcommands:

``goperf analyze FILE [--json] [--kind KIND]``
    Summarise a captured goroutine dump, execution trace or pprof profile.

Every error the package raises on purpose is printed as one line
``goperf: error: ...`` with exit status 2; a traceback means a bug in goperf.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Sequence

from . import __version__
from .analyze import KINDS, analyze_bytes
from .errors import GoperfError

Handler = Callable[[argparse.Namespace], int]


def _cmd_analyze(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else path.read_bytes()
    except OSError as exc:
        raise GoperfError(f"cannot read {path}: {exc.strerror or exc}") from None
    summary = analyze_bytes(data, args.kind)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2, sort_keys=True))
    else:
        print(summary.to_text())
    return 0


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="summarise a goroutine dump, execution trace or pprof profile",
        description="Summarise a captured file; its kind is recognised from its first bytes.",
    )
    p.add_argument("file", help="the file to read ('-' for standard input)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (keys in the README)")
    p.add_argument("--kind", choices=sorted(KINDS), help="skip detection and read the file as this kind")
    p.set_defaults(handler=_cmd_analyze)


# Each subcommand registers itself here; keep them in the order of --help.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_analyze]


def build_parser() -> argparse.ArgumentParser:
    """The ``goperf`` argument parser (also used by the docs and tests)."""
    parser = argparse.ArgumentParser(prog="goperf", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``goperf`` console script."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except GoperfError as exc:
        print(f"goperf: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("goperf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
