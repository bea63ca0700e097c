"""The goperf fixture's measurements: windows serialised across processes, artifacts of failures."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Mapping

import pytest

from ..config import GoperfConfig
from ..errors import ConfigError, GoperfError, UsageError
from ..runtime.service import GoService
from .keys import CONFIG, MEASUREMENTS

__all__ = ["Goperf", "MEASURE_KEYS", "keep_artifacts"]

MEASURE_KEYS = {
    "load", "rounds", "window", "warmup", "warmup_rounds", "rate", "concurrency", "track", "check_leaks", "limits",
    "gate", "floors", "name",
}


def _window_lock_path(tmp_factory: pytest.TempPathFactory) -> Path:
    """One lock file for every process of this run: xdist workers share the parent of their basetemp."""
    base = tmp_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "goperf-window.lock"


class _FileLock:
    """An exclusive ``flock`` on a file, held for one measurement window."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None

    def __enter__(self) -> "_FileLock":
        import fcntl

        self._fh = open(self.path, "a")
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()  # closing releases the lock
        self._fh = None


class Goperf:
    """The ``goperf`` fixture: measurement rounds against the service under test.

    ``goperf.measure(load=..., rounds=5, window=2)`` returns a
    :class:`~pytest_goperf.measure.Measurement`; the test's
    ``@pytest.mark.goperf(...)`` marker supplies defaults and ``limits``.
    """

    def __init__(self, request: pytest.FixtureRequest, service: GoService, config: GoperfConfig) -> None:
        self._request = request
        self._service = service
        self._config = config
        marker = request.node.get_closest_marker("goperf")
        self._defaults: dict[str, Any] = dict(marker.kwargs) if marker else {}
        unknown = set(self._defaults) - MEASURE_KEYS
        if unknown or (marker and marker.args):
            raise ConfigError(
                f"{request.node.nodeid}: @pytest.mark.goperf takes keyword arguments {sorted(MEASURE_KEYS)}; "
                f"got {sorted(unknown) or marker.args}"
            )
        self.measurements: list[Any] = request.node.stash.setdefault(MEASUREMENTS, [])

    @property
    def service(self) -> GoService:
        return self._service

    def measure(self, load: Any = None, *, service: GoService | None = None, **kwargs: Any) -> Any:
        """Load the service and capture trace, CPU profile and dumps in each round; see the README."""
        from ..runtime.measure import measure

        unknown = set(kwargs) - MEASURE_KEYS
        if unknown:
            raise UsageError(f"measure() got unexpected keyword argument(s) {sorted(unknown)}")
        opts = {**self._defaults, **kwargs}
        if load is None:
            load = opts.pop("load", None)
        else:
            opts.pop("load", None)
        limits: Mapping[str, float] = opts.pop("limits", {}) or {}
        gated = opts.pop("gate", None)
        floors = opts.pop("floors", {}) or {}
        name = opts.pop("name", None) or ("" if not self.measurements else f"m{len(self.measurements)}")
        svc = service or self._service
        tmp = self._request.getfixturevalue("tmp_path_factory")
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self._request.node.nodeid)[-120:]
        directory = tmp.getbasetemp() / "goperf-rounds" / safe / f"m{len(self.measurements)}"
        track = tuple(opts.pop("track", ())) + tuple(n for n in limits if n.startswith(("hot_share", "class_share")))
        result = measure(
            svc,
            load,
            directory=directory,
            track=tuple(dict.fromkeys(track)),
            leak_settle_timeout=self._config.leak_settle_timeout,
            main_module=_main_module(svc),
            window_lock=_FileLock(_window_lock_path(tmp)),
            **opts,
        )
        result.extra.update(service=svc, name=name, gate=gated, floors=floors, limits=tuple(limits))
        self.measurements.append(result)
        for metric_name, limit in limits.items():
            result.assert_metric(metric_name, max=limit)
        return result


def _main_module(service: GoService) -> str | None:
    """The service's main module path, from the built binary's build information."""
    if getattr(service, "_main_module", None) is None and service.spec is not None:
        from ..formats.profile._buildinfo import read_build_info_file

        try:
            service._main_module = read_build_info_file(service.spec.binary).main_module or None
        except GoperfError:
            service._main_module = None
    return getattr(service, "_main_module", None)


def keep_artifacts(item: pytest.Item, report: pytest.TestReport) -> None:
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
    for d, html in zip(dirs, reports):
        lines.append(f"{d}  (trace.out opens in `go tool trace`, cpu.pprof in `go tool pprof`)")
        if html is not None:
            lines.append(f"{d / html.relative_to(html.parent.parent)}  (the last round as a report with charts)")
    report.sections.append(("goperf artifacts", "\n".join(lines)))


def _html_report(item: pytest.Item, measurement: Any) -> Path | None:
    """``report.html`` of the measurement's last round, next to its files; None when it cannot be drawn."""
    from ..report.html import write_report

    last = measurement.rounds[-1] if measurement.rounds else None
    if last is None or last.files.trace is None:
        return None
    try:
        return write_report(
            last.files.directory / "report.html",
            trace=last.files.trace.read_bytes(),
            metrics=last.trace,
            cpu=last.cpu,
            goroutines=last.goroutines_end,
            goroutines_start=last.goroutines_start,
            title=f"{item.nodeid}: round {last.index} of {len(measurement.rounds)}",
            main_module=last.main_module,
        )
    except (GoperfError, OSError) as exc:  # a report is a courtesy: never hide the test's own failure
        report_error = f"could not write the HTML report: {exc}"
        (last.files.directory / "report-error.txt").write_text(report_error + "\n")
        return None
