"""Caddy, a real server nobody here wrote, under the plugin (opt-in: ``-m thirdparty``).

Caddy v2.11.9 is built through the Go module proxy as an import path inside a module that
requires it (``package = "github.com/caddyserver/caddy/v2/cmd/caddy"``, ``module_dir``; no
wrapper main), gets its listen address only through the environment (the Caddyfile's
``{$LISTEN}``), and serves pprof on its admin listener. It reverse-proxies to the example
service, so its HTTP client pool fills with keep-alive connections: the shape that made the leak
check report "16 goroutines leaked" before. Checks: a leak check around proxied traffic, a
measurement (leak-checked) and ``goperf triage`` idle at GOMAXPROCS=1, none with a false finding.
"""

from __future__ import annotations

import textwrap

import pytest
from thirdparty_support import EXAMPLE, INNER_TRIAGE, REPO, require_module, toml_string

from pytest_goperf.runtime.build import build_binary
from pytest_goperf.runtime.service import ServiceSpec, start_service

pytestmark = [pytest.mark.thirdparty, pytest.mark.timeout(3600)]

CADDY = "github.com/caddyserver/caddy/v2"
CADDY_VERSION = "v2.11.9"
CADDYFILE = """\
{
	admin {$ADMIN}
	persist_config off
	auto_https off
}

{$LISTEN} {
	reverse_proxy {$UPSTREAM}
}
"""

INNER_TESTS = '''
import json
import time
from concurrent.futures import ThreadPoolExecutor

from goperf_triage import assert_no_false_finding_under_load, summary, triage

from pytest_goperf import assert_no_goroutine_leak


def test_leak_check_around_proxied_traffic(go_service):
    with assert_no_goroutine_leak(go_service, settle_timeout=2.0) as check:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda i: go_service.client.get("/work", params={"n": 10}).status_code, range(64)))
        assert codes == [200] * 64
    found = {d.rule: d.count for d in check.report.discounted}
    print("CADDY-LEAK-CHECK", json.dumps(found))
    assert found.get("idle_client_conn", 0) >= 2, found


def test_measurement_through_the_proxy(goperf):
    m = goperf.measure("/work?n=50", concurrency=4, rounds=2, window=2, warmup=1)
    print("CADDY-MEASURE", json.dumps({
        "latency_p99_ms": m.latency.p99_ms, "throughput": m.throughput,
        "runnable_p99": m.runnable.p99, "classes": {c: m.class_share(c) for c in ("user", "stdlib", "runtime", "module", "syscall")},
        "leak_discounted": {d.rule: d.count for d in m.leak_report.discounted},
        "go_version": goperf.service.go_version, "main_module": goperf.service.main_module,
    }))
    assert m.leak_report is not None and not m.leak_report.leaks
    assert goperf.service.main_module == "github.com/caddyserver/caddy/v2"
    assert m.class_share("user") > 0  # Caddy's own packages are the service's code


def test_triage_of_the_idle_proxy_at_gomaxprocs_1(go_service_factory):
    svc = go_service_factory(env={"GOMAXPROCS": "1"}, name="caddy-1p")
    code, t = triage(svc.pprof_url)
    print("CADDY-TRIAGE-IDLE", summary(t))
    assert t["gomaxprocs"] == 1
    assert code == 0 and t["findings"] == [], t["findings"]


def test_triage_under_proxied_load(go_service):
    import threading

    from pytest_goperf import ClosedModel, run_load

    results = []
    load = threading.Thread(target=lambda: results.append(
        run_load(go_service.url + "/work?n=50", model=ClosedModel(4), duration=6)))
    load.start()
    time.sleep(1)
    code, t = triage(go_service.pprof_url)
    load.join()
    print("CADDY-TRIAGE-LOAD", summary(t, requests=results[0].completed if results else None))
    assert_no_false_finding_under_load(t)
'''


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    binary = build_binary(EXAMPLE, tmp_path_factory.mktemp("bin")).path
    svc = start_service(ServiceSpec(binary=binary, ready_path="/healthz"), tmp_path_factory.mktemp("up") / "up.log")
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def caddy_module():
    return require_module("caddy", CADDY, CADDY_VERSION, f"{CADDY}/cmd/caddy")


def test_caddy_reverse_proxy_leak_check_measure_and_triage(pytester, caddy_module, upstream, tmp_path, monkeypatch,
                                                           inner_go_env):
    pytester.makefile("", Caddyfile=CADDYFILE)
    data = tmp_path / "caddy-data"
    pytester.makepyprojecttoml(textwrap.dedent(f"""\
        [tool.goperf]
        package = "{CADDY}/cmd/caddy"
        module_dir = {toml_string(caddy_module)}
        args = ["run", "--config", "Caddyfile", "--adapter", "caddyfile"]
        ready_path = "/healthz"
        start_timeout = 60
        build_timeout = 3600

        [tool.goperf.env]
        LISTEN = "http://{{addr}}"
        ADMIN = "{{pprof_addr}}"
        UPSTREAM = "{upstream.url.removeprefix('http://')}"
        XDG_DATA_HOME = {toml_string(data)}
        XDG_CONFIG_HOME = {toml_string(data)}
        """))
    # Caddy reads the Caddyfile from its working directory: the module dir is the build's cwd, so
    # give the absolute path instead.
    pyproject = pytester.path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"Caddyfile"', toml_string(pytester.path / "Caddyfile")))
    pytester.makepyfile(test_caddy=INNER_TESTS, goperf_triage=INNER_TRIAGE)
    # The plugin's build cache of this repository (not a shared one): the Caddy binary is reused next time.
    monkeypatch.setenv("GOPERF_CACHE_DIR", str(REPO / ".goperf" / "bin"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "-o", "timeout=3000",
                                           f"--basetemp={tmp_path / 'inner'}")
    out = result.stdout.str()
    print(out)  # the CADDY-* lines are what each check said
    result.assert_outcomes(passed=4)
    assert "goroutines leaked" not in out and "goroutine leaked" not in out
