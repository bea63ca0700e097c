"""JUnit XML: the ``<properties>`` a measured test carries (``goperf.<metric>.median``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..comparison.verdict import RunEvaluation, TestMeasurement

__all__ = ["median_properties", "verdict_properties"]


def median_properties(measured: TestMeasurement) -> list[tuple[str, float]]:
    """``("goperf.<metric>.median", value)`` for every metric with rounds (the upper median of an even count)."""
    out = []
    for name, sample in measured.metrics.items():
        if sample.values:
            out.append((f"goperf.{name}.median", sorted(sample.values)[len(sample.values) // 2]))
    return out


def verdict_properties(ev: RunEvaluation) -> list[tuple[str, object]]:
    """Per gated metric: ``goperf.<metric>.verdict``, ``.change`` (relative) and, against a base, ``.base_median``."""
    out: list[tuple[str, object]] = []
    for v in ev.result.verdicts:
        c = v.comparison
        out.append((f"goperf.{v.metric}.verdict", v.status.value))
        if c.relative_change is not None:
            out.append((f"goperf.{v.metric}.change", round(c.relative_change, 6)))
        if ev.mode == "compare" and c.baseline_median is not None:
            out.append((f"goperf.{v.metric}.base_median", c.baseline_median))
    return out
