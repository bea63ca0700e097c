"""The exception tree of pytest-goperf.

Everything the package raises on purpose derives from :class:`GoperfError`::

    GoperfError
    ├── UsageError                  the API or a setting was used wrongly (also ValueError, TypeError)
    │   ├── ConfigError             a [tool.goperf] value, option or environment variable is invalid
    │   ├── UnknownNameError        a metric, rule, request or class name that does not exist (also KeyError)
    │   └── StatsError              values handed to a comparison cannot be compared
    ├── BuildError                  `go build` failed; carries the compiler's output
    ├── ServiceError                the service under test could not be started, reached or stopped
    │   ├── ServiceStartError       it exited or did not become ready while starting
    │   ├── ServiceDiedError        it exited while a test was using it
    │   ├── BaseServiceError        the base of a same-run comparison failed (its error is the cause)
    │   └── PprofError              a /debug/pprof/ endpoint was missing or answered an error (``status``)
    ├── ParseError                  input in one of the Go runtime's formats could not be read (``where``)
    │   ├── DumpParseError          a goroutine dump or crash log
    │   ├── TraceParseError         an execution trace
    │   └── ProfileParseError       a pprof profile
    ├── BaselineError               a baseline file cannot be read or written (names the file)
    └── GoperfAssertionError        a measured property broke a limit (also AssertionError)
        ├── GoroutineLeakError      goroutines outlived a checked block
        └── PerformanceRegressionError  the gate found a metric worse than its baseline

Assertion failures derive from :class:`AssertionError` too, so pytest reports
them as test failures rather than errors. Every message says what was wrong
and, where there is one, what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .analysis.leaks import LeakReport

__all__ = [
    "BaseServiceError",
    "BaselineError",
    "BuildError",
    "ConfigError",
    "DumpParseError",
    "GoperfAssertionError",
    "GoperfError",
    "GoroutineLeakError",
    "ParseError",
    "PerformanceRegressionError",
    "PprofError",
    "ProfileParseError",
    "ServiceDiedError",
    "ServiceError",
    "ServiceStartError",
    "StatsError",
    "TraceParseError",
    "UnknownNameError",
    "UsageError",
]


class GoperfError(Exception):
    """Base class of every error raised by pytest-goperf."""


class UsageError(GoperfError, ValueError, TypeError):
    """The API or a setting was used wrongly: a bad value, type or combination of arguments.

    It is also a :class:`ValueError` and a :class:`TypeError`, so code that
    catches the built-in errors for bad arguments keeps working.
    """


class ConfigError(UsageError):
    """A setting in ``[tool.goperf]``, a command-line option or an environment variable is invalid."""


class UnknownNameError(UsageError, KeyError):
    """A name (metric, triage rule, request, code class) that does not exist; also a :class:`KeyError`."""

    __str__ = Exception.__str__  # KeyError would quote the message


class StatsError(UsageError):
    """Values handed to a comparison cannot be compared (NaN, infinity, a bad policy)."""


class BuildError(GoperfError):
    """``go build`` failed; the message carries the compiler's output."""


class ServiceError(GoperfError):
    """The Go service under test could not be started, reached or stopped."""


class ServiceStartError(ServiceError):
    """The service exited or did not become ready while starting."""


class ServiceDiedError(ServiceError):
    """The service exited while a test was using it."""


class BaseServiceError(ServiceError):
    """The base's service of a same-run comparison failed while it was measured; the head is not to blame."""


class PprofError(ServiceError):
    """A ``/debug/pprof/`` endpoint was missing, unreachable or answered with an error.

    ``status`` is the HTTP status when the service answered (404, 500, ...),
    ``None`` when it could not be reached or did not answer in time; ``url``
    is the endpoint asked.
    """

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        self.status = status
        self.url = url
        super().__init__(message)


class ParseError(GoperfError):
    """Input in one of the Go runtime's formats could not be read.

    ``where`` names the place (a line number or byte offset) when known.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{message} ({where})" if where else message)


class DumpParseError(ParseError):
    """A goroutine dump (``/debug/pprof/goroutine?debug=1|2``) or crash log is malformed."""


class TraceParseError(ParseError):
    """An execution trace is malformed, truncated or of an unsupported version."""


class ProfileParseError(ParseError):
    """A pprof protobuf profile is malformed or truncated."""


class BaselineError(GoperfError):
    """A baseline file or directory cannot be read or written; the message names the file."""


class GoperfAssertionError(AssertionError, GoperfError):
    """A measured property of the service broke a limit set by a test."""


class GoroutineLeakError(GoperfAssertionError):
    """Goroutines started during a checked block were still alive after settling.

    ``report`` is the check's :class:`~pytest_goperf.LeakReport` (leaks, proof, groups, dumps).
    """

    def __init__(self, message: str, *, report: LeakReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class PerformanceRegressionError(GoperfAssertionError):
    """The regression gate found a metric of the test worse than its baseline or base commit."""
