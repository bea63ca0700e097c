"""The cells of the gate's table, shared by the terminal and Markdown renderings."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..comparison.stats import Verdict
    from ..comparison.verdict import RunEvaluation

__all__ = ["HEADER", "VERDICT", "change", "header", "num", "p_text", "rows", "sizes"]


def num(v: float | None, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    text = f"{v:.4g}"
    return f"{text} {unit}".strip() if unit and unit not in ("fraction",) else text


def change(v: Verdict) -> str:
    c = v.comparison
    if c.relative_change is None:
        return "-"
    text = f"{c.relative_change:+.1%}"
    if c.ci_low is not None and c.ci_high is not None and math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
        if c.log_scale:
            text += f" [{c.ci_low - 1:+.1%}, {c.ci_high - 1:+.1%}]"
        else:
            text += f" [{num(c.ci_low)}, {num(c.ci_high)}]"
    return text


def p_text(v: Verdict) -> str:
    c = v.comparison
    if c.exact:
        return "exact"
    if v.p_adjusted is not None:
        return f"{v.p_adjusted:.3g}"
    return "-" if c.p_value is None else f"{c.p_value:.3g}"


def sizes(v: Verdict) -> str:
    """``5 pairs`` for a paired comparison, ``5+5`` rounds for a stored baseline."""
    c = v.comparison
    return f"{c.n_current} pairs" if c.design == "paired" else f"{c.n_baseline}+{c.n_current}"


def rows(ev: RunEvaluation) -> list[list[str]]:
    """One row per verdict, in :func:`header`'s columns; the verdict word is last (index :data:`VERDICT`)."""
    rows = []
    for v in ev.result.verdicts:
        c = v.comparison
        rows.append(
            [
                c.test or "",
                v.metric,
                num(c.baseline_median, c.policy.unit),
                num(c.current_median, c.policy.unit),
                change(v),
                p_text(v),
                sizes(v),
                v.status.value,
            ]
        )
    return rows


HEADER = ["test", "metric", "baseline median", "current median", "change [interval]", "p (adj.)", "rounds", "verdict"]
VERDICT = len(HEADER) - 1


def header(ev: RunEvaluation) -> list[str]:
    """The columns: the base and head medians in a same-run comparison, else the baseline and current ones."""
    if ev.mode == "compare":
        return ["test", "metric", "base median", "head median", "change [interval]", "p (adj.)", "pairs", "verdict"]
    return list(HEADER)
