"""Which of the Go runtime's formats a file is, from its first bytes: the one sniffer.

Used by ``goperf analyze`` (which engine reads a file) and by reading a
window's folder (which role a file captured by hand plays).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["Kind", "sniff"]

#: ``trace``: an execution trace; ``profile``: a pprof profile (gzipped or plain
#: protobuf); ``goroutines``: a debug=2 dump; ``goroutine_profile`` and
#: ``leak_profile``: debug=1 profiles of the goroutine and goroutineleak
#: endpoints; ``crash``: a crash traceback from a service's log.
Kind = Literal["trace", "profile", "goroutines", "goroutine_profile", "leak_profile", "crash"]

_CRASH_STARTS: Final = (b"panic: ", b"fatal error: ", b"SIG")


def sniff(data: bytes) -> Kind | None:
    """The kind of ``data``, or None when it is none of the formats goperf reads."""
    head = data[:64]
    if head.startswith(b"go 1.") and b" trace" in head[:24]:
        return "trace"
    if head.startswith(b"\x1f\x8b"):
        return "profile"  # pprof profiles are gzipped protobuf
    stripped = head.lstrip()
    if stripped.startswith(b"goroutine profile: total"):
        return "goroutine_profile"
    if stripped.startswith(b"goroutineleak profile: total"):
        return "leak_profile"
    if stripped.startswith(b"goroutine "):
        return "goroutines"
    if stripped.startswith(_CRASH_STARTS):
        return "crash"
    if not data:
        return None
    from .profile._decode import (
        looks_like_profile,  # Go writes protobuf fields in any order
    )
    from .profile._legacy import legacy_kind

    # A legacy (pre-protobuf) profile goes to the profile reader, which refuses it by name.
    return "profile" if looks_like_profile(data) or legacy_kind(data) is not None else None
