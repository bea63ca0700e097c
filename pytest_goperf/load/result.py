"""The outcome of one load run: counts, status codes, errors and latency histograms."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import UnknownNameError
from .histogram import LatencyHistogram

#: Error kinds the engine counts (the keys of ``LoadResult.errors``).
ERROR_KINDS: tuple[str, ...] = (
    "connect_refused",  # nothing listens on the port
    "connect_error",  # any other failure to open a connection
    "timeout",  # no complete response within the request timeout (connecting included)
    "connection_closed",  # the service closed the connection before the response was complete
    "connection_reset",  # the connection was reset (RST) or broke with an OS error
    "malformed",  # the bytes received are not a valid HTTP/1.1 response
)


@dataclass(frozen=True, slots=True)
class RequestStats:
    """Counts and latency of one request kind of the scenario (measured window only)."""

    name: str
    sent: int
    completed: int
    failed: int
    dropped: int
    status_counts: Mapping[int, int]
    latency: LatencyHistogram


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What a load run achieved, counting only requests due or sent inside the measured window.

    ``completed`` requests got a full HTTP response, whatever its status
    (``status_counts`` tells them apart); ``failed`` ones got none (see
    ``errors``); ``dropped`` ones were due in the open model but not sent
    because ``OpenModel.in_flight_cap`` requests were outstanding. ``late`` counts
    open-model requests sent more than ``LATE_AFTER_MS`` after their due time
    (the client could not keep up); their latency still counts from the due
    time. ``requests_per_second`` is ``completed / elapsed``.
    """

    target: str
    model: Literal["open", "closed"]
    target_rate: float | None
    concurrency: int | None
    warmup: float
    duration: float
    elapsed: float
    stopped_by: Literal["duration", "max_requests", "stop_event"]
    sent: int
    completed: int
    failed: int
    dropped: int
    late: int
    status_counts: Mapping[int, int]
    errors: Mapping[str, int]
    error_samples: Mapping[str, str]
    latency: LatencyHistogram
    send_lag: LatencyHistogram
    by_request: tuple[RequestStats, ...]
    client: str
    connections: int = 0

    @property
    def requests_per_second(self) -> float:
        """Completed requests per second of the measured window (responses of any status)."""
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def achieved_ratio(self) -> float | None:
        """Open model: ``requests_per_second / target_rate``; None for the closed model."""
        return self.requests_per_second / self.target_rate if self.target_rate else None

    def request(self, name: str) -> RequestStats:
        """The stats of the scenario request called ``name``."""
        for r in self.by_request:
            if r.name == name:
                return r
        raise UnknownNameError(f"no request named {name!r}; have {[r.name for r in self.by_request]}")

    def to_json(self) -> dict[str, Any]:
        """Stable JSON keys, documented in docs/load.md."""
        return {
            "kind": "load",
            "target": self.target,
            "model": self.model,
            "target_rate": self.target_rate,
            "concurrency": self.concurrency,
            "warmup_s": self.warmup,
            "duration_s": self.duration,
            "elapsed_s": self.elapsed,
            "stopped_by": self.stopped_by,
            "requests_per_second": self.requests_per_second,
            "sent": self.sent,
            "completed": self.completed,
            "failed": self.failed,
            "dropped": self.dropped,
            "late": self.late,
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
            "errors": dict(sorted(self.errors.items())),
            "error_samples": dict(sorted(self.error_samples.items())),
            "latency": self.latency.to_json(),
            "send_lag": self.send_lag.to_json(),
            "requests": [
                {
                    "name": r.name,
                    "sent": r.sent,
                    "completed": r.completed,
                    "failed": r.failed,
                    "dropped": r.dropped,
                    "status_counts": {str(k): v for k, v in sorted(r.status_counts.items())},
                    "latency": r.latency.to_json(),
                }
                for r in self.by_request
            ],
            "client": self.client,
            "connections": self.connections,
        }

    def to_text(self) -> str:
        """A short human-readable summary (:func:`pytest_goperf.report.text.load_text`)."""
        from ..report.text import load_text

        return load_text(self)
