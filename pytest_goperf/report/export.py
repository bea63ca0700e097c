"""Flame-graph exports of weighted stacks: folded text and speedscope JSON, plus saving the raw profile.

- *Folded stacks* (Brendan Gregg's ``stackcollapse`` format): one line per
  distinct stack, ``root;caller;...;leaf WEIGHT``; read by ``flamegraph.pl``,
  inferno and speedscope.
- *speedscope* JSON, a "sampled" profile
  (https://github.com/jlfwong/speedscope/blob/main/src/lib/file-format-spec.ts):
  shared frames, each sample a list of frame indices from the root to the leaf.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from ..analysis.functions import StackSample
from ..formats.profile._format import GZIP_MAGIC
from ..formats.symbols import Frame

SPEEDSCOPE_SCHEMA: Final = "https://www.speedscope.app/file-format-schema.json"
# speedscope's WeightUnit values; pprof's "count" (samples, objects, goroutines) is "none".
SPEEDSCOPE_UNITS: Final = frozenset({"none", "nanoseconds", "microseconds", "milliseconds", "seconds", "bytes"})


def _names(stack: StackSample | tuple) -> list[str]:  # type: ignore[type-arg]
    return [fr if isinstance(fr, str) else fr.function for fr in stack[0]]


def folded_stacks(stacks: Iterable[StackSample]) -> str:
    """Folded text of ``stacks`` (leaf-first frames, as tables hold them), heaviest first.

    Semicolons inside a frame name (rare, e.g. in type arguments) would split
    the frame, so they are replaced by ``:``.
    """
    merged: dict[str, int] = {}
    for stack in stacks:
        names = _names(stack)
        if not names or stack[1] == 0:
            continue
        line = ";".join(n.replace(";", ":") for n in reversed(names))
        merged[line] = merged.get(line, 0) + stack[1]
    ordered = sorted(merged.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    return "".join(f"{line} {w}\n" for line, w in ordered)


def speedscope(stacks: Iterable[StackSample], *, name: str = "profile", unit: str = "none") -> dict[str, Any]:
    """A speedscope document (a JSON-ready dict) with one sampled profile of ``stacks``."""
    frame_index: dict[tuple[str, str], int] = {}
    frames: list[dict[str, str]] = []
    samples: list[list[int]] = []
    weights: list[int] = []
    for stack in stacks:
        if not stack[0] or stack[1] == 0:
            continue
        idx = []
        for fr in reversed(stack[0]):
            f = fr if isinstance(fr, Frame) else Frame(fr)
            key = (f.function, f.file)
            i = frame_index.get(key)
            if i is None:
                i = frame_index[key] = len(frames)
                frames.append({"name": f.function, "file": f.file} if f.file else {"name": f.function})
            idx.append(i)
        samples.append(idx)
        weights.append(stack[1])
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": unit if unit in SPEEDSCOPE_UNITS else "none",
                "startValue": 0,
                "endValue": sum(abs(w) for w in weights),
                "samples": samples,
                "weights": weights,
            }
        ],
        "name": name,
        "activeProfileIndex": 0,
        "exporter": "pytest-goperf",
    }


def save_profile_artifacts(data: bytes, stacks: Iterable[StackSample], directory: str | Path, stem: str,
                           *, unit: str = "none") -> dict[str, Path]:
    """Write the raw profile (``STEM.pb.gz``, opens in ``go tool pprof``), ``STEM.folded`` and
    ``STEM.speedscope.json`` into ``directory``; return the paths by kind."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    stacks = list(stacks)
    raw = data if data.startswith(GZIP_MAGIC) else gzip.compress(data)
    paths = {
        "pprof": out / f"{stem}.pb.gz",
        "folded": out / f"{stem}.folded",
        "speedscope": out / f"{stem}.speedscope.json",
    }
    paths["pprof"].write_bytes(raw)
    paths["folded"].write_text(folded_stacks(stacks))
    paths["speedscope"].write_text(json.dumps(speedscope(stacks, name=stem, unit=unit)))
    return paths
