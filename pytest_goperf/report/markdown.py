"""Markdown renderings: the gate's table for GitHub's job summary (``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..comparison.status import Status
from ._gate_cells import HEADER, rows

if TYPE_CHECKING:
    from ..comparison.verdict import RunEvaluation

__all__ = ["markdown_summary"]


def markdown_summary(ev: RunEvaluation, max_rows: int = 200) -> str:
    """A GitHub-flavoured Markdown table for ``$GITHUB_STEP_SUMMARY``."""
    res = ev.result
    title = "regressions found" if res.failed else "no regression"
    out = [f"## goperf gate: {title}", "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows(ev)[:max_rows]:
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
