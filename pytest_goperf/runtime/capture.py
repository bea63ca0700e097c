"""Capture one window of a live service: raw bytes from its pprof endpoints, optionally under load.

The one capture used by measurement rounds and ``goperf triage``:

1. a goroutine dump (``debug=2``) just before the window;
2. the window itself: an execution trace and a CPU profile of the same
   seconds, started together (so the trace also carries the profile's CPU
   samples), while the optional load runs;
3. just after: the end dump (``goroutineleak?debug=2``, proven leaks marked
   ``(leaked)``, where served; else ``goroutine?debug=2``), and as asked the
   goroutine and leak profiles (``debug=1``) and the heap profile.

Dumps are taken outside the window so their stop-the-world pauses do not
show in the trace. Every request has a timeout and a size cap (the one
:class:`~pytest_goperf.runtime.pprof.PprofClient`). With ``strict`` a
failed capture raises (measurement rounds need every part); without it the
failure is recorded in :attr:`RawWindow.errors` and the capture goes on
(triage works with what it gets), except for the start dump: a service that
cannot give that is not reachable at all.

The Go runtime allows one CPU profile per process (a second concurrent
``/debug/pprof/profile`` answers 500), and ``seconds`` must stay below the
server's ``WriteTimeout`` (400 otherwise); both are explained in the error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import check_service_url
from ..errors import ConfigError, PprofError
from ..formats.sniff import Kind, sniff
from ..formats.window import RawWindow, WindowFiles
from .files import new_folder, save_window
from .pprof import PprofAccess, PprofClient

if TYPE_CHECKING:
    from ..load.result import LoadResult

__all__ = ["MAX_TRIAGE_SECONDS", "TRIAGE_CAPTURE", "CaptureOptions", "SavedWindow", "capture_folder", "capture_window", "explain"]

#: Longest window ``goperf triage`` captures (a bounded look at a production service).
MAX_TRIAGE_SECONDS = 60.0


@dataclass(frozen=True)
class CaptureOptions:
    """What one window captures, and its bounds.

    ``request_timeout`` is allowed beyond the window for each request;
    ``max_bytes`` bounds the trace and profiles, ``max_dump_bytes`` each dump.
    """

    trace: bool = True
    cpu_profile: bool = True
    heap: bool = False
    goroutine_profile: bool = False  # goroutine?debug=1 after the window
    leak_profile: bool = False  # goroutineleak?debug=1 after the window
    request_timeout: float = 30.0
    max_bytes: int = 256 << 20
    max_dump_bytes: int = 64 << 20
    strict: bool = True


def explain(role: str, exc: PprofError, seconds: float) -> PprofError:
    """A capture error with the reason a Go service refuses a window, when it is one of the known ones."""
    if role == "cpu_profile" and exc.status == 500:
        return PprofError(
            "the service refused the CPU profile: only one can run at a time in a Go process and another one "
            f"is running (someone else's `go tool pprof`, or an overlapping capture). ({exc})",
            status=exc.status, url=exc.url,
        )
    if role in ("cpu_profile", "trace") and exc.status == 400 and "WriteTimeout" in str(exc):
        return PprofError(
            f"a {seconds:g} s window is not shorter than the service's http.Server WriteTimeout, so pprof refuses "
            f"it: use a shorter window or raise WriteTimeout. ({exc})",
            status=exc.status, url=exc.url,
        )
    return exc


#: The format each captured role must have; anything else is not saved as that role.
EXPECTED_KIND: dict[str, tuple[Kind, ...]] = {
    "goroutines_start": ("goroutines",), "goroutines_end": ("goroutines",), "trace": ("trace",),
    "cpu_profile": ("profile",), "heap": ("profile",), "goroutine_profile": ("goroutine_profile",),
    "leak_profile": ("leak_profile",),
}


def checked(role: str, body: bytes, url: str) -> bytes:
    """``body`` when it is in the format of ``role``; else a :class:`PprofError` saying what came instead.

    An empty heap or CPU profile is still a profile (a service that did nothing).
    """
    kinds = EXPECTED_KIND.get(role)
    if kinds is None or (not body and role in ("cpu_profile", "heap")) or sniff(body) in kinds:
        return body
    head = body[:60].decode("utf-8", "replace").strip()
    raise PprofError(
        f"{url} answered 200 but not with a {role.replace('_', ' ')} ({len(body)} bytes starting {head!r}): this is "
        "not a pprof endpoint; point goperf at the listener that registers net/http/pprof (pprof_url)",
        status=200, url=url,
    )


def _run(results: dict[str, Any], role: str, func: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            results[role] = func()
        except BaseException as exc:
            results[role] = exc

    t = threading.Thread(target=run, name=f"goperf-capture-{role}", daemon=True)
    t.start()
    return t


def capture_window(
    pprof: PprofClient,
    *,
    seconds: float,
    load: Callable[[], LoadResult] | None = None,
    warmup: float = 0.0,
    options: CaptureOptions = CaptureOptions(),
    check_alive: Callable[[], None] | None = None,
    progress: Callable[[str], None] | None = None,
    source: str = "",
    cpu_clock: Callable[[], int | None] | None = None,
) -> RawWindow:
    """Capture one window of ``seconds`` from the service behind ``pprof``.

    ``load``, when given, is called in a thread before the window and must
    apply ``warmup`` seconds of load and then ``seconds`` more (the window
    starts after the warm-up). ``check_alive`` raises when the service has
    exited (called before and after the window); ``cpu_clock`` reads the
    service's own CPU time (ns), at the start and the end of the window.

    :raises PprofError: the start dump could not be taken, or (``strict``)
        any part could not be captured.
    """
    if seconds <= 0:
        raise ConfigError(f"a window must be longer than 0 seconds, got {seconds!r}")
    if warmup < 0:
        raise ConfigError(f"warmup must be >= 0 seconds, got {warmup!r}")
    whole = max(1, round(seconds))  # the CPU profile endpoint takes whole seconds
    say = progress or (lambda _msg: None)
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    dump_timeout = options.request_timeout

    def dump(name: str, debug: int, role: str = "goroutines_end") -> bytes:
        got = pprof.get(name, {"debug": debug}, timeout=dump_timeout, max_bytes=options.max_dump_bytes)
        return checked(role, got, pprof.url_of(name))

    if check_alive is not None:
        check_alive()
    body["goroutines_start"] = dump("goroutine", 2, "goroutines_start")
    results: dict[str, Any] = {}
    threads = []
    if load is not None:
        threads.append(_run(results, "load", load))
        if warmup:
            time.sleep(warmup)
    say(f"capturing a {seconds:g} s window: execution trace and CPU profile")
    cpu_start = cpu_clock() if cpu_clock is not None else None
    started_at = time.time()
    window_timeout = seconds + options.request_timeout
    if options.trace:
        threads.append(_run(results, "trace", lambda: checked("trace", pprof.get(
            "trace", {"seconds": f"{seconds:g}"}, timeout=window_timeout, max_bytes=options.max_bytes),
            pprof.url_of("trace"))))
    if options.cpu_profile:
        threads.append(_run(results, "cpu_profile", lambda: checked("cpu_profile", pprof.get(
            "profile", {"seconds": whole}, timeout=window_timeout, max_bytes=options.max_bytes),
            pprof.url_of("profile"))))
    join = window_timeout + warmup + 5
    for t in threads:
        t.join(join)
    cpu_end = cpu_clock() if cpu_clock is not None else None
    process_cpu = cpu_end - cpu_start if cpu_start is not None and cpu_end is not None else None
    for role in ("load", "trace", "cpu_profile"):
        if (role == "load" and load is None) or (role == "trace" and not options.trace) \
                or (role == "cpu_profile" and not options.cpu_profile):
            continue
        value = results.get(role)
        if value is None:
            value = PprofError(f"the {role.replace('_', ' ')} of the window did not finish within {join:.0f} s")
        if isinstance(value, BaseException):
            if isinstance(value, PprofError):
                value = explain(role, value, seconds)
            if options.strict or role == "load":
                raise value
            errors[role] = str(value) if isinstance(value, PprofError) else f"{type(value).__name__}: {value}"
        else:
            body[role] = value
    if check_alive is not None:
        check_alive()
    say("capturing goroutine dumps")
    # The leak profile's debug=2 is a full dump taken after a leak-detecting GC cycle,
    # with proven leaks marked "(leaked)": the end dump and the proof in one request.
    has_leak = False
    try:
        body["goroutines_end"] = dump("goroutineleak", 2)
        has_leak = True
    except PprofError as exc:
        if exc.status != 404:
            if options.strict:
                raise
            errors["leak_profile"] = str(exc)
        body["goroutines_end"] = dump("goroutine", 2)
    later = []
    if options.goroutine_profile:
        later.append(("goroutine_profile", "goroutine", 1))
    if options.leak_profile and has_leak:
        later.append(("leak_profile", "goroutineleak", 1))
    if options.heap:
        later.append(("heap", "heap", 0))
    for role, name, debug in later:
        try:
            if debug:
                body[role] = dump(name, debug, role)
            else:
                body[role] = checked(role, pprof.get(name, timeout=dump_timeout, max_bytes=options.max_bytes),
                                     pprof.url_of(name))
        except PprofError as exc:
            if options.strict:
                raise
            errors[role] = str(exc)
    return RawWindow(
        seconds=float(seconds),
        started_at=started_at,
        source=source or pprof.base_url,
        errors=errors,
        end_dump_marked=has_leak,
        process_cpu_ns=process_cpu,
        **body,
    )


#: What ``goperf triage`` captures: the window, both dumps, the goroutine and leak profiles; failures noted, not fatal.
TRIAGE_CAPTURE = CaptureOptions(goroutine_profile=True, leak_profile=True, request_timeout=10.0,
                                max_bytes=64 << 20, max_dump_bytes=32 << 20, strict=False)


@dataclass(frozen=True)
class SavedWindow:
    """A captured window and where its files went."""

    raw: RawWindow
    files: WindowFiles

    @property
    def directory(self) -> Path:
        """The window's folder."""
        return self.files.directory

    @property
    def errors(self) -> Mapping[str, str]:
        """Role -> why it could not be captured."""
        return self.raw.errors


def capture_folder(
    url: str,
    parent: Path,
    *,
    seconds: float = 10.0,
    options: CaptureOptions = TRIAGE_CAPTURE,
    progress: Callable[[str], None] | None = None,
    access: PprofAccess | None = None,
    allow_remote: bool = False,
) -> SavedWindow:
    """Capture one window of the service whose pprof base URL is ``url`` into a new folder under ``parent``.

    ``url`` must name a loopback host unless ``allow_remote``.

    :raises ConfigError: ``seconds`` is not in (0, 60], or ``url`` is not an
        http(s) URL of a loopback host (without ``allow_remote``).
    :raises PprofError: the service cannot be reached at all (no start dump).
    """
    if not (0 < seconds <= MAX_TRIAGE_SECONDS):
        raise ConfigError(f"--seconds must be between 0 and {MAX_TRIAGE_SECONDS:g} (a bounded window), got {seconds!r}")
    check_service_url(url, "the service URL", allow_remote=allow_remote, option="allow_remote=True (--allow-remote)")
    client = PprofClient(url, access=access, allow_remote=allow_remote)
    try:
        raw = capture_window(client, seconds=seconds, options=options, progress=progress, source=client.base_url)
    finally:
        client.close()
    return SavedWindow(raw, save_window(raw, new_folder(parent, "triage")))
