"""Measurement rounds against a running service: load, capture, save, analyse; a leak check around them.

Each round is one :func:`~pytest_goperf.runtime.capture.capture_window`
under load, saved to its folder (the same files ``goperf triage`` writes) and
analysed by :func:`~pytest_goperf.analysis.window.analyse_window`: the path
from the service to a :class:`~pytest_goperf.analysis.measurement.Measurement`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analysis.measurement import Measurement, MeasureSpec, Round
from ..analysis.window import analyse_window
from ..load.engine import run_load
from ..load.result import LoadResult
from .capture import CaptureOptions, capture_window
from .files import save_window
from .leakcheck import LeakCheck

if TYPE_CHECKING:
    from .service import GoService

__all__ = ["ROUND_CAPTURE", "measure", "measure_round"]

#: What a measurement round captures: everything ``goperf triage`` does but the debug=1 profiles, plus the heap.
ROUND_CAPTURE = CaptureOptions(heap=True)


def measure_round(
    service: GoService,
    spec: MeasureSpec,
    *,
    index: int,
    directory: Path,
    options: CaptureOptions = ROUND_CAPTURE,
    max_requests: int | None = None,
) -> Round:
    """One round: ``spec.warmup`` seconds of load, then a ``spec.window`` second window captured under it."""

    def load() -> LoadResult:
        return run_load(service.url, spec.load, model=spec.model, duration=spec.window, warmup=spec.warmup,
                        max_requests=max_requests)

    raw = capture_window(
        service.pprof,
        seconds=spec.window,
        load=load,
        warmup=spec.warmup,
        options=options,
        check_alive=service.check_alive,
        source=service.url,
    )
    files = save_window(raw, directory)
    return Round.of(index, analyse_window(raw, main_module=service.main_module, wakeups=spec.wakeups), files)


def measure(
    service: GoService,
    spec: MeasureSpec,
    *,
    directory: Path,
    options: CaptureOptions = ROUND_CAPTURE,
    window_lock: AbstractContextManager[Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Measurement:
    """Run ``spec.warmup_rounds`` + ``spec.rounds`` measurement rounds against ``service``.

    ``window_lock`` is held around each round, so measurement windows of
    parallel test processes never overlap. With ``spec.check_leaks`` the whole
    measurement is wrapped in a goroutine-leak check (leaks fail on their own).
    """
    leak = LeakCheck(service, artifacts_dir=directory / "leak") if spec.check_leaks else None
    if leak is not None:
        leak.__enter__()
    lock = window_lock or contextlib.nullcontext()
    taken: list[Round] = []
    total = spec.warmup_rounds + spec.rounds
    for i in range(total):
        warm = i < spec.warmup_rounds
        if progress is not None:
            progress(f"round {i + 1}/{total}{' (warm-up)' if warm else ''}: {spec.warmup:g} s warm-up, "
                     f"{spec.window:g} s window")
        with lock:
            r = measure_round(service, spec, index=i, options=options,
                              directory=directory / f"round-{i:02d}{'-warmup' if warm else ''}")
        if not warm:
            taken.append(r)
    report = leak.check() if leak is not None else None
    return Measurement(
        rounds=tuple(taken),
        window=float(spec.window),
        scenario=spec.load,
        model=spec.model,
        directory=directory,
        warmup_rounds=spec.warmup_rounds,
        tracked=spec.recorded,
        leak_report=report,
        spec=spec,
        go_version=service.go_version or None,
    )
