"""A test's own calls as load (issue 12, item 7): sync and async callables under the engine's models and bounds.

Against the real example service: a sync function over a raw TCP socket (what a non-HTTP
client does: write a request, read the answer), an async one with httpx's client, and a
measurement whose load is a function given the service it measures.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import pytest

from pytest_goperf import CallableLoad, ClosedModel, ConfigError, OpenModel, run_callable_load
from pytest_goperf.runtime.service import GoService


def tcp_caller(service: GoService):
    """A raw TCP client on one connection per caller thread: one call = one request and its answer."""
    host, port = service.url.removeprefix("http://").split(":")
    local = threading.local()

    def call() -> int:
        sock = getattr(local, "sock", None)
        if sock is None:
            sock = local.sock = socket.create_connection((host, int(port)), timeout=5)
        sock.sendall(b"GET /work?n=50 HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(next(v for k, _, v in (ln.partition(b":") for ln in head.split(b"\r\n")) if k.lower() == b"content-length"))
        while len(body) < length:
            body += sock.recv(65536)
        return int(head.split(b" ", 2)[1])

    return call


def test_sync_callable_closed_model(go_service):
    result = run_callable_load(tcp_caller(go_service), model=ClosedModel(2), duration=1.0, warmup=0.2)
    assert result.model == "closed" and result.client == "threads"
    assert result.completed > 20 and result.failed == 0
    assert result.status_counts == {200: result.completed}
    assert result.latency.count == result.completed and result.latency.percentile(50) > 0
    assert 0.9 <= result.elapsed <= 1.5
    assert result.target.startswith("callable:")


def test_async_callable_open_model_counts_from_the_due_time(go_service):
    clients: list[httpx.AsyncClient] = []

    async def call() -> int:
        if not clients:  # made on the load's own event loop
            clients.append(httpx.AsyncClient(base_url=go_service.url, trust_env=False))
        return (await clients[0].get("/work", params={"n": 10})).status_code

    result = run_callable_load(call, model=OpenModel(100), duration=1.0)
    assert result.model == "open" and result.client == "asyncio" and result.target_rate == 100
    assert 70 <= result.sent <= 101
    assert result.completed + result.failed + result.dropped == result.sent + result.dropped
    assert result.status_counts.get(200, 0) == result.completed > 50


def test_errors_timeouts_and_bounds():
    calls = []

    def flaky() -> None:
        calls.append(1)
        if len(calls) % 2:
            raise ConnectionResetError("peer went away")

    r = run_callable_load(flaky, model=ClosedModel(1), duration=2.0, max_requests=10)
    assert r.stopped_by == "max_requests" and r.sent == 10
    assert r.failed == 5 and r.errors == {"exception": 5}
    assert r.error_samples["exception"] == "ConnectionResetError: peer went away"
    assert r.status_counts == {0: 5}

    async def slow() -> None:
        await asyncio.sleep(1.0)

    t0 = time.monotonic()
    r = run_callable_load(slow, model=ClosedModel(2), duration=0.3, timeout=0.2)
    assert time.monotonic() - t0 < 2.0
    assert r.completed == 0 and r.errors.get("timeout", 0) >= 2

    def busy() -> None:
        time.sleep(0.05)

    # Open model beyond what two workers do: the in-flight cap drops the rest, counted.
    r = run_callable_load(busy, model=OpenModel(400, max_in_flight=2, connections=2), duration=0.5)
    assert r.dropped > 0 and r.completed <= 2 * 0.5 / 0.05 + 2

    with pytest.raises(ConfigError, match="takes no argument or one"):
        CallableLoad(lambda a, b: None)
    with pytest.raises(ConfigError, match="duration"):
        run_callable_load(busy, model=ClosedModel(1), duration=0)


def test_measure_with_a_function_given_the_service(goperf):
    """goperf.measure(load=fn): fn(service) builds the caller for the service measured."""
    seen = []

    def load(service: GoService) -> int:
        if not seen:
            seen.append(tcp_caller(service))
        return seen[0]()

    m = goperf.measure(load, concurrency=1, rounds=1, window=1, warmup=0.5, check_leaks=False)
    [rnd] = m.rounds
    assert rnd.load.completed > 5 and rnd.load.target == "callable:test_measure_with_a_function_given_the_service.<locals>.load"
    assert m.throughput > 0


def test_close_runs_once_after_the_last_call():
    events = []

    def call() -> None:
        events.append("call")

    r = run_callable_load(CallableLoad(call, name="c", close=lambda: events.append("close")),
                          model=ClosedModel(2), duration=0.3, max_requests=5)
    assert r.target == "callable:c" and r.completed == 5
    assert events.count("close") == 1 and events[-1] == "close"

    async def acall() -> None:
        events.append("acall")

    async def aclose() -> None:
        events.append("aclose")

    run_callable_load(CallableLoad(acall, close=aclose), model=ClosedModel(1), duration=0.2, max_requests=3)
    assert events[-1] == "aclose"
