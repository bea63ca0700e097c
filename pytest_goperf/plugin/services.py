"""Builds and services owned by a pytest session: the services plugin object and the go_service_factory.

:class:`ServicesPlugin` builds each package once per session, knows which
fixture or test owns each service (and stops it when that scope ends),
restarts the session service after a crash, and fails the test during which
a service died, with its exit status and log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ..analysis.leaks import LeakPolicy
from ..config import GoperfConfig, cache_dir
from ..errors import BuildError, GoperfError, ServiceDiedError
from ..runtime.build import BuildResult, build_binary, go_env_for_build
from ..runtime.service import GoService, ServiceSpec, describe_exit, start_service
from .keys import CALL_SERVICES, LEAK_CHECK, ReportWrapper, Wrapper

__all__ = ["GoServiceFactory", "ServicesPlugin", "launch", "leak_policy"]


class ServicesPlugin:
    """Builds shared by the session, which services belong to which scope, and their health."""

    def __init__(self, config: GoperfConfig) -> None:
        self.config = config
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


def _leak_env(go_version: str) -> dict[str, str]:
    # Go 1.26 serves /debug/pprof/goroutineleak only when built with this experiment
    # (Go 1.27 has it by default and deleted the setting).
    return {"GOEXPERIMENT": "goroutineleakprofile"} if go_version.startswith("go1.26") else {}


def launch(
    state: ServicesPlugin,
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
        build_env = _leak_env(state.go_version(config.go))
    result = state.build(package_dir, config, cache_dir(config.root), build_env)
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
    service = start_service(spec, log_dir / f"{name}-{len(state.services)}.log", go_version=result.go_version,
                            leak_policy=leak_policy(config))
    state.services.append(service)
    return service


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
    ) -> GoService:
        """Build (cached) and start the main package in ``package`` (default: the configured one).

        ``args`` and ``env`` may use the placeholders ``{addr}``, ``{port}``,
        ``{host}``, ``{pprof_addr}`` and ``{pprof_port}``.
        """
        config = self._state.config
        package_dir = config.package_dir if package is None else (config.root / Path(package)).resolve()
        service = launch(
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
                item.stash.setdefault(CALL_SERVICES, []).append(service)
        return service
