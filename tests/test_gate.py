"""The run-level gate: measured tests against a baseline store, and its renderings."""

from __future__ import annotations

from pytest_goperf.baseline.environment import Environment
from pytest_goperf.baseline.store import BaselineStore
from pytest_goperf.comparison.metrics import get_metric
from pytest_goperf.comparison.stats import ComparisonPolicy
from pytest_goperf.comparison.verdict import (
    MetricSample,
    TestMeasurement,
    evaluate,
    measurement_from_json,
    to_baselines,
)
from pytest_goperf.report.github import annotation
from pytest_goperf.report.markdown import markdown_summary
from pytest_goperf.report.text import gate_lines as terminal_lines


def measured(nodeid, values, env=None, metric="cpu_per_request", gated=True):
    policy = ComparisonPolicy.of(get_metric(metric))
    return TestMeasurement(nodeid, {metric: MetricSample(policy, tuple(values), gated)}, env, True, "tests/test_x.py", 7)


ENV = Environment(go_version="go1.26.8", gomaxprocs=2, cpu_model="AMD EPYC", cpu_count=2, os="Linux x86_64")


def test_json_round_trip_between_processes():
    t = measured("tests/test_x.py::test_a", [1.0, 1.1, 0.9], ENV)
    assert measurement_from_json(t.to_json()) == t


def test_regression_improvement_and_missing_baseline(tmp_path):
    store = BaselineStore(tmp_path)
    store.update_many(to_baselines([
        measured("t::slower", [1.00, 1.02, 0.98, 1.01, 0.99], ENV),
        measured("t::faster", [1.00, 1.02, 0.98, 1.01, 0.99], ENV),
    ]))
    ev = evaluate(
        [
            measured("t::slower", [1.30, 1.32, 1.28, 1.31, 1.29], ENV),
            measured("t::faster", [0.70, 0.72, 0.68, 0.71, 0.69], ENV),
            measured("t::new", [1.0, 1.0, 1.0, 1.0, 1.0], ENV),
        ],
        store.load_many(["t::slower", "t::faster", "t::new"]),
    )
    status = {v.test: v.status.value for v in ev.result.verdicts}
    assert status == {"t::slower": "regressed", "t::faster": "improved", "t::new": "no baseline"}
    assert ev.failed
    text = "\n".join(terminal_lines(ev))
    assert "REGRESSED t::slower cpu_per_request" in text
    assert "no baseline for 1 metric(s) of 1 test(s) (t::new)" in text
    md = markdown_summary(ev)
    assert md.startswith("## goperf gate: regressions found")
    assert "| t::slower | cpu_per_request |" in md and "**regressed**" in md


def test_environment_mismatch_warns_or_skips(tmp_path):
    store = BaselineStore(tmp_path)
    store.update_many(to_baselines([measured("t::a", [1.0, 1.0, 1.0, 1.0, 1.0], ENV)]))
    other = Environment(go_version="go1.27.3", gomaxprocs=8, cpu_model="AMD EPYC", cpu_count=2, os="Linux x86_64")
    current = [measured("t::a", [1.0, 1.0, 1.0, 1.0, 1.0], other)]
    loose = evaluate(current, store.load_many(c.nodeid for c in current))
    assert loose.result.verdicts and "compared anyway" in loose.warnings[0] and "go" in loose.warnings[0].lower()
    strict = evaluate(current, store.load_many(c.nodeid for c in current), strict_environment=True)
    assert strict.skipped == ("t::a",) and not strict.result.verdicts


def test_ungated_metrics_are_stored_but_not_compared(tmp_path):
    t = measured("t::a", [1.0, 1.1, 0.9], ENV, metric="throughput", gated=False)
    assert to_baselines([t])["t::a"].metrics["throughput"].values == (1.0, 1.1, 0.9)
    assert evaluate([t], BaselineStore(tmp_path).load_many([t.nodeid])).result.verdicts == ()


def test_annotation_escaping():
    line = annotation("tests/a,b.py", 3, "goperf regression: x", "50% slower\nsee report")
    assert line == "::error file=tests/a%2Cb.py,line=3,title=goperf regression%3A x::50%25 slower%0Asee report"


def test_a_limit_does_not_replace_the_default_gated_metrics():
    """Issue 12: limits={"hot_share:...": x} used to make that share the only gated metric."""
    from types import SimpleNamespace

    from pytest_goperf.analysis.measurement import MeasureSpec
    from pytest_goperf.comparison.metrics import DEFAULT_GATE
    from pytest_goperf.comparison.samples import gated_metrics

    limited = MeasureSpec(limits={"hot_share:main.spinCore": 0.4})
    assert "hot_share:main.spinCore" in limited.recorded  # still stored with the baseline
    assert gated_metrics(SimpleNamespace(spec=limited, tracked=limited.recorded)) == DEFAULT_GATE
    tracked = MeasureSpec(track=("gc_share",), limits={"hot_share:main.spinCore": 0.4})
    assert gated_metrics(SimpleNamespace(spec=tracked, tracked=tracked.recorded)) == ("gc_share",)
    chosen = MeasureSpec(gate=("latency.p99",))
    assert gated_metrics(SimpleNamespace(spec=chosen, tracked=())) == ("latency.p99",)
