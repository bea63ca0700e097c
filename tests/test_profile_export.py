"""Flame-graph exports, the saved raw profile, and the hot-share assertion."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_goperf.analysis.functions import function_table, profile_table
from pytest_goperf.analysis.profile_checks import assert_hot_share
from pytest_goperf.errors import GoperfAssertionError
from pytest_goperf.formats.profile._decode import read_profile
from pytest_goperf.report.export import (
    folded_stacks,
    save_profile_artifacts,
    speedscope,
)

SAMPLES = Path(__file__).parent / "samples" / "profiles"
CPU = SAMPLES / "go1.26.8" / "cpu-work.pb.gz"


@pytest.fixture(scope="module")
def table():
    return profile_table(read_profile(CPU.read_bytes()))


def parse_folded(text: str) -> list[tuple[list[str], int]]:
    out = []
    for line in text.splitlines():
        stack, _, weight = line.rpartition(" ")
        out.append((list(reversed(stack.split(";"))), int(weight)))
    return out


def test_folded_stacks_round_trip(table):
    text = folded_stacks(table.stacks)
    rows = parse_folded(text)
    assert sum(w for _, w in rows) == table.total
    assert len({";".join(s) for s, _ in rows}) == len(rows)  # one line per distinct stack
    # Root first in the text: the goroutine's entry point, not the leaf.
    assert all(s[-1] != "main.spinCore" for s, _ in rows)
    again = function_table(rows)
    assert [(f.name, f.flat, f.cum) for f in again.functions] == [(f.name, f.flat, f.cum) for f in table.functions]


def test_speedscope_document(table):
    doc = speedscope(table.stacks, name="cpu-work", unit="nanoseconds")
    json.dumps(doc)  # JSON-ready
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    (prof,) = doc["profiles"]
    assert prof["type"] == "sampled" and prof["unit"] == "nanoseconds"
    assert prof["endValue"] == sum(prof["weights"]) == table.total
    frames = doc["shared"]["frames"]
    assert len(prof["samples"]) == len(prof["weights"])
    leaf_weight: dict[str, int] = {}
    for stack, w in zip(prof["samples"], prof["weights"]):
        assert all(0 <= i < len(frames) for i in stack)
        leaf = frames[stack[-1]]["name"]  # root first, leaf last
        leaf_weight[leaf] = leaf_weight.get(leaf, 0) + w
    assert leaf_weight["main.spinCore"] == table.get("main.spinCore").flat
    assert any(f.get("file", "").endswith("main.go") for f in frames)
    assert speedscope([], unit="count")["profiles"][0]["unit"] == "none"


@pytest.mark.parametrize("compressed", [True, False])
def test_saved_artifacts_open_in_go_tool_pprof(tmp_path, table, compressed):
    data = CPU.read_bytes() if compressed else gzip.decompress(CPU.read_bytes())
    paths = save_profile_artifacts(data, table.stacks, tmp_path / "out", "test_hot", unit=table.unit)
    assert sorted(p.name for p in paths.values()) == ["test_hot.folded", "test_hot.pb.gz", "test_hot.speedscope.json"]
    assert gzip.decompress(paths["pprof"].read_bytes()) == gzip.decompress(CPU.read_bytes())
    go = shutil.which("go")
    assert go, "go is required"
    top = subprocess.run([go, "tool", "pprof", "-symbolize=none", "-top", str(paths["pprof"])],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "main.spinCore" in top
    assert paths["folded"].read_text() == folded_stacks(table.stacks)


# -- the assertion helper -------------------------------------------------------------------------


def test_assert_hot_share_passes_and_returns_the_share(table):
    share = assert_hot_share(table, "main.spinCore", max_share=0.9)
    assert share == table.hot_share("main.spinCore")
    assert assert_hot_share(table, "main.checksum", min_share=0.5, cum=True) > 0.5


def test_assert_hot_share_failure_message(table):
    share = table.hot_share("main.spinCore")
    with pytest.raises(GoperfAssertionError) as info:
        assert_hot_share(table, "main.spinCore", max_share=0.10)
    msg = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert f"main.spinCore took {share * 100:.2f}% of cpu (flat), above the limit of 10.00%" in msg
    # The hottest functions follow, with their class.
    assert re.search(r"\d+\.\d\d%\s+\d+\.\d\d%\s+user\s+main\.hashPayload", msg)


def test_assert_hot_share_flags_an_absent_function(table):
    with pytest.raises(GoperfAssertionError, match=r"main.spincore took 0.00%.*below the minimum.*check the function name"):
        assert_hot_share(table, "main.spincore", min_share=0.01)


def test_assert_hot_share_pattern_and_profile_input():
    p = read_profile((SAMPLES / "go1.27.3" / "cpu-alloc.pb.gz").read_bytes())
    with pytest.raises(GoperfAssertionError, match=r"/\^runtime\\\.\/ took .* \(flat\), above"):
        assert_hot_share(p, re.compile(r"^runtime\."), max_share=0.2)


def test_assert_hot_share_needs_a_limit(table):
    with pytest.raises(ValueError, match="max_share"):
        assert_hot_share(table, "main.spinCore")
    with pytest.raises(ValueError, match="between 0 and 1"):
        assert_hot_share(table, "main.spinCore", max_share=30)
