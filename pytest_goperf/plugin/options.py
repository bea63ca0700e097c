"""The plugin's command-line options and how they override ``[tool.goperf]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

__all__ = ["add_options", "overrides", "pyproject_of"]


def add_options(parser: pytest.Parser) -> None:
    """Register every ``--goperf-*`` option."""
    group = parser.getgroup("goperf", "Go service performance and goroutine-leak testing")
    group.addoption("--goperf-url", metavar="URL", help="attach to a service already running at URL instead of building one")
    group.addoption("--goperf-pprof-url", metavar="URL", help="base URL of its /debug/pprof/ when it differs from --goperf-url")
    group.addoption(
        "--goperf-allow-remote", action="store_true", default=None,
        help="allow --goperf-url/--goperf-pprof-url hosts that are not loopback, e.g. a container reached by name "
        "([tool.goperf] allow_remote)",
    )
    group.addoption("--goperf-package", metavar="DIR", help="directory of the Go main package to build ([tool.goperf] package)")
    group.addoption("--goperf-binary", metavar="PATH",
                    help="start this prebuilt executable instead of building a package ([tool.goperf] binary)")
    group.addoption("--goperf-main-module", metavar="PATH",
                    help="the service's main module path: its packages are user code ([tool.goperf] main_module)")
    group.addoption("--goperf-go", metavar="PATH", help="the go binary to build with ([tool.goperf] go)")
    group.addoption(
        "--goperf-build-flags", metavar="FLAGS",
        help="extra go build flags, space separated, e.g. '-race' ([tool.goperf] build_flags)",
    )
    group.addoption("--goperf-artifacts", metavar="DIR", help="keep dumps, traces and profiles of failing checks in DIR")
    group.addoption("--goperf-baselines", metavar="DIR",
                    help="baseline directory ([tool.goperf] baselines, default .goperf/baselines)")
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
        "--goperf-compare-to", metavar="REV",
        help="compare with this base in the same run: a git revision (origin/main, a commit, the merge base) "
        "or a directory holding a checkout of it; the working tree is the head ([tool.goperf.gate] compare_to, "
        "GOPERF_COMPARE_TO)",
    )
    group.addoption(
        "--goperf-schedule", choices=("interleaved", "duet"), default=None,
        help="how base and head rounds are scheduled with --goperf-compare-to: interleaved (ABBA, the default) "
        "or duet (both at once) ([tool.goperf.gate] schedule)",
    )
    group.addoption(
        "--goperf-leak-check",
        action="store_true",
        default=None,
        help="check every test that uses go_service for goroutine leaks ([tool.goperf.leak] check_all_tests)",
    )


def overrides(config: pytest.Config) -> dict[str, Any]:
    """The settings the command line gives, as :class:`~pytest_goperf.config.GoperfConfig` attributes (None: not given)."""
    flags = config.getoption("goperf_build_flags")
    artifacts = config.getoption("goperf_artifacts")
    baselines = config.getoption("goperf_baselines")
    return {
        "url": config.getoption("goperf_url"),
        "pprof_url": config.getoption("goperf_pprof_url"),
        "allow_remote": config.getoption("goperf_allow_remote"),
        "package": config.getoption("goperf_package"),
        "binary": config.getoption("goperf_binary"),
        "main_module": config.getoption("goperf_main_module"),
        "go": config.getoption("goperf_go"),
        "build_flags": tuple(flags.split()) if flags else None,
        "artifacts": Path(artifacts).resolve() if artifacts else None,
        "leak_check_all": config.getoption("goperf_leak_check"),
        "baselines": Path(baselines).resolve() if baselines else None,
        "strict_environment": config.getoption("goperf_strict_env"),
        "compare_to": config.getoption("goperf_compare_to"),
        "schedule": config.getoption("goperf_schedule"),
    }


def pyproject_of(config: pytest.Config) -> Path:
    """The ``pyproject.toml`` whose ``[tool.goperf]`` applies: pytest's ini file when it is one, else the root's."""
    if config.inipath is not None and config.inipath.name == "pyproject.toml":
        return config.inipath
    return config.rootpath / "pyproject.toml"
