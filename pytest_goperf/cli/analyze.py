"""``goperf analyze FILE|DIR``: recognise a captured file (or a window's folder) and summarise it.

Each engine's summary module (goroutine dumps, execution traces, pprof
profiles) exposes ``summarize(data: bytes) -> Summary``; this module only
recognises which engine a file belongs to (:func:`~pytest_goperf.formats.sniff.sniff`)
and dispatches to it. A folder is read as one window
(:func:`~pytest_goperf.runtime.files.load_window`) and analysed once
(:func:`~pytest_goperf.analysis.window.analyse_window`), as measurement rounds
and ``goperf triage`` do; each captured part is then summarised.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import GoperfError, UsageError
from ..formats.sniff import sniff

__all__ = ["KINDS", "Summary", "WindowSummary", "analyze_bytes", "analyze_folder", "detect_kind",
           "parse_duration_ns", "run_analyze_command", "transition_lines"]


class Summary(Protocol):
    """What every engine's ``summarize`` returns."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable ``"kind"`` key (documented in the README)."""

    def to_text(self) -> str:
        """A human-readable rendering for the terminal."""


# kind -> (module, function); imported lazily so that reading a dump does not
# pay for importing the trace reader or scipy.
KINDS: dict[str, tuple[str, str]] = {
    "goroutines": ("pytest_goperf.analysis.goroutine_summary", "summarize"),
    "trace": ("pytest_goperf.analysis.trace_summary", "summarize"),
    "profile": ("pytest_goperf.analysis.profile_summary", "summarize"),
}
# What each sniffed format is summarised as.
_ENGINE = {"trace": "trace", "profile": "profile", "goroutines": "goroutines", "goroutine_profile": "goroutines",
           "leak_profile": "goroutines", "crash": "goroutines"}


def detect_kind(data: bytes) -> str:
    """The engine for a captured file, from its first bytes (``trace``, ``profile`` or ``goroutines``).

    :raises GoperfError: when the bytes match none of the formats.
    """
    kind = sniff(data)
    if kind is not None:
        return _ENGINE[kind]
    if not data:
        raise GoperfError("the file is empty: nothing to analyse")
    raise GoperfError(
        "not a file goperf can read: expected a Go execution trace (starts with 'go 1.NN trace'), "
        "a pprof profile (gzipped protobuf) or a goroutine dump (starts with 'goroutine '); "
        f"it starts with {data[:16]!r}"
    )


def analyze_bytes(data: bytes, kind: str | None = None) -> Summary:
    """Summarise ``data`` with the engine for ``kind`` (detected when ``None``)."""
    kind = kind or detect_kind(data)
    try:
        module_name, func_name = KINDS[kind]
    except KeyError:
        raise GoperfError(f"unknown kind {kind!r}: choose one of {', '.join(sorted(KINDS))}") from None
    summarize = getattr(importlib.import_module(module_name), func_name)
    result: Summary = summarize(data)
    return result


@dataclass(frozen=True)
class WindowSummary:
    """Every captured part of one window's folder, each summarised by its engine."""

    source: str
    seconds: float | None
    parts: Mapping[str, Summary]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """``{"kind": "window", "source", "seconds", "parts": {role: summary}, "notes"}``."""
        return {
            "kind": "window",
            "source": self.source,
            "seconds": self.seconds,
            "parts": {role: s.to_json() for role, s in self.parts.items()},
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        """Each part under a heading naming its file."""
        out = [f"window {self.source}" + (f", {self.seconds:g} s" if self.seconds else "")]
        for role, s in self.parts.items():
            out += ["", f"== {role.replace('_', ' ')}", s.to_text()]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def analyze_folder(path: Path, *, wakeups: bool = False) -> WindowSummary:
    """Read a window's folder and summarise every part, through the one analysis of a window."""
    from ..analysis.goroutine_summary import profile_summary_of, summary_of
    from ..analysis.profile_summary import ProfileSummary
    from ..analysis.trace_summary import TraceSummary
    from ..analysis.window import analyse_window
    from ..runtime.files import load_window

    a = analyse_window(load_window(path), wakeups=wakeups)
    parts: dict[str, Summary] = {}
    if a.trace is not None:
        parts["trace"] = TraceSummary(a.trace)
    if a.profile is not None and a.cpu is not None:
        parts["cpu_profile"] = ProfileSummary(a.profile, a.cpu)
    if a.raw.goroutines_start is not None:
        parts["goroutines_start"] = summary_of(a.goroutines_start)
    if a.raw.goroutines_end is not None:
        parts["goroutines_end"] = summary_of(a.goroutines_end)
    if a.goroutine_profile is not None:
        parts["goroutine_profile"] = profile_summary_of(a.goroutine_profile)
    if a.leak_profile is not None:
        parts["leak_profile"] = profile_summary_of(a.leak_profile)
    return WindowSummary(a.raw.source, a.seconds, parts, a.raw.notes)


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
            "h": 3600 * 10**9}


def parse_duration_ns(text: str, what: str = "time") -> int:
    """Nanoseconds from ``"1500000"`` (ns), or a Go-style duration: ``"1.5ms"``, ``"2s"``, ``"1m30s"``, ``"300us"``."""
    t = text.strip()
    if t.isdigit():
        return int(t)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(t):
        if m.start() != pos:
            break
        total += float(m[1]) * _UNIT_NS[m[2]]
        pos = m.end()
    if not t or pos != len(t):
        raise UsageError(f"{what} {text!r} is not a duration: give nanoseconds (1500000) or a duration "
                         "such as 1.5ms, 300us, 2s, 1m30s")
    return round(total)


def transition_lines(data: bytes, args: argparse.Namespace) -> Iterator[str]:
    """The transitions of ``data`` that pass the command line's filters, one line (or JSON object) each."""
    from ..analysis.wakeups import site_of
    from ..formats.trace.reader import TraceReader

    reader = TraceReader(data)
    since = None if args.since is None else parse_duration_ns(args.since, "--since")
    until = None if args.until is None else parse_duration_ns(args.until, "--until")
    for ev in reader.transitions(goroutines=args.goid, from_states=args.from_state, to_states=args.to_state,
                                 since_ns=since, until_ns=until, changes_only=True):
        rel = ev.time_ns - (reader.start_ns or 0)
        top = ev.stack[0] if ev.stack else None
        site = site_of(ev.stack) if ev.stack else None
        if args.json:
            yield json.dumps({"time_ns": ev.time_ns, "since_start_ns": rel, "goroutine": ev.goroutine,
                              "from": ev.from_state, "to": ev.to_state, "reason": ev.reason,
                              "frame": str(top) if top else None, "site": site, "stack": [str(f) for f in ev.stack],
                              "m": ev.m, "p": ev.p, "g": ev.g}, sort_keys=True)
        else:
            # A goroutine made runnable while another ran: that one woke it (its stack is the event's).
            woke = ev.from_state == "Waiting" and ev.g >= 0 and ev.g != ev.goroutine
            by = f" by G{ev.g}" if woke else ""
            yield (f"{rel / 1e6:12.6f} ms  G{ev.goroutine:<7} {ev.from_state + '->' + ev.to_state:<22} "
                   f"{json.dumps(ev.reason)}{by}  {top if top else '-'}"
                   + (f"  in {site}" if top and site != top.function else ""))


def run_analyze_command(args: argparse.Namespace) -> int:
    """``goperf analyze``: print the summary of a file, standard input or a window's folder."""
    path = Path(args.file)
    summary: Summary
    transitions = getattr(args, "transitions", False)
    wakeups = getattr(args, "wakeups", False)
    filters = [f"--{n.replace('_state', '')}" for n in ("goid", "from_state", "to_state", "since", "until")
               if getattr(args, n, None) is not None]
    if filters and not transitions:
        raise UsageError(f"{', '.join(filters)} filter transitions: add --transitions")
    if args.file != "-" and path.is_dir():
        if transitions:
            raise UsageError(f"--transitions reads one trace file, not a folder: give {path / 'trace.out'}")
        summary = analyze_folder(path, wakeups=wakeups)
    else:
        try:
            data = sys.stdin.buffer.read() if args.file == "-" else path.read_bytes()
        except OSError as exc:
            raise GoperfError(f"cannot read {path}: {exc.strerror or exc}") from None
        kind = args.kind or detect_kind(data)
        if (transitions or wakeups) and kind != "trace":
            raise UsageError(f"--{'transitions' if transitions else 'wakeups'} reads an execution trace; "
                             f"this file is a {kind} file")
        if transitions:
            for line in transition_lines(data, args):
                print(line)
            return 0
        if wakeups:
            from ..analysis.trace_summary import summarize

            summary = summarize(data, wakeups=True)
        else:
            summary = analyze_bytes(data, kind)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2, sort_keys=True))
    else:
        print(summary.to_text())
    return 0
