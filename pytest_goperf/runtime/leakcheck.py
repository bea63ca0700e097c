"""The leak check around a block of test code: snapshots, the settle loop, the runtime's proof, saved dumps.

The judgement itself (which goroutines are new, which are infrastructure or
ignored, how they group) is pure and lives in
:mod:`pytest_goperf.analysis.leaks`; this module only talks to the service.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ..analysis.leaks import Discount, Ignore, LeakPolicy, LeakReport, judge_goroutines
from ..errors import GoroutineLeakError
from ..formats.goroutines import Goroutine, parse_goroutines
from .pprof import PprofClient

if TYPE_CHECKING:
    from .service import GoService

__all__ = ["LeakCheck", "assert_no_goroutine_leak"]


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
        allow_remote: bool = False,
    ) -> None:
        self._service: GoService | None
        if isinstance(service, str):
            self._pprof = PprofClient(service, allow_remote=allow_remote)
            self._service = None
        elif isinstance(service, PprofClient):
            self._pprof, self._service = service, None
        else:
            self._pprof, self._service = service.pprof, service
        # The project's rules ([tool.goperf.leak]) come with a service the plugin started; then this call's.
        base = self._service.leak_policy if self._service is not None else LeakPolicy()
        self.policy = base.with_rules(ignore, settle_timeout)
        self.ignore = self.policy.ignore
        self.settle_timeout = self.policy.settle_timeout
        self.use_leak_profile = use_leak_profile
        self.artifacts_dir = Path(artifacts_dir) if artifacts_dir is not None else None
        self.report: LeakReport | None = None
        self._before_text = ""
        self._before: list[Goroutine] = []

    @property
    def service(self) -> GoService | None:
        """The service checked (None when checking a bare pprof client or URL)."""
        return self._service

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
            return  # the block failed: report that, not a leak caused by the failure
        self.check()

    def check(self) -> LeakReport:
        """Settle, then raise :class:`GoroutineLeakError` if goroutines leaked; returns the report."""
        start = time.monotonic()
        deadline = start + self.settle_timeout
        delay = 0.005
        while True:
            after_text = self._dump()
            judged = judge_goroutines(self._before, parse_goroutines(after_text), self.ignore)
            leaks = judged.leaks
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
                judged = judge_goroutines(self._before, marked, self.ignore)
                leaks = judged.leaks
                proven = {g.id for g in leaks if g.leaked}
        paths: tuple[Path, ...] = ()
        if leaks:
            paths = self._save(after_text, leak_text)
        discounted: tuple[Discount, ...] = judged.discounted
        go_version = self._service.go_version if self._service is not None else None
        self.report = LeakReport(tuple(leaks), frozenset(proven), settled, has_profile, paths, discounted,
                                 go_version or None)
        if leaks:
            raise GoroutineLeakError(str(self.report), report=self.report)
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
    allow_remote: bool = False,
) -> LeakCheck:
    """Fail if goroutines started inside the ``with`` block outlive it.

    ``service`` is a :class:`~pytest_goperf.GoService`, a pprof client or a
    pprof base URL. ``ignore`` takes :class:`IgnoreSpec` rules (top function,
    any function, created-by, state; exact, glob or ``re:`` patterns) or
    predicates on a goroutine; a service started by the plugin adds the
    project's rules from ``[tool.goperf.leak] ignore``. New goroutines get
    ``settle_timeout`` seconds to finish (polled with backoff; default: the
    project's ``settle_timeout``, else :data:`~pytest_goperf.config.DEFAULT_SETTLE_TIMEOUT`). Dumps of a failing check are kept in
    ``artifacts_dir`` (a temporary folder when not given). A URL must name a
    loopback host unless ``allow_remote``::

        with assert_no_goroutine_leak(go_service):
            go_service.client.get("/work")
    """
    return LeakCheck(
        service,
        ignore=ignore,
        settle_timeout=settle_timeout,
        use_leak_profile=use_leak_profile,
        artifacts_dir=artifacts_dir,
        allow_remote=allow_remote,
    )
