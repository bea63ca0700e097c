"""One analysis of one window: :class:`~pytest_goperf.formats.window.RawWindow` bytes -> records.

The same function serves measurement rounds, ``goperf triage`` and a saved
folder re-read from disk. Pure: bytes in, records out; parse errors name the
file the bytes came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import ParseError
from ..formats.goroutines import (
    Goroutine,
    GoroutineProfile,
    parse_goroutine_profile,
    parse_goroutines,
)
from ..formats.profile._decode import read_profile
from ..formats.profile._model import Profile
from ..formats.window import RawWindow, Role
from .functions import FunctionTable, profile_table
from .timeline import TraceTimeline, metrics_and_timeline
from .trace_metrics import TraceMetrics, compute_metrics

__all__ = ["WindowAnalysis", "analyse_window"]


@dataclass(frozen=True)
class WindowAnalysis:
    """What one window's bytes say, as records (``None``/empty where not captured).

    ``leaked_goroutines`` counts the goroutines the runtime proved leaked at
    the end (None when the service has no leak profile); ``profile`` is the
    decoded CPU profile and ``cpu_seconds`` its own duration; ``timeline`` is filled when asked for.
    """

    raw: RawWindow
    trace: TraceMetrics | None
    cpu: FunctionTable | None
    cpu_seconds: float | None
    profile: Profile | None
    goroutines_start: tuple[Goroutine, ...]
    goroutines_end: tuple[Goroutine, ...]
    goroutine_profile: GoroutineProfile | None
    leak_profile: GoroutineProfile | None
    leaked_goroutines: int | None
    main_module: str | None = None
    timeline: TraceTimeline | None = None

    @property
    def seconds(self) -> float | None:
        """The window's length: as asked, else the trace's own."""
        if self.raw.seconds:
            return self.raw.seconds
        return self.trace.duration_ns / 1e9 if self.trace is not None else None


@contextmanager
def _naming(raw: RawWindow, role: Role) -> Iterator[None]:
    """Say which file a parse error is about (the engines name the byte offset or line)."""
    try:
        yield
    except ParseError as exc:
        raise type(exc)(f"{raw.describe(role)}: {exc}") from None


def _dump(raw: RawWindow, role: Role) -> tuple[Goroutine, ...]:
    data = raw.data(role)
    if data is None:
        return ()
    with _naming(raw, role):
        return tuple(parse_goroutines(data.decode("utf-8", "replace")))


def _profile(raw: RawWindow, role: Role) -> GoroutineProfile | None:
    data = raw.data(role)
    if data is None:
        return None
    with _naming(raw, role):
        return parse_goroutine_profile(data.decode("utf-8", "replace"))


def analyse_window(raw: RawWindow, *, main_module: str | None = None, timeline: bool = False,
                   wakeups: bool = False) -> WindowAnalysis:
    """Read every captured part of ``raw`` into records.

    ``main_module`` is the service's module path (its packages count as user
    code); ``timeline`` also builds the per-goroutine timeline of the trace
    (what triage shows), in the same read of the trace as its metrics;
    ``wakeups`` also reads who woke each blocked goroutine (``trace.wakeups``).
    """
    metrics = None
    tl = None
    if raw.trace is not None:
        with _naming(raw, "trace"):
            if timeline:
                metrics, tl = metrics_and_timeline(raw.trace, wakeups=wakeups)
            else:
                metrics = compute_metrics(raw.trace, wakeups=wakeups)
    cpu = None
    cpu_seconds = None
    profile = None
    if raw.cpu_profile is not None:
        with _naming(raw, "cpu_profile"):
            profile = read_profile(raw.cpu_profile)
            cpu = profile_table(profile, main_module=main_module)
        cpu_seconds = profile.duration_seconds
    end = _dump(raw, "goroutines_end")
    leak = _profile(raw, "leak_profile")
    if raw.end_dump_marked:
        leaked: int | None = sum(1 for g in end if g.leaked)
    elif leak is not None:
        leaked = leak.total
    else:
        leaked = None
    return WindowAnalysis(
        raw=raw,
        trace=metrics,
        cpu=cpu,
        cpu_seconds=cpu_seconds,
        profile=profile,
        goroutines_start=_dump(raw, "goroutines_start"),
        goroutines_end=end,
        goroutine_profile=_profile(raw, "goroutine_profile"),
        leak_profile=leak,
        leaked_goroutines=leaked,
        main_module=main_module,
        timeline=tl,
    )
