"""GitHub Actions workflow commands: ``::error`` annotations that point at the test that failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..comparison.verdict import RunEvaluation

__all__ = ["annotation", "github_annotations"]


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
