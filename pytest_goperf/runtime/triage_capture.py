"""Capture one triage window from a live service's pprof endpoint into a folder.

Safe against a production service by construction:

- one CPU profile and one execution trace, both of the same ``seconds``
  window and started together, never longer than asked;
- every request has a timeout (the window plus ``request_timeout``);
- every body is read as a stream and cut off at ``max_bytes`` (the capture
  then fails for that file, with a message, instead of filling the memory);
- the goroutine dumps come just before and just after the window, so they
  do not stop the world inside the traced window.

A CPU profile refused because another one is running (500) is recorded as a
capture error and triage goes on with the rest.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx

from .. import __version__
from ..errors import ConfigError, PprofError
from .capture import _explain

__all__ = ["FILES", "CaptureLimits", "CaptureResult", "capture"]

#: File names of a triage folder: role -> name. ``goperf triage DIR`` reads these
#: names first and recognises other files by their content.
FILES: Mapping[str, str] = {
    "trace": "trace.out",
    "cpu": "cpu.pprof",
    "goroutines_start": "goroutines-start.txt",
    "goroutines": "goroutines.txt",  # debug=2 at the end; leaked goroutines marked when the service can say
    "goroutines_debug1": "goroutines-debug1.txt",
    "goroutineleak": "goroutineleak.txt",  # debug=1 of the leak profile
    "meta": "triage.json",
}


@dataclass(frozen=True)
class CaptureLimits:
    """Bounds of one capture (seconds and bytes)."""

    seconds: float = 10.0
    request_timeout: float = 10.0  # beyond the window, for each request
    max_bytes: int = 64 << 20  # per file: an execution trace of a busy service is a few MB a second
    max_dump_bytes: int = 32 << 20


@dataclass(frozen=True)
class CaptureResult:
    """Where the files went and what could not be captured (role -> message)."""

    directory: Path
    files: dict[str, Path]
    errors: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0
    seconds: float = 0.0


class _Client:
    """GET with a timeout and a size cap; failures become :class:`PprofError` naming the URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        # No keep-alive (the service would see our idle connection as a goroutine in IO wait),
        # no proxy from the environment.
        self._client = httpx.Client(
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"Connection": "close"},
            trust_env=False,
        )

    def close(self) -> None:
        self._client.close()

    def get(self, name: str, params: Mapping[str, str | int], *, timeout: float, max_bytes: int) -> bytes:
        url = f"{self.base_url}/debug/pprof/{name}"
        try:
            with self._client.stream("GET", url, params=params, timeout=timeout) as resp:
                if resp.status_code != 200:
                    body = resp.read()[:300].decode("utf-8", "replace").strip()
                    if resp.status_code == 404:
                        raise PprofError(f"{url} answered 404: this endpoint is not served (pprof not enabled, "
                                         "or a Go release without it)")
                    raise PprofError(f"{url} answered {resp.status_code}: {body}")
                chunks, size = [], 0
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PprofError(f"{url} sent more than {max_bytes} bytes: capture stopped there "
                                         "(use a shorter --seconds, or raise --max-mb)")
                    chunks.append(chunk)
                return b"".join(chunks)
        except httpx.TimeoutException:
            raise PprofError(f"{url} did not answer within {timeout:g} s: the service may be overloaded or stuck") from None
        except httpx.HTTPError as exc:
            raise PprofError(f"cannot reach {url}: {exc}; is the service running and is this its pprof address?") from None


def _timestamped(parent: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = parent / f"triage-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = parent / f"triage-{stamp}-{n}"
    return path


def capture(
    url: str,
    parent: Path,
    *,
    limits: CaptureLimits = CaptureLimits(),
    progress: Callable[[str], None] | None = None,
) -> CaptureResult:
    """Capture one window of the service whose pprof base URL is ``url`` into a new folder under ``parent``.

    Writes the files of :data:`FILES` that could be captured and returns the
    folder; raises :class:`PprofError` only when the service cannot be reached
    at all (no dump at the start).
    """
    seconds = limits.seconds
    if not (0 < seconds <= 60):
        raise ConfigError(f"--seconds must be between 0 and 60 (a bounded window), got {seconds!r}")
    whole = max(1, round(seconds))  # the CPU profile endpoint takes whole seconds
    say = progress or (lambda _msg: None)
    client = _Client(url)
    errors: dict[str, str] = {}
    bodies: dict[str, bytes] = {}
    try:
        dump_timeout = limits.request_timeout
        bodies["goroutines_start"] = client.get("goroutine", {"debug": 2}, timeout=dump_timeout,
                                                max_bytes=limits.max_dump_bytes)
        say(f"capturing a {seconds:g} s window: execution trace and CPU profile")
        results: dict[str, bytes | BaseException] = {}

        def fetch(role: str, name: str, params: Mapping[str, str | int]) -> None:
            try:
                results[role] = client.get(name, params, timeout=seconds + limits.request_timeout,
                                           max_bytes=limits.max_bytes)
            except BaseException as exc:  # noqa: BLE001 (reported in the caller's thread)
                results[role] = exc

        started_at = time.time()
        threads = [
            threading.Thread(target=fetch, args=("trace", "trace", {"seconds": f"{seconds:g}"}), daemon=True),
            threading.Thread(target=fetch, args=("cpu", "profile", {"seconds": whole}), daemon=True),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + limits.request_timeout + 5)
        for role, kind in (("trace", "trace"), ("cpu", "cpu_profile")):
            value = results.get(role)
            if isinstance(value, PprofError):
                errors[role] = str(_explain(kind, value, seconds))
            elif isinstance(value, BaseException):
                errors[role] = f"{type(value).__name__}: {value}"
            elif value is None:
                errors[role] = "did not finish in time"
            else:
                bodies[role] = value
        say("capturing goroutine dumps")
        leak_ok = True
        try:
            # The leak profile's debug=2 is a full dump taken after a leak-detecting GC cycle,
            # with proven leaks marked "(leaked)": the end dump and the proof in one request.
            bodies["goroutines"] = client.get("goroutineleak", {"debug": 2}, timeout=dump_timeout,
                                              max_bytes=limits.max_dump_bytes)
        except PprofError as exc:
            if "404" not in str(exc):
                errors["goroutineleak"] = str(exc)
            leak_ok = False
            bodies["goroutines"] = client.get("goroutine", {"debug": 2}, timeout=dump_timeout,
                                              max_bytes=limits.max_dump_bytes)
        for role, name in (("goroutines_debug1", "goroutine"), ("goroutineleak", "goroutineleak")):
            if role == "goroutineleak" and not leak_ok:
                continue
            try:
                bodies[role] = client.get(name, {"debug": 1}, timeout=dump_timeout, max_bytes=limits.max_dump_bytes)
            except PprofError as exc:
                errors[role] = str(exc)
    finally:
        client.close()
    directory = _timestamped(parent)
    directory.mkdir(parents=True)
    files: dict[str, Path] = {}
    for role, data in bodies.items():
        path = directory / FILES[role]
        path.write_bytes(data)
        files[role] = path
    meta = {
        "url": url,
        "started_at": started_at,
        "seconds": seconds,
        "files": {role: p.name for role, p in sorted(files.items())},
        "errors": errors,
        "goperf_version": __version__,
    }
    (directory / FILES["meta"]).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return CaptureResult(directory, files, errors, started_at, seconds)
