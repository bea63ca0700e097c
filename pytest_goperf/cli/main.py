"""The ``goperf`` command: the same engine as the pytest plugin, outside pytest.

Subcommands:

``goperf analyze FILE [--json] [--kind KIND] [--wakeups]``
    Summarise a captured goroutine dump, execution trace or pprof profile.
``goperf analyze TRACE --transitions [--goid N] [--from S] [--to S] [--since T] [--until T] [--json]``
    Print a trace's goroutine state transitions that pass the filters, one a line.
``goperf load URL (--rate R | --concurrency C) --duration D [--json]``
    Bounded HTTP/1.1 keep-alive load on a loopback service (docs/load.md).
``goperf baseline list | show | diff | prune``
    Manage the stored performance baselines (docs/baselines.md).
``goperf triage URL | DIR [--seconds S] [--html PATH] [--json] [--fail-on LEVEL]``
    Capture one window of a live service (or read a saved folder) and rank root causes (docs/triage.md).

Every error the package raises on purpose is printed as one line
``goperf: error: ...`` with exit status 2; a traceback means a bug in goperf.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .. import __version__
from ..errors import GoperfError
from .analyze import KINDS

Handler = Callable[[argparse.Namespace], int]
if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def _run_analyze(args: argparse.Namespace) -> int:
    from .analyze import run_analyze_command

    return run_analyze_command(args)


def _run_load(args: argparse.Namespace) -> int:
    # Imported here so that other subcommands do not pay for the load engine.
    from .load import run_load_command

    return run_load_command(args)


def _add_analyze(sub: SubParsers) -> None:
    p = sub.add_parser(
        "analyze",
        help="summarise a goroutine dump, execution trace, pprof profile, or a window's folder",
        description="Summarise a captured file (its kind is recognised from its first bytes), or every file of a "
        "window's folder (a measurement round or a goperf triage capture).",
    )
    p.add_argument("file", help="the file or folder to read ('-' for standard input)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON (keys in the README)")
    p.add_argument("--kind", choices=sorted(KINDS), help="skip detection and read the file as this kind")
    p.add_argument("--wakeups", action="store_true",
                   help="trace: also summarise who woke each blocked goroutine (top blocker -> waker pairs)")
    t = p.add_argument_group(
        "transitions", "trace: print goroutine state transitions instead of the summary, one a line (JSON lines "
        "with --json); the filters combine")
    t.add_argument("--transitions", action="store_true", help="print the transitions that pass the filters")
    t.add_argument("--goid", type=int, action="append", metavar="N", help="only goroutine N (repeatable)")
    t.add_argument("--from", dest="from_state", action="append", metavar="STATE",
                   help="only transitions from STATE (Running, Runnable, Waiting, Syscall, NotExist, Undetermined; "
                   "repeatable)")
    t.add_argument("--to", dest="to_state", action="append", metavar="STATE", help="only transitions to STATE (repeatable)")
    t.add_argument("--since", metavar="T", help="from T after the trace start: nanoseconds, or a duration (1.5ms, 2s)")
    t.add_argument("--until", metavar="T", help="up to T after the trace start (inclusive)")
    p.set_defaults(handler=_run_analyze)


def _add_load(sub: SubParsers) -> None:
    p = sub.add_parser(
        "load",
        help="drive a bounded HTTP/1.1 load against a local service and report rate and latency",
        description="Send keep-alive HTTP/1.1 requests to URL at a constant rate (--rate, open model: latency "
        "counts from each request's due time) or from C concurrent connections (--concurrency, closed model), "
        "then print the achieved rate, status counts and latency percentiles. Loopback targets only unless "
        "--allow-remote.",
    )
    p.add_argument("url", help="http://127.0.0.1:PORT/path?query to request")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--rate", type=float, metavar="R", help="open model: R requests per second")
    how.add_argument("--concurrency", type=int, metavar="C", help="closed model: C connections sending back to back")
    p.add_argument("--duration", type=float, required=True, metavar="D", help="measured seconds (after --warmup)")
    p.add_argument("--warmup", type=float, default=0.0, metavar="W", help="seconds of unmeasured load first (default 0)")
    p.add_argument("--max-requests", type=int, metavar="N", help="stop after N measured requests")
    p.add_argument("--timeout", type=float, default=10.0, metavar="T", help="seconds before a request fails (default 10)")
    p.add_argument("--max-in-flight", type=int, default=None, metavar="N",
                   help="open model: cap on outstanding requests; more are dropped "
                   "(default: half a second's worth, at least 1024)")
    p.add_argument("--connections", type=int, default=64, metavar="N",
                   help="open model: cap on connections; requests due while all are busy wait for one (default 64)")
    p.add_argument("--method", default="GET", help="HTTP method (default GET)")
    p.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'",
                   help="extra request header (repeatable)")
    p.add_argument("--data", metavar="BODY", help="request body")
    p.add_argument("--allow-remote", action="store_true", help="allow a target that is not a loopback address")
    p.add_argument("--engine", choices=["go", "python"], default=None,
                   help="go: the Go load worker (built on first use with the go on PATH); python: the asyncio "
                   "engine (the default)")
    p.add_argument("--no-uvloop", action="store_true",
                   help="python engine: use asyncio's own event loop even if uvloop is installed (implies --engine python)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (keys in docs/load.md)")
    p.set_defaults(handler=_run_load)


def _add_baseline(sub: SubParsers) -> None:
    def run(args: argparse.Namespace) -> int:
        # Imported here so that other subcommands do not pay for it.
        from .baseline import run_baseline_command

        return run_baseline_command(args)

    p = sub.add_parser(
        "baseline",
        help="list, show, diff and prune stored baselines",
        description="Inspect and maintain a baseline store (default: .goperf/baselines/ in the project root, "
        "the nearest directory above the working directory with a pyproject.toml). Record or refresh "
        "baselines with pytest --goperf-update-baselines.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    dir_help = ("the baseline directory (default: [tool.goperf] baselines of the nearest pyproject.toml, "
                "else PROJECT_ROOT/.goperf/baselines)")
    a = actions.add_parser("list", help="one line per stored test")
    a.add_argument("--dir", metavar="D", help=dir_help)
    a.add_argument("--json", action="store_true", help="print JSON (keys in docs/baselines.md)")
    a = actions.add_parser("show", help="the metrics, rounds and environment of one test or one file")
    a.add_argument("target", metavar="NODEID_OR_FILE", help="a test node id, or the path of a baseline file")
    a.add_argument("--dir", metavar="D", help=dir_help)
    a.add_argument("--json", action="store_true", help="print JSON, every round's value included")
    a = actions.add_parser("diff", help="compare two baseline directories test by test, metric by metric")
    a.add_argument("dir_a", metavar="DIR_A", help="the 'before' store")
    a.add_argument("dir_b", metavar="DIR_B", help="the 'after' store")
    a.add_argument("--json", action="store_true", help="print JSON (keys in docs/baselines.md)")
    a = actions.add_parser(
        "prune",
        help="remove the baselines of tests that no longer exist",
        description="Remove every stored test whose node id is not in the list of existing tests.",
    )
    known = a.add_mutually_exclusive_group(required=True)
    known.add_argument("--tests-file", metavar="F", help="existing node ids, one a line (e.g. `pytest --collect-only -q` output)")
    known.add_argument("--collect", action="store_true", help="run `python -m pytest --collect-only -q` in the project root")
    known.add_argument("--keep-from", metavar="FILE_OR_DIR", help="a node-id file, or a directory to collect tests in")
    a.add_argument("--dir", metavar="D", help=dir_help)
    a.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    p.set_defaults(handler=run)


def _add_triage(sub: SubParsers) -> None:
    def run(args: argparse.Namespace) -> int:
        # Imported here so that other subcommands do not pay for the trace reader and the report.
        from .triage import run_triage_command

        return run_triage_command(args)

    p = sub.add_parser(
        "triage",
        help="why is this Go service busy? capture a window from its pprof endpoint and rank the causes",
        description="Capture a bounded window of a live Go service (execution trace and CPU profile of the same "
        "seconds, goroutine dumps, the leak profile where served) into a timestamped folder, or re-read a saved "
        "folder, then print the probable causes, most likely first, with their evidence. Exit status 1 when a "
        "finding reaches --fail-on (for health checks), 2 on errors. Keys and rules: docs/triage.md.",
    )
    p.add_argument("target", metavar="URL_OR_DIR", help="a pprof base URL (http://127.0.0.1:6060) or a folder of captured files")
    p.add_argument("--seconds", type=float, default=10.0, metavar="S",
                   help="length of the captured window (default 10, at most 60)")
    p.add_argument("--out", default="goperf-triage", metavar="DIR",
                   help="where the timestamped capture folder goes (default ./goperf-triage)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="T",
                   help="seconds each request may take beyond the window (default 10)")
    p.add_argument("--max-mb", type=float, default=64.0, metavar="MB", help="largest file accepted from the service (default 64)")
    p.add_argument("--main-module", metavar="PATH", help="the service's module path, so its packages count as user code "
                   "(default: from the build info of the binary the CPU profile names, when it is on this machine)")
    p.add_argument("--ca-bundle", metavar="PEM", help="trust these certificates for an https:// pprof URL "
                   "(default: SSL_CERT_FILE, else the system's store)")
    p.add_argument("--insecure", action="store_true", help="do not verify the pprof endpoint's certificate")
    p.add_argument("--header", action="append", metavar="'NAME: VALUE'",
                   help="extra request header for pprof, repeatable; ${NAME} in VALUE is read from the environment "
                   "(quote it: --header 'Authorization: Bearer ${PPROF_TOKEN}')")
    p.add_argument("--user", metavar="USER", help="basic auth user; the password is read from GOPERF_PPROF_PASSWORD")
    p.add_argument("--password-env", metavar="NAME", help="read the --user password from this environment variable")
    p.add_argument("--fail-on", choices=("warning", "error", "never"), default="error",
                   help="exit 1 when a finding reaches this level (default error)")
    p.add_argument("--html", metavar="PATH", help="also write the self-contained HTML report here")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a URL whose host is not a loopback address (e.g. a container reached by name)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (keys in docs/triage.md)")
    p.set_defaults(handler=run)


# Each subcommand registers itself here; keep them in the order of --help.
SUBCOMMANDS: list[Callable[[SubParsers], None]] = [_add_analyze, _add_load, _add_baseline, _add_triage]


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
