"""``goperf analyze PROFILE``: the summary of one pprof profile, as JSON and as text.

JSON keys are documented in docs/analyze-profile.md; keep the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..formats.profile._decode import read_profile
from ..formats.profile._model import Profile
from .functions import FunctionTable, GroupStat, WarningSign, profile_table


def _group_json(g: GroupStat, key: str) -> dict[str, Any]:
    return {key: g.key, "flat": g.flat, "cum": g.cum, "flat_share": g.flat_share, "cum_share": g.cum_share}


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """A decoded profile with its function table: what ``goperf analyze`` prints."""

    profile: Profile
    table: FunctionTable

    def warning_signs(self) -> tuple[WarningSign, ...]:
        """The triggered warning signs; only CPU profiles have them (a heap profile is all mallocgc)."""
        return self.table.warning_signs() if self.profile.kind == "cpu" else ()

    def to_json(self) -> dict[str, Any]:
        p, t = self.profile, self.table
        binary = next((m.filename for m in p.mappings if m.filename), None)
        return {
            "kind": "profile",
            "profile_type": p.kind,
            "sample_type": t.sample_type,
            "unit": t.unit,
            "sample_types": [str(vt) for vt in p.sample_types],
            "total": t.total,
            "samples": len(p.samples),
            "period": p.period,
            "period_type": str(p.period_type) if p.period_type else None,
            "time_nanos": p.time_nanos,
            "duration_seconds": p.duration_seconds,
            "binary": binary,
            "main_module": t.main_module,
            "classes": {g.key: {k: v for k, v in _group_json(g, "class").items() if k != "class"}
                        for g in t.by_class()},
            "warnings": [
                {"key": s.key, "title": s.title, "share": s.share, "threshold": s.threshold,
                 "advice": s.advice, "functions": list(s.functions)}
                for s in self.warning_signs()
            ],
            "functions": [
                {"name": f.name, "package": f.package, "file": f.file, "class": f.cls, "flat": f.flat,
                 "cum": f.cum, "flat_share": f.flat_share, "cum_share": f.cum_share}
                for f in t.functions
            ],
            "packages": [_group_json(g, "package") for g in t.by_package()],
        }

    def to_text(self) -> str:
        """The text rendering."""
        from ..report.text import profile_summary_text

        return profile_summary_text(self)

def summarize(data: bytes, *, main_module: str | None = None, sample_type: str | int | None = None) -> ProfileSummary:
    """Decode ``data`` (a pprof profile) and tabulate its default sample type (``goperf analyze``)."""
    profile = read_profile(data)
    return ProfileSummary(profile, profile_table(profile, sample_type, main_module=main_module))
