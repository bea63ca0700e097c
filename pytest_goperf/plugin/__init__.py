"""pytest-goperf's pytest plugin (the ``pytest11`` entry point): options, markers, fixtures, and one plugin object per concern.

Nothing outside this package imports pytest. The concerns:

- :class:`~.services.ServicesPlugin`: builds once per session, which scope owns each service, crashes and restarts;
- :class:`~.leaks.LeaksPlugin`: ``@pytest.mark.no_goroutine_leak`` and ``--goperf-leak-check``;
- :class:`~.measuring.MeasuringPlugin`: the ``goperf`` fixture's measurements, JUnit properties, artifacts;
- :class:`~.gating.GatePlugin`: the regression gate over the run, its reports and exit status.

This module registers them, defines the fixtures (thin: each asks its
concern), and turns our own errors into short test reports.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..config import GoperfConfig, load_config
from ..errors import ConfigError, GoperfError, PerformanceRegressionError
from ..runtime.pprof import access_from_config
from ..runtime.service import GoService
from .base import BasePlugin
from .gating import GatePlugin
from .keys import BASE, CONFIG, REPORTED, SERVICES, ReportWrapper
from .leaks import LeaksPlugin
from .measuring import Goperf, MeasuringPlugin
from .options import add_options, overrides, pyproject_of
from .progress import Progress
from .services import GoServiceFactory, ServicesPlugin, launch_configured, leak_policy

__all__ = ["go_service", "go_service_factory", "goperf", "goperf_config"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "no_goroutine_leak(ignore=[...], settle_timeout=5.0, service='go_service'): fail the test if goroutines "
        "started during it are still alive after settling",
    )
    config.addinivalue_line(
        "markers",
        "goperf(load=..., rounds=5, window=2, warmup=1, rate=None, concurrency=None, track=[...], limits={...}): "
        "defaults for goperf.measure() in this test; limits are checked on the median of each metric",
    )
    pyproject = pyproject_of(config)
    try:
        goperf_config = load_config(pyproject.parent, pyproject, overrides(config))
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-goperf: {exc}") from None
    config.stash[CONFIG] = goperf_config
    services = ServicesPlugin(goperf_config, Progress(config))
    config.stash[SERVICES] = services
    config.pluginmanager.register(services, "goperf-services")
    base = None
    if goperf_config.compare_to:
        try:
            base = BasePlugin(config, goperf_config, services)
        except ConfigError as exc:
            raise pytest.UsageError(f"pytest-goperf: {exc}") from None
        config.stash[BASE] = base
        config.pluginmanager.register(base, "goperf-base")
    config.pluginmanager.register(LeaksPlugin(config), "goperf-leaks")
    config.pluginmanager.register(MeasuringPlugin(), "goperf-measuring")
    config.pluginmanager.register(GatePlugin(config, base), "goperf-run-totals")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def goperf_config(pytestconfig: pytest.Config) -> GoperfConfig:
    """The validated ``[tool.goperf]`` settings with command-line overrides."""
    return pytestconfig.stash[CONFIG]


@pytest.fixture(scope="session")
def go_service(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoService]:
    """The Go service under test, built once and started for the whole session.

    Attached instead of started when ``--goperf-url`` (or ``url`` in
    ``[tool.goperf]``) is given.
    """
    services = pytestconfig.stash[SERVICES]
    config = services.config
    if config.url:
        service = GoService(config.url, config.pprof_url, leak_policy=leak_policy(config),
                            main_module=config.main_module, pprof_access=access_from_config(config),
                            allow_remote=config.allow_remote)
        service.pprof.check_enabled()
        yield service
        service.stop()
        return
    service = launch_configured(services, config, tmp_path_factory, args=config.args, env=config.env,
                                name="go_service")
    try:
        yield service
    finally:
        service.stop()
        if service in services.services:
            services.services.remove(service)


@pytest.fixture(scope="session")
def go_service_factory(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> GoServiceFactory:
    """Start other Go services: ``go_service_factory(package=..., args=[...], env={...})``.

    A service started inside a fixture is stopped when that fixture is torn
    down; one started in a test body, at the end of that test.
    """
    return GoServiceFactory(pytestconfig.stash[SERVICES], tmp_path_factory, request)


@pytest.fixture
def goperf(request: pytest.FixtureRequest, go_service: GoService, goperf_config: GoperfConfig) -> Goperf:
    """Measurement rounds against ``go_service``: ``goperf.measure(load=..., rounds=5, window=2.0)``."""
    return Goperf(request, go_service, goperf_config, base=request.config.stash.get(BASE, None))


@pytest.fixture(autouse=True)
def _goperf_leak_guard(request: pytest.FixtureRequest) -> None:
    """Prepare the leak check of a marked test (the check itself wraps the test call)."""
    plugin = request.config.pluginmanager.get_plugin("goperf-leaks")
    if isinstance(plugin, LeaksPlugin):
        plugin.prepare(request)


# --------------------------------------------------------------------------- our errors in reports

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> ReportWrapper:
    """Our messages are complete: show them without a traceback into the plugin, and a session fixture's once."""
    report: pytest.TestReport = yield
    exc = call.excinfo.value if call.excinfo is not None else None
    if not isinstance(exc, GoperfError):
        return report
    if report.when == "setup":
        # A session fixture's error repeats in every test: show it in full once.
        shown = item.config.stash.setdefault(REPORTED, set())
        if id(exc) in shown:
            report.longrepr = f"{type(exc).__name__}: the same error as above (shown in full once)"
        else:
            shown.add(id(exc))
            report.longrepr = f"{type(exc).__name__}: {exc}"
    elif report.when == "call" and (not isinstance(exc, AssertionError) or isinstance(exc, PerformanceRegressionError)):
        # A regression is decided by the plugin after the test body: a traceback would point at the plugin.
        report.longrepr = f"{type(exc).__name__}: {exc}"
    return report
