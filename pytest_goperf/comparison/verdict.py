"""The regression gate of one run: measured tests against their baselines.

Pure functions from what the tests measured (:class:`TestMeasurement`) and the
stored baselines to one :class:`RunEvaluation`, and renderings of it for the
terminal, JSON, GitHub Actions (annotations and a step-summary table). The
pytest plugin collects the measurements (from xdist workers too) and calls
these once, in the main process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..baseline.environment import Environment, mismatches
from ..baseline.store import BaselineStore, MetricBaseline, TestBaseline
from .stats import ComparisonPolicy, GateResult, Status, Verdict, compare, gate

__all__ = [
    "MetricSample",
    "RunEvaluation",
    "TestMeasurement",
    "evaluate",
    "github_annotations",
    "markdown_summary",
    "measurement_from_json",
    "terminal_lines",
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
    store: BaselineStore,
    *,
    alpha: float = 0.05,
    method: str = "bh",
    strict_environment: bool = False,
) -> RunEvaluation:
    """Compare every gated metric of ``tests`` with its baseline and run the gate over all of them."""
    comparisons = []
    warnings: list[str] = []
    skipped: list[str] = []
    for t in tests:
        base = store.load(t.nodeid)
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
    result = gate(comparisons, alpha=alpha, method=method)  # type: ignore[arg-type]
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


# ---------------------------------------------------------------------------- renderings


def _num(v: float | None, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    text = f"{v:.4g}"
    return f"{text} {unit}".strip() if unit and unit not in ("fraction",) else text


def _change(v: Verdict) -> str:
    c = v.comparison
    if c.relative_change is None:
        return "-"
    text = f"{c.relative_change:+.1%}"
    if c.ci_low is not None and c.ci_high is not None and math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
        if c.log_scale:
            text += f" [{c.ci_low - 1:+.1%}, {c.ci_high - 1:+.1%}]"
        else:
            text += f" [{_num(c.ci_low)}, {_num(c.ci_high)}]"
    return text


def _p(v: Verdict) -> str:
    c = v.comparison
    if c.exact:
        return "exact"
    if v.p_adjusted is not None:
        return f"{v.p_adjusted:.3g}"
    return "-" if c.p_value is None else f"{c.p_value:.3g}"


def _rows(ev: RunEvaluation) -> list[list[str]]:
    rows = []
    for v in ev.result.verdicts:
        c = v.comparison
        rows.append(
            [
                c.test or "",
                v.metric,
                _num(c.baseline_median, c.policy.unit),
                _num(c.current_median, c.policy.unit),
                _change(v),
                _p(v),
                v.status.value,
            ]
        )
    return rows


_HEADER = ["test", "metric", "baseline median", "current median", "change [interval]", "p (adj.)", "verdict"]


def terminal_lines(ev: RunEvaluation) -> list[str]:
    """The summary table for the terminal, regressions first, then notes and warnings."""
    order = {Status.REGRESSED: 0, Status.IMPROVED: 1, Status.NOT_ENOUGH_DATA: 2, Status.UNCHANGED: 3}
    compared = [r for r in _rows(ev) if r[6] != Status.NO_BASELINE.value]
    lines = []
    if compared:
        rows = [_HEADER] + sorted(compared, key=lambda r: (order.get(Status(r[6]), 9), r[0], r[1]))
        widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    res = ev.result
    missing = [v for v in res.verdicts if v.status is Status.NO_BASELINE]
    if missing:
        tests = sorted({v.test or "" for v in missing})
        lines.append(
            f"no baseline for {len(missing)} metric(s) of {len(tests)} test(s) "
            f"({', '.join(tests[:3])}{' ...' if len(tests) > 3 else ''}): record them with "
            "`pytest --goperf-update-baselines`"
        )
    counts = {s: sum(1 for v in res.verdicts if v.status is s) for s in Status}
    lines.append("")
    lines.append(
        f"gate: {counts[Status.REGRESSED]} regressed, {counts[Status.IMPROVED]} improved, "
        f"{counts[Status.UNCHANGED]} unchanged, {counts[Status.NOT_ENOUGH_DATA]} not enough data, "
        f"{counts[Status.NO_BASELINE]} no baseline; {res.family_size} comparison(s) under "
        f"{'Benjamini-Hochberg' if res.method == 'bh' else 'Holm'} at alpha {res.alpha:g}"
    )
    for v in res.regressions:
        lines.append(f"REGRESSED {v.test} {v.metric}: {v.reason}")
    for note in res.notes:
        lines.append(f"note: {note}")
    for w in ev.warnings:
        lines.append(f"warning: {w}")
    return lines


def markdown_summary(ev: RunEvaluation, max_rows: int = 200) -> str:
    """A GitHub-flavoured Markdown table for ``$GITHUB_STEP_SUMMARY``."""
    res = ev.result
    title = "regressions found" if res.failed else "no regression"
    out = [f"## goperf gate: {title}", "", "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    for row in _rows(ev)[:max_rows]:
        cells = [c.replace("|", "\\|") for c in row]
        if cells[6] == Status.REGRESSED.value:
            cells[6] = f"**{cells[6]}**"
        out.append("| " + " | ".join(cells) + " |")
    if len(res.verdicts) > max_rows:
        out.append(f"\n{len(res.verdicts) - max_rows} more rows in the JSON report.")
    for note in res.notes:
        out.append(f"\n> note: {note}")
    for w in ev.warnings:
        out.append(f"\n> warning: {w}")
    return "\n".join(out) + "\n"


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def annotation(file: str | None, line: int | None, title: str, message: str) -> str:
    """One GitHub Actions ``::error`` workflow command."""
    props = []
    if file:
        props.append(f"file={_escape_prop(file)}")
        if line:
            props.append(f"line={line}")
    props.append(f"title={_escape_prop(title)}")
    return f"::error {','.join(props)}::{_escape_data(message)}"


def github_annotations(ev: RunEvaluation) -> list[str]:
    """``::error`` lines for every regression, pointing at the test that measured it."""
    lines = []
    for v in ev.result.regressions:
        file, line = ev.locations.get(v.test or "", (None, None))
        lines.append(annotation(file, line, f"goperf regression: {v.metric}", f"{v.test}: {v.metric} {v.reason}"))
    return lines
