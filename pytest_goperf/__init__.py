"""pytest-goperf: goroutine-leak, scheduler and CPU-profile tests for Go services.

The public API is what this module exports (``__all__``); every submodule is
internal and may move. Names are imported on first use (PEP 562), so loading
the pytest plugin or the ``goperf`` command does not pay for numpy, scipy or
httpx until an engine is needed.

The package's folders are the data path::

    config -> runtime (build, start, pprof, capture a window as bytes)
           -> formats (bytes -> records) -> analysis (records -> metrics, leaks, findings)
           -> comparison (samples -> verdicts) <-> baseline (stored samples)
           -> report (text, Markdown, GitHub, JUnit, HTML)
    plugin/ (pytest) and cli/ (the goperf command) are the two edges.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BaselineError,
    BaseServiceError,
    BuildError,
    ConfigError,
    DumpParseError,
    GoperfAssertionError,
    GoperfError,
    GoroutineLeakError,
    ParseError,
    PerformanceRegressionError,
    PprofError,
    ProfileParseError,
    ServiceDiedError,
    ServiceError,
    ServiceStartError,
    StatsError,
    TraceParseError,
    UnknownNameError,
    UsageError,
)

__version__ = "0.1.0"

# public name -> module that defines it ("module:attribute" when the public name differs)
_LAZY: dict[str, str] = {
    "CallableLoad": "load.callable",
    "run_callable_load": "load.callable",
    "PprofAccess": "runtime.pprof",
    "Discount": "analysis.leaks",
    "redact_url": "runtime.pprof",
    "Ancestor": "formats.goroutines",
    "AnnotationSummary": "analysis.annotations",
    "BaselineDiff": "baseline.store",
    "BaselineEntry": "baseline.store",
    "BaselineStore": "baseline.store",
    "BlockedTime": "analysis.trace_metrics",
    "BuildInfo": "formats.profile._buildinfo",
    "CPUSample": "formats.trace.reader",
    "CaptureOptions": "runtime.capture",
    "ClosedModel": "load.scenario",
    "Cluster": "analysis.triage.findings",
    "Comparison": "comparison.stats",
    "ComparisonPolicy": "comparison.stats",
    "CrashReport": "formats.goroutines",
    "Environment": "baseline.environment",
    "Evidence": "analysis.triage.findings",
    "Finding": "analysis.triage.findings",
    "Frame": "formats.symbols",
    "Function": "formats.profile._model",
    "FunctionStat": "analysis.functions",
    "FunctionTable": "analysis.functions",
    "GateResult": "comparison.stats",
    "GoService": "runtime.service",
    "GoTransition": "formats.trace.reader",
    "GoperfConfig": "config",
    "Goroutine": "formats.goroutines",
    "GoroutineGroup": "analysis.groups",
    "GoroutineProfile": "formats.goroutines",
    "GoroutineStory": "analysis.triage.findings",
    "GoroutineTimeline": "analysis.timeline",
    "GroupStat": "analysis.functions",
    "IgnoreSpec": "config",
    "Label": "formats.profile._model",
    "LabelEvent": "formats.trace.reader",
    "LatencyHistogram": "load.histogram",
    "LatencyStats": "analysis.trace_metrics",
    "LatencyView": "analysis.measurement",
    "LeakCheck": "runtime.leakcheck",
    "LeakGroup": "analysis.leaks",
    "LeakPolicy": "analysis.leaks",
    "LeakReport": "analysis.leaks",
    "Line": "formats.profile._model",
    "LoadResult": "load.result",
    "Location": "formats.profile._model",
    "LogEvent": "formats.trace.reader",
    "Measure": "analysis.triage.findings",
    "MeasureSpec": "analysis.measurement",
    "Measurement": "analysis.measurement",
    "Metric": "comparison.metrics",
    "MetricBaseline": "baseline.store",
    "MetricEvent": "formats.trace.reader",
    "MetricSample": "comparison.verdict",
    "Module": "formats.profile._buildinfo",
    "OpenModel": "load.scenario",
    "PprofClient": "runtime.pprof",
    "ProcTransition": "formats.trace.reader",
    "ProcUtilisation": "analysis.trace_metrics",
    "Profile": "formats.profile._model",
    "RangeEvent": "formats.trace.reader",
    "RawWindow": "formats.window",
    "RegionEvent": "formats.trace.reader",
    "RegionSpan": "analysis.annotations",
    "Request": "load.scenario",
    "RequestStats": "load.result",
    "Round": "analysis.measurement",
    "Rule": "analysis.triage.rules",
    "RunEvaluation": "comparison.verdict",
    "RunnableSeries": "analysis.timeline",
    "RunnableStats": "analysis.trace_metrics",
    "Sample": "formats.profile._model",
    "SavedWindow": "runtime.capture",
    "Scenario": "load.scenario",
    "SchedLatency": "analysis.trace_metrics",
    "ServiceSpec": "runtime.service",
    "StackGroup": "formats.goroutines",
    "StackLatency": "analysis.trace_metrics",
    "StackSample": "analysis.functions",
    "Status": "comparison.status",
    "SyncEvent": "formats.trace.reader",
    "TaskEvent": "formats.trace.reader",
    "TaskSpan": "analysis.annotations",
    "TestBaseline": "baseline.store",
    "TestMeasurement": "comparison.verdict",
    "TraceEvent": "formats.trace.reader",
    "TraceMetrics": "analysis.trace_metrics",
    "TraceReader": "formats.trace.reader",
    "TraceTimeline": "analysis.timeline",
    "Triage": "analysis.triage.findings",
    "UserAnnotations": "analysis.annotations",
    "ValueType": "formats.profile._model",
    "Verdict": "comparison.stats",
    "Wakeup": "analysis.wakeups",
    "WakeupPair": "analysis.wakeups",
    "Wakeups": "analysis.wakeups",
    "WarningSign": "analysis.functions",
    "WindowAnalysis": "analysis.window",
    "WindowFiles": "formats.window",
    "analyse_window": "analysis.window",
    "arun_load": "load.engine",
    "assert_hot_share": "analysis.profile_checks",
    "assert_no_goroutine_leak": "runtime.leakcheck",
    "assert_runnable_below": "analysis.trace_checks",
    "assert_sched_latency_below": "analysis.trace_checks",
    "assert_utilisation_below": "analysis.trace_checks",
    "capture_environment": "baseline.environment",
    "capture_folder": "runtime.capture",
    "capture_window": "runtime.capture",
    "compare": "comparison.stats",
    "compute_metrics": "analysis.trace_metrics",
    "evaluate": "comparison.verdict",
    "function_table": "analysis.functions",
    "gate": "comparison.stats",
    "get_metric": "comparison.metrics",
    "group_goroutines": "analysis.groups",
    "load_config": "config",
    "load_window": "runtime.files",
    "measure": "runtime.measure",
    "parse_crash": "formats.goroutines",
    "parse_goroutine_profile": "formats.goroutines",
    "parse_goroutines": "formats.goroutines",
    "profile_table": "analysis.functions",
    "read_build_info": "formats.profile._buildinfo",
    "read_build_info_file": "formats.profile._buildinfo",
    "read_profile": "formats.profile._decode",
    "rules_with": "analysis.triage.rules",
    "run_load": "load.engine",
    "save_window": "runtime.files",
    "start_service": "runtime.service",
    "trace_timeline": "analysis.timeline",
    "triage": "analysis.triage.findings:analyse",
    "write_report": "report.html",
}

__all__ = [
    "Ancestor",
    "AnnotationSummary",
    "BaseServiceError",
    "BaselineDiff",
    "BaselineEntry",
    "BaselineError",
    "BaselineStore",
    "BlockedTime",
    "BuildError",
    "BuildInfo",
    "CPUSample",
    "CallableLoad",
    "CaptureOptions",
    "ClosedModel",
    "Cluster",
    "Comparison",
    "ComparisonPolicy",
    "ConfigError",
    "CrashReport",
    "Discount",
    "DumpParseError",
    "Environment",
    "Evidence",
    "Finding",
    "Frame",
    "Function",
    "FunctionStat",
    "FunctionTable",
    "GateResult",
    "GoService",
    "GoTransition",
    "GoperfAssertionError",
    "GoperfConfig",
    "GoperfError",
    "Goroutine",
    "GoroutineGroup",
    "GoroutineLeakError",
    "GoroutineProfile",
    "GoroutineStory",
    "GoroutineTimeline",
    "GroupStat",
    "IgnoreSpec",
    "Label",
    "LabelEvent",
    "LatencyHistogram",
    "LatencyStats",
    "LatencyView",
    "LeakCheck",
    "LeakGroup",
    "LeakPolicy",
    "LeakReport",
    "Line",
    "LoadResult",
    "Location",
    "LogEvent",
    "Measure",
    "MeasureSpec",
    "Measurement",
    "Metric",
    "MetricBaseline",
    "MetricEvent",
    "MetricSample",
    "Module",
    "OpenModel",
    "ParseError",
    "PerformanceRegressionError",
    "PprofAccess",
    "PprofClient",
    "PprofError",
    "ProcTransition",
    "ProcUtilisation",
    "Profile",
    "ProfileParseError",
    "RangeEvent",
    "RawWindow",
    "RegionEvent",
    "RegionSpan",
    "Request",
    "RequestStats",
    "Round",
    "Rule",
    "RunEvaluation",
    "RunnableSeries",
    "RunnableStats",
    "Sample",
    "SavedWindow",
    "Scenario",
    "SchedLatency",
    "ServiceDiedError",
    "ServiceError",
    "ServiceSpec",
    "ServiceStartError",
    "StackGroup",
    "StackLatency",
    "StackSample",
    "StatsError",
    "Status",
    "SyncEvent",
    "TaskEvent",
    "TaskSpan",
    "TestBaseline",
    "TestMeasurement",
    "TraceEvent",
    "TraceMetrics",
    "TraceParseError",
    "TraceReader",
    "TraceTimeline",
    "Triage",
    "UnknownNameError",
    "UsageError",
    "UserAnnotations",
    "ValueType",
    "Verdict",
    "Wakeup",
    "WakeupPair",
    "Wakeups",
    "WarningSign",
    "WindowAnalysis",
    "WindowFiles",
    "__version__",
    "analyse_window",
    "arun_load",
    "assert_hot_share",
    "assert_no_goroutine_leak",
    "assert_runnable_below",
    "assert_sched_latency_below",
    "assert_utilisation_below",
    "capture_environment",
    "capture_folder",
    "capture_window",
    "compare",
    "compute_metrics",
    "evaluate",
    "function_table",
    "gate",
    "get_metric",
    "group_goroutines",
    "load_config",
    "load_window",
    "measure",
    "parse_crash",
    "parse_goroutine_profile",
    "parse_goroutines",
    "profile_table",
    "read_build_info",
    "read_build_info_file",
    "read_profile",
    "redact_url",
    "rules_with",
    "run_callable_load",
    "run_load",
    "save_window",
    "start_service",
    "trace_timeline",
    "triage",
    "write_report",
]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'pytest_goperf' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(f".{module}", __name__), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from .analysis.annotations import AnnotationSummary, RegionSpan, TaskSpan, UserAnnotations
    from .analysis.functions import (
        FunctionStat,
        FunctionTable,
        GroupStat,
        StackSample,
        WarningSign,
        function_table,
        profile_table,
    )
    from .analysis.groups import GoroutineGroup, group_goroutines
    from .analysis.leaks import Discount, LeakGroup, LeakPolicy, LeakReport
    from .analysis.measurement import LatencyView, Measurement, MeasureSpec, Round
    from .analysis.profile_checks import assert_hot_share
    from .analysis.timeline import GoroutineTimeline, RunnableSeries, TraceTimeline, trace_timeline
    from .analysis.trace_checks import assert_runnable_below, assert_sched_latency_below, assert_utilisation_below
    from .analysis.trace_metrics import (
        BlockedTime,
        LatencyStats,
        ProcUtilisation,
        RunnableStats,
        SchedLatency,
        StackLatency,
        TraceMetrics,
        compute_metrics,
    )
    from .analysis.triage.findings import Cluster, Evidence, Finding, GoroutineStory, Measure, Triage
    from .analysis.triage.findings import analyse as triage
    from .analysis.triage.rules import Rule, rules_with
    from .analysis.wakeups import Wakeup, WakeupPair, Wakeups
    from .analysis.window import WindowAnalysis, analyse_window
    from .baseline.environment import Environment, capture_environment
    from .baseline.store import BaselineDiff, BaselineEntry, BaselineStore, MetricBaseline, TestBaseline
    from .comparison.metrics import Metric, get_metric
    from .comparison.stats import Comparison, ComparisonPolicy, GateResult, Verdict, compare, gate
    from .comparison.status import Status
    from .comparison.verdict import MetricSample, RunEvaluation, TestMeasurement, evaluate
    from .config import GoperfConfig, IgnoreSpec, load_config
    from .formats.goroutines import (
        Ancestor,
        CrashReport,
        Goroutine,
        GoroutineProfile,
        StackGroup,
        parse_crash,
        parse_goroutine_profile,
        parse_goroutines,
    )
    from .formats.profile._buildinfo import BuildInfo, Module, read_build_info, read_build_info_file
    from .formats.profile._decode import read_profile
    from .formats.profile._model import Function, Label, Line, Location, Profile, Sample, ValueType
    from .formats.symbols import Frame
    from .formats.trace.reader import (
        CPUSample,
        GoTransition,
        LabelEvent,
        LogEvent,
        MetricEvent,
        ProcTransition,
        RangeEvent,
        RegionEvent,
        SyncEvent,
        TaskEvent,
        TraceEvent,
        TraceReader,
    )
    from .formats.window import RawWindow, WindowFiles
    from .load.callable import CallableLoad, run_callable_load
    from .load.engine import arun_load, run_load
    from .load.histogram import LatencyHistogram
    from .load.result import LoadResult, RequestStats
    from .load.scenario import ClosedModel, OpenModel, Request, Scenario
    from .report.html import write_report
    from .runtime.capture import CaptureOptions, SavedWindow, capture_folder, capture_window
    from .runtime.files import load_window, save_window
    from .runtime.leakcheck import LeakCheck, assert_no_goroutine_leak
    from .runtime.measure import measure
    from .runtime.pprof import PprofAccess, PprofClient, redact_url
    from .runtime.service import GoService, ServiceSpec, start_service
