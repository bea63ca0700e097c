"""Go's own trace reader tests (``internal/trace/testdata/tests/*.test``) run through our reader.

Each test file holds a trace in the text form of ``internal/trace/raw`` and
what Go's reader says of it (``SUCCESS``, or ``FAILURE "regexp"``). The text
is encoded here exactly as ``raw.Writer`` does (event byte, uvarint args,
stack frames, length-prefixed data), so the bytes are the ones Go's test feeds
its reader. Our reader must succeed where Go's does, fail where it fails, and
report the same first error where the order of errors matters.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_goperf.errors import TraceParseError
from pytest_goperf.formats.trace import _format as F
from pytest_goperf.formats.trace.reader import TraceReader

_NAMES = {spec.name: spec for spec in F.SPECS.values()}
_DATA = {"String", "ExperimentalBatch"}  # tracev2 HasData
_FRAME = ("pc", "func", "file", "line")


def _goroot_tests() -> Path | None:
    go = shutil.which("go")
    if go is None:
        return None
    root = subprocess.run([go, "env", "GOROOT"], capture_output=True, text=True, check=False).stdout.strip()
    d = Path(root) / "src" / "internal" / "trace" / "testdata" / "tests"
    return d if d.is_dir() else None


TESTS = _goroot_tests()


def _uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _args(text: str, names: tuple[str, ...] | list[str]) -> list[int]:
    toks = text.split("#", 1)[0].split()
    got = [t.split("=", 1) for t in toks]
    assert [k for k, _ in got] == list(names), (text, names)
    return [int(v) for _, v in got]


def encode(text: str) -> bytes:
    """The binary trace of ``raw``'s text form (``Trace Go1.NN`` then one event a line)."""
    lines = [ln for ln in text.splitlines() if ln.split("#", 1)[0].strip()]
    m = re.fullmatch(r"\s*Trace Go1\.(\d+)\s*", lines[0])
    assert m, lines[0]
    out = bytearray(f"go 1.{m.group(1)} trace".encode().ljust(16, b"\0"))
    i = 1
    while i < len(lines):
        name, _, rest = lines[i].strip().partition(" ")
        spec = _NAMES[name]
        i += 1
        args = _args(rest, spec.args)
        out.append(spec.code)
        out += b"".join(_uvarint(a) for a in args)
        if name == "Stack":
            for _ in range(args[1]):
                out += b"".join(_uvarint(a) for a in _args(lines[i], _FRAME))
                i += 1
        if name in _DATA:
            key, _, quoted = lines[i].partition("=")
            assert key.strip() == "data", lines[i]
            data = ast.literal_eval("b" + quoted.strip()) if quoted.strip() else b""
            out += _uvarint(len(data)) + data
            i += 1
    return bytes(out)


def _parse_test(path: Path) -> tuple[str, str | None, str]:
    """(expectation, failure regexp, trace text) of a .test file (txtar: -- expect --, -- trace --)."""
    parts = re.split(r"^-- (\w+) --\n", path.read_text(), flags=re.M)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    expect = sections["expect"].strip()
    m = re.fullmatch(r'FAILURE "(.*)"', expect)
    return ("FAILURE", m.group(1), sections["trace"]) if m else (expect, None, sections["trace"])


def _read_all(data: bytes) -> int:
    return sum(1 for _ in TraceReader(data).events())


CASES = sorted(TESTS.glob("*.test")) if TESTS else []
# Test traces written for a format this reader does not know (none at present) are skipped.
needs_go = pytest.mark.skipif(not CASES, reason="Go's source tree (GOROOT/src/internal/trace/testdata) not found")


@needs_go
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_go_reader_test_agrees(path: Path):
    expect, _pattern, text = _parse_test(path)
    data = encode(text)
    if expect == "SUCCESS":
        assert _read_all(data) > 0
    else:
        with pytest.raises(TraceParseError):
            _read_all(data)


@needs_go
def test_errors_in_file_order_first_generation_first():
    """go122-fail-first-gen-first: a semantic error in generation 1, then a truncated generation 2.

    Go reports the generation-1 error ("expected a proc but didn't have one"); so must we,
    not the truncation that comes later in the file.
    """
    expect, pattern, text = _parse_test(TESTS / "go122-fail-first-gen-first.test")
    assert expect == "FAILURE" and "proc" in pattern
    data = encode(text)
    events = []
    with pytest.raises(TraceParseError) as info:
        for ev in TraceReader(data).events():
            events.append(ev)
    assert "truncated" not in str(info.value), info.value
    assert "generation 1" in str(info.value), info.value
    assert re.search(r"\bP\b|proc", str(info.value)), info.value


def test_generation_whose_event_batches_are_all_empty():
    """Found by fuzzing (bench/fuzz trace): an empty M batch was an IndexError in the decoder."""
    text = """Trace Go1.22
EventBatch gen=1 m=0 time=0 size=5
Frequency freq=15625000
EventBatch gen=1 m=0 time=0 size=0
"""
    data = encode(text)
    assert _read_all(data) >= 1  # the Sync points, nothing else
