"""The pprof client says what happened: an answer cut midway, an HTML page where a profile belongs.

A small HTTP server on 127.0.0.1 plays the misbehaving service (the real
service's own answers are covered by tests/test_service.py and the live tests).
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from pytest_goperf.errors import PprofError, ProfileParseError
from pytest_goperf.formats.profile._decode import read_profile
from pytest_goperf.runtime.pprof import PprofClient

HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Please sign in</body></html>\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/debug/pprof/profile":  # a login page answered with 200
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(HTML)))
            self.end_headers()
            self.wfile.write(HTML)
        elif path == "/debug/pprof/heap":  # the same page labelled as binary
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(HTML)))
            self.end_headers()
            self.wfile.write(HTML)
        elif path == "/debug/pprof/trace":  # promises 100000 bytes, sends 16, hangs up
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"go 1.26 trace\0\0\0")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture
def client() -> Iterator[PprofClient]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    c = PprofClient(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
    try:
        yield c
    finally:
        c.close()
        server.shutdown()
        server.server_close()


def test_a_connection_cut_midway_is_not_cannot_reach(client):
    with pytest.raises(PprofError) as info:
        client.get("trace", {"seconds": 1})
    msg = str(info.value)
    assert "was cut after 16 bytes of its answer" in msg and "cannot reach" not in msg
    assert info.value.status == 200 and info.value.url.endswith("/debug/pprof/trace")


@pytest.mark.parametrize("endpoint", ["profile", "heap"])  # by Content-Type, and by the bytes
def test_an_html_page_for_a_profile_is_named(client, endpoint):
    with pytest.raises(PprofError, match=r"answered with an HTML page, not a profile or trace \('<!DOCTYPE html>"):
        client.get(endpoint, {"seconds": 1} if endpoint == "profile" else None)


def test_an_html_index_is_fine_where_text_is_expected(client):
    with pytest.raises(PprofError, match="answered 404"):  # the text endpoints are not checked for HTML
        client.get("", {"debug": 1})


def test_an_html_file_read_as_a_profile_is_named():
    with pytest.raises(ProfileParseError, match="this is an HTML page, not a pprof profile"):
        read_profile(HTML)


def test_every_way_to_name_a_service_needs_the_opt_in_for_other_hosts():
    """Issue 13: attach mode accepted any host. The client, an attached GoService and a leak check on a URL
    refuse a non-loopback host unless allow_remote=True (nothing is contacted here)."""
    from pytest_goperf import GoService, assert_no_goroutine_leak
    from pytest_goperf.errors import ConfigError

    for make in (lambda **kw: PprofClient("http://app:6060", **kw),
                 lambda **kw: GoService("http://app:8080", "http://app:6060", **kw),
                 lambda **kw: assert_no_goroutine_leak("http://10.0.0.7:6060", **kw)):
        with pytest.raises(ConfigError, match="is not a loopback address.*allow_remote=True"):
            make()
        allowed = make(allow_remote=True)
        close = getattr(allowed, "close", None) or getattr(allowed, "stop", None)
        if close is not None:
            close()
    with pytest.raises(ConfigError, match="must be an http:// or https:// URL"):
        PprofClient("file:///etc")
