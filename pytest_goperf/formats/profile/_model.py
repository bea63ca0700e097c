"""Typed records of a decoded pprof profile (``profile.proto``, resolved).

String-table indices and ids are resolved while decoding, so a
:class:`Sample` points straight at its :class:`Location` objects, and those at
their :class:`Function` objects. Records are frozen; a :class:`Profile` is
plain data that can be shared between threads and compared in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from ...errors import GoperfError

ProfileKind = Literal["cpu", "heap", "allocs", "goroutine", "contentions", "unknown"]


@dataclass(frozen=True, slots=True)
class ValueType:
    """What a sample value measures: ``type`` (e.g. ``"cpu"``) in ``unit`` (e.g. ``"nanoseconds"``)."""

    type: str
    unit: str

    def __str__(self) -> str:
        return f"{self.type}/{self.unit}"


@dataclass(frozen=True, slots=True)
class Label:
    """A sample label: a string label (``value``, proto field ``str``) or a numeric one (``num`` with ``num_unit``)."""

    key: str
    value: str | None = None
    num: int | None = None
    num_unit: str = ""


@dataclass(frozen=True, slots=True)
class Mapping:
    """A mapped binary or library: the executable's path is ``filename``."""

    id: int
    memory_start: int
    memory_limit: int
    file_offset: int
    filename: str
    build_id: str
    has_functions: bool
    has_filenames: bool
    has_line_numbers: bool
    has_inline_frames: bool


@dataclass(frozen=True, slots=True)
class Function:
    """A function: ``name`` is the Go symbol (``main.spinCore``, ``net/http.(*conn).serve``)."""

    id: int
    name: str
    system_name: str
    filename: str
    start_line: int


#: The function of a line that names none (function id 0): pprof shows it as "<unknown>".
NO_FUNCTION: Final = Function(id=0, name="", system_name="", filename="", start_line=0)


@dataclass(frozen=True, slots=True)
class Line:
    """One frame of a location: a function and the line executing in it."""

    function: Function
    line: int
    column: int = 0


@dataclass(frozen=True, slots=True)
class Location:
    """A program counter. ``lines`` lists its frames innermost first: more than
    one means inlined calls, and the last one is the real (outermost) caller."""

    id: int
    mapping: Mapping | None
    address: int
    lines: tuple[Line, ...]
    is_folded: bool = False


@dataclass(frozen=True, slots=True)
class Sample:
    """One stack with its values (aligned with :attr:`Profile.sample_types`); ``locations`` leaf first."""

    locations: tuple[Location, ...]
    values: tuple[int, ...]
    labels: tuple[Label, ...] = ()

    def label(self, key: str) -> str | None:
        """The string value of label ``key`` (e.g. ``"route"``), or ``None``."""
        for lab in self.labels:
            if lab.key == key and lab.value is not None:
                return lab.value
        return None


@dataclass(frozen=True, slots=True)
class Profile:
    """A decoded pprof profile (CPU, heap, allocs, mutex, block, goroutine, ...)."""

    sample_types: tuple[ValueType, ...]
    samples: tuple[Sample, ...]
    mappings: tuple[Mapping, ...] = ()
    locations: tuple[Location, ...] = ()
    functions: tuple[Function, ...] = ()
    period_type: ValueType | None = None
    period: int = 0
    time_nanos: int = 0
    duration_nanos: int = 0
    comments: tuple[str, ...] = ()
    default_sample_type: str = ""
    drop_frames: str = ""
    keep_frames: str = ""
    doc_url: str = ""

    @property
    def kind(self) -> ProfileKind:
        """Which Go profile this is, read from its sample types.

        Mutex and block profiles have identical sample types
        (``contentions/count``, ``delay/nanoseconds``), so both are ``"contentions"``.
        """
        types = {vt.type for vt in self.sample_types}
        if "cpu" in types:
            return "cpu"
        if "inuse_space" in types:
            return "allocs" if self.default_sample_type.startswith("alloc_") else "heap"
        if "goroutine" in types:
            return "goroutine"
        if "contentions" in types:
            return "contentions"
        return "unknown"

    @property
    def default_sample_index(self) -> int:
        """The sample type ``go tool pprof`` reports by default: ``default_sample_type``, else the last."""
        if self.default_sample_type:
            for i, vt in enumerate(self.sample_types):
                if vt.type == self.default_sample_type:
                    return i
        return len(self.sample_types) - 1

    def sample_index(self, which: str | int | None = None) -> int:
        """Resolve a sample type given by name (``"cpu"``, ``"alloc_space"``), index or ``None`` (default).

        :raises GoperfError: when the profile has no such sample type.
        """
        if which is None:
            return self.default_sample_index
        if isinstance(which, int):
            if 0 <= which < len(self.sample_types):
                return which
        else:
            for i, vt in enumerate(self.sample_types):
                if vt.type == which:
                    return i
        choices = ", ".join(vt.type for vt in self.sample_types) or "none"
        raise GoperfError(f"this {self.kind} profile has no sample type {which!r}; it has: {choices}")

    def total(self, which: str | int | None = None) -> int:
        """Σ|value| over all samples, as ``go tool pprof`` computes the total."""
        i = self.sample_index(which)
        return sum(abs(s.values[i]) for s in self.samples)

    @property
    def duration_seconds(self) -> float:
        return self.duration_nanos / 1e9
