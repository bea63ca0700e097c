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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..config import DEFAULT_SETTLE_TIMEOUT, IgnoreSpec
from ..formats.goroutines import Goroutine
from ..formats.symbols import Frame
from .go_runtime import (
    HTTP_CLIENT_CONN_CREATORS,
    HTTP_CLIENT_CONN_PACKAGES,
    HTTP_CLIENT_READ_LOOPS,
    HTTP_CLIENT_WRITE_LOOPS,
    HTTP_CONN_PACKAGES,
    HTTP_IDLE_CONN_FUNCTIONS,
    OBSERVER_FUNCTION_PREFIXES,
)
from .groups import by_creation_site, group_goroutines
from .patterns import name_matcher

__all__ = [
    "DISCOUNT_RULES",
    "Discount",
    "Judgement",
    "LeakGroup",
    "LeakPolicy",
    "LeakReport",
    "group_leaks",
    "is_idle_client_read_loop",
    "is_infrastructure",
    "judge_goroutines",
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


def is_idle_client_read_loop(g: Goroutine) -> bool:
    """An HTTP client connection's read loop parked in a socket read: the connection idles in its pool.

    Its stack holds nothing but ``net/http``, I/O and runtime frames under the
    read loop. A read loop in any other state (``select``: waiting for a
    response body to be read or closed) is a busy connection.
    """
    if g.state != "IO wait" or not any(f.function in HTTP_CLIENT_READ_LOOPS for f in g.frames):
        return False
    return all(f.function.startswith(HTTP_CLIENT_CONN_PACKAGES) for f in g.frames)


def _is_client_conn(g: Goroutine) -> bool:
    return g.created_by is not None and g.created_by.function in HTTP_CLIENT_CONN_CREATORS


def _idle_client_conns(goroutines: Sequence[Goroutine]) -> set[int]:
    """Ids of the goroutines of idle pooled client connections: idle read loops and their write loops.

    A connection's read and write loops share their creator (the dialing
    goroutine, "created by ... in goroutine N"); dumps without creator ids
    (before Go 1.21) pair write loops with idle read loops by count.
    """
    conns = [g for g in goroutines if _is_client_conn(g)]
    idle: set[int] = set()
    idle_creators: set[int] = set()
    unpaired_idle = 0
    for g in conns:
        if is_idle_client_read_loop(g):
            idle.add(g.id)
            if g.parent_id is not None:
                idle_creators.add(g.parent_id)
            else:
                unpaired_idle += 1
    for g in conns:
        if g.top_function not in HTTP_CLIENT_WRITE_LOOPS or g.state != "select":
            continue
        if g.parent_id is not None and g.parent_id in idle_creators:
            idle.add(g.id)
        elif g.parent_id is None and unpaired_idle > 0:
            unpaired_idle -= 1
            idle.add(g.id)
    return idle


#: Rule key -> what the goroutines it discounted are, in the report's words ("3 goroutines <words>").
DISCOUNT_RULES: Final = {
    "observer": "serving the pprof request",
    "idle_server_conn": "of idle HTTP server connections (net/http.(*conn).serve waiting for the next request)",
    "idle_client_conn": "of idle pooled HTTP client connections (net/http.(*persistConn).readLoop in a socket read "
                        "and its writeLoop, created by net/http.(*Transport).dialConn)",
    "ignored": "matched by ignore rules",
}


@dataclass(frozen=True)
class Discount:
    """New goroutines one rule kept out of the leaks: the rule's key, its words, and the goroutine ids."""

    rule: str
    description: str
    ids: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Judgement:
    """New goroutines split into leaks and what each rule discounted."""

    leaks: list[Goroutine]
    discounted: tuple[Discount, ...] = field(default=())


def judge_goroutines(
    before: Iterable[Goroutine], after: Iterable[Goroutine], ignore: Sequence[Ignore] = ()
) -> Judgement:
    """Goroutines in ``after`` whose id is not in ``before``: the leaks, and what each rule discounted.

    Rules, in order: the observer (a pprof request), idle HTTP server
    connections, idle pooled HTTP client connections
    (:func:`is_idle_client_read_loop` and their write loops), then the
    ``ignore`` rules. A busy client connection (a response body never closed)
    stays a leak.
    """
    seen = {g.id for g in before}
    new = [g for g in after if g.id not in seen]
    idle_clients = _idle_client_conns(new)
    by_rule: dict[str, list[int]] = {key: [] for key in DISCOUNT_RULES}
    leaks = []
    for g in new:
        if any(f.function.startswith(OBSERVER_FUNCTION_PREFIXES) for f in g.frames):
            by_rule["observer"].append(g.id)
        elif is_infrastructure(g):
            by_rule["idle_server_conn"].append(g.id)
        elif g.id in idle_clients:
            by_rule["idle_client_conn"].append(g.id)
        elif _ignored(g, ignore):
            by_rule["ignored"].append(g.id)
        else:
            leaks.append(g)
    discounted = tuple(Discount(key, DISCOUNT_RULES[key], tuple(ids)) for key, ids in by_rule.items() if ids)
    return Judgement(leaks, discounted)


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
    """Goroutines in ``after`` whose id is not in ``before``, minus what the rules of :func:`judge_goroutines` discount."""
    return judge_goroutines(before, after, ignore).leaks


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
    #: New goroutines that are not leaks, by the rule that discounted them (observer, idle connections, ignore rules).
    discounted: tuple[Discount, ...] = ()
    #: The service's Go version when known ("go1.27.3"): the report's words about the leak profile depend on it.
    go_version: str | None = None

    @property
    def groups(self) -> list[LeakGroup]:
        return group_leaks(self.leaks, self.proven_ids)

    def __str__(self) -> str:
        from ..report.text import leak_report_text

        return leak_report_text(self)
