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
from dataclasses import dataclass, field
from typing import Final, Iterable, NamedTuple, Sequence, Union

from ._classify import CLASSES, FunctionClass, classify_package, is_runtime_helper, package_of
from ._model import Location, Profile

# -- input records ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a stack: a function name and, when known, its source file."""

    name: str
    file: str = ""


class StackSample(NamedTuple):
    """A weighted stack: ``frames`` leaf first (str names or :class:`Frame`), ``weight`` in the profile's unit.

    A plain ``(["main.f", "main.main"], 3)`` tuple is accepted wherever a
    ``StackSample`` is, so other readers (execution-trace CPU samples) can
    feed :func:`function_table` without importing this class.
    """

    frames: Sequence[Frame | str]
    weight: int


NamePattern = Union[str, "re.Pattern[str]"]
Selector = Union[NamePattern, Iterable[NamePattern]]


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
# so that the example service's /work load triggers none and /defect/alloc and
# /defect/contention trigger their own sign (see tests/test_profile_table.py).
WARNING_RULES: Final[tuple[WarningRule, ...]] = (
    WarningRule(
        "allocation",
        "allocation storm (runtime.mallocgc)",
        r"runtime\.mallocgc",
        0.15,
        "allocate less in the hot path: reuse buffers (sync.Pool), preallocate slices, avoid string building",
    ),
    WarningRule(
        "gc",
        "GC pressure (gcBgMarkWorker, gcAssistAlloc)",
        r"runtime\.(gcBgMarkWorker|gcAssistAlloc|bgsweep)",
        0.15,
        "the collector runs often: allocate less, or raise GOGC / set GOMEMLIMIT",
    ),
    WarningRule(
        "locks",
        "lock contention (futex, Mutex.lockSlow)",
        # runtime.lock2 is left out: it is the runtime's own locks (mheap under an
        # allocation storm in Go 1.22 samples), which the allocation sign covers.
        r"runtime\.futex|(internal/)?sync\.\(\*(RW)?Mutex\)\.(lockSlow|unlockSlow|rUnlockSlow)"
        r"|runtime\.semacquire1|sync\.runtime_Semacquire\w*",
        0.10,
        "goroutines queue on a lock: shorten critical sections, shard the state or avoid a global mutex",
    ),
    WarningRule(
        "syscalls",
        "system calls",
        r"(syscall|internal/runtime/syscall(/linux)?|runtime/internal/syscall)\.\w*[Ss]yscall\w*",
        0.25,
        "much time in the kernel: batch writes (bufio), avoid per-request file or socket operations",
    ),
)


# -- the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionTable:
    """Flat/cum per function of one set of weighted stacks (a profile, or CPU samples of a trace).

    ``functions`` is sorted as ``go tool pprof -top`` prints it: by |flat|
    descending, then name, then |cum| descending.
    """

    total: int
    functions: tuple[FunctionStat, ...]
    stacks: tuple[StackSample, ...] = field(repr=False)
    sample_type: str = ""
    unit: str = ""
    main_module: str | None = None
    _by_name: dict[str, FunctionStat] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {f.name: f for f in self.functions})

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
        if isinstance(which, str):
            row = self._by_name.get(which)
            return 0 if row is None else (row.cum if cum else row.flat)
        match = _matcher(which)
        names = {f.name for f in self.functions if match(f.name)}
        if not names:
            return 0
        if not cum:
            return sum(self._by_name[n].flat for n in names)
        return sum(s.weight for s in self.stacks if any(_name(fr) in names for fr in s.frames))

    def hot_share(self, which: Selector, *, cum: bool = False) -> float:
        """Share of the total spent in the selected functions: flat by default, cum on request.

        ``which`` is an exact function name (``"main.spinCore"``), a compiled
        regular expression searched in each name (``re.compile(r"^main\\.")``),
        or an iterable of these (their union; a stack counts once for cum).
        A function absent from the profile has a share of 0.0.
        """
        return _share(self.value(which, cum=cum), self.total)

    def top(self, n: int = 10, *, cum: bool = False) -> tuple[FunctionStat, ...]:
        """The ``n`` hottest functions by flat (or cum)."""
        if not cum:
            return self.functions[:n]
        return tuple(sorted(self.functions, key=lambda f: (-abs(f.cum), f.name))[:n])

    # groups

    def by_class(self) -> tuple[GroupStat, ...]:
        """Flat and cum per class, in the order user, stdlib, runtime, module (all four, even if 0).

        Flat shares of the four classes add up to the share of stacks with frames (1.0 for Go profiles).
        """
        rows = self._group(lambda f: f.cls)
        by_key = {r.key: r for r in rows}
        return tuple(by_key.get(c, GroupStat(c, 0, 0, 0.0, 0.0)) for c in CLASSES)

    def class_share(self, cls: FunctionClass, *, cum: bool = False) -> float:
        """Flat (or cum) share of one class."""
        for r in self.by_class():
            if r.key == cls:
                return r.cum_share if cum else r.flat_share
        raise ValueError(f"unknown class {cls!r}: choose one of {', '.join(CLASSES)}")

    def by_package(self) -> tuple[GroupStat, ...]:
        """Flat and cum per Go package, sorted like the function rows."""
        return self._group(lambda f: f.package)

    def by_file(self) -> tuple[GroupStat, ...]:
        """Flat and cum per source file, sorted like the function rows."""
        return self._group(lambda f: f.file)

    def _group(self, key_of) -> tuple[GroupStat, ...]:  # type: ignore[no-untyped-def]
        key_by_name = {f.name: key_of(f) for f in self.functions}
        flat: dict[str, int] = {}
        cum: dict[str, int] = {}
        for frames, w in self.stacks:
            if not frames:
                continue
            leaf = key_by_name[_name(frames[0])]
            flat[leaf] = flat.get(leaf, 0) + w
            for k in {key_by_name[_name(fr)] for fr in frames}:
                cum[k] = cum.get(k, 0) + w
        rows = [GroupStat(k, flat.get(k, 0), c, _share(flat.get(k, 0), self.total), _share(c, self.total))
                for k, c in cum.items()]
        rows.sort(key=lambda r: (-abs(r.flat), r.key, -abs(r.cum)))
        return tuple(rows)

    # warning signs

    def signals(self, rules: Sequence[WarningRule] = WARNING_RULES) -> tuple[WarningSign, ...]:
        """Every warning rule measured on this table, triggered or not."""
        out = []
        for rule in rules:
            rx = re.compile(rule.pattern)
            rows = [f for f in self.functions if rx.fullmatch(f.name)]
            names = {f.name for f in rows}
            value = sum(s.weight for s in self.stacks if any(_name(fr) in names for fr in s.frames)) if rows else 0
            rows.sort(key=lambda f: -abs(f.cum))
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
    merged: dict[tuple[Frame, ...], int] = {}
    interned: dict[str, Frame] = {}
    total = 0
    for frames, weight in stacks:
        if weight == 0:
            continue
        total += abs(weight)
        key = tuple(fr if isinstance(fr, Frame) else interned.setdefault(fr, Frame(fr)) for fr in frames)
        merged[key] = merged.get(key, 0) + weight

    flat: dict[str, int] = {}
    cum: dict[str, int] = {}
    files: dict[str, str] = {}
    for frames, w in merged.items():
        if not frames:
            continue
        leaf = frames[0].name
        flat[leaf] = flat.get(leaf, 0) + w
        seen = set()
        for fr in frames:
            name = fr.name
            if name in seen:
                continue
            seen.add(name)
            cum[name] = cum.get(name, 0) + w
            if fr.file and name not in files:
                files[name] = fr.file

    rows = []
    for name, c in cum.items():
        f = flat.get(name, 0)
        if c == 0 and f == 0:
            continue  # pprof drops nodes whose values cancel out
        package = package_of(name)
        cls = "runtime" if is_runtime_helper(name, package) else classify_package(package, main_module)
        rows.append(FunctionStat(name, package, files.get(name, ""), cls,
                                 f, c, _share(f, total), _share(c, total)))
    rows.sort(key=lambda r: (-abs(r.flat), r.name, -abs(r.cum)))
    return FunctionTable(total=total, functions=tuple(rows),
                         stacks=tuple(StackSample(k, w) for k, w in merged.items()),
                         sample_type=sample_type, unit=unit, main_module=main_module)


def profile_stacks(profile: Profile, sample_type: str | int | None = None) -> list[StackSample]:
    """The weighted stacks of ``profile`` for one sample type (default: pprof's default).

    Inlined frames are expanded, innermost first, as ``go tool pprof`` does by default.
    """
    index = profile.sample_index(sample_type)
    frames_of: dict[int, tuple[Frame, ...]] = {}
    by_key: dict[tuple[int, ...], int] = {}
    locs_of: dict[tuple[int, ...], tuple[Location, ...]] = {}
    for s in profile.samples:
        w = s.values[index]
        if w == 0:
            continue
        key = tuple(loc.id for loc in s.locations)
        if key in by_key:
            by_key[key] += w
        else:
            by_key[key] = w
            locs_of[key] = s.locations
    out = []
    for key, w in by_key.items():
        frames: list[Frame] = []
        for loc in locs_of[key]:
            fs = frames_of.get(loc.id)
            if fs is None:
                fs = frames_of[loc.id] = _location_frames(loc)
            frames.extend(fs)
        out.append(StackSample(tuple(frames), w))
    return out


def profile_table(
    profile: Profile, sample_type: str | int | None = None, *, main_module: str | None = None
) -> FunctionTable:
    """:func:`function_table` of a decoded profile (``sample_type`` by name, index, or pprof's default)."""
    index = profile.sample_index(sample_type)
    vt = profile.sample_types[index]
    return function_table(profile_stacks(profile, index), main_module=main_module, sample_type=vt.type, unit=vt.unit)


# -- helpers ------------------------------------------------------------------------------------


def _location_frames(loc: Location) -> tuple[Frame, ...]:
    if not loc.lines:
        # Unsymbolized: pprof names it after the binary ("[goperf-demo]") or "<unknown>".
        m = loc.mapping
        name = f"[{posixpath.basename(m.filename)}]" if m is not None and m.filename else "<unknown>"
        return (Frame(name),)
    return tuple(
        Frame(ln.function.name, posixpath.normpath(ln.function.filename) if ln.function.filename else "")
        for ln in loc.lines
    )


def _name(frame: Frame | str) -> str:
    return frame if isinstance(frame, str) else frame.name


def _share(value: int, total: int) -> float:
    return value / total if total else 0.0


def _matcher(which: Selector):  # type: ignore[no-untyped-def]
    if isinstance(which, str):
        return lambda name: name == which
    if isinstance(which, re.Pattern):
        return lambda name: which.search(name) is not None
    items = list(which)
    exact = {w for w in items if isinstance(w, str)}
    patterns = [w for w in items if isinstance(w, re.Pattern)]
    if len(exact) + len(patterns) != len(items):
        raise TypeError("select functions by name (str), compiled pattern (re.Pattern) or a list of these")
    return lambda name: name in exact or any(p.search(name) for p in patterns)
