"""The environment a measurement was taken in, and what differs between two.

A baseline recorded on another CPU, Go release or GOMAXPROCS is not a fair
yardstick. :func:`capture_environment` records the machine and toolchain next
to the values; :func:`mismatches` names what differs *and matters* (CPU
model and count, Go version, GOMAXPROCS, build flags, OS and architecture),
ignoring what always changes (commit, date) or rarely matters (kernel
release, Python version, plugin version).

The Go version, GOMAXPROCS and build flags belong to the service under test,
so the caller hands them in; the rest is read from the machine. Nothing here
fails: an unknown value is None, and None never counts as a mismatch.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["Environment", "capture_environment", "mismatches"]


@dataclass(frozen=True, slots=True)
class Environment:
    """Where and with what a set of rounds was measured (every field may be unknown)."""

    go_version: str | None = None
    gomaxprocs: int | None = None
    build_flags: tuple[str, ...] | None = None
    cpu_model: str | None = None
    cpu_count: int | None = None
    os: str | None = None  # system and machine architecture, e.g. "Linux x86_64"
    kernel: str | None = None
    commit: str | None = None
    date: str | None = None  # UTC, ISO 8601, seconds
    plugin_version: str | None = None
    python_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Every field, None included, so the stored keys never depend on the machine."""
        out = asdict(self)
        if self.build_flags is not None:
            out["build_flags"] = list(self.build_flags)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Environment:
        """Read what :meth:`to_json` wrote; unknown keys (from a newer plugin) are ignored."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if isinstance(values.get("build_flags"), list):
            values["build_flags"] = tuple(str(v) for v in values["build_flags"])
        for key in ("gomaxprocs", "cpu_count"):
            if values.get(key) is not None and not isinstance(values[key], int):
                values[key] = None
        return cls(**values)


# Field -> label in messages. Order is the order mismatches are reported in.
_MATTERS: dict[str, str] = {
    "cpu_model": "CPU model",
    "cpu_count": "CPU count",
    "go_version": "Go version",
    "gomaxprocs": "GOMAXPROCS",
    "build_flags": "build flags",
    "os": "OS/architecture",
}


def mismatches(baseline: Environment, current: Environment) -> list[str]:
    """What differs between two environments and can change the numbers.

    One message per field, e.g. ``"Go version: go1.22.10 in the baseline, go1.26.8 now"``.
    Fields unknown on either side are not compared.
    """
    out = []
    for name, label in _MATTERS.items():
        a, b = getattr(baseline, name), getattr(current, name)
        if a is None or b is None or a == b:
            continue
        if name == "build_flags":
            a, b = " ".join(a) or "(none)", " ".join(b) or "(none)"
        out.append(f"{label}: {a} in the baseline, {b} now")
    return out


def _cpu_model(cpuinfo: str | None = None) -> str | None:
    """The CPU model from /proc/cpuinfo (x86 "model name"; ARM "Model"/"Hardware"/"CPU part")."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            found.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "model", "hardware", "cpu model"):
        if key in found and not found[key].isdigit():
            return found[key]
    if "cpu part" in found:
        return f"{found.get('cpu implementer', '?')}/{found['cpu part']}"
    return platform.processor() or None


def _cpu_count() -> int | None:
    # The CPUs this process may run on (taskset, cgroups cpusets), not the machine's.
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def _git_commit(root: Path | None) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.strip()
    return out if proc.returncode == 0 and out else None


def capture_environment(
    *,
    go_version: str | None = None,
    gomaxprocs: int | None = None,
    build_flags: Sequence[str] | None = None,
    root: Path | None = None,
    now: _dt.datetime | None = None,
) -> Environment:
    """The current machine's environment, with the service's facts supplied by the caller.

    ``root`` is where ``git rev-parse HEAD`` runs (no commit when it is not a
    repository or git is missing); ``now`` fixes the date (tests).
    """
    from .. import __version__

    when = (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc)
    return Environment(
        go_version=go_version,
        gomaxprocs=gomaxprocs,
        build_flags=None if build_flags is None else tuple(build_flags),
        cpu_model=_cpu_model(),
        cpu_count=_cpu_count(),
        os=f"{platform.system()} {platform.machine()}".strip() or None,
        kernel=platform.release() or None,
        commit=_git_commit(root),
        date=when.replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        plugin_version=__version__,
        python_version=platform.python_version(),
    )
