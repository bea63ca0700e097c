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
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..errors import GoperfError
from ..formats.sniff import sniff

__all__ = ["KINDS", "Summary", "WindowSummary", "analyze_bytes", "analyze_folder", "detect_kind",
           "run_analyze_command"]


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


def analyze_folder(path: Path) -> WindowSummary:
    """Read a window's folder and summarise every part, through the one analysis of a window."""
    from ..analysis.goroutine_summary import profile_summary_of, summary_of
    from ..analysis.profile_summary import ProfileSummary
    from ..analysis.trace_summary import TraceSummary
    from ..analysis.window import analyse_window
    from ..runtime.files import load_window

    a = analyse_window(load_window(path))
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


def run_analyze_command(args: argparse.Namespace) -> int:
    """``goperf analyze``: print the summary of a file, standard input or a window's folder."""
    path = Path(args.file)
    summary: Summary
    if args.file != "-" and path.is_dir():
        summary = analyze_folder(path)
    else:
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
