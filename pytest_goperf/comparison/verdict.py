"""The regression gate of one run: measured tests against their baselines.

Pure functions from what the tests measured (:class:`TestMeasurement`) and
their baselines (records, read from the store by the caller) to one
:class:`RunEvaluation`. The pytest plugin collects the measurements (from
xdist workers too) and calls these once, in the main process; the renderings
(terminal, Markdown, GitHub annotations, JUnit) are in :mod:`pytest_goperf.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..baseline.environment import Environment, mismatches
from ..baseline.store import MetricBaseline, TestBaseline
from ..config import DEFAULT_ALPHA, DEFAULT_METHOD, Method, Schedule
from .stats import ComparisonPolicy, EffectRule, GateResult, Status, compare, compare_paired, gate, regression_ruled_out

Mode = Literal["stored", "compare"]

__all__ = [
    "BaseInfo",
    "MetricSample",
    "RunEvaluation",
    "TestMeasurement",
    "evaluate",
    "evaluate_pairs",
    "measurement_from_json",
    "merge",
    "no_base",
    "pairs_decision",
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
class BaseInfo:
    """The base a same-run comparison measured beside the head."""

    rev: str
    commit: str | None = None
    schedule: Schedule = "interleaved"
    note: str = ""  # why there is no base to compare with, when there is none

    def to_json(self) -> dict[str, Any]:
        return {"rev": self.rev, "commit": self.commit, "schedule": self.schedule, "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BaseInfo:
        return cls(str(data["rev"]), data.get("commit"), data.get("schedule", "interleaved"), data.get("note", ""))

    def describe(self) -> str:
        """``origin/main (1a2b3c4d5e6f)``."""
        if self.commit is None or self.commit.startswith(self.rev):
            return self.commit[:12] if self.commit else self.rev
        return f"{self.rev} ({self.commit[:12]})"


@dataclass(frozen=True)
class RunEvaluation:
    """The gate's answer for a test, or for a run (the merge of its tests' answers).

    ``mode`` is ``stored`` (against baselines from the store) or ``compare``
    (against the base measured in the same run, ``base``). ``share`` is the
    number of measuring tests the run's alpha is split between (each test is
    judged at ``alpha / share``, so the false-alarm rate of the whole run stays
    at most alpha); ``run_alpha`` is the alpha before the split.
    """

    result: GateResult
    warnings: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # tests not compared (strict environment check)
    locations: Mapping[str, tuple[str | None, int | None]] = field(default_factory=dict)
    mode: Mode = "stored"
    base: BaseInfo | None = None
    share: int = 1
    run_alpha: float | None = None

    @property
    def failed(self) -> bool:
        return self.result.failed

    def to_json(self) -> dict[str, Any]:
        """Stable keys, documented in docs/baselines.md."""
        out = self.result.to_json()
        out["warnings"] = list(self.warnings)
        out["skipped"] = list(self.skipped)
        out["mode"] = self.mode
        out["base"] = self.base.to_json() if self.base is not None else None
        out["tests_sharing_alpha"] = self.share
        out["run_alpha"] = self.run_alpha if self.run_alpha is not None else self.result.alpha
        out["locations"] = {k: list(v) for k, v in self.locations.items()}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunEvaluation:
        """The inverse of :meth:`to_json` (a test's evaluation travels from its xdist worker as JSON)."""
        base = data.get("base")
        return cls(
            GateResult.from_json(data), tuple(data.get("warnings", ())), tuple(data.get("skipped", ())),
            {k: (v[0], v[1]) for k, v in (data.get("locations") or {}).items()}, data.get("mode", "stored"),
            BaseInfo.from_json(base) if base else None, int(data.get("tests_sharing_alpha", 1)),
            data.get("run_alpha"),
        )


def merge(evaluations: Sequence[RunEvaluation], *, alpha: float, method: Method, mode: Mode = "stored",
          base: BaseInfo | None = None, share: int = 1) -> RunEvaluation:
    """The run's evaluation from its tests' (each already judged at ``alpha / share``)."""
    verdicts = tuple(v for e in evaluations for v in e.result.verdicts)
    notes = tuple(dict.fromkeys(n for e in evaluations for n in e.result.notes))
    result = GateResult(verdicts, alpha, method, "bound", sum(e.result.family_size for e in evaluations), notes)
    locations: dict[str, tuple[str | None, int | None]] = {}
    for e in evaluations:
        locations.update(e.locations)
    return RunEvaluation(
        result,
        tuple(w for e in evaluations for w in e.warnings),
        tuple(s for e in evaluations for s in e.skipped),
        locations, mode, base, share, alpha,
    )


def _share_note(alpha: float, share: int) -> tuple[str, ...]:
    if share <= 1:
        return ()
    return (f"alpha {alpha:g} is shared by the run's {share} measuring tests: each is judged at "
            f"{alpha / share:.3g}, so the whole run raises a false alarm at most {alpha:g} of the time",)


def evaluate(
    tests: Sequence[TestMeasurement],
    baselines: Mapping[str, TestBaseline | None],
    *,
    alpha: float = DEFAULT_ALPHA,
    method: Method = DEFAULT_METHOD,
    strict_environment: bool = False,
    share: int = 1,
) -> RunEvaluation:
    """Compare every gated metric of ``tests`` with its baseline and run the gate over all of them.

    ``baselines`` maps a test's node id to its stored baseline (missing or
    None: no baseline). ``share`` splits ``alpha`` between that many
    measuring tests judged apart (the plugin judges each test at its end).
    """
    comparisons = []
    warnings: list[str] = []
    skipped: list[str] = []
    level = alpha / max(1, share)
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
            comparisons.append(compare(baseline_values, sample.values, sample.policy, level, test=t.nodeid))
    result = gate(comparisons, alpha=level, method=method)
    result = replace(result, notes=_share_note(alpha, share) + result.notes)
    locations = {t.nodeid: (t.file, t.line) for t in tests}
    return RunEvaluation(result, tuple(warnings), tuple(skipped), locations, "stored", None, share, alpha)


def evaluate_pairs(
    head: TestMeasurement,
    base: TestMeasurement,
    *,
    base_info: BaseInfo,
    alpha: float = DEFAULT_ALPHA,
    method: Method = DEFAULT_METHOD,
    share: int = 1,
    looks: int = 1,
    effect_rule: EffectRule = "bound",
) -> RunEvaluation:
    """Compare a test's head rounds with the base rounds taken beside them, pair by pair.

    ``head`` and ``base`` carry, per metric, the values of the same pairs in
    the same order (:func:`~pytest_goperf.comparison.samples.paired_samples`).
    A metric the base lacks is "no baseline" (a metric new in the head).

    ``looks`` is how many times the test may be judged while pairs are added
    (the sequential gate: ``[tool.goperf.gate] looks``); each look is judged at
    ``alpha / share / looks`` (Bonferroni over the looks), so however early the
    test stops, the run's chance of a false alarm stays at most ``alpha``.
    """
    level = alpha / max(1, share) / max(1, looks)
    comparisons = []
    for name, sample in head.metrics.items():
        if not sample.gated:
            continue
        other = base.metrics.get(name)
        if other is None or not other.values:
            comparisons.append(compare((), sample.values, sample.policy, level, test=head.nodeid))
            continue
        comparisons.append(compare_paired(other.values, sample.values, sample.policy, level, test=head.nodeid,
                                          effect_rule=effect_rule))
    result = gate(comparisons, alpha=level, method=method, effect_rule=effect_rule)
    result = replace(result, notes=_share_note(alpha, share) + _looks_note(alpha / max(1, share), looks) + result.notes)
    return RunEvaluation(result, (), (), {head.nodeid: (head.file, head.line)}, "compare", base_info, share, alpha)


def _looks_note(alpha: float, looks: int) -> tuple[str, ...]:
    if looks <= 1:
        return ()
    return (f"sequential: up to {looks} looks as pairs are added, each judged at {alpha:g}/{looks} = "
            f"{alpha / looks:.3g}",)


Decision = Literal["regressed", "clear", "undecided"]


def pairs_decision(evaluation: RunEvaluation) -> Decision:
    """Whether a look of the sequential gate is final.

    ``regressed``: a gated metric regressed (stop: the test fails).
    ``clear``: every gated metric either has no comparison (no base, exact and
    unchanged) or its interval rules out a regression of its floor's size
    (stop: the test passes). ``undecided``: neither; more pairs may settle it.
    """
    result = evaluation.result
    if result.failed:
        return "regressed"
    for v in result.verdicts:
        if v.status is Status.NO_BASELINE:
            continue
        if v.status is Status.NOT_ENOUGH_DATA or not regression_ruled_out(v.comparison):
            return "undecided"
    return "clear"


def no_base(test: TestMeasurement, base_info: BaseInfo, *, alpha: float, method: Method, share: int) -> RunEvaluation:
    """A compare-mode evaluation without a base to compare with: every gated metric says why."""
    reason = f"no base: {base_info.note}" if base_info.note else "no base"
    level = alpha / max(1, share)
    comparisons = [replace(compare((), s.values, s.policy, level, test=test.nodeid), reason=reason)
                   for s in test.metrics.values() if s.gated]
    result = gate(comparisons, alpha=level, method=method)
    return RunEvaluation(result, (), (), {test.nodeid: (test.file, test.line)}, "compare", base_info, share, alpha)


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
