"""Two-sample comparison of per-round metric values, and the gate over a run.

One metric of one test gives two samples: the baseline's round values and the
current run's. :func:`compare` turns them into a :class:`Comparison` (medians,
a Hodges-Lehmann shift with its exact confidence interval, one-sided
Mann-Whitney p-values in both directions, the rounds needed to ever reach
significance). :func:`gate` then takes every comparison of a run, corrects the
p-values for multiplicity (Benjamini-Hochberg or Holm) and gives each one a
final :class:`Verdict`.

A regression needs both: an adjusted p-value at or below alpha, and an effect
at least the metric's floor (:class:`ComparisonPolicy`). Deterministic metrics
(``exact=True``, e.g. goroutine counts at rest) take no statistics at all: any
growth beyond the absolute floor is a regression, and they stay out of the
multiplicity correction.

Everything here is pure: numbers in, frozen records out. See
``docs/baselines.md`` for the reasoning behind each choice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import EllipsisType
from typing import Any, Literal

import numpy as np
from scipy import stats as _sp

from ..errors import StatsError
from .status import Status

__all__ = [
    "Comparison",
    "ComparisonPolicy",
    "GateResult",
    "StatsError",
    "Status",
    "Verdict",
    "adjust_pvalues",
    "compare",
    "compare_paired",
    "gate",
    "min_attainable_p",
    "paired_hodges_lehmann",
    "pairs_needed",
    "regression_ruled_out",
    "rounds_needed",
    "signed_rank_p",
]

Worse = Literal["higher", "lower"]
Method = Literal["bh", "holm"]
EffectRule = Literal["estimate", "bound"]
#: ``unpaired``: two independent samples (a stored baseline); ``paired``: rounds of the base and the head
#: taken side by side, compared pair by pair (the same-run A/B gate).
Design = Literal["unpaired", "paired"]

# Exact U distribution (and exact permutation p-values with ties) up to this
# many distinct splits of the pooled rounds; C(20, 10) = 184756 covers 10+10.
_EXACT_SPLITS = 200_000
# Above this many rounds on a side the U distribution is taken as normal, as
# benchstat does for n > 50 without ties.
_EXACT_MAX_N = 50


@dataclass(frozen=True, slots=True)
class ComparisonPolicy:
    """How one metric is compared. The metric catalogue maps onto these fields.

    ``name``/``unit``
        Shown in reasons and reports.
    ``worse``
        ``"higher"`` when a larger value is worse (CPU share, latency), ``"lower"``
        when a smaller one is (throughput).
    ``min_effect_rel``
        Smallest relative change that counts as a regression (0.05 = 5 %), or None.
    ``min_effect_abs``
        Smallest absolute change, in the metric's unit, or None. When both floors
        are set an effect must reach both (a share moving from 0.1 % to 0.2 % is
        +100 % but rarely worth a failure).
    ``log_scale``
        Compare log values: the shift is then a ratio (current / baseline). Right
        for times, rates and other positive quantities whose noise is multiplicative.
    ``exact``
        Deterministic metric (e.g. goroutines alive at rest): no statistics; any
        worsening of the worst round beyond ``min_effect_abs`` (default 0) fails.
        ``min_effect_rel`` and ``log_scale`` are ignored.
    """

    name: str
    unit: str = ""
    worse: Worse = "higher"
    min_effect_rel: float | None = 0.05
    min_effect_abs: float | None = None
    log_scale: bool = False
    exact: bool = False

    def __post_init__(self) -> None:
        if self.worse not in ("higher", "lower"):
            raise StatsError(f"metric {self.name!r}: worse must be 'higher' or 'lower', got {self.worse!r}")
        for key in ("min_effect_rel", "min_effect_abs"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or math.isinf(v)):
                raise StatsError(f"metric {self.name!r}: {key} must be a finite number >= 0 or None, got {v!r}")

    @classmethod
    def of(cls, spec: Any, **overrides: Any) -> ComparisonPolicy:
        """Build a policy from any object with the same attribute names (e.g. a
        catalogue entry), then apply ``overrides`` (a test's own floors)."""
        if isinstance(spec, cls):
            return replace(spec, **overrides) if overrides else spec
        values = {}
        for name in ("name", "unit", "worse", "min_effect_rel", "min_effect_abs", "log_scale", "exact"):
            if hasattr(spec, name):
                values[name] = getattr(spec, name)
        values.update(overrides)
        if "name" not in values:
            raise StatsError(f"{spec!r} has no 'name': cannot build a ComparisonPolicy from it")
        return cls(**values)

    def with_floor(self, rel: float | EllipsisType | None = ..., abs: float | EllipsisType | None = ...) -> ComparisonPolicy:
        """A copy with other effect floors (``...`` keeps the current value)."""
        changes: dict[str, Any] = {}
        if not isinstance(rel, EllipsisType):
            changes["min_effect_rel"] = rel
        if not isinstance(abs, EllipsisType):
            changes["min_effect_abs"] = abs
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Baseline rounds against current rounds for one metric (before correction).

    ``shift`` is the Hodges-Lehmann estimate of current minus baseline in the
    metric's unit, or of current / baseline when ``log_scale`` (then 1.0 means no
    change). ``ci_low``/``ci_high`` bound it at ``ci_level`` = 1 - 2*alpha, two
    sided: each end is then exactly the one-sided 1 - alpha bound that matches
    the one-sided test at alpha (without ties, the worse-side bound is beyond
    "no change" exactly when ``p_value`` <= alpha). Bounds are infinite when so
    few rounds cannot bound the shift at that level.

    ``p_value`` is the one-sided Mann-Whitney p in the worse direction,
    ``p_improved`` the other side; both None for exact metrics or an empty side.
    ``min_p`` is the smallest p these round counts can ever give;
    ``min_rounds_needed`` the rounds per side (equal) for it to reach alpha.
    """

    policy: ComparisonPolicy
    test: str | None
    alpha: float
    n_baseline: int
    n_current: int
    baseline_median: float | None
    current_median: float | None
    shift: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    relative_change: float | None
    effect_rel: float | None
    effect_abs: float | None
    p_value: float | None
    p_improved: float | None
    min_p: float | None
    min_rounds_needed: int
    log_scale: bool
    status: Status
    reason: str
    notes: tuple[str, ...] = ()
    design: Design = "unpaired"

    @property
    def metric(self) -> str:
        return self.policy.name

    @property
    def exact(self) -> bool:
        return self.policy.exact

    def to_json(self) -> dict[str, Any]:
        """Stable keys (documented in docs/baselines.md)."""
        return {
            "metric": self.policy.name,
            "unit": self.policy.unit,
            "worse": self.policy.worse,
            "exact": self.policy.exact,
            "log_scale": self.log_scale,
            "policy_log_scale": self.policy.log_scale,
            "min_effect_rel": self.policy.min_effect_rel,
            "min_effect_abs": self.policy.min_effect_abs,
            "test": self.test,
            "alpha": self.alpha,
            "n_baseline": self.n_baseline,
            "n_current": self.n_current,
            "baseline_median": self.baseline_median,
            "current_median": self.current_median,
            "shift": _json_float(self.shift),
            "ci_low": _json_float(self.ci_low),
            "ci_high": _json_float(self.ci_high),
            "ci_level": self.ci_level,
            "relative_change": _json_float(self.relative_change),
            "effect_rel": _json_float(self.effect_rel),
            "effect_abs": _json_float(self.effect_abs),
            "p_value": self.p_value,
            "p_improved": self.p_improved,
            "min_p": self.min_p,
            "min_rounds_needed": self.min_rounds_needed,
            "status": self.status.value,
            "reason": self.reason,
            "notes": list(self.notes),
            "design": self.design,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Comparison:
        """The inverse of :meth:`to_json` (comparisons travel from pytest-xdist workers as JSON)."""
        policy = ComparisonPolicy(
            name=data["metric"], unit=data["unit"], worse=data["worse"], min_effect_rel=data["min_effect_rel"],
            min_effect_abs=data["min_effect_abs"], log_scale=bool(data.get("policy_log_scale", data["log_scale"])),
            exact=bool(data["exact"]),
        )
        return cls(
            policy=policy, test=data["test"], alpha=float(data["alpha"]), n_baseline=int(data["n_baseline"]),
            n_current=int(data["n_current"]), baseline_median=data["baseline_median"],
            current_median=data["current_median"], shift=_float_json(data["shift"]),
            ci_low=_float_json(data["ci_low"]), ci_high=_float_json(data["ci_high"]), ci_level=float(data["ci_level"]),
            relative_change=_float_json(data["relative_change"]), effect_rel=_float_json(data["effect_rel"]),
            effect_abs=_float_json(data["effect_abs"]), p_value=data["p_value"], p_improved=data["p_improved"],
            min_p=data["min_p"], min_rounds_needed=int(data["min_rounds_needed"]), log_scale=bool(data["log_scale"]),
            status=Status(data["status"]), reason=data["reason"], notes=tuple(data.get("notes", ())),
            design=data.get("design", "unpaired"),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The final word on one comparison after the multiplicity correction."""

    comparison: Comparison
    status: Status
    p_adjusted: float | None
    reason: str

    @property
    def metric(self) -> str:
        return self.comparison.policy.name

    @property
    def test(self) -> str | None:
        return self.comparison.test

    def to_json(self) -> dict[str, Any]:
        out = self.comparison.to_json()
        out["status_before_correction"] = out.pop("status")
        out["reason_before_correction"] = out.pop("reason")
        out.update(status=self.status.value, p_adjusted=self.p_adjusted, reason=self.reason)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """The inverse of :meth:`to_json`."""
        cmp = dict(data)
        cmp["status"], cmp["reason"] = cmp.pop("status_before_correction"), cmp.pop("reason_before_correction")
        return cls(Comparison.from_json(cmp), Status(data["status"]), data["p_adjusted"], data["reason"])


@dataclass(frozen=True, slots=True)
class GateResult:
    """Every verdict of a run (in the order of the comparisons given), and notes.

    ``family_size`` is the number of statistical comparisons that entered the
    correction (exact metrics and those without data stay out). ``notes`` say
    plainly when the family is too large for the rounds taken.
    """

    verdicts: tuple[Verdict, ...]
    alpha: float
    method: Method
    effect_rule: EffectRule
    family_size: int
    notes: tuple[str, ...] = field(default=())

    @property
    def regressions(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.status is Status.REGRESSED)

    @property
    def improvements(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.status is Status.IMPROVED)

    @property
    def failed(self) -> bool:
        """Whether the run should fail: at least one regression."""
        return any(v.status is Status.REGRESSED for v in self.verdicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "gate",
            "alpha": self.alpha,
            "method": self.method,
            "effect_rule": self.effect_rule,
            "family_size": self.family_size,
            "failed": self.failed,
            "notes": list(self.notes),
            "verdicts": [v.to_json() for v in self.verdicts],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateResult:
        """The inverse of :meth:`to_json`."""
        return cls(tuple(Verdict.from_json(v) for v in data["verdicts"]), float(data["alpha"]), data["method"],
                   data["effect_rule"], int(data["family_size"]), tuple(data.get("notes", ())))


# --------------------------------------------------------------------------
# Exact Mann-Whitney U distribution and the attainable p-values


@lru_cache(maxsize=256)
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """Number of orderings of m+n distinct values giving U = 0..m*n.

    These are the coefficients of the Gaussian binomial [m+n choose m]_q, built
    as prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i); every partial product is itself
    a polynomial, so exact integer arithmetic never leaves the integers.
    """
    m, n = min(m, n), max(m, n)
    size = m * n + 1
    poly = [0] * size
    poly[0] = 1
    for i in range(1, m + 1):
        a = n + i
        for k in range(size - 1, a - 1, -1):  # multiply by (1 - q^a)
            poly[k] -= poly[k - a]
        for k in range(i, size):  # divide by (1 - q^i)
            poly[k] += poly[k - i]
    return tuple(poly)


def _u_sf(u: int, m: int, n: int) -> float:
    """P(U >= u) under the null hypothesis, without ties (exact); U counts pairs where
    the m-sample's value exceeds the n-sample's (symmetric in m and n)."""
    counts = _u_counts(m, n)
    if u <= 0:
        return 1.0
    if u > m * n:
        return 0.0
    return sum(counts[u:]) / math.comb(m + n, m)


def min_attainable_p(n_baseline: int, n_current: int) -> float:
    """Smallest one-sided Mann-Whitney p these round counts can give: 1 / C(n1+n2, n1).

    5 vs 5 rounds: 1/252 = 0.00397. No ties assumed (ties only raise it).
    """
    if n_baseline < 1 or n_current < 1:
        return 1.0
    return 1.0 / math.comb(n_baseline + n_current, n_baseline)


def rounds_needed(alpha: float) -> int:
    """Rounds per side (equal on both) for the one-sided test to ever reach ``alpha``.

    alpha 0.05 -> 3, 0.01 -> 5, 0.05/30 -> 6, 0.002 (asv) -> 6, 0.001 -> 7.
    """
    if not 0 < alpha < 1:
        raise StatsError(f"alpha must be between 0 and 1, got {alpha!r}")
    n = 1
    # The relative slack absorbs float rounding (1/20 vs 0.05).
    while 1.0 / math.comb(2 * n, n) > alpha * (1 + 1e-12):
        n += 1
    return n


def _critical_u(m: int, n: int, alpha: float) -> int | None:
    """Smallest c with P(U >= c) <= alpha (exact), or None when no c reaches alpha."""
    counts = _u_counts(m, n)
    total = math.comb(m + n, m)
    limit = alpha * total * (1 + 1e-12)
    tail = 0
    for c in range(m * n, -1, -1):
        if tail + counts[c] > limit:
            return c + 1 if c < m * n else None
        tail += counts[c]
    return 0


def _critical_u_normal(m: int, n: int, alpha: float) -> int:
    mean = m * n / 2
    sd = math.sqrt(m * n * (m + n + 1) / 12)
    return min(m * n + 1, math.ceil(mean + float(_sp.norm.isf(alpha)) * sd + 0.5))


def hodges_lehmann(
    baseline: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray, alpha: float
) -> tuple[float, float, float]:
    """HL shift (median of all current_i - baseline_j) with its 1-2*alpha interval.

    The interval is [d(N-c+1), d(c)] of the N sorted pairwise differences, c the
    one-sided critical U at alpha: the set of shifts the one-sided tests at alpha
    do not reject (the construction of R's wilcox.test(conf.int=TRUE)).
    """
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(current, dtype=float)
    d = np.sort(np.subtract.outer(c, b).ravel())
    total = d.size
    shift = float(np.median(d))
    m, n = b.size, c.size
    if max(m, n) <= _EXACT_MAX_N and math.comb(m + n, m) <= 10**30:
        crit = _critical_u(m, n, alpha)
    else:
        crit = _critical_u_normal(m, n, alpha)
    if crit is None or crit > total or crit < 1:
        return shift, -math.inf, math.inf
    lo = float(d[total - crit])  # d(N-c+1), 1-based
    hi = float(d[crit - 1])  # d(c)
    if lo > hi:  # c below the middle: alpha >= 0.5, an empty-looking interval
        lo, hi = hi, lo
    return shift, lo, hi


def _mwu_p(x: np.ndarray, y: np.ndarray, alternative: str) -> float:
    """One-sided Mann-Whitney p that x is stochastically greater ('greater') or less than y.

    Without ties and on small samples: scipy's exact U distribution. With ties:
    scipy's exact permutation distribution of U (its 'exact' method makes no tie
    correction), as long as the splits are few enough to enumerate; otherwise the
    normal approximation with tie and continuity correction.
    """
    pooled = np.concatenate([x, y])
    if np.unique(pooled).size == 1:
        return 1.0  # every round equal: no evidence either way
    ties = np.unique(pooled).size < pooled.size
    splits = math.comb(x.size + y.size, x.size)
    if not ties and max(x.size, y.size) <= _EXACT_MAX_N:
        # The exact U distribution, the same one the interval uses (so test and
        # interval always agree); it equals scipy's method="exact" (checked in
        # the tests) and is a hundred times faster than calling it, which
        # matters to the simulations that check the gate.
        u = int(np.count_nonzero(np.subtract.outer(x, y) > 0))
        return _u_sf(u if alternative == "greater" else x.size * y.size - u, x.size, y.size)
    if ties and min(x.size, y.size) < 2:
        # scipy's permutation test needs two rounds a side; with one, its few splits are counted here.
        return _mwu_p_enumerated(x, y, alternative)
    if ties and splits <= _EXACT_SPLITS:
        method: Any = _sp.PermutationMethod(n_resamples=np.inf)
    else:
        method = "asymptotic"
    res = _sp.mannwhitneyu(x, y, alternative=alternative, method=method)
    return float(min(1.0, max(0.0, res.pvalue)))


def _mwu_p_enumerated(x: np.ndarray, y: np.ndarray, alternative: str) -> float:
    """The exact permutation p of U (ties count one half) over every split of the pooled rounds.

    What scipy's ``PermutationMethod(n_resamples=inf)`` computes, for the small
    samples (one round on a side) that it refuses.
    """
    from itertools import combinations

    pooled = np.concatenate([x, y])
    n = pooled.size

    def u_of(xs: np.ndarray, ys: np.ndarray) -> float:
        diff = np.subtract.outer(xs, ys)
        return float(np.count_nonzero(diff > 0) + 0.5 * np.count_nonzero(diff == 0))

    observed = u_of(x, y)
    hits = total = 0
    index = np.arange(n)
    for chosen in combinations(range(n), x.size):
        mask = np.zeros(n, dtype=bool)
        mask[list(chosen)] = True
        u = u_of(pooled[index[mask]], pooled[index[~mask]])
        total += 1
        if (u >= observed - 1e-9) if alternative == "greater" else (u <= observed + 1e-9):
            hits += 1
    return hits / total


# --------------------------------------------------------------------------
# compare


def _check_values(values: Sequence[float], what: str, policy: ComparisonPolicy) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except OverflowError:
        raise StatsError(f"metric {policy.name!r}: a {what} value is an integer beyond the range of a float; "
                         "every round must be a finite number") from None
    except (TypeError, ValueError):
        raise StatsError(f"metric {policy.name!r}: {what} values must be numbers, got {values!r}") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise StatsError(
            f"metric {policy.name!r}: {what} round {i} is {float(arr[i])!r}; every round must be a finite number "
            "(a failed round should be dropped, not recorded)"
        )
    return arr


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "?"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    s = f"{v:.4g}"
    return f"{s} {unit}".rstrip() if unit else s


def _pct(v: float | None) -> str:
    return "?" if v is None or math.isinf(v) else f"{v * 100:+.1f}%"


def _floor_text(policy: ComparisonPolicy) -> str:
    parts = []
    if policy.min_effect_rel is not None:
        parts.append(f"{policy.min_effect_rel * 100:g}%")
    if policy.min_effect_abs is not None:
        parts.append(_fmt(policy.min_effect_abs, policy.unit))
    return " and ".join(parts) if parts else "0"


def _beyond_floor(policy: ComparisonPolicy, rel: float | None, abs_: float | None) -> bool:
    """Whether a worsening of ``rel`` (relative) and ``abs_`` (units) reaches every set floor.

    Both arguments are oriented: positive means worse. With no floor at all any
    strictly positive effect counts.
    """
    if abs_ is None or abs_ <= 0 or (rel is not None and rel <= 0):
        return False
    if policy.min_effect_rel is not None and (rel is None or rel < policy.min_effect_rel):
        return False
    return not (policy.min_effect_abs is not None and abs_ < policy.min_effect_abs)


def _effects(shift: float, ref: float, log_scale: bool) -> tuple[float | None, float]:
    """Relative and absolute size of a shift (natural direction) against a reference level."""
    if log_scale:
        return shift - 1.0, ref * (shift - 1.0)
    if ref == 0:
        # Growth from nothing is infinitely large relative to it.
        return (math.copysign(math.inf, shift) if shift else 0.0), shift
    return shift / abs(ref), shift


def compare(
    baseline: Sequence[float],
    current: Sequence[float],
    policy: ComparisonPolicy | Any,
    alpha: float = 0.05,
    *,
    test: str | None = None,
    effect_rule: EffectRule = "bound",
) -> Comparison:
    """Compare the current rounds of one metric with its baseline rounds.

    ``policy`` is a :class:`ComparisonPolicy` or any object with its attribute
    names (see :meth:`ComparisonPolicy.of`). ``alpha`` sets the confidence
    level of the interval (1 - 2*alpha) and, with ``effect_rule`` (see
    :func:`gate`), the verdict before correction; the final verdict comes from
    :func:`gate`. Raises :class:`StatsError` for non-finite values.
    """
    policy = ComparisonPolicy.of(policy)
    if not 0 < alpha < 0.5:
        raise StatsError(f"alpha must be between 0 and 0.5, got {alpha!r}")
    b = _check_values(baseline, "baseline", policy)
    c = _check_values(current, "current", policy)
    n1, n2 = int(b.size), int(c.size)
    need = 1 if policy.exact else rounds_needed(alpha)
    common: dict[str, Any] = {
        "policy": policy, "test": test, "alpha": alpha, "n_baseline": n1, "n_current": n2, "min_rounds_needed": need,
    }
    b_med = float(np.median(b)) if n1 else None
    c_med = float(np.median(c)) if n2 else None
    rel_change = (c_med / b_med - 1.0) if (b_med and c_med is not None) else None
    empty: dict[str, Any] = {
        "baseline_median": b_med, "current_median": c_med, "shift": None, "ci_low": None, "ci_high": None,
        "ci_level": 1 - 2 * alpha, "relative_change": rel_change, "effect_rel": None, "effect_abs": None,
        "p_value": None, "p_improved": None, "min_p": None, "log_scale": False,
    }
    if n1 == 0:
        return Comparison(**common, **empty, status=Status.NO_BASELINE,
                          reason="no baseline rounds for this metric: record them with --goperf-update-baselines")
    if n2 == 0:
        return Comparison(**common, **empty, status=Status.NOT_ENOUGH_DATA, reason="no current rounds to compare")
    if policy.exact:
        return _compare_exact(b, c, common, rel_change)
    if effect_rule not in ("estimate", "bound"):
        raise StatsError(f"unknown effect rule {effect_rule!r}: use 'estimate' or 'bound'")
    return _compare_stat(b, c, policy, alpha, common, b_med, c_med, rel_change, effect_rule)  # type: ignore[arg-type]


def _compare_exact(b: np.ndarray, c: np.ndarray, common: dict[str, Any], rel_change: float | None) -> Comparison:
    policy: ComparisonPolicy = common["policy"]
    sign = 1.0 if policy.worse == "higher" else -1.0
    # The worst round on each side: a deterministic metric that worsens in any
    # round has worsened.
    ref = float(b.max() if sign > 0 else b.min())
    cur = float(c.max() if sign > 0 else c.min())
    delta = cur - ref
    worse_by = sign * delta
    floor = policy.min_effect_abs or 0.0
    notes = []
    for name, arr in (("baseline", b), ("current", c)):
        if arr.min() != arr.max():
            notes.append(f"exact metric varies between {name} rounds ({_fmt(float(arr.min()))}..{_fmt(float(arr.max()))}); "
                         "compared worst round to worst round")
    unit = policy.unit
    if worse_by > floor:
        status = Status.REGRESSED
        reason = f"worst round {_fmt(cur, unit)} against {_fmt(ref, unit)} in the baseline ({delta:+g}, allowed {floor:g})"
    elif worse_by < -floor:
        status, reason = Status.IMPROVED, f"worst round {_fmt(cur, unit)} against {_fmt(ref, unit)} in the baseline ({delta:+g})"
    else:
        status = Status.UNCHANGED
        reason = f"worst round {_fmt(cur, unit)} against {_fmt(ref, unit)} in the baseline (allowed growth {floor:g})"
    return Comparison(
        **common, baseline_median=float(np.median(b)), current_median=float(np.median(c)),
        shift=delta, ci_low=delta, ci_high=delta, ci_level=1.0, relative_change=rel_change,
        effect_rel=(delta / abs(ref) if ref else None), effect_abs=delta,
        p_value=None, p_improved=None, min_p=None, log_scale=False,
        status=status, reason=reason, notes=tuple(notes),
    )


def _compare_stat(
    b: np.ndarray, c: np.ndarray, policy: ComparisonPolicy, alpha: float, common: dict[str, Any],
    b_med: float, c_med: float, rel_change: float | None, effect_rule: EffectRule,
) -> Comparison:
    notes: list[str] = []
    log_scale = policy.log_scale
    if log_scale and (b.min() <= 0 or c.min() <= 0):
        log_scale = False
        notes.append("log scale needs positive values; a round at or below 0 made this comparison use raw values")
    sb, sc = (np.log(b), np.log(c)) if log_scale else (b, c)
    shift, lo, hi = hodges_lehmann(sb, sc, alpha)
    if log_scale:
        shift, lo, hi = math.exp(shift), math.exp(lo), math.exp(hi)
    effect_rel, effect_abs = _effects(shift, b_med, log_scale)
    greater, less = _mwu_p(c, b, "greater"), _mwu_p(c, b, "less")
    p_worse, p_better = (greater, less) if policy.worse == "higher" else (less, greater)
    min_p = min_attainable_p(b.size, c.size)
    cmp = Comparison(
        **common, baseline_median=b_med, current_median=c_med, shift=shift, ci_low=lo, ci_high=hi,
        ci_level=1 - 2 * alpha, relative_change=rel_change, effect_rel=effect_rel, effect_abs=effect_abs,
        p_value=p_worse, p_improved=p_better, min_p=min_p, log_scale=log_scale,
        status=Status.UNCHANGED, reason="", notes=tuple(notes),
    )
    status, reason = _decide(cmp, alpha, p_worse, p_better, effect_rule, None)
    return replace(cmp, status=status, reason=reason)


def _not_enough_text(cmp: Comparison, alpha: float) -> str:
    if cmp.design == "paired":
        return (
            f"need at least {cmp.min_rounds_needed} pairs at alpha {alpha:g} "
            f"(have {cmp.n_current}: the smallest possible p is {cmp.min_p:.3g})"
        )
    return (
        f"need at least {rounds_needed(alpha)} rounds on each side at alpha {alpha:g} "
        f"(have {cmp.n_baseline}+{cmp.n_current}: the smallest possible p is {cmp.min_p:.3g})"
    )


def _oriented(cmp: Comparison, at: float) -> tuple[float | None, float]:
    """Relative and absolute effect of a shift value ``at``, positive = worse."""
    sign = 1.0 if cmp.policy.worse == "higher" else -1.0
    rel, abs_ = _effects(at, cmp.baseline_median or 0.0, cmp.log_scale)
    return (None if rel is None else sign * rel), sign * abs_


def _bound_towards_zero(cmp: Comparison, worse_side: bool) -> float:
    """The CI end nearest 'no change' on the worse (or better) side."""
    higher_is_worse = cmp.policy.worse == "higher"
    # For worse=higher, a regression's CI sits above no-change: its near end is ci_low.
    return cmp.ci_low if (higher_is_worse == worse_side) else cmp.ci_high  # type: ignore[return-value]


def regression_ruled_out(cmp: Comparison) -> bool:
    """Whether the comparison's interval excludes a regression as large as the metric's floor.

    The end of the interval on the worse side (the largest worsening the data
    still allow) is within the floor, so more rounds could not turn this metric
    into a regression at the floor's size. Used by the same-run gate to stop
    adding pairs early (:func:`~pytest_goperf.comparison.verdict.pairs_decision`).
    An exact metric, or one without an interval, is ruled out when it did not regress.
    """
    if cmp.exact or cmp.ci_low is None or cmp.ci_high is None or cmp.baseline_median is None:
        return cmp.status is not Status.REGRESSED and cmp.status is not Status.NOT_ENOUGH_DATA
    higher_is_worse = cmp.policy.worse == "higher"
    far = cmp.ci_high if higher_is_worse else cmp.ci_low
    if math.isinf(far):
        return False
    rel, abs_ = _oriented(cmp, far)
    return not _beyond_floor(cmp.policy, rel, abs_)


def _decide(
    cmp: Comparison, alpha: float, p_worse: float, p_better: float, effect_rule: EffectRule, family: str | None,
) -> tuple[Status, str]:
    """Verdict from the (possibly adjusted) p-values; ``family`` (e.g. "BH over 12")
    says they were adjusted, and the reason then shows both the raw and adjusted p."""
    policy = cmp.policy
    if cmp.min_p is not None and cmp.min_p > alpha * (1 + 1e-12):
        return Status.NOT_ENOUGH_DATA, _not_enough_text(cmp, alpha)
    change = _describe_shift(cmp)
    floor = _floor_text(policy)

    def p_text(raw: float | None, used: float) -> str:
        raw = used if raw is None else raw
        return f"p={raw:.3g} (adjusted {used:.3g}, {family})" if family else f"p={raw:.3g}"

    sides = ((True, cmp.p_value, p_worse), (False, cmp.p_improved, p_better))
    for worse_side, raw, p in sides:
        if p > alpha:
            continue
        at = cmp.shift if effect_rule == "estimate" else _bound_towards_zero(cmp, worse_side)
        rel, abs_ = _oriented(cmp, at)  # type: ignore[arg-type]
        if not worse_side:
            rel, abs_ = (None if rel is None else -rel), -abs_
        what = "estimate" if effect_rule == "estimate" else f"{cmp.ci_level:.0%} CI bound"
        if _beyond_floor(policy, rel, abs_):
            status = Status.REGRESSED if worse_side else Status.IMPROVED
            return status, f"{change}, {p_text(raw, p)}; {what} beyond the floor {floor}"
        return Status.UNCHANGED, f"{change}, {p_text(raw, p)} but the {what} is within the floor {floor}"
    # Not significant either way: show the side the data lean to.
    _, raw, p = min(sides, key=lambda side: side[2])
    return Status.UNCHANGED, f"~ {change}, {p_text(raw, p)} (not significant at alpha {alpha:g})"


def _describe_shift(cmp: Comparison) -> str:
    unit = cmp.policy.unit
    if cmp.log_scale:
        est = f"x{cmp.shift:.4g} (CI {_fmt(cmp.ci_low)}..{_fmt(cmp.ci_high)})"
    else:
        est = f"{cmp.shift:+.4g}{(' ' + unit) if unit else ''} (CI {_fmt(cmp.ci_low)}..{_fmt(cmp.ci_high)})"
    medians = f"{_fmt(cmp.baseline_median, unit)} -> {_fmt(cmp.current_median, unit)}"
    return f"median {medians} ({_pct(cmp.relative_change)}), shift {est}"


# --------------------------------------------------------------------------
# paired: the base and the head measured side by side


@lru_cache(maxsize=512)
def _signed_rank_counts(ranks2: tuple[int, ...]) -> tuple[int, ...]:
    """Number of sign assignments giving each sum of the positive (doubled) ranks.

    Ranks are doubled so midranks of ties stay integers; 2^n assignments in all.
    """
    total = sum(ranks2)
    counts = [0] * (total + 1)
    counts[0] = 1
    for r in ranks2:
        for s in range(total, r - 1, -1):
            counts[s] += counts[s - r]
    return tuple(counts)


def _ranks2(a: np.ndarray) -> tuple[int, ...]:
    """Doubled midranks of ``a`` (1-based), as integers."""
    order = np.argsort(a, kind="stable")
    ranks = np.empty(a.size, dtype=float)
    ranks[order] = np.arange(1, a.size + 1)
    for v in np.unique(a):  # ties share their mean rank
        tied = a == v
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return tuple(round(2 * r) for r in ranks.tolist())


def signed_rank_p(d: Sequence[float] | np.ndarray, alternative: Literal["greater", "less"]) -> float:
    """Exact one-sided Wilcoxon signed-rank p that the differences ``d`` lean ``alternative`` (above or below 0).

    Zero differences are dropped (Wilcoxon's rule); ties among the rest take
    midranks and the exact permutation distribution of the signs. Equals
    ``scipy.stats.wilcoxon(d, alternative=..., method="exact")`` without ties.
    """
    arr = np.asarray(d, dtype=float)
    arr = arr[arr != 0]
    if arr.size == 0:
        return 1.0
    ranks2 = _ranks2(np.abs(arr))
    w = sum(r for r, x in zip(ranks2, arr.tolist(), strict=True) if x > 0)
    if alternative == "less":
        w = sum(ranks2) - w  # the sum of the negative ranks
    counts = _signed_rank_counts(tuple(sorted(ranks2)))
    return sum(counts[w:]) / float(1 << arr.size)


def _signed_rank_critical(n: int, alpha: float) -> int | None:
    """Smallest c with P(W+ >= c) <= alpha for n pairs without ties, or None when none reaches alpha."""
    counts = _signed_rank_counts(tuple(range(2, 2 * n + 1, 2)))  # doubled ranks 1..n
    limit = alpha * float(1 << n) * (1 + 1e-12)
    tail = 0
    top = len(counts) - 1
    for c2 in range(top, -1, -1):
        if tail + counts[c2] > limit:
            return (c2 + 2) // 2 if c2 < top else None  # back to undoubled rank sums
        tail += counts[c2]
    return 0


def paired_hodges_lehmann(d: Sequence[float] | np.ndarray, alpha: float) -> tuple[float, float, float]:
    """The median of the Walsh averages of ``d`` (the paired shift) and its 1 - 2*alpha interval.

    The interval is [A(N-c+1), A(c)] of the N = n(n+1)/2 sorted Walsh averages,
    c the one-sided critical signed-rank statistic at alpha (R's
    ``wilcox.test(paired=TRUE, conf.int=TRUE)``); infinite when n pairs cannot
    bound it at that level.
    """
    arr = np.asarray(d, dtype=float)
    n = arr.size
    i, j = np.triu_indices(n)
    walsh = np.sort((arr[i] + arr[j]) / 2.0)
    shift = float(np.median(walsh))
    crit = _signed_rank_critical(n, alpha)
    total = walsh.size
    if crit is None or crit < 1 or crit > total:
        return shift, -math.inf, math.inf
    lo, hi = float(walsh[total - crit]), float(walsh[crit - 1])
    if lo > hi:
        lo, hi = hi, lo
    return shift, lo, hi


def compare_paired(
    base: Sequence[float],
    head: Sequence[float],
    policy: ComparisonPolicy | Any,
    alpha: float = 0.05,
    *,
    test: str | None = None,
    effect_rule: EffectRule = "bound",
) -> Comparison:
    """Compare the head's rounds with the base's, pair by pair (``base[i]`` and ``head[i]`` were taken together).

    The per-pair change (a ratio on log scale, else a difference) is tested with
    the exact one-sided signed-rank test, estimated by the paired
    Hodges-Lehmann shift with its interval; floors and the verdict rule are
    those of :func:`compare`. Deterministic (``exact``) metrics are compared as
    there, worst round to worst round.
    """
    policy = ComparisonPolicy.of(policy)
    if not 0 < alpha < 0.5:
        raise StatsError(f"alpha must be between 0 and 0.5, got {alpha!r}")
    if effect_rule not in ("estimate", "bound"):
        raise StatsError(f"unknown effect rule {effect_rule!r}: use 'estimate' or 'bound'")
    b = _check_values(base, "base", policy)
    c = _check_values(head, "head", policy)
    if b.size != c.size:
        raise StatsError(f"metric {policy.name!r}: {b.size} base rounds but {c.size} head rounds; pairs need both")
    n = int(b.size)
    need = 1 if policy.exact else pairs_needed(alpha)
    common: dict[str, Any] = {
        "policy": policy, "test": test, "alpha": alpha, "n_baseline": n, "n_current": n, "min_rounds_needed": need,
    }
    b_med = float(np.median(b)) if n else None
    c_med = float(np.median(c)) if n else None
    rel_change = (c_med / b_med - 1.0) if (b_med and c_med is not None) else None
    if n == 0:
        return Comparison(
            **common, baseline_median=None, current_median=None, shift=None, ci_low=None, ci_high=None,
            ci_level=1 - 2 * alpha, relative_change=None, effect_rel=None, effect_abs=None, p_value=None,
            p_improved=None, min_p=None, log_scale=False, status=Status.NOT_ENOUGH_DATA,
            reason="no pairs to compare", design="paired",
        )
    if policy.exact:
        return replace(_compare_exact(b, c, common, rel_change), design="paired")
    notes: list[str] = []
    log_scale = policy.log_scale
    if log_scale and (b.min() <= 0 or c.min() <= 0):
        log_scale = False
        notes.append("log scale needs positive values; a round at or below 0 made this comparison use raw values")
    d = (np.log(c) - np.log(b)) if log_scale else (c - b)
    shift, lo, hi = paired_hodges_lehmann(d, alpha)
    if log_scale:
        shift, lo, hi = math.exp(shift), math.exp(lo), math.exp(hi)
    assert b_med is not None and c_med is not None
    effect_rel, effect_abs = _effects(shift, b_med, log_scale)
    greater, less = signed_rank_p(d, "greater"), signed_rank_p(d, "less")
    p_worse, p_better = (greater, less) if policy.worse == "higher" else (less, greater)
    cmp = Comparison(
        **common, baseline_median=b_med, current_median=c_med, shift=shift, ci_low=lo, ci_high=hi,
        ci_level=1 - 2 * alpha, relative_change=rel_change, effect_rel=effect_rel, effect_abs=effect_abs,
        p_value=p_worse, p_improved=p_better, min_p=0.5**n, log_scale=log_scale,
        status=Status.UNCHANGED, reason="", notes=tuple(notes), design="paired",
    )
    status, reason = _decide(cmp, alpha, p_worse, p_better, effect_rule, None)
    return replace(cmp, status=status, reason=reason)


# --------------------------------------------------------------------------
# gate


def adjust_pvalues(pvalues: Sequence[float], method: Method = "bh") -> list[float]:
    """Multiplicity-adjusted p-values, in the input order.

    ``"bh"``: Benjamini-Hochberg step-up (controls the false discovery rate; with
    no real change anywhere it also bounds the chance of any false alarm by
    alpha). ``"holm"``: Holm step-down (controls the family-wise error rate
    under any dependence; never more lenient than BH).
    """
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return []
    if ((p < 0) | (p > 1) | ~np.isfinite(p)).any():
        raise StatsError(f"p-values must lie in [0, 1], got {list(pvalues)!r}")
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "bh":
        adj = ranked * m / np.arange(1, m + 1)
        adj = np.minimum.accumulate(adj[::-1])[::-1]
    elif method == "holm":
        adj = ranked * (m - np.arange(m))
        adj = np.maximum.accumulate(adj)
    else:
        raise StatsError(f"unknown correction method {method!r}: use 'bh' or 'holm'")
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out.tolist()


def gate(
    comparisons: Sequence[Comparison],
    alpha: float = 0.05,
    method: Method = "bh",
    effect_rule: EffectRule = "bound",
) -> GateResult:
    """Final verdicts for every comparison of a run, with false alarms controlled.

    The family is every statistical comparison that could reach significance
    (both sides have rounds and their smallest possible p is at most alpha);
    exact metrics are decided without statistics, and the rest are
    "no baseline" or "not enough data". The worse-direction p-values of the
    family are adjusted together; the improvement p-values form a second family
    of their own (improvements never fail a run, so they do not spend the
    regression family's alpha).

    ``effect_rule`` chooses what must reach the effect floor: ``"bound"`` (the
    default: the end of the comparison's 1 - 2*alpha interval nearest to no
    change, so the data must show the effect is at least the floor) or
    ``"estimate"`` (the Hodges-Lehmann point estimate: more power for changes
    just above the floor, more false alarms when noise is a sizeable part of
    the floor; docs/baselines.md has the simulated figures).
    """
    if not 0 < alpha < 0.5:
        raise StatsError(f"alpha must be between 0 and 0.5, got {alpha!r}")
    if effect_rule not in ("estimate", "bound"):
        raise StatsError(f"unknown effect rule {effect_rule!r}: use 'estimate' or 'bound'")
    if method not in ("bh", "holm"):
        raise StatsError(f"unknown correction method {method!r}: use 'bh' or 'holm'")
    family = [
        i for i, c in enumerate(comparisons)
        if not c.exact and c.p_value is not None and c.min_p is not None and c.min_p <= alpha * (1 + 1e-12)
    ]
    m = len(family)
    adj_worse = dict(zip(family, adjust_pvalues([comparisons[i].p_value for i in family], method), strict=False))  # type: ignore[misc]
    adj_better = dict(zip(family, adjust_pvalues([comparisons[i].p_improved for i in family], method), strict=False))  # type: ignore[misc]
    label = "BH" if method == "bh" else "Holm"
    verdicts = []
    for i, cmp in enumerate(comparisons):
        if cmp.exact or cmp.status is Status.NO_BASELINE or cmp.p_value is None:
            verdicts.append(Verdict(cmp, cmp.status, None, cmp.reason))
            continue
        if i not in adj_worse:
            verdicts.append(Verdict(cmp, Status.NOT_ENOUGH_DATA, None, _not_enough_text(cmp, alpha)))
            continue
        pw, pb = adj_worse[i], adj_better[i]
        status, reason = _decide(cmp, alpha, pw, pb, effect_rule, f"{label} over {m}" if m > 1 else None)
        verdicts.append(Verdict(cmp, status, pw, reason))
    return GateResult(tuple(verdicts), alpha, method, effect_rule, m, tuple(_family_notes(comparisons, family, alpha, method)))


def _family_notes(comparisons: Sequence[Comparison], family: list[int], alpha: float, method: Method) -> list[str]:
    """Say plainly when one metric regressing on its own could never be flagged.

    Under both BH and Holm, the smallest p of a family of m must be at most
    alpha/m to be flagged when it is the only change.
    """
    m = len(family)
    if m <= 1:
        return []
    lone = alpha / m
    short: dict[tuple[str, int, int], tuple[int, float]] = {}
    for i in family:
        c = comparisons[i]
        if c.min_p is not None and c.min_p > lone * (1 + 1e-12):
            key = (c.design, c.n_baseline, c.n_current)
            short[key] = (short.get(key, (0, 0.0))[0] + 1, c.min_p)
    notes = []
    for (design, n1, n2), (count, min_p) in sorted(short.items()):
        if design == "paired":
            have, need = f"{n2} pairs", f"Use at least {pairs_needed(lone)} pairs"
        else:
            have, need = f"{n1}+{n2} rounds", f"Use at least {rounds_needed(lone)} rounds on each side"
        notes.append(
            f"{count} of {m} metrics have {have}: their smallest possible p "
            f"({min_p:.3g}) is above alpha/{m} = {lone:.3g}, so a regression in one of them "
            f"alone cannot be flagged ({method}); it is flagged only together with other regressed metrics. "
            f"{need}, or gate fewer metrics"
        )
    return notes


def pairs_needed(alpha: float) -> int:
    """Pairs for the one-sided signed-rank test to ever reach ``alpha``: the smallest n with 1/2^n <= alpha.

    alpha 0.05 -> 5, 0.01 -> 7, 0.05/10 -> 8.
    """
    if not 0 < alpha < 1:
        raise StatsError(f"alpha must be between 0 and 1, got {alpha!r}")
    n = 1
    while 0.5**n > alpha * (1 + 1e-12):
        n += 1
    return n


def _float_json(v: float | str | None) -> float | None:
    """The inverse of :func:`_json_float`."""
    if isinstance(v, str):
        return math.inf if v == "inf" else -math.inf
    return v


def _json_float(v: float | None) -> float | str | None:
    """JSON has no infinity; an unbounded interval end is written as the string "inf"/"-inf"."""
    if v is not None and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v
