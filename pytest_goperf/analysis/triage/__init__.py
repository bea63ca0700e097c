"""``goperf triage``: why is this Go service busy? From its pprof endpoint alone.

Capture one bounded window of a live service (execution trace and CPU
profile of the same seconds, goroutine dumps before and after, the leak
profile where served) into a timestamped folder, or read a saved folder,
then rank the probable causes with their evidence::

    from pytest_goperf.triage import analyse, capture, load_folder

    result = capture("http://127.0.0.1:6060", Path("goperf-triage"), limits=CaptureLimits(seconds=5))
    triage = analyse(load_folder(result.directory))
    print(triage.to_text())          # the root-cause table
    triage.findings[0].key           # "runnable_backlog", "lock_contention", ...

Analysis is pure: :func:`analyse` takes the bytes and records of one window
(:class:`TriageInput`) and touches neither the network nor the disk. Rule
thresholds are data (:data:`RULES`); keys and defaults in docs/triage.md.
"""

from .findings import (
    Cluster,
    Evidence,
    Finding,
    GoroutineStory,
    Measure,
    Triage,
    analyse,
    clusters_of,
    dumps,
)
from .rules import LEVELS, RULES, Level, Rule, level_rank, rules_with

__all__ = [
    "LEVELS",
    "RULES",
    "Cluster",
    "Evidence",
    "Finding",
    "GoroutineStory",
    "Level",
    "Measure",
    "Rule",
    "Triage",
    "analyse",
    "clusters_of",
    "dumps",
    "level_rank",
    "rules_with",
]
