"""From a test's measurements to the samples the gate compares: every metric's round values and its policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .metrics import DEFAULT_GATE, get_metric
from .stats import ComparisonPolicy
from .verdict import MetricSample

if TYPE_CHECKING:
    from ..analysis.measurement import Floor, Measurement

__all__ = ["gated_metrics", "metric_samples", "paired_samples", "policy_for"]


def policy_for(name: str, floor: Floor | None = None, *, label: str | None = None,
               paired: bool = False) -> ComparisonPolicy:
    """The comparison policy of the catalogued metric ``name``, with a test's own effect floor.

    ``floor`` is a relative fraction (``0.1``) or ``{"rel": .., "abs": ..}``;
    ``label`` renames the metric in reports (``m1/cpu_per_request``). ``paired``:
    for the same-run comparison, where a metric's ``paired_min_effect_rel``
    (if any) replaces its stored-baseline floor unless the test sets its own.
    """
    overrides: dict[str, Any] = {}
    metric = get_metric(name)
    if paired and floor is None and metric.paired_min_effect_rel is not None:
        overrides["min_effect_rel"] = metric.paired_min_effect_rel
    if isinstance(floor, (int, float)) and not isinstance(floor, bool):
        overrides["min_effect_rel"] = float(floor)
    elif isinstance(floor, Mapping):
        if "rel" in floor:
            overrides["min_effect_rel"] = floor["rel"]
        if "abs" in floor:
            overrides["min_effect_abs"] = floor["abs"]
    return ComparisonPolicy.of(metric, name=label or name, **overrides)


def gated_metrics(measurement: Measurement) -> tuple[str, ...]:
    """The metrics the gate compares for ``measurement``: ``gate=``, else ``track=``, else the defaults.

    A share named only in ``limits=`` is recorded (stored with the baseline) but does not replace the
    default gated metrics: a limit is checked on its own, whatever the baseline says.
    """
    spec = measurement.spec
    if spec.gate is not None:
        return spec.gate
    return tuple(spec.track) or DEFAULT_GATE


def metric_samples(measurements: Sequence[Measurement]) -> dict[str, MetricSample]:
    """Every recorded metric of a test's measurements (prefixed by the measurement's name when it has one)."""
    samples: dict[str, MetricSample] = {}
    for m in measurements:
        prefix = f"{m.spec.name}/" if m.spec.name else ""
        gated = gated_metrics(m)
        for name in dict.fromkeys([*m.metric_names(), *gated]):
            policy = policy_for(name, m.spec.floors.get(name), label=prefix + name)
            samples[prefix + name] = MetricSample(policy, tuple(m.values(name)), gated=name in gated)
    return samples


def paired_samples(
    head: Sequence[Measurement], base: Sequence[Measurement]
) -> tuple[dict[str, MetricSample], dict[str, MetricSample]]:
    """The head's and the base's samples of a test, pair by pair: round k of the head with round k of the base.

    A pair where either side lacks a metric's value is left out of that
    metric, so both sides keep the same pairs in the same order.
    """
    head_samples: dict[str, MetricSample] = {}
    base_samples: dict[str, MetricSample] = {}
    for h, b in zip(head, base, strict=False):
        prefix = f"{h.spec.name}/" if h.spec.name else ""
        gated = gated_metrics(h)
        for name in dict.fromkeys([*h.metric_names(), *gated]):
            pairs = [(x, y) for x, y in zip(h.round_values(name), b.round_values(name), strict=False)
                     if x is not None and y is not None]
            policy = policy_for(name, h.spec.floors.get(name), label=prefix + name, paired=True)
            head_samples[prefix + name] = MetricSample(policy, tuple(x for x, _ in pairs), gated=name in gated)
            base_samples[prefix + name] = MetricSample(policy, tuple(y for _, y in pairs), gated=name in gated)
    return head_samples, base_samples
