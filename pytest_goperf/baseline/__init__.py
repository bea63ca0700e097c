"""The baseline store: every round's value per test and metric, in reviewable JSON.

See :mod:`pytest_goperf.baseline._store` for the file layout and the write
protocol, and ``docs/baselines.md`` for the user's view.
"""

from __future__ import annotations

from .store import (
    DEFAULT_DIR,
    FORMAT,
    VERSION,
    BaselineDiff,
    BaselineEntry,
    BaselineError,
    BaselineStore,
    MetricBaseline,
    TestBaseline,
    diff,
    dumps,
    file_name_for,
    read_baseline_file,
)

__all__ = [
    "DEFAULT_DIR",
    "FORMAT",
    "VERSION",
    "BaselineDiff",
    "BaselineEntry",
    "BaselineError",
    "BaselineStore",
    "MetricBaseline",
    "TestBaseline",
    "diff",
    "dumps",
    "file_name_for",
    "read_baseline_file",
]
