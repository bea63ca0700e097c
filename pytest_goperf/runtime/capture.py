"""One measurement round: load the service and look at it from every side at once.

During a window of ``window`` seconds under load, one round fetches in
parallel an execution trace and a CPU profile of exactly that window (so the
trace also carries the profile's CPU samples), goroutine dumps (``debug=2``)
at the start and the end, the goroutine-leak profile where the service has
it, and the heap profile. The raw files are written to the round's folder
(they open in ``go tool trace`` / ``go tool pprof``); the analysed records
come from the trace, profile and dump engines.

The Go runtime allows one CPU profile per process: a second concurrent
``/debug/pprof/profile`` answers 500. ``seconds`` must stay below the
server's ``WriteTimeout`` (400 otherwise). Both come back as a
:class:`~pytest_goperf.errors.PprofError` that says so.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..analysis.functions import FunctionTable, profile_table
from ..analysis.trace_metrics import TraceMetrics, compute_metrics
from ..errors import ConfigError, GoperfError, PprofError
from ..formats.goroutines import Goroutine, parse_goroutine_profile, parse_goroutines
from ..formats.profile._decode import read_profile
from ..load.engine import run_load
from ..load.result import LoadResult
from ..load.scenario import ClosedModel, Model, OpenModel, Scenario
from .pprof import PprofClient

if TYPE_CHECKING:
    from .service import GoService

__all__ = ["CaptureOptions", "Round", "RoundFiles", "capture_round"]


@dataclass(frozen=True)
class CaptureOptions:
    """What one round captures besides the load."""

    trace: bool = True
    cpu_profile: bool = True
    heap: bool = True
    leak_profile: bool = True
    request_timeout: float = 30.0  # beyond the window, for each capture request


@dataclass(frozen=True)
class RoundFiles:
    """The raw files of one round (``None`` where not captured)."""

    directory: Path
    trace: Path | None = None
    cpu_profile: Path | None = None
    goroutines_start: Path | None = None
    goroutines_end: Path | None = None
    goroutineleak: Path | None = None
    heap: Path | None = None
    load: Path | None = None

    def all(self) -> list[Path]:
        return [p for p in (self.trace, self.cpu_profile, self.goroutines_start, self.goroutines_end,
                            self.goroutineleak, self.heap, self.load) if p is not None]


@dataclass(frozen=True)
class Round:
    """One window of load with everything seen during it."""

    index: int
    window: float
    started_at: float  # time.time() at the start of the window
    files: RoundFiles
    load: LoadResult | None
    trace: TraceMetrics | None
    cpu: FunctionTable | None
    goroutines_start: tuple[Goroutine, ...]
    goroutines_end: tuple[Goroutine, ...]
    leaked_goroutines: int | None  # the runtime's proven leaks at the end; None without the profile
    main_module: str | None = None

    @property
    def goroutine_delta(self) -> int:
        """Goroutines alive at the end minus at the start of the window."""
        return len(self.goroutines_end) - len(self.goroutines_start)

    def hot_share(self, which: str | Sequence[str], *, cum: bool = False) -> float:
        """Share of CPU samples in the named function(s) (names or glob/regex patterns; flat by default)."""
        if self.cpu is None:
            raise GoperfError("this round has no CPU profile: capture it with cpu_profile=True")
        return self.cpu.hot_share(which, cum=cum)


def _fetch(results: dict[str, Any], key: str, func: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            results[key] = func()
        except BaseException as exc:  # reported after join, in the caller's thread
            results[key] = exc

    t = threading.Thread(target=run, name=f"goperf-capture-{key}", daemon=True)
    t.start()
    return t


def _explain(kind: str, exc: PprofError, window: float) -> PprofError:
    text = str(exc)
    if kind == "cpu_profile" and "answered 500" in text:
        return PprofError(
            "the service refused the CPU profile: only one can run at a time in a Go process and another one "
            f"is running (someone else's `go tool pprof`, or an overlapping capture). ({text})"
        )
    if kind in ("cpu_profile", "trace") and "answered 400" in text and "WriteTimeout" in text:
        return PprofError(
            f"a {window:g} s window is not shorter than the service's http.Server WriteTimeout, so pprof refuses it: "
            f"use a shorter window or raise WriteTimeout. ({text})"
        )
    return exc


def capture_round(
    service: GoService,
    scenario: Scenario,
    model: Model,
    *,
    window: float,
    warmup: float,
    directory: Path,
    index: int = 0,
    options: CaptureOptions = CaptureOptions(),
    main_module: str | None = None,
    max_requests: int | None = None,
) -> Round:
    """Run one round against ``service`` and return what it saw.

    ``window`` is the measured time in whole seconds (the CPU-profile endpoint
    takes whole seconds); ``warmup`` seconds of load come before it and are
    neither measured nor traced.
    """
    if window < 1 or (options.cpu_profile and window != int(window)):
        raise ConfigError(
            f"window must be a whole number of seconds >= 1 (the CPU profile endpoint takes whole seconds), got {window!r}"
        )
    if warmup < 0:
        raise ConfigError(f"warmup must be >= 0 seconds, got {warmup!r}")
    service.check_alive()
    pprof: PprofClient = service.pprof
    directory.mkdir(parents=True, exist_ok=True)
    timeout = window + options.request_timeout

    start_dump = pprof.goroutine_dump(2)
    results: dict[str, Any] = {}
    load_thread = _fetch(
        results,
        "load",
        lambda: run_load(service.url, scenario, model=model, duration=window, warmup=warmup, max_requests=max_requests),
    )
    time.sleep(warmup)
    started_at = time.time()
    threads = [load_thread]
    if options.trace:
        threads.append(_fetch(results, "trace", lambda: pprof.get("trace", {"seconds": window}, timeout=timeout)))
    if options.cpu_profile:
        threads.append(
            _fetch(results, "cpu_profile", lambda: pprof.get("profile", {"seconds": int(window)}, timeout=timeout))
        )
    for t in threads:
        t.join(timeout + warmup + 30)
        if t.is_alive():
            raise PprofError(f"a capture of round {index} ({t.name}) did not finish within {timeout + warmup + 30:.0f} s")
    for key in ("load", "trace", "cpu_profile"):
        value = results.get(key)
        if isinstance(value, PprofError):
            raise _explain(key, value, window)
        if isinstance(value, BaseException):
            raise value
    service.check_alive()
    end_dump = pprof.goroutine_dump(2)
    leak_text = pprof.get("goroutineleak", {"debug": 1}).decode() if options.leak_profile and pprof.has_leak_profile() else None
    heap = pprof.get("heap") if options.heap else None

    files = _write_files(directory, results, start_dump, end_dump, leak_text, heap)
    trace_bytes = results.get("trace")
    cpu_bytes = results.get("cpu_profile")
    return Round(
        index=index,
        window=float(window),
        started_at=started_at,
        files=files,
        load=results.get("load"),
        trace=compute_metrics(trace_bytes) if trace_bytes else None,
        cpu=profile_table(read_profile(cpu_bytes), main_module=main_module) if cpu_bytes else None,
        goroutines_start=tuple(parse_goroutines(start_dump)),
        goroutines_end=tuple(parse_goroutines(end_dump)),
        leaked_goroutines=parse_goroutine_profile(leak_text).total if leak_text is not None else None,
        main_module=main_module,
    )


def _write_files(
    directory: Path,
    results: dict[str, Any],
    start_dump: str,
    end_dump: str,
    leak_text: str | None,
    heap: bytes | None,
) -> RoundFiles:
    def write(name: str, data: bytes | str | None) -> Path | None:
        if data is None:
            return None
        path = directory / name
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
        return path

    load: LoadResult | None = results.get("load")
    return RoundFiles(
        directory=directory,
        trace=write("trace.out", results.get("trace")),
        cpu_profile=write("cpu.pprof", results.get("cpu_profile")),
        goroutines_start=write("goroutines-start.txt", start_dump),
        goroutines_end=write("goroutines-end.txt", end_dump),
        goroutineleak=write("goroutineleak.txt", leak_text),
        heap=write("heap.pprof", heap),
        load=write("load.json", json.dumps(load.to_json(), indent=2, sort_keys=True) + "\n" if load else None),
    )


def model_from(rate: float | None, concurrency: int | None) -> Model:
    """The load model for ``rate`` (open) or ``concurrency`` (closed); default 4 clients."""
    if rate is not None and concurrency is not None:
        raise ConfigError("give either rate (open model) or concurrency (closed model), not both")
    if rate is not None:
        return OpenModel(rate=rate)
    return ClosedModel(concurrency=concurrency or 4)
