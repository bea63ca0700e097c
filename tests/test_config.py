"""[tool.goperf] validation: every mistake is named with its key and the expected form."""

from __future__ import annotations

import pytest

from pytest_goperf.config import (
    GoperfConfig,
    IgnoreSpec,
    config_from_table,
    load_config,
)
from pytest_goperf.errors import ConfigError


def test_defaults_and_full_table(tmp_path):
    assert config_from_table({}, tmp_path) == GoperfConfig(root=tmp_path)
    config = config_from_table(
        {
            "package": "./cmd/server",
            "args": ["-listen", "{addr}", "-debug", "{pprof_addr}"],
            "env": {"GOGC": "50"},
            "build_flags": ["-race"],
            "ready_path": "/healthz",
            "start_timeout": 5,
            "leak": {"settle_timeout": 2, "check_all_tests": True, "ignore": [{"top_function": "main.flush*"}]},
        },
        tmp_path,
    )
    assert config.package_dir == (tmp_path / "cmd" / "server").resolve()
    assert config.build_flags == ("-race",)
    assert config.start_timeout == 5.0
    assert config.leak_check_all is True
    assert config.leak_ignore == (IgnoreSpec(top_function="main.flush*"),)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"pakage": "."}, "unknown key 'pakage' in [tool.goperf]"),
        ({"args": "-addr {addr}"}, "args must be a list of strings"),
        ({"start_timeout": -1}, "start_timeout must be a positive number of seconds"),
        ({"start_timeout": True}, "start_timeout must be a positive number"),
        ({"env": {"GOGC": 50}}, "env must be a table of strings"),
        ({"ready_path": "healthz"}, "ready_path must start with '/'"),
        ({"package": ".", "args": ["-addr", "127.0.0.1:8080"]}, "must pass the listen address"),
        ({"leak": {"settle": 1}}, "[tool.goperf.leak] has unknown key(s) ['settle']"),
        ({"leak": {"ignore": [{"top": "x"}]}}, "ignore[0] has unknown key(s) ['top']"),
        ({"leak": {"ignore": {"top_function": "x"}}}, "must be a list of tables"),
    ],
)
def test_mistakes_are_named(tmp_path, table, message):
    with pytest.raises(ConfigError) as excinfo:
        config_from_table(table, tmp_path)
    assert message in str(excinfo.value)


def test_file_and_overrides(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.goperf]\npackage = "svc"\nstop_timeout = 3\n')
    config = load_config(tmp_path, overrides={"url": "http://127.0.0.1:1", "go": None})
    assert config.url == "http://127.0.0.1:1" and config.go == "go" and config.stop_timeout == 3.0
    (tmp_path / "pyproject.toml").write_text("[tool.goperf\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path)


def test_missing_package_says_what_to_set(tmp_path):
    with pytest.raises(ConfigError, match=r"set `package` in \[tool.goperf\]"):
        GoperfConfig(root=tmp_path).package_dir
