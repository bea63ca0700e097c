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

__all__ = [
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
