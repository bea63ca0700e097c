"""Go symbols: the one :class:`Frame` record of every format, and the package of a function name."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Frame", "package_of"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One call frame: ``function`` at ``file:line``.

    Goroutine dumps set ``offset`` (the ``+0xNN`` PC offset into the function;
    ``None`` when the runtime printed none, as for inlined calls); execution
    traces set ``pc``; profiles know only the function and its file.
    """

    function: str
    file: str = ""
    line: int = 0
    offset: int | None = None
    pc: int = 0

    @property
    def location(self) -> str:
        """``"file:line"``, or ``""`` when the file is unknown."""
        return f"{self.file}:{self.line}" if self.file else ""

    @property
    def package(self) -> str:
        """The import path of the function: ``net/http`` for ``net/http.(*conn).serve`` (see :func:`package_of`)."""
        return package_of(self.function)

    def __str__(self) -> str:
        return f"{self.function} {self.location}" if self.file else self.function


def package_of(name: str) -> str:
    """The package path of a Go function symbol, ``""`` when it has none.

    ``example.com/svc/db.(*Pool).Get`` -> ``example.com/svc/db``;
    ``main.spinCore`` -> ``main``. Type arguments in brackets may hold dots and
    slashes of their own, so the package is read from the part before them.
    """
    head = name.split("[", 1)[0]
    if head.startswith("type:"):
        return "type:"
    slash = head.rfind("/")
    dot = head.find(".", slash + 1)
    if dot < 0:
        return ""
    package = head[:dot]
    # The linker escapes dots in a package's last element ("gopkg.in/yaml%2ev3";
    # cmd/internal/objabi.PathToPrefix), which is what keeps this split unambiguous.
    return _unescape(package) if "%" in package else package


def _unescape(package: str) -> str:
    return re.sub(r"%([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), package)
