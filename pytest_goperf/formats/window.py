"""One captured window as raw bytes, and the one table of its file names.

A window is what the service said about a stretch of time: an execution
trace and a CPU profile of the same seconds, goroutine dumps just before and
just after, and (where served) the goroutine and leak profiles and the heap
profile. :class:`RawWindow` holds the bytes exactly as the service sent them;
:func:`~pytest_goperf.analysis.window.analyse_window` turns them into records,
whether they came from a measurement round, ``goperf triage`` or a folder on
disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from ..load.result import LoadResult

__all__ = ["FILE_NAMES", "LEGACY_FILE_NAMES", "ROLES", "RawWindow", "Role", "WindowFiles"]

Role = Literal[
    "trace", "cpu_profile", "goroutines_start", "goroutines_end", "goroutine_profile", "leak_profile", "heap",
    "load", "meta",
]

#: Role -> file name in a window's folder (measurement rounds and ``goperf triage`` alike).
FILE_NAMES: Final[Mapping[Role, str]] = MappingProxyType({
    "trace": "trace.out",  # /debug/pprof/trace?seconds=S: opens in `go tool trace`
    "cpu_profile": "cpu.pprof",  # /debug/pprof/profile?seconds=S: opens in `go tool pprof`
    "goroutines_start": "goroutines-start.txt",  # goroutine?debug=2 just before the window
    "goroutines_end": "goroutines-end.txt",  # just after: goroutineleak?debug=2 (leaks marked) where served
    "goroutine_profile": "goroutines-debug1.txt",  # goroutine?debug=1 after the window
    "leak_profile": "goroutineleak.txt",  # goroutineleak?debug=1 after the window
    "heap": "heap.pprof",
    "load": "load.json",  # what the load engine measured (summary, docs/load.md)
    "meta": "window.json",  # what was asked, when, and what could not be captured and why
})

#: Names written by earlier releases, still read: ``goperf triage`` folders had these.
LEGACY_FILE_NAMES: Final[Mapping[str, Role]] = MappingProxyType({
    "goroutines.txt": "goroutines_end",
    "triage.json": "meta",
})

ROLES: Final[tuple[Role, ...]] = tuple(FILE_NAMES)

#: What each role is, for messages ("the execution trace (trace.out): ...").
DESCRIPTIONS: Final[Mapping[Role, str]] = MappingProxyType({
    "trace": "the execution trace",
    "cpu_profile": "the CPU profile",
    "goroutines_start": "the goroutine dump at the start",
    "goroutines_end": "the goroutine dump at the end",
    "goroutine_profile": "the goroutine profile",
    "leak_profile": "the goroutine-leak profile",
    "heap": "the heap profile",
    "load": "the load result",
    "meta": "the window's description",
})


@dataclass(frozen=True)
class RawWindow:
    """The bytes of one window, as the service sent them (``None`` where not captured).

    ``errors`` maps a role to why it could not be captured; ``names`` maps a
    role to the file it was read from (messages name it); ``load`` is the load
    engine's result when load ran during the window (a folder on disk keeps
    only its summary, in ``load.json``). ``end_dump_marked`` says the end dump
    came from the runtime's leak profile, so a goroutine without the
    ``(leaked)`` marker is one the runtime did not prove leaked.
    ``process_cpu_ns`` is the CPU time the kernel charged the service's
    process during the window (None when its pid is unknown, as when attached).
    """

    seconds: float | None = None
    started_at: float | None = None  # time.time() at the start of the window
    trace: bytes | None = None
    cpu_profile: bytes | None = None
    goroutines_start: bytes | None = None
    goroutines_end: bytes | None = None
    goroutine_profile: bytes | None = None
    leak_profile: bytes | None = None
    heap: bytes | None = None
    load: LoadResult | None = None
    end_dump_marked: bool = False  # goroutines_end came from goroutineleak?debug=2: proven leaks are marked
    process_cpu_ns: int | None = None  # the service's own CPU time over the window (kernel accounting)
    source: str = ""  # the URL or folder it came from
    errors: Mapping[str, str] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def data(self, role: Role) -> bytes | None:
        """The bytes captured for ``role`` (``load`` and ``meta`` have none)."""
        value = getattr(self, role, None) if role not in ("load", "meta") else None
        return value if isinstance(value, bytes) else None

    def file_name(self, role: Role) -> str:
        """The file name ``role`` was read from, or the one it is written to."""
        return self.names.get(role, FILE_NAMES[role])

    def describe(self, role: Role) -> str:
        """``"the execution trace (trace.out)"``: what a message about ``role`` calls it."""
        return f"{DESCRIPTIONS[role]} ({self.file_name(role)})"


@dataclass(frozen=True)
class WindowFiles:
    """Where the files of one saved window are (``None`` where not captured)."""

    directory: Path
    trace: Path | None = None
    cpu_profile: Path | None = None
    goroutines_start: Path | None = None
    goroutines_end: Path | None = None
    goroutine_profile: Path | None = None
    leak_profile: Path | None = None
    heap: Path | None = None
    load: Path | None = None
    meta: Path | None = None

    def all(self) -> list[Path]:
        """Every file written, in role order."""
        return [p for p in (getattr(self, r) for r in ROLES) if p is not None]

    def __contains__(self, role: object) -> bool:
        return isinstance(role, str) and role in ROLES and getattr(self, role) is not None

    def by_role(self) -> dict[str, Path]:
        """Role -> path of every file written."""
        return {r: p for r in ROLES if (p := getattr(self, r)) is not None}
