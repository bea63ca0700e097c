"""``goperf analyze``: recognise a captured file and summarise it.

Each engine module (goroutine dumps, execution traces, CPU and other pprof
profiles) exposes ``summarize(data: bytes) -> Summary``; this module only
recognises which engine a file belongs to and dispatches to it, so the command
line, pytest and tests share one path from bytes to summary.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from ..errors import GoperfError

__all__ = ["KINDS", "Summary", "analyze_bytes", "detect_kind"]


class Summary(Protocol):
    """What every engine's ``summarize`` returns."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable ``"kind"`` key (documented in the README)."""

    def to_text(self) -> str:
        """A human-readable rendering for the terminal."""


# kind -> (module, function); imported lazily so that reading a dump does not
# pay for importing the trace reader or scipy.
KINDS: dict[str, tuple[str, str]] = {
    "goroutines": ("pytest_goperf.formats.goroutines", "summarize"),
    "trace": ("pytest_goperf.analysis.trace_summary", "summarize"),
    "profile": ("pytest_goperf.analysis.profile_summary", "summarize"),
}


def detect_kind(data: bytes) -> str:
    """Return the kind of a captured file from its first bytes.

    Raises :class:`GoperfError` when the bytes match none of the formats.
    """
    head = data[:64]
    if head.startswith(b"go 1.") and b" trace" in head[:24]:
        return "trace"
    if head.startswith(b"\x1f\x8b"):
        return "profile"  # pprof profiles are gzipped protobuf
    stripped = head.lstrip()
    if stripped.startswith((b"goroutine ", b"goroutineleak profile:")):
        return "goroutines"
    if stripped.startswith((b"panic: ", b"fatal error: ", b"SIG")):
        return "goroutines"  # a crash traceback from a service log
    if not data:
        raise GoperfError("the file is empty: nothing to analyse")
    from ..formats.profile._decode import looks_like_profile

    if looks_like_profile(data):
        return "profile"
    raise GoperfError(
        "not a file goperf can read: expected a Go execution trace (starts with 'go 1.NN trace'), "
        "a pprof profile (gzipped protobuf) or a goroutine dump (starts with 'goroutine '); "
        f"it starts with {head[:16]!r}"
    )


def analyze_bytes(data: bytes, kind: str | None = None) -> Summary:
    """Summarise ``data`` with the engine for ``kind`` (detected when ``None``)."""
    kind = kind or detect_kind(data)
    try:
        module_name, func_name = KINDS[kind]
    except KeyError:
        raise GoperfError(f"unknown kind {kind!r}: choose one of {', '.join(sorted(KINDS))}") from None
    summarize = getattr(importlib.import_module(module_name), func_name)
    return summarize(data)
