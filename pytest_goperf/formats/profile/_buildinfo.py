"""The build information a Go binary carries (what ``go version -m BINARY`` prints).

Used to learn the service's main module path, which decides which functions
are "user" code. Format: ``src/debug/buildinfo/buildinfo.go`` (Go 1.18+): a
32-byte header starting with the magic ``\\xff Go buildinf:``, then, with the
"inline strings" flag, two varint-length-prefixed strings: the Go version and
the module information (``runtime/debug.BuildInfo.String()`` text between two
16-byte sentinels).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ...errors import ParseError
from ._wire import WireError, read_varint

MAGIC: Final = b"\xff Go buildinf:"
HEADER_SIZE: Final = 32
FLAGS_OFFSET: Final = 15
FLAG_VERSION_INLINE: Final = 0x2  # Go 1.18+: strings follow the header
SENTINEL_SIZE: Final = 16


@dataclass(frozen=True, slots=True)
class Module:
    """A module of the build: ``path``, ``version`` (``(devel)`` for a local build), ``sum``."""

    path: str
    version: str = ""
    sum: str = ""
    replace: Module | None = None


@dataclass(frozen=True, slots=True)
class BuildInfo:
    """What a Go binary says about its own build."""

    go_version: str  # e.g. "go1.26.8"
    path: str  # import path of the main package
    main: Module  # the main module
    deps: tuple[Module, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def main_module(self) -> str:
        """The main module's path, e.g. ``example.com/goperf-demo``."""
        return self.main.path


def read_build_info(data: bytes) -> BuildInfo:
    """Read the build information from a Go binary's bytes (or any slice holding its build-info blob).

    :raises ParseError: when there is no Go build information, or it is in the
        pre-1.18 layout (pass ``main_module=`` explicitly then).
    """
    at = data.find(MAGIC)
    if at < 0:
        raise ParseError(
            "no Go build information (\\xff Go buildinf:) found: not a Go binary, or a stripped one; "
            "pass main_module= explicitly"
        )
    if len(data) < at + HEADER_SIZE:
        raise ParseError("the Go build-information header is cut short", where=f"byte offset {at}")
    flags = data[at + FLAGS_OFFSET]
    if not flags & FLAG_VERSION_INLINE:
        raise ParseError(
            "the binary was built before Go 1.18 (build information held by pointers, not read here); "
            "pass main_module= explicitly",
            where=f"byte offset {at}",
        )
    pos = at + HEADER_SIZE
    try:
        n, pos = read_varint(data, pos)
        if pos + n > len(data):
            raise IndexError
        version = data[pos : pos + n].decode("utf-8", "replace")
        pos += n
        n, pos = read_varint(data, pos)
        if pos + n > len(data):
            raise IndexError
        modinfo = data[pos : pos + n].decode("utf-8", "replace")
    except IndexError:
        raise ParseError("the Go build information is cut short (a length runs past the end of the data)",
                         where=f"byte offset {at}") from None
    except WireError as exc:
        raise ParseError(f"the Go build information is malformed: {exc}", where=f"byte offset {exc.offset}") from None
    # The module text sits between two 16-byte sentinels (debug/buildinfo: "mod[len(mod)-17] == '\n'").
    if len(modinfo) >= 2 * SENTINEL_SIZE + 1 and modinfo[-SENTINEL_SIZE - 1] == "\n":
        modinfo = modinfo[SENTINEL_SIZE:-SENTINEL_SIZE]
    return parse_modinfo(version, modinfo)


def read_build_info_file(path: str | Path) -> BuildInfo:
    """:func:`read_build_info` of the binary at ``path`` (e.g. a profile mapping's ``filename``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ParseError(f"cannot read the binary {path}: {exc.strerror or exc}") from None
    return read_build_info(data)


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """Parse the tab-separated module text (``path``, ``mod``, ``dep``, ``=>``, ``build`` lines)."""
    path = ""
    main = Module("")
    deps: list[Module] = []
    settings: list[tuple[str, str]] = []
    for line in text.splitlines():
        word, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if word == "path":
            path = rest
        elif word == "mod":
            main = _module(fields)
        elif word == "dep":
            deps.append(_module(fields))
        elif word == "=>" and deps:
            # A replacement applies to the dependency on the previous line.
            d = deps[-1]
            deps[-1] = Module(d.path, d.version, d.sum, _module(fields))
        elif word == "build":
            key, _, value = rest.partition("=")
            settings.append((key, value))
    return BuildInfo(go_version=go_version, path=path, main=main, deps=tuple(deps), settings=tuple(settings))


def _module(fields: list[str]) -> Module:
    fields = [*fields, "", "", ""]
    return Module(fields[0], fields[1], fields[2])
