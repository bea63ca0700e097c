"""``goperf analyze DUMP``: a goroutine dump, debug=1 profile or crash log, summarised as JSON and as text.

JSON keys are documented in docs/analyze-goroutines.md; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..formats.goroutines import (
    PROFILE_HEADER_RE,
    Goroutine,
    GoroutineProfile,
    StackGroup,
    parse_crash,
    parse_goroutine_profile,
    parse_goroutines,
)
from ..formats.symbols import Frame
from .groups import GoroutineGroup, group_goroutines

__all__ = ["GoroutineSummary", "profile_summary_of", "summarize", "summary_of"]


def _frame_json(f: Frame) -> dict[str, Any]:
    return {"function": f.function, "file": f.file, "line": f.line}


def _group_json(g: GoroutineGroup) -> dict[str, Any]:
    created = g.created_by
    return {
        "count": g.count,
        "state": g.state,
        "top_function": g.top_function,
        "created_by": None if created is None else {**_frame_json(created), "location": created.location},
        "stack": [_frame_json(f) for f in g.frames],
        "ids": list(g.ids),
        "labels": dict(g.labels),
        "leaked": g.leaked,
        "max_wait_minutes": g.max_wait_minutes,
    }


def _stack_group_json(g: StackGroup, leak_profile: bool) -> dict[str, Any]:
    return {
        "count": g.count,
        "state": None,
        "top_function": g.top_function,
        "created_by": None,
        "stack": [_frame_json(f) for f in g.frames],
        "ids": [],
        "labels": dict(g.labels),
        "leaked": g.count if leak_profile else None,
        "max_wait_minutes": None,
    }


@dataclass(frozen=True, slots=True)
class GoroutineSummary:
    """What ``goperf analyze`` prints for a goroutine dump; keys documented in docs/analyze-goroutines.md.

    ``groups`` is filled for debug=2 dumps and crash logs, ``stack_groups``
    for debug=1 profiles (which have no states, IDs or creators).
    """

    format: Literal["debug=2", "debug=1", "crash"]
    total: int
    profile: Literal["goroutine", "goroutineleak"] | None = None
    by_state: tuple[tuple[str, int], ...] = ()
    leaked: int | None = None
    groups: tuple[GoroutineGroup, ...] = ()
    stack_groups: tuple[StackGroup, ...] = ()
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict; see docs/analyze-goroutines.md for the keys."""
        leak_profile = self.profile == "goroutineleak"
        groups = [_group_json(g) for g in self.groups]
        groups += [_stack_group_json(g, leak_profile) for g in self.stack_groups]
        return {
            "kind": "goroutines",
            "format": self.format,
            "profile": self.profile,
            "total": self.total,
            "by_state": dict(self.by_state),
            "leaked": self.leaked,
            "message": self.message,
            "groups": groups,
        }

    def to_text(self) -> str:
        """A readable table: totals, counts per state, then one line per group."""
        from ..report.text import goroutine_summary_text

        return goroutine_summary_text(self)

def summary_of(
    goroutines: Sequence[Goroutine], fmt: Literal["debug=2", "crash"] = "debug=2", message: str = ""
) -> GoroutineSummary:
    """The summary of parsed goroutines (a debug=2 dump, or a crash log's goroutines)."""
    by_state: dict[str, int] = {}
    for g in goroutines:
        by_state[g.state] = by_state.get(g.state, 0) + 1
    return GoroutineSummary(
        format=fmt,
        total=len(goroutines),
        by_state=tuple(sorted(by_state.items(), key=lambda kv: (-kv[1], kv[0]))),
        leaked=sum(1 for g in goroutines if g.leaked),
        groups=tuple(group_goroutines(goroutines)),
        message=message,
    )


def profile_summary_of(p: GoroutineProfile) -> GoroutineSummary:
    """The summary of a debug=1 goroutine or goroutineleak profile."""
    leak = p.kind == "goroutineleak"
    return GoroutineSummary(
        format="debug=1", total=p.total, profile=p.kind, leaked=p.total if leak else None, stack_groups=p.groups
    )


def summarize(data: bytes) -> GoroutineSummary:
    """``goperf analyze`` for goroutine dumps: detects debug=1, debug=2 or a crash log.

    :raises DumpParseError: when the text is none of them or is malformed.
    """
    text = data.decode("utf-8", "replace")
    first = text.lstrip().split("\n", 1)[0].rstrip("\r")
    if PROFILE_HEADER_RE.match(first):
        return profile_summary_of(parse_goroutine_profile(text))
    if first.startswith("goroutine ") or not first:
        return summary_of(parse_goroutines(text), "debug=2")
    crash = parse_crash(text)
    return summary_of(list(crash.goroutines), "crash", crash.message)
