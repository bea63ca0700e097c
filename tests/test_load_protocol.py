"""The engine's HTTP/1.1 response reader and error accounting, against scripted local servers.

The Go service answers well-formed responses; these servers send the shapes
it rarely or never sends (split packets, chunked trailers, close-delimited
bodies, 100 Continue) and broken ones (bad status lines, resets, silence), to
check each is read or counted under the right error kind, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Union

import pytest

from pytest_goperf.errors import ConfigError, ServiceError
from pytest_goperf.load import engine
from pytest_goperf.load.engine import run_load
from pytest_goperf.load.scenario import ClosedModel, OpenModel, Request

Action = Union[bytes, float, str]  # noqa: UP007 - a runtime alias, Python 3.10
Responder = Callable[[int, bytes], list[Action]]

CLIENTS = ["go", "asyncio", "asyncio-transport"]
try:
    import uvloop  # noqa: F401
except ImportError:  # pragma: no cover - uvloop is optional
    pass
else:
    CLIENTS.append("uvloop")


@pytest.fixture(params=CLIENTS)
def uv(request, monkeypatch) -> dict:
    """Each client variant, as run_load arguments: the Go worker, asyncio's loop with raw
    sockets (the default there), asyncio's own transports (the fallback for loops without
    add_reader), and uvloop if installed."""
    if request.param == "go":
        return {"engine": "go"}
    if request.param == "asyncio-transport":
        monkeypatch.setattr(engine, "_FORCE_TRANSPORT", "asyncio")
    return {"use_uvloop": request.param == "uvloop"}


@pytest.fixture(params=["go", "python"])
def engine_kw(request) -> dict:
    """Both engines, as run_load arguments (the Python one on asyncio's own loop)."""
    return {"engine": "go"} if request.param == "go" else {"use_uvloop": False}


@contextlib.contextmanager
def scripted_server(responder: Responder) -> Iterator[str]:
    """Serve on a loopback port from a thread; ``responder(i, request)`` scripts the i-th answer.

    Actions: bytes are written (and flushed), a float sleeps, "close" closes
    the connection, "reset" closes it with an RST, "hang" never answers.
    """
    loop = asyncio.new_event_loop()
    counter = itertools.count()
    ready = threading.Event()
    url: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                body = await reader.readexactly(int(m[1])) if m else b""
                for action in responder(next(counter), head + body):
                    if isinstance(action, bytes):
                        writer.write(action)
                        await writer.drain()
                    elif isinstance(action, float):
                        await asyncio.sleep(action)
                    elif action == "close":
                        writer.close()
                        return
                    elif action == "reset":
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        writer.transport.abort()
                        return
                    elif action == "hang":
                        await asyncio.sleep(3600)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url.append(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        ready.set()
        try:
            await asyncio.Event().wait()
        finally:
            server.close()

    def run() -> None:
        loop.run_until_complete(_forever(main()))
        loop.run_until_complete(asyncio.sleep(0.05))  # let the transports' close callbacks run
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield url[0]
    finally:
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        thread.join(5)


async def _forever(coro) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await coro


def always(*actions: Action) -> Responder:
    return lambda i, req: list(actions)


def pieces(data: bytes, size: int) -> list[Action]:
    out: list[Action] = []
    for k in range(0, len(data), size):
        out += [data[k : k + size], 0.002]
    return out


def load(url: str, uv: dict, n: int = 6, **kw) -> object:
    kw.setdefault("model", ClosedModel(1))
    kw.setdefault("duration", 5.0)
    kw.setdefault("timeout", 2.0)
    return run_load(url, max_requests=n, **uv, **kw)


CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(always(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), id="length"),
        pytest.param(lambda i, r: pieces(b"HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\nhello world", 4), id="length-split"),
        pytest.param(always(CHUNKED), id="chunked"),
        pytest.param(lambda i, r: pieces(CHUNKED, 3), id="chunked-split"),
        pytest.param(always(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n"), id="chunked-empty"),
        pytest.param(always(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), id="continue"),
        pytest.param(always(b"HTTP/1.1 204 No Content\r\n\r\n"), id="204"),
        pytest.param(always(b"HTTP/1.1 200 OK\r\n\r\nuntil close", "close"), id="close-delimited"),
        pytest.param(always(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "close"), id="connection-close"),
        pytest.param(always(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "close"), id="http10"),
    ],
)
def test_well_formed_responses_are_read(script, uv):
    with scripted_server(script) as url:
        r = load(url, uv)
    assert r.errors == {}, r.error_samples
    assert (r.sent, r.completed, r.failed) == (6, 6, 0)
    assert sum(r.status_counts.values()) == 6
    assert r.stopped_by == "max_requests"


def test_head_response_has_no_body_despite_its_length(uv):
    with scripted_server(always(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")) as url:
        r = load(url, uv, scenario=Request("HEAD", "/"))
    assert (r.completed, r.failed, dict(r.status_counts)) == (6, 0, {200: 6})


@pytest.mark.parametrize(
    ("actions", "kind"),
    [
        pytest.param([b"HTTP/1.1 2x0 OK\r\n\r\n"], "malformed", id="bad-status"),
        pytest.param([b"SSH-2.0-OpenSSH\r\n\r\n"], "malformed", id="not-http"),
        pytest.param([b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n"], "malformed", id="bad-length"),
        pytest.param([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], "malformed", id="bad-chunk"),
        pytest.param([b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab"], "malformed", id="extra-bytes"),
        pytest.param([b"HTTP/1.1 101 Switching Protocols\r\n\r\n"], "malformed", id="upgrade"),
        pytest.param(["close"], "connection_closed", id="closed-before-response"),
        pytest.param([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "close"], "connection_closed", id="closed-mid-body"),
        pytest.param([b"HTTP/1.1 200 OK\r\nContent-Le", "reset"], "connection_reset", id="reset"),
    ],
)
def test_broken_responses_are_counted_not_raised(actions, kind, uv):
    with scripted_server(always(*actions)) as url:
        r = load(url, uv, n=4)
    assert (r.sent, r.completed, r.failed) == (4, 0, 4)
    assert r.errors == {kind: 4}
    assert r.error_samples[kind]
    assert r.latency.count == 0


def test_oversized_head_is_malformed_not_buffered_forever(engine_kw):
    huge = b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000
    with scripted_server(always(huge, "hang")) as url:
        r = load(url, engine_kw, n=2)
    assert r.errors == {"malformed": 2}
    assert "65536 bytes" in r.error_samples["malformed"]


def test_silent_service_times_out_within_bounds(uv):
    with scripted_server(always("hang")) as url:
        t0 = time.monotonic()
        r = run_load(url, model=ClosedModel(3), duration=0.4, timeout=0.3, **uv)
        wall = time.monotonic() - t0
    assert r.completed == 0
    assert r.failed == r.sent > 0
    assert r.errors == {"timeout": r.sent}
    # Bounded: 0.4 s of sending, then at most one timeout of waiting, plus slack.
    assert wall < 0.4 + 0.3 + 0.5


def test_closed_model_warmup_requests_are_not_counted(engine_kw):
    arrivals: list[int] = []

    def script(i: int, req: bytes) -> list[Action]:
        arrivals.append(time.perf_counter_ns())  # the engine's clock too
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]

    with scripted_server(script) as url:
        r = run_load(url, model=ClosedModel(2), duration=0.3, warmup=0.3, **engine_kw)
    first = arrivals[0]
    warm = sum(1 for t in arrivals if t < first + 300_000_000)
    window = sum(1 for t in arrivals if first + 300_000_000 <= t < first + 600_000_000)
    assert warm > 20, "the warm-up really sends"
    assert r.sent == r.completed
    # What the server saw in the window, give or take the requests in flight at its edges.
    assert abs(r.sent - window) <= 0.05 * window + 6, (r.sent, window, warm)
    assert r.sent < len(arrivals) - warm // 2


def test_mixed_answers_are_attributed_per_request(engine_kw):
    def script(i: int, req: bytes) -> list[Action]:
        if req.startswith(b"GET /bad"):
            return [b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"]
        if req.startswith(b"GET /gone"):
            return ["close"]
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]

    scenario = [Request("GET", "/ok", weight=2), Request("GET", "/bad"), Request("GET", "/gone")]
    from pytest_goperf.load.scenario import Scenario

    with scripted_server(script) as url:
        r = run_load(url, Scenario(scenario), model=ClosedModel(2), duration=5, max_requests=400, **engine_kw)
    ok, bad, gone = r.by_request
    assert (ok.sent, bad.sent, gone.sent) == (200, 100, 100)
    assert (ok.completed, dict(ok.status_counts)) == (200, {200: 200})
    assert (bad.completed, dict(bad.status_counts)) == (100, {500: 100})
    assert (gone.completed, gone.failed) == (0, 100)
    assert r.completed == 300 and r.failed == 100
    assert dict(r.status_counts) == {200: 200, 500: 100}
    assert r.errors == {"connection_closed": 100}


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("model", [ClosedModel(4), OpenModel(100)], ids=["closed", "open"])
def test_refused_target_ends_at_once_with_a_clear_error(model):
    t0 = time.monotonic()
    with pytest.raises(ServiceError, match=r"connection refused; is the service running"):
        run_load(f"http://127.0.0.1:{closed_port()}/", model=model, duration=10)
    assert time.monotonic() - t0 < 2


def test_service_that_goes_away_mid_run_is_counted_as_refused_connections(engine_kw):
    # The first connection is served a few times, then the server stops listening
    # and drops it: the reconnects are refused and counted, the run still ends on time.
    stop = threading.Event()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]

    def serve_then_vanish() -> None:
        conn, _ = srv.accept()
        srv.close()
        for _ in range(5):
            if not conn.recv(65536):
                break
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.close()
        stop.set()

    th = threading.Thread(target=serve_then_vanish, daemon=True)
    th.start()
    t0 = time.monotonic()
    r = run_load(f"http://127.0.0.1:{port}/", model=ClosedModel(1), duration=0.5, **engine_kw)
    assert time.monotonic() - t0 < 1.5
    th.join(2)
    assert r.completed == 5
    assert r.errors.get("connect_refused", 0) >= 3
    # The close may come as FIN or, with a request unread in the server's buffer, as RST.
    assert set(r.errors) <= {"connect_refused", "connection_closed", "connection_reset"}
    assert r.failed == sum(r.errors.values())


@pytest.mark.parametrize(("chosen", "client"), [(None, "asyncio"), ("go", "go"), ("python", "asyncio")])
def test_run_load_refuses_a_running_event_loop_and_arun_load_works_there(chosen, client):
    from pytest_goperf.load.engine import arun_load

    async def main():
        with pytest.raises(ConfigError, match="arun_load"):
            run_load("http://127.0.0.1:1/", model=ClosedModel(1), duration=1, engine=chosen)
        with scripted_server(always(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as url:
            return await arun_load(url, model=ClosedModel(2), duration=0.3, engine=chosen)

    r = asyncio.run(main())
    assert r.completed > 0 and r.failed == 0
    assert r.client == client


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"duration": 0}, "duration"),
        ({"duration": float("inf")}, "duration"),
        ({"duration": 1, "warmup": -1}, "warmup"),
        ({"duration": 1, "timeout": 0}, "timeout"),
        ({"duration": 4000}, "limit is 3600"),
        ({"duration": 1, "max_requests": 0}, "max_requests"),
        ({"duration": 1, "model": "fast"}, "model must be"),
    ],
)
def test_bounds_are_required(kwargs, match):
    kwargs.setdefault("model", ClosedModel(1))
    with pytest.raises(ConfigError, match=match):
        run_load("http://127.0.0.1:1/", **kwargs)


def test_open_model_queues_for_a_busy_pool_and_counts_the_wait(engine_kw):
    # One connection, a 20 ms service time, 100 requests/s due: the line grows by
    # about half a request per 10 ms, and latency from due time must show it.
    ok = [0.02, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
    with scripted_server(always(*ok)) as url:
        r = run_load(url, model=OpenModel(100, connections=1, max_in_flight=100), duration=0.4, **engine_kw)
    assert r.connections == 1
    assert (r.sent, r.completed, r.dropped, r.failed) == (40, 40, 0, 0)
    # The last of 40 requests waits behind 39 others of >= 20 ms each: ~0.8 s after it was due at 0.39 s.
    assert r.latency.max_ns >= 0.35e9
    assert r.send_lag.max_ns >= 0.3e9 and r.late > 20
    assert r.elapsed >= 0.75


def test_open_model_drops_beyond_max_in_flight_and_times_out_the_line(engine_kw):
    with scripted_server(always("hang")) as url:
        r = run_load(
            url, model=OpenModel(200, connections=2, max_in_flight=10), duration=0.3, timeout=0.15, **engine_kw
        )
    assert r.sent + r.dropped == 60
    assert r.dropped > 0
    assert r.completed == 0 and r.failed == r.sent
    assert set(r.errors) == {"timeout"}


@pytest.mark.parametrize("model", [ClosedModel(2), OpenModel(300)], ids=["closed", "open"])
def test_cancelled_arun_load_stops_sending(model):
    from pytest_goperf.load.engine import arun_load

    seen: list[int] = []

    def script(i: int, req: bytes) -> list[Action]:
        seen.append(i)
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]

    async def main(url: str) -> None:
        task = asyncio.ensure_future(arun_load(url, model=model, duration=30))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.2)  # let the server read what was written before the cancel
        before = len(seen)
        await asyncio.sleep(0.4)  # the loop keeps running: no timer of the run may send again
        assert before > 10
        assert len(seen) == before

    with scripted_server(script) as url:
        asyncio.run(main(url))


def test_stop_event_ends_a_run_from_another_thread(engine_kw):
    stop = threading.Event()
    with scripted_server(always(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) as url:
        threading.Timer(0.3, stop.set).start()
        t0 = time.monotonic()
        r = run_load(url, model=ClosedModel(2), duration=30, stop=stop, **engine_kw)
    assert time.monotonic() - t0 < 1.5
    assert r.stopped_by == "stop_event"
    assert 0.25 < r.duration < 1.0
    assert r.completed == r.sent > 0 and r.failed == 0
