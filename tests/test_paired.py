"""The same-run comparison's statistics: exact signed-rank test, paired Hodges-Lehmann, verdicts, transport."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pytest_goperf import ComparisonPolicy, GateResult, Status, gate, get_metric
from pytest_goperf.comparison.stats import compare_paired, paired_hodges_lehmann, pairs_needed, signed_rank_p
from pytest_goperf.comparison.verdict import BaseInfo, RunEvaluation, evaluate_pairs, merge


@pytest.mark.parametrize("n", [3, 5, 8, 13])
def test_signed_rank_p_equals_scipy_exact(n):
    rng = np.random.default_rng(n)
    for _ in range(30):
        d = rng.normal(0.3, 1.0, n)
        for alt in ("greater", "less"):
            ours = signed_rank_p(d, alt)
            theirs = stats.wilcoxon(d, alternative=alt, method="exact").pvalue
            assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


def test_signed_rank_with_ties_and_zeros_is_the_exact_permutation_distribution():
    d = np.array([0.0, 1.0, 1.0, -2.0, 3.0, 3.0, 3.0])
    nz = d[d != 0]
    # Brute force over all sign assignments of the non-zero differences, midranks for ties.
    ranks = stats.rankdata(np.abs(nz))
    observed = ranks[nz > 0].sum()
    count = 0
    for mask in range(1 << nz.size):
        w = sum(r for i, r in enumerate(ranks) if mask >> i & 1)
        count += w >= observed - 1e-9
    assert signed_rank_p(d, "greater") == pytest.approx(count / (1 << nz.size))
    assert signed_rank_p([0.0, 0.0], "greater") == 1.0


def test_paired_interval_is_the_set_of_shifts_the_test_does_not_reject():
    rng = np.random.default_rng(7)
    alpha = 0.05
    for n in (6, 9, 12):
        d = rng.normal(0.2, 0.1, n)
        est, lo, hi = paired_hodges_lehmann(d, alpha)
        assert lo <= est <= hi
        eps = 1e-9
        # Just inside the interval neither one-sided test rejects; just outside one does.
        assert signed_rank_p(d - (lo + eps), "greater") > alpha
        assert signed_rank_p(d - (hi - eps), "less") > alpha
        assert signed_rank_p(d - (lo - 1e-6), "greater") <= alpha * (1 + 1e-9)
        assert signed_rank_p(d - (hi + 1e-6), "less") <= alpha * (1 + 1e-9)
    assert paired_hodges_lehmann([0.1, 0.2], 0.05)[1] == -math.inf  # two pairs cannot bound it at 90 %


def test_pairs_needed():
    assert [pairs_needed(a) for a in (0.05, 0.01, 0.005, 0.001)] == [5, 7, 8, 10]


def test_paired_verdicts():
    policy = ComparisonPolicy.of(get_metric("proc_cpu_per_request"))
    base = [1.00, 1.05, 0.97, 1.02, 0.99, 1.01]
    slower = [b * f for b, f in zip(base, (1.20, 1.18, 1.22, 1.19, 1.21, 1.20))]
    cmp = compare_paired(base, slower, policy)
    assert cmp.status is Status.REGRESSED and cmp.design == "paired" and cmp.min_p == 1 / 64
    assert cmp.shift == pytest.approx(1.2, abs=0.01)
    same = compare_paired(base, [b * f for b, f in zip(base, (1.01, 0.99, 1.0, 1.02, 0.98, 1.0))], policy)
    assert same.status is Status.UNCHANGED
    # Drift shared by both sides of a pair cancels: the base drifts by 40 % across pairs, the head follows.
    drift = [1.0, 1.1, 1.2, 1.3, 1.4, 1.3]
    assert compare_paired(drift, [d * 1.01 for d in drift], policy).status is Status.UNCHANGED
    few = compare_paired(base[:3], slower[:3], policy)
    assert few.status is Status.NOT_ENOUGH_DATA and "need at least 5 pairs" in few.reason
    with pytest.raises(ValueError, match="pairs need both"):
        compare_paired(base, slower[:4], policy)


def test_paired_verdicts_survive_the_trip_between_processes():
    policy = ComparisonPolicy.of(get_metric("latency.p99"))
    result = gate([compare_paired([1, 2, 3, 4, 5], [2, 3, 4, 5, 7], policy, test="t::a")])
    assert GateResult.from_json(result.to_json()) == result
    info = BaseInfo("origin/main", "0123456789abcdef", "interleaved")
    ev = RunEvaluation(result, locations={"t::a": ("t.py", 3)}, mode="compare", base=info, share=2, run_alpha=0.05)
    assert RunEvaluation.from_json(ev.to_json()) == ev
    run = merge([ev, ev], alpha=0.05, method="bh", mode="compare", base=info, share=2)
    assert len(run.result.verdicts) == 2 and run.to_json()["base"]["commit"] == "0123456789abcdef"


def test_alpha_is_split_between_the_runs_measuring_tests():
    from pytest_goperf import MetricSample, TestMeasurement

    policy = ComparisonPolicy.of(get_metric("proc_cpu_per_request"))
    head = TestMeasurement("t::a", {"proc_cpu_per_request": MetricSample(policy, (1.2,) * 5)})
    base = TestMeasurement("t::a", {"proc_cpu_per_request": MetricSample(policy, (1.0,) * 5)})
    info = BaseInfo("main", None)
    alone = evaluate_pairs(head, base, base_info=info, share=1)
    assert alone.failed  # 5 pairs reach 1/32 < 0.05
    shared = evaluate_pairs(head, base, base_info=info, share=4)
    assert not shared.failed and shared.result.verdicts[0].status is Status.NOT_ENOUGH_DATA
    assert "shared by the run's 4 measuring tests" in shared.result.notes[0]


def _pair(values_base, values_head, name="proc_cpu_per_request"):
    from pytest_goperf import MetricSample, TestMeasurement

    policy = ComparisonPolicy.of(get_metric(name))
    return (TestMeasurement("t::a", {name: MetricSample(policy, tuple(values_head))}),
            TestMeasurement("t::a", {name: MetricSample(policy, tuple(values_base))}))


def test_each_look_of_the_sequential_gate_is_judged_at_alpha_over_looks():
    head, base = _pair([1.0] * 6, [1.2] * 6)  # 6 pairs: smallest p 1/64 = 0.0156
    info = BaseInfo("main", None)
    assert evaluate_pairs(head, base, base_info=info, looks=1).failed  # 0.0156 < 0.05
    two = evaluate_pairs(head, base, base_info=info, looks=2)
    assert two.failed and "each judged at 0.05/2 = 0.025" in " ".join(two.result.notes)
    four = evaluate_pairs(head, base, base_info=info, looks=4)  # 0.0156 > 0.0125: this look cannot decide
    assert not four.failed and four.result.verdicts[0].status is Status.NOT_ENOUGH_DATA


def test_a_look_is_final_when_a_regression_is_shown_or_ruled_out():
    from pytest_goperf.comparison.stats import regression_ruled_out
    from pytest_goperf.comparison.verdict import pairs_decision

    info = BaseInfo("main", None)
    rng = np.random.default_rng(5)
    base = (1.0 + 0.002 * rng.standard_normal(12)).tolist()
    # 20 % slower in every pair: shown.
    assert pairs_decision(evaluate_pairs(*_pair(base, [b * 1.2 for b in base]), base_info=info)) == "regressed"
    # Within 0.5 % of the base, tightly: the interval's worse end is far inside the 5 % floor.
    steady = evaluate_pairs(*_pair(base, [b * (1 + 0.002 * x) for b, x in zip(base, rng.standard_normal(12))]),
                            base_info=info)
    assert pairs_decision(steady) == "clear"
    assert regression_ruled_out(steady.result.verdicts[0].comparison)
    # Noisy pairs leaning 3.5 % worse (p 0.076, interval 0.985..1.09): not shown, and a 5 % regression not ruled out.
    ratios = (1.15, 0.93, 1.10, 0.96, 1.12, 0.99, 1.08, 0.95, 1.14, 1.01, 0.94, 1.09)
    noisy = [b * r for b, r in zip(base, ratios)]
    ev = evaluate_pairs(*_pair(base, noisy), base_info=info)
    assert not ev.failed and pairs_decision(ev) == "undecided"
    assert not regression_ruled_out(ev.result.verdicts[0].comparison)
    # Too few pairs to reach alpha at all: undecided (more pairs can decide), not "clear".
    assert pairs_decision(evaluate_pairs(*_pair(base[:3], base[:3]), base_info=info)) == "undecided"


def test_gate_looks_is_read_and_checked_from_the_config(tmp_path):
    from pytest_goperf.config import DEFAULT_LOOKS, load_config
    from pytest_goperf.errors import ConfigError

    (tmp_path / "pyproject.toml").write_text("[tool.goperf.gate]\nlooks = 4\n")
    assert load_config(tmp_path).gate_looks == 4
    (tmp_path / "pyproject.toml").write_text("[tool.goperf]\n")
    assert load_config(tmp_path).gate_looks == DEFAULT_LOOKS
    for bad in ("0", "11", "2.5", "true", '"3"'):
        (tmp_path / "pyproject.toml").write_text(f"[tool.goperf.gate]\nlooks = {bad}\n")
        with pytest.raises(ConfigError, match="looks must be a whole number from 1"):
            load_config(tmp_path)


def test_measure_pair_adds_pairs_while_the_gate_is_undecided(go_service, go_service_factory, tmp_path):
    """The sequential schedule on two real services: one batch, then a second because ``more`` asked, no third."""
    from pytest_goperf import ClosedModel, MeasureSpec, Request, Scenario
    from pytest_goperf.runtime.measure import measure_pair

    base = go_service_factory()
    spec = MeasureSpec(load=Scenario([Request("GET", "/work?n=200")]), model=ClosedModel(1), rounds=1, window=1,
                       warmup=0.1, warmup_rounds=0, track=("proc_cpu_per_request",), check_leaks=False)
    seen: list[tuple[int, int]] = []

    def more(so_far):
        seen.append((len(so_far.rounds), len(so_far.base.rounds)))
        return True  # always undecided: only ``looks`` ends it

    lines: list[str] = []
    m = measure_pair(go_service, base, spec, directory=tmp_path, looks=2, more=more, progress=lines.append)
    assert seen == [(1, 1)]  # asked once, after the first batch; the last look is final
    assert len(m.rounds) == 2 and m.base is not None and len(m.base.rounds) == 2
    assert [r.index for r in m.rounds] == [0, 1]
    assert sum("(look 2/2)" in line for line in lines) == 1
    assert all(v is not None and v > 0 for v in m.round_values("proc_cpu_per_request"))
    # A decided first look stops there.
    m = measure_pair(go_service, base, spec, directory=tmp_path / "again", looks=3, more=lambda _: False)
    assert len(m.rounds) == 1 and len(m.base.rounds) == 1
