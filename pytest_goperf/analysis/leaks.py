"""Goroutine-leak detection around a block of test code.

A leak is a goroutine that appeared during the block and is still there after
a settle period, minus ignore rules. Goroutines that existed before the block
are never blamed. Where the service serves the runtime's GC-based leak profile
(Go 1.27, or Go 1.26 built with ``GOEXPERIMENT=goroutineleakprofile``), each
leak is also reported as *proven* (the GC found the primitive it waits on
unreachable) or *suspected* (only still present after settling).

Everything here is pure: dumps in, leaks and reports out. The check that
talks to the service (snapshots, the settle loop, saved dumps) is
:mod:`pytest_goperf.runtime.leakcheck`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config import DEFAULT_SETTLE_TIMEOUT, IgnoreSpec
from ..formats.goroutines import Goroutine
from ..formats.symbols import Frame
from .go_runtime import HTTP_CONN_PACKAGES, HTTP_IDLE_CONN_FUNCTIONS, OBSERVER_FUNCTION_PREFIXES
from .groups import by_creation_site, group_goroutines
from .patterns import name_matcher

__all__ = [
    "LeakGroup",
    "LeakPolicy",
    "LeakReport",
    "group_leaks",
    "is_infrastructure",
    "new_goroutines",
]

Ignore = IgnoreSpec | Callable[[Goroutine], bool]


@dataclass(frozen=True)
class LeakPolicy:
    """How leak checks on one service judge: ignore rules and the settle time.

    A service started by the plugin carries the project's policy
    (``[tool.goperf.leak]``); each check adds its own rules to it.
    """

    ignore: tuple[Ignore, ...] = ()
    settle_timeout: float = DEFAULT_SETTLE_TIMEOUT

    def with_rules(self, ignore: Sequence[Ignore] = (), settle_timeout: float | None = None) -> LeakPolicy:
        """This policy plus a check's own rules, and its settle time when given."""
        return LeakPolicy((*self.ignore, *ignore), self.settle_timeout if settle_timeout is None else settle_timeout)


def matches(spec: IgnoreSpec, g: Goroutine) -> bool:
    """Whether every field set in ``spec`` matches ``g``."""
    if spec.top_function is not None and not name_matcher(spec.top_function)(g.top_function):
        return False
    if spec.function is not None:
        m = name_matcher(spec.function)
        if not any(m(f.function) for f in g.frames):
            return False
    if spec.created_by is not None and (g.created_by is None or not name_matcher(spec.created_by)(g.created_by.function)):
        return False
    return not (spec.state is not None and not name_matcher(spec.state)(g.state))


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
    if any(fn.startswith(OBSERVER_FUNCTION_PREFIXES) for fn in funcs):
        return True
    if g.state == "IO wait" and any(fn in HTTP_IDLE_CONN_FUNCTIONS for fn in funcs):
        return all(fn.startswith(HTTP_CONN_PACKAGES) for fn in funcs)
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
    """Group leaked goroutines by creation site, state and stack (:func:`~.groups.by_creation_site`); largest first."""
    proven = set(proven_ids)
    by_id = {g.id: g for g in leaks}
    return [
        LeakGroup(
            count=grp.count,
            state=grp.state,
            frames=grp.frames,
            created_by=grp.created_by,
            ids=grp.ids,
            proven=sum(1 for i in grp.ids if i in proven),
            max_wait_minutes=grp.max_wait_minutes,
            labels=grp.labels,
        )
        for grp in group_goroutines(by_id.values(), by_creation_site)
    ]


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
        from ..report.text import leak_report_text

        return leak_report_text(self)
