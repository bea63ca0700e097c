"""The execution-trace wire format as data: event codes, argument lists, versions.

One table for every format version from Go 1.22 to Go 1.27 (which writes the
1.26 format). Codes have been append-only since 1.22 and no argument list has
changed, so a version is just "the highest code it may use" plus a few
layout differences (sync batch shape, end-of-generation byte) named below.
Source: ``internal/trace/tracev2/events.go`` and ``internal/trace/version``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GO_STATE_NAMES",
    "MAX_CODE",
    "PROC_STATE_NAMES",
    "SPECS",
    "SUPPORTED_VERSIONS",
    "EventSpec",
]


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event type: its code, name and wire arguments (``dt`` first for timed events)."""

    code: int
    name: str
    args: tuple[str, ...]
    timed: bool = True
    #: indexes into ``args`` of stack IDs; the first is the event's own stack.
    stack_args: tuple[int, ...] = ()
    #: indexes into ``args`` of string IDs.
    string_args: tuple[int, ...] = ()


def _s(code: int, name: str, args: str, *, timed: bool = True, stacks: tuple[int, ...] = (),
       strings: tuple[int, ...] = ()) -> EventSpec:
    return EventSpec(code, name, tuple(args.split()), timed, stacks, strings)


_TABLE = [
    _s(1, "EventBatch", "gen m time size", timed=False),
    _s(2, "Stacks", "", timed=False),
    _s(3, "Stack", "id nframes", timed=False),
    _s(4, "Strings", "", timed=False),
    _s(5, "String", "id", timed=False),
    _s(6, "CPUSamples", "", timed=False),
    _s(7, "CPUSample", "time m p g stack", timed=False, stacks=(4,)),
    _s(8, "Frequency", "freq", timed=False),
    _s(9, "ProcsChange", "dt procs_value stack", stacks=(2,)),
    _s(10, "ProcStart", "dt p p_seq"),
    _s(11, "ProcStop", "dt"),
    _s(12, "ProcSteal", "dt p p_seq m"),
    _s(13, "ProcStatus", "dt p pstatus"),
    _s(14, "GoCreate", "dt new_g new_stack stack", stacks=(3, 2)),
    _s(15, "GoCreateSyscall", "dt new_g"),
    _s(16, "GoStart", "dt g g_seq"),
    _s(17, "GoDestroy", "dt"),
    _s(18, "GoDestroySyscall", "dt"),
    _s(19, "GoStop", "dt reason_string stack", stacks=(2,), strings=(1,)),
    _s(20, "GoBlock", "dt reason_string stack", stacks=(2,), strings=(1,)),
    _s(21, "GoUnblock", "dt g g_seq stack", stacks=(3,)),
    _s(22, "GoSyscallBegin", "dt p_seq stack", stacks=(2,)),
    _s(23, "GoSyscallEnd", "dt"),
    _s(24, "GoSyscallEndBlocked", "dt"),
    _s(25, "GoStatus", "dt g m gstatus"),
    _s(26, "STWBegin", "dt kind_string stack", stacks=(2,), strings=(1,)),
    _s(27, "STWEnd", "dt"),
    _s(28, "GCActive", "dt gc_seq"),
    _s(29, "GCBegin", "dt gc_seq stack", stacks=(2,)),
    _s(30, "GCEnd", "dt gc_seq"),
    _s(31, "GCSweepActive", "dt p"),
    _s(32, "GCSweepBegin", "dt stack", stacks=(1,)),
    _s(33, "GCSweepEnd", "dt swept_value reclaimed_value"),
    _s(34, "GCMarkAssistActive", "dt g"),
    _s(35, "GCMarkAssistBegin", "dt stack", stacks=(1,)),
    _s(36, "GCMarkAssistEnd", "dt"),
    _s(37, "HeapAlloc", "dt heapalloc_value"),
    _s(38, "HeapGoal", "dt heapgoal_value"),
    _s(39, "GoLabel", "dt label_string", strings=(1,)),
    _s(40, "UserTaskBegin", "dt task parent_task name_string stack", stacks=(4,), strings=(3,)),
    _s(41, "UserTaskEnd", "dt task stack", stacks=(2,)),
    _s(42, "UserRegionBegin", "dt task name_string stack", stacks=(3,), strings=(2,)),
    _s(43, "UserRegionEnd", "dt task name_string stack", stacks=(3,), strings=(2,)),
    _s(44, "UserLog", "dt task key_string value_string stack", stacks=(4,), strings=(2, 3)),
    # Go 1.23
    _s(45, "GoSwitch", "dt g g_seq"),
    _s(46, "GoSwitchDestroy", "dt g g_seq"),
    _s(47, "GoCreateBlocked", "dt new_g new_stack stack", stacks=(3, 2)),
    _s(48, "GoStatusStack", "dt g m gstatus stack", stacks=(4,)),
    _s(49, "ExperimentalBatch", "exp gen m time", timed=False),
    # Go 1.25
    _s(50, "Sync", "", timed=False),
    _s(51, "ClockSnapshot", "dt mono sec nsec"),
    # Go 1.26
    _s(52, "EndOfGeneration", "", timed=False),
    # Experimental AllocFree events (Go 1.23+, GODEBUG=traceallocfree=1), in ordinary M batches.
    _s(128, "Span", "dt id npages_value kindclass"),
    _s(129, "SpanAlloc", "dt id npages_value kindclass"),
    _s(130, "SpanFree", "dt id"),
    _s(131, "HeapObject", "dt id type"),
    _s(132, "HeapObjectAlloc", "dt id type"),
    _s(133, "HeapObjectFree", "dt id"),
    _s(134, "GoroutineStack", "dt id order"),
    _s(135, "GoroutineStackAlloc", "dt id order"),
    _s(136, "GoroutineStackFree", "dt id"),
]

#: code -> spec, for every code any supported version may write.
SPECS: dict[int, EventSpec] = {s.code: s for s in _TABLE}

#: format version (the NN of "go 1.NN trace") -> highest ordinary event code it may use.
MAX_CODE: dict[int, int] = {22: 44, 23: 49, 25: 51, 26: 52}
SUPPORTED_VERSIONS: tuple[int, ...] = tuple(sorted(MAX_CODE))
#: The first format versions with each layout change.
SYNC_BATCH_SINCE = 25  # Sync + Frequency + ClockSnapshot instead of a lone Frequency
END_OF_GENERATION_SINCE = 26  # one bare EndOfGeneration byte closes each generation
EXPERIMENTAL_SINCE = 23

#: Which Go releases write which format (for error messages).
RELEASES_BY_FORMAT = {22: "Go 1.22", 23: "Go 1.23 and 1.24", 25: "Go 1.25", 26: "Go 1.26 and 1.27"}

# Limits from tracev2: beyond them the bytes are corrupt, not just large.
MAX_BATCH_SIZE = 64 << 10
MAX_FRAMES_PER_STACK = 128
MAX_STRING_SIZE = 1 << 10

# Wire codes used by the reader by name.
EV_EVENT_BATCH = 1
EV_STACKS = 2
EV_STACK = 3
EV_STRINGS = 4
EV_STRING = 5
EV_CPU_SAMPLES = 6
EV_CPU_SAMPLE = 7
EV_FREQUENCY = 8
EV_EXPERIMENTAL_BATCH = 49
EV_SYNC = 50
EV_CLOCK_SNAPSHOT = 51
EV_END_OF_GENERATION = 52
EV_GO_CREATE = 14
EV_GC_MARK_ASSIST_ACTIVE = 34
EV_GC_MARK_ASSIST_BEGIN = 35
EV_GC_MARK_ASSIST_END = 36

#: Public goroutine states, indexed like internal/trace.GoState.
GO_STATE_NAMES = ("Undetermined", "NotExist", "Runnable", "Running", "Waiting", "Syscall")
GS_UNDETERMINED, GS_NOTEXIST, GS_RUNNABLE, GS_RUNNING, GS_WAITING, GS_SYSCALL = range(6)
#: Public proc states, indexed like internal/trace.ProcState.
PROC_STATE_NAMES = ("Undetermined", "NotExist", "Running", "Idle")

# Wire goroutine status (tracev2.GoStatus) -> public GoState index.
GO_STATUS_TO_STATE = (0, 2, 3, 5, 4)  # Bad, Runnable, Running, Syscall, Waiting
# Wire proc status (tracev2.ProcStatus) -> public ProcState index.
PROC_STATUS_TO_STATE = (0, 2, 3, 2, 3)  # Bad, Running, Idle, Syscall, SyscallAbandoned

# The named codes agree with the table (a typo here would misread every trace).
assert all(SPECS[code].name == name for code, name in (
    (EV_GO_CREATE, "GoCreate"), (EV_GC_MARK_ASSIST_ACTIVE, "GCMarkAssistActive"),
    (EV_GC_MARK_ASSIST_BEGIN, "GCMarkAssistBegin"), (EV_GC_MARK_ASSIST_END, "GCMarkAssistEnd"),
    (EV_SYNC, "Sync"), (EV_END_OF_GENERATION, "EndOfGeneration"), (EV_CPU_SAMPLE, "CPUSample"),
))
