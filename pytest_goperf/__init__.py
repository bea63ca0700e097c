"""pytest-goperf: goroutine-leak, scheduler and CPU-profile tests for Go services.

The public API is what this module exports; everything else is internal.
Names are imported on first use (PEP 562), so loading the pytest plugin or
the ``goperf`` command does not pay for numpy, scipy or httpx until an engine
is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "GoperfConfig": "config",
    "IgnoreSpec": "config",
    "Frame": "goroutines",
    "Goroutine": "goroutines",
    "parse_goroutine_profile": "goroutines",
    "parse_goroutines": "goroutines",
    "LeakReport": "leaks",
    "assert_no_goroutine_leak": "leaks",
    "GoService": "service",
    "FunctionTable": "profile",
    "assert_hot_share": "profile",
    "function_table": "profile",
    "profile_table": "profile",
    "read_build_info": "profile",
    "read_profile": "profile",
    "TraceMetrics": "trace",
    "compute_metrics": "trace",
    "ClosedModel": "load",
    "LoadResult": "load",
    "OpenModel": "load",
    "Request": "load",
    "Scenario": "load",
    "arun_load": "load",
    "run_load": "load",
    "Measurement": "measure",
    "Round": "capture",
    "Metric": "metrics",
    "get_metric": "metrics",
    "BaselineError": "baseline",
    "BaselineStore": "baseline",
    "ComparisonPolicy": "stats",
    "Status": "stats",
    "compare": "stats",
    "gate": "stats",
    "capture_environment": "environment",
}

__all__ = [
    "BaselineError",
    "BaselineStore",
    "BuildError",
    "ClosedModel",
    "ComparisonPolicy",
    "ConfigError",
    "DumpParseError",
    "Frame",
    "FunctionTable",
    "GoService",
    "GoperfAssertionError",
    "GoperfConfig",
    "GoperfError",
    "Goroutine",
    "GoroutineLeakError",
    "IgnoreSpec",
    "LeakReport",
    "LoadResult",
    "Measurement",
    "Metric",
    "OpenModel",
    "ParseError",
    "PprofError",
    "ProfileParseError",
    "Request",
    "Round",
    "Scenario",
    "ServiceDiedError",
    "ServiceError",
    "ServiceStartError",
    "Status",
    "TraceMetrics",
    "TraceParseError",
    "__version__",
    "arun_load",
    "assert_hot_share",
    "assert_no_goroutine_leak",
    "capture_environment",
    "compare",
    "compute_metrics",
    "function_table",
    "gate",
    "get_metric",
    "parse_goroutine_profile",
    "parse_goroutines",
    "profile_table",
    "read_build_info",
    "read_profile",
    "run_load",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_goperf' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from .baseline import BaselineError, BaselineStore
    from .capture import Round
    from .config import GoperfConfig, IgnoreSpec
    from .environment import capture_environment
    from .goroutines import Frame, Goroutine, parse_goroutine_profile, parse_goroutines
    from .leaks import LeakReport, assert_no_goroutine_leak
    from .load import ClosedModel, LoadResult, OpenModel, Request, Scenario, arun_load, run_load
    from .measure import Measurement
    from .metrics import Metric, get_metric
    from .profile import FunctionTable, assert_hot_share, function_table, profile_table, read_build_info, read_profile
    from .service import GoService
    from .stats import ComparisonPolicy, Status, compare, gate
    from .trace import TraceMetrics, compute_metrics
