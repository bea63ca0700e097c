"""pytest-goperf: goroutine-leak, scheduler and CPU-profile tests for Go services.

The public API is what this module exports; everything else is internal.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    BuildError,
    ConfigError,
    DumpParseError,
    GoperfAssertionError,
    GoperfError,
    GoroutineLeakError,
    ParseError,
    PprofError,
    ProfileParseError,
    ServiceDiedError,
    ServiceError,
    ServiceStartError,
    TraceParseError,
)
from .config import GoperfConfig, IgnoreSpec
from .goroutines import Frame, Goroutine, parse_goroutine_profile, parse_goroutines
from .leaks import LeakReport, assert_no_goroutine_leak
from .profile import FunctionTable, assert_hot_share, function_table, profile_table, read_build_info, read_profile
from .service import GoService

__all__ = [
    "Frame",
    "FunctionTable",
    "GoService",
    "GoperfConfig",
    "Goroutine",
    "IgnoreSpec",
    "LeakReport",
    "assert_hot_share",
    "assert_no_goroutine_leak",
    "function_table",
    "parse_goroutine_profile",
    "parse_goroutines",
    "profile_table",
    "read_build_info",
    "read_profile",
    "BuildError",
    "ConfigError",
    "DumpParseError",
    "GoperfAssertionError",
    "GoperfError",
    "GoroutineLeakError",
    "ParseError",
    "PprofError",
    "ProfileParseError",
    "ServiceDiedError",
    "ServiceError",
    "ServiceStartError",
    "TraceParseError",
    "__version__",
]
