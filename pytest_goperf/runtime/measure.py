"""Measurement rounds against a running service: load, capture, save, analyse; a leak check around them.

Each round is one :func:`~pytest_goperf.runtime.capture.capture_window`
under load, saved to its folder (the same files ``goperf triage`` writes) and
analysed by :func:`~pytest_goperf.analysis.window.analyse_window`: the path
from the service to a :class:`~pytest_goperf.analysis.measurement.Measurement`.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..analysis.leaks import LeakReport
from ..analysis.measurement import Measurement, MeasureSpec, Round
from ..analysis.window import analyse_window
from ..config import DEFAULT_SCHEDULE, Schedule
from ..errors import BaseServiceError, GoperfError, GoroutineLeakError
from ..load.callable import CallableLoad, run_callable_load
from ..load.engine import run_load
from ..load.result import LoadResult
from .capture import CaptureOptions, capture_window
from .files import save_window
from .leakcheck import LeakCheck
from .proc import cpu_clock

if TYPE_CHECKING:
    from .service import GoService

__all__ = ["ROUND_CAPTURE", "measure", "measure_pair", "measure_round"]

T = TypeVar("T")

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
        if isinstance(spec.load, CallableLoad):
            # The test's own calls (gRPC, NATS, ...): given the service when the function takes it.
            return run_callable_load(spec.load, model=spec.model, duration=spec.window, warmup=spec.warmup,
                                     max_requests=max_requests, target=service)
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
        cpu_clock=cpu_clock(service.pid),
    )
    files = save_window(raw, directory)
    analysis = analyse_window(raw, main_module=service.main_module, wakeups=spec.wakeups)
    if service.spec is None and (service.main_module is None or not service.go_version):
        # Attached: learn the build from the service's own data, once.
        from .identify import identify, with_main_module

        who = identify(analysis)
        service.learn(main_module=who.main_module, go_version=who.go_version)
        analysis = with_main_module(analysis, service.main_module)
    return Round.of(index, analysis, files)


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
                     f"{spec.window:g} s window (about {_left(spec, total - i):.0f} s left)")
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


#: Seconds a round takes beyond its warm-up and window (dumps before and after, the heap profile, analysis).
ROUND_OVERHEAD_S = 0.5


def _left(spec: MeasureSpec, rounds: int) -> float:
    """About how long ``rounds`` more rounds take."""
    return rounds * (spec.warmup + spec.window + ROUND_OVERHEAD_S)


def _order(i: int) -> tuple[int, int]:
    """Pair ``i`` of the balanced interleaved schedule: AB, BA, AB, BA, ... (0 = head, 1 = base)."""
    return (0, 1) if i % 2 == 0 else (1, 0)


def measure_pair(
    head: GoService,
    base: GoService,
    spec: MeasureSpec,
    *,
    directory: Path,
    schedule: Schedule = DEFAULT_SCHEDULE,
    options: CaptureOptions = ROUND_CAPTURE,
    window_lock: AbstractContextManager[Any] | None = None,
    progress: Callable[[str], None] | None = None,
    looks: int = 1,
    more: Callable[[Measurement], bool] | None = None,
) -> Measurement:
    """``spec.rounds`` rounds of the head and as many of the base, scheduled so drift hits both alike.

    ``interleaved``: pair i runs head then base for even i, base then head for
    odd i (ABBA...), each round a window of its own. ``duet``: both services
    are loaded and captured at the same time, each with its own connections.
    Warm-up rounds run for both first. With ``spec.check_leaks`` both are
    checked for leaks: the head's leak fails (its message says when the base
    leaks the same way); the base's is only reported.

    Sequential: with ``looks`` > 1 and ``more``, after every ``spec.rounds``
    pairs ``more(measurement so far)`` says whether to add ``spec.rounds`` more
    (the gate is undecided), at most ``looks`` batches in all; the schedule
    goes on where it stopped (ABBA continues).

    Returns the head's :class:`Measurement` with the base's as ``.base``.
    """
    services = (head, base)
    names = ("head", "base")
    checks = [LeakCheck(s, artifacts_dir=directory / name / "leak") if spec.check_leaks else None
              for s, name in zip(services, names, strict=True)]
    for side, c in enumerate(checks):
        if c is not None:
            _on_side(side, c.__enter__)
    lock = window_lock or contextlib.nullcontext()
    taken: list[list[Round]] = [[], []]
    total = spec.warmup_rounds + spec.rounds

    def one(side: int, i: int, warm: bool) -> Round:
        return _on_side(side, lambda: measure_round(
            services[side], spec, index=i, options=options,
            directory=directory / names[side] / f"round-{i:02d}{'-warmup' if warm else ''}"))

    def measurement(side: int, report: LeakReport | None) -> Measurement:
        return Measurement(
            rounds=tuple(taken[side]), window=float(spec.window), scenario=spec.load, model=spec.model,
            directory=directory / names[side], warmup_rounds=spec.warmup_rounds, tracked=spec.recorded,
            leak_report=report, spec=spec, go_version=services[side].go_version or None,
        )

    def so_far() -> Measurement:
        return replace(measurement(0, None), base=measurement(1, None))

    start, batch = 0, 1
    while True:
        for i in range(start, total):
            warm = i < spec.warmup_rounds
            if progress is not None:
                per = 1 if schedule == "duet" else 2
                what = " (warm-up)" if warm else (f" (look {batch}/{looks})" if looks > 1 else "")
                progress(f"pair {i + 1}/{total}{what} ({schedule}): {spec.warmup:g} s warm-up, "
                         f"{spec.window:g} s window (about {_left(spec, (total - i) * per):.0f} s left)")
            with lock:
                pair: list[Round | None]
                if schedule == "duet":
                    pair = _both_at_once(functools.partial(_side, one, i=i, warm=warm))
                else:
                    pair = [None, None]
                    for side in _order(i - spec.warmup_rounds if not warm else 0):
                        pair[side] = one(side, i, warm)
            if not warm:
                for side in (0, 1):
                    r = pair[side]
                    assert r is not None
                    taken[side].append(r)
        if more is None or batch >= looks or not more(so_far()):
            break
        start, total, batch = total, total + spec.rounds, batch + 1
    base_report = None
    if checks[1] is not None:
        try:
            base_report = _on_side(1, checks[1].check)
        except GoroutineLeakError as exc:
            base_report = exc.report
    head_report = None
    if checks[0] is not None:
        try:
            head_report = checks[0].check()
        except GoroutineLeakError as exc:
            raise _also_in_base(exc, base_report) from None
    return replace(measurement(0, head_report), base=measurement(1, base_report), base_leak_report=base_report)


def _on_side(side: int, run: Callable[[], T]) -> T:
    """Run ``run``; a failure of the base (side 1) is the base's: :class:`BaseServiceError` (leaks excepted)."""
    if side == 0:
        return run()
    try:
        return run()
    except GoroutineLeakError:
        raise
    except GoperfError as exc:
        raise BaseServiceError(f"the base's service failed: {exc}") from exc


def _side(one: Callable[[int, int, bool], Round], side: int, *, i: int, warm: bool) -> Round:
    return one(side, i, warm)


def _both_at_once(run: Callable[[int], Round]) -> list[Round | None]:
    """Run ``run(0)`` and ``run(1)`` in two threads; re-raise the first failure."""
    results: list[Round | None] = [None, None]
    errors: list[BaseException] = []

    def go(side: int) -> None:
        try:
            results[side] = run(side)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(side,), name=f"goperf-duet-{side}", daemon=True) for side in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _also_in_base(exc: GoroutineLeakError, base: LeakReport | None) -> GoroutineLeakError:
    """The head's leak error, saying which of its leak sites the base leaks too."""
    head = exc.report
    if head is None or base is None or not base.leaks:
        return exc
    sites = {(g.created_by.function if g.created_by else "", g.state) for g in base.groups}
    shared = [g for g in head.groups if (g.created_by.function if g.created_by else "", g.state) in sites]
    if not shared:
        return GoroutineLeakError(f"{exc}\n\n(the base does not leak these: the change brought them)", report=head)
    what = ", ".join(f"{g.created_by.function if g.created_by else '?'} [{g.state}]" for g in shared[:5])
    return GoroutineLeakError(f"{exc}\n\nalso in base: the base leaks at the same sites ({what})", report=head)
