"""The fuzz targets of bench/fuzz/ in the default suite: every seed once, and cheap hypothesis properties.

The campaigns themselves (atheris, a million inputs a target) run on demand:
``python bench/fuzz/fuzz.py TARGET``. Here each target must accept its own
seeds (a target that rejects them fuzzes nothing), and hypothesis tries a few
hundred small mutations of each reader's input with the same rule as the
fuzzer: a GoperfError or a result, never another exception.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench" / "fuzz"))
from targets import TARGETS  # noqa: E402

SAMPLES = Path(__file__).parent / "samples"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_seed_runs_through_its_target(name):
    target = TARGETS[name]
    seeds = list(target.seeds())
    assert seeds, f"target {name} has no seeds"
    for data in seeds[:40]:
        target.run(data[: target.max_len])


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    """Cut, overwrite a few bytes of, or splice into ``base``."""
    n = len(base)
    cut = st.integers(0, n).map(lambda k: base[:k])
    flips = st.lists(st.tuples(st.integers(0, max(0, n - 1)), st.integers(0, 255)), min_size=1, max_size=6).map(
        lambda edits: bytes(_apply(base, edits)))
    splice = st.tuples(st.integers(0, n), st.binary(max_size=24)).map(lambda a: base[: a[0]] + a[1] + base[a[0]:])
    return st.one_of(cut, flips, splice)


def _apply(base: bytes, edits: list[tuple[int, int]]) -> bytearray:
    out = bytearray(base)
    for i, v in edits:
        if out:
            out[i % len(out)] = v
    return out


BASES = {
    "profile": gzip.decompress((SAMPLES / "profiles" / "go1.26.8" / "block.pb.gz").read_bytes()),
    "dump": (SAMPLES / "goroutines" / "go1.26-quiet-debug2.txt").read_bytes()[:4000],
    "buildinfo": (SAMPLES / "profiles" / "go1.26.8" / "buildinfo.bin").read_bytes(),
    "baseline": next(TARGETS["baseline"].seeds()),
    "config": list(TARGETS["config"].seeds())[1],
}


@pytest.mark.parametrize("name", sorted(BASES))
@FAST
@given(data=st.data())
def test_mutations_are_answered_with_our_error(name, data):
    TARGETS[name].run(data.draw(_mutations(BASES[name])))


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.one_of(st.integers(-(10**30), 10**30), st.floats(allow_nan=False, allow_infinity=False)),
                min_size=0, max_size=6),
       st.lists(st.floats(min_value=-1e300, max_value=1e300, allow_nan=False), min_size=0, max_size=6))
def test_any_finite_rounds_get_a_verdict(baseline, current):
    """Any finite numbers a baseline file can hold, against any current rounds: a verdict, no exception."""
    from pytest_goperf.comparison.stats import ComparisonPolicy, compare, gate

    for log_scale in (False, True):
        cmp = compare(baseline, current, ComparisonPolicy("m", log_scale=log_scale))
        gate([cmp])
