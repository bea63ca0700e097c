"""Our decoder and table against ``go tool pprof``'s own reading of the same files.

- ``-raw`` prints every sample, location and mapping as pprof decoded them;
  we render our records in the same text and compare line by line.
- ``-top`` prints flat and cum per function; our shares, formatted the way
  pprof formats percentages, must print the same for every function and every
  sample type.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_goperf.analysis.functions import profile_table
from pytest_goperf.formats.profile._decode import read_profile
from pytest_goperf.formats.profile._model import Profile

SAMPLES = Path(__file__).parent / "samples" / "profiles"
PROFILES = sorted(SAMPLES.glob("*/*.pb.gz"))
IDS = [f"{p.parent.name}/{p.name}" for p in PROFILES]


def go_pprof(*args: str, stdin: str | None = None) -> str:
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain (go on PATH) is required to compare with go tool pprof")
    proc = subprocess.run([go, "tool", "pprof", "-symbolize=none", *args], check=False, capture_output=True, text=True,
                          timeout=120, input=stdin)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@dataclass
class PprofReading:
    """What go tool pprof printed for one file: ``raw`` lines from "Samples:" on, and -top rows per sample type."""

    raw: list[str]
    top: dict[str, dict[str, tuple[str, str]]]


TOP_ROW = re.compile(r"^\s*(\S+)\s+(\S+%)\s+(\S+%)\s+(\S+)\s+(\S+%)\s+(.*?)(?: \((?:partial-)?inline\))?$")
PROMPT = "(pprof) "


def read_with_pprof(path: Path) -> PprofReading:
    """One interactive pprof session per file (a process per query is slow on a busy machine)."""
    types = [vt.type for vt in read_profile(path.read_bytes()).sample_types]
    commands = ["nodecount=1000000", "nodefraction=0", "edgefraction=0", "raw"]
    for t in types:
        commands += [f"sample_index={t}", "top"]
    out = go_pprof(str(path), stdin="\n".join(commands + ["quit", ""]))
    raw: list[str] = []
    tops: list[dict[str, tuple[str, str]]] = []
    state = ""
    for line in out.splitlines():
        prompted = line.startswith(PROMPT)
        while line.startswith(PROMPT):
            line = line[len(PROMPT):]
        if prompted:
            state = ""
        if line == "Samples:" and not raw:
            state = "raw"
        elif line.strip().startswith("flat  flat%"):
            state = "top"
            tops.append({})
            continue
        if state == "raw":
            raw.append(line)
        elif state == "top":
            m = TOP_ROW.match(line)
            assert m, line
            name = m.group(6)
            assert name not in tops[-1], f"pprof printed {name} twice"
            tops[-1][name] = (m.group(2), m.group(5))
    assert len(tops) == len(types), out[-2000:]
    return PprofReading(raw, dict(zip(types, tops)))


@pytest.fixture(scope="module")
def pprof_readings() -> dict[Path, PprofReading]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(PROFILES, pool.map(read_with_pprof, PROFILES)))


def test_samples_cover_releases_and_kinds():
    releases = {p.parent.name for p in PROFILES if p.parent.name.startswith("go1.")}
    assert len(releases) >= 3, releases
    kinds = {read_profile(p.read_bytes()).kind for p in PROFILES}
    assert kinds == {"cpu", "heap", "allocs", "goroutine", "contentions"}


def test_recursion_sample_has_recursive_stacks():
    # Guards the sample itself: without repeated frames the -top comparison
    # below would not check that a recursive function counts once per sample.
    p = read_profile((SAMPLES / "recursion" / "cpu-recursion.pb.gz").read_bytes())
    recursive = [s for s in p.samples if len({loc.lines[-1].function.name for loc in s.locations}) < len(s.locations)]
    assert len(recursive) > 10
    table = profile_table(p)
    assert 0.5 < table.hot_share("main.fib", cum=True) <= 1.0


# -- -raw: the decoded records ------------------------------------------------------------


def render_raw(p: Profile) -> list[str]:
    """Our profile in google/pprof's ``Profile.String()`` layout, from the Samples line on."""
    out = ["Samples:"]
    dflt = p.default_sample_type
    out.append(" ".join(f"{vt.type}/{vt.unit}{'[dflt]' if vt.type == dflt else ''}" for vt in p.sample_types))
    for s in p.samples:
        values = "".join(f" {v:10d}" for v in s.values)
        out.append(f"{values}: " + "".join(f"{loc.id} " for loc in s.locations))
        strs: dict[str, list[str]] = {}
        nums: dict[str, list[tuple[int, str]]] = {}
        for lab in s.labels:
            if lab.num is not None:
                nums.setdefault(lab.key, []).append((lab.num, lab.num_unit))
            else:
                strs.setdefault(lab.key, []).append(lab.value or "")
        if strs:
            out.append(" " * 16 + " ".join(sorted(f"{k}:[{' '.join(v)}]" for k, v in strs.items())))
        if nums:
            parts = []
            for k, v in nums.items():
                if all(u for _, u in v):
                    parts.append(f"{k}:[{' '.join(f'{n} {u}' for n, u in v)}]")
                else:
                    parts.append(f"{k}:[{' '.join(str(n) for n, _ in v)}]")
            out.append(" " * 16 + " ".join(sorted(parts)))
    out.append("Locations")
    for loc in p.locations:
        head = f"{loc.id:6d}: {loc.address:#x} " + (f"M={loc.mapping.id} " if loc.mapping else "")
        head += "[F] " if loc.is_folded else ""
        if not loc.lines:
            out.append(head)
        for ln in loc.lines:
            fn = ln.function
            text = f"{fn.name} {fn.filename}:{ln.line}:{ln.column} s={fn.start_line}"
            if fn.name != fn.system_name:
                text += f"({fn.system_name})"
            out.append(head + text)
            head = " " * 13
    out.append("Mappings")
    for m in p.mappings:
        bits = "".join(b for b, on in (("[FN]", m.has_functions), ("[FL]", m.has_filenames),
                                        ("[LN]", m.has_line_numbers), ("[IN]", m.has_inline_frames)) if on)
        out.append(f"{m.id}: {m.memory_start:#x}/{m.memory_limit:#x}/{m.file_offset:#x} {m.filename} {m.build_id} {bits}")
    return out


@pytest.mark.parametrize("path", PROFILES, ids=IDS)
def test_decoded_records_match_pprof_raw(path: Path, pprof_readings):
    theirs = pprof_readings[path].raw
    ours = render_raw(read_profile(path.read_bytes()))
    assert [ln.rstrip() for ln in ours] == [ln.rstrip() for ln in theirs]


@pytest.mark.parametrize("path", [p for p in PROFILES if "cpu" in p.name], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cpu_profile_values(path: Path):
    p = read_profile(path.read_bytes())
    assert p.period_type is not None and str(p.period_type) == "cpu/nanoseconds"
    assert p.period == 10_000_000  # 100 Hz
    assert [str(vt) for vt in p.sample_types] == ["samples/count", "cpu/nanoseconds"]
    # Go writes value[1] = count x period (runtime/pprof/proto.go).
    assert all(s.values[1] == s.values[0] * p.period for s in p.samples)


# -- -top: the function table -------------------------------------------------------------

def pprof_percentage(value: int, total: int) -> str:
    """internal/measurement.Percentage: the text -top prints for value/total."""
    ratio = abs(value / total) * 100 if total else 0.0
    if 99.95 <= ratio <= 100.05:
        return "100%"
    if ratio >= 1.0:
        return f"{ratio:5.2f}%".strip()
    return f"{ratio:5.2g}%".strip()


CASES = [
    (path, vt.type)
    for path in PROFILES
    for vt in read_profile(path.read_bytes()).sample_types
]


@pytest.mark.parametrize(("path", "sample_type"), CASES, ids=[f"{p.parent.name}/{p.name}:{t}" for p, t in CASES])
def test_table_matches_pprof_top(path: Path, sample_type: str, pprof_readings):
    theirs = pprof_readings[path].top[sample_type]
    table = profile_table(read_profile(path.read_bytes()), sample_type)
    ours = {f.name: (pprof_percentage(f.flat, table.total), pprof_percentage(f.cum, table.total))
            for f in table.functions}
    if table.total:
        assert len(ours) > 3
    assert ours == theirs
    # Same order too: pprof sorts by |flat|, then name.
    assert [f.name for f in table.functions] == list(theirs)


@pytest.mark.parametrize("path", [p for p in PROFILES if "cpu" in p.name], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_cpu_total_is_samples_times_period(path: Path):
    p = read_profile(path.read_bytes())
    table = profile_table(p)
    assert table.sample_type == "cpu" and table.unit == "nanoseconds"
    assert table.total == sum(s.values[0] for s in p.samples) * p.period
