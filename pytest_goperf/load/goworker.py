"""The Go load worker (``engine="go"``): a small Go program that drives the load, built on first use.

Why: on the project's 2-core machines the load generator and the service
share the cores, so the client's CPU time per request limits the throughput.
Measured side by side with ``wrk -t2 -c16`` (bench/bench_load.py, docs/load.md),
this worker reached 0.87-1.29 of wrk's throughput over two runs, the Python
engine 0.88-1.69, with the ratios moving more with the neighbours than between
engines; a Go client on ``net/http`` reached 0.57-0.72 at twice the CPU per
request. So the worker writes pre-serialised requests on plain connections and
reads responses with a small parser of its own (``worker/http.go``). It holds
the open model's rate within 2 % at up to 20,000 requests/s and is late less
often than the Python engine at the highest rates.

The worker's Go source ships inside the package (``worker/``) and is built
with ``go build`` into the tool cache (:func:`pytest_goperf.config.tool_cache_dir`),
keyed by its sources and the Go toolchain, like the service under test. It
reads the scenario as one JSON line on standard input and writes one JSON result
on standard output: counts, status codes and the histograms as sparse bucket
lists in :mod:`.histogram`'s layout, so the :class:`LoadResult` is the same as
the Python engine's. Closing its standard input stops the sending (the
``stop`` event); it also bounds its own run time, and the caller kills it by
PID on an interrupt, a cancellation or when it overruns.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any, Final

from ..config import tool_cache_dir
from ..errors import BuildError, ConfigError, ServiceError, UsageError
from .histogram import LatencyHistogram, histogram_from_sparse
from .result import LoadResult, RequestStats
from .scenario import ClosedModel, Model, OpenModel, Scenario, Target

__all__ = ["WORKER_SOURCE", "run_worker", "worker_binary"]

#: The worker's Go module, shipped as package data.
WORKER_SOURCE: Final = Path(__file__).resolve().parent / "worker"
#: Seconds the worker may overrun warm-up + duration + twice the timeout before it is killed.
_GRACE_S: Final = 15.0
#: How often the waiting side looks at the stop and kill events.
_POLL_S: Final = 0.05

_built: dict[tuple[str, Path], Path] = {}
_build_lock = threading.Lock()


def worker_binary(go: str = "go") -> Path:
    """The built worker, from the cache when its sources and the toolchain are unchanged.

    :raises BuildError: no Go toolchain, or ``go build`` failed.
    """
    from ..runtime.build import build_binary

    cache = tool_cache_dir()
    with _build_lock:
        key = (go, cache)
        path = _built.get(key)
        if path is not None and path.is_file():
            return path
        if shutil.which(go) is None:
            raise BuildError(
                f"the Go load worker needs the Go toolchain ({go!r} is not on PATH): install Go "
                "(https://go.dev/dl), or use engine='python' (--engine python)"
            )
        result = build_binary(WORKER_SOURCE, cache, go=go, timeout=300.0)
        _built[key] = result.path
        return result.path


def _spec(target: Target, scenario: Scenario, prefix: str, model: Model, warmup: float, duration: float,
          max_requests: int | None, timeout: float, allow_remote: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "host": target.host,
        "port": target.port,
        "allow_remote": allow_remote,
        "payloads": [base64.b64encode(r.encode(target.host_header, prefix)).decode() for r in scenario.requests],
        "no_body": [r.method == "HEAD" for r in scenario.requests],
        "sequence": scenario.sequence(),
        "warmup_ns": int(warmup * 1e9),
        "duration_ns": int(duration * 1e9),
        "max_requests": max_requests or 0,
        "timeout_ns": int(timeout * 1e9),
    }
    if isinstance(model, ClosedModel):
        spec.update(model="closed", concurrency=model.concurrency)
    else:
        spec.update(model="open", rate=float(model.rate), in_flight_cap=model.in_flight_cap, connections=model.connections)
    return spec


def _drain(stream: IO[bytes], into: list[bytes]) -> None:
    into.append(stream.read())


def run_worker(
    url: str,
    target: Target,
    scenario: Scenario,
    prefix: str,
    *,
    model: Model,
    duration: float,
    warmup: float,
    max_requests: int | None,
    timeout: float,
    allow_remote: bool,
    stop: threading.Event | None = None,
    kill: threading.Event | None = None,
    binary: Path | None = None,
) -> LoadResult:
    """Run one load in the Go worker and return its result; blocks until it is done.

    Setting ``stop`` ends the sending (the answers outstanding are still
    counted); setting ``kill`` ends the worker at once (``ServiceError``).
    The worker is killed by PID when this call is interrupted or the worker
    overruns its bound.

    :raises ConfigError: the worker refused the scenario (e.g. a target that resolves to a remote address).
    :raises ServiceError: no connection to the target, or the worker failed.
    :raises BuildError: the worker cannot be built.
    """
    exe = binary or worker_binary()
    line = json.dumps(_spec(target, scenario, prefix, model, warmup, duration, max_requests, timeout, allow_remote))
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True),
    ]
    for t in readers:
        t.start()
    deadline = time.monotonic() + warmup + duration + 2 * timeout + _GRACE_S
    killed = ""
    assert proc.stdin is not None
    try:
        try:
            proc.stdin.write(line.encode() + b"\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # it exited at once; its output says why
        while True:
            try:
                proc.wait(timeout=_POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop is not None and stop.is_set() and not proc.stdin.closed:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()  # the end of its input ends the sending
            if kill is not None and kill.is_set():
                killed = "the load was cancelled"
                break
            if time.monotonic() > deadline:
                killed = f"the load worker (pid {proc.pid}) overran warm-up + duration + 2 x timeout by {_GRACE_S:g} s"
                break
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        for t in readers:
            t.join(timeout=5)
        for s in (proc.stdout, proc.stderr):
            if s is not None:
                s.close()
    stderr = b"".join(err).decode(errors="replace").strip()
    if killed:
        raise ServiceError(f"{killed}; it was killed{': ' + stderr[-2000:] if stderr else ''}")
    raw = b"".join(out)
    try:
        data: dict[str, Any] = json.loads(raw) if raw.strip() else {}
    except ValueError:
        data = {}
    if data.get("config_error"):
        raise ConfigError(str(data["config_error"]))
    if data.get("fatal"):
        raise ServiceError(str(data["fatal"]))
    if proc.returncode != 0 or "requests" not in data:
        raise ServiceError(
            f"the load worker {exe} exited with status {proc.returncode} without a result"
            f"{': ' + stderr[-2000:] if stderr else ''}"
        )
    try:
        return _result(url, scenario, model, warmup, data)
    except (KeyError, TypeError, ValueError, UsageError) as exc:
        raise ServiceError(f"the load worker's result cannot be read ({exc.__class__.__name__}: {exc})") from None


def _histogram(h: dict[str, Any]) -> LatencyHistogram:
    return histogram_from_sparse(
        h["buckets"], count=int(h["count"]), total_ns=int(h["total_ns"]), min_ns=int(h["min_ns"]), max_ns=int(h["max_ns"])
    )


def _result(url: str, scenario: Scenario, model: Model, warmup: float, data: dict[str, Any]) -> LoadResult:
    by_request = []
    total = LatencyHistogram()
    status_counts: dict[int, int] = {}
    for r, d in zip(scenario.requests, data["requests"], strict=True):
        h = _histogram(d["latency"])
        total.merge(h)
        codes = {int(k): int(v) for k, v in sorted(d["status_counts"].items(), key=lambda kv: int(kv[0]))}
        for code, n in codes.items():
            status_counts[code] = status_counts.get(code, 0) + n
        by_request.append(
            RequestStats(
                name=r.name,
                sent=int(d["sent"]),
                completed=h.count,
                failed=int(d["failed"]),
                dropped=int(d["dropped"]),
                status_counts=codes,
                latency=h,
            )
        )
    stopped_by = data["stopped_by"]
    if stopped_by not in ("duration", "max_requests", "stop_event"):
        raise ValueError(f"unknown stopped_by {stopped_by!r}")
    return LoadResult(
        target=url,
        model="open" if isinstance(model, OpenModel) else "closed",
        target_rate=float(model.rate) if isinstance(model, OpenModel) else None,
        concurrency=model.concurrency if isinstance(model, ClosedModel) else None,
        warmup=int(warmup * 1e9) / 1e9,
        duration=int(data["duration_ns"]) / 1e9,
        elapsed=int(data["elapsed_ns"]) / 1e9,
        stopped_by=stopped_by,
        sent=int(data["sent"]),
        completed=total.count,
        failed=sum(r.failed for r in by_request),
        dropped=sum(r.dropped for r in by_request),
        late=int(data["late"]),
        status_counts=dict(sorted(status_counts.items())),
        errors=dict(sorted((str(k), int(v)) for k, v in data["errors"].items())),
        error_samples=dict(sorted((str(k), str(v)) for k, v in data["error_samples"].items())),
        latency=total,
        send_lag=_histogram(data["send_lag"]),
        by_request=tuple(by_request),
        client="go",
        connections=int(data["connections"]),
    )
