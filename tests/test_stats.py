"""The comparison and the gate, on simulated rounds (seeded) and against scipy and brute force."""

from __future__ import annotations

import itertools
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats as sp

from pytest_goperf.comparison import stats as S
from pytest_goperf.comparison.stats import (
    ComparisonPolicy,
    StatsError,
    Status,
    adjust_pvalues,
    compare,
    gate,
    min_attainable_p,
    rounds_needed,
)

CPU = ComparisonPolicy("cpu_seconds", "s", worse="higher", min_effect_rel=0.05, log_scale=True)


def _brute_p(current, baseline, alternative):
    """Exact permutation p of U by enumerating every split of the pooled rounds (ties allowed)."""
    pooled = np.concatenate([current, baseline])
    n = len(current)

    def u_of(cur, base):
        d = np.subtract.outer(cur, base)
        return np.count_nonzero(d > 0) + 0.5 * np.count_nonzero(d == 0)

    u0 = u_of(np.asarray(current), np.asarray(baseline))
    hits = total = 0
    for idx in itertools.combinations(range(len(pooled)), n):
        mask = np.zeros(len(pooled), bool)
        mask[list(idx)] = True
        u = u_of(pooled[mask], pooled[~mask])
        total += 1
        hits += (u >= u0 - 1e-9) if alternative == "greater" else (u <= u0 + 1e-9)
    return hits / total


def _lognormal(rng, n, level=1.0, cv=0.03):
    return level * np.exp(rng.normal(0.0, cv, n))


# --------------------------------------------------------------------------
# p-values


def test_exact_u_distribution_matches_scipy_exact():
    rng = np.random.default_rng(11)
    for _ in range(200):
        n1, n2 = (int(v) for v in rng.integers(1, 13, 2))
        b, c = rng.normal(0, 1, n1), rng.normal(rng.uniform(-1, 2), 1, n2)
        for alt in ("greater", "less"):
            ours = S._mwu_p(c, b, alt)
            ref = sp.mannwhitneyu(c, b, alternative=alt, method="exact").pvalue
            assert ours == pytest.approx(ref, rel=1e-12, abs=1e-15), (n1, n2, alt)
    # The distribution's counts add up to every ordering.
    for m, n in [(1, 1), (3, 7), (5, 5), (12, 9)]:
        assert sum(S._u_counts(m, n)) == math.comb(m + n, m)


def test_ties_use_the_exact_permutation_distribution():
    rng = np.random.default_rng(5)
    for _ in range(25):
        n1, n2 = (int(v) for v in rng.integers(2, 7, 2))
        # Few distinct values: plenty of ties, as with counts or rounded shares.
        b = rng.integers(0, 4, n1).astype(float)
        c = rng.integers(0, 5, n2).astype(float)
        if np.unique(np.concatenate([b, c])).size == 1:
            continue
        for alt in ("greater", "less"):
            assert S._mwu_p(c, b, alt) == pytest.approx(_brute_p(c, b, alt), abs=1e-9)


def test_smallest_possible_p_and_rounds_needed():
    assert min_attainable_p(5, 5) == pytest.approx(1 / 252)
    assert min_attainable_p(6, 6) == pytest.approx(1 / 924)
    assert min_attainable_p(0, 5) == 1.0
    b, c = np.arange(5.0), np.arange(5.0) + 10
    cmp = compare(b, c, ComparisonPolicy("x"))
    assert cmp.p_value == pytest.approx(1 / 252) and cmp.p_improved == 1.0
    assert [rounds_needed(a) for a in (0.05, 0.01, 0.05 / 30, 0.002, 0.001)] == [3, 5, 6, 6, 7]
    with pytest.raises(StatsError):
        rounds_needed(0)


# --------------------------------------------------------------------------
# Hodges-Lehmann shift and its interval


def test_hodges_lehmann_matches_brute_force_median_of_differences():
    rng = np.random.default_rng(3)
    for _ in range(100):
        n1, n2 = (int(v) for v in rng.integers(1, 9, 2))
        b, c = rng.normal(10, 2, n1), rng.normal(11, 2, n2)
        diffs = sorted(ci - bj for ci in c for bj in b)
        k = len(diffs)
        expected = diffs[k // 2] if k % 2 else (diffs[k // 2 - 1] + diffs[k // 2]) / 2
        shift, lo, hi = S.hodges_lehmann(b, c, 0.05)
        assert shift == pytest.approx(expected)
        assert lo <= shift <= hi


def test_interval_is_the_inversion_of_the_one_sided_tests():
    """Without ties, the lower end is above 0 exactly when the 'greater' test rejects at alpha,
    and the upper end below 0 exactly when the 'less' test does (the 1-2*alpha interval's promise)."""
    rng = np.random.default_rng(17)
    seen = {True: 0, False: 0}
    for _ in range(400):
        n1, n2 = (int(v) for v in rng.integers(3, 9, 2))
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        b, c = rng.normal(0, 1, n1), rng.normal(rng.uniform(-2, 2), 1, n2)
        _, lo, hi = S.hodges_lehmann(b, c, alpha)
        p_gt = sp.mannwhitneyu(c, b, alternative="greater", method="exact").pvalue
        p_lt = sp.mannwhitneyu(c, b, alternative="less", method="exact").pvalue
        assert (lo > 0) == (p_gt <= alpha), (n1, n2, alpha, lo, p_gt)
        assert (hi < 0) == (p_lt <= alpha), (n1, n2, alpha, hi, p_lt)
        seen[lo > 0] += 1
    assert min(seen.values()) > 50  # both sides of the duality were exercised


def test_interval_coverage_by_simulation():
    rng = np.random.default_rng(23)
    alpha, true_shift, inside = 0.05, 0.7, 0
    runs = 2000
    for _ in range(runs):
        b, c = rng.normal(0, 1, 6), rng.normal(true_shift, 1, 7)
        _, lo, hi = S.hodges_lehmann(b, c, alpha)
        inside += lo <= true_shift <= hi
    # Nominal 90 %; exact intervals are conservative (at least nominal).
    assert inside / runs >= 0.88


def test_log_scale_shift_is_a_scale_free_ratio():
    rng = np.random.default_rng(2)
    b, c = _lognormal(rng, 6), _lognormal(rng, 6, 1.2)
    one = compare(b, c, CPU)
    scaled = compare(b * 1000, c * 1000, CPU)
    assert one.log_scale and one.shift == pytest.approx(scaled.shift)
    assert one.ci_low == pytest.approx(scaled.ci_low) and one.ci_high == pytest.approx(scaled.ci_high)
    expected = math.exp(np.median(np.subtract.outer(np.log(c), np.log(b))))
    assert one.shift == pytest.approx(expected)
    assert one.effect_rel == pytest.approx(one.shift - 1)


def test_too_few_rounds_give_an_unbounded_interval():
    cmp = compare([1.0, 2.0], [5.0, 6.0], ComparisonPolicy("x"))
    assert cmp.ci_low == -math.inf and cmp.ci_high == math.inf
    assert json.loads(json.dumps(cmp.to_json()))["ci_low"] == "-inf"


# --------------------------------------------------------------------------
# the gate on simulated runs


def _gate_runs(rng, runs, n_metrics, shifted, factor, n=5, cv=0.03, policy=CPU, **kw):
    """Count gate runs that flag any metric, and runs that flag every shifted one."""
    any_flag = all_flagged = 0
    for _ in range(runs):
        cmps = []
        for j in range(n_metrics):
            level = factor if j in shifted else 1.0
            cmps.append(compare(_lognormal(rng, n, 1.0, cv), _lognormal(rng, n, level, cv), policy))
        res = gate(cmps, **kw)
        flagged = {i for i, v in enumerate(res.verdicts) if v.status is Status.REGRESSED}
        any_flag += bool(flagged - set(shifted)) if shifted else bool(flagged)
        all_flagged += bool(shifted) and set(shifted) <= flagged
    return any_flag / runs, all_flagged / runs


def test_aa_false_alarms_stay_below_alpha(record_property):
    rng = np.random.default_rng(101)
    no_floor = ComparisonPolicy("x", min_effect_rel=None, log_scale=True)
    # Statistics alone: BH keeps the chance of any false alarm per gate run at or below alpha.
    runs = 600
    rate_stat, _ = _gate_runs(rng, runs, 10, (), 1.0, policy=no_floor)
    # With the 5 % floor (3 % noise), a false alarm also needs the interval's near end beyond 5 %.
    rate_floor, _ = _gate_runs(rng, runs, 10, (), 1.0, policy=CPU)
    # The same with the point estimate against the floor (the other rule).
    rate_est, _ = _gate_runs(rng, runs, 10, (), 1.0, policy=CPU, effect_rule="estimate")
    # Noisier rounds (10 %) with the floor.
    rate_noisy, _ = _gate_runs(rng, runs, 10, (), 1.0, cv=0.10, policy=CPU)
    record_property("aa_false_alarm_rates", (rate_stat, rate_floor, rate_est, rate_noisy))
    print(f"\nA/A false alarms per gate run of 10 metrics, 5+5 rounds, {runs} runs: statistics only {rate_stat:.4f}, "
          f"5% floor (bound) {rate_floor:.4f}, 5% floor (estimate) {rate_est:.4f}, "
          f"5% floor (bound) at 10% noise {rate_noisy:.4f}")
    assert rate_stat <= 0.05 + 0.027  # alpha plus three binomial standard errors
    assert rate_floor < 0.01
    assert rate_est < 0.05
    # When the noise is twice the floor the floor barely helps; the statistics still hold alpha.
    assert rate_noisy <= 0.05 + 0.027


def test_detects_15_percent_with_5_plus_5_rounds(record_property):
    rng = np.random.default_rng(202)
    _, alone = _gate_runs(rng, 1000, 1, (0,), 1.15)
    _, among_10 = _gate_runs(rng, 400, 10, (3,), 1.15)
    record_property("detection", (alone, among_10))
    print(f"\n15% shift, 3% noise, 5+5 rounds: detected {alone:.3f} alone, {among_10:.3f} among 10 metrics")
    assert alone >= 0.95 and among_10 >= 0.95


def test_family_too_large_for_5_rounds_is_said_plainly():
    rng = np.random.default_rng(303)
    # One metric of 30 shifted: alpha/30 = 0.00167 < 1/252, so it can never be flagged alone ...
    _, alone = _gate_runs(rng, 150, 30, (7,), 1.15)
    assert alone < 0.03  # only when two null metrics happen to look regressed too
    cmps = [compare(_lognormal(rng, 5), _lognormal(rng, 5), CPU) for _ in range(30)]
    res = gate(cmps)
    assert res.family_size == 30
    assert len(res.notes) == 1 and "alone cannot be flagged" in res.notes[0]
    assert "Use at least 6 rounds on each side" in res.notes[0]
    # ... but three metrics that move together are (BH: 30/3 * 1/252 = 0.04) ...
    _, together = _gate_runs(rng, 150, 30, (1, 2, 3), 1.15)
    assert together >= 0.9
    # ... and with 6+6 rounds one alone is found.
    _, six = _gate_runs(rng, 150, 30, (7,), 1.15, n=6)
    assert six >= 0.95
    assert not gate([compare(_lognormal(rng, 6), _lognormal(rng, 6), CPU) for _ in range(30)]).notes


def test_holm_is_never_more_lenient_than_bh():
    rng = np.random.default_rng(404)
    _, bh = _gate_runs(rng, 150, 30, (1, 2, 3), 1.15, method="bh")
    _, holm = _gate_runs(rng, 150, 30, (1, 2, 3), 1.15, method="holm")
    assert holm < 0.05  # Holm needs 1/252 <= 0.05/30 for the smallest p: never
    assert bh >= 0.9


def test_effect_rules_estimate_and_bound():
    rng = np.random.default_rng(505)
    tight = ComparisonPolicy("x", min_effect_rel=0.05, log_scale=True)
    # A true change below the floor (3 %, very low noise, many rounds): significant, but not a regression.
    below_est, _ = _gate_runs(rng, 300, 1, (), 1.03, n=10, cv=0.005, policy=tight, effect_rule="estimate")
    below_bound, _ = _gate_runs(rng, 300, 1, (), 1.03, n=10, cv=0.005, policy=tight, effect_rule="bound")
    assert below_est == 0.0 and below_bound == 0.0
    # A true change just above it (6 %): the estimate rule finds it far more often than the bound rule.
    _, est = _gate_runs(rng, 300, 1, (0,), 1.06, n=8, cv=0.02, policy=tight, effect_rule="estimate")
    _, bound = _gate_runs(rng, 300, 1, (0,), 1.06, n=8, cv=0.02, policy=tight, effect_rule="bound")
    assert est > 0.7 and bound < est - 0.2
    # A/A at 5 % noise: the bound rule raises fewer false alarms than the estimate rule.
    aa_est, _ = _gate_runs(rng, 400, 10, (), 1.0, cv=0.05, policy=tight, effect_rule="estimate")
    aa_bound, _ = _gate_runs(rng, 400, 10, (), 1.0, cv=0.05, policy=tight, effect_rule="bound")
    assert aa_bound < aa_est


# --------------------------------------------------------------------------
# verdicts and reasons


def test_regression_improvement_and_direction():
    rng = np.random.default_rng(7)
    b = _lognormal(rng, 6)
    worse = compare(b, b * 1.2, CPU)
    assert worse.status is Status.REGRESSED and worse.shift == pytest.approx(1.2)
    assert "beyond the floor 5%" in worse.reason
    better = compare(b, b * 0.8, CPU)
    assert better.status is Status.IMPROVED
    res = gate([worse, better])
    assert [v.status for v in res.verdicts] == [Status.REGRESSED, Status.IMPROVED]
    assert res.failed and len(res.regressions) == 1 and len(res.improvements) == 1
    # Throughput: lower is worse.
    rps = ComparisonPolicy("rps", "req/s", worse="lower", log_scale=True)
    drop = compare(b * 1000, b * 800, rps)
    assert drop.status is Status.REGRESSED and drop.p_value == pytest.approx(1 / 924)
    assert compare(b * 1000, b * 1200, rps).status is Status.IMPROVED


def test_absolute_floor_and_zero_baseline():
    share = ComparisonPolicy("share", worse="higher", min_effect_rel=0.05, min_effect_abs=0.02)
    small = compare([0.001] * 2 + [0.0011, 0.0012, 0.0009], [0.003, 0.0031, 0.0029, 0.0032, 0.0030], share)
    assert small.status is Status.UNCHANGED and "within the floor" in small.reason
    from_zero = compare([0.0] * 5, [0.3, 0.31, 0.29, 0.32, 0.3], share)
    assert from_zero.status is Status.REGRESSED and from_zero.effect_rel == math.inf


def test_identical_rounds_are_unchanged():
    cmp = compare([3.0] * 5, [3.0] * 5, CPU)
    assert cmp.status is Status.UNCHANGED and cmp.p_value == 1.0 and cmp.shift == pytest.approx(1.0)
    assert gate([cmp]).verdicts[0].status is Status.UNCHANGED


def test_not_enough_data_and_no_baseline():
    few = compare([1.0, 1.1], [2.0, 2.1], CPU)
    assert few.status is Status.NOT_ENOUGH_DATA
    assert few.reason.startswith("need at least 3 rounds on each side at alpha 0.05 (have 2+2")
    at_001 = compare([1.0] * 4, [2.0] * 4, CPU, alpha=0.01)
    assert at_001.status is Status.NOT_ENOUGH_DATA and "need at least 5 rounds" in at_001.reason
    none = compare([], [1.0, 2.0, 3.0], CPU)
    assert none.status is Status.NO_BASELINE and "--goperf-update-baselines" in none.reason
    res = gate([few, none, compare([1.0] * 5, [1.5] * 5, CPU)])
    assert [v.status for v in res.verdicts] == [Status.NOT_ENOUGH_DATA, Status.NO_BASELINE, Status.REGRESSED]
    assert res.family_size == 1  # neither dilutes the family
    # The gate's own alpha decides too: 3+3 reach 0.05 but not 0.01.
    three = compare([1.0, 1.1, 1.2], [2.0, 2.1, 2.2], CPU)
    assert three.status is Status.REGRESSED
    assert gate([three], alpha=0.01).verdicts[0].status is Status.NOT_ENOUGH_DATA


def test_exact_metrics_take_no_statistics():
    goroutines = ComparisonPolicy("goroutines", "goroutines", exact=True, min_effect_abs=0)
    grew = compare([12] * 5, [12, 12, 13, 12, 12], goroutines)
    assert grew.status is Status.REGRESSED and grew.p_value is None and grew.shift == 1
    assert "varies between current rounds" in grew.notes[0]
    assert compare([12] * 5, [12] * 5, goroutines).status is Status.UNCHANGED
    assert compare([12] * 5, [11] * 5, goroutines).status is Status.IMPROVED
    # Growth up to the absolute floor is allowed; one round is enough.
    loose = goroutines.with_floor(abs=2)
    assert compare([12], [14], loose).status is Status.UNCHANGED
    assert compare([12], [15], loose).status is Status.REGRESSED
    # In the gate: never corrected, never diluting; decided even next to 30 noisy metrics.
    rng = np.random.default_rng(9)
    noisy = [compare(_lognormal(rng, 5), _lognormal(rng, 5), CPU) for _ in range(30)]
    res = gate([grew, *noisy])
    assert res.verdicts[0].status is Status.REGRESSED and res.verdicts[0].p_adjusted is None
    assert res.family_size == 30


def test_adjusted_pvalues_bh_against_scipy_and_holm_by_definition():
    rng = np.random.default_rng(13)
    for _ in range(50):
        p = rng.uniform(0, 1, int(rng.integers(1, 40))) ** 3
        assert adjust_pvalues(p, "bh") == pytest.approx(sp.false_discovery_control(p, method="bh").tolist())
        holm = adjust_pvalues(p, "holm")
        m, order = len(p), np.argsort(p)
        expected = np.empty(m)
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p[i]))
            expected[i] = running
        assert holm == pytest.approx(expected.tolist())
        assert all(h >= b - 1e-15 for h, b in zip(holm, adjust_pvalues(p, "bh")))
    assert adjust_pvalues([]) == []
    with pytest.raises(StatsError):
        adjust_pvalues([0.5, 1.5])
    with pytest.raises(StatsError):
        adjust_pvalues([0.5], "bonferroni")  # type: ignore[arg-type]


def test_bad_input_is_named():
    with pytest.raises(StatsError, match=r"'cpu_seconds': current round 2 is nan"):
        compare([1.0, 2.0, 3.0], [1.0, 2.0, float("nan")], CPU)
    with pytest.raises(StatsError, match="worse must be 'higher' or 'lower'"):
        ComparisonPolicy("x", worse="up")  # type: ignore[arg-type]
    with pytest.raises(StatsError, match="min_effect_rel"):
        ComparisonPolicy("x", min_effect_rel=-0.1)
    with pytest.raises(StatsError, match="alpha"):
        compare([1.0], [2.0], CPU, alpha=0.7)
    with pytest.raises(StatsError, match="effect rule"):
        gate([], effect_rule="mean")  # type: ignore[arg-type]


def test_policy_from_a_catalogue_entry_and_per_test_override():
    entry = SimpleNamespace(name="share:main.spinCore", unit="share", worse="higher", min_effect_rel=0.05,
                            min_effect_abs=0.01, log_scale=False, exact=False, extractor=object())
    policy = ComparisonPolicy.of(entry, min_effect_rel=0.10)
    assert policy == ComparisonPolicy("share:main.spinCore", "share", "higher", 0.10, 0.01, False, False)
    assert compare([0.2] * 5, [0.2] * 5, entry).policy.name == "share:main.spinCore"
    with pytest.raises(StatsError, match="no 'name'"):
        ComparisonPolicy.of(SimpleNamespace(unit="s"))


def test_log_scale_falls_back_on_zero_rounds():
    cmp = compare([0.0, 0.1, 0.1, 0.2, 0.1], [0.5, 0.6, 0.55, 0.5, 0.6], CPU)
    assert not cmp.log_scale and "log scale needs positive values" in cmp.notes[0]
    assert cmp.shift == pytest.approx(np.median(np.subtract.outer([0.5, 0.6, 0.55, 0.5, 0.6], [0.0, 0.1, 0.1, 0.2, 0.1])))


def test_json_of_a_gate_is_stable_and_serialisable():
    rng = np.random.default_rng(1)
    res = gate([compare(_lognormal(rng, 5), _lognormal(rng, 5, 1.2), CPU), compare([], [1.0], CPU)])
    doc = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert doc["kind"] == "gate" and doc["failed"] is True
    v = doc["verdicts"][0]
    assert {"metric", "status", "p_value", "p_adjusted", "shift", "ci_low", "ci_high", "ci_level", "reason",
            "status_before_correction", "min_rounds_needed"} <= v.keys()
    assert v["status"] == "regressed" and v["ci_level"] == pytest.approx(0.9)
    assert doc["verdicts"][1]["status"] == "no baseline"


def test_reasons_show_raw_and_adjusted_p():
    b = np.array([1.0, 1.01, 0.99, 1.02, 0.98])
    cmps = [compare(b, b * 1.2, CPU), compare(b, b * 1.2 + 0.001, CPU), compare(b, b[::-1] * 1.001, CPU)]
    res = gate(cmps)
    assert res.verdicts[0].status is Status.REGRESSED
    # Two regressions of p = 1/252 among three: BH gives 3/2 * 1/252 to both.
    assert "p=0.00397 (adjusted 0.00595, BH over 3)" in res.verdicts[0].reason
    assert res.verdicts[0].p_adjusted == pytest.approx(1.5 / 252)
    assert res.verdicts[2].reason.startswith("~ ")
    assert "p=0.00397;" in gate(cmps[:1]).verdicts[0].reason  # a family of one: nothing to adjust
