"""One way to group goroutines: by a key, largest group first.

The keys in use, each a plain function of a goroutine:

- :func:`by_stack`: the same state, stack functions and creator function (``goperf analyze``);
- :func:`by_creation_site`: the same creator file:line, state and stack (leak reports: one
  ``go`` statement leaking many goroutines is one group);
- :func:`by_stack_prefix`: the same state, innermost frames and creator (triage clusters:
  goroutines parked at the same place, whatever called them).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Final

from ..formats.goroutines import Goroutine, Labels
from ..formats.symbols import Frame

__all__ = ["PREFIX_FRAMES", "GoroutineGroup", "by_creation_site", "by_stack", "by_stack_prefix", "group_goroutines"]

#: Frames kept by :func:`by_stack_prefix`: goroutines whose innermost frames agree are one cluster.
PREFIX_FRAMES: Final = 4

GroupKey = Callable[[Goroutine], Hashable]


def by_stack(g: Goroutine) -> Hashable:
    """State, every stack function, creator function."""
    return (g.state, tuple(f.function for f in g.frames), g.created_by.function if g.created_by else "")


def by_creation_site(g: Goroutine) -> Hashable:
    """Creator function and its file:line, state, every stack function."""
    cb = g.created_by
    return (cb.function if cb else "", cb.file if cb else "", cb.line if cb else 0, g.state,
            tuple(f.function for f in g.frames))


def by_stack_prefix(g: Goroutine) -> Hashable:
    """State, the innermost :data:`PREFIX_FRAMES` stack functions, creator function."""
    return (g.state, tuple(f.function for f in g.frames[:PREFIX_FRAMES]), g.created_by.function if g.created_by else "")


@dataclass(frozen=True, slots=True)
class GoroutineGroup:
    """Goroutines that share a grouping key (see :func:`group_goroutines`).

    ``frames`` and ``created_by`` are those of the first goroutine (line
    numbers agree unless the same function has several blocking sites);
    ``labels`` are the pairs every member carries; ``leaked`` counts members
    with the ``(leaked)`` marker; ``key`` is the value the members share.
    """

    count: int
    state: str
    top_function: str
    created_by: Frame | None
    frames: tuple[Frame, ...]
    ids: tuple[int, ...]
    max_wait_minutes: int
    leaked: int
    labels: Labels = ()
    key: Hashable = None


def group_goroutines(goroutines: Iterable[Goroutine], key: GroupKey = by_stack) -> list[GoroutineGroup]:
    """Group goroutines by ``key``; largest group first, ties by state, top function, then first id."""
    buckets: dict[Hashable, list[Goroutine]] = {}
    for g in goroutines:
        buckets.setdefault(key(g), []).append(g)
    groups = []
    for k, members in buckets.items():
        first = members[0]
        common = set(first.labels)
        for g in members[1:]:
            common.intersection_update(g.labels)
        groups.append(
            GoroutineGroup(
                count=len(members),
                state=first.state,
                top_function=first.top_function,
                created_by=first.created_by,
                frames=first.frames,
                ids=tuple(sorted(g.id for g in members)),
                max_wait_minutes=max(g.wait_minutes for g in members),
                leaked=sum(1 for g in members if g.leaked),
                labels=tuple(p for p in first.labels if p in common),
                key=k,
            )
        )
    groups.sort(key=lambda gr: (-gr.count, gr.state, gr.top_function, gr.ids[:1]))
    return groups
