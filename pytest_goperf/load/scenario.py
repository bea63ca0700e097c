"""What to send and how: requests, the weighted scenario, the open and closed models, the target.

These are plain frozen records validated on construction; the engine turns
them into pre-encoded request bytes once, before the first send.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeAlias, Union
from urllib.parse import urlsplit

from ..config import check_service_url
from ..config import is_loopback as is_loopback  # re-exported: one loopback rule for the whole package
from ..errors import ConfigError

#: Methods whose requests carry a Content-Length even with an empty body.
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})
#: Headers the engine writes itself; a request may not set them.
_RESERVED_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})
#: Length of the precomputed cycle of request choices (see Scenario.sequence).
_SEQUENCE_LENGTH: Final = 4096


@dataclass(frozen=True, slots=True)
class Request:
    """One kind of request in a scenario.

    :param method: HTTP method, e.g. ``"GET"``.
    :param path: path and query, starting with ``/`` (appended to the target URL's path).
    :param headers: extra headers as ``(name, value)`` pairs or a mapping.
    :param body: request body; sent with a Content-Length.
    :param weight: relative share of this request in the mix (> 0).
    :param name: label in the result; defaults to ``"METHOD path"``.
    """

    method: str = "GET"
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    weight: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.headers, Mapping):
            object.__setattr__(self, "headers", tuple(self.headers.items()))
        else:
            object.__setattr__(self, "headers", tuple((str(k), str(v)) for k, v in self.headers))
        if isinstance(self.body, str):
            object.__setattr__(self, "body", self.body.encode())
        method = self.method.upper()
        if not method.isascii() or not method.isalpha():
            raise ConfigError(f"request method {self.method!r} is not an HTTP method name")
        object.__setattr__(self, "method", method)
        if not self.path.startswith("/") or any(c in self.path for c in " \r\n\t"):
            raise ConfigError(f"request path {self.path!r} must start with '/' and contain no whitespace")
        for k, v in self.headers:
            if not k or any(c in k for c in ": \r\n") or any(c in v for c in "\r\n"):
                raise ConfigError(f"request header {k!r}: {v!r} is not a valid header line")
            if k.lower() in _RESERVED_HEADERS:
                raise ConfigError(f"request header {k!r} is set by the load engine; remove it from the request")
        if not (isinstance(self.weight, (int, float)) and math.isfinite(self.weight) and self.weight > 0):
            raise ConfigError(f"request weight {self.weight!r} for {self.path!r} must be a positive number")
        if not self.name:
            object.__setattr__(self, "name", f"{method} {self.path}")

    def encode(self, host: str, prefix: str = "") -> bytes:
        """The request as HTTP/1.1 bytes for ``host`` (keep-alive, the default in 1.1)."""
        lines = [f"{self.method} {prefix}{self.path} HTTP/1.1", f"Host: {host}"]
        if not any(k.lower() == "user-agent" for k, _ in self.headers):
            lines.append("User-Agent: goperf-load")
        lines.extend(f"{k}: {v}" for k, v in self.headers)
        if self.body or self.method in _BODY_METHODS:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(frozen=True, slots=True)
class Scenario:
    """A weighted mix of requests.

    The mix is a fixed cycle (smooth weighted round-robin), not random draws,
    so the shares are honoured exactly over every few thousand requests and
    two runs send the same sequence.
    """

    requests: tuple[Request, ...]

    def __init__(self, requests: Sequence[Request] | Request) -> None:
        reqs = (requests,) if isinstance(requests, Request) else tuple(requests)
        if not reqs:
            raise ConfigError("a load scenario needs at least one request")
        for r in reqs:
            if not isinstance(r, Request):
                raise ConfigError(f"scenario entries must be Request objects, got {r!r}")
        names = [r.name for r in reqs]
        if len(set(names)) != len(names):
            raise ConfigError(f"request names in a scenario must be unique, got {names}; set Request(name=...)")
        object.__setattr__(self, "requests", reqs)

    @classmethod
    def get(cls, *paths: str) -> Scenario:
        """Equal-weight GETs of ``paths``."""
        return cls([Request("GET", p) for p in paths])

    def sequence(self, length: int = _SEQUENCE_LENGTH) -> list[int]:
        """Indices into ``requests`` for one cycle of ``length`` sends."""
        weights = [r.weight for r in self.requests]
        if len(weights) == 1:
            return [0]
        total = sum(weights)
        current = [0.0] * len(weights)
        out = []
        for _ in range(length):
            best = 0
            for i, w in enumerate(weights):
                current[i] += w
                if current[i] > current[best]:
                    best = i
            current[best] -= total
            out.append(best)
        return out


@dataclass(frozen=True, slots=True)
class OpenModel:
    """Constant arrival rate: request *i* is due at ``start + i / rate`` whatever came before.

    Latency is measured from the due time, so a slow service shows as high
    latency, not as a lower send rate (no coordinated omission). Requests go
    out on up to ``connections`` keep-alive connections, opened as needed; a
    request due while all are busy waits for the next free one (its latency
    still counts from its due time). A request that finds ``in_flight_cap``
    requests outstanding (waiting or on the wire) is not sent: it counts as dropped.

    :param rate: requests per second (> 0).
    :param max_in_flight: cap on outstanding requests; by default half a
        second's worth (``rate / 2``), at least 1024 and at most
        ``HARD_IN_FLIGHT_CAP``, so that a short stall of the client or the
        service delays requests rather than dropping them.
    :param connections: cap on open connections (a bounded pool, like wrk2's,
        so that a stall does not turn into a storm of new connections).
    """

    rate: float
    max_in_flight: int | None = None
    connections: int = 64

    def __post_init__(self) -> None:
        if not (isinstance(self.rate, (int, float)) and math.isfinite(self.rate) and self.rate > 0):
            raise ConfigError(f"open-model rate must be a positive number of requests per second, got {self.rate!r}")
        if self.max_in_flight is not None:
            _check_in_flight(self.max_in_flight, "max_in_flight")
        _check_in_flight(self.connections, "connections")


    @property
    def in_flight_cap(self) -> int:
        """The effective cap on outstanding requests."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        return min(HARD_IN_FLIGHT_CAP, max(1024, math.ceil(self.rate / 2)))


@dataclass(frozen=True, slots=True)
class ClosedModel:
    """``concurrency`` clients, each on its own keep-alive connection, sending as soon as the last answer came."""

    concurrency: int

    def __post_init__(self) -> None:
        _check_in_flight(self.concurrency, "concurrency")


Model: TypeAlias = Union[OpenModel, ClosedModel]  # noqa: UP007 - evaluated at runtime on 3.10

#: Hard upper bound on outstanding requests (each one a socket).
HARD_IN_FLIGHT_CAP: Final = 10_000


def _check_in_flight(n: object, what: str) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= HARD_IN_FLIGHT_CAP:
        raise ConfigError(f"{what} must be an integer between 1 and {HARD_IN_FLIGHT_CAP}, got {n!r}")


@dataclass(frozen=True, slots=True)
class Target:
    """Where the load goes: a parsed ``http://host:port/prefix`` URL."""

    host: str
    port: int
    host_header: str
    prefix: str = ""
    query: str = field(default="")

    @classmethod
    def parse(cls, url: str, *, allow_remote: bool = False) -> Target:
        """Parse ``url``; refuse hosts that are not loopback unless ``allow_remote``.

        :raises ConfigError: not an ``http://`` URL, or a non-loopback host.
        """
        if url.startswith("https://"):
            raise ConfigError(f"load target {url!r} must be an http:// URL (the load engine speaks plain HTTP/1.1 only)")
        check_service_url(url, "load target", allow_remote=allow_remote, option="allow_remote=True (--allow-remote)")
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname or ""
        netloc_host = f"[{host}]" if ":" in host else host
        port = port or 80
        host_header = netloc_host if port == 80 else f"{netloc_host}:{port}"
        return cls(host=host, port=port, host_header=host_header, prefix=parts.path.rstrip("/"), query=parts.query)

    def default_request(self) -> Request:
        """A GET of the URL's own path and query (used when no scenario is given)."""
        path = (self.prefix or "/") + (f"?{self.query}" if self.query else "")
        return Request("GET", path)
