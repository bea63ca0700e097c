"""The same-run base concern of the plugin: ``--goperf-compare-to=REV``.

The base is materialised once per run (in the controller under pytest-xdist,
before the workers start; they share its checkout), built with the same Go,
flags and environment as the head, and started beside it. Every measuring
test then measures both (:func:`~pytest_goperf.runtime.measure.measure_pair`).
When there is no base to compare with (the package is new, the base does not
build, its service fails), the tests are judged "no base" and say why; the
head is not failed for the base's faults.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from ..comparison.verdict import BaseInfo
from ..config import GoperfConfig, cache_dir
from ..errors import BuildError, ConfigError, GoperfError
from ..runtime.base import BaseCheckout, materialise_base, remove_base, repository_root
from ..runtime.service import GoService, describe_exit, start_service
from .services import ServicesPlugin, launch

__all__ = ["BasePlugin"]


class BasePlugin:
    """Owns the base checkout, its build and its service; knows why there is none."""

    def __init__(self, config: pytest.Config, goperf_config: GoperfConfig, services: ServicesPlugin) -> None:
        self.config = config
        self.goperf = goperf_config
        self.services = services
        self.owner = not hasattr(config, "workerinput")  # the controller (or the only process) removes the checkout
        self.checkout: BaseCheckout | None = None
        self.package_dir: Path | None = None
        self.note = ""  # why there is no base to compare with
        self.error = ""  # the base's own failure, shown once in the summary (compiler output, exit status)
        self._service: GoService | None = None
        self._started = False
        rev = goperf_config.compare_to
        assert rev is not None
        if goperf_config.url:
            raise ConfigError(
                "--goperf-compare-to builds and starts the base from source beside the head; it cannot attach to a "
                "running service (--goperf-url / url): compare attached services with stored baselines instead")
        if config.getoption("goperf_update_baselines"):
            raise ConfigError("--goperf-update-baselines stores this run's head as baselines; it does not go with "
                              "--goperf-compare-to (run them apart)")
        if goperf_config.binary is not None:
            raise ConfigError(
                "--goperf-compare-to builds the base from source; [tool.goperf] binary names a prebuilt executable "
                "the base has no counterpart of: set `package` (a directory or an import path) to compare with the "
                "base commit, or compare the binary with stored baselines")
        self.checkout = materialise_base(rev, project_root=goperf_config.root, cache=cache_dir(goperf_config.root))
        head_top = repository_root(goperf_config.root) or goperf_config.root
        try:
            rel = goperf_config.package_dir.relative_to(head_top.resolve())
        except ValueError:
            rel = Path(goperf_config.package or ".")
        self.package_dir = self.checkout.root / rel
        # A package given as an import path is built inside its module directory (whose go.mod pins the version).
        if goperf_config.import_path is not None:
            if not (self.package_dir / "go.mod").is_file():
                self.note = f"the module directory {rel.as_posix()} has no go.mod in the base {self.checkout.describe()} (new)"
        elif not self.package_dir.is_dir() or not any(self.package_dir.glob("*.go")):
            self.note = f"the package {rel.as_posix()} does not exist in the base {self.checkout.describe()} (new)"

    def info(self) -> BaseInfo:
        """The base as verdicts and reports name it."""
        assert self.checkout is not None
        return BaseInfo(self.checkout.rev, self.checkout.commit, self.goperf.schedule, self.note)

    def service(self, tmp_factory: pytest.TempPathFactory) -> GoService | None:
        """The base's service, built and started on first use (None, with :attr:`note` set, when there is none)."""
        if self.note:
            return None
        if self._service is not None and not self._service.alive:
            self._restart()
            if self.note:
                return None
        if self._started:
            return self._service
        self._started = True
        assert self.checkout is not None and self.package_dir is not None
        config = self.goperf
        try:
            self._service = launch(self.services, config, tmp_factory, package_dir=self.package_dir,
                                   import_path=config.import_path, args=config.args, env=config.env,
                                   name="go_service_base")
        except BuildError as exc:
            self.note = f"the base {self.checkout.describe()} does not build"
            self.error = f"the base {self.checkout.describe()} does not build:\n{exc}"
        except GoperfError as exc:
            self.note = f"the base's service {self.checkout.describe()} did not start"
            self.error = f"the base's service ({self.checkout.describe()}) did not start:\n{exc}"
        return self._service

    def failed(self, exc: BaseException) -> None:
        """The base failed while a test measured it: no base from here on, unless it restarts."""
        svc = self._service
        what = describe_exit(svc.returncode, svc.log_path, svc.log_tail()) if svc is not None and not svc.alive \
            else str(exc)
        assert self.checkout is not None
        self.error = f"the base's service ({self.checkout.describe()}) failed during a measurement:\n{what}"
        self.note = "the base's service failed (see the goperf summary)"

    def _restart(self) -> None:
        svc = self._service
        assert svc is not None and svc.spec is not None
        try:
            svc._adopt(start_service(svc.spec, svc.log_path or Path("go_service_base.log")))
        except GoperfError as exc:
            self.failed(exc)

    def cleanup(self) -> None:
        """Stop the base's service; the owner removes the checkout it made."""
        if self._service is not None:
            self._service.stop()
        if self.owner and self.checkout is not None:
            remove_base(self.checkout)

    def header(self) -> str:
        """The line pytest prints at the start of the run."""
        assert self.checkout is not None
        where = shlex.quote(str(self.checkout.root))
        return f"goperf: comparing with the base {self.checkout.describe()} ({self.goperf.schedule}), checked out in {where}"

    # ---------------------------------------------------------------- hooks

    def pytest_report_header(self, config: pytest.Config) -> str:
        return self.header()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.cleanup()
