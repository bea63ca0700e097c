"""Scenario model: request encoding, the weighted cycle, models' validation, the loopback rule."""

from __future__ import annotations

from collections import Counter

import pytest

from pytest_goperf.errors import ConfigError
from pytest_goperf.load.scenario import (
    ClosedModel,
    OpenModel,
    Request,
    Scenario,
    Target,
    is_loopback,
)


def test_get_request_encodes_as_keep_alive_http11():
    raw = Request("get", "/items?x=1").encode("127.0.0.1:8080")
    assert raw == b"GET /items?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: goperf-load\r\n\r\n"


def test_body_headers_and_prefix():
    req = Request("PUT", "/items/k", headers={"Content-Type": "application/json", "User-Agent": "me"}, body='{"a":1}')
    raw = req.encode("localhost:1", prefix="/api")
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"PUT /api/items/k HTTP/1.1"
    assert b"Content-Length: 7" in lines
    assert b"Content-Type: application/json" in lines
    assert b"User-Agent: me" in lines and b"User-Agent: goperf-load" not in lines
    assert body == b'{"a":1}'
    assert req.name == "PUT /items/k"
    # A POST without a body still says so, or Go would wait for one.
    assert b"Content-Length: 0" in Request("POST", "/x").encode("h")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"path": "items"}, "must start with '/'"),
        ({"path": "/a b"}, "no whitespace"),
        ({"method": "GE T"}, "not an HTTP method"),
        ({"headers": {"Host": "x"}}, "set by the load engine"),
        ({"headers": {"X-A": "1\r\nX-B: 2"}}, "not a valid header"),
        ({"weight": 0}, "weight"),
        ({"weight": float("nan")}, "weight"),
    ],
)
def test_request_validation(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Request(**kwargs)


def test_scenario_validation():
    with pytest.raises(ConfigError, match="at least one request"):
        Scenario([])
    with pytest.raises(ConfigError, match="unique"):
        Scenario([Request("GET", "/a"), Request("GET", "/a", weight=2)])
    with pytest.raises(ConfigError, match="Request objects"):
        Scenario(["/a"])  # type: ignore[list-item]
    s = Scenario([Request("GET", "/a"), Request("GET", "/a", weight=2, name="again")])
    assert [r.name for r in s.requests] == ["GET /a", "again"]


def test_integer_weights_are_honoured_exactly_in_every_cycle():
    s = Scenario([Request("GET", "/a", weight=3), Request("GET", "/b", weight=1)])
    seq = s.sequence(4096)
    assert Counter(seq) == {0: 3072, 1: 1024}
    # Smooth: never more than 3 of /a in a row, /b at least every 4 sends.
    for start in range(4096 - 4):
        assert 1 in seq[start : start + 4]


def test_fractional_weights_are_honoured_within_one_request_per_cycle():
    weights = [0.2, 0.3, 0.5, 1e-3]
    s = Scenario([Request("GET", f"/{i}", weight=w) for i, w in enumerate(weights)])
    seq = s.sequence(4096)
    counts = Counter(seq)
    total = sum(weights)
    for i, w in enumerate(weights):
        assert abs(counts[i] - 4096 * w / total) <= 1, (i, counts[i])


def test_single_request_scenarios():
    assert Scenario(Request("GET", "/x")).sequence() == [0]
    assert [r.path for r in Scenario.get("/a", "/b").requests] == ["/a", "/b"]


def test_models_validate_their_bounds():
    assert OpenModel(1500.5).rate == 1500.5
    assert ClosedModel(32).concurrency == 32
    for bad in (0, -1, float("inf"), "10"):
        with pytest.raises(ConfigError, match="rate"):
            OpenModel(bad)  # type: ignore[arg-type]
    for bad in (0, 10_001, 2.5, True):
        with pytest.raises(ConfigError, match="concurrency"):
            ClosedModel(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_in_flight"):
        OpenModel(10, max_in_flight=0)
    with pytest.raises(ConfigError, match="connections"):
        OpenModel(10, connections=20_000)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.2.1", "::1", "localhost", "LOCALHOST", "::ffff:127.0.0.1"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "0.0.0.0", "192.168.1.1", "example.com", "localhost.example.com", "::"])
def test_non_loopback_hosts(host):
    assert not is_loopback(host)


@pytest.mark.parametrize(
    "url",
    ["http://10.1.2.3:8080/", "http://example.com/x", "http://[2001:db8::1]:80/", "http://0.0.0.0:9000/"],
)
def test_remote_targets_are_refused_unless_allowed(url):
    with pytest.raises(ConfigError, match="not a loopback address.*allow_remote"):
        Target.parse(url)
    assert Target.parse(url, allow_remote=True).host


def test_target_parsing():
    t = Target.parse("http://127.0.0.1:8080/api/?q=1")
    assert (t.host, t.port, t.host_header, t.prefix, t.query) == ("127.0.0.1", 8080, "127.0.0.1:8080", "/api", "q=1")
    assert t.default_request().path == "/api?q=1"
    t6 = Target.parse("http://[::1]:81")
    assert (t6.host, t6.host_header) == ("::1", "[::1]:81")
    assert t6.default_request().path == "/"
    assert Target.parse("http://localhost/").host_header == "localhost"
    with pytest.raises(ConfigError, match="http://"):
        Target.parse("https://127.0.0.1/")
    with pytest.raises(ConfigError, match="http://"):
        Target.parse("127.0.0.1:8080")
    with pytest.raises(ConfigError, match="not a valid URL"):
        Target.parse("http://127.0.0.1:99999/")


def test_open_model_default_in_flight_cap_is_half_a_second():
    assert OpenModel(100).in_flight_cap == 1024
    assert OpenModel(10_000).in_flight_cap == 5000
    assert OpenModel(1e6).in_flight_cap == 10_000
    assert OpenModel(10_000, max_in_flight=7).in_flight_cap == 7
