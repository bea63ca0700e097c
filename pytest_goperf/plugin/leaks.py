"""The leak-check concern of the plugin: ``@pytest.mark.no_goroutine_leak`` and ``--goperf-leak-check``.

A marked test (or, with ``check_all_tests``, every test using ``go_service``)
is wrapped in a :class:`~pytest_goperf.runtime.leakcheck.LeakCheck`; a test
that fails for another reason gets no leak verdict. Leaks of any test (marker,
``assert_no_goroutine_leak`` or a measurement) are handed to the gate's
summary as records, from xdist workers too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..analysis.leaks import Ignore
from ..config import GoperfConfig, IgnoreSpec
from ..errors import ConfigError, GoroutineLeakError
from .keys import CONFIG, LEAK_CHECK, ReportWrapper, Wrapper

__all__ = ["LEAK_ATTRIBUTE", "LeakOptions", "LeaksPlugin", "artifacts_dir", "leak_options"]

#: The report attribute that carries a leak to the controller (xdist copies plain attributes).
LEAK_ATTRIBUTE = "goperf_leak"

MARKER_KEYS = ("ignore", "settle_timeout", "service")


@dataclass(frozen=True)
class LeakOptions:
    """The marker's arguments, checked: this test's own ignore rules, settle time, and which fixture to check."""

    ignore: tuple[Ignore, ...]
    settle_timeout: float | None
    service: str


def leak_options(item: pytest.Item, config: GoperfConfig) -> LeakOptions | None:
    """What the marker (or the run-wide switch) asks of ``item``'s leak check; None when unchecked."""
    marker = item.get_closest_marker("no_goroutine_leak")
    if marker is None and not (config.leak_check_all and "go_service" in getattr(item, "fixturenames", ())):
        return None
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = set(kwargs) - set(MARKER_KEYS)
    if unknown or (marker and marker.args):
        raise ConfigError(
            f"{item.nodeid}: no_goroutine_leak takes keyword arguments {', '.join(MARKER_KEYS)}; got "
            f"{sorted(unknown) or (marker.args if marker else ())}"
        )
    ignore: list[Ignore] = []
    for rule in kwargs.get("ignore", ()):
        if isinstance(rule, Mapping):
            try:
                rule = IgnoreSpec(**rule)
            except TypeError as exc:
                raise ConfigError(f"{item.nodeid}: bad ignore rule {rule!r}: {exc}") from None
        ignore.append(rule)
    settle = kwargs.get("settle_timeout")
    # The project's rules come with the service (its leak policy); these are the test's own.
    return LeakOptions(tuple(ignore), float(settle) if settle is not None else None,
                       str(kwargs.get("service", "go_service")))


def artifacts_dir(item: pytest.Item, config: GoperfConfig, tmp_factory: pytest.TempPathFactory) -> Path:
    """Where ``item``'s dumps, traces and profiles are kept: ``--goperf-artifacts``, else pytest's temporary folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-120:]
    if config.artifacts is not None:
        return config.artifacts / safe
    return tmp_factory.getbasetemp() / "goperf-artifacts" / safe


class LeaksPlugin:
    """Wraps marked tests in a leak check and passes every test's leak on to the summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def prepare(self, request: pytest.FixtureRequest) -> None:
        """Build the marked test's leak check (called by the autouse fixture; the check wraps the call)."""
        options = leak_options(request.node, request.config.stash[CONFIG])
        if options is None:
            return
        from ..runtime.leakcheck import (
            LeakCheck,  # imports the dump parser only when a test checks leaks
        )

        service = request.getfixturevalue(options.service)
        tmp_factory = request.getfixturevalue("tmp_path_factory")
        request.node.stash[LEAK_CHECK] = LeakCheck(
            service,
            ignore=options.ignore,
            settle_timeout=options.settle_timeout,
            artifacts_dir=artifacts_dir(request.node, request.config.stash[CONFIG], tmp_factory),
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Wrapper:
        check = item.stash.get(LEAK_CHECK, None)
        if check is None:
            return (yield)
        check.__enter__()
        result = yield  # an exception from the test propagates: no leak verdict on a failed test
        check.check()
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> ReportWrapper:
        report: pytest.TestReport = yield
        exc = call.excinfo.value if call.excinfo is not None else None
        if report.when == "call" and isinstance(exc, GoroutineLeakError):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "goroutines leaked"
            path, line, _ = report.location
            payload = {"nodeid": report.nodeid, "file": path, "line": (line or 0) + 1, "message": first}
            setattr(report, LEAK_ATTRIBUTE, json.dumps(payload, sort_keys=True))
        return report
