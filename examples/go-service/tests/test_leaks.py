"""Goroutine-leak tests of the example service, written as a user of pytest-goperf would.

Healthy routes pass ``assert_no_goroutine_leak``; each deliberate defect is
caught with its creation site. The defect tests run against a private copy of
the service (``fresh_service``) so their leaks stay out of the shared one.
"""

from __future__ import annotations

import pytest

from pytest_goperf import GoroutineLeakError, IgnoreSpec, assert_no_goroutine_leak


def test_store_round_trip_does_not_leak(go_service):
    with assert_no_goroutine_leak(go_service):
        assert go_service.client.put("/items/answer", json={"value": 42}).status_code == 200
        assert go_service.client.get("/items/answer").json() == {"value": 42}
        assert go_service.client.delete("/items/answer").status_code == 204


@pytest.mark.no_goroutine_leak
def test_cpu_route_under_the_marker(go_service):
    for n in (10, 100, 1000):
        assert "checksum" in go_service.client.get("/work", params={"n": n}).json()


def test_goroutines_that_finish_within_the_settle_window_pass(go_service):
    with assert_no_goroutine_leak(go_service, settle_timeout=3.0):
        for _ in range(5):
            assert go_service.client.get("/background", params={"ms": 300}).status_code == 202


def test_busy_routes_that_wait_for_their_goroutines_pass(go_service):
    with assert_no_goroutine_leak(go_service):
        go_service.client.get("/defect/storm", params={"n": 500})
        go_service.client.get("/defect/contention", params={"n": 16})
        go_service.client.get("/defect/alloc", params={"n": 1000})


def test_goroutines_leaked_before_the_block_are_not_blamed(fresh_service):
    fresh_service.client.get("/defect/leak-orphan", params={"n": 3})
    with assert_no_goroutine_leak(fresh_service):
        fresh_service.client.get("/work", params={"n": 10})


@pytest.mark.parametrize(
    ("route", "state", "function", "creator", "go_statement", "proven"),
    [
        ("/defect/leak-orphan", "chan receive", "main.orphanReceiver", "main.leakOrphan", "go orphanReceiver(ch)", True),
        ("/defect/leak-global", "chan receive", "main.globalWaiter", "main.leakGlobal", "go globalWaiter(ch)", False),
        ("/defect/leak-ticker", "chan receive", "main.tickerLoop", "main.leakTicker", "go tickerLoop(", None),
        ("/defect/leak-nil-send", "chan send (nil chan)", "main.nilSender", "main.leakNilSend", "go nilSender()", True),
    ],
)
def test_each_leak_is_reported_with_its_creation_site(fresh_service, source_line, route, state, function, creator, go_statement, proven):
    with pytest.raises(GoroutineLeakError) as excinfo:
        with assert_no_goroutine_leak(fresh_service, settle_timeout=0.5) as check:
            fresh_service.client.get(route)
    message = str(excinfo.value)
    assert message.startswith("1 goroutine leaked")
    assert f"[{state}]" in message
    assert function in message
    assert f"created by {creator}" in message
    assert source_line(go_statement) in message
    [leak] = check.report.leaks
    assert leak.top_function == function
    if proven is not None and check.report.leak_profile:
        assert (leak.id in check.report.proven_ids) is proven
    for path in check.report.dump_paths:
        assert path.read_text().startswith("goroutine ")


def test_ignore_rules_silence_known_background_goroutines(fresh_service):
    with assert_no_goroutine_leak(fresh_service, settle_timeout=0.3, ignore=[IgnoreSpec(created_by="main.leakTicker")]):
        fresh_service.client.get("/defect/leak-ticker")
    with assert_no_goroutine_leak(fresh_service, settle_timeout=0.3, ignore=[IgnoreSpec(top_function="main.global*")]):
        fresh_service.client.get("/defect/leak-global")


# --------------------------------------------------------------------- outgoing HTTP: the client's pool


@pytest.fixture
def caller(go_service_factory):
    """A service of its own per test, so each test fills the shared client's pool itself."""
    return go_service_factory(name="caller")


def test_idle_pooled_client_connections_are_not_leaks(caller):
    """The first calls through a shared http.Client open pooled connections that stay idle: the pool, not a leak."""
    from concurrent.futures import ThreadPoolExecutor

    with assert_no_goroutine_leak(caller, settle_timeout=1.0) as check:
        with ThreadPoolExecutor(4) as pool:  # concurrent calls: several connections in the pool
            statuses = list(pool.map(lambda _: caller.client.get("/client/fetch").json()["status"], range(16)))
        assert statuses == [200] * 16
    discounted = {d.rule: d for d in check.report.discounted}
    idle = discounted["idle_client_conn"]
    # Each pooled connection is a read loop in a socket read and its write loop.
    assert idle.count >= 2 and idle.count % 2 == 0
    dump = {g.id: g for g in caller.goroutines()}
    loops = sorted(dump[i].top_function for i in idle.ids if i in dump)
    assert "net/http.(*persistConn).writeLoop" in loops
    assert any(g.has_function("net/http.(*persistConn).readLoop") and g.state == "IO wait"
               for i in idle.ids if (g := dump.get(i)) is not None)


def test_a_response_body_never_closed_is_a_leak_beside_idle_connections(caller, source_line):
    """A body never closed keeps its connection's read loop in select forever: reported, with the idle one discounted."""
    with pytest.raises(GoroutineLeakError) as excinfo:
        with assert_no_goroutine_leak(caller, settle_timeout=1.0) as check:
            assert caller.client.get("/defect/leak-body").status_code == 200  # a connection of its own, never freed
            assert caller.client.get("/client/fetch").status_code == 200  # a second connection, idle afterwards
    message = str(excinfo.value)
    assert message.startswith("2 goroutines leaked")
    assert "net/http.(*persistConn).readLoop" in message
    assert "net/http.(*persistConn).writeLoop" in message
    assert "created by net/http.(*Transport).dialConn" in message
    assert "2 goroutines of idle pooled HTTP client connections" in message.splitlines()[1]
    leaked = {g.top_function: g for g in check.report.leaks}
    assert leaked["net/http.(*persistConn).readLoop"].state == "select"
    assert leaked["net/http.(*persistConn).writeLoop"].state == "select"
    # The two leaked goroutines are one connection: the same dialing goroutine started both.
    assert len({g.parent_id for g in check.report.leaks}) == 1


def test_a_measurement_of_a_route_that_calls_out_does_not_fail_on_its_pool(goperf, caller):
    """goperf.measure wraps the rounds in a leak check: the pool its first round fills is not a leak."""
    m = goperf.measure("/client/fetch", service=caller, concurrency=4, rounds=1, window=1, warmup=0.5)
    assert m.leak_report is not None and not m.leak_report.leaks
    assert "idle_client_conn" in {d.rule for d in m.leak_report.discounted}
