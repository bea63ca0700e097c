"""Goroutine-leak detection around a block of test code.

A leak is a goroutine that appeared during the block and is still there after
a settle period, minus ignore rules. Goroutines that existed before the block
are never blamed. Where the service serves the runtime's GC-based leak profile
(Go 1.27, or Go 1.26 built with ``GOEXPERIMENT=goroutineleakprofile``), each
leak is also reported as *proven* (the GC found the primitive it waits on
unreachable) or *suspected* (only still present after settling).

The analysis here (``new_goroutines``, ``group_leaks``, ``format_leak_report``)
is pure; only :class:`LeakCheck` talks to the service.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Callable, Iterable, Sequence, Union

from ..config import IgnoreSpec
from ..errors import GoroutineLeakError
from ..formats.goroutines import Frame, Goroutine, parse_goroutines
from ..runtime.pprof import PprofClient
from .patterns import name_matcher

if TYPE_CHECKING:
    from ..runtime.service import GoService

__all__ = [
    "IgnoreSpec",
    "LeakCheck",
    "LeakGroup",
    "LeakReport",
    "assert_no_goroutine_leak",
    "format_leak_report",
    "group_leaks",
    "is_infrastructure",
    "new_goroutines",
]

Ignore = Union[IgnoreSpec, Callable[[Goroutine], bool]]


def matches(spec: IgnoreSpec, g: Goroutine) -> bool:
    """Whether every field set in ``spec`` matches ``g``."""
    if spec.top_function is not None and not name_matcher(spec.top_function)(g.top_function):
        return False
    if spec.function is not None:
        m = name_matcher(spec.function)
        if not any(m(f.function) for f in g.frames):
            return False
    if spec.created_by is not None:
        if g.created_by is None or not name_matcher(spec.created_by)(g.created_by.function):
            return False
    if spec.state is not None and not name_matcher(spec.state)(g.state):
        return False
    return True


# Packages whose frames alone make up an idle HTTP server connection's stack.
_HTTP_CONN_PACKAGES = ("internal/poll.", "net.", "bufio.", "net/http.", "runtime.", "crypto/tls.", "io.", "syscall.")


def is_infrastructure(g: Goroutine) -> bool:
    """Goroutines that belong to the observation itself, never blamed.

    - a goroutine serving a ``/debug/pprof/`` request (the dump's own handler);
    - an HTTP server connection waiting in I/O with nothing but ``net/http``
      and I/O frames on its stack: an idle keep-alive connection waiting for
      the next request, or the background reader of one in flight. A
      client's open connection is not a leak of the handler code; a handler
      stuck inside its own code keeps its frames on the stack and is still
      reported.
    """
    funcs = [f.function for f in g.frames]
    if any(fn.startswith(("net/http/pprof.", "runtime/pprof.writeGoroutine")) for fn in funcs):
        return True
    if g.state == "IO wait" and (
        "net/http.(*conn).serve" in funcs or "net/http.(*connReader).backgroundRead" in funcs
    ):
        return all(fn.startswith(_HTTP_CONN_PACKAGES) for fn in funcs)
    return False


def _ignored(g: Goroutine, ignore: Sequence[Ignore]) -> bool:
    for rule in ignore:
        if isinstance(rule, IgnoreSpec):
            if matches(rule, g):
                return True
        elif rule(g):
            return True
    return False


def new_goroutines(
    before: Iterable[Goroutine], after: Iterable[Goroutine], ignore: Sequence[Ignore] = ()
) -> list[Goroutine]:
    """Goroutines in ``after`` whose id is not in ``before``, minus infrastructure and ignored ones."""
    seen = {g.id for g in before}
    return [g for g in after if g.id not in seen and not is_infrastructure(g) and not _ignored(g, ignore)]


@dataclass(frozen=True)
class LeakGroup:
    """Leaked goroutines that share a creation site, state and stack."""

    count: int
    state: str
    frames: tuple[Frame, ...]
    created_by: Frame | None
    ids: tuple[int, ...]
    proven: int
    max_wait_minutes: int
    labels: tuple[tuple[str, str], ...]

    @property
    def suspected(self) -> int:
        return self.count - self.proven


def group_leaks(leaks: Iterable[Goroutine], proven_ids: Iterable[int] = ()) -> list[LeakGroup]:
    """Group leaked goroutines by creation site, state and stack; largest group first."""
    proven = set(proven_ids)
    buckets: dict[tuple, list[Goroutine]] = {}
    for g in leaks:
        key = (
            g.created_by.function if g.created_by else "",
            g.created_by.file if g.created_by else "",
            g.created_by.line if g.created_by else 0,
            g.state,
            tuple(f.function for f in g.frames),
        )
        buckets.setdefault(key, []).append(g)
    groups = [
        LeakGroup(
            count=len(gs),
            state=gs[0].state,
            frames=gs[0].frames,
            created_by=gs[0].created_by,
            ids=tuple(sorted(g.id for g in gs)),
            proven=sum(1 for g in gs if g.id in proven),
            max_wait_minutes=max(g.wait_minutes for g in gs),
            labels=gs[0].labels,
        )
        for gs in buckets.values()
    ]
    groups.sort(key=lambda grp: (-grp.count, grp.created_by.function if grp.created_by else "", grp.state))
    return groups


@dataclass(frozen=True)
class LeakReport:
    """The outcome of one leak check."""

    leaks: tuple[Goroutine, ...]
    proven_ids: frozenset[int]
    settle_seconds: float
    leak_profile: bool
    dump_paths: tuple[Path, ...] = ()

    @property
    def groups(self) -> list[LeakGroup]:
        return group_leaks(self.leaks, self.proven_ids)

    def __str__(self) -> str:
        return format_leak_report(self)


def _where(frame: Frame) -> str:
    return f"{frame.file}:{frame.line}" if frame.file else "?"


def format_leak_report(report: LeakReport, max_frames: int = 6, max_groups: int = 20) -> str:
    """The failure message: leaked goroutines grouped by creation site and stack."""
    n = len(report.leaks)
    proven = sum(1 for g in report.leaks if g.id in report.proven_ids)
    if report.leak_profile:
        verdict = f"{proven} proven by the Go runtime's leak detector, {n - proven} suspected"
    else:
        verdict = "suspected: the service has no goroutineleak profile (Go 1.27+, or 1.26 with GOEXPERIMENT=goroutineleakprofile)"
    lines = [
        f"{n} goroutine{'s' if n != 1 else ''} leaked: started during the block and still alive after settling "
        f"for {report.settle_seconds:.1f} s ({verdict})",
    ]
    groups = report.groups
    for grp in groups[:max_groups]:
        kind = ""
        if report.leak_profile:
            kind = "proven" if grp.proven == grp.count else "suspected" if grp.proven == 0 else f"{grp.proven} proven"
            kind = f", {kind}"
        wait = f", waiting {grp.max_wait_minutes}+ min" if grp.max_wait_minutes else ""
        ids = ", ".join(str(i) for i in grp.ids[:8]) + (" ..." if len(grp.ids) > 8 else "")
        lines.append("")
        lines.append(f"  {grp.count} x [{grp.state}]{wait}{kind}  (goroutine {ids})")
        if grp.labels:
            lines.append("    labels: " + ", ".join(f"{k}={v}" for k, v in grp.labels))
        for f in grp.frames[:max_frames]:
            lines.append(f"    {f.function}")
            lines.append(f"        {_where(f)}")
        if len(grp.frames) > max_frames:
            lines.append(f"    ... {len(grp.frames) - max_frames} more frames")
        if grp.created_by is not None:
            lines.append(f"    created by {grp.created_by.function}")
            lines.append(f"        {_where(grp.created_by)}")
    if len(groups) > max_groups:
        lines.append(f"\n  ... and {len(groups) - max_groups} more groups")
    if report.dump_paths:
        lines.append("")
        lines.append("dumps: " + ", ".join(str(p) for p in report.dump_paths))
    return "\n".join(lines)


class LeakCheck:
    """Context manager behind :func:`assert_no_goroutine_leak`."""

    def __init__(
        self,
        service: GoService | PprofClient | str,
        *,
        ignore: Sequence[Ignore] = (),
        settle_timeout: float | None = None,
        use_leak_profile: bool = True,
        artifacts_dir: Path | str | None = None,
    ) -> None:
        defaults: tuple[Ignore, ...] = tuple(getattr(service, "leak_ignore", ()))
        if settle_timeout is None:
            settle_timeout = getattr(service, "leak_settle_timeout", None) or 5.0
        if isinstance(service, str):
            self._pprof = PprofClient(service)
            self._service = None
        elif isinstance(service, PprofClient):
            self._pprof, self._service = service, None
        else:
            self._pprof, self._service = service.pprof, service
        self.ignore = (*defaults, *ignore)  # the project's rules ([tool.goperf.leak]) and this call's
        self.settle_timeout = settle_timeout
        self.use_leak_profile = use_leak_profile
        self.artifacts_dir = Path(artifacts_dir) if artifacts_dir is not None else None
        self.report: LeakReport | None = None
        self._before_text = ""
        self._before: list[Goroutine] = []

    def _dump(self) -> str:
        if self._service is not None:
            self._service.check_alive()
        return self._pprof.goroutine_dump(2)

    def __enter__(self) -> LeakCheck:
        self._before_text = self._dump()
        self._before = parse_goroutines(self._before_text)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is not None:
            return None  # the block failed: report that, not a leak caused by the failure
        self.check()
        return None

    def check(self) -> LeakReport:
        """Settle, then raise :class:`GoroutineLeakError` if goroutines leaked; returns the report."""
        start = time.monotonic()
        deadline = start + self.settle_timeout
        delay = 0.005
        while True:
            after_text = self._dump()
            leaks = new_goroutines(self._before, parse_goroutines(after_text), self.ignore)
            if not leaks or time.monotonic() >= deadline:
                break
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.25)
        settled = time.monotonic() - start
        proven: set[int] = set()
        leak_text = None
        has_profile = False
        if leaks and self.use_leak_profile:
            leak_text = self._pprof.leak_dump()
            if leak_text is not None:
                has_profile = True
                marked = parse_goroutines(leak_text)
                # The leak dump is the freshest snapshot: judge on it.
                leaks = new_goroutines(self._before, marked, self.ignore)
                proven = {g.id for g in leaks if g.leaked}
        paths: tuple[Path, ...] = ()
        if leaks:
            paths = self._save(after_text, leak_text)
        self.report = LeakReport(tuple(leaks), frozenset(proven), settled, has_profile, paths)
        if leaks:
            raise GoroutineLeakError(str(self.report))
        return self.report

    def _save(self, after_text: str, leak_text: str | None) -> tuple[Path, ...]:
        directory = self.artifacts_dir or Path(tempfile.mkdtemp(prefix="goperf-leak-"))
        directory.mkdir(parents=True, exist_ok=True)
        files = [("goroutines-before.txt", self._before_text), ("goroutines-after.txt", after_text)]
        if leak_text is not None:
            files.append(("goroutineleak-after.txt", leak_text))
        out = []
        for name, text in files:
            path = directory / name
            path.write_text(text)
            out.append(path)
        return tuple(out)


def assert_no_goroutine_leak(
    service: GoService | PprofClient | str,
    *,
    ignore: Sequence[Ignore] = (),
    settle_timeout: float | None = None,
    use_leak_profile: bool = True,
    artifacts_dir: Path | str | None = None,
) -> LeakCheck:
    """Fail if goroutines started inside the ``with`` block outlive it.

    ``service`` is a :class:`~pytest_goperf.GoService`, a pprof client or a
    pprof base URL. ``ignore`` takes :class:`IgnoreSpec` rules (top function,
    any function, created-by, state; exact, glob or ``re:`` patterns) or
    predicates on a goroutine; a service started by the plugin adds the
    project's rules from ``[tool.goperf.leak] ignore``. New goroutines get
    ``settle_timeout`` seconds to finish (polled with backoff; default: the
    project's ``settle_timeout``, else 5 s). Dumps of a failing check are kept in
    ``artifacts_dir`` (a temporary folder when not given)::

        with assert_no_goroutine_leak(go_service):
            go_service.client.get("/work")
    """
    return LeakCheck(
        service,
        ignore=ignore,
        settle_timeout=settle_timeout,
        use_leak_profile=use_leak_profile,
        artifacts_dir=artifacts_dir,
    )
