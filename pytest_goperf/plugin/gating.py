"""The regression gate's pytest side: collect measurements (from xdist workers too), gate once, report."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import pytest

from ..errors import GoperfError
from .keys import CONFIG, MEASUREMENTS

__all__ = ["RunGate", "measured_test"]


def measured_test(item: pytest.Item, passed: bool) -> Any:
    """What ``item``'s measurements send to the gate: every metric's round values and its policy."""
    from ..baseline.environment import capture_environment
    from ..comparison.metrics import DEFAULT_GATE, get_metric
    from ..comparison.stats import ComparisonPolicy
    from ..comparison.verdict import MetricSample, TestMeasurement

    config = item.config.stash[CONFIG]
    samples: dict[str, MetricSample] = {}
    env = None
    for m in item.stash.get(MEASUREMENTS, []):
        prefix = f"{m.extra['name']}/" if m.extra.get("name") else ""
        names = m.metric_names()
        gated = m.extra.get("gate")
        if gated is None:
            gated = tuple(m.tracked) or DEFAULT_GATE
        floors = m.extra.get("floors") or {}
        for name in dict.fromkeys([*names, *gated]):
            metric = get_metric(name)
            floor = floors.get(name)
            overrides: dict[str, Any] = {}
            if isinstance(floor, (int, float)):
                overrides["min_effect_rel"] = float(floor)
            elif isinstance(floor, Mapping):
                if "rel" in floor:
                    overrides["min_effect_rel"] = floor["rel"]
                if "abs" in floor:
                    overrides["min_effect_abs"] = floor["abs"]
            policy = ComparisonPolicy.of(metric, name=prefix + name, **overrides)
            samples[prefix + name] = MetricSample(policy, tuple(m.values(name)), gated=name in gated)
        if env is None:
            svc = m.extra.get("service")
            traced = [r.trace.gomaxprocs for r in m.rounds if r.trace is not None]
            env = capture_environment(
                go_version=getattr(svc, "go_version", None) or None,
                gomaxprocs=traced[0] if traced else None,
                build_flags=config.build_flags,
                root=config.root,
            )
    path, line, _ = item.location
    return TestMeasurement(item.nodeid, samples, env, passed, path, (line or 0) + 1)


class RunGate:
    """Collects measurements (in the xdist controller too) and runs the gate once at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tests = 0
        self.rounds = 0
        self.measured: list[Any] = []
        self.leaks: list[tuple[str, str, int | None, str]] = []
        self.evaluation: Any = None
        self.updated: list[str] = []
        self.error: str | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # user_properties travel with the report from xdist workers to the controller
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == "goperf_rounds":
                self.tests += 1
                self.rounds += int(value)
        payload = getattr(report, "goperf_measurement", None)
        if payload:
            from ..comparison.verdict import measurement_from_json

            self.measured.append(measurement_from_json(json.loads(payload)))
        if report.failed and "GoroutineLeakError" in report.longreprtext:
            text = report.longreprtext
            start = text.rfind("GoroutineLeakError: ")
            message = text[start + len("GoroutineLeakError: "):] if start >= 0 else text
            path, line, _ = report.location
            self.leaks.append((report.nodeid, path, (line or 0) + 1, message.strip().splitlines()[0]))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller gates the whole run
        from ..baseline.store import BaselineStore
        from ..comparison.verdict import evaluate, markdown_summary, to_baselines
        from ..config import resolve

        goperf_config = self.config.stash[CONFIG]
        store = BaselineStore(resolve(goperf_config, goperf_config.baselines))
        try:
            if self.config.getoption("goperf_update_baselines"):
                fresh = [t for t in self.measured if t.passed]
                if fresh:
                    store.update_many(to_baselines(fresh))
                self.updated = [t.nodeid for t in fresh]
            elif self.measured:
                self.evaluation = evaluate(
                    self.measured,
                    store,
                    alpha=goperf_config.gate_alpha,
                    method=goperf_config.gate_method,
                    strict_environment=goperf_config.strict_environment,
                )
        except GoperfError as exc:
            self.error = str(exc)
        if (self.error or (self.evaluation is not None and self.evaluation.failed)) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        report_path = self.config.getoption("goperf_report")
        if report_path and self.evaluation is not None:
            _write_atomically(Path(report_path), json.dumps(self.evaluation.to_json(), indent=2, sort_keys=True) + "\n")
        if os.environ.get("GITHUB_ACTIONS") == "true":
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary and self.evaluation is not None:
                with open(summary, "a", encoding="utf-8") as fh:
                    fh.write(markdown_summary(self.evaluation))

    def _annotations(self) -> list[str]:
        """GitHub Actions ``::error`` commands for leaks and regressions (each on a line of its own)."""
        if os.environ.get("GITHUB_ACTIONS") != "true" or hasattr(self.config, "workerinput"):
            return []
        from ..comparison.verdict import annotation, github_annotations

        lines = [annotation(path, line, "goroutine leak", f"{nodeid}: {msg}") for nodeid, path, line, msg in self.leaks]
        if self.evaluation is not None:
            lines += github_annotations(self.evaluation)
        return lines

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        annotations = self._annotations()
        if annotations:
            terminalreporter.write_line("")
            for line in annotations:
                terminalreporter.write_line(line)
        if not (self.rounds or self.updated or self.error or self.evaluation):
            return
        terminalreporter.write_sep("-", "goperf")
        if self.rounds:
            parallel = bool(getattr(self.config.option, "numprocesses", None))
            note = "; windows of parallel xdist workers were serialised by a file lock, never overlapping" if parallel else ""
            terminalreporter.write_line(f"{self.rounds} measurement round(s) in {self.tests} test(s){note}")
        if self.error:
            terminalreporter.write_line(f"goperf gate error: {self.error}", red=True)
        if self.config.getoption("goperf_update_baselines"):
            config = self.config.stash[CONFIG]
            terminalreporter.write_line(
                f"baselines updated for {len(self.updated)} test(s) in {config.baselines}"
                + (f" ({len(self.measured) - len(self.updated)} failing test(s) left unchanged)" if len(self.measured) > len(self.updated) else "")
            )
        if self.evaluation is not None:
            from ..comparison.verdict import terminal_lines

            for line in terminal_lines(self.evaluation):
                terminalreporter.write_line(line, red=line.startswith("REGRESSED"))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
