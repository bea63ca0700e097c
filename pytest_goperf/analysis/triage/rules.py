"""The triage rules: what each finding measures and the values at which it becomes a warning or an error.

Data, in one place. Each value is documented in docs/triage.md; the defaults
are set on the example service (tests/test_triage.py): each defect route under
load crosses its own rule's ``error`` value, a healthy service under load
stays below every ``warning``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final, Literal

from ...errors import UnknownNameError

__all__ = ["LEVELS", "RULES", "Level", "Rule", "level_rank", "rules_with"]

Level = Literal["info", "warning", "error"]
LEVELS: Final[tuple[Level, ...]] = ("info", "warning", "error")


def level_rank(level: str) -> int:
    """0 for info, 1 for warning, 2 for error."""
    return LEVELS.index(level)  # type: ignore[arg-type,unused-ignore]


#: CPU-share rules say nothing about an idle service: below this CPU utilisation
#: (profile time / window x processors) or this many samples their level stays "info".
MIN_CPU_UTILISATION: Final = 0.10
MIN_CPU_SAMPLES: Final = 50
#: A runnable backlog is a consequence of lock contention when at least this share of its
#: scheduling latency was made runnable by lock code (Mutex.Unlock hands the lock over).
LOCK_WAKEUP_SHARE: Final = 0.5


@dataclass(frozen=True, slots=True)
class Rule:
    """A finding's measure and its thresholds (a value at or above ``error`` is an error)."""

    key: str
    title: str
    measure: str  # what the value is, for the docs and the report
    warning: float
    error: float
    advice: str


RULES: Final[tuple[Rule, ...]] = (
    Rule("leak_proven", "goroutine leak (proven by the runtime)",
         "goroutines the goroutineleak profile marks as leaked", 1, 1,
         "these goroutines can never run again: find who should send, close or cancel (see their creator)"),
    Rule("runnable_backlog", "runnable backlog (more goroutines ready than processors)",
         "95th percentile of runnable goroutines per processor (time-weighted)", 4.0, 16.0,
         "bound the concurrency (worker pool, semaphore) instead of a goroutine per item"),
    Rule("lock_contention", "lock contention",
         "CPU share of futex / Mutex.lockSlow / semacquire frames (cum)", 0.08, 0.15,
         "shorten the critical section, shard the state, or use atomics / per-goroutine data"),
    Rule("allocation_storm", "allocation storm",
         "CPU share of runtime.mallocgc and the GC workers (cum, the larger of the two)", 0.20, 0.35,
         "allocate less on the hot path: reuse buffers (sync.Pool), preallocate, avoid string building"),
    Rule("hot_user_function", "hot functions in the service's own code",
         "flat CPU share of the service's own code (the user class); its hottest functions are the evidence",
         0.40, 0.60,
         "this function is where the CPU goes: optimise it or call it less (see its callers in the flame graph)"),
    Rule("leak_suspected", "suspected goroutine leak",
         "goroutines in one cluster blocked on a channel, select or lock, that grew or never ran in the window",
         20, 50,
         "check who should wake these goroutines; a before/after diff or the leak profile confirms it"),
    Rule("syscall_pileup", "system call pile-up",
         "mean goroutines in system calls per processor", 1.5, 4.0,
         "goroutines wait in the kernel: look at disk or network I/O done synchronously on the hot path"),
    Rule("spinning", "spinning goroutine",
         "goroutines running at least 90 % of the window without ever blocking", 1, 2,
         "a tight loop without a blocking call: add a wait (channel, ticker) or back-off"),
    Rule("stdlib_hot", "hot standard-library code",
         "flat CPU share of the standard library", 0.60, 0.80,
         "time goes into library calls: look at which of your functions call them (flame graph)"),
)


def rules_with(overrides: dict[str, tuple[float, float]] | None = None) -> tuple[Rule, ...]:
    """:data:`RULES` with some (warning, error) thresholds replaced by key."""
    if not overrides:
        return RULES
    known = {r.key for r in RULES}
    unknown = set(overrides) - known
    if unknown:
        raise UnknownNameError(f"unknown rule(s) {', '.join(sorted(unknown))}: known are {', '.join(sorted(known))}")
    return tuple(replace(r, warning=overrides[r.key][0], error=overrides[r.key][1]) if r.key in overrides else r
                 for r in RULES)
