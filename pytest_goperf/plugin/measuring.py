"""The measurement concern of the plugin: the ``goperf`` fixture, its marker, and what a measured test reports.

``goperf.measure(...)`` merges the ``@pytest.mark.goperf`` defaults with its
own arguments into one :class:`~pytest_goperf.analysis.measurement.MeasureSpec`,
runs the rounds with windows serialised across xdist workers, checks the
``limits``, and keeps the measurement on the test. At the end of the test
:class:`MeasuringPlugin` sends the measurement to the gate (as JSON, from
xdist workers too), writes the JUnit properties and, when the test failed,
keeps the files with an HTML report of the last round.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import pytest

from ..analysis.measurement import Measurement, MeasureSpec, as_scenario, model_from
from ..config import GoperfConfig
from ..errors import BaseServiceError, ConfigError, GoperfError, UsageError
from ..runtime.service import GoService
from .keys import CONFIG, MEASUREMENTS, ReportWrapper

if TYPE_CHECKING:
    from ..comparison.verdict import BaseInfo
    from .base import BasePlugin

__all__ = ["MEASUREMENT_ATTRIBUTE", "MEASURE_KEYS", "Goperf", "MeasuringPlugin", "measured_test"]

#: Keyword arguments of ``goperf.measure()`` and of ``@pytest.mark.goperf``.
MEASURE_KEYS = frozenset({
    "load", "rounds", "window", "warmup", "warmup_rounds", "rate", "concurrency", "track", "check_leaks", "limits",
    "gate", "floors", "name", "wakeups",
})
#: The report attribute that carries a test's measurement to the controller (xdist copies plain attributes).
MEASUREMENT_ATTRIBUTE = "goperf_measurement"


def _window_lock_path(tmp_factory: pytest.TempPathFactory) -> Path:
    """One lock file for every process of this run: xdist workers share the parent of their basetemp."""
    base = tmp_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "goperf-window.lock"


class _FileLock:
    """An exclusive ``flock`` on a file, held for one measurement window."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def __enter__(self) -> _FileLock:
        self._fh = open(self.path, "a")
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fh is not None:
            self._fh.close()  # closing releases the lock
            self._fh = None


def spec_of(options: Mapping[str, Any], *, name: str) -> MeasureSpec:
    """A :class:`MeasureSpec` from the marker's and ``measure()``'s keyword arguments (already merged)."""
    opts = dict(options)
    try:
        return MeasureSpec(
            load=as_scenario(opts.get("load")),
            model=model_from(opts.get("rate"), opts.get("concurrency")),
            rounds=int(opts.get("rounds", 5)),
            window=float(opts.get("window", 2.0)),
            warmup=float(opts.get("warmup", 1.0)),
            warmup_rounds=int(opts.get("warmup_rounds", 0)),
            track=tuple(opts.get("track", ())),
            gate=None if opts.get("gate") is None else tuple(opts["gate"]),
            floors=dict(opts.get("floors") or {}),
            limits=dict(opts.get("limits") or {}),
            check_leaks=bool(opts.get("check_leaks", True)),
            name=str(opts.get("name") or name),
            wakeups=bool(opts.get("wakeups", False)),
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, GoperfError):
            raise
        raise ConfigError(f"goperf.measure(): {exc}") from None


class Goperf:
    """The ``goperf`` fixture: measurement rounds against the service under test.

    ``goperf.measure(load=..., rounds=5, window=2)`` returns a
    :class:`~pytest_goperf.Measurement`; the test's ``@pytest.mark.goperf(...)``
    marker supplies defaults and ``limits``.
    """

    def __init__(self, request: pytest.FixtureRequest, service: GoService, config: GoperfConfig,
                 base: BasePlugin | None = None) -> None:
        self._request = request
        self._service = service
        self._config = config
        self._base = base
        marker = request.node.get_closest_marker("goperf")
        self._defaults: dict[str, Any] = dict(marker.kwargs) if marker else {}
        unknown = set(self._defaults) - MEASURE_KEYS
        if unknown or (marker and marker.args):
            raise ConfigError(
                f"{request.node.nodeid}: @pytest.mark.goperf takes keyword arguments {sorted(MEASURE_KEYS)}; "
                f"got {sorted(unknown) or (marker.args if marker else ())}"
            )
        self.measurements: list[Measurement] = request.node.stash.setdefault(MEASUREMENTS, [])

    @property
    def service(self) -> GoService:
        """The service measured by default."""
        return self._service

    def measure(self, load: Any = None, *, service: GoService | None = None, **kwargs: Any) -> Measurement:
        """Load the service and capture trace, CPU profile and dumps in each round; see the README."""
        from ..runtime.measure import measure

        unknown = set(kwargs) - MEASURE_KEYS
        if unknown:
            raise UsageError(f"measure() got unexpected keyword argument(s) {sorted(unknown)}")
        opts = {**self._defaults, **kwargs}
        if load is not None:
            opts["load"] = load
        n = len(self.measurements)
        spec = spec_of(opts, name="" if not n else f"m{n}")
        svc = service or self._service
        tmp = self._request.getfixturevalue("tmp_path_factory")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self._request.node.nodeid)[-120:]
        directory = tmp.getbasetemp() / "goperf-rounds" / safe / f"m{n}"
        lock = _FileLock(_window_lock_path(tmp))
        result = None
        base_svc = self._base.service(tmp) if self._base is not None and service is None else None
        from .progress import Progress

        show = Progress(self._request.config)
        test = self._request.node.nodeid

        def progress(message: str) -> None:
            show(f"{test}: {message}")

        if base_svc is not None and self._base is not None:
            from ..runtime.measure import measure_pair

            try:
                info = self._base.info()
                node = self._request.node
                result = measure_pair(svc, base_svc, spec, directory=directory, schedule=self._config.schedule,
                                      window_lock=lock, progress=progress, looks=self._config.gate_looks,
                                      more=lambda so_far: undecided(node, so_far, info))
            except BaseServiceError as exc:
                self._base.failed(exc)  # reported as the base's; the head is measured alone below
        if result is None:
            result = measure(svc, spec, directory=directory, window_lock=lock, progress=progress)
        # Metrics whose names only the traces can confirm (a region that never occurred) fail here,
        # in the test, and the measurement is not sent to the gate.
        for metric_name in dict.fromkeys((*spec.track, *(spec.gate or ()), *spec.limits)):
            result.values(metric_name)
        self.measurements.append(result)
        for metric_name, limit in spec.limits.items():
            result.assert_metric(metric_name, max=limit)
        return result


def measuring_tests(item: pytest.Item) -> int:
    """T: the measuring tests of the run (every xdist worker collects them all), who share alpha."""
    items = getattr(item.session, "items", None) or [item]
    return max(1, sum(1 for it in items if "goperf" in getattr(it, "fixturenames", ())))


def undecided(item: pytest.Item, measurement: Measurement, base: BaseInfo) -> bool:
    """Whether a same-run measurement's gated metrics are still undecided, so the sequential gate adds pairs."""
    from ..comparison.samples import paired_samples
    from ..comparison.verdict import TestMeasurement, evaluate_pairs, pairs_decision

    config = item.config.stash[CONFIG]
    if measurement.base is None:
        return False
    head_s, base_s = paired_samples([measurement], [measurement.base])
    ev = evaluate_pairs(TestMeasurement(item.nodeid, head_s), TestMeasurement(item.nodeid, base_s), base_info=base,
                        alpha=config.gate_alpha, method=config.gate_method, share=measuring_tests(item),
                        looks=config.gate_looks)
    return pairs_decision(ev) == "undecided"


def measured_test(item: pytest.Item, passed: bool) -> Any:
    """What ``item``'s measurements send to the gate: every metric's round values, policy and environment."""
    from ..baseline.environment import capture_environment
    from ..comparison.samples import metric_samples
    from ..comparison.verdict import TestMeasurement

    config = item.config.stash[CONFIG]
    measurements = item.stash.get(MEASUREMENTS, [])
    env = None
    for m in measurements:
        traced = [r.trace.gomaxprocs for r in m.rounds if r.trace is not None]
        env = capture_environment(
            go_version=m.go_version,
            gomaxprocs=traced[0] if traced else None,
            build_flags=config.build_flags,
            root=config.root,
        )
        break
    path, line, _ = item.location
    return TestMeasurement(item.nodeid, metric_samples(measurements), env, passed, path, (line or 0) + 1)


class MeasuringPlugin:
    """Reports what each measured test measured: to the gate, to JUnit, and as artifacts when it failed."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> ReportWrapper:
        report: pytest.TestReport = yield
        measurements = item.stash.get(MEASUREMENTS, [])
        if report.when != "call" or not measurements:
            return report
        report.user_properties.append(("goperf_rounds", sum(len(m.rounds) for m in measurements)))
        measured = measured_test(item, passed=report.passed)
        setattr(report, MEASUREMENT_ATTRIBUTE, json.dumps(measured.to_json(), sort_keys=True))
        from ..report.junit import median_properties

        item.user_properties.extend(median_properties(measured))  # JUnit XML reads them from the teardown report
        if report.failed:
            keep_artifacts(item, report)
        return report


def keep_artifacts(item: pytest.Item, report: pytest.TestReport) -> None:
    """Copy a failed test's round folders to ``--goperf-artifacts`` and name them, with a report of the last round."""
    measurements = item.stash.get(MEASUREMENTS, [])
    if not measurements:
        return
    config = item.config.stash[CONFIG]
    dirs = [m.directory for m in measurements]
    reports = [_html_report(item, m) for m in measurements]
    if config.artifacts is not None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-120:]
        target = config.artifacts / safe
        kept = []
        for i, d in enumerate(dirs):
            dest = target / f"m{i}"
            shutil.copytree(d, dest, dirs_exist_ok=True)
            kept.append(dest)
        dirs = kept
    lines = []
    for d, html in zip(dirs, reports, strict=False):
        lines.append(f"{d}  (trace.out opens in `go tool trace`, cpu.pprof in `go tool pprof`)")
        if html is not None:
            lines.append(f"{d / html.relative_to(html.parent.parent)}  (the last round as a report with charts)")
    report.sections.append(("goperf artifacts", "\n".join(lines)))


def _html_report(item: pytest.Item, measurement: Measurement) -> Path | None:
    """``report.html`` of the measurement's last round, next to its files; None when it cannot be drawn.

    The round is re-read from its folder and analysed as ``goperf triage DIR`` would.
    """
    from ..analysis.triage.findings import analyse
    from ..report.html import write_report
    from ..runtime.files import load_window

    last = measurement.rounds[-1] if measurement.rounds else None
    if last is None or last.files.trace is None:
        return None
    directory = last.files.directory
    try:
        triage = analyse(load_window(directory), main_module=last.main_module)
        return write_report(directory / "report.html", triage,
                            title=f"{item.nodeid}: round {last.index} of {len(measurement.rounds)}")
    except (GoperfError, OSError) as exc:  # a report is a courtesy: never hide the test's own failure
        (directory / "report-error.txt").write_text(f"could not write the HTML report: {exc}\n")
        return None
