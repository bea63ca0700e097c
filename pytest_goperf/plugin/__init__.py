"""pytest hooks, options, markers and fixtures of pytest-goperf.

This is the only module that knows about pytest; everything it does is a call
into the plain modules (``config``, ``build``, ``service``, ``leaks``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

from ..config import GoperfConfig, IgnoreSpec, load_config
from ..errors import ConfigError, GoperfError, ServiceDiedError
from ..runtime.service import GoService, describe_exit, start_service
from .gating import RunGate, measured_test
from .keys import CALL_SERVICES, CONFIG, LEAK_CHECK, MEASUREMENTS, STATE
from .measuring import Goperf, keep_artifacts
from .services import GoServiceFactory, PluginState, apply_leak_defaults, launch

# --------------------------------------------------------------------------- options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("goperf", "Go service performance and goroutine-leak testing")
    group.addoption("--goperf-url", metavar="URL", help="attach to a service already running at URL instead of building one")
    group.addoption("--goperf-pprof-url", metavar="URL", help="base URL of its /debug/pprof/ when it differs from --goperf-url")
    group.addoption("--goperf-package", metavar="DIR", help="directory of the Go main package to build ([tool.goperf] package)")
    group.addoption("--goperf-go", metavar="PATH", help="the go binary to build with ([tool.goperf] go)")
    group.addoption(
        "--goperf-build-flags", metavar="FLAGS", help="extra go build flags, space separated, e.g. '-race' ([tool.goperf] build_flags)"
    )
    group.addoption("--goperf-artifacts", metavar="DIR", help="keep dumps, traces and profiles of failing checks in DIR")
    group.addoption("--goperf-baselines", metavar="DIR", help="baseline directory ([tool.goperf] baselines, default .goperf/baselines)")
    group.addoption(
        "--goperf-update-baselines",
        action="store_true",
        default=False,
        help="store this run's measurements as the baselines of the selected tests instead of comparing",
    )
    group.addoption("--goperf-report", metavar="PATH", help="write every baseline comparison of the run as JSON to PATH")
    group.addoption(
        "--goperf-strict-env",
        action="store_true",
        default=None,
        help="skip the comparison of a test whose baseline was measured in another environment (CPU, Go, GOMAXPROCS)",
    )
    group.addoption(
        "--goperf-leak-check",
        action="store_true",
        default=None,
        help="check every test that uses go_service for goroutine leaks ([tool.goperf.leak] check_all_tests)",
    )


def _overrides(config: pytest.Config) -> dict[str, Any]:
    flags = config.getoption("goperf_build_flags")
    artifacts = config.getoption("goperf_artifacts")
    return {
        "url": config.getoption("goperf_url"),
        "pprof_url": config.getoption("goperf_pprof_url"),
        "package": config.getoption("goperf_package"),
        "go": config.getoption("goperf_go"),
        "build_flags": tuple(flags.split()) if flags else None,
        "artifacts": Path(artifacts).resolve() if artifacts else None,
        "leak_check_all": config.getoption("goperf_leak_check"),
        "baselines": Path(config.getoption("goperf_baselines")).resolve() if config.getoption("goperf_baselines") else None,
        "strict_environment": config.getoption("goperf_strict_env"),
    }


def _pyproject(config: pytest.Config) -> Path:
    if config.inipath is not None and config.inipath.name == "pyproject.toml":
        return config.inipath
    return config.rootpath / "pyproject.toml"


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
    pyproject = _pyproject(config)
    try:
        goperf_config = load_config(pyproject.parent, pyproject, _overrides(config))
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-goperf: {exc}") from None
    config.stash[CONFIG] = goperf_config
    config.stash[STATE] = PluginState(goperf_config)
    config.pluginmanager.register(RunGate(config), "goperf-run-totals")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.stop_all()


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
    state = pytestconfig.stash[STATE]
    config = state.config
    if config.url:
        service = GoService(config.url, config.pprof_url)
        apply_leak_defaults(service, config)
        service.pprof.check_enabled()
        yield service
        service.stop()
        return
    service = launch(
        state,
        config,
        tmp_path_factory,
        package_dir=config.package_dir,
        args=config.args,
        env=config.env,
        name="go_service",
    )
    try:
        yield service
    finally:
        service.stop()
        if service in state.services:
            state.services.remove(service)


@pytest.fixture(scope="session")
def go_service_factory(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> GoServiceFactory:
    """Start other Go services: ``go_service_factory(package=..., args=[...], env={...})``.

    A service started inside a fixture is stopped when that fixture is torn
    down; one started in a test body, at the end of that test.
    """
    return GoServiceFactory(pytestconfig.stash[STATE], tmp_path_factory, request)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Iterator[Any]:
    state = request.config.stash.get(STATE, None)
    if state is None or fixturedef.argname == "go_service_factory":
        return (yield)
    state.owner_stack.append(fixturedef)
    try:
        return (yield)
    finally:
        state.owner_stack.pop()


# --------------------------------------------------------------------------- leak checks


def _leak_options(item: pytest.Item, config: GoperfConfig) -> dict[str, Any] | None:
    marker = item.get_closest_marker("no_goroutine_leak")
    if marker is None and not (config.leak_check_all and "go_service" in getattr(item, "fixturenames", ())):
        return None
    kwargs = dict(marker.kwargs) if marker else {}
    unknown = set(kwargs) - {"ignore", "settle_timeout", "service"}
    if unknown or (marker and marker.args):
        raise ConfigError(
            f"{item.nodeid}: no_goroutine_leak takes keyword arguments ignore, settle_timeout, service; got "
            f"{sorted(unknown) or marker.args}"
        )
    ignore = []
    for rule in kwargs.get("ignore", ()):
        if isinstance(rule, Mapping):
            try:
                rule = IgnoreSpec(**rule)
            except TypeError as exc:
                raise ConfigError(f"{item.nodeid}: bad ignore rule {rule!r}: {exc}") from None
        ignore.append(rule)
    return {
        "ignore": ignore,  # the project's rules come with the service (apply_leak_defaults)
        "settle_timeout": float(kwargs["settle_timeout"]) if "settle_timeout" in kwargs else None,
        "service": kwargs.get("service", "go_service"),
    }


def _artifacts_dir(item: pytest.Item, config: GoperfConfig, tmp_factory: pytest.TempPathFactory) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-120:]
    if config.artifacts is not None:
        return config.artifacts / safe
    return tmp_factory.getbasetemp() / "goperf-artifacts" / safe


@pytest.fixture(autouse=True)
def _goperf_leak_guard(request: pytest.FixtureRequest) -> None:
    """Prepare the leak check of a marked test (the check itself wraps the test call)."""
    config = request.config.stash[CONFIG]
    options = _leak_options(request.node, config)
    if options is None:
        return
    from ..analysis.leaks import LeakCheck

    service = request.getfixturevalue(options["service"])
    tmp_factory = request.getfixturevalue("tmp_path_factory")
    request.node.stash[LEAK_CHECK] = LeakCheck(
        service,
        ignore=options["ignore"],
        settle_timeout=options["settle_timeout"],
        artifacts_dir=_artifacts_dir(request.node, config, tmp_factory),
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    check = item.stash.get(LEAK_CHECK, None)
    if check is None:
        return (yield)
    check.__enter__()
    result = yield  # an exception from the test propagates: no leak verdict on a failed test
    check.check()
    return result


# --------------------------------------------------------------------------- service health


def _services_of(item: pytest.Item) -> list[GoService]:
    funcargs = getattr(item, "funcargs", {}) or {}
    found = [v for v in funcargs.values() if isinstance(v, GoService)]
    check = item.stash.get(LEAK_CHECK, None)
    if check is not None and check._service is not None and check._service not in found:
        found.append(check._service)
    return found + item.stash.get(CALL_SERVICES, [])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    state = item.config.stash.get(STATE, None)
    if state is None:
        return report
    excinfo = call.excinfo
    if report.when == "setup" and excinfo is not None and isinstance(excinfo.value, GoperfError):
        # Our messages are complete, so no traceback; and a session fixture's
        # error repeats in every test: show it in full once.
        key = id(excinfo.value)
        if key in state.reported:
            report.longrepr = f"{type(excinfo.value).__name__}: the same error as above (shown in full once)"
        else:
            state.reported.add(key)
            report.longrepr = f"{type(excinfo.value).__name__}: {excinfo.value}"
        return report
    if report.when == "call" and excinfo is not None and isinstance(excinfo.value, GoperfError):
        # Our messages are complete; a traceback into the plugin adds nothing.
        if not isinstance(excinfo.value, AssertionError):
            report.longrepr = f"{type(excinfo.value).__name__}: {excinfo.value}"
    if report.when == "call":
        measurements = item.stash.get(MEASUREMENTS, [])
        if measurements:
            report.user_properties.append(("goperf_rounds", sum(len(m.rounds) for m in measurements)))
            measured = measured_test(item, passed=report.passed)
            # A plain attribute: pytest-xdist copies a report's attributes to the controller.
            report.goperf_measurement = json.dumps(measured.to_json(), sort_keys=True)  # type: ignore[attr-defined]
            for name, sample in measured.metrics.items():  # JUnit XML <properties>
                if sample.values:
                    report.user_properties.append((f"goperf.{name}.median", sorted(sample.values)[len(sample.values) // 2]))
            if report.failed:
                keep_artifacts(item, report)
    if report.when == "call":
        for svc in _services_of(item):
            if svc.alive or id(svc) in state.dead_reported:
                continue
            state.dead_reported.add(id(svc))
            message = f"ServiceDiedError: during {item.nodeid}: " + describe_exit(svc.returncode, svc.log_path, svc.log_tail())
            report.outcome = "failed"
            report.longrepr = message if report.longrepr is None else f"{report.longrepr}\n\n{message}"
    return report


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Restart the session service if an earlier test crashed it, so later tests still run."""
    state = item.config.stash.get(STATE, None)
    if state is not None:
        state.current_item = item
    if state is None or "go_service" not in getattr(item, "fixturenames", ()):
        return
    for svc in list(state.services):
        if not svc.alive and svc.spec is not None and id(svc) in state.dead_reported:
            try:
                fresh = start_service(svc.spec, svc.log_path)
            except GoperfError as exc:
                raise ServiceDiedError(f"the service died in an earlier test and could not be restarted: {exc}") from None
            svc._adopt(fresh)
            state.dead_reported.discard(id(svc))


def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Stop the services a test body started through ``go_service_factory``."""
    state = item.config.stash.get(STATE, None)
    if state is not None:
        state.current_item = None
    for svc in item.stash.get(CALL_SERVICES, []):
        svc.stop()
        if state is not None and svc in state.services:
            state.services.remove(svc)


@pytest.fixture
def goperf(request: pytest.FixtureRequest, go_service: GoService, goperf_config: GoperfConfig) -> Goperf:
    """Measurement rounds against ``go_service``: ``goperf.measure(load=..., rounds=5, window=2.0)``."""
    return Goperf(request, go_service, goperf_config)


