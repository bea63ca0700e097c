"""Bad input: old or unknown versions, truncation and corruption raise TraceParseError naming where."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from pytest_goperf.analysis.trace_metrics import compute_metrics
from pytest_goperf.errors import TraceParseError
from pytest_goperf.formats.trace.reader import TraceReader

SAMPLES = Path(__file__).parent / "samples" / "traces"


def _read(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _offset(err: TraceParseError) -> int:
    m = re.search(r"byte (\d+)", err.where or "")
    assert m, f"error names no byte offset: {err}"
    return int(m.group(1))


def test_go121_trace_is_refused_with_its_version():
    data = _read("go1.21-p2.trace")
    assert data.startswith(b"go 1.21 trace")  # really written by Go 1.21's runtime
    with pytest.raises(TraceParseError, match=r"go 1\.21.*Go 1\.22 or newer") as info:
        compute_metrics(data)
    assert info.value.where == "byte 0"


@pytest.mark.parametrize("minor", [24, 27, 30, 99])
def test_unknown_format_version_is_refused(minor):
    # 1.24 and 1.27 are Go releases, not formats: their runtimes write go 1.23 and go 1.26.
    data = _read("go1.27-p2.trace")
    forged = f"go 1.{minor} trace".encode().ljust(16, b"\0") + data[16:]
    with pytest.raises(TraceParseError, match=rf"unknown trace format go 1\.{minor}"):
        TraceReader(forged)


def test_not_a_trace():
    with pytest.raises(TraceParseError, match="not a Go execution trace"):
        TraceReader(b"\x1f\x8b\x08\x00" + b"\0" * 40)
    with pytest.raises(TraceParseError, match="not a Go execution trace"):
        TraceReader(b"go 1.2")


@pytest.mark.parametrize("name", ["go1.22-p2.trace", "go1.25-p4-cpu.trace", "go1.27-p2.trace"])
def test_truncated_inside_a_batch_names_the_batch(name):
    data = _read(name)
    cut = len(data) - 7  # inside the last batch
    with pytest.raises(TraceParseError, match="truncated") as info:
        compute_metrics(data[:cut])
    assert 16 <= _offset(info.value) <= cut


@pytest.mark.parametrize("name", ["go1.26-p4-cpu.trace", "go1.27-p2.trace"])
def test_any_cut_of_a_go126_trace_is_detected(name):
    """From 1.26 every generation ends with a marker, so any cut at all is detectable."""
    data = _read(name)
    rng = random.Random(7)
    for cut in [16, 17, len(data) - 1] + [rng.randrange(17, len(data)) for _ in range(12)]:
        with pytest.raises(TraceParseError) as info:
            compute_metrics(data[:cut])
        assert _offset(info.value) <= cut


def test_corrupt_batch_header_names_its_offset():
    data = bytearray(_read("go1.23-p2.trace"))
    data[16] = 0x7E  # the first batch's header byte
    with pytest.raises(TraceParseError, match="expected a batch header") as info:
        compute_metrics(bytes(data))
    assert _offset(info.value) == 16


def test_unknown_event_type_is_reported():
    data = bytearray(_read("go1.22-p2.trace"))
    # Find the first ordinary event batch and overwrite its first event type with a
    # code that the go 1.22 format does not have (45 = GoSwitch came with 1.23).
    reader = TraceReader(bytes(data))
    from pytest_goperf.formats.trace._wire import _read_batch

    pos = 16
    while True:
        batch, _gen, nxt = _read_batch(bytes(data), pos, len(data))
        if batch is not None and batch.m != -1 and data[batch.start] not in (2, 4, 6, 8):
            break
        pos = nxt
    data[batch.start] = 45
    with pytest.raises(TraceParseError, match="unknown event type 45 for format go 1.22"):
        compute_metrics(bytes(data))
    assert reader.version == 22


@pytest.mark.parametrize("name", ["go1.23-p4-cpu.trace", "go1.27-p2.trace"])
def test_random_damage_never_escapes_as_another_exception(name):
    """Cut, overwrite or delete bytes: the reader finishes or raises TraceParseError, nothing else."""
    data = _read(name)
    rng = random.Random(name)
    outcomes = {"ok": 0, "error": 0}
    for trial in range(30):
        d = bytearray(data)
        kind = trial % 3
        if kind == 0:
            d = d[: rng.randrange(0, len(d))]
        elif kind == 1:
            for _ in range(rng.choice((1, 3))):
                d[rng.randrange(len(d))] = rng.randrange(256)
        else:
            i = rng.randrange(16, len(d))
            del d[i : i + rng.randrange(1, 50)]
        try:
            compute_metrics(bytes(d))
            outcomes["ok"] += 1
        except TraceParseError as e:
            assert e.where, f"error without a location: {e}"
            outcomes["error"] += 1
    assert outcomes["error"] > 0


def _uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def _shift_batch_times(data: bytes, by: int) -> bytes:
    """The trace with every batch's base timestamp moved by ``by`` ticks (headers re-encoded)."""
    from pytest_goperf.formats.trace._wire import _read_batch

    out = bytearray(data[:16])
    pos = 16
    while pos < len(data):
        batch, gen, nxt = _read_batch(data, pos, len(data))
        if batch is None:
            out += data[pos:nxt]
        else:
            head = data[pos : pos + (2 if data[pos] == 49 else 1)]
            m = batch.m if batch.m != -1 else (1 << 64) - 1
            out += (head + _uvarint(gen) + _uvarint(m) + _uvarint(batch.time + by)
                    + _uvarint(batch.end - batch.start) + data[batch.start : batch.end])
        pos = nxt
    return bytes(out)


@pytest.mark.parametrize("name", ["go1.22-p2.trace", "go1.26-p2.trace"])
def test_event_time_beyond_int64_is_a_trace_error(name):
    """Issue 13: batch times beyond int64 raised OverflowError from the ordering (goperf analyze: traceback)."""
    data = _shift_batch_times(_read(name), 1 << 63)
    with pytest.raises(TraceParseError, match=r"beyond 2\^62 ns.*damaged") as info:
        compute_metrics(data)
    assert "generation" in info.value.where
    assert sum(compute_metrics(_shift_batch_times(_read(name), 0)).transitions.values()) > 0  # the rewrite itself is faithful


def test_event_time_beyond_int64_in_goperf_analyze(tmp_path, capsys):
    from pytest_goperf.cli.main import main

    path = tmp_path / "late.trace"
    path.write_bytes(_shift_batch_times(_read("go1.27-p2.trace"), (1 << 64) - (1 << 40)))
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("goperf: error: corrupt trace: an event time") and err.count("\n") == 1
