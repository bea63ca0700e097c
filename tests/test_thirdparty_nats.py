"""nats-server, a real server nobody here wrote, under the plugin (opt-in: ``-m thirdparty``).

nats-server v2.15.2 is built through the Go module proxy as an import path inside a module
that requires it; its port speaks NATS, not HTTP (``ready_path = ""``: ready when it accepts a
connection), and it serves pprof on its own listener (``--profile {pprof_port}``). The load is
the test's own calls (one call = one request: PUB to a subject the connection subscribes to,
then a PING/PONG round trip, over the NATS text protocol on a socket). Checks: a leak check
around client traffic, a measurement (leak-checked) with that load, ``goperf triage`` idle at
GOMAXPROCS=1 and under load; none with a false finding.
"""

from __future__ import annotations

import textwrap

import pytest
from thirdparty_support import INNER_TRIAGE, REPO, require_module, toml_string

pytestmark = [pytest.mark.thirdparty, pytest.mark.timeout(3600)]

NATS = "github.com/nats-io/nats-server/v2"
NATS_VERSION = "v2.15.2"

INNER_TESTS = '''
import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from goperf_triage import assert_no_false_finding_under_load, summary, triage

from pytest_goperf import CallableLoad, ClosedModel, assert_no_goroutine_leak, run_callable_load


class Nats:
    """One NATS connection speaking the text protocol: subscribe to a subject, publish to it, round-trip."""

    def __init__(self, url):
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.rd = self.sock.makefile("rb")
        assert self.rd.readline().startswith(b"INFO ")
        self.subject = f"goperf.t.{uuid.uuid4().hex}".encode()  # a subject of its own, like an inbox
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\\r\\nSUB ' + self.subject
                          + b' 1\\r\\nPING\\r\\n')
        self._until(b"PONG\\r\\n")

    def _until(self, want):
        got = 0
        while True:
            line = self.rd.readline()
            if not line:
                raise ConnectionError("nats-server closed the connection")
            if line == b"PING\\r\\n":
                self.sock.sendall(b"PONG\\r\\n")
            elif line.startswith(b"MSG "):
                self.rd.read(int(line.split()[-1]) + 2)
                got += 1
            elif line == want:
                return got

    def request(self):
        self.sock.sendall(b"PUB " + self.subject + b" 5\\r\\nhello\\r\\nPING\\r\\n")
        assert self._until(b"PONG\\r\\n") == 1  # our own message came back before the PONG

    def close(self):
        self.rd.close()
        self.sock.close()


def nats_load():
    """A load function of the service: one NATS connection per caller thread, all closed at the end."""
    local, opened, lock = threading.local(), [], threading.Lock()
    target = {}

    def call(service):
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = Nats(service.url)
            with lock:
                opened.append(conn)
        conn.request()

    def close():
        with lock:
            for c in opened:
                c.close()
            opened.clear()

    return CallableLoad(call, name="nats pub+ping", close=close)


def test_leak_check_around_client_traffic(go_service):
    with assert_no_goroutine_leak(go_service, settle_timeout=3.0) as check:
        def session(_):
            c = Nats(go_service.url)
            for _ in range(50):
                c.request()
            c.close()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(session, range(16)))
    print("NATS-LEAK-CHECK", json.dumps({d.rule: d.count for d in check.report.discounted}))


def test_measurement_with_its_own_calls(goperf):
    m = goperf.measure(nats_load(), concurrency=4, rounds=2, window=2, warmup=1)
    print("NATS-MEASURE", json.dumps({
        "latency_p99_ms": m.latency.p99_ms, "throughput": m.throughput, "runnable_p99": m.runnable.p99,
        "classes": {c: m.class_share(c) for c in ("user", "stdlib", "runtime", "module", "syscall")},
        "errors": [r.load.errors for r in m.rounds], "samples": [r.load.error_samples for r in m.rounds],
        "go_version": goperf.service.go_version, "main_module": goperf.service.main_module,
    }))
    assert m.leak_report is not None and not m.leak_report.leaks
    assert all(r.load.failed == 0 and r.load.completed > 0 for r in m.rounds)
    assert goperf.service.main_module == "github.com/nats-io/nats-server/v2"
    assert m.class_share("user") > 0


def test_triage_idle_at_gomaxprocs_1(go_service_factory):
    svc = go_service_factory(env={"GOMAXPROCS": "1"}, name="nats-1p")
    code, t = triage(svc.pprof_url)
    print("NATS-TRIAGE-IDLE", summary(t))
    assert t["gomaxprocs"] == 1
    assert code == 0 and t["findings"] == [], t["findings"]


def test_triage_under_client_load(go_service):
    results = []
    load = threading.Thread(target=lambda: results.append(run_callable_load(
        nats_load(), model=ClosedModel(4), duration=6, target=go_service)))
    load.start()
    time.sleep(1)
    code, t = triage(go_service.pprof_url)
    load.join()
    print("NATS-TRIAGE-LOAD", summary(t, requests=results[0].completed if results else None))
    assert_no_false_finding_under_load(t)
'''


@pytest.fixture(scope="module")
def nats_module():
    return require_module("nats", NATS, NATS_VERSION, NATS)


def test_nats_leak_check_measure_and_triage(pytester, nats_module, tmp_path, monkeypatch, inner_go_env):
    pytester.makepyprojecttoml(textwrap.dedent(f"""\
        [tool.goperf]
        package = "{NATS}"
        module_dir = {toml_string(nats_module)}
        args = ["-a", "127.0.0.1", "-p", "{{port}}", "--profile", "{{pprof_port}}"]
        ready_path = ""
        start_timeout = 60
        build_timeout = 3600
        """))
    pytester.makepyfile(test_nats=INNER_TESTS, goperf_triage=INNER_TRIAGE)
    monkeypatch.setenv("GOPERF_CACHE_DIR", str(REPO / ".goperf" / "bin"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "-o", "timeout=3000",
                                           f"--basetemp={tmp_path / 'inner'}")
    out = result.stdout.str()
    print(out)  # the NATS-* lines are what each check said
    result.assert_outcomes(passed=4)
    assert "goroutines leaked" not in out and "goroutine leaked" not in out
