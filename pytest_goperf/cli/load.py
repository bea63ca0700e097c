"""``goperf load URL``: a bounded HTTP/1.1 keep-alive load on a loopback service (docs/load.md)."""

from __future__ import annotations

import argparse
import json
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..load.engine import run_load
from ..load.scenario import ClosedModel, OpenModel, Request
from .progress import ProgressLine

__all__ = ["run_load_command"]


def run_load_command(args: argparse.Namespace) -> int:
    """``goperf load``: run the bounded load and print what it achieved."""

    model: OpenModel | ClosedModel
    if args.rate is not None:
        model = OpenModel(args.rate, max_in_flight=args.max_in_flight, connections=args.connections)
    else:
        model = ClosedModel(args.concurrency)
    headers = []
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep:
            raise ConfigError(f"--header {h!r} must look like 'Name: value'")
        headers.append((name.strip(), value.strip()))
    scenario = None
    if args.method != "GET" or headers or args.data is not None:
        parts = urlsplit(args.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        scenario = Request(args.method, path, headers=tuple(headers), body=(args.data or "").encode())
        args.url = f"{parts.scheme}://{parts.netloc}"
    with ProgressLine() as line:
        what = f"{args.rate:g} requests/s" if args.rate is not None else f"{args.concurrency} connections"
        warm = f" after {args.warmup:g} s warm-up" if args.warmup else ""
        line.phase(f"load on {args.url}: {what}, {args.duration:g} s{warm}", args.warmup + args.duration)
        result = run_load(
            args.url,
            scenario,
            model=model,
            duration=args.duration,
            warmup=args.warmup,
            max_requests=args.max_requests,
            timeout=args.timeout,
            allow_remote=args.allow_remote,
            use_uvloop=False if args.no_uvloop else None,
            engine=args.engine,
        )
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        print(result.to_text())
    return 0
