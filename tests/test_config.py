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


# -- hardening (issue 13): each reproducer, a ConfigError naming the key --------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"tool = 1\n", "[tool] must be a table, got 1"),
        (b"[tool]\ngoperf = 1\n", "[tool.goperf] must be a table, got 1"),
        (b'[tool.goperf]\npackage = "caf\xe9"\n', "is not UTF-8 text (byte 28)"),
        (b"[tool.goperf]\nstart_timeout = nan\n", "start_timeout must be a positive number of seconds"),
        (b"[tool.goperf]\nstart_timeout = inf\n", "start_timeout must be a positive number of seconds"),
        (b"[tool.goperf]\nstop_timeout = 1e300\n", "at most 86400"),
        (b"[tool.goperf.leak]\nsettle_timeout = nan\n", "leak.settle_timeout must be a positive number of seconds"),
        (b"[tool.goperf.leak]\nsettle_timeout = -inf\n", "leak.settle_timeout must be a positive number"),
        (b'[tool.goperf]\nurl = "not a url"\n', "[tool.goperf] url (or --goperf-url) must be an http:// or https:// URL"),
        (b'[tool.goperf]\nurl = "file:///etc/passwd"\n', "must be an http:// or https:// URL"),
        (b'[tool.goperf]\npprof_url = "http://"\n', "pprof_url (or --goperf-pprof-url) 'http://' has no host"),
        (b'[tool.goperf]\nurl = "http://127.0.0.1:99999"\n', "is not a valid URL: Port out of range"),
        (b'[tool.goperf]\nurl = "http://db.internal:8080"\n', "host 'db.internal' is not a loopback address"),
        (b'[tool.goperf]\nurl = "http://localhost:1"\nallow_remote = "yes"\n', "allow_remote must be true or false"),
        (b'[[tool.goperf.leak.ignore]]\ntop_function = "re:main.(worker"\n',
         "[tool.goperf.leak] ignore[0].top_function = 're:main.(worker' is not a valid regular expression"),
        (b'[tool.goperf]\nargs = ["-addr", "{addr}\\u0000"]\n', "args contains a NUL character"),
        (b'[tool.goperf]\nenv = { "A=B" = "1" }\n', "an environment variable name is not empty and has no '='"),
    ],
)
def test_every_bad_value_is_a_config_error_naming_the_key(tmp_path, text, message):
    (tmp_path / "pyproject.toml").write_bytes(text)
    with pytest.raises(ConfigError) as excinfo:
        load_config(tmp_path)
    assert message in str(excinfo.value)


def test_deeply_nested_tables_are_a_config_error(tmp_path):
    deep = "[tool.goperf]\nenv = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n"
    (tmp_path / "pyproject.toml").write_text(deep)
    with pytest.raises(ConfigError, match=r"nested too deeply|env must be a table of strings"):
        load_config(tmp_path)
    arrays = "[tool.goperf]\nargs = " + "[" * 5000 + "]" * 5000 + "\n"
    (tmp_path / "pyproject.toml").write_text(arrays)
    with pytest.raises(ConfigError, match=r"nested too deeply|args must be a list of strings"):
        load_config(tmp_path)


def test_a_pyproject_that_cannot_be_read_is_a_config_error(tmp_path):
    (tmp_path / "pyproject.toml").mkdir()
    with pytest.raises(ConfigError, match="cannot read .*pyproject.toml"):
        load_config(tmp_path)


def test_remote_hosts_need_the_explicit_opt_in(tmp_path):
    table = {"url": "http://svc:8080", "pprof_url": "http://[::1]:6060"}
    with pytest.raises(ConfigError, match="allow_remote = true"):
        config_from_table(table, tmp_path)
    config = config_from_table({**table, "allow_remote": True}, tmp_path)
    assert config.allow_remote and config.url == "http://svc:8080"
    # An override from the command line is checked the same way.
    with pytest.raises(ConfigError, match="not a loopback address"):
        load_config(tmp_path, overrides={"url": "http://10.1.2.3:80"})
    assert load_config(tmp_path, overrides={"url": "http://10.1.2.3:80", "allow_remote": True}).url


def test_bad_regex_in_a_name_pattern_is_a_usage_error():
    from pytest_goperf.analysis.patterns import name_matcher
    from pytest_goperf.errors import UsageError

    with pytest.raises(UsageError, match=r"invalid regular expression in the name pattern 're:\(\('"):
        name_matcher("re:((")


# (`tool = 1` and a non-UTF-8 file never reach the plugin: pytest's own reading of
# [tool.pytest] fails on them first, with its own traceback.)
@pytest.mark.parametrize("toml", [
    "[tool.goperf]\nstart_timeout = nan\n",
    '[tool.goperf]\nurl = "file:///x"\n',
    '[[tool.goperf.leak.ignore]]\nfunction = "re:["\n',
])
def test_pytest_exits_with_usage_status_4(pytester, toml):
    pytester.makefile(".toml", pyproject=toml)
    pytester.makepyfile(test_nothing="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*pytest-goperf: *"])
    assert "Traceback" not in result.stderr.str()


def test_goperf_url_option_needs_allow_remote_for_other_hosts(pytester):
    pytester.makefile(".toml", pyproject="[tool.goperf]\n")
    pytester.makepyfile(test_nothing="def test_x():\n    pass\n")
    refused = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--goperf-url", "http://app:8080")
    assert refused.ret == 4
    refused.stderr.fnmatch_lines(["*--goperf-url*'app' is not a loopback address*--goperf-allow-remote*"])
    # No test uses the service, so nothing connects to it.
    allowed = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--goperf-url", "http://app:8080",
                                            "--goperf-allow-remote")
    assert allowed.ret == 0


def test_url_refusals_never_show_the_password():
    """A remote URL with credentials is refused without echoing them (issues 12 and 13 together)."""
    from pytest_goperf.config import check_service_url

    with pytest.raises(ConfigError) as info:
        check_service_url("https://bob:s3cret-token@10.0.0.1:6060/debug", "[tool.goperf] url")
    assert "s3cret-token" not in str(info.value) and "bob:***@10.0.0.1" in str(info.value)
