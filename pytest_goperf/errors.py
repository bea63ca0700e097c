"""The exception tree of pytest-goperf.

Everything the package raises on purpose derives from :class:`GoperfError`.
Assertion failures (a leak, a limit exceeded) also derive from
:class:`AssertionError`, so pytest reports them as test failures rather than
errors. Every message says what was wrong and, where there is one, what to do.
"""

from __future__ import annotations


class GoperfError(Exception):
    """Base class of every error raised by pytest-goperf."""


class ConfigError(GoperfError):
    """A setting in ``[tool.goperf]`` or on the command line is invalid."""


class BuildError(GoperfError):
    """``go build`` failed; the message carries the compiler's output."""


class ServiceError(GoperfError):
    """The Go service under test could not be started, reached or stopped."""


class ServiceStartError(ServiceError):
    """The service exited or did not become ready while starting."""


class ServiceDiedError(ServiceError):
    """The service exited while a test was using it."""


class PprofError(ServiceError):
    """A ``/debug/pprof/`` endpoint was missing or answered with an error."""


class ParseError(GoperfError):
    """Input in one of the Go runtime's formats could not be read.

    ``where`` names the place (a line number or byte offset) when known.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{message} ({where})" if where else message)


class DumpParseError(ParseError):
    """A goroutine dump (``/debug/pprof/goroutine?debug=1|2``) is malformed."""


class TraceParseError(ParseError):
    """An execution trace is malformed, truncated or of an unsupported version."""


class ProfileParseError(ParseError):
    """A pprof protobuf profile is malformed or truncated."""


class GoperfAssertionError(AssertionError, GoperfError):
    """A measured property of the service broke a limit set by a test."""


class GoroutineLeakError(GoperfAssertionError):
    """Goroutines started during a checked block were still alive after settling."""
