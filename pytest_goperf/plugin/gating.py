"""The regression gate's concern in the plugin: collect measurements (from xdist workers too), gate once, report.

Measured tests send their samples with their reports; the controller reads
the baselines, calls the pure :func:`~pytest_goperf.comparison.verdict.evaluate`
once at session end, and renders the verdicts (terminal table, JSON report,
GitHub annotations and step summary) through :mod:`pytest_goperf.report`.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import GoperfError
from .keys import CONFIG
from .leaks import LEAK_ATTRIBUTE
from .measuring import MEASUREMENT_ATTRIBUTE

if TYPE_CHECKING:
    from ..comparison.verdict import RunEvaluation, TestMeasurement

__all__ = ["GatePlugin", "LeakNotice"]


@dataclass(frozen=True, slots=True)
class LeakNotice:
    """A test's leak as the summary sees it: where the test is and the leak message's first line."""

    nodeid: str
    file: str | None
    line: int | None
    message: str


class GatePlugin:
    """Collects measurements and leaks (in the xdist controller too) and runs the gate once at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tests = 0
        self.rounds = 0
        self.measured: list[TestMeasurement] = []
        self.leaks: list[LeakNotice] = []
        self.evaluation: RunEvaluation | None = None
        self.updated: list[str] = []
        self.error: str | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # user_properties and plain attributes travel with the report from xdist workers to the controller
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == "goperf_rounds":
                self.tests += 1
                self.rounds += int(value)  # type: ignore[call-overload]
        payload = getattr(report, MEASUREMENT_ATTRIBUTE, None)
        if payload:
            from ..comparison.verdict import measurement_from_json

            self.measured.append(measurement_from_json(json.loads(payload)))
        leak = getattr(report, LEAK_ATTRIBUTE, None)
        if leak:
            data = json.loads(leak)
            self.leaks.append(LeakNotice(data["nodeid"], data.get("file"), data.get("line"), data["message"]))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller gates the whole run
        from ..baseline.store import BaselineStore
        from ..comparison.verdict import evaluate, to_baselines
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
                baselines = store.load_many(t.nodeid for t in self.measured)
                self.evaluation = evaluate(
                    self.measured,
                    baselines,
                    alpha=goperf_config.gate_alpha,
                    method=goperf_config.gate_method,
                    strict_environment=goperf_config.strict_environment,
                )
        except GoperfError as exc:
            self.error = str(exc)
        if (self.error or (self.evaluation is not None and self.evaluation.failed)) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        # The verdicts are in hand: a report that cannot be written is an error beside them, not instead of them.
        report_path = self.config.getoption("goperf_report")
        if report_path and self.evaluation is not None:
            try:
                _write_atomically(Path(report_path), json.dumps(self.evaluation.to_json(), indent=2, sort_keys=True) + "\n")
            except OSError as exc:
                self._write_failed(f"cannot write the --goperf-report file {report_path}: {exc.strerror or exc}", session)
        if os.environ.get("GITHUB_ACTIONS") == "true":
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary and self.evaluation is not None:
                from ..report.markdown import markdown_summary

                try:
                    with open(summary, "a", encoding="utf-8") as fh:
                        fh.write(markdown_summary(self.evaluation))
                except OSError as exc:
                    self._write_failed(f"cannot append to GITHUB_STEP_SUMMARY {summary}: {exc.strerror or exc}", session)

    def _write_failed(self, message: str, session: pytest.Session) -> None:
        self.error = f"{self.error}; {message}" if self.error else message
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _annotations(self) -> list[str]:
        """GitHub Actions ``::error`` commands for leaks and regressions (each on a line of its own)."""
        if os.environ.get("GITHUB_ACTIONS") != "true" or hasattr(self.config, "workerinput"):
            return []
        from ..report.github import annotation, github_annotations

        lines = [annotation(n.file, n.line, "goroutine leak", f"{n.nodeid}: {n.message}") for n in self.leaks]
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
            left = len(self.measured) - len(self.updated)
            terminalreporter.write_line(
                f"baselines updated for {len(self.updated)} test(s) in {config.baselines}"
                + (f" ({left} failing test(s) left unchanged)" if left else "")
            )
        if self.evaluation is not None:
            from ..report.text import gate_lines

            for line in gate_lines(self.evaluation):
                terminalreporter.write_line(line, red=line.startswith("REGRESSED"))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
