"""The plugin as users see it: exit codes, failure text, options and config (pytester runs).

Each inner run builds and starts the real example service; the build cache is
shared through GOPERF_CACHE_DIR so only the first run compiles.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "go-service"
NOPPROF = REPO / "tests" / "go" / "nopprof"


@pytest.fixture(autouse=True)
def _go_env(inner_go_env):
    return inner_go_env


def toml_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, (str, Path)):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def project(pytester: pytest.Pytester, package: Path = EXAMPLE, settings: dict | None = None, **tests: str) -> None:
    """An inner project: [tool.goperf] for ``package`` (plus ``settings``) and test files."""
    table = {"package": package, "args": ["-addr", "{addr}"], "ready_path": "/debug/pprof/", **(settings or {})}
    pytester.makepyprojecttoml("[tool.goperf]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()))
    pytester.makepyfile(**{name: textwrap.dedent(src) for name, src in tests.items()})


def assert_dead(pid: int) -> None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    # A zombie is not a leftover service if its parent (pytester's process) reaps it later.
    status = Path(f"/proc/{pid}/status").read_text() if Path(f"/proc/{pid}/status").exists() else ""
    assert "zombie" in status, f"process {pid} is still running"


def test_leak_fails_the_test_with_the_creation_site(pytester):
    project(
        pytester,
        test_svc="""
        from pytest_goperf import assert_no_goroutine_leak

        def test_clean(go_service):
            with assert_no_goroutine_leak(go_service):
                go_service.client.get("/work?n=10")

        def test_leaky(go_service):
            with assert_no_goroutine_leak(go_service, settle_timeout=0.3):
                go_service.client.get("/defect/leak-orphan")
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*GoroutineLeakError: 1 goroutine leaked*",
            "*1 x [[]chan receive[]]*",
            "*main.orphanReceiver",
            "*defects.go:*",
            "*created by main.leakOrphan",
            "*dumps: *goroutines-before.txt*",
        ]
    )


def test_marker_and_global_switch_wrap_whole_tests(pytester):
    project(
        pytester,
        test_marked="""
        import pytest

        @pytest.mark.no_goroutine_leak(settle_timeout=0.3)
        def test_marked_leak(go_service):
            go_service.client.get("/defect/leak-global")

        @pytest.mark.no_goroutine_leak(ignore=[{"created_by": "main.leakTicker"}], settle_timeout=0.3)
        def test_marked_ignored(go_service):
            go_service.client.get("/defect/leak-ticker")

        def test_unmarked_leak_passes_without_the_switch(go_service):
            go_service.client.get("/defect/leak-global")
        """,
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_marked_leak FAILED*"])

    result = pytester.runpytest("--goperf-leak-check", "-k", "unmarked", "-o", "addopts=")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*main.globalWaiter*"])


def test_service_crash_fails_that_test_with_the_log_and_later_tests_run(pytester, tmp_path):
    pids = tmp_path / "pids"
    project(
        pytester,
        test_crash=f"""
        import time

        def test_crashes(go_service):
            open({str(pids)!r}, "a").write(f"{{go_service.pid}}\\n")
            go_service.client.get("/defect/crash")
            time.sleep(1.0)

        def test_after(go_service):
            open({str(pids)!r}, "a").write(f"{{go_service.pid}}\\n")
            assert go_service.client.get("/healthz").status_code == 200
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ServiceDiedError: during test_crash.py::test_crashes: the Go service exited with status 2*",
            "*panic: goperf-demo: deliberate crash requested by /defect/crash*",
        ]
    )
    first, second = (int(p) for p in pids.read_text().split())
    assert first != second  # restarted
    assert_dead(first)
    assert_dead(second)


def test_build_failure_is_reported_once_with_the_compiler_output(pytester):
    broken = pytester.path / "broken"
    broken.mkdir()
    (broken / "go.mod").write_text("module example.com/broken\n\ngo 1.21\n")
    (broken / "main.go").write_text('package main\n\nfunc main() {\n\tvar x int = "not a number"\n}\n')
    project(
        pytester,
        package=broken,
        test_a="""
        def test_one(go_service): pass
        def test_two(go_service): pass
        def test_three(go_service): pass
        def test_without_service(): pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=3)
    # the ERRORS section (pytest's short summary repeats messages, in full when CI is set)
    out = result.stdout.str().split("short test summary info")[0]
    assert out.count("cannot use \"not a number\"") == 1, out
    assert out.count("the same error as above (shown in full once)\n") == 2
    result.stdout.fnmatch_lines(["*BuildError: go build failed in*"])


def test_pprof_not_enabled_is_a_clear_error(pytester):
    project(pytester, package=NOPPROF, test_a="def test_one(go_service): pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pprof is not enabled*net/http/pprof*"])


def test_readiness_timeout_says_what_to_do(pytester):
    project(pytester, settings={"start_timeout": 1.5, "ready_path": "/nope"}, test_a="def test_one(go_service): pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*did not become ready within 2 s (http://127.0.0.1:*/nope answered 404)*start_timeout*"])


def test_busy_port_is_retried_then_reported(pytester):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = ["-addr", "{addr}", "-pprof-addr", f"127.0.0.1:{port}"]
        project(pytester, settings={"args": args}, test_a="def test_one(go_service): pass\n")
        result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*port the service binds stayed in use after 3 attempts*", "*address already in use*"])


def test_config_errors_name_the_key(pytester):
    pytester.makepyprojecttoml('[tool.goperf]\npackage = "."\nstart_timout = 3\n')
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown key 'start_timout' in [[]tool.goperf[]]*"])


def test_attach_to_a_running_service(pytester, go_service_factory, tmp_path):
    running = go_service_factory(package=str(EXAMPLE))
    pytester.makepyprojecttoml("[tool.goperf]\npackage = \"does-not-exist\"\n")
    pytester.makepyfile(
        f"""
        def test_attached(go_service):
            assert go_service.url == {running.url!r}
            assert go_service.pid is None
            assert go_service.client.get("/healthz").json()["status"] == "ok"
            assert any(g.top_function == "main.main" or g.id == 1 for g in go_service.goroutines())
        """
    )
    result = pytester.runpytest(f"--goperf-url={running.url}")
    result.assert_outcomes(passed=1)
    assert running.alive  # attaching never stops the service


def test_factory_services_stop_with_their_scope(pytester, tmp_path):
    pids = tmp_path / "pids"
    project(
        pytester,
        test_f=f"""
        import os, pytest

        @pytest.fixture(scope="module")
        def second(go_service_factory):
            return go_service_factory(args=["-addr", "{{addr}}", "-extra-cpu", "0.5"], env={{"GOGC": "200"}})

        def test_in_body(go_service_factory, second):
            svc = go_service_factory()
            open({str(pids)!r}, "a").write(f"body {{svc.pid}}\\n")
            assert svc.url != second.url
            assert svc.client.get("/healthz").status_code == 200

        def test_body_service_is_gone(second):
            body = [l.split()[1] for l in open({str(pids)!r}) if l.startswith("body")]
            with pytest.raises(ProcessLookupError):
                os.kill(int(body[0]), 0)
            open({str(pids)!r}, "a").write(f"module {{second.pid}}\\n")
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    for line in pids.read_text().split("\n"):
        if line:
            assert_dead(int(line.split()[1]))


def test_measurement_limits_keep_artifacts_of_the_failing_test(pytester, tmp_path):
    artifacts = tmp_path / "artifacts"
    project(
        pytester,
        test_m="""
        import pytest

        @pytest.mark.goperf(rounds=1, window=1, warmup=0.2, concurrency=2, limits={"hot_share:main.spinCore": 0.01})
        def test_cpu_budget(goperf):
            goperf.measure("/work?n=2000")

        def test_fine(goperf):
            result = goperf.measure("/items", rounds=1, window=1, warmup=0.2, concurrency=1)
            assert len(result.rounds) == 1
        """,
    )
    result = pytester.runpytest(f"--goperf-artifacts={artifacts}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*GoperfAssertionError: hot_share:main.spinCore = * fraction (median; rounds: *) exceeds the limit 0.01*",
            "*- goperf artifacts -*",
            f"{artifacts}/test_m.py_test_cpu_budget/m0*go tool trace*",
            f"{artifacts}/test_m.py_test_cpu_budget/m0/round-00/report.html*report with charts*",
            "*2 measurement round(s) in 2 test(s)*",
        ]
    )
    kept = artifacts / "test_m.py_test_cpu_budget" / "m0" / "round-00"
    assert {"trace.out", "cpu.pprof", "goroutines-start.txt", "goroutines-end.txt", "load.json", "report.html"} <= {
        p.name for p in kept.iterdir()
    }
    assert not (artifacts / "test_m.py_test_fine").exists()  # passing tests keep nothing


def test_measure_rejects_bad_settings_before_loading(pytester):
    project(
        pytester,
        test_bad="""
        import pytest
        from pytest_goperf import ConfigError

        def test_window(goperf):
            with pytest.raises(ConfigError, match="whole number of seconds"):
                goperf.measure("/items", window=0.5)

        def test_metric_name(goperf):
            with pytest.raises(ConfigError, match="unknown metric 'latency.p42'"):
                goperf.measure("/items", track=["latency.p42"])

        def test_model(goperf):
            with pytest.raises(ConfigError, match="either rate .* or concurrency"):
                goperf.measure("/items", rate=100, concurrency=2)

        @pytest.mark.goperf(round=3)
        def test_marker_typo(goperf):
            pass
        """,
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*@pytest.mark.goperf takes keyword arguments*got [[]'round'[]]*"])


def test_measurement_windows_never_overlap_across_xdist_workers(pytester, tmp_path):
    log = tmp_path / "windows"
    body = f"""
        def record(result):
            with open({str(log)!r}, "a") as fh:
                for r in result.rounds:
                    fh.write(f"{{r.started_at}} {{r.started_at + r.window}}\\n")
        """
    tests = {
        f"test_w{i}": body + f"""
        def test_measure_{i}(goperf):
            record(goperf.measure("/work?n=100", rounds=2, window=1, warmup=0.1, concurrency=1, check_leaks=False))
        """
        for i in range(2)
    }
    project(pytester, **tests)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*4 measurement round(s) in 2 test(s); windows of parallel xdist workers were serialised*"])
    windows = sorted(tuple(map(float, line.split())) for line in log.read_text().splitlines())
    assert len(windows) == 4
    for (_, end), (start, _) in zip(windows, windows[1:]):
        assert start >= end - 0.05, f"windows overlap: {windows}"


def test_project_ignore_rules_apply_to_direct_checks(pytester):
    pytester.makepyprojecttoml(
        textwrap.dedent(
            f"""
            [tool.goperf]
            package = "{EXAMPLE}"

            [tool.goperf.leak]
            settle_timeout = 0.3

            [[tool.goperf.leak.ignore]]
            created_by = "main.leakTicker"
            """
        )
    )
    pytester.makepyfile(
        test_direct="""
        import pytest
        from pytest_goperf import GoroutineLeakError, assert_no_goroutine_leak

        def test_ignored_by_the_project(go_service):
            with assert_no_goroutine_leak(go_service) as check:
                go_service.client.get("/defect/leak-ticker")
            assert check.settle_timeout == 0.3

        def test_other_leaks_still_fail(go_service):
            with pytest.raises(GoroutineLeakError, match="main.globalWaiter"):
                with assert_no_goroutine_leak(go_service):
                    go_service.client.get("/defect/leak-global")
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
