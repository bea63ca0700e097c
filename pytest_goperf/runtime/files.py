"""A window's folder on disk: write a :class:`RawWindow` there, read one back.

Measurement rounds and ``goperf triage`` write the same files
(:data:`~pytest_goperf.formats.window.FILE_NAMES`), so a saved round can be
re-read with ``goperf triage DIR`` or ``goperf analyze DIR`` and analysed by
the same code as a live one. Files captured by hand (``curl -o x
.../trace?seconds=5``) are recognised by their first bytes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import GoperfError
from ..formats.sniff import sniff
from ..formats.window import (
    FILE_NAMES,
    LEGACY_FILE_NAMES,
    ROLES,
    RawWindow,
    Role,
    WindowFiles,
)

__all__ = ["load_window", "new_folder", "save_window"]

# What a file recognised by content is, when it has none of the names.
_ROLE_OF_KIND: Mapping[str, Role] = {
    "trace": "trace",
    "profile": "cpu_profile",
    "goroutine_profile": "goroutine_profile",
    "leak_profile": "leak_profile",
}


def new_folder(parent: Path, prefix: str) -> Path:
    """A new folder ``parent/PREFIX-YYYYMMDDTHHMMSSZ`` (``-2``, ``-3``, ... when taken)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = parent / f"{prefix}-{stamp}"
    n = 1
    while True:
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            n += 1
            path = parent / f"{prefix}-{stamp}-{n}"


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_window(raw: RawWindow, directory: Path) -> WindowFiles:
    """Write every captured part of ``raw`` into ``directory`` (created) and return the paths.

    The description file (``window.json``) says what was asked, when, and what
    could not be captured and why.
    """
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for role in ROLES:
        data = raw.data(role)
        if data is None:
            continue
        path = directory / FILE_NAMES[role]
        _write(path, data)
        paths[role] = path
    if raw.load is not None:
        path = directory / FILE_NAMES["load"]
        _write(path, (json.dumps(raw.load.to_json(), indent=2, sort_keys=True) + "\n").encode())
        paths["load"] = path
    meta = {
        "source": raw.source,
        "started_at": raw.started_at,
        "seconds": raw.seconds,
        "end_dump_marked": raw.end_dump_marked,
        "process_cpu_ns": raw.process_cpu_ns,
        "files": {role: p.name for role, p in sorted(paths.items())},
        "errors": dict(sorted(raw.errors.items())),
        "goperf_version": __version__,
    }
    path = directory / FILE_NAMES["meta"]
    _write(path, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    paths["meta"] = path
    return WindowFiles(directory=directory, **paths)


def load_window(path: Path) -> RawWindow:
    """Read a window's folder (or one captured file) back into a :class:`RawWindow`.

    Files named as in :data:`FILE_NAMES` (or by an earlier release) take
    their role from the name; any other file from its first bytes. Of several
    debug=2 dumps without those names, the newest is the end one and the
    oldest the start one. Nothing is parsed here: a corrupt file is reported
    by the analysis, naming the file.

    :raises GoperfError: ``path`` does not exist, cannot be read, or holds no
        file goperf can read.
    """
    if not path.exists():
        raise GoperfError(f"{path} does not exist: give a pprof base URL (http://...) or a folder of captured files")
    paths = sorted(path.iterdir()) if path.is_dir() else [path]
    by_name: dict[str, Role] = {**{v: k for k, v in FILE_NAMES.items()}, **LEGACY_FILE_NAMES}
    found: dict[str, bytes] = {}
    names: dict[str, str] = {}
    dumps: list[tuple[float, Path, bytes]] = []
    notes: list[str] = []
    meta: dict[str, Any] = {}
    for p in paths:
        if not p.is_file() or p.name.startswith("."):
            continue
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise GoperfError(f"cannot read {p}: {exc.strerror or exc}") from None
        role: Role | None = by_name.get(p.name)
        if role == "meta":
            try:
                loaded = json.loads(data)
                meta = loaded if isinstance(loaded, dict) else {}
            except (ValueError, RecursionError):
                notes.append(f"{p.name} is not JSON (or nested too deeply); ignored")
            continue
        if role == "load":
            continue  # a summary only; the analysis does not need it
        if role is None:
            kind = sniff(data)
            if kind is None:
                continue
            if kind == "goroutines":
                dumps.append((p.stat().st_mtime, p, data))
                continue
            if kind == "crash":
                notes.append(f"{p.name} is a crash log, not part of a window: read it with goperf analyze")
                continue
            role = _ROLE_OF_KIND[kind]
        if role in found:
            notes.append(f"two files for the {role.replace('_', ' ')}: {p.name} ignored")
            continue
        found[role] = data
        names[role] = p.name
    if dumps:
        dumps.sort(key=lambda d: (d[0], d[1].name))
        if "goroutines_end" not in found:
            found["goroutines_end"], names["goroutines_end"] = dumps[-1][2], dumps[-1][1].name
        if len(dumps) > 1 and "goroutines_start" not in found:
            found["goroutines_start"], names["goroutines_start"] = dumps[0][2], dumps[0][1].name
    if not found:
        raise GoperfError(
            f"{path} holds no file goperf can read: expected an execution trace, a CPU profile "
            "or goroutine dumps (see docs/triage.md for the file names)"
        )
    found_errors = meta.get("errors")
    errors: dict[str, Any] = found_errors if isinstance(found_errors, dict) else {}
    for failed, message in sorted(errors.items()):
        message = message if isinstance(message, str) else "(not recorded as text)"
        what = "CPU profile" if failed == "cpu_profile" else str(failed).replace("_", " ")
        notes.append(f"the {what} was not captured: {message}")
    marked = meta.get("end_dump_marked")
    if not isinstance(marked, bool):  # folders of earlier releases: marked when the leak profile was served
        marked = "leak_profile" in found
    cpu_ns = meta.get("process_cpu_ns")
    return RawWindow(
        seconds=_finite(meta.get("seconds")),
        started_at=_finite(meta.get("started_at")),
        source=str(path),
        errors={str(k): v if isinstance(v, str) else "(not recorded as text)" for k, v in errors.items()},
        names=names,
        notes=tuple(notes),
        end_dump_marked=marked,
        process_cpu_ns=cpu_ns if isinstance(cpu_ns, int) and not isinstance(cpu_ns, bool) else None,
        **found,  # type: ignore[arg-type]
    )


def _finite(value: Any) -> float | None:
    """A number from window.json, or None when it is missing, not a number, or not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None

