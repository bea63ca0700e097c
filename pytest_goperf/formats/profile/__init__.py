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

from ._buildinfo import BuildInfo, Module, read_build_info, read_build_info_file
from ._decode import looks_like_profile, read_profile
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

__all__ = [
    "BuildInfo",
    "Function",
    "Label",
    "Line",
    "Location",
    "Mapping",
    "Module",
    "Profile",
    "ProfileKind",
    "Sample",
    "ValueType",
    "looks_like_profile",
    "read_build_info",
    "read_build_info_file",
    "read_profile",
]
