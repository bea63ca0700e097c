"""Markdown renderings: the gate's table for GitHub's job summary (``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..comparison.status import Status
from ._gate_cells import VERDICT, header, rows
from .text import gate_mode_line

if TYPE_CHECKING:
    from ..comparison.verdict import RunEvaluation

__all__ = ["markdown_summary"]


def markdown_summary(ev: RunEvaluation, max_rows: int = 200) -> str:
    """A GitHub-flavoured Markdown table for ``$GITHUB_STEP_SUMMARY``."""
    res = ev.result
    title = "regressions found" if res.failed else "no regression"
    columns = header(ev)
    out = [f"## goperf gate: {title}", "", gate_mode_line(ev).removeprefix("goperf gate: ").capitalize() + ".", "",
           "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows(ev)[:max_rows]:
        cells = [c.replace("|", "\\|") for c in row]
        if cells[VERDICT] == Status.REGRESSED.value:
            cells[VERDICT] = f"**{cells[VERDICT]}**"
        out.append("| " + " | ".join(cells) + " |")
    if len(res.verdicts) > max_rows:
        out.append(f"\n{len(res.verdicts) - max_rows} more rows in the JSON report.")
    for note in res.notes:
        out.append(f"\n> note: {note}")
    for w in ev.warnings:
        out.append(f"\n> warning: {w}")
    return "\n".join(out) + "\n"
