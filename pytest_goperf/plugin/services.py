"""Builds and services owned by a pytest session, and the go_service_factory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import pytest

from ..config import GoperfConfig
from ..errors import BuildError
from ..runtime.build import BuildResult, build_binary, go_env_for_build
from ..runtime.service import GoService, ServiceSpec, start_service
from .keys import CALL_SERVICES

__all__ = ["GoServiceFactory", "PluginState", "apply_leak_defaults", "launch"]


class PluginState:
    """Builds shared by the session, and which services belong to which scope."""

    def __init__(self, config: GoperfConfig) -> None:
        self.config = config
        self.builds: dict[tuple, BuildResult | BuildError] = {}
        self.reported: set[int] = set()  # ids of setup errors already shown in full
        self.services: list[GoService] = []
        self.owner_stack: list[pytest.FixtureDef] = []
        self.dead_reported: set[int] = set()
        self.current_item: pytest.Item | None = None
        self._go_versions: dict[str, str] = {}

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


def _cache_dir(config: GoperfConfig) -> Path:
    # GOPERF_CACHE_DIR lets several projects (or pytester runs) share built binaries.
    env = os.environ.get("GOPERF_CACHE_DIR")
    return Path(env) if env else config.root / ".goperf" / "bin"


def _leak_env(go_version: str) -> dict[str, str]:
    # Go 1.26 serves /debug/pprof/goroutineleak only when built with this experiment
    # (Go 1.27 has it by default and deleted the setting).
    return {"GOEXPERIMENT": "goroutineleakprofile"} if go_version.startswith("go1.26") else {}


def launch(
    state: PluginState,
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
    apply_leak_defaults(service, config)
    state.services.append(service)
    return service


def apply_leak_defaults(service: GoService, config: GoperfConfig) -> None:
    """Every leak check on ``service`` applies the project's ignore rules and settle time."""
    service.leak_ignore = tuple(config.leak_ignore)
    service.leak_settle_timeout = config.leak_settle_timeout


def _log_root(tmp_factory: pytest.TempPathFactory) -> Path:
    return tmp_factory.getbasetemp() / "goperf-logs"


class GoServiceFactory:
    """Starts more Go services; each is stopped at the end of the scope that started it."""

    def __init__(self, state: PluginState, tmp_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> None:
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
