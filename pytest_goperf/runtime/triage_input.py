"""The captured files of one triage window, read into records: from a folder or from memory."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GoperfError, ParseError
from ..formats.goroutines import (
    Goroutine,
    GoroutineProfile,
    parse_goroutine_profile,
    parse_goroutines,
)
from .triage_capture import FILES

__all__ = ["TriageInput", "load_folder"]


@dataclass(frozen=True)
class TriageInput:
    """What one window gave: raw trace and profile bytes, parsed dumps, and what was missing.

    ``goroutines`` is the dump at the end of the window (``leaked`` set where
    the runtime proved it); ``goroutines_start`` the one before it (may be
    empty). ``leak_profile`` is the ``goroutineleak`` debug=1 profile, None
    when the service does not serve it.
    """

    trace: bytes | None = None
    cpu_profile: bytes | None = None
    goroutines: tuple[Goroutine, ...] = ()
    goroutines_start: tuple[Goroutine, ...] = ()
    goroutine_profile: GoroutineProfile | None = None
    leak_profile: GoroutineProfile | None = None
    source: str = ""  # the URL or folder it came from
    seconds: float | None = None
    notes: tuple[str, ...] = field(default=())  # what could not be captured or read, and why


def _sniff(data: bytes) -> str | None:
    head = data[:64]
    if head.startswith(b"go 1.") and b" trace" in head[:24]:
        return "trace"
    if head.startswith(b"\x1f\x8b"):
        return "cpu"
    s = head.lstrip()
    if s.startswith(b"goroutine profile: total"):
        return "goroutines_debug1"
    if s.startswith(b"goroutineleak profile: total"):
        return "goroutineleak"
    if s.startswith(b"goroutine "):
        return "goroutines"
    return None


def load_folder(path: Path) -> TriageInput:
    """Read a triage folder (or one captured file).

    Files with the names of :data:`~._capture.FILES` take their role from the
    name; any other file (``curl -o x .../trace?seconds=5``) from its first
    bytes. Of several debug=2 dumps, the newest is the end one and the oldest the start one.
    """
    if not path.exists():
        raise GoperfError(f"{path} does not exist: give a pprof base URL (http://...) or a folder of captured files")
    paths = sorted(path.iterdir()) if path.is_dir() else [path]
    by_name = {v: k for k, v in FILES.items()}
    roles: dict[str, bytes] = {}
    dumps: list[tuple[float, Path, bytes]] = []
    notes: list[str] = []
    meta: dict[str, Any] = {}
    for p in paths:
        if not p.is_file():
            continue
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise GoperfError(f"cannot read {p}: {exc.strerror or exc}") from None
        role = by_name.get(p.name)
        if role == "meta":
            try:
                meta = json.loads(data)
            except ValueError:
                notes.append(f"{p.name} is not JSON; ignored")
            continue
        if role is None:
            role = _sniff(data)
            if role is None:
                continue
            if role == "goroutines":
                dumps.append((p.stat().st_mtime, p, data))
                continue
        if role in roles:
            notes.append(f"two files for {role}: {p.name} ignored")
            continue
        roles[role] = data
    if dumps:
        dumps.sort(key=lambda d: (d[0], d[1].name))
        roles.setdefault("goroutines", dumps[-1][2])
        if len(dumps) > 1:
            roles.setdefault("goroutines_start", dumps[0][2])
    if not roles:
        raise GoperfError(
            f"{path} holds no file goperf can read: expected an execution trace, a CPU profile "
            "or goroutine dumps (see docs/triage.md for the file names)"
        )
    for role, message in sorted((meta.get("errors") or {}).items()):
        notes.append(f"{role} was not captured: {message}")

    def dump(role: str) -> tuple[Goroutine, ...]:
        data = roles.get(role)
        if data is None:
            return ()
        try:
            return tuple(parse_goroutines(data.decode("utf-8", "replace")))
        except ParseError as exc:
            raise type(exc)(f"{FILES.get(role, role)}: {exc}") from None

    def profile(role: str) -> GoroutineProfile | None:
        data = roles.get(role)
        return parse_goroutine_profile(data.decode("utf-8", "replace")) if data is not None else None

    return TriageInput(
        trace=roles.get("trace"),
        cpu_profile=roles.get("cpu"),
        goroutines=dump("goroutines"),
        goroutines_start=dump("goroutines_start"),
        goroutine_profile=profile("goroutines_debug1"),
        leak_profile=profile("goroutineleak"),
        source=str(path),
        seconds=meta.get("seconds"),
        notes=tuple(notes),
    )
