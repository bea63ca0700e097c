"""pytest hooks, options, markers and fixtures of pytest-goperf.

This is the only module that knows about pytest; everything it does is a call
into the plain modules (``config``, ``build``, ``service``, ``leaks``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import pytest

from .build import BuildResult, build_binary
from .config import GoperfConfig, IgnoreSpec, load_config
from .errors import BuildError, ConfigError, GoperfError, ServiceDiedError, ServiceStartError
from .service import GoService, ServiceSpec, describe_exit, start_service

if TYPE_CHECKING:
    from .leaks import LeakCheck

_CONFIG = pytest.StashKey[GoperfConfig]()
_STATE = pytest.StashKey["_PluginState"]()
_LEAK_CHECK = pytest.StashKey["LeakCheck"]()
_CALL_SERVICES = pytest.StashKey[list]()


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
    config.stash[_CONFIG] = goperf_config
    config.stash[_STATE] = _PluginState(goperf_config)
    config.pluginmanager.register(_RunTotals(config), "goperf-run-totals")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.stop_all()


# --------------------------------------------------------------------------- state


class _PluginState:
    """Builds shared by the session, and which services belong to which scope."""

    def __init__(self, config: GoperfConfig) -> None:
        self.config = config
        self.builds: dict[tuple, BuildResult | BuildError] = {}
        self.reported: set[int] = set()  # ids of setup errors already shown in full
        self.services: list[GoService] = []
        self.owner_stack: list[pytest.FixtureDef] = []
        self.dead_reported: set[int] = set()
        self.current_item: pytest.Item | None = None

    def build(self, package_dir: Path, config: GoperfConfig, cache_dir: Path, env: Mapping[str, str]) -> BuildResult:
        key = (package_dir, config.go, config.build_flags, tuple(sorted(env.items())))
        cached = self.builds.get(key)
        if cached is None:
            try:
                cached = build_binary(
                    package_dir, cache_dir, go=config.go, flags=config.build_flags, env=env, timeout=config.build_timeout
                )
            except BuildError as exc:
                cached = exc
            self.builds[key] = cached
        if isinstance(cached, BuildError):
            raise cached
        return cached

    def stop_all(self) -> None:
        for svc in reversed(self.services):
            svc.stop()
        self.services.clear()


def _cache_dir(config: GoperfConfig) -> Path:
    # GOPERF_CACHE_DIR lets several projects (or pytester runs) share built binaries.
    env = os.environ.get("GOPERF_CACHE_DIR")
    return Path(env) if env else config.root / ".goperf" / "bin"


def _leak_env(go_version: str) -> dict[str, str]:
    # Go 1.26 serves /debug/pprof/goroutineleak only when built with this experiment
    # (Go 1.27 has it by default and deleted the setting).
    return {"GOEXPERIMENT": "goroutineleakprofile"} if go_version.startswith("go1.26") else {}


def _go_version(config: GoperfConfig) -> str:
    from .build import go_env_for_build

    return go_env_for_build(config.go).get("GOVERSION", "")


def _launch(
    state: _PluginState,
    config: GoperfConfig,
    tmp_factory: pytest.TempPathFactory,
    *,
    package_dir: Path,
    args: Sequence[str],
    env: Mapping[str, str],
    name: str,
) -> GoService:
    build_env = {}
    if "GOEXPERIMENT" not in env:
        build_env = _leak_env(_go_version(config))
    result = state.build(package_dir, config, _cache_dir(config), build_env)
    spec = ServiceSpec(
        binary=result.path,
        args=tuple(args),
        env=dict(env),
        cwd=package_dir,
        ready_path=config.ready_path,
        start_timeout=config.start_timeout,
        stop_timeout=config.stop_timeout,
        name=name,
    )
    log_dir = _log_root(tmp_factory)
    log_dir.mkdir(parents=True, exist_ok=True)
    service = start_service(spec, log_dir / f"{name}-{len(state.services)}.log")
    service.go_version = result.go_version
    state.services.append(service)
    return service


def _log_root(tmp_factory: pytest.TempPathFactory) -> Path:
    return tmp_factory.getbasetemp() / "goperf-logs"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def goperf_config(pytestconfig: pytest.Config) -> GoperfConfig:
    """The validated ``[tool.goperf]`` settings with command-line overrides."""
    return pytestconfig.stash[_CONFIG]


@pytest.fixture(scope="session")
def go_service(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoService]:
    """The Go service under test, built once and started for the whole session.

    Attached instead of started when ``--goperf-url`` (or ``url`` in
    ``[tool.goperf]``) is given.
    """
    state = pytestconfig.stash[_STATE]
    config = state.config
    if config.url:
        service = GoService(config.url, config.pprof_url)
        service.pprof.check_enabled()
        yield service
        service.stop()
        return
    service = _launch(
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


class GoServiceFactory:
    """Starts more Go services; each is stopped at the end of the scope that started it."""

    def __init__(self, state: _PluginState, tmp_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> None:
        self._state = state
        self._tmp = tmp_factory
        self._request = request

    def __call__(
        self,
        package: str | Path | None = None,
        *,
        args: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        name: str | None = None,
    ) -> GoService:
        """Build (cached) and start the main package in ``package`` (default: the configured one).

        ``args`` and ``env`` may use the placeholders ``{addr}``, ``{port}``,
        ``{host}``, ``{pprof_addr}`` and ``{pprof_port}``.
        """
        config = self._state.config
        package_dir = config.package_dir if package is None else (config.root / Path(package)).resolve()
        service = _launch(
            self._state,
            config,
            self._tmp,
            package_dir=package_dir,
            args=tuple(args) if args is not None else config.args,
            env={**config.env, **(env or {})},
            name=name or package_dir.name,
        )
        owner = self._state.owner_stack[-1] if self._state.owner_stack else None
        if owner is not None:
            owner.addfinalizer(service.stop)  # started inside a fixture: lives as long as that fixture
        else:
            item = self._state.current_item
            if item is None:  # pragma: no cover - only outside of any test
                self._request.addfinalizer(service.stop)
            else:
                item.stash.setdefault(_CALL_SERVICES, []).append(service)
        return service


@pytest.fixture(scope="session")
def go_service_factory(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> GoServiceFactory:
    """Start other Go services: ``go_service_factory(package=..., args=[...], env={...})``.

    A service started inside a fixture is stopped when that fixture is torn
    down; one started in a test body, at the end of that test.
    """
    return GoServiceFactory(pytestconfig.stash[_STATE], tmp_path_factory, request)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Iterator[Any]:
    state = request.config.stash.get(_STATE, None)
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
        "ignore": [*config.leak_ignore, *ignore],
        "settle_timeout": float(kwargs.get("settle_timeout", config.leak_settle_timeout)),
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
    config = request.config.stash[_CONFIG]
    options = _leak_options(request.node, config)
    if options is None:
        return
    from .leaks import LeakCheck  # imports the dump parser only when a test checks leaks

    service = request.getfixturevalue(options["service"])
    tmp_factory = request.getfixturevalue("tmp_path_factory")
    request.node.stash[_LEAK_CHECK] = LeakCheck(
        service,
        ignore=options["ignore"],
        settle_timeout=options["settle_timeout"],
        artifacts_dir=_artifacts_dir(request.node, config, tmp_factory),
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    check = item.stash.get(_LEAK_CHECK, None)
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
    check = item.stash.get(_LEAK_CHECK, None)
    if check is not None and check._service is not None and check._service not in found:
        found.append(check._service)
    return found + item.stash.get(_CALL_SERVICES, [])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report: pytest.TestReport = yield
    state = item.config.stash.get(_STATE, None)
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
        measurements = item.stash.get(_MEASUREMENTS, [])
        if measurements:
            report.user_properties.append(("goperf_rounds", sum(len(m.rounds) for m in measurements)))
            measured = _test_measurement(item, passed=report.passed)
            # A plain attribute: pytest-xdist copies a report's attributes to the controller.
            report.goperf_measurement = json.dumps(measured.to_json(), sort_keys=True)  # type: ignore[attr-defined]
            for name, sample in measured.metrics.items():  # JUnit XML <properties>
                if sample.values:
                    report.user_properties.append((f"goperf.{name}.median", sorted(sample.values)[len(sample.values) // 2]))
            if report.failed:
                _keep_artifacts(item, report)
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
    state = item.config.stash.get(_STATE, None)
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
    state = item.config.stash.get(_STATE, None)
    if state is not None:
        state.current_item = None
    for svc in item.stash.get(_CALL_SERVICES, []):
        svc.stop()
        if state is not None and svc in state.services:
            state.services.remove(svc)


# --------------------------------------------------------------------------- measurements

_MEASUREMENTS = pytest.StashKey[list]()
_MEASURE_KEYS = {
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
        unknown = set(self._defaults) - _MEASURE_KEYS
        if unknown or (marker and marker.args):
            raise ConfigError(
                f"{request.node.nodeid}: @pytest.mark.goperf takes keyword arguments {sorted(_MEASURE_KEYS)}; "
                f"got {sorted(unknown) or marker.args}"
            )
        self.measurements: list[Any] = request.node.stash.setdefault(_MEASUREMENTS, [])

    @property
    def service(self) -> GoService:
        return self._service

    def measure(self, load: Any = None, *, service: GoService | None = None, **kwargs: Any) -> Any:
        """Load the service and capture trace, CPU profile and dumps in each round; see the README."""
        from .measure import measure

        unknown = set(kwargs) - _MEASURE_KEYS
        if unknown:
            raise TypeError(f"measure() got unexpected keyword argument(s) {sorted(unknown)}")
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
        from .profile import read_build_info_file

        try:
            service._main_module = read_build_info_file(service.spec.binary).main_module or None
        except GoperfError:
            service._main_module = None
    return getattr(service, "_main_module", None)


@pytest.fixture
def goperf(request: pytest.FixtureRequest, go_service: GoService, goperf_config: GoperfConfig) -> Goperf:
    """Measurement rounds against ``go_service``: ``goperf.measure(load=..., rounds=5, window=2.0)``."""
    return Goperf(request, go_service, goperf_config)


def _keep_artifacts(item: pytest.Item, report: pytest.TestReport) -> None:
    measurements = item.stash.get(_MEASUREMENTS, [])
    if not measurements:
        return
    import shutil

    config = item.config.stash[_CONFIG]
    dirs = [m.directory for m in measurements]
    if config.artifacts is not None:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-120:]
        target = config.artifacts / safe
        kept = []
        for i, d in enumerate(dirs):
            dest = target / f"m{i}"
            shutil.copytree(d, dest, dirs_exist_ok=True)
            kept.append(dest)
        dirs = kept
    lines = [f"{d}  (trace.out opens in `go tool trace`, cpu.pprof in `go tool pprof`)" for d in dirs]
    report.sections.append(("goperf artifacts", "\n".join(lines)))


def _test_measurement(item: pytest.Item, passed: bool) -> Any:
    """What ``item``'s measurements send to the gate: every metric's round values and its policy."""
    from .environment import capture_environment
    from .gate import MetricSample, TestMeasurement
    from .metrics import DEFAULT_GATE, get_metric
    from .stats import ComparisonPolicy

    config = item.config.stash[_CONFIG]
    samples: dict[str, MetricSample] = {}
    env = None
    for m in item.stash.get(_MEASUREMENTS, []):
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


class _RunTotals:
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
            from .gate import measurement_from_json

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
        from .baseline import BaselineStore
        from .config import resolve
        from .gate import evaluate, markdown_summary, to_baselines

        goperf_config = self.config.stash[_CONFIG]
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
        from .gate import annotation, github_annotations

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
            config = self.config.stash[_CONFIG]
            terminalreporter.write_line(
                f"baselines updated for {len(self.updated)} test(s) in {config.baselines}"
                + (f" ({len(self.measured) - len(self.updated)} failing test(s) left unchanged)" if len(self.measured) > len(self.updated) else "")
            )
        if self.evaluation is not None:
            for line in _gate_lines(self.evaluation):
                terminalreporter.write_line(line, red=line.startswith("REGRESSED"))


def _gate_lines(evaluation: Any) -> list[str]:
    from .gate import terminal_lines

    return terminal_lines(evaluation)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
