"""Per-function flat and cumulative values and shares, as ``go tool pprof -top`` defines them.

The input is generic: weighted stacks of frames (leaf first), so CPU samples
from a pprof profile and CPU samples from an execution trace go through the
same arithmetic. For each stack of weight ``w``:

- *flat*: ``w`` goes to the leaf frame's function (the innermost inlined one);
- *cum*: ``w`` goes once to every distinct function on the stack, so a
  recursive function counts once per sample (google/pprof
  ``internal/graph/graph.go`` ``newGraph``);
- *total*: Σ|w| over all stacks (``internal/report`` ``computeTotal``).

Shares are fractions of the total (0.25 = 25 %); with a zero total every share is 0.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Final, NamedTuple

import numpy as np

from ..errors import UnknownNameError
from ..formats.profile._model import Location, Profile
from ..formats.symbols import Frame, package_of
from .classify import CLASSES, FunctionClass, classify
from .go_runtime import ALLOC_FRAMES, GC_FRAMES, LOCK_FRAMES, SYSCALL_FRAMES
from .patterns import name_matcher

# -- input records ------------------------------------------------------------------------


class StackSample(NamedTuple):
    """A weighted stack: ``frames`` leaf first (str names or :class:`Frame`), ``weight`` in the profile's unit.

    A plain ``(["main.f", "main.main"], 3)`` tuple is accepted wherever a
    ``StackSample`` is, so other readers (execution-trace CPU samples) can
    feed :func:`function_table` without importing this class.
    """

    frames: Sequence[Frame | str]
    weight: int


NamePattern = str | re.Pattern[str]
Selector = NamePattern | Iterable[NamePattern]


# -- output records -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FunctionStat:
    """One row of the table: a function, its class and its flat/cum values and shares."""

    name: str
    package: str
    file: str
    cls: FunctionClass
    flat: int
    cum: int
    flat_share: float
    cum_share: float


@dataclass(frozen=True, slots=True)
class GroupStat:
    """Flat and cum of a group of functions (a package, a file or a class), cum counted once per stack."""

    key: str
    flat: int
    cum: int
    flat_share: float
    cum_share: float


@dataclass(frozen=True, slots=True)
class WarningRule:
    """A classic warning sign: the cum share of some runtime functions above ``threshold``."""

    key: str
    title: str
    pattern: str  # regular expression matched against whole function names
    threshold: float
    advice: str


@dataclass(frozen=True, slots=True)
class WarningSign:
    """A warning rule measured on a table; ``triggered`` when ``share >= threshold``."""

    key: str
    title: str
    share: float
    threshold: float
    advice: str
    functions: tuple[str, ...]  # the matching functions present, hottest cum first

    @property
    def triggered(self) -> bool:
        return self.share >= self.threshold


# Thresholds are cum shares of the profile's total. They are rules of thumb, set
# so that the example service's /work load triggers none (its largest share is
# about 0.04, syscalls) while /defect/alloc triggers allocation and GC and
# /defect/contention triggers locks, on every captured release (the lowest
# mallocgc share seen there was 0.11; see tests/test_profile_table.py).
WARNING_RULES: Final[tuple[WarningRule, ...]] = (
    WarningRule(
        "allocation",
        "allocation storm (runtime.mallocgc)",
        ALLOC_FRAMES,
        0.10,
        "allocate less in the hot path: reuse buffers (sync.Pool), preallocate slices, avoid string building",
    ),
    WarningRule(
        "gc",
        "GC pressure (gcBgMarkWorker, gcAssistAlloc)",
        GC_FRAMES,
        0.15,
        "the collector runs often: allocate less, or raise GOGC / set GOMEMLIMIT",
    ),
    WarningRule(
        "locks",
        "lock contention (Mutex.Lock/lockSlow, semacquire)",
        LOCK_FRAMES,
        0.10,
        "goroutines queue on a lock: shorten critical sections, shard the state or avoid a global mutex",
    ),
    WarningRule(
        "syscalls",
        "system calls",
        SYSCALL_FRAMES,
        0.25,
        "much time in the kernel: batch writes (bufio), avoid per-request file or socket operations",
    ),
)


# -- the columnar store and its kernel -------------------------------------------------------


class _Stacks:
    """Distinct non-empty stacks as name ids (leaf first) with their summed weights, plus numpy views.

    Every aggregate (per function, package, file, class; union cum of a
    selection) is one vectorised pass over these arrays, so a profile with
    100k distinct stacks costs milliseconds per query, not a Python loop.
    """

    __slots__ = ("_arrays", "files", "ids", "names", "weights")

    def __init__(self, names: list[str], files: list[str], ids: list[tuple[int, ...]], weights: list[int]) -> None:
        self.names = names
        self.files = files
        self.ids = ids
        self.weights = weights
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(flat name ids, start of each stack, weight of each stack, stack of each flat id)."""
        if self._arrays is None:
            n = len(self.ids)
            lengths = np.fromiter(map(len, self.ids), dtype=np.int64, count=n)
            flat_ids = np.fromiter(chain.from_iterable(self.ids), dtype=np.int64, count=int(lengths.sum()))
            starts = np.cumsum(lengths) - lengths
            weights = np.array(self.weights, dtype=np.int64)
            stack_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
            self._arrays = (flat_ids, starts, weights, stack_of)
        return self._arrays

    def flat_cum(self, group_of: np.ndarray | None = None, n_groups: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Flat and cum per name (or per group, ``group_of[name_id]``); cum counts a stack once per key."""
        flat_ids, starts, weights, stack_of = self.arrays()
        n = len(self.names) if group_of is None else n_groups
        keys = flat_ids if group_of is None else group_of[flat_ids]
        flat = np.zeros(n, dtype=np.int64)
        cum = np.zeros(n, dtype=np.int64)
        if len(weights):
            np.add.at(flat, keys[starts], weights)
            # One (stack, key) pair per stack, so recursion counts once. Sorting
            # beats np.unique's hash table here by an order of magnitude.
            combined = np.sort(stack_of * n + keys)
            distinct = np.empty(len(combined), dtype=bool)
            distinct[:1] = True
            np.not_equal(combined[1:], combined[:-1], out=distinct[1:])
            pairs = combined[distinct]
            np.add.at(cum, pairs % n, weights[pairs // n])
        return flat, cum

    def union_cum(self, selected: np.ndarray) -> int:
        """Σ weight of the stacks holding any selected name (``selected``: bool per name id)."""
        flat_ids, starts, weights, _ = self.arrays()
        if not len(weights):
            return 0
        hit = np.maximum.reduceat(selected[flat_ids].astype(np.int8), starts).astype(bool)
        return int(weights[hit].sum())


# -- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionTable:
    """Flat/cum per function of one set of weighted stacks (a profile, or CPU samples of a trace).

    ``functions`` is sorted as ``go tool pprof -top`` prints it: by |flat|
    descending, then name, then |cum| descending. Build it with
    :func:`profile_table` or :func:`function_table`.
    """

    total: int
    functions: tuple[FunctionStat, ...]
    sample_type: str = ""
    unit: str = ""
    main_module: str | None = None
    _store: _Stacks = field(default_factory=lambda: _Stacks([], [], [], []), repr=False, compare=False)
    _by_name: dict[str, FunctionStat] = field(init=False, repr=False, compare=False)
    _cache: dict[str, object] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.functions})
        object.__setattr__(self, "_cache", {})

    @property
    def stacks(self) -> tuple[StackSample, ...]:
        """The distinct stacks (leaf first, :class:`Frame` with file) and their weights, for exports."""
        cached = self._cache.get("stacks")
        if cached is None:
            st = self._store
            frames = [Frame(n, f) for n, f in zip(st.names, st.files, strict=False)]
            cached = tuple(StackSample(tuple([frames[i] for i in ids]), w) for ids, w in zip(st.ids, st.weights, strict=False))
            self._cache["stacks"] = cached
        return cached  # type: ignore[return-value]

    # lookups

    def get(self, name: str) -> FunctionStat | None:
        """The row of function ``name``, or ``None`` when it has no samples."""
        return self._by_name.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.functions)

    def matching(self, which: Selector) -> tuple[FunctionStat, ...]:
        """The rows whose name matches ``which`` (see :meth:`hot_share`)."""
        match = _matcher(which)
        return tuple(f for f in self.functions if match(f.name))

    def value(self, which: Selector, *, cum: bool = False) -> int:
        """Flat (or cum) value of the functions selected by ``which``; cum counts a stack once."""
        if isinstance(which, str) and not which.startswith("re:") and not any(c in which for c in "*?["):
            row = self._by_name.get(which)  # a plain name: one row, no scan
            return 0 if row is None else (row.cum if cum else row.flat)
        return self._value_of_names({f.name for f in self.matching(which)}, cum)

    def _value_of_names(self, names: set[str], cum: bool) -> int:
        if not names:
            return 0
        if not cum:
            return sum(self._by_name[n].flat for n in names)
        st = self._store
        selected = np.fromiter((n in names for n in st.names), dtype=bool, count=len(st.names))
        return st.union_cum(selected)

    def hot_share(self, which: Selector, *, cum: bool = False) -> float:
        """Share of the total spent in the selected functions: flat by default, cum on request.

        ``which`` follows :mod:`pytest_goperf.analysis.patterns`: an exact function
        name (``"main.spinCore"``), a shell glob (``"main.*"``), ``"re:"`` and
        a regular expression matching the whole name, a compiled
        ``re.Pattern`` searched in each name, or an iterable of these (their
        union; a stack counts once for cum). A function absent from the
        profile has a share of 0.0.
        """
        return _share(self.value(which, cum=cum), self.total)

    def top(self, n: int = 10, *, cum: bool = False) -> tuple[FunctionStat, ...]:
        """The ``n`` hottest functions by flat (or cum)."""
        if not cum:
            return self.functions[:n]
        return tuple(sorted(self.functions, key=lambda f: (-abs(f.cum), f.name))[:n])

    # groups

    def by_class(self) -> tuple[GroupStat, ...]:
        """Flat and cum per class, in the order user, stdlib, runtime, module, syscall (all five, even if 0).

        Flat shares of the classes add up to 1 (every Go sample has a leaf frame).
        """
        by_key = {r.key: r for r in self._group(lambda f: f.cls)}
        return tuple(by_key.get(c, GroupStat(c, 0, 0, 0.0, 0.0)) for c in CLASSES)

    def class_share(self, cls: FunctionClass, *, cum: bool = False) -> float:
        """Flat (or cum) share of one class."""
        for r in self.by_class():
            if r.key == cls:
                return r.cum_share if cum else r.flat_share
        raise UnknownNameError(f"unknown class {cls!r}: choose one of {', '.join(CLASSES)}")

    def by_package(self) -> tuple[GroupStat, ...]:
        """Flat and cum per Go package, sorted like the function rows."""
        return self._group(lambda f: f.package)

    def by_file(self) -> tuple[GroupStat, ...]:
        """Flat and cum per source file, sorted like the function rows."""
        return self._group(lambda f: f.file)

    def _group(self, key_of: Callable[[FunctionStat], str]) -> tuple[GroupStat, ...]:
        st = self._store
        keys: dict[str, int] = {}
        group_of = np.zeros(len(st.names), dtype=np.int64)
        for i, name in enumerate(st.names):
            row = self._by_name.get(name)
            k = key_of(row) if row is not None else ""
            group_of[i] = keys.setdefault(k, len(keys))
        flat, cum = st.flat_cum(group_of, len(keys))
        rows = [GroupStat(k, int(flat[g]), int(cum[g]), _share(int(flat[g]), self.total),
                          _share(int(cum[g]), self.total))
                for k, g in keys.items() if cum[g] or flat[g]]
        rows.sort(key=lambda r: (-abs(r.flat), r.key, -abs(r.cum)))
        return tuple(rows)

    # warning signs

    def signals(self, rules: Sequence[WarningRule] = WARNING_RULES) -> tuple[WarningSign, ...]:
        """Every warning rule measured on this table, triggered or not."""
        out = []
        for rule in rules:
            rx = re.compile(rule.pattern)
            rows = sorted((f for f in self.functions if rx.fullmatch(f.name)), key=lambda f: -abs(f.cum))
            value = self._value_of_names({f.name for f in rows}, cum=True)
            out.append(WarningSign(rule.key, rule.title, _share(value, self.total), rule.threshold, rule.advice,
                                   tuple(f.name for f in rows)))
        return tuple(out)

    def warning_signs(self, rules: Sequence[WarningRule] = WARNING_RULES) -> tuple[WarningSign, ...]:
        """The warning rules whose share reaches their threshold."""
        return tuple(s for s in self.signals(rules) if s.triggered)


# -- building tables ---------------------------------------------------------------------------


def function_table(
    stacks: Iterable[StackSample | tuple[Sequence[Frame | str], int]],
    *,
    main_module: str | None = None,
    sample_type: str = "",
    unit: str = "",
) -> FunctionTable:
    """Build the table from weighted stacks (leaf first). Zero-weight stacks are ignored, as pprof does."""
    name_id: dict[str, int] = {}
    names: list[str] = []
    files: list[str] = []
    merged: dict[tuple[int, ...], int] = {}
    total = 0
    for frames, weight in stacks:
        if weight == 0:
            continue
        total += abs(weight)
        ids = []
        for fr in frames:
            name, file = (fr, "") if isinstance(fr, str) else (fr.function, fr.file)
            i = name_id.get(name)
            if i is None:
                i = name_id[name] = len(names)
                names.append(name)
                files.append(file)
            elif file and not files[i]:
                files[i] = file
            ids.append(i)
        key = tuple(ids)
        merged[key] = merged.get(key, 0) + weight
    return _build(names, files, merged, total, main_module, sample_type, unit)


def profile_table(
    profile: Profile, sample_type: str | int | None = None, *, main_module: str | None = None
) -> FunctionTable:
    """:func:`function_table` of a decoded profile (``sample_type`` by name, index, or pprof's default).

    Inlined frames are expanded, innermost first, as ``go tool pprof`` does by default.
    """
    index = profile.sample_index(sample_type)
    vt = profile.sample_types[index]
    name_id: dict[str, int] = {}
    names: list[str] = []
    files: list[str] = []
    loc_ids: dict[int, tuple[int, ...]] = {}
    for loc in profile.locations:
        lids = []
        for fr in _location_frames(loc):
            i = name_id.get(fr.function)
            if i is None:
                i = name_id[fr.function] = len(names)
                names.append(fr.function)
                files.append(fr.file)
            lids.append(i)
        loc_ids[loc.id] = tuple(lids)
    # The decoder shares one tuple between samples with the same locations, so
    # its identity is a cheap key (all tuples stay alive inside the profile).
    weight_of: dict[int, int] = {}
    locs_of: dict[int, tuple[Location, ...]] = {}
    total = 0
    for s in profile.samples:
        w = s.values[index]
        if w == 0:
            continue
        total += abs(w)
        k = id(s.locations)
        if k in weight_of:
            weight_of[k] += w
        else:
            weight_of[k] = w
            locs_of[k] = s.locations
    merged: dict[tuple[int, ...], int] = {}
    for k, w in weight_of.items():
        key = tuple(chain.from_iterable([loc_ids[loc.id] for loc in locs_of[k]]))
        merged[key] = merged.get(key, 0) + w
    return _build(names, files, merged, total, main_module, vt.type, vt.unit)


def profile_stacks(profile: Profile, sample_type: str | int | None = None) -> tuple[StackSample, ...]:
    """The distinct weighted stacks of ``profile`` for one sample type (default: pprof's default)."""
    return profile_table(profile, sample_type).stacks


def _build(names: list[str], files: list[str], merged: dict[tuple[int, ...], int], total: int,
           main_module: str | None, sample_type: str, unit: str) -> FunctionTable:
    ids = [k for k in merged if k]
    store = _Stacks(names, files, ids, [merged[k] for k in ids])
    flat, cum = store.flat_cum()
    rows = []
    for i, name in enumerate(names):
        f, c = int(flat[i]), int(cum[i])
        if c == 0 and f == 0:
            continue  # pprof drops nodes whose values cancel out
        package = package_of(name)
        cls = classify(name, main_module)
        rows.append(FunctionStat(name, package, files[i], cls, f, c, _share(f, total), _share(c, total)))
    rows.sort(key=lambda r: (-abs(r.flat), r.name, -abs(r.cum)))
    return FunctionTable(total=total, functions=tuple(rows), sample_type=sample_type, unit=unit,
                         main_module=main_module, _store=store)


# -- helpers ------------------------------------------------------------------------------------


def _location_frames(loc: Location) -> tuple[Frame, ...]:
    # Unsymbolized (no lines, or a line without a function name): pprof names it after the
    # binary ("[goperf-demo]") or "<unknown>" (internal/graph NodeInfo.NameComponents).
    m = loc.mapping
    nameless = f"[{posixpath.basename(m.filename)}]" if m is not None and m.filename else "<unknown>"
    if not loc.lines:
        return (Frame(nameless),)
    return tuple(
        Frame(ln.function.name or nameless, posixpath.normpath(ln.function.filename) if ln.function.filename else "")
        for ln in loc.lines
    )


def _share(value: int, total: int) -> float:
    return value / total if total else 0.0


def _matcher(which: Selector) -> Callable[[str], bool]:
    # One pattern syntax for the whole package: exact, glob, 're:' regex or re.Pattern.
    return name_matcher(which)
