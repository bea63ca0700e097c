"""The regression gate of one run: measured tests against their baselines.

Pure functions from what the tests measured (:class:`TestMeasurement`) and
their baselines (records, read from the store by the caller) to one
:class:`RunEvaluation`. The pytest plugin collects the measurements (from
xdist workers too) and calls these once, in the main process; the renderings
(terminal, Markdown, GitHub annotations, JUnit) are in :mod:`pytest_goperf.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..baseline.environment import Environment, mismatches
from ..baseline.store import MetricBaseline, TestBaseline
from ..config import DEFAULT_ALPHA, DEFAULT_METHOD, Method
from .stats import ComparisonPolicy, GateResult, compare, gate

__all__ = [
    "MetricSample",
    "RunEvaluation",
    "TestMeasurement",
    "evaluate",
    "measurement_from_json",
    "to_baselines",
]


@dataclass(frozen=True)
class MetricSample:
    """One metric's round values in one test, with how it is compared."""

    policy: ComparisonPolicy
    values: tuple[float, ...]
    gated: bool = True  # False: stored in baselines, not part of the gate

    @property
    def name(self) -> str:
        return self.policy.name


@dataclass(frozen=True)
class TestMeasurement:
    """Everything one test measured, as sent from the process that ran it."""

    __test__ = False  # not a pytest test class

    nodeid: str
    metrics: Mapping[str, MetricSample]
    environment: Environment | None = None
    passed: bool = True
    file: str | None = None
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "passed": self.passed,
            "file": self.file,
            "line": self.line,
            "environment": self.environment.to_json() if self.environment else None,
            "metrics": {
                name: {
                    "values": list(m.values),
                    "gated": m.gated,
                    "unit": m.policy.unit,
                    "worse": m.policy.worse,
                    "min_effect_rel": m.policy.min_effect_rel,
                    "min_effect_abs": m.policy.min_effect_abs,
                    "log_scale": m.policy.log_scale,
                    "exact": m.policy.exact,
                }
                for name, m in self.metrics.items()
            },
        }


def measurement_from_json(data: Mapping[str, Any]) -> TestMeasurement:
    """The inverse of :meth:`TestMeasurement.to_json` (for reports sent between processes)."""
    metrics = {}
    for name, m in data["metrics"].items():
        policy = ComparisonPolicy(
            name=name,
            unit=m["unit"],
            worse=m["worse"],
            min_effect_rel=m["min_effect_rel"],
            min_effect_abs=m["min_effect_abs"],
            log_scale=m["log_scale"],
            exact=m["exact"],
        )
        metrics[name] = MetricSample(policy, tuple(float(v) for v in m["values"]), bool(m["gated"]))
    env = Environment.from_json(data["environment"]) if data.get("environment") else None
    return TestMeasurement(data["nodeid"], metrics, env, bool(data.get("passed", True)), data.get("file"), data.get("line"))


@dataclass(frozen=True)
class RunEvaluation:
    """The gate's answer for a run."""

    result: GateResult
    warnings: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # tests not compared (strict environment check)
    locations: Mapping[str, tuple[str | None, int | None]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.result.failed

    def to_json(self) -> dict[str, Any]:
        out = self.result.to_json()
        out["warnings"] = list(self.warnings)
        out["skipped"] = list(self.skipped)
        return out


def evaluate(
    tests: Sequence[TestMeasurement],
    baselines: Mapping[str, TestBaseline | None],
    *,
    alpha: float = DEFAULT_ALPHA,
    method: Method = DEFAULT_METHOD,
    strict_environment: bool = False,
) -> RunEvaluation:
    """Compare every gated metric of ``tests`` with its baseline and run the gate over all of them.

    ``baselines`` maps a test's node id to its stored baseline (missing or
    None: no baseline).
    """
    comparisons = []
    warnings: list[str] = []
    skipped: list[str] = []
    for t in tests:
        base = baselines.get(t.nodeid)
        if base is not None and base.environment is not None and t.environment is not None:
            differs = mismatches(base.environment, t.environment)
            if differs:
                what = "; ".join(differs)
                if strict_environment:
                    skipped.append(t.nodeid)
                    warnings.append(f"{t.nodeid}: not compared, the environment differs from the baseline's: {what}")
                    continue
                warnings.append(f"{t.nodeid}: the environment differs from the baseline's ({what}); compared anyway")
        for name, sample in t.metrics.items():
            if not sample.gated:
                continue
            stored: MetricBaseline | None = base.metrics.get(name) if base is not None else None
            baseline_values = stored.values if stored is not None else ()
            comparisons.append(compare(baseline_values, sample.values, sample.policy, alpha, test=t.nodeid))
    result = gate(comparisons, alpha=alpha, method=method)
    locations = {t.nodeid: (t.file, t.line) for t in tests}
    return RunEvaluation(result, tuple(warnings), tuple(skipped), locations)


def to_baselines(tests: Sequence[TestMeasurement]) -> dict[str, TestBaseline]:
    """Baselines to store for ``tests`` (every recorded metric, gated or not)."""
    return {
        t.nodeid: TestBaseline(
            metrics={
                name: MetricBaseline(values=m.values, unit=m.policy.unit, worse=m.policy.worse)
                for name, m in t.metrics.items()
                if m.values
            },
            environment=t.environment,
        )
        for t in tests
    }
