"""Services as they are (issue 12): listen address through the environment, pprof on its own listener
(late, guarded, over HTTPS, or not pprof at all), prebuilt binaries and import paths.

Every test starts the real example service; its pprof listener flags (-pprof-tls, -pprof-token,
-pprof-basic, -pprof-delay, -pprof-catch-all) make the shapes real services have. The HTTPS
certificate is made by the service at start-up with Go's crypto and trusted through a CA bundle.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from pytest_goperf.config import config_from_table
from pytest_goperf.errors import ConfigError, PprofError
from pytest_goperf.runtime.build import build_binary
from pytest_goperf.runtime.capture import capture_folder
from pytest_goperf.runtime.pprof import PprofAccess, PprofClient, access_from_config, redact_url
from pytest_goperf.runtime.service import ServiceSpec, start_service

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "go-service"
SEPARATE = ("-addr", "{addr}", "-pprof-addr", "{pprof_addr}")
TOKEN = "s3cret-token-value"
PASSWORD = "pa55-word-value"


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    return build_binary(EXAMPLE, tmp_path_factory.mktemp("bin")).path


@pytest.fixture
def start(binary, tmp_path):
    started = []

    def run(*args: str, env=None, **spec):
        svc = start_service(ServiceSpec(binary=binary, args=args, env=env or {}, ready_path="/healthz", **spec),
                            tmp_path / f"svc-{len(started)}.log")
        started.append(svc)
        return svc

    yield run
    for svc in started:
        svc.stop()


# ------------------------------------------------------------------ item 3: the address through env


def test_listen_address_through_the_environment_only(start):
    svc = start(env={"PORT": "{port}"})
    assert svc.argv[1:] == []
    assert svc.client.get("/healthz").json()["status"] == "ok"
    assert svc.url.endswith(":" + svc.url.rsplit(":", 1)[1])
    assert svc.goroutines()


def test_config_accepts_env_placeholders_and_refuses_no_address(tmp_path):
    cfg = config_from_table({"package": ".", "args": [], "env": {"LISTEN": "{addr}"}}, tmp_path)
    assert cfg.env == {"LISTEN": "{addr}"}
    with pytest.raises(ConfigError, match=r"args or env must pass the listen address"):
        config_from_table({"package": ".", "args": ["-v"], "env": {"GOGC": "100"}}, tmp_path)


def test_ready_path_empty_waits_for_the_port_only(binary, tmp_path):
    """ready_path = "": a service whose port does not speak HTTP (NATS, gRPC) is ready when it accepts connections."""
    svc = start_service(ServiceSpec(binary=binary, args=SEPARATE, ready_path=""), tmp_path / "tcp.log")
    try:
        assert svc.goroutines()
    finally:
        svc.stop()


# ------------------------------------------------------------------ item 4: pprof on its own listener


def test_pprof_bound_after_the_api_is_waited_for(start):
    t0 = time.monotonic()
    svc = start(*SEPARATE, "-pprof-delay", "1.5s", start_timeout=20)
    assert time.monotonic() - t0 >= 1.4
    assert svc.pprof_url != svc.url
    assert svc.goroutines()


def test_a_listener_that_is_not_pprof_is_refused_at_once(start):
    t0 = time.monotonic()
    with pytest.raises(PprofError) as excinfo:
        start(*SEPARATE, "-pprof-catch-all", start_timeout=30)
    assert time.monotonic() - t0 < 10, "refused at once, not after start_timeout"
    message = str(excinfo.value)
    assert "not as pprof" in message and "'hello'" in message and "pprof_url" in message


def test_triage_never_saves_an_answer_that_is_not_pprof(binary, tmp_path):
    """goperf triage pointed at a listener that says hello to everything stops at once and saves nothing."""
    svc = _catch_all_service(binary, tmp_path)
    try:
        with pytest.raises(PprofError, match=r"answered 200 but not with a goroutines start"):
            capture_folder(svc.pprof_url, tmp_path / "triage", seconds=1)
    finally:
        svc.stop()
    saved = list((tmp_path / "triage").rglob("*")) if (tmp_path / "triage").exists() else []
    assert not [p for p in saved if p.is_file()]


def _catch_all_service(binary, tmp_path):
    """The example service with a catch-all pprof listener, started with readiness on the API only."""
    from pytest_goperf.runtime import service as service_module

    spec = ServiceSpec(binary=binary, args=SEPARATE + ("-pprof-catch-all",), ready_path="/healthz")
    original = service_module._wait_pprof
    service_module._wait_pprof = lambda *a: None  # this test wants the bad listener up, not refused
    try:
        return start_service(spec, tmp_path / "catch-all.log")
    finally:
        service_module._wait_pprof = original


# ------------------------------------------------------------------ item 5: HTTPS and auth


def test_pprof_over_https_with_the_service_certificate(start, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    access = PprofAccess(ca_bundle=certs / "cert.pem")
    svc = start(*SEPARATE, "-pprof-tls", str(certs), pprof_scheme="https", pprof_access=access)
    assert svc.pprof_url.startswith("https://127.0.0.1:")
    assert any(g.top_function for g in svc.goroutines())
    # The same endpoint without trust fails with what to do.
    with pytest.raises(PprofError, match=r"ca_bundle"):
        PprofClient(svc.pprof_url).check_enabled()
    # insecure skips verification; SSL_CERT_FILE is honoured when no bundle is given.
    PprofClient(svc.pprof_url, access=PprofAccess(insecure=True)).check_enabled()


def test_ssl_cert_file_is_honoured(start, tmp_path, monkeypatch):
    certs = tmp_path / "certs"
    certs.mkdir()
    svc = start(*SEPARATE, "-pprof-tls", str(certs), pprof_scheme="https", pprof_access=PprofAccess(insecure=True))
    monkeypatch.setenv("SSL_CERT_FILE", str(certs / "cert.pem"))
    PprofClient(svc.pprof_url).check_enabled()


def test_bearer_token_from_the_environment_and_never_in_messages(start, tmp_path, monkeypatch):
    monkeypatch.setenv("PPROF_TOKEN", TOKEN)
    cfg = config_from_table({"package": ".", "pprof": {"headers": {"Authorization": "Bearer ${PPROF_TOKEN}"}}}, tmp_path)
    access = access_from_config(cfg)
    assert TOKEN not in repr(access) and TOKEN not in repr(cfg)
    svc = start(*SEPARATE, "-pprof-token", TOKEN, pprof_access=access)
    assert svc.goroutines()
    assert TOKEN not in svc.log_path.read_text()  # the start line shows *** for it
    # Triage through the same access: window.json and every file name keep the token out.
    saved = capture_folder(svc.pprof_url, tmp_path / "triage", seconds=1, access=access)
    for path in saved.directory.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".txt"):
            assert TOKEN not in path.read_text(errors="replace"), path
    assert json.loads((saved.directory / "window.json").read_text())["source"] == svc.pprof_url
    # Without the token: 401, with advice, and the service's answer in the message has no secret.
    with pytest.raises(PprofError) as excinfo:
        PprofClient(svc.pprof_url).check_enabled()
    assert excinfo.value.status == 401 and "headers" in str(excinfo.value)
    with pytest.raises(ConfigError, match=r"\$\{MISSING_TOKEN\}.*not set"):
        access_from_config(config_from_table(
            {"package": ".", "pprof": {"headers": {"Authorization": "Bearer ${MISSING_TOKEN}"}}}, tmp_path))
    with pytest.raises(ConfigError, match=r"literal credential"):
        config_from_table({"package": ".", "pprof": {"headers": {"Authorization": "Bearer " + TOKEN}}}, tmp_path)


def test_basic_auth_from_config_or_url_is_redacted(start, tmp_path, monkeypatch):
    monkeypatch.setenv("PPROF_PASSWORD", PASSWORD)
    cfg = config_from_table({"package": ".", "pprof": {"username": "ops", "password_env": "PPROF_PASSWORD"}}, tmp_path)
    svc = start(*SEPARATE, "-pprof-basic", f"ops:{PASSWORD}", pprof_access=access_from_config(cfg))
    assert svc.goroutines()
    # Credentials in a URL become basic auth and leave the URL, its repr and every error.
    host = svc.pprof_url.split("//", 1)[1]
    client = PprofClient(f"http://ops:{PASSWORD}@{host}")
    assert PASSWORD not in client.base_url and PASSWORD not in repr(client)
    client.check_enabled()
    wrong = PprofClient(f"http://ops:wrong-{PASSWORD}@{host}")
    with pytest.raises(PprofError) as excinfo:
        wrong.check_enabled()
    assert excinfo.value.status == 401
    assert PASSWORD not in str(excinfo.value) and PASSWORD not in (excinfo.value.url or "")
    assert redact_url(f"https://ops:{PASSWORD}@h:1/x?token={TOKEN}&seconds=1") == "https://ops:***@h:1/x?token=***&seconds=1"


# ------------------------------------------------------------------ item 2: binaries and import paths


def test_prebuilt_binary_and_import_path_in_the_plugin(pytester, inner_go_env, binary, tmp_path):
    """binary = "path" starts it with no build; package = an import path builds it inside module_dir."""
    wrapper = tmp_path / "wrapper"
    wrapper.mkdir()
    (wrapper / "go.mod").write_text(textwrap.dedent(f"""\
        module example.com/wrapper

        go 1.21

        require example.com/goperf-demo v0.0.0

        replace example.com/goperf-demo => {EXAMPLE}
        """))
    (wrapper / "tools.go").write_text("//go:build tools\n\npackage tools\n\nimport _ \"example.com/goperf-demo\"\n")
    pytester.makepyprojecttoml(textwrap.dedent(f"""\
        [tool.goperf]
        binary = "{binary}"
        args = []
        env = {{ PORT = "{{port}}" }}
        ready_path = "/healthz"
        """))
    pytester.makepyfile(test_it=textwrap.dedent(f"""\
        def test_binary(go_service):
            assert go_service.spec.binary == __import__("pathlib").Path("{binary}")
            assert go_service.go_version.startswith("go1.")
            assert go_service.main_module == "example.com/goperf-demo"
            assert go_service.client.get("/healthz").status_code == 200

        def test_factory_binary(go_service_factory):
            svc = go_service_factory(binary="{binary}", args=["-addr", "{{addr}}"], env={{}})
            assert svc.spec.binary == __import__("pathlib").Path("{binary}") and svc.goroutines()

        def test_import_path(go_service_factory):
            svc = go_service_factory("example.com/goperf-demo", args=["-addr", "{{addr}}"])
            assert svc.spec.binary.name == "goperf-demo"
            assert svc.main_module == "example.com/goperf-demo"
            assert svc.goroutines()
        """))
    pytester.makepyprojecttoml(textwrap.dedent(f"""\
        [tool.goperf]
        binary = "{binary}"
        module_dir = "{wrapper}"
        args = []
        env = {{ PORT = "{{port}}" }}
        ready_path = "/healthz"
        """))
    result = pytester.runpytest("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=3)


# ------------------------------------------------------------------ item 6: what an attached service is


def test_attached_service_learns_its_main_module_and_go_version(start, tmp_path):
    """Attached (no binary known), the build info of the binary its CPU profile maps names the module and Go."""
    from pytest_goperf import Scenario
    from pytest_goperf.analysis.measurement import MeasureSpec
    from pytest_goperf.baseline.environment import capture_environment
    from pytest_goperf.runtime.measure import measure
    from pytest_goperf.runtime.service import GoService

    running = start("-addr", "{addr}")
    attached = GoService(running.url)
    assert attached.main_module is None and attached.go_version == ""
    spec = MeasureSpec(load=Scenario.get("/work?n=200"), rounds=1, window=1, warmup=0.2, check_leaks=False)
    m = measure(attached, spec, directory=tmp_path / "m")
    assert attached.main_module == "example.com/goperf-demo"
    assert attached.go_version.startswith("go1.")
    assert m.go_version == attached.go_version
    assert capture_environment(go_version=m.go_version).go_version is not None
    [rnd] = m.rounds
    assert rnd.cpu is not None and rnd.cpu.main_module == "example.com/goperf-demo"  # the split used it
    assert rnd.cpu.class_share("user") > 0
