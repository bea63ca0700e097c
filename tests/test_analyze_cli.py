"""`goperf analyze`: kind detection across the engines, and errors a user can act on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_goperf.cli.analyze import detect_kind
from pytest_goperf.cli.main import main
from pytest_goperf.errors import GoperfError

SAMPLES = Path(__file__).resolve().parent / "samples"


def first(pattern: str) -> Path:
    found = sorted(SAMPLES.glob(pattern))
    assert found, f"no sample matches {pattern}"
    return found[0]


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [
        ("goroutines/go1.27-load-debug2.txt", "goroutines"),
        ("goroutines/go1.22-load-debug1.txt", "goroutines"),
        ("goroutines/go1.27-crash.txt", "goroutines"),
        ("goroutines/go1.27-crash-cgo-signal.txt", "goroutines"),
        ("traces/go1.26-p4-cpu.trace", "trace"),
        ("profiles/**/cpu*.pb.gz", "profile"),
    ],
)
def test_every_kind_is_recognised_and_summarised(pattern, kind, capsys):
    path = first(pattern)
    assert detect_kind(path.read_bytes()) == kind
    assert main(["analyze", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == kind
    assert main(["analyze", str(path)]) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"hello world\n", "not a file goperf can read"),
        (b"go 1.19 trace\x00\x00\x00", "1.19"),
    ],
)
def test_unreadable_input_is_one_line_with_exit_status_2(tmp_path, capsys, content, message):
    path = tmp_path / "input"
    path.write_bytes(content)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("goperf: error: ") and message in err
    assert "Traceback" not in err


def test_missing_file(capsys):
    assert main(["analyze", "/nonexistent/dump.txt"]) == 2
    assert "cannot read /nonexistent/dump.txt" in capsys.readouterr().err


def test_unknown_kind_is_rejected():
    with pytest.raises(GoperfError, match="not a file goperf can read"):
        detect_kind(b"\x00\x01\x02")


@pytest.mark.parametrize("name", ["cpu-work.pb.gz", "allocs.pb.gz", "goroutine.pb.gz"])
def test_uncompressed_profiles_are_recognised(tmp_path, capsys, name):
    import gzip

    raw = gzip.decompress(first(f"profiles/go1.26.8/{name}").read_bytes())
    assert raw[:1] != b"\x0a"  # Go writes fields out of order: no fixed first byte
    path = tmp_path / "profile.pb"
    path.write_bytes(raw)
    assert main(["analyze", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["kind"] == "profile"
