"""JUnit XML: the ``<properties>`` a measured test carries (``goperf.<metric>.median``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..comparison.verdict import TestMeasurement

__all__ = ["median_properties"]


def median_properties(measured: TestMeasurement) -> list[tuple[str, float]]:
    """``("goperf.<metric>.median", value)`` for every metric with rounds (the upper median of an even count)."""
    out = []
    for name, sample in measured.metrics.items():
        if sample.values:
            out.append((f"goperf.{name}.median", sorted(sample.values)[len(sample.values) // 2]))
    return out
