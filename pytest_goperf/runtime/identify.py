"""What an attached service is, learned from its own pprof data: main module and Go version.

A service started elsewhere (``url``/``pprof_url``, ``goperf triage URL``)
says nothing about its build. Its CPU profile names the executable it maps
(the first mapping's ``filename``); when that file is on this machine, its
build info gives the main module (for the user/stdlib/runtime/module split)
and the exact Go version. Without it, the execution trace's header still
gives the Go release (``go1.26``), so the environment fingerprint is not
empty.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..analysis.functions import profile_table
from ..analysis.window import WindowAnalysis
from ..errors import GoperfError

__all__ = ["Identity", "identify", "with_main_module"]


@dataclass(frozen=True)
class Identity:
    """What a window says about the service's build (None where it cannot tell)."""

    main_module: str | None = None
    go_version: str | None = None
    binary: str | None = None  # the executable the profile maps


def identify(analysis: WindowAnalysis) -> Identity:
    """The service's main module and Go version, from the profile's binary, else the trace's header."""
    main_module = go_version = binary = None
    profile = analysis.profile
    if profile is not None and profile.mappings:
        binary = profile.mappings[0].filename or None
        if binary and Path(binary).is_file():
            from ..formats.profile._buildinfo import read_build_info_file

            try:
                info = read_build_info_file(binary)
            except GoperfError:
                info = None
            if info is not None:
                main_module, go_version = info.main_module or None, info.go_version or None
    if go_version is None and analysis.trace is not None and analysis.trace.go_version:
        # The trace's header has the format's release (Go 1.27 writes 1.26): say so in the value.
        go_version = f"go{analysis.trace.go_version.removeprefix('go')} (trace format)"
    return Identity(main_module, go_version, binary)


def with_main_module(analysis: WindowAnalysis, main_module: str | None) -> WindowAnalysis:
    """``analysis`` with its CPU table split by ``main_module`` (unchanged when it already is, or None)."""
    if not main_module or analysis.main_module == main_module:
        return analysis
    cpu = profile_table(analysis.profile, main_module=main_module) if analysis.profile is not None else analysis.cpu
    return replace(analysis, cpu=cpu, main_module=main_module)
