"""Load made of a test's own calls: gRPC, NATS, raw TCP, anything a client library speaks.

One call of the function is one request. The engine's models apply: closed
(``ClosedModel(C)``: C callers back to back) and open (``OpenModel(rate)``:
call *i* is due at ``start + i / rate``, latency counted from its due time,
at most ``max_in_flight`` outstanding, the rest dropped; ``connections`` is
the number of worker threads, or of concurrent tasks for a coroutine
function). The result is the same :class:`~.result.LoadResult`: latency
histogram, counts, errors by kind (``exception``: the call raised; the
sample message names the exception), ``timeout`` (a call that took longer
than ``timeout``), the same bounds (``duration`` required, ``max_requests``,
``timeout``).

A call returning an ``int`` counts it as a status (``status_counts``, e.g. an
HTTP or gRPC code); any other return counts as status 0 ("done"). Raising
is a failure. A function of one parameter is called with the load's target
(the plugin passes the :class:`~pytest_goperf.GoService` measured, so one
callable serves both sides of an A/B comparison).

The plugin only sends the calls; where they go is the callable's own
business (the loopback rule binds what the plugin itself sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from .histogram import LatencyHistogram
from .result import LoadResult, RequestStats
from .scenario import ClosedModel, Model, OpenModel

__all__ = ["CallableLoad", "run_callable_load"]

#: Open-model calls started later than this after their due time count as late (as in the HTTP engine).
LATE_AFTER_NS = 5_000_000


@dataclass(frozen=True)
class CallableLoad:
    """A function used as load: ``CallableLoad(fn, name="grpc Get")``; plain callables are wrapped in one."""

    func: Callable[..., Any]
    name: str = ""
    #: Called once after each run (after the last call; awaited when it is a coroutine function): close the
    #: clients the calls opened, so their connections do not outlive the load (a leak check follows).
    close: Callable[[], Any] | None = None
    #: Whether ``func`` takes the target (one positional parameter) or nothing.
    takes_target: bool = field(init=False, default=False)
    is_async: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if not callable(self.func):
            raise ConfigError(f"load must be callable to be used as a function load, got {self.func!r}")
        method = type(self.func).__dict__.get("__call__")  # an instance with an async __call__
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.func)
                           or inspect.iscoroutinefunction(method))
        try:
            params = [p for p in inspect.signature(self.func).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty]
        except (TypeError, ValueError):
            params = []
        if len(params) > 1:
            raise ConfigError(f"a load function takes no argument or one (the target), {self.label} takes {len(params)}")
        object.__setattr__(self, "takes_target", len(params) == 1)

    @property
    def label(self) -> str:
        """The name shown in results: ``name``, else the function's qualified name."""
        return self.name or getattr(self.func, "__qualname__", None) or type(self.func).__name__

    def bind(self, target: object) -> Callable[[], Any]:
        """The call with its target bound (when it takes one)."""
        if self.takes_target:
            func = self.func
            return lambda: func(target)
        return self.func


class _Tally:
    """Counts of one run, shared by the callers (guarded by a lock; calls are slow next to it)."""

    def __init__(self, window_start: float, measure_until: float) -> None:
        self.lock = threading.Lock()
        self.window_start = window_start
        self.measure_until = measure_until
        self.sent = self.completed = self.failed = self.dropped = self.late = 0
        self.status: dict[int, int] = {}
        self.errors: dict[str, int] = {}
        self.samples: dict[str, str] = {}
        self.latency = LatencyHistogram()
        self.lag = LatencyHistogram()

    def measured(self, t: float) -> bool:
        """Whether a call due at ``t`` falls in the measured window."""
        return self.window_start <= t < self.measure_until

    def record(self, due: float, sent: float, done: float, outcome: object, timeout: float) -> None:
        if not self.measured(due):
            return
        with self.lock:
            self.sent += 1
            lag_ns = int((sent - due) * 1e9)
            self.lag.record(max(0, lag_ns))
            if lag_ns > LATE_AFTER_NS:
                self.late += 1
            if isinstance(outcome, BaseException):
                self.failed += 1
                kind = "timeout" if isinstance(outcome, (TimeoutError, asyncio.TimeoutError)) else "exception"
                self.errors[kind] = self.errors.get(kind, 0) + 1
                self.samples.setdefault(kind, f"{type(outcome).__name__}: {outcome}"[:300])
                return
            if done - sent > timeout:
                self.failed += 1
                self.errors["timeout"] = self.errors.get("timeout", 0) + 1
                self.samples.setdefault("timeout", f"a call took {done - sent:.3g} s, more than the {timeout:g} s timeout")
                return
            self.completed += 1
            code = outcome if isinstance(outcome, int) and not isinstance(outcome, bool) else 0
            self.status[code] = self.status.get(code, 0) + 1
            self.latency.record(max(0, int((done - due) * 1e9)))

    def drop(self, due: float) -> None:
        if self.measured(due):
            with self.lock:
                self.dropped += 1


def _check(model: Model, duration: float, warmup: float, max_requests: int | None, timeout: float) -> None:
    from .engine import _check_bounds

    if not isinstance(model, (OpenModel, ClosedModel)):
        raise ConfigError(f"model must be OpenModel(rate) or ClosedModel(concurrency), got {model!r}")
    _check_bounds(duration, warmup, max_requests, timeout)


def run_callable_load(
    load: CallableLoad | Callable[..., Any],
    *,
    model: Model,
    duration: float,
    warmup: float = 0.0,
    max_requests: int | None = None,
    timeout: float = 10.0,
    target: object = None,
    stop: threading.Event | None = None,
) -> LoadResult:
    """Call ``load`` as the load model says for ``warmup`` + ``duration`` seconds; see the module docstring.

    Blocking. A coroutine function runs on a private event loop (call this
    from a thread without one); a plain function runs on worker threads.
    Calls still running ``timeout`` seconds after the end are abandoned
    (counted as timeouts; a thread cannot be interrupted).

    :raises ConfigError: a bad setting or a function that takes more than one argument.
    """
    job = load if isinstance(load, CallableLoad) else CallableLoad(load)
    _check(model, duration, warmup, max_requests, timeout)
    call = job.bind(target)
    if job.is_async:
        loop = asyncio.new_event_loop()
        try:
            result = loop.run_until_complete(_run_async(job, call, model, duration, warmup, max_requests, timeout, stop))
            if job.close is not None:
                done = job.close()
                if inspect.isawaitable(done):
                    loop.run_until_complete(asyncio.wait_for(done, timeout))
            return result
        finally:
            # The client library's own tasks (read loops, pingers) end with the loop, not after it.
            from .engine import close_loop

            close_loop(loop)
    try:
        return _run_threads(job, call, model, duration, warmup, max_requests, timeout, stop)
    finally:
        if job.close is not None:
            done = job.close()
            if inspect.isawaitable(done):
                asyncio.run(asyncio.wait_for(done, timeout))


def _result(job: CallableLoad, tally: _Tally, model: Model, warmup: float, duration: float, elapsed: float,
            stopped_by: str, client: str, workers: int) -> LoadResult:
    stats = RequestStats(job.label, tally.sent, tally.completed, tally.failed, tally.dropped, dict(tally.status),
                         tally.latency.copy())
    return LoadResult(
        target=f"callable:{job.label}",
        model="open" if isinstance(model, OpenModel) else "closed",
        target_rate=model.rate if isinstance(model, OpenModel) else None,
        concurrency=model.concurrency if isinstance(model, ClosedModel) else None,
        warmup=warmup, duration=duration, elapsed=elapsed,
        stopped_by=stopped_by,  # type: ignore[arg-type]
        sent=tally.sent, completed=tally.completed, failed=tally.failed, dropped=tally.dropped, late=tally.late,
        status_counts=dict(tally.status), errors=dict(tally.errors), error_samples=dict(tally.samples),
        latency=tally.latency, send_lag=tally.lag, by_request=(stats,), client=client, connections=workers,
    )


class _Schedule:
    """Due times and the stop conditions shared by every caller."""

    def __init__(self, model: Model, duration: float, warmup: float, max_requests: int | None,
                 stop: threading.Event | None) -> None:
        self.start = time.monotonic()
        self.window_start = self.start + warmup
        self.end = self.window_start + duration
        self.max_requests = max_requests
        self.stop = stop
        self.rate = model.rate if isinstance(model, OpenModel) else None
        self.index = 0
        self.measured = 0
        self.stopped_by = "duration"
        self.lock = threading.Lock()

    def next_due(self, now: float) -> float | None:
        """The due time of the next call (open: from the rate; closed: now), None when sending is over."""
        with self.lock:
            if self.stop is not None and self.stop.is_set():
                self.stopped_by = "stop_event"
                return None
            due = self.start + self.index / self.rate if self.rate else now
            if due >= self.end:
                return None
            if due >= self.window_start:
                if self.max_requests is not None and self.measured >= self.max_requests:
                    self.stopped_by = "max_requests"
                    return None
                self.measured += 1
            self.index += 1
            return due


def _run_threads(job: CallableLoad, call: Callable[[], Any], model: Model, duration: float, warmup: float,
                 max_requests: int | None, timeout: float, stop: threading.Event | None) -> LoadResult:
    sched = _Schedule(model, duration, warmup, max_requests, stop)
    tally = _Tally(sched.window_start, sched.end)
    workers = model.concurrency if isinstance(model, ClosedModel) else model.connections
    cap = model.in_flight_cap if isinstance(model, OpenModel) else workers
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="goperf-call")
    in_flight = threading.BoundedSemaphore(cap)

    def one(due: float) -> None:
        try:
            sent = time.monotonic()
            try:
                outcome: object = call()
            except Exception as exc:
                outcome = exc
            tally.record(due, sent, time.monotonic(), outcome, timeout)
        finally:
            in_flight.release()

    def closed_caller() -> None:
        while True:
            due = sched.next_due(time.monotonic())
            if due is None:
                return
            in_flight.acquire()
            one(due)

    try:
        if isinstance(model, ClosedModel):
            futures = [pool.submit(closed_caller) for _ in range(workers)]
        else:
            futures = []
            while True:
                due = sched.next_due(time.monotonic())
                if due is None:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    if stop is not None:
                        stop.wait(wait)
                    else:
                        time.sleep(wait)
                if not in_flight.acquire(blocking=False):
                    tally.drop(due)
                    continue
                futures.append(pool.submit(one, due))
        deadline = time.monotonic() + max(0.0, sched.end - time.monotonic()) + timeout
        for f in futures:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(Exception):  # a caller's exception is already counted
                f.result(timeout=left)
        abandoned = sum(1 for f in futures if not f.done())
        if abandoned and isinstance(model, OpenModel):
            with tally.lock:
                tally.failed += abandoned
                tally.errors["timeout"] = tally.errors.get("timeout", 0) + abandoned
                tally.samples.setdefault("timeout", f"{abandoned} calls still running {timeout:g} s after the end")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    elapsed = min(time.monotonic(), sched.end) - sched.window_start
    return _result(job, tally, model, warmup, duration, max(elapsed, 1e-9), sched.stopped_by, "threads", workers)


async def _run_async(job: CallableLoad, call: Callable[[], Any], model: Model, duration: float, warmup: float,
                     max_requests: int | None, timeout: float, stop: threading.Event | None) -> LoadResult:
    sched = _Schedule(model, duration, warmup, max_requests, stop)
    tally = _Tally(sched.window_start, sched.end)
    workers = model.concurrency if isinstance(model, ClosedModel) else model.connections
    cap = model.in_flight_cap if isinstance(model, OpenModel) else workers
    gate = asyncio.Semaphore(workers)
    outstanding = 0

    async def one(due: float) -> None:
        nonlocal outstanding
        try:
            async with gate:
                sent = time.monotonic()
                try:
                    awaitable: Awaitable[Any] = call()
                    outcome: object = await asyncio.wait_for(awaitable, timeout)
                except Exception as exc:
                    outcome = exc
                tally.record(due, sent, time.monotonic(), outcome, timeout)
        finally:
            outstanding -= 1

    async def closed_caller() -> None:
        nonlocal outstanding
        while True:
            due = sched.next_due(time.monotonic())
            if due is None:
                return
            outstanding += 1
            await one(due)

    tasks: list[asyncio.Task[None]] = []
    if isinstance(model, ClosedModel):
        tasks = [asyncio.ensure_future(closed_caller()) for _ in range(workers)]
    else:
        while True:
            due = sched.next_due(time.monotonic())
            if due is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if outstanding >= cap:
                tally.drop(due)
                continue
            outstanding += 1
            tasks.append(asyncio.ensure_future(one(due)))
            if len(tasks) > 4 * cap:
                tasks = [t for t in tasks if not t.done()]
    if tasks:
        left = max(0.0, sched.end - time.monotonic()) + timeout
        _, pending = await asyncio.wait(tasks, timeout=left)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    elapsed = min(time.monotonic(), sched.end) - sched.window_start
    return _result(job, tally, model, warmup, duration, max(elapsed, 1e-9), sched.stopped_by, "asyncio", workers)
