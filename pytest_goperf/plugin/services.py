"""Builds and services owned by a pytest session: the services plugin object and the go_service_factory.

:class:`ServicesPlugin` builds each package once per session, knows which
fixture or test owns each service (and stops it when that scope ends),
restarts the session service after a crash, and fails the test during which
a service died, with its exit status and log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ..analysis.leaks import LeakPolicy
from ..config import GoperfConfig, cache_dir, package_import_path
from ..errors import BuildError, ConfigError, GoperfError, ServiceDiedError
from ..runtime.build import BuildResult, build_binary, go_env_for_build
from ..runtime.pprof import access_from_config
from ..runtime.service import GoService, ServiceSpec, describe_exit, start_service
from .keys import CALL_SERVICES, LEAK_CHECK, ReportWrapper, Wrapper

__all__ = ["GoServiceFactory", "ServicesPlugin", "launch", "launch_configured", "leak_policy", "prebuilt_info",
           "providing_module"]


class ServicesPlugin:
    """Builds shared by the session, which services belong to which scope, and their health."""

    def __init__(self, config: GoperfConfig, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.progress: Callable[[str], None] = progress or (lambda _message: None)
        self.builds: dict[tuple[object, ...], BuildResult | BuildError] = {}
        self.services: list[GoService] = []
        self.owner_stack: list[pytest.FixtureDef[Any]] = []
        self.dead_reported: set[int] = set()
        self.current_item: pytest.Item | None = None
        self._go_versions: dict[str, str] = {}

    # ---------------------------------------------------------------- hooks

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> Wrapper:
        """Remember which fixture is being set up: a service it starts lives as long as it does."""
        if fixturedef.argname == "go_service_factory":
            return (yield)
        self.owner_stack.append(fixturedef)
        try:
            return (yield)
        finally:
            self.owner_stack.pop()

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Restart the session service if an earlier test crashed it, so later tests still run."""
        self.current_item = item
        if "go_service" not in getattr(item, "fixturenames", ()):
            return
        for svc in list(self.services):
            if not svc.alive and svc.spec is not None and id(svc) in self.dead_reported:
                try:
                    fresh = start_service(svc.spec, svc.log_path or Path(f"{svc.spec.name}.log"))
                except GoperfError as exc:
                    raise ServiceDiedError(
                        f"the service died in an earlier test and could not be restarted: {exc}") from None
                svc._adopt(fresh)
                self.dead_reported.discard(id(svc))

    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        """Stop the services a test body started through ``go_service_factory``."""
        self.current_item = None
        for svc in item.stash.get(CALL_SERVICES, []):
            svc.stop()
            if svc in self.services:
                self.services.remove(svc)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> ReportWrapper:
        """Fail the test during which a service it used exited, with the exit status and the log's end."""
        report: pytest.TestReport = yield
        if report.when != "call":
            return report
        for svc in self._services_of(item):
            if svc.alive or id(svc) in self.dead_reported:
                continue
            self.dead_reported.add(id(svc))
            message = f"ServiceDiedError: during {item.nodeid}: " + describe_exit(svc.returncode, svc.log_path,
                                                                                  svc.log_tail())
            report.outcome = "failed"
            report.longrepr = message if report.longrepr is None else f"{report.longrepr}\n\n{message}"
        return report

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.stop_all()

    def _services_of(self, item: pytest.Item) -> list[GoService]:
        funcargs = getattr(item, "funcargs", {}) or {}
        found = [v for v in funcargs.values() if isinstance(v, GoService)]
        check = item.stash.get(LEAK_CHECK, None)
        if check is not None and check.service is not None and check.service not in found:
            found.append(check.service)
        return found + item.stash.get(CALL_SERVICES, [])

    # ---------------------------------------------------------------- builds

    def go_version(self, go: str) -> str:
        """The version of the ``go`` binary (``go env GOVERSION``), asked once per session."""
        if go not in self._go_versions:
            self._go_versions[go] = go_env_for_build(go).get("GOVERSION", "")
        return self._go_versions[go]

    def build(self, package_dir: Path, config: GoperfConfig, cache_dir: Path, env: Mapping[str, str],
              import_path: str | None = None) -> BuildResult:
        key = (package_dir, import_path, config.go, config.build_flags, tuple(sorted(env.items())))
        cached = self.builds.get(key)
        if cached is None:
            what = import_path or str(package_dir)
            if env.get("GOEXPERIMENT") == "goroutineleakprofile":
                self.progress(f"{what}: the build adds GOEXPERIMENT=goroutineleakprofile (Go 1.26 serves the "
                              "goroutineleak profile only with it; set GOEXPERIMENT in [tool.goperf] env to choose)")
            started = time.monotonic()
            try:
                cached = build_binary(
                    package_dir, cache_dir, go=config.go, flags=config.build_flags, env=env,
                    timeout=config.build_timeout, import_path=import_path, progress=self.progress,
                )
            except BuildError as exc:
                cached = exc
            else:
                if not cached.reused:
                    self.progress(f"built {cached.path.name} in {time.monotonic() - started:.1f} s (cached for later runs "
                                  f"in {cached.path.parent})")
            self.builds[key] = cached
        if isinstance(cached, BuildError):
            raise cached
        return cached

    def stop_all(self) -> None:
        for svc in reversed(self.services):
            svc.stop()
        self.services.clear()


def _leak_env(go_version: str) -> dict[str, str]:
    # Go 1.26 serves /debug/pprof/goroutineleak only when built with this experiment
    # (Go 1.27 has it by default and deleted the setting).
    return {"GOEXPERIMENT": "goroutineleakprofile"} if go_version.startswith("go1.26") else {}


def launch(
    state: ServicesPlugin,
    config: GoperfConfig,
    tmp_factory: pytest.TempPathFactory,
    *,
    package_dir: Path | None,
    args: Sequence[str],
    env: Mapping[str, str],
    name: str,
    binary: Path | None = None,
    import_path: str | None = None,
) -> GoService:
    """Build ``package_dir`` (or ``import_path`` inside it), or take the prebuilt ``binary``, and start it."""
    main_module = config.main_module
    if binary is not None:
        go_version, built_module = prebuilt_info(binary)
        main_module = main_module or built_module
        cwd = binary.parent
    else:
        assert package_dir is not None
        build_env = {}
        if "GOEXPERIMENT" not in env:
            build_env = _leak_env(state.go_version(config.go))
        result = state.build(package_dir, config, cache_dir(config.root), build_env, import_path)
        binary, go_version, cwd = result.path, result.go_version, package_dir
        if import_path is not None and not main_module:
            # The module that provides the built command is the service's own code, not the wrapper module.
            main_module = providing_module(binary)
    spec = ServiceSpec(
        binary=binary,
        args=tuple(args),
        env=dict(env),
        cwd=cwd,
        ready_path=config.ready_path,
        start_timeout=config.start_timeout,
        stop_timeout=config.stop_timeout,
        name=name,
        pprof_scheme=config.pprof_scheme,
        pprof_access=access_from_config(config),
    )
    log_dir = _log_root(tmp_factory)
    log_dir.mkdir(parents=True, exist_ok=True)
    service = start_service(spec, log_dir / f"{name}-{len(state.services)}.log", go_version=go_version,
                            leak_policy=leak_policy(config))
    if main_module:
        service.learn(main_module=main_module)
    state.services.append(service)
    return service


def prebuilt_info(binary: Path) -> tuple[str, str | None]:
    """The Go version and main module a prebuilt binary's build info names ("" and None when it has none)."""
    from ..formats.profile._buildinfo import read_build_info_file

    if not binary.is_file():
        raise ConfigError(f"[tool.goperf] binary {binary} does not exist: build it first, or fix the path "
                          "(relative to pyproject.toml)")
    try:
        info = read_build_info_file(binary)
    except GoperfError:
        return "", None
    return info.go_version, info.main_module or None


def providing_module(binary: Path) -> str | None:
    """The module of the binary's main package: the dependency whose path is the longest prefix of it."""
    from ..formats.profile._buildinfo import read_build_info_file

    try:
        info = read_build_info_file(binary)
    except GoperfError:
        return None
    mods = [info.main, *info.deps]
    owners = [m.path for m in mods if m.path and (info.path == m.path or info.path.startswith(m.path + "/"))]
    return max(owners, key=len) if owners else (info.main_module or None)


def launch_configured(state: ServicesPlugin, config: GoperfConfig, tmp_factory: pytest.TempPathFactory, *,
                      args: Sequence[str], env: Mapping[str, str], name: str) -> GoService:
    """Start the service ``[tool.goperf]`` describes: its prebuilt binary, or its package built."""
    if config.binary_path is not None:
        return launch(state, config, tmp_factory, package_dir=None, binary=config.binary_path, args=args, env=env,
                      name=name)
    return launch(state, config, tmp_factory, package_dir=config.package_dir, import_path=config.import_path,
                  args=args, env=env, name=name)


def leak_policy(config: GoperfConfig) -> LeakPolicy:
    """The project's leak rules: every leak check on a plugin service applies them."""
    return LeakPolicy(tuple(config.leak_ignore), config.leak_settle_timeout)


def _log_root(tmp_factory: pytest.TempPathFactory) -> Path:
    return tmp_factory.getbasetemp() / "goperf-logs"


class GoServiceFactory:
    """Starts more Go services; each is stopped at the end of the scope that started it."""

    def __init__(self, state: ServicesPlugin, tmp_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> None:
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
        binary: str | Path | None = None,
    ) -> GoService:
        """Build (cached) and start the main package in ``package`` (default: the configured one),
        or start the prebuilt executable ``binary`` (no build).

        ``package`` is a directory or an import path (built in ``module_dir``).
        ``args`` and ``env`` may use the placeholders ``{addr}``, ``{port}``,
        ``{host}``, ``{pprof_addr}`` and ``{pprof_port}``.
        """
        config = self._state.config
        run_args = tuple(args) if args is not None else config.args
        run_env = {**config.env, **(env or {})}
        if package is not None and binary is not None:
            raise ConfigError("go_service_factory() takes package or binary, not both")
        if binary is not None:
            path = (config.root / Path(binary)).resolve()
            service = launch(self._state, config, self._tmp, package_dir=None, binary=path, args=run_args,
                             env=run_env, name=name or path.name)
        elif package is None:
            service = launch_configured(self._state, config, self._tmp, args=run_args, env=run_env,
                                        name=name or "service")
        else:
            import_path = package_import_path(str(package), config.root)
            package_dir = ((config.root / (config.module_dir or ".")) if import_path
                           else config.root / Path(package)).resolve()
            service = launch(self._state, config, self._tmp, package_dir=package_dir, import_path=import_path,
                             args=run_args, env=run_env, name=name or Path(str(package)).name)
        owner = self._state.owner_stack[-1] if self._state.owner_stack else None
        if owner is not None:
            owner.addfinalizer(service.stop)  # started inside a fixture: lives as long as that fixture
        else:
            item = self._state.current_item
            if item is None:  # pragma: no cover - only outside of any test
                self._request.addfinalizer(service.stop)
            else:
                item.stash.setdefault(CALL_SERVICES, []).append(service)
        return service
