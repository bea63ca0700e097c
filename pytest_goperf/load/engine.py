"""The load engine: an asyncio.Protocol HTTP/1.1 keep-alive client driven by callbacks.

Why this shape: on the project's 2-core machines httpx.AsyncClient managed a
few hundred requests/s and an asyncio streams client about 15k, while a bare
``asyncio.Protocol`` client (no streams, no per-request coroutine) on uvloop
reached 18-20k against wrk's 23.5k. So a response is parsed in
``data_received`` and the next request of the closed model is written from
that same callback; the open model is a timer callback sending every request
that has fallen due. uvloop is used when importable (it is optional). On
asyncio's own selector loop the sockets are driven through ``add_reader``
(``_RawTransport``) rather than asyncio's transports: measured on the
project's machines, raw sockets cost 12-15 µs of client CPU per request in
every run, asyncio's transports between 13 and 34 µs depending on the run
(see _RawTransport), uvloop's 11-14 µs.

Timing uses ``time.perf_counter_ns``. Latency runs from the send time in the
closed model and from the *due* time in the open model, so a service that
falls behind shows high latency rather than a quietly lower send rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import socket
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Literal

import numpy as np

from ..errors import ConfigError, GoperfError, ServiceError
from .histogram import LatencyHistogram
from .result import LoadResult, RequestStats
from .scenario import ClosedModel, Model, OpenModel, Request, Scenario, Target

#: Open-model requests sent later than this after their due time count as late.
LATE_AFTER_NS: Final = 5_000_000
#: Longest response head accepted before calling the response malformed.
_MAX_HEAD: Final = 64 * 1024
#: Longest run accepted, a guard against a typo like duration=36000.
MAX_DURATION_S: Final = 3600.0
#: Pause before a closed-model client reconnects after a failed connect.
_RECONNECT_PAUSE_S: Final = 0.01
#: How many connections the open model opens before its clock starts.
_OPEN_PRECONNECT: Final = 8

_perf_ns = time.perf_counter_ns

# Parser states of a connection.
_IDLE, _HEAD, _BODY, _CHUNKED, _UNTIL_CLOSE = range(5)


class _Conn(asyncio.Protocol):
    """One keep-alive connection carrying at most one request at a time (no pipelining)."""

    __slots__ = (
        "buf",
        "chunk_left",
        "close_after",
        "dead",
        "deadline",
        "engine",
        "measured",
        "no_body",
        "remaining",
        "req",
        "state",
        "status",
        "t0",
        "task",
        "transport",
    )

    def __init__(self, engine: _Engine) -> None:
        self.engine = engine
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.buf = b""
        self.state = _IDLE
        self.req = -1  # index of the outstanding request, -1 when none
        self.t0 = 0  # latency origin (ns): send time (closed) or due time (open)
        self.deadline = 0
        self.measured = False
        self.status = 0
        self.remaining = 0
        self.chunk_left = -1
        self.close_after = False
        self.no_body = False
        self.dead = False

    # -- asyncio callbacks ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport but have its methods.
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.dead = True
        if self.req >= 0:
            if self.state == _UNTIL_CLOSE:
                # A response without length ends when the service closes the connection.
                self.buf = b""
                self.req, req = -1, self.req
                self.engine.done(self, req, self.status)
                return
            if exc is None:
                self.engine.fail(self, "connection_closed", "the service closed the connection before responding")
            elif isinstance(exc, ConnectionResetError):
                self.engine.fail(self, "connection_reset", f"connection reset: {exc}")
            else:
                self.engine.fail(self, "connection_reset", f"connection broke: {exc}")
        self.engine.lost(self)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        state = self.state
        if state == _HEAD:
            self._head(data)
        elif state == _BODY:
            self._body(data)
        elif state == _CHUNKED:
            self._chunked(data)
        elif state == _UNTIL_CLOSE:
            pass  # the body is discarded; the response ends at connection_lost
        else:
            self._malformed(f"{len(data)} bytes arrived with no request outstanding: {data[:40]!r}")

    # -- response parsing ---------------------------------------------------

    def _head(self, data: bytes) -> None:
        while True:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                if len(data) > _MAX_HEAD:
                    self._malformed(f"no end of response head within {_MAX_HEAD} bytes")
                else:
                    self.buf = data
                return
            if data[:7] != b"HTTP/1." or data[8:9] != b" ":
                self._malformed(f"response does not start with an HTTP/1.x status line: {data[:40]!r}")
                return
            code = data[9:12]
            if not code.isdigit() or data[12:13] not in (b" ", b"\r"):
                self._malformed(f"bad status code in {data[:40]!r}")
                return
            status = int(code)
            if 100 <= status < 200:
                if status == 101:
                    self._malformed("the service switched protocols (101); the load engine speaks HTTP/1.1 only")
                    return
                data = data[end + 4 :]  # interim response (e.g. 100 Continue): the real one follows
                continue
            break
        head = data[:end].lower()
        self.status = status
        self.close_after = b"\r\nconnection: close" in head or data[5:8] == b"1.0"
        body = data[end + 4 :]
        if self.no_body or status in (204, 304):
            self._complete(body)
            return
        i = head.find(b"\r\ntransfer-encoding:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            if b"chunked" in head[i : j if j >= 0 else len(head)]:
                self.state = _CHUNKED
                self.chunk_left = -1
                self._chunked(body)
                return
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            try:
                length = int(head[i + 17 : j if j >= 0 else len(head)])
            except ValueError:
                self._malformed("the Content-Length header is not a number")
                return
            if length < 0:
                self._malformed("negative Content-Length")
                return
            if len(body) >= length:
                self._complete(body[length:])
            else:
                self.state = _BODY
                self.remaining = length - len(body)
            return
        # Neither length nor chunked: the body runs until the service closes (RFC 9112 §6.3).
        self.state = _UNTIL_CLOSE
        self.close_after = True

    def _body(self, data: bytes) -> None:
        n = len(data)
        if n >= self.remaining:
            self._complete(data[self.remaining :])
        else:
            self.remaining -= n

    def _chunked(self, data: bytes) -> None:
        pos = 0
        n = len(data)
        while True:
            left = self.chunk_left
            if left > 0:  # inside a chunk's data (plus its trailing CRLF)
                take = min(left, n - pos)
                pos += take
                self.chunk_left = left - take
                if self.chunk_left:
                    return
                continue
            if left == 0:  # after the last chunk: trailer lines up to an empty line
                if data[pos : pos + 2] == b"\r\n":
                    self._complete(data[pos + 2 :])
                    return
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    self._keep(data[pos:], "chunked trailer")
                    return
                self._complete(data[end + 4 :])
                return
            end = data.find(b"\r\n", pos)
            if end < 0:
                self._keep(data[pos:], "chunk size line")
                return
            line = data[pos:end].split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                self._malformed(f"bad chunk size line {data[pos:end][:40]!r}")
                return
            if size < 0:
                self._malformed("negative chunk size")
                return
            pos = end + 2
            if size == 0:
                self.chunk_left = 0
                if n - pos < 2:
                    self._keep(data[pos:], "chunked trailer")
                    return
            else:
                self.chunk_left = size + 2  # data and its CRLF

    def _keep(self, rest: bytes, what: str) -> None:
        if len(rest) > _MAX_HEAD:
            self._malformed(f"{what} longer than {_MAX_HEAD} bytes")
        else:
            self.buf = rest

    def _complete(self, rest: bytes) -> None:
        self.state = _IDLE
        req, self.req = self.req, -1
        if rest:
            # Nothing was asked for: the service sent more than one response's worth.
            self.req = req
            self._malformed(f"{len(rest)} unexpected bytes after the response: {rest[:40]!r}")
            return
        if self.close_after:
            self.dead = True
            assert self.transport is not None
            self.transport.close()
        self.engine.done(self, req, self.status)

    def _malformed(self, why: str) -> None:
        self.buf = b""
        self.state = _IDLE
        self.dead = True
        if self.req >= 0:
            self.engine.fail(self, "malformed", why)
        if self.transport is not None:
            self.transport.abort()


class _RawTransport:
    """Just enough of an asyncio transport over a non-blocking socket, driven by ``add_reader``.

    Why: in interleaved runs (closed model, 32 connections, 2-core machine)
    asyncio's own socket transport cost 30-34 µs of CPU per request while this
    one cost 13-15 µs, on a par with uvloop; in other runs the two were equal.
    The receive size matters: this class at first read 256 KiB at a time, as
    asyncio's transport does, and cost 29-30 µs until it read 64 KiB. Requests
    are small, so a write almost always goes out whole; the rest waits for
    ``add_writer``.
    """

    __slots__ = ("_closed", "_fd", "_loop", "_out", "_peer", "_protocol", "_sock")

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: _Conn) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._out = b""
        self._closed = False
        self._peer: object = None
        with contextlib.suppress(OSError):
            self._peer = sock.getpeername()
        loop.add_reader(self._fd, self._read_ready)

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name == "socket":
            return self._sock
        if name == "peername":
            return self._peer
        return default

    def is_closing(self) -> bool:
        return self._closed

    def _read_ready(self) -> None:
        try:
            data = self._sock.recv(65536)  # not more: a bigger buffer is mmap()ed for every call
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._finish(exc)
            return
        if data:
            self._protocol.data_received(data)
        else:
            self._finish(None)

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        if self._out:
            self._out += data
            return
        try:
            n = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            # Not from inside the caller's own callback: report the loss on the next turn.
            self._loop.call_soon(self._finish, exc)
            return
        if n < len(data):
            self._out = data[n:]
            self._loop.add_writer(self._fd, self._write_ready)

    def _write_ready(self) -> None:
        try:
            n = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._finish(exc)
            return
        self._out = self._out[n:]
        if not self._out:
            self._loop.remove_writer(self._fd)

    def close(self) -> None:
        if not self._closed:
            self._finish(None)

    abort = close

    def _finish(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._out:
            self._loop.remove_writer(self._fd)
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, exc)


class _Engine:
    """State of one run. Every counter covers the measured window only."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        target: Target,
        scenario: Scenario,
        prefix: str,
        model: Model,
        warmup: float,
        duration: float,
        max_requests: int | None,
        timeout: float,
        raw: bool = False,
    ) -> None:
        self.loop = loop
        self.target = target
        self.model = model
        self.requests = scenario.requests
        self.payloads = [r.encode(target.host_header, prefix) for r in scenario.requests]
        self.no_body = [r.method == "HEAD" for r in scenario.requests]
        self.seq = scenario.sequence()
        self.seq_pos = 0
        self.warmup_ns = int(warmup * 1e9)
        self.duration_ns = int(duration * 1e9)
        self.max_requests = max_requests if max_requests is not None else math.inf
        self.timeout_ns = int(timeout * 1e9)
        self.timeout = timeout
        n = len(self.requests)
        self.hists = [LatencyHistogram() for _ in range(n)]
        # Hot path: latencies are appended to arrays and folded into the histograms
        # by the watchdog; status codes (3 digits) index flat lists.
        self.lat_buf = [array("q") for _ in range(n)]
        self.statuses: list[list[int]] = [[0] * 1000 for _ in range(n)]
        self.sent_by = [0] * n
        self.failed_by = [0] * n
        self.dropped_by = [0] * n
        self.send_lag = LatencyHistogram()
        self.lag_buf = array("q")
        self.errors: dict[str, int] = {}
        self.samples: dict[str, str] = {}
        self.sent = 0
        self.late = 0
        self.in_flight = 0
        self.stopping = False
        self.stopped_by: Literal["duration", "max_requests", "stop_event"] = "duration"
        self.stop_event: threading.Event | None = None
        self.start_ns = 0
        self.window_ns = 0  # start of the measured window
        self.end_ns = 0  # planned end of sending
        self.send_end_ns = 0
        self.last_done_ns = 0
        self.conns: set[_Conn] = set()
        self.idle: list[_Conn] = []
        self.finished: asyncio.Future[None] = loop.create_future()
        self.connects_ok = 0
        self.tick_index = 0
        self.shut = False  # set when the run is over or cancelled: timers must not send any more
        self.is_open = isinstance(model, OpenModel)
        self.max_conns = model.connections if isinstance(model, OpenModel) else model.concurrency
        self.queue: deque[tuple[int, int]] = deque()
        self.connect_host = target.host
        self.addrinfos: list[tuple[int, int, int, str, Any]] = []
        self.raw = raw

    # -- bookkeeping shared by both models ---------------------------------

    def next_request(self) -> int:
        pos = self.seq_pos
        self.seq_pos = pos + 1
        seq = self.seq
        return seq[pos % len(seq)]

    def count_error(self, kind: str, message: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.samples.setdefault(kind, message)

    def done(self, conn: _Conn, req: int, status: int) -> None:
        """A complete response arrived for ``req`` on ``conn``."""
        now = _perf_ns()
        if conn.measured:
            self.lat_buf[req].append(now - conn.t0)
            self.statuses[req][status] += 1
            self.last_done_ns = now
        self.in_flight -= 1
        if self.is_open or conn.dead or self.stopping or now >= self.end_ns:
            self.after(conn, now)
            return
        # Closed model, the common case, inlined (it is most of the client's CPU time):
        # the same steps as next_request + accept + transmit.
        pos = self.seq_pos
        self.seq_pos = pos + 1
        seq = self.seq
        nxt = seq[pos % len(seq)]
        self.in_flight += 1
        measured = now >= self.window_ns
        if measured:
            self.sent += 1
            self.sent_by[nxt] += 1
            if self.sent >= self.max_requests:
                self.stopped_by = "max_requests"
                self.stop_sending(now)
        conn.req = nxt
        conn.t0 = now
        conn.deadline = now + self.timeout_ns
        conn.measured = measured
        conn.state = _HEAD
        conn.no_body = self.no_body[nxt]
        conn.transport.write(self.payloads[nxt])  # type: ignore[union-attr]

    def flush(self) -> None:
        """Fold the buffered latencies into the histograms (swapping in fresh buffers)."""
        for i, buf in enumerate(self.lat_buf):
            if buf:
                self.lat_buf[i] = array("q")
                self.hists[i].record_array(np.frombuffer(buf, dtype=np.int64))
        if self.lag_buf:
            buf, self.lag_buf = self.lag_buf, array("q")
            self.send_lag.record_array(np.frombuffer(buf, dtype=np.int64))

    def fail(self, conn: _Conn, kind: str, message: str) -> None:
        """``conn``'s outstanding request failed; the connection is finished with."""
        req, conn.req = conn.req, -1
        if req < 0:
            return
        conn.dead = True
        now = _perf_ns()
        if conn.measured:
            self.failed_by[req] += 1
            self.count_error(kind, message)
            self.last_done_ns = now
        else:
            self.samples.setdefault(kind, message)
        self.in_flight -= 1
        if conn.transport is not None:
            conn.transport.abort()
        elif conn.task is not None:
            conn.task.cancel()
        pause = _RECONNECT_PAUSE_S if kind.startswith("connect") else 0.0
        if pause:
            self.loop.call_later(pause, self.after, conn, now)
        else:
            self.after(conn, now)

    def lost(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)

    def after(self, conn: _Conn, now: int) -> None:
        """``conn`` is free again (or dead): the model decides what comes next."""
        if self.shut:
            return
        if conn.dead:
            self.conns.discard(conn)
        queue = self.queue
        if queue:  # open model: requests due while every connection was busy go first
            if conn.dead:
                if len(self.conns) >= self.max_conns:
                    return
                req, due = queue.popleft()
                self.transmit(None, req, due, _perf_ns())
            else:
                req, due = queue.popleft()
                self.transmit(conn, req, due, _perf_ns())
            return
        if self.stopping:
            self.maybe_finish()
            return
        if self.is_open:
            if not conn.dead:
                self.idle.append(conn)
        else:
            self.closed_send(conn if not conn.dead else None, _perf_ns())

    def maybe_finish(self) -> None:
        if self.stopping and self.in_flight == 0 and not self.finished.done():
            self.finished.set_result(None)

    def accept(self, req: int, t0: int, now: int) -> None:
        """Count request ``req`` (due or started at ``t0``) as issued."""
        self.in_flight += 1
        if t0 >= self.window_ns:
            self.sent += 1
            self.sent_by[req] += 1
            if self.sent >= self.max_requests:
                self.stopped_by = "max_requests"
                self.stop_sending(now)

    def transmit(self, conn: _Conn | None, req: int, t0: int, now: int) -> None:
        """Write request ``req`` (latency origin ``t0``) on ``conn``, or on a new connection."""
        measured = t0 >= self.window_ns
        if self.is_open and measured:
            lag = now - t0
            self.lag_buf.append(lag)
            if lag > LATE_AFTER_NS:
                self.late += 1
        if conn is None:
            conn = _Conn(self)
            conn.no_body = self.no_body[req]
            self.prepare(conn, req, t0, now, measured)
            self.conns.add(conn)
            conn.task = self.loop.create_task(self.connect(conn, self.payloads[req]))
            return
        conn.no_body = self.no_body[req]
        self.prepare(conn, req, t0, now, measured)
        assert conn.transport is not None
        conn.transport.write(self.payloads[req])

    def prepare(self, conn: _Conn, req: int, t0: int, now: int, measured: bool) -> None:
        conn.req = req
        conn.t0 = t0
        conn.deadline = now + self.timeout_ns
        conn.measured = measured
        conn.state = _HEAD

    async def connect(self, conn: _Conn, first: bytes | None) -> None:
        t = self.target
        try:
            await asyncio.wait_for(self.open_connection(conn), self.timeout)
        except ConnectionRefusedError as exc:
            self.fail(conn, "connect_refused", f"connection to {t.host}:{t.port} refused: {exc.strerror or exc}")
            return
        except asyncio.TimeoutError:
            self.fail(conn, "timeout", f"no connection to {t.host}:{t.port} within {self.timeout:g} s")
            return
        except asyncio.CancelledError:
            return  # timed out by the watchdog, already counted
        except OSError as exc:
            self.fail(conn, "connect_error", f"cannot connect to {t.host}:{t.port}: {exc.strerror or exc}")
            return
        finally:
            conn.task = None
        self.connects_ok += 1
        if conn.transport is None:
            return
        if conn.req >= 0 and first is not None:
            conn.transport.write(first)
        elif conn.dead:  # its request already failed (timed out while connecting)
            conn.transport.close()

    def stop_sending(self, now: int) -> None:
        if not self.stopping:
            self.stopping = True
            self.send_end_ns = now
            self.maybe_finish()

    def watchdog(self) -> None:
        """Fail requests past their deadline; runs every few tens of milliseconds."""
        if self.shut:
            return
        now = _perf_ns()
        if self.stop_event is not None and self.stop_event.is_set() and not self.stopping:
            self.stopped_by = "stop_event"
            self.stop_sending(now)
        for conn in [c for c in self.conns if c.req >= 0 and c.deadline <= now]:
            self.fail(conn, "timeout", f"no complete response within {self.timeout:g} s")
        self.flush()
        queue = self.queue
        while queue and queue[0][1] + self.timeout_ns <= now:
            req, due = queue.popleft()
            self.in_flight -= 1
            if due >= self.window_ns:
                self.failed_by[req] += 1
                self.count_error("timeout", f"waited {self.timeout:g} s for a free connection")
        self.maybe_finish()
        if not self.finished.done():
            self.loop.call_later(min(0.05, self.timeout / 4), self.watchdog)

    # -- closed model -----------------------------------------------------

    def closed_send(self, conn: _Conn | None, now: int) -> None:
        if now >= self.end_ns:
            self.stop_sending(self.end_ns)
            return
        req = self.next_request()
        self.accept(req, now, now)
        self.transmit(conn, req, now, now)

    def deadline_reached(self) -> None:
        self.stop_sending(self.end_ns)

    # -- open model ---------------------------------------------------------

    def tick(self) -> None:
        """Issue every request that has fallen due, then sleep until the next is due."""
        if self.stopping or self.shut:
            return
        model = self.model
        assert isinstance(model, OpenModel)
        interval = 1e9 / model.rate
        cap = model.in_flight_cap
        now = _perf_ns()
        i = self.tick_index
        due = self.start_ns + int(i * interval)
        while due <= now:
            if due >= self.end_ns:
                self.stop_sending(self.end_ns)
                return
            req = self.next_request()
            if self.in_flight >= cap:
                if due >= self.window_ns:
                    self.dropped_by[req] += 1
            else:
                self.accept(req, due, now)
                if self.idle:
                    self.transmit(self.idle.pop(), req, due, now)
                elif len(self.conns) < self.max_conns:
                    self.transmit(None, req, due, now)
                else:
                    # Every connection is busy: wait in line; the latency still counts from `due`.
                    self.queue.append((req, due))
                if self.stopping:
                    return
            i += 1
            due = self.start_ns + int(i * interval)
        self.tick_index = i
        # Whole milliseconds, at least one: uvloop rounds timers to milliseconds, so
        # a 0.4 ms delay would fire at once and spin the loop until the request is due.
        delay_ms = max(1, math.ceil((due - _perf_ns()) / 1e6))
        self.loop.call_later(delay_ms / 1000, self.tick)

    # -- running ------------------------------------------------------------

    async def preconnect(self, n: int) -> list[_Conn]:
        """Open ``n`` connections before the clock starts; refuse to go on if none opens."""
        conns = [_Conn(self) for _ in range(n)]
        t = self.target
        results = await asyncio.gather(
            *(asyncio.wait_for(self.open_connection(c), self.timeout) for c in conns),
            return_exceptions=True,
        )
        good = []
        first_error: BaseException | None = None
        for c, r in zip(conns, results, strict=False):
            if isinstance(r, BaseException):
                if isinstance(r, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                    raise r
                first_error = first_error or r
            else:
                good.append(c)
                self.conns.add(c)
        if not good:
            for c in conns:
                if c.transport is not None:
                    c.transport.abort()
            what = (
                "connection refused"
                if isinstance(first_error, ConnectionRefusedError)
                else f"{first_error.__class__.__name__}: {first_error}"
                if not isinstance(first_error, asyncio.TimeoutError)
                else f"no connection within {self.timeout:g} s"
            )
            raise ServiceError(
                f"cannot load {t.host}:{t.port}: {what}; is the service running and listening on that address?"
            )
        self.connects_ok += len(good)
        # Connect later connections to the address that answered, so a name such as
        # "localhost" is not resolved (in a thread) again for every new connection.
        peer = good[0].transport.get_extra_info("peername") if good[0].transport is not None else None
        if isinstance(peer, tuple):
            self.connect_host = peer[0]
            self.addrinfos = [a for a in self.addrinfos if a[4][0] == peer[0]] or self.addrinfos
        return good

    async def open_connection(self, conn: _Conn) -> None:
        """Connect ``conn`` to the target, over a raw socket where the loop allows it."""
        loop = self.loop
        if not self.raw:
            await loop.create_connection(_returning(conn), self.connect_host, self.target.port)
            return
        if not self.addrinfos:
            found = await loop.getaddrinfo(self.connect_host, self.target.port, type=socket.SOCK_STREAM)
            self.addrinfos = [(int(f), int(t), p, c, addr) for f, t, p, c, addr in found]
        error: OSError | None = None
        for family, type_, proto, _, addr in self.addrinfos:
            sock = socket.socket(family, type_, proto)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await loop.sock_connect(sock, addr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:
                sock.close()
                raise
            conn.connection_made(_RawTransport(loop, sock, conn))  # type: ignore[arg-type]
            return
        raise error or OSError(f"no address for {self.connect_host}")

    async def run(self) -> None:
        model = self.model
        if isinstance(model, ClosedModel):
            ready = await self.preconnect(model.concurrency)
            self.begin()
            self.loop.call_at(self.loop.time() + (self.end_ns - self.start_ns) / 1e9, self.deadline_reached)
            for conn in ready:
                if self.stopping:
                    break
                self.closed_send(conn, _perf_ns())
            # Clients whose first connection failed join late, through the reconnect path.
            for _ in range(model.concurrency - len(ready)):
                if self.stopping:
                    break
                self.closed_send(None, _perf_ns())
        else:
            self.idle = await self.preconnect(min(model.connections, _OPEN_PRECONNECT))
            self.begin()
            self.tick()
        self.watchdog()
        await self.finished
        for conn in list(self.conns):
            if conn.transport is not None:
                conn.transport.close()
            elif conn.task is not None:
                conn.task.cancel()
        self.idle.clear()
        # Let the transports' close callbacks run so no socket outlives the call.
        await asyncio.sleep(0)

    def begin(self) -> None:
        self.start_ns = _perf_ns()
        self.window_ns = self.start_ns + self.warmup_ns
        self.end_ns = self.window_ns + self.duration_ns

    def result(self, url: str, client: str) -> LoadResult:
        self.flush()
        by_request = []
        total = LatencyHistogram()
        status_counts: dict[int, int] = {}
        for i, r in enumerate(self.requests):
            h = self.hists[i]
            total.merge(h)
            codes = {code: n for code, n in enumerate(self.statuses[i]) if n}
            for code, n in codes.items():
                status_counts[code] = status_counts.get(code, 0) + n
            by_request.append(
                RequestStats(
                    name=r.name,
                    sent=self.sent_by[i],
                    completed=h.count,
                    failed=self.failed_by[i],
                    dropped=self.dropped_by[i],
                    status_counts=codes,
                    latency=h,
                )
            )
        send_end = self.send_end_ns or self.end_ns
        duration = max(0, send_end - self.window_ns) / 1e9
        elapsed = max(send_end, self.last_done_ns) - self.window_ns
        model = self.model
        return LoadResult(
            target=url,
            model="open" if isinstance(model, OpenModel) else "closed",
            target_rate=float(model.rate) if isinstance(model, OpenModel) else None,
            concurrency=model.concurrency if isinstance(model, ClosedModel) else None,
            warmup=self.warmup_ns / 1e9,
            duration=duration,
            elapsed=max(0, elapsed) / 1e9,
            stopped_by=self.stopped_by,
            sent=self.sent,
            completed=total.count,
            failed=sum(self.failed_by),
            dropped=sum(self.dropped_by),
            late=self.late,
            status_counts=dict(sorted(status_counts.items())),
            errors=dict(sorted(self.errors.items())),
            error_samples=dict(sorted(self.samples.items())),
            latency=total,
            send_lag=self.send_lag,
            by_request=tuple(by_request),
            client=client,
            connections=self.connects_ok,
        )


def _returning(conn: _Conn) -> Callable[[], _Conn]:
    """A protocol factory handing out ``conn`` (a lambda in a loop would capture the last one)."""
    return lambda: conn


def _check_bounds(duration: float, warmup: float, max_requests: int | None, timeout: float) -> None:
    def positive(name: str, v: object, zero_ok: bool = False) -> None:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and (v >= 0 if zero_ok else v > 0)
        if not ok:
            raise ConfigError(f"load {name} must be a {'non-negative' if zero_ok else 'positive'} number of seconds, got {v!r}")

    positive("duration", duration)
    positive("warmup", warmup, zero_ok=True)
    positive("timeout", timeout)
    if duration + warmup > MAX_DURATION_S:
        raise ConfigError(f"load warmup + duration is {warmup + duration:g} s; the limit is {MAX_DURATION_S:g} s")
    if max_requests is not None and (not isinstance(max_requests, int) or isinstance(max_requests, bool) or max_requests < 1):
        raise ConfigError(f"max_requests must be a positive integer or None, got {max_requests!r}")


def _fd_headroom(needed: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and needed + 64 > soft:
        raise ConfigError(
            f"{needed} connections need more file descriptors than the limit of {soft} (ulimit -n); "
            "lower the concurrency / connections or raise the limit"
        )


def _as_scenario(scenario: Scenario | Request | str | None, target: Target) -> tuple[Scenario, str]:
    if scenario is None:
        return Scenario(target.default_request()), ""
    if isinstance(scenario, str):
        return Scenario(Request("GET", scenario)), target.prefix
    if isinstance(scenario, Request):
        return Scenario(scenario), target.prefix
    if isinstance(scenario, Scenario):
        return scenario, target.prefix
    raise ConfigError(f"scenario must be a Scenario, a Request, a path or None, got {scenario!r}")


Engine = Literal["go", "python"]
ENGINES: Final[tuple[Engine, ...]] = ("go", "python")


def choose_engine(engine: Engine | None, use_uvloop: bool | None = None) -> Engine:
    """The engine a run uses: ``engine`` when given, else the Python engine.

    The Go worker (``engine="go"``, ``goperf load --engine go``) is opt-in: in
    bench/bench_load.py it reached 0.87-1.29 of wrk's throughput against the
    Python engine's 0.88-1.69 on the shared 2-core machine, no reliable gain, and
    the gate's noise bench was measured with the Python engine.

    :raises ConfigError: an unknown engine, or ``use_uvloop`` with ``engine="go"``.
    :raises BuildError: ``engine="go"`` and the worker cannot be built.
    """
    if engine is not None and engine not in ENGINES:
        raise ConfigError(f"load engine must be one of {', '.join(ENGINES)} (or None for the default), got {engine!r}")
    if engine is None or engine == "python":
        return "python"
    if use_uvloop is not None:
        raise ConfigError("use_uvloop applies to the Python engine only; drop it or pass engine='python'")
    from .goworker import worker_binary

    worker_binary()  # BuildError (no toolchain, no compiler) says what to install
    return "go"


def _prepare(
    target: str, scenario: Scenario | Request | str | None, model: Model, duration: float, warmup: float,
    max_requests: int | None, timeout: float, allow_remote: bool,
) -> tuple[Target, Scenario, str]:
    if not isinstance(model, (OpenModel, ClosedModel)):
        raise ConfigError(f"model must be OpenModel(rate) or ClosedModel(concurrency), got {model!r}")
    _check_bounds(duration, warmup, max_requests, timeout)
    tgt = Target.parse(target, allow_remote=allow_remote)
    scen, prefix = _as_scenario(scenario, tgt)
    return tgt, scen, prefix


async def arun_load(
    target: str,
    scenario: Scenario | Request | str | None = None,
    *,
    model: Model,
    duration: float,
    warmup: float = 0.0,
    max_requests: int | None = None,
    timeout: float = 10.0,
    allow_remote: bool = False,
    stop: threading.Event | None = None,
    engine: Engine | None = None,
) -> LoadResult:
    """Run a bounded load against ``target`` on the running event loop; see :func:`run_load`.

    With the Go engine the worker runs from a thread of the loop's default
    executor; cancelling this call kills it (by PID) and waits until it is gone.
    """
    tgt, scen, prefix = _prepare(target, scenario, model, duration, warmup, max_requests, timeout, allow_remote)
    loop = asyncio.get_running_loop()
    # Only the Go engine may need a build (off the loop); None and "python" are the Python engine.
    if engine not in (None, "python") and await loop.run_in_executor(None, choose_engine, engine) == "go":
        from .goworker import run_worker

        kill = threading.Event()
        job = functools.partial(run_worker, target, tgt, scen, prefix, model=model, duration=duration, warmup=warmup,
                                max_requests=max_requests, timeout=timeout, allow_remote=allow_remote, stop=stop, kill=kill)
        fut = loop.run_in_executor(None, job)
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            kill.set()
            with contextlib.suppress(GoperfError):
                await fut
            raise
    return await _arun_python(target, tgt, scen, prefix, model, duration, warmup, max_requests, timeout, stop)


async def _arun_python(
    url: str, tgt: Target, scen: Scenario, prefix: str, model: Model, duration: float, warmup: float,
    max_requests: int | None, timeout: float, stop: threading.Event | None,
) -> LoadResult:
    _fd_headroom(model.concurrency if isinstance(model, ClosedModel) else model.connections)
    loop = asyncio.get_running_loop()
    engine = _Engine(loop, tgt, scen, prefix, model, warmup, duration, max_requests, timeout, raw=_raw_sockets(loop))
    engine.stop_event = stop
    try:
        await engine.run()
    finally:
        engine.shut = True
        engine.stopping = True
        for conn in list(engine.conns):
            if conn.transport is not None:
                conn.transport.abort()
            elif conn.task is not None:
                conn.task.cancel()
    return engine.result(url, _client_name(loop))


def _raw_sockets(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether to drive sockets through ``add_reader`` (see ``_RawTransport``) on ``loop``."""
    if _FORCE_TRANSPORT is not None:
        return _FORCE_TRANSPORT == "raw"
    return isinstance(loop, asyncio.SelectorEventLoop)


#: Tests and the bench set this to "raw" or "asyncio" to pin the socket layer.
_FORCE_TRANSPORT: str | None = None


def _client_name(loop: asyncio.AbstractEventLoop) -> str:
    mod = type(loop).__module__.split(".")[0]
    return "uvloop" if mod == "uvloop" else "asyncio"


def _new_loop(use_uvloop: bool | None) -> asyncio.AbstractEventLoop:
    if use_uvloop is not False:
        try:
            import uvloop
        except ImportError:
            if use_uvloop:
                raise ConfigError("use_uvloop=True but uvloop is not installed (pip install uvloop)") from None
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


def run_load(
    target: str,
    scenario: Scenario | Request | str | None = None,
    *,
    model: Model,
    duration: float,
    warmup: float = 0.0,
    max_requests: int | None = None,
    timeout: float = 10.0,
    allow_remote: bool = False,
    use_uvloop: bool | None = None,
    stop: threading.Event | None = None,
    engine: Engine | None = None,
) -> LoadResult:
    """Run a bounded HTTP/1.1 keep-alive load against ``target`` and return what it achieved.

    Blocking; it may be called from any thread that is not running an event
    loop (use :func:`arun_load` there). The Go engine runs the load in the Go
    worker process (built on first use, see :mod:`.goworker`); the Python
    engine on a private event loop in this thread.

    :param target: base URL, ``http://127.0.0.1:PORT[/prefix]``; with no
        scenario, its path and query are the request.
    :param scenario: a :class:`Scenario`, one :class:`Request`, a path to GET,
        or None for a GET of ``target`` itself. Paths are appended to the URL's path.
    :param model: :class:`OpenModel` (a rate) or :class:`ClosedModel` (a concurrency).
    :param duration: measured window in seconds, after ``warmup``.
    :param warmup: seconds of load before the window; not counted.
    :param max_requests: stop sending after this many requests in the window.
    :param timeout: seconds a request may take, connecting included, before it
        counts as failed; it also bounds the wait for the last responses.
    :param allow_remote: allow a target that is not a loopback address.
    :param use_uvloop: Python engine: None uses uvloop when importable; False never; True requires it.
        Setting it (with ``engine=None``) selects the Python engine.
    :param stop: setting this event (from any thread) ends the sending within
        about 50 ms; the answers outstanding are still awaited and counted.
    :param engine: ``"go"`` (the Go worker), ``"python"``, or None: the Python
        engine (see :func:`choose_engine`). Both give the same result, keys and bounds.
    :raises ConfigError: a bad setting or a non-loopback target.
    :raises ServiceError: not one connection to the target could be opened.
    :raises BuildError: ``engine="go"`` and the worker cannot be built (no Go toolchain).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ConfigError("run_load() was called from a running event loop; use 'await arun_load(...)' there")
    tgt, scen, prefix = _prepare(target, scenario, model, duration, warmup, max_requests, timeout, allow_remote)
    if choose_engine(engine, use_uvloop) == "go":
        from .goworker import run_worker

        return run_worker(target, tgt, scen, prefix, model=model, duration=duration, warmup=warmup,
                          max_requests=max_requests, timeout=timeout, allow_remote=allow_remote, stop=stop)
    loop = _new_loop(use_uvloop)
    try:
        return loop.run_until_complete(
            _arun_python(target, tgt, scen, prefix, model, duration, warmup, max_requests, timeout, stop)
        )
    finally:
        close_loop(loop)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel ``loop``'s leftover tasks, finish its async generators and close it."""
    try:
        _cancel_all(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


Factory = Callable[[], asyncio.AbstractEventLoop]
