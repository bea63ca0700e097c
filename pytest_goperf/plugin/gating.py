"""The regression gate's concern in the plugin: judge each measuring test at its end, summarise the run.

A measuring test is judged right after its body, where it runs (an xdist
worker too): against its stored baseline, or with ``--goperf-compare-to``
against the base measured beside it, pair by pair. A regression fails that
test (:class:`~pytest_goperf.errors.PerformanceRegressionError`), so the
pytest summary, JUnit XML and the exit status all say so. The run's alpha is
split between its measuring tests (each is judged at alpha / T), which keeps
the false-alarm rate of the whole run at most alpha.

The verdicts travel to the controller with the reports; there they become one
table for the terminal, ``--goperf-report`` JSON, GitHub annotations and the
step summary (rendered by :mod:`pytest_goperf.report`). ``--goperf-update-baselines``
stores the measurements instead of judging them.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..errors import GoperfError, PerformanceRegressionError
from .keys import CONFIG, EVALUATION, GATE_ERROR, MEASUREMENTS, ReportWrapper, Wrapper
from .leaks import LEAK_ATTRIBUTE
from .measuring import MEASUREMENT_ATTRIBUTE, measured_test, measuring_tests

if TYPE_CHECKING:
    from ..comparison.verdict import RunEvaluation, TestMeasurement
    from .base import BasePlugin

__all__ = ["EVALUATION_ATTRIBUTE", "GatePlugin", "LeakNotice"]

#: Report attributes that carry a test's verdicts and a gate error to the controller.
EVALUATION_ATTRIBUTE = "goperf_evaluation"
GATE_ERROR_ATTRIBUTE = "goperf_gate_error"


@dataclass(frozen=True, slots=True)
class LeakNotice:
    """A test's leak as the summary sees it: where the test is and the leak message's first line."""

    nodeid: str
    file: str | None
    line: int | None
    message: str


class GatePlugin:
    """Judges measuring tests where they run; collects verdicts and leaks (in the xdist controller too)."""

    def __init__(self, config: pytest.Config, base: BasePlugin | None = None) -> None:
        self.config = config
        self.base = base
        self.tests = 0
        self.rounds = 0
        self.measured: list[TestMeasurement] = []
        self.leaks: list[LeakNotice] = []
        self.evaluations: list[RunEvaluation] = []
        self.evaluation: RunEvaluation | None = None
        self.updated: list[str] = []
        self.errors: list[str] = []
        self._share: int | None = None

    # ---------------------------------------------------------------- judging, where the test runs

    def _measuring_tests(self, item: pytest.Item) -> int:
        """T: the measuring tests of the run (every worker collects them all), who share alpha."""
        if self._share is None:
            self._share = measuring_tests(item)
        return self._share

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Wrapper:
        result = yield  # a failing body (or leak) propagates: no gate verdict on a failed test
        if item.stash.get(MEASUREMENTS, []) and not self.config.getoption("goperf_update_baselines"):
            self._judge(item)
        return result

    def _judge(self, item: pytest.Item) -> None:
        __tracebackhide__ = True
        from ..comparison.samples import paired_samples
        from ..comparison.verdict import evaluate, evaluate_pairs, no_base
        from ..report.text import regression_text

        goperf_config = item.config.stash[CONFIG]
        measurements = item.stash.get(MEASUREMENTS, [])
        measured = measured_test(item, passed=True)
        share = self._measuring_tests(item)
        alpha, method = goperf_config.gate_alpha, goperf_config.gate_method
        if self.base is not None:
            info = self.base.info()
            bases = [m.base for m in measurements]
            if all(b is not None for b in bases):
                head_s, base_s = paired_samples(measurements, [b for b in bases if b is not None])
                ev = evaluate_pairs(replace(measured, metrics=head_s), replace(measured, metrics=base_s),
                                    base_info=info, alpha=alpha, method=method, share=share,
                                    looks=goperf_config.gate_looks)
            else:
                ev = no_base(measured, info, alpha=alpha, method=method, share=share)
        else:
            from ..baseline.store import BaselineStore
            from ..config import resolve

            store = BaselineStore(resolve(goperf_config, goperf_config.baselines))
            try:
                baseline = store.load(item.nodeid)
            except GoperfError as exc:
                item.stash[GATE_ERROR] = str(exc)
                raise
            ev = evaluate([measured], {item.nodeid: baseline}, alpha=alpha, method=method,
                          strict_environment=goperf_config.strict_environment, share=share)
        item.stash[EVALUATION] = ev
        if ev.failed:
            raise PerformanceRegressionError(regression_text(ev))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> ReportWrapper:
        report: pytest.TestReport = yield
        if report.when == "call":
            ev = item.stash.get(EVALUATION, None)
            if ev is not None:
                setattr(report, EVALUATION_ATTRIBUTE, json.dumps(ev.to_json(), sort_keys=True))
                from ..report.junit import verdict_properties

                item.user_properties.extend(verdict_properties(ev))  # JUnit XML reads them at teardown
            error = item.stash.get(GATE_ERROR, None)
            if error is not None:
                setattr(report, GATE_ERROR_ATTRIBUTE, error)
        return report

    # ---------------------------------------------------------------- the run, in the controller

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
        evaluation = getattr(report, EVALUATION_ATTRIBUTE, None)
        if evaluation:
            from ..comparison.verdict import RunEvaluation

            self.evaluations.append(RunEvaluation.from_json(json.loads(evaluation)))
        error = getattr(report, GATE_ERROR_ATTRIBUTE, None)
        if error:
            self.errors.append(f"{report.nodeid}: {error}")
        leak = getattr(report, LEAK_ATTRIBUTE, None)
        if leak:
            data = json.loads(leak)
            self.leaks.append(LeakNotice(data["nodeid"], data.get("file"), data.get("line"), data["message"]))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller reports the whole run
        from ..baseline.store import BaselineStore
        from ..comparison.verdict import merge, to_baselines
        from ..config import resolve

        goperf_config = self.config.stash[CONFIG]
        if self.config.getoption("goperf_update_baselines"):
            store = BaselineStore(resolve(goperf_config, goperf_config.baselines))
            fresh = [t for t in self.measured if t.passed]
            try:
                if fresh:
                    store.update_many(to_baselines(fresh))
                self.updated = [t.nodeid for t in fresh]
            except GoperfError as exc:
                self.errors.append(str(exc))
        elif self.evaluations or (self.base is not None and self.measured):
            share = max((e.share for e in self.evaluations), default=1)
            self.evaluation = merge(
                self.evaluations, alpha=goperf_config.gate_alpha, method=goperf_config.gate_method,
                mode="compare" if self.base is not None else "stored",
                base=self.base.info() if self.base is not None else None, share=share,
            )
        if self.base is not None and self.base.error:
            self.errors.append(self.base.error)
        failed = self.errors and not (self.base is not None and self.errors == [self.base.error])
        if failed and session.exitstatus == 0:
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
        self.errors.append(message)
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
        if not (self.rounds or self.updated or self.errors or self.evaluation):
            return
        terminalreporter.write_sep("-", "goperf")
        if self.rounds:
            parallel = bool(getattr(self.config.option, "numprocesses", None))
            note = "; windows of parallel xdist workers were serialised by a file lock, never overlapping" if parallel else ""
            terminalreporter.write_line(f"{self.rounds} measurement round(s) in {self.tests} test(s){note}")
        for error in self.errors:
            terminalreporter.write_line(f"goperf gate error: {error}", red=True)
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
