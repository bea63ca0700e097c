"""The fuzz targets: one function per reader, bytes in, a GoperfError or nothing out.

Each target feeds the bytes through the path a user's file takes (``goperf
analyze`` for dumps, traces and profiles; the baseline store's reader and a
comparison of what it read; ``load_config`` for a pyproject.toml) and renders
the result, so a failure anywhere between reading and reporting counts. A
:class:`~pytest_goperf.GoperfError` is the expected answer to bad input; any
other exception, a hang (per-input time limit) or running out of memory
(memory limit) is a finding.

Used by ``bench/fuzz/fuzz.py`` (atheris) and by the seed checks of the default
suite (``tests/test_fuzz_targets.py``), which runs every seed through every target once.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pytest_goperf.errors import GoperfError, ParseError

REPO = Path(__file__).resolve().parent.parent.parent
SAMPLES = REPO / "tests" / "samples"
# Scratch files (a baseline file, a pyproject.toml) go to memory-backed storage where there is one.
_SCRATCH = Path(tempfile.mkdtemp(prefix="goperf-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))


@dataclass(frozen=True)
class Target:
    """One reader under fuzzing: its entry point and where its seeds come from."""

    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], Iterator[bytes]]
    max_len: int  # longest input the fuzzer makes (bytes)


def _expected(fn: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """``fn`` with GoperfError (the documented answer to bad input) swallowed."""

    def run(data: bytes) -> None:
        with contextlib.suppress(GoperfError):
            fn(data)

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def _files(*patterns: str) -> Callable[[], Iterator[bytes]]:
    def seeds() -> Iterator[bytes]:
        for pattern in patterns:
            for path in sorted(SAMPLES.glob(pattern)):
                yield path.read_bytes()

    return seeds


def _analyze(kind: str) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        from pytest_goperf.cli.analyze import analyze_bytes

        summary = analyze_bytes(data, kind)
        summary.to_json()
        summary.to_text()

    run.__name__ = f"analyze_{kind}"
    return run


def _dump(data: bytes) -> None:
    """Goroutine dumps (debug=1, debug=2) and crash logs, as ``goperf analyze`` and leak checks read them."""
    from pytest_goperf.formats.goroutines import parse_crash, parse_goroutine_profile, parse_goroutines

    _analyze("goroutines")(data)
    text = data.decode("utf-8", "replace")
    for parse in (parse_goroutines, parse_crash, parse_goroutine_profile):
        with contextlib.suppress(GoperfError):
            parse(text)


class OffsetBeyondData(AssertionError):
    """An error names a byte offset past the end of the bytes it read: a finding, not an answer."""


def _check_offset(exc: ParseError, size: int) -> None:
    m = re.search(r"byte (?:offset )?(\d+)", exc.where or "")
    if m and int(m.group(1)) > size:
        raise OffsetBeyondData(f"offset {m.group(1)} > {size} bytes: {exc}") from exc


def _profile(data: bytes) -> None:
    """pprof profiles, gzipped or not: decode, function table, summary; error offsets inside the data."""
    from pytest_goperf.formats.profile._decode import decompress
    from pytest_goperf.formats.sniff import sniff

    sniff(data)
    try:
        _analyze("profile")(data)
    except ParseError as exc:
        try:
            size = len(decompress(data))
        except ParseError:
            size = len(data)
        _check_offset(exc, size)
        raise


def _trace(data: bytes) -> None:
    """Execution traces: read, order and every scheduler metric; error offsets inside the data."""
    try:
        _analyze("trace")(data)
    except ParseError as exc:
        _check_offset(exc, len(data))
        raise


def _build_info(data: bytes) -> None:
    """The build-information blob of a Go binary (``read_build_info``)."""
    from pytest_goperf.formats.profile._buildinfo import read_build_info

    info = read_build_info(data)
    _ = (info.main_module, info.deps, info.settings)


def _baseline(data: bytes) -> None:
    """A baseline file: read it, then run the gate of every stored test against fixed current rounds.

    What a session's end does (``evaluate``): each stored metric is compared
    with five current rounds under its catalogue policy (a name not in the
    catalogue is compared on a plain and a log scale).
    """
    from pytest_goperf.baseline.store import read_baseline_file
    from pytest_goperf.comparison.stats import ComparisonPolicy
    from pytest_goperf.comparison.verdict import MetricSample, TestMeasurement, evaluate

    path = _SCRATCH / "tests__test_fuzz.py.json"
    path.write_bytes(data)
    stored = read_baseline_file(path)
    current = (10.0, 11.0, 10.5, 12.0, 9.5)
    tests = []
    for nodeid, tb in stored.items():
        _ = [m.median for m in tb.metrics.values()]
        metrics = {}
        for name, m in tb.metrics.items():
            log = sum(map(ord, name)) % 2 == 1
            policy = ComparisonPolicy(name=name, unit=m.unit, worse=m.worse, log_scale=log)
            metrics[name] = MetricSample(policy, current)
        tests.append(TestMeasurement(nodeid, metrics, tb.environment))
    result = evaluate(tests, dict(stored))
    result.to_json()
    from pytest_goperf.report.text import baseline_text, gate_lines

    gate_lines(result)
    for nodeid, tb in stored.items():
        baseline_text(nodeid, tb)


def _config(data: bytes) -> None:
    """A pyproject.toml's [tool.goperf] table, validated as at start-up."""
    from pytest_goperf.config import load_config

    root = _SCRATCH / "project"
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_bytes(data)
    load_config(root)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("dump", _expected(_dump), _files("goroutines/*.txt"), 64 * 1024),
        Target("trace", _expected(_trace), lambda: _trace_seeds(), 16 * 1024),
        Target("profile", _expected(_profile), _files("profiles/*/*.pb.gz"), 32 * 1024),
        Target("buildinfo", _expected(_build_info), _files("profiles/*/buildinfo.bin"), 8 * 1024),
        Target("baseline", _expected(_baseline), lambda: _baseline_seeds(), 8 * 1024),
        Target("config", _expected(_config), lambda: _config_seeds(), 8 * 1024),
    )
}


def _trace_seeds() -> Iterator[bytes]:
    """The small traces of ``bench/fuzz/seeds/`` (made by ``make_seeds.py``), then the samples' heads.

    A sample cut after its first generations keeps the fuzzer's inputs small
    (a whole sample takes 20-50 ms to read; a seed of a few KB well under 5 ms).
    """
    seed_dir = Path(__file__).parent / "seeds" / "trace"
    for path in sorted(seed_dir.glob("*.trace")):
        yield path.read_bytes()
    for path in sorted((SAMPLES / "traces").glob("*.trace")):
        yield path.read_bytes()[: 16 * 1024]


def _baseline_seeds() -> Iterator[bytes]:
    from pytest_goperf.baseline.environment import Environment
    from pytest_goperf.baseline.store import MetricBaseline, TestBaseline, dumps

    env = Environment(go_version="go1.26.8", gomaxprocs=2, cpu_model="x", cpu_count=2, os="linux",
                      build_flags=(), commit="abc", plugin_version="0.1.0")
    yield dumps({
        "tests/test_api.py::test_get": TestBaseline(
            {"runnable.p99": MetricBaseline((3, 4, 5, 4, 3), "goroutines", "higher"),
             "throughput": MetricBaseline((1000.5, 990.25, 1010.0), "req/s", "lower")},
            env, "2026-01-01T00:00:00Z"),
        "tests/test_api.py::test_one": TestBaseline({"latency.p99": MetricBaseline((1.5,), "ms")}, None, None),
    }).encode()
    yield dumps({}).encode()


def _config_seeds() -> Iterator[bytes]:
    yield (REPO / "pyproject.toml").read_bytes()
    yield b"""[tool.goperf]
package = "./cmd/server"
args = ["-addr", "{addr}", "-pprof", "{pprof_addr}"]
env = { GOGC = "100" }
ready_path = "/healthz"
start_timeout = 5
url = "http://127.0.0.1:8080"
pprof_url = "http://127.0.0.1:6060"
[tool.goperf.leak]
settle_timeout = 1.5
check_all_tests = true
[[tool.goperf.leak.ignore]]
top_function = "re:main\\\\.worker.*"
state = "select"
[tool.goperf.gate]
alpha = 0.01
method = "holm"
strict_environment = false
"""
