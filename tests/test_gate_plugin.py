"""The regression gate as CI sees it: baselines refreshed, a real regression blocks, A/A passes.

The regression is real: the example service's -extra-cpu knob doubles the work
of main.hashPayload. Each inner run builds and starts the service.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "go-service"

TEST = """
import pytest

@pytest.mark.goperf(
    load="/work?n=500", concurrency=2, rounds=5, window=1, warmup=0.2,
    gate=["cpu_per_request:main.hashPayload", "errors"],
    floors={"cpu_per_request:main.hashPayload": 0.25},
)
def test_checksum(goperf):
    goperf.measure()
"""


@pytest.fixture
def gate_project(pytester, inner_go_env, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)

    def configure(extra_args: str = "") -> None:
        args = '["-addr", "{addr}"' + (f', {extra_args}' if extra_args else "") + "]"
        pytester.makepyprojecttoml(f'[tool.goperf]\npackage = "{EXAMPLE}"\nargs = {args}\n')

    configure()
    pytester.makepyfile(test_gated=textwrap.dedent(TEST))
    return configure


def test_update_then_regression_then_a_a(pytester, gate_project, tmp_path, monkeypatch):
    first = pytester.runpytest("--goperf-update-baselines")
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["*baselines updated for 1 test(s) in .goperf*baselines*"])
    stored = json.loads((pytester.path / ".goperf" / "baselines" / "test_gated.py.json").read_text())
    values = stored["tests"]["test_gated.py::test_checksum"]["metrics"]["cpu_per_request:main.hashPayload"]["values"]
    assert len(values) == 5

    # 100 % more work in main.hashPayload: the gate must block.
    gate_project('"-extra-cpu", "1.0"')
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report = tmp_path / "report.json"
    regressed = pytester.runpytest(f"--goperf-report={report}")
    regressed.assert_outcomes(failed=1)  # a regression is a failed test, as CI screens read it
    assert regressed.ret == pytest.ExitCode.TESTS_FAILED
    regressed.stdout.fnmatch_lines(
        [
            "::error file=test_gated.py,line=*,title=goperf regression%3A cpu_per_request%3Amain.hashPayload::*",
            "*test_gated.py::test_checksum*cpu_per_request:main.hashPayload*regressed*",
            "*gate: 1 regressed*",
        ]
    )
    data = json.loads(report.read_text())
    assert data["failed"] is True
    [verdict] = [v for v in data["verdicts"] if v["metric"] == "cpu_per_request:main.hashPayload"]
    assert verdict["status"] == "regressed" and verdict["relative_change"] > 0.5
    assert "| test_gated.py::test_checksum | cpu_per_request:main.hashPayload |" in summary.read_text()

    # The same build as the baseline (A/A): no alarm.
    gate_project()
    monkeypatch.delenv("GITHUB_ACTIONS")
    same = pytester.runpytest()
    same.assert_outcomes(passed=1)
    assert same.ret == pytest.ExitCode.OK, same.stdout.str()
    same.stdout.fnmatch_lines(["*gate: 0 regressed*"])


def test_corrupt_baseline_fails_the_run_and_is_kept(pytester, gate_project):
    baselines = pytester.path / ".goperf" / "baselines"
    baselines.mkdir(parents=True)
    corrupt = baselines / "test_gated.py.json"
    corrupt.write_text('{"format": "pytest-goperf-baseline", "version": 1, "tests": {')
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*goperf gate error:*test_gated.py.json*"])
    assert corrupt.read_text().endswith('"tests": {')  # never overwritten
    update = pytester.runpytest("--goperf-update-baselines")
    assert update.ret == pytest.ExitCode.TESTS_FAILED
    assert corrupt.read_text().endswith('"tests": {')


def test_no_baseline_is_reported_not_failed(pytester, gate_project):
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["no baseline for 2 metric(s) of 1 test(s) (test_gated.py::test_checksum): record them with*", "*0 regressed*2 no baseline*"]
    )
