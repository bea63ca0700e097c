"""The CPU-profile engine: pprof profiles -> typed records -> per-function shares.

Decode any profile a Go service serves under ``/debug/pprof/`` (CPU, heap,
allocs, mutex, block, goroutine; gzipped or not) with :func:`read_profile`,
tabulate flat and cumulative values exactly as ``go tool pprof -top`` does
with :func:`profile_table` (or :func:`function_table` for any weighted
stacks, such as CPU samples from an execution trace), split functions into
user / stdlib / runtime / module code, spot the classic warning signs, and
export flame graphs. :func:`summarize` serves ``goperf analyze``.

Example::

    table = profile_table(read_profile(data), main_module="example.com/svc")
    table.hot_share("main.spinCore")            # flat share, 0..1
    assert_hot_share(table, "main.hashPayload", max_share=0.3)
"""

from __future__ import annotations

from ._assert import assert_hot_share, format_top
from ._buildinfo import BuildInfo, Module, read_build_info, read_build_info_file
from ._classify import (
    CLASSES,
    FunctionClass,
    classify,
    classify_package,
    is_stdlib_path,
    package_of,
)
from ._decode import looks_like_profile, read_profile
from ._export import folded_stacks, save_profile_artifacts, speedscope
from ._model import (
    Function,
    Label,
    Line,
    Location,
    Mapping,
    Profile,
    ProfileKind,
    Sample,
    ValueType,
)
from ._summary import ProfileSummary, summarize
from ._table import (
    WARNING_RULES,
    Frame,
    FunctionStat,
    FunctionTable,
    GroupStat,
    StackSample,
    WarningRule,
    WarningSign,
    function_table,
    profile_stacks,
    profile_table,
)

__all__ = [
    "CLASSES",
    "WARNING_RULES",
    "BuildInfo",
    "Frame",
    "Function",
    "FunctionClass",
    "FunctionStat",
    "FunctionTable",
    "GroupStat",
    "Label",
    "Line",
    "Location",
    "Mapping",
    "Module",
    "Profile",
    "ProfileKind",
    "ProfileSummary",
    "Sample",
    "StackSample",
    "ValueType",
    "WarningRule",
    "WarningSign",
    "assert_hot_share",
    "classify",
    "classify_package",
    "folded_stacks",
    "format_top",
    "function_table",
    "is_stdlib_path",
    "looks_like_profile",
    "package_of",
    "profile_stacks",
    "profile_table",
    "read_build_info",
    "read_build_info_file",
    "read_profile",
    "save_profile_artifacts",
    "speedscope",
    "summarize",
]
