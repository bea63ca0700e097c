"""Decoding real pprof files, and refusing broken ones with our own error."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from pytest_goperf.cli.analyze import analyze_bytes, detect_kind
from pytest_goperf.cli.main import main as goperf_main
from pytest_goperf.errors import GoperfError, ProfileParseError
from pytest_goperf.formats.profile._decode import looks_like_profile, read_profile

SAMPLES = Path(__file__).parent / "samples" / "profiles"
CPU = SAMPLES / "go1.26.8" / "cpu-work.pb.gz"
PROFILES = sorted(SAMPLES.glob("*/*.pb.gz"))


def test_gzipped_and_uncompressed_decode_alike():
    data = CPU.read_bytes()
    assert read_profile(data) == read_profile(gzip.decompress(data))


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_is_recognised_as_a_profile(path: Path):
    data = path.read_bytes()
    assert detect_kind(data) == "profile"
    assert looks_like_profile(data)
    # Go's encoder does not write fields in number order: an uncompressed CPU
    # profile starts with field 9 (time_nanos), a heap profile with field 11.
    raw = gzip.decompress(data)
    assert raw[0] in (0x48, 0x5A)
    assert looks_like_profile(raw)
    assert analyze_bytes(raw, "profile").to_json()["kind"] == "profile"


def test_text_is_not_taken_for_a_profile():
    for text in (b"goroutine 1 [running]:\n", b"go 1.23 trace\x00", b"hello", b"{}", b"\x89PNG"):
        assert not looks_like_profile(text)


def test_cpu_profile_records():
    p = read_profile(CPU.read_bytes())
    assert p.kind == "cpu"
    assert 2.5 < p.duration_seconds < 4  # captured with seconds=3
    assert p.time_nanos > 1_700_000_000 * 10**9
    # The service labels handlers with pprof.Do(..., Labels("route", ...)).
    routes = {s.label("route") for s in p.samples}
    assert "work" in routes
    # The executable is the first mapping, with symbols.
    assert p.mappings[0].filename.endswith("goperf-demo") and p.mappings[0].has_functions
    # Inlined frames: some location holds several lines, the caller last.
    inlined = [loc for loc in p.locations if len(loc.lines) > 1]
    assert inlined
    names = {ln.function.name for loc in p.locations for ln in loc.lines}
    assert {"main.spinCore", "main.hashPayload", "net/http.(*conn).serve"} <= names


def test_heap_profile_sample_types_and_default():
    p = read_profile((SAMPLES / "go1.27.3" / "heap.pb.gz").read_bytes())
    assert [vt.type for vt in p.sample_types] == ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]
    assert p.kind == "heap" and p.sample_types[p.default_sample_index].type == "inuse_space"
    a = read_profile((SAMPLES / "go1.27.3" / "allocs.pb.gz").read_bytes())
    assert a.kind == "allocs" and a.sample_types[a.default_sample_index].type == "alloc_space"
    with pytest.raises(GoperfError, match="no sample type 'cpu'.*alloc_objects"):
        p.sample_index("cpu")


def test_empty_mutex_profile_is_valid():
    p = read_profile((SAMPLES / "go1.22.10" / "mutex.pb.gz").read_bytes())
    assert p.kind == "contentions" and p.samples == () and p.total() == 0


def test_goroutine_profile_counts():
    p = read_profile((SAMPLES / "go1.27.3" / "goroutine.pb.gz").read_bytes())
    assert p.kind == "goroutine"
    # The capture script parked 5 leak-global goroutines before fetching.
    waiting = sum(s.values[0] for s in p.samples if any(
        ln.function.name == "main.globalWaiter" for loc in s.locations for ln in loc.lines))
    assert waiting == 5


# -- broken input ---------------------------------------------------------------------------


def test_empty_input():
    with pytest.raises(ProfileParseError, match="empty"):
        read_profile(b"")


def test_every_truncated_gzip_is_refused():
    data = CPU.read_bytes()
    for cut in range(2, len(data) - 1, max(1, len(data) // 150)):
        with pytest.raises(ProfileParseError, match="truncated|corrupt|no data"):
            read_profile(data[:cut])


def test_truncated_protobuf_never_escapes_as_another_error():
    raw = gzip.decompress(CPU.read_bytes())
    refused = 0
    cuts = range(1, len(raw), max(1, len(raw) // 400))
    for cut in cuts:
        try:
            read_profile(raw[:cut])
        except ProfileParseError as exc:
            refused += 1
            assert "byte offset" in str(exc), exc
    # Go writes the string table last, so nearly every prefix lacks strings it refers to.
    assert refused >= 0.95 * len(cuts)


def test_corrupted_bytes_raise_only_our_error():
    raw = bytearray(gzip.decompress(CPU.read_bytes()))
    rng = random.Random(4)
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(300):
        mutated = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        try:
            read_profile(bytes(mutated))
            outcomes["ok"] += 1
        except ProfileParseError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 30, outcomes


def _field(number: int, wire_type: int, payload: bytes) -> bytes:
    key = bytes([(number << 3) | wire_type])
    return key + (bytes([len(payload)]) + payload if wire_type == 2 else payload)


def test_bad_string_index_is_named():
    # sample_type {type: 5, unit: 6} with a two-entry string table.
    data = _field(1, 2, b"\x08\x05\x10\x06") + _field(6, 2, b"") + _field(6, 2, b"cpu")
    with pytest.raises(ProfileParseError, match=r"ValueType.type refers to string #5.*2 entries"):
        read_profile(data)


def test_group_wire_type_is_refused_with_offset():
    data = _field(6, 2, b"") + bytes([(3 << 3) | 3])
    with pytest.raises(ProfileParseError, match=r"wire type 3 \(group start\).*byte offset 2"):
        read_profile(data)


def test_sample_with_wrong_number_of_values():
    data = (_field(1, 2, b"\x08\x01\x10\x01") + _field(2, 2, b"\x10\x01\x10\x02")
            + _field(6, 2, b"") + _field(6, 2, b"count"))
    with pytest.raises(ProfileParseError, match="2 values but the profile declares 1 sample types"):
        read_profile(data)


def test_sample_with_unknown_location():
    data = _field(1, 2, b"\x08\x01\x10\x01") + _field(2, 2, b"\x08\x07\x10\x01") + _field(6, 2, b"") + _field(6, 2, b"n")
    with pytest.raises(ProfileParseError, match="location 7, which is not defined"):
        read_profile(data)


def test_length_past_the_end():
    data = _field(6, 2, b"") + bytes([(2 << 3) | 2, 50]) + b"\x08\x01"
    with pytest.raises(ProfileParseError, match="claims 50 bytes but only 2 remain"):
        read_profile(data)


def test_not_a_profile_at_all():
    with pytest.raises(GoperfError, match="not a file goperf can read"):
        analyze_bytes(b"\x89PNG\r\n\x1a\n....")
    with pytest.raises(ProfileParseError, match="gzip stream is corrupt"):
        read_profile(b"\x1f\x8bnot really gzip")


# -- goperf analyze ---------------------------------------------------------------------------


def test_goperf_analyze_json(capsys):
    assert goperf_main(["analyze", "--json", str(CPU)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "profile" and doc["profile_type"] == "cpu"
    assert doc["sample_type"] == "cpu" and doc["unit"] == "nanoseconds"
    p = read_profile(CPU.read_bytes())
    assert doc["total"] == p.total()
    fns = doc["functions"]
    assert [f["flat"] for f in fns] == sorted((f["flat"] for f in fns), reverse=True)
    for f in fns:
        assert {"name", "flat", "cum", "flat_share", "cum_share", "class"} <= set(f)
        assert f["class"] in {"user", "stdlib", "runtime", "module", "syscall"}
        assert f["flat_share"] == pytest.approx(f["flat"] / doc["total"])
    spin = next(f for f in fns if f["name"] == "main.spinCore")
    assert spin["class"] == "user" and spin["flat_share"] > 0.3
    assert sum(c["flat_share"] for c in doc["classes"].values()) == pytest.approx(1.0)


def test_goperf_analyze_text_and_errors(capsys, tmp_path):
    assert goperf_main(["analyze", str(SAMPLES / "go1.26.8" / "cpu-alloc.pb.gz")]) == 0
    out = capsys.readouterr().out
    assert "Warning: allocation storm" in out and "runtime.mallocgc" not in out.split("Warning")[0]
    broken = tmp_path / "cut.pb.gz"
    broken.write_bytes(CPU.read_bytes()[:500])
    assert goperf_main(["analyze", str(broken)]) == 2
    assert "goperf: error:" in capsys.readouterr().err


# -- hardening (issue 13): each reproducer, its error --------------------------------------------


def test_profile_without_sample_types_is_refused_by_name():
    # Two bytes: a string table holding only "" (field 6, empty), no sample types, no samples.
    with pytest.raises(ProfileParseError, match="declares no sample types"):
        read_profile(b"\x32\x00")
    with pytest.raises(ProfileParseError, match="declares no sample types"):
        analyze_bytes(b"\x32\x00")  # sniffed as a profile, refused by the decoder, not an IndexError


@pytest.mark.parametrize("text", [
    b"heap profile: 1: 2 [3: 4] @ heap/1048576\n1: 2 [3: 4] @ 0x1 0x2\n",  # heap?debug=1, pre-1.9 heap
    b"--- contentionz 1 ---\ncycles/second = 3000000000\n",
    b"--- mutex:\ncycles/second=2000000000\nsampling period=1\n",
    b"threadcreate profile: total 7\n",
])
def test_legacy_text_profiles_are_named(text):
    with pytest.raises(ProfileParseError, match="legacy text profile format, not supported; capture with a current Go"):
        analyze_bytes(text)
    with pytest.raises(ProfileParseError, match="legacy text profile format"):
        read_profile(gzip.compress(text))


def test_legacy_binary_cpu_profile_is_named():
    # runtime/pprof's pre-protobuf CPU profile: native words 0, 3, 0, period (us), 0, then samples.
    header = b"".join(w.to_bytes(8, "little") for w in (0, 3, 0, 10000, 0))
    with pytest.raises(ProfileParseError, match="legacy binary CPU profile format, not supported"):
        analyze_bytes(header + (1).to_bytes(8, "little") * 3)


def test_gzip_bomb_is_stopped_at_the_cap():
    from pytest_goperf.formats.profile import _decode

    bomb = gzip.compress(b"\0" * (4 << 20))  # 4 MiB of zeros, 4 KiB compressed
    with pytest.raises(ProfileParseError, match="expands beyond 1 MiB.*gzip bomb") as info:
        _decode.decompress(bomb, limit=1 << 20)
    assert "gzip file of" in info.value.where
    assert _decode.MAX_DECOMPRESSED >= 64 << 20  # far above any real profile


def test_gzip_bomb_memory_stays_near_the_cap(tmp_path):
    """A 1 MB gzip of 1 GiB of zeros: refused with at most the cap (256 MiB) in memory, not 2 GB."""
    import subprocess
    import sys

    bomb = tmp_path / "bomb.pb.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as fh:
        chunk = b"\0" * (1 << 20)
        for _ in range(1024):
            fh.write(chunk)
    code = ("import resource, sys\n"
            "from pytest_goperf.cli.main import main\n"
            "rc = main(['analyze', sys.argv[1]])\n"
            "print(rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n")
    out = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True, text=True, timeout=120)
    rc, peak_mb = map(int, out.stdout.split())
    assert rc == 2 and "goperf: error: the gzip stream expands beyond 256 MiB" in out.stderr
    assert peak_mb < 450, peak_mb


def test_line_without_function_is_unknown_as_pprof_names_it():
    from pytest_goperf.analysis.functions import profile_table

    # sample_type {count/count}; location 1 with a line of function id 0; one sample on it.
    line = _field(1, 0, b"\x00") + _field(2, 0, b"\x07")  # Line{function_id: 0, line: 7}
    location = _field(1, 0, b"\x01") + _field(4, 2, line)
    sample = _field(1, 0, b"\x01") + _field(2, 0, b"\x05")
    data = (_field(1, 2, b"\x08\x01\x10\x01") + _field(4, 2, location) + _field(2, 2, sample)
            + _field(6, 2, b"") + _field(6, 2, b"count"))
    table = profile_table(read_profile(data))
    assert [f.name for f in table.functions] == ["<unknown>"]
    assert table.functions[0].flat == 5


def test_error_offsets_never_exceed_the_data():
    """Every 'byte offset N' in an error of a damaged profile lies inside the (uncompressed) bytes."""
    import re

    raw = gzip.decompress(CPU.read_bytes())
    rng = random.Random(13)
    for _ in range(300):
        mutated = bytearray(raw[: rng.randrange(2, len(raw))])
        for _ in range(rng.randint(1, 6)):
            mutated[rng.randrange(len(mutated))] = rng.choice((0xFF, 0x80, 0x00, rng.randrange(256)))
        try:
            read_profile(bytes(mutated))
        except ProfileParseError as exc:
            m = re.search(r"byte offset (\d+)", exc.where or "")
            assert m is None or int(m.group(1)) <= len(mutated), (exc, len(mutated))


def test_wrong_wire_type_names_the_field_start_not_its_value():
    # Profile field 3 (mapping) written as fixed64 at byte 2: its value is no offset.
    data = _field(6, 2, b"") + bytes([(3 << 3) | 1]) + b"\xff" * 7 + b"\x7f"
    with pytest.raises(ProfileParseError, match="field 3 should be length-delimited") as info:
        read_profile(data)
    assert info.value.where == "byte offset 2 of the uncompressed profile"
