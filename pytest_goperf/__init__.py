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
    "Frame": "formats.goroutines",
    "Goroutine": "formats.goroutines",
    "parse_goroutine_profile": "formats.goroutines",
    "parse_goroutines": "formats.goroutines",
    "LeakReport": "analysis.leaks",
    "assert_no_goroutine_leak": "analysis.leaks",
    "GoService": "runtime.service",
    "FunctionTable": "analysis.functions",
    "assert_hot_share": "analysis.profile_checks",
    "function_table": "analysis.functions",
    "profile_table": "analysis.functions",
    "read_build_info": "formats.profile._buildinfo",
    "read_profile": "formats.profile._decode",
    "TraceMetrics": "analysis.trace_metrics",
    "compute_metrics": "analysis.trace_metrics",
    "ClosedModel": "load.scenario",
    "LoadResult": "load.result",
    "OpenModel": "load.scenario",
    "Request": "load.scenario",
    "Scenario": "load.scenario",
    "arun_load": "load.engine",
    "run_load": "load.engine",
    "Measurement": "runtime.measure",
    "Round": "runtime.capture",
    "Metric": "comparison.metrics",
    "get_metric": "comparison.metrics",
    "BaselineError": "baseline.store",
    "BaselineStore": "baseline.store",
    "ComparisonPolicy": "comparison.stats",
    "Status": "comparison.stats",
    "compare": "comparison.stats",
    "gate": "comparison.stats",
    "capture_environment": "baseline.environment",
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
    from .analysis.functions import FunctionTable, function_table, profile_table
    from .analysis.leaks import LeakReport, assert_no_goroutine_leak
    from .analysis.profile_checks import assert_hot_share
    from .analysis.trace_metrics import TraceMetrics, compute_metrics
    from .baseline.environment import capture_environment
    from .baseline.store import BaselineError, BaselineStore
    from .comparison.metrics import Metric, get_metric
    from .comparison.stats import ComparisonPolicy, Status, compare, gate
    from .config import GoperfConfig, IgnoreSpec
    from .formats.goroutines import (
        Frame,
        Goroutine,
        parse_goroutine_profile,
        parse_goroutines,
    )
    from .formats.profile._buildinfo import read_build_info
    from .formats.profile._decode import read_profile
    from .load.engine import arun_load, run_load
    from .load.result import LoadResult
    from .load.scenario import ClosedModel, OpenModel, Request, Scenario
    from .runtime.capture import Round
    from .runtime.measure import Measurement
    from .runtime.service import GoService
