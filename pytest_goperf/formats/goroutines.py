"""Goroutine dumps: the text of ``/debug/pprof/goroutine?debug=2|1`` -> typed records.

Three inputs, all written by the Go runtime (Go 1.21 to 1.27):

``debug=2``
    ``runtime.Stack(buf, true)``: one block per goroutine, blocks separated by
    a blank line (the "panic-style" dump). :func:`parse_goroutines` returns a
    :class:`Goroutine` per block. The same grammar is used by crash tracebacks
    in a service's log; :func:`parse_crash` finds them behind the panic message
    (``GOTRACEBACK=system`` headers ``goroutine 1 gp=0x.. m=0 mp=0x.. [..]:`` and
    the `` fp= sp= pc=`` frame suffixes are accepted).
``debug=1``
    the legacy count profile (``goroutine profile: total N``, and the same
    grammar for ``goroutineleak profile: total N``): identical stacks grouped,
    no states, no IDs. :func:`parse_goroutine_profile` returns a
    :class:`GoroutineProfile` of :class:`StackGroup`.

Grouping is :func:`pytest_goperf.analysis.groups.group_goroutines`; what
``goperf analyze`` prints is :mod:`pytest_goperf.analysis.goroutine_summary`.

The header grammar (``runtime/traceback.go`` ``goroutineheader``, per release)::

    goroutine ID[ gp=0x.. m=N mp=0x..| m=nil] [STATUS[ (leaked)][ (scan)][ (durable)]
        [, N minutes][, locked to thread][, synctest bubble B|, synctest group B]
        [ labels:{"k": "v", ...}]][ {k: v, k2: "v 2"}]:

The 1.24 header says ``synctest group``, later ones ``synctest bubble``; Go
1.26 (``GODEBUG=tracebacklabels=1``) prints labels inside the brackets, always
quoted, while Go 1.27 prints them after the brackets, quoted only when needed.
All of this is data in the tables below; the parser does not branch on versions.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Final, Literal

from ..errors import DumpParseError
from .symbols import Frame

__all__ = [
    "UNKNOWN_ELIDED",
    "Ancestor",
    "CrashReport",
    "Goroutine",
    "GoroutineProfile",
    "StackGroup",
    "parse_crash",
    "parse_goroutine_profile",
    "parse_goroutines",
]

Labels = tuple[tuple[str, str], ...]

# ---------------------------------------------------------------------------
# Format tables (runtime/traceback.go, runtime/runtime2.go, runtime/pprof).

#: Markers the runtime appends to the status inside the brackets, innermost
#: last. A wait reason may itself end in parentheses ("chan receive (nil chan)",
#: "force gc (idle)"), so only these exact suffixes are markers. "(durable)"
#: is also part of four 1.25+ wait reasons ("chan receive (durable)"), and
#: "(synctest)" of their 1.24 names; both mean the goroutine is durably blocked
#: inside a synctest bubble, so both are read as the ``durable`` flag and
#: removed from ``state``.
STATUS_MARKERS: Final[dict[str, str]] = {
    " (durable)": "durable",
    " (synctest)": "durable",
    " (scan)": "scan",
    " (leaked)": "leaked",
}

#: Suffixes after the status, each ", ..." (goroutineheader, print order).
_BUBBLE_RE: Final = re.compile(r", synctest (?:bubble|group) (\d+)$")  # 1.25+ / 1.24
_MINUTES_RE: Final = re.compile(r", (\d+) minutes$")
_LOCKED: Final = ", locked to thread"

#: Header after "goroutine ID": the crash-only gp/m part (1.22+, GOTRACEBACK>=system
#: or a runtime throw), the bracketed status, Go 1.27 labels after it.
_HEADER_REST_RE: Final = re.compile(
    r"(?: gp=0x[0-9a-f]+ m=(?:\d+ mp=0x[0-9a-f]+|nil))?"
    r" \[([^\]]*)\]"
    r"(?: \{(.*)\})?:$"
)
#: Go 1.26 with GODEBUG=tracebacklabels=1: labels inside the brackets, quoted.
_HEADER_REST_126_RE: Final = re.compile(
    r"(?: gp=0x[0-9a-f]+ m=(?:\d+ mp=0x[0-9a-f]+|nil))?"
    r" \[(.*?) labels:\{(.*)\}\]:$"
)
_HEADER_ID_RE: Final = re.compile(r"goroutine (\d+)[ :]")

#: One label "key: value" of a traceback header; each side Go-quoted or bare.
_QSTR: Final = r'"(?:[^"\\]|\\.)*"'
_HEADER_LABEL_RE: Final = re.compile(rf"({_QSTR}|[^\s:,\"{{}}]*): ({_QSTR}|[^\s,\"{{}}]*)(?:, |$)")
#: One label of a debug=1 "# labels: {...}" line: "%q:%q" joined by ", ".
_PROFILE_LABEL_RE: Final = re.compile(rf"({_QSTR}):({_QSTR})(?:, |$)")

#: The file line of a frame: "\tFILE:LINE[ +0xOFF][ fp=0x.. sp=0x.. pc=0x..]".
_FILE_LINE_RE: Final = re.compile(
    r"\t(.*):(\d+)(?: \+0x([0-9a-f]+))?(?: fp=0x[0-9a-f]+ sp=0x[0-9a-f]+ pc=0x[0-9a-f]+)?$"
)
#: A cgo frame named by a cgo symbolizer: "\tFILE:LINE pc=0x.." or "\tpc=0x..".
_CGO_FILE_LINE_RE: Final = re.compile(r"\t(?:(.*):(\d+) )?pc=0x[0-9a-f]+$")
_ELIDED_RE: Final = re.compile(r"\.\.\.(\d+) frames elided\.\.\.$")
_ADDITIONAL_ELIDED: Final = "...additional frames elided..."
_ORIGIN_RE: Final = re.compile(r"\[originating from goroutine (\d+)\]:$")
_CREATED_BY_RE: Final = re.compile(r"created by (.+?)(?: in goroutine (\d+))?$")
_UNAVAILABLE: Final = "\tgoroutine running on other thread; stack unavailable"
#: First line of a crash message: a panic, a runtime throw, or a fatal signal ("SIGSEGV: segmentation violation").
_CRASH_MESSAGE_RE: Final = re.compile(r"panic: |fatal error: |SIG[A-Z0-9]+: ")
_EXIT_STATUS_RE: Final = re.compile(r"\nexit status \d+\n*\Z")  # appended by `go run`
_NON_GO_RE: Final = re.compile(r"non-Go function at pc=0x[0-9a-f]+$")
#: What the runtime prints inside a goroutine's traceback when unwinding goes wrong
#: (runtime/traceback.go): "runtime: g 5: unexpected return pc for F called from 0x..",
#: other "runtime: ..." notes, "stack: frame={sp:.., fp:..} stack=[..)" and its hex dump
#: (a column header, "ADDR: WORDS  ASCII" lines, "   ^ <func+0x..>" / "^ SP" markers).
#: Skipped, so the goroutines of such a crash log are kept.
_DIAGNOSTIC_RE: Final = re.compile(
    r"runtime: |stack: frame=\{|[0-9a-f]{8,16}: |\s+\^ |\s+[0-9a-f] [0-9a-f] [0-9a-f] [0-9a-f]  [0-9a-f] "
)
_DIAGNOSTIC_FIRST: Final = frozenset("rs 0123456789abcdef")

#: debug=1 profile header and lines (runtime/pprof printCountProfile).
PROFILE_HEADER_RE: Final = re.compile(r"(goroutine|goroutineleak) profile: total (\d+)$")
_PROFILE_COUNT_RE: Final = re.compile(r"(\d+) @((?: 0x[0-9a-f]+)*)$")
_PROFILE_FRAME_RE: Final = re.compile(r"#\t+(0x[0-9a-f]+)(?:\t+(.+)\+0x([0-9a-f]+)\t+(.*):(\d+))?$")

#: ``elided_frames`` when the runtime said "...additional frames elided..." (Go
#: 1.20 and older, and ancestor blocks): frames were cut, the count is unknown.
UNKNOWN_ELIDED: Final = -1


# ---------------------------------------------------------------------------
# Records.


@dataclass(frozen=True, slots=True)
class Ancestor:
    """A ``[originating from goroutine N]:`` block (``GODEBUG=tracebackancestors=N``).

    The creator's stack at the time it started the goroutine below it.
    ``elided`` is true when the runtime cut it ("...additional frames elided...").
    """

    id: int
    frames: tuple[Frame, ...]
    created_by: Frame | None = None
    elided: bool = False


@dataclass(frozen=True, slots=True)
class Goroutine:
    """One goroutine of a ``debug=2`` dump or crash traceback.

    ``state`` is the wait reason or status without the markers and suffixes
    ("chan receive (nil chan)", "IO wait", "running", "sync.Mutex.Lock").
    ``durable`` is set by the ``(durable)`` marker and by the durable wait
    reasons of synctest bubbles (``chan receive (durable)`` of 1.25+,
    ``chan receive (synctest)`` of 1.24), whose state is then the plain reason
    ("chan receive"). ``elided_frames`` is N of "...N frames elided..." (Go
    1.21+: the 50 innermost and 50 outermost frames are kept), 0 when nothing
    was cut, :data:`UNKNOWN_ELIDED` (-1) for "...additional frames elided...".
    ``labels`` are pprof labels printed in the header (Go 1.26 with
    ``GODEBUG=tracebacklabels=1``, Go 1.27 modules declaring go >= 1.27), unquoted.
    ``stack_unavailable`` marks "goroutine running on other thread; stack
    unavailable" (crash tracebacks only); ``frames`` is then empty.
    """

    id: int
    state: str
    frames: tuple[Frame, ...]
    wait_minutes: int = 0
    locked_to_thread: bool = False
    leaked: bool = False
    durable: bool = False
    scan: bool = False
    bubble: int | None = None
    labels: Labels = ()
    elided_frames: int = 0
    created_by: Frame | None = None
    parent_id: int | None = None
    ancestors: tuple[Ancestor, ...] = ()
    stack_unavailable: bool = False

    @property
    def top_function(self) -> str:
        """The innermost frame's function, ``""`` when there are no frames."""
        return self.frames[0].function if self.frames else ""

    def has_function(self, name: str) -> bool:
        """Whether ``name`` is the function of any frame (``created_by`` not included)."""
        return any(f.function == name for f in self.frames)

    def label(self, key: str) -> str | None:
        """The value of the pprof label ``key``, or ``None``."""
        for k, v in self.labels:
            if k == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class StackGroup:
    """One group of a ``debug=1`` count profile: ``count`` goroutines with this stack and labels.

    ``pcs`` are the return addresses of the ``@`` line, innermost first,
    including the runtime frames that ``frames`` leaves out.
    """

    count: int
    labels: Labels
    frames: tuple[Frame, ...]
    pcs: tuple[int, ...] = ()

    @property
    def top_function(self) -> str:
        """The innermost shown frame's function, ``""`` when none is shown."""
        return self.frames[0].function if self.frames else ""


@dataclass(frozen=True, slots=True)
class GoroutineProfile:
    """A ``debug=1`` count profile: ``goroutine`` (all) or ``goroutineleak`` (leaked only)."""

    kind: Literal["goroutine", "goroutineleak"]
    total: int
    groups: tuple[StackGroup, ...]


@dataclass(frozen=True, slots=True)
class CrashReport:
    """A crash traceback found in a service's output: the message and the goroutines."""

    message: str
    goroutines: tuple[Goroutine, ...]


# ---------------------------------------------------------------------------
# Small helpers.

_ESCAPES: Final[dict[str, str]] = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"', "'": "'",
}  # fmt: skip
_ESCAPE_RE: Final = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)")


def _unquote(s: str) -> str:
    """Undo Go quoting (``strconv.Quote`` and the runtime's ``printquoted``); bare text is returned as is."""
    if len(s) < 2 or s[0] != '"':
        return s
    body = s[1:-1]
    if "\\" not in body:
        return body
    out = bytearray()
    pos = 0
    for m in _ESCAPE_RE.finditer(body):
        out += body[pos : m.start()].encode()
        esc = m.group(1)
        if esc[0] == "x":
            out.append(int(esc[1:], 16))  # a raw byte: may be half of a UTF-8 sequence
        elif esc[0] in "uU":
            out += chr(int(esc[1:], 16)).encode("utf-8", "surrogatepass")
        elif esc[0] in "01234567" and len(esc) == 3:
            out.append(int(esc, 8) & 0xFF)
        elif esc in _ESCAPES:
            out += _ESCAPES[esc].encode()
        else:
            raise ValueError(f"unknown escape \\{esc}")
        pos = m.end()
    out += body[pos:].encode()
    return out.decode("utf-8", "replace")


def _parse_labels(text: str, pattern: re.Pattern[str]) -> Labels:
    """``k: v, k2: "v 2"`` (headers) or ``"k":"v", ...`` (debug=1) -> pairs; ValueError if malformed."""
    pairs = []
    pos = 0
    while pos < len(text):
        m = pattern.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"malformed labels at column {pos + 1}: {text[pos:pos + 40]!r}")
        pairs.append((_unquote(m.group(1)), _unquote(m.group(2))))
        pos = m.end()
    return tuple(pairs)


class _LineError(DumpParseError):
    """A parse failure at a line relative to the start of a block (re-raised as DumpParseError with the line)."""

    def __init__(self, rel_line: int, message: str, text: str) -> None:
        super().__init__(message)
        self.rel_line = rel_line
        self.message = message
        self.text = text


# (state, wait_minutes, locked, leaked, durable, scan, bubble, labels), keyed by header text after the ID.
_HeaderInfo = tuple[str, int, bool, bool, bool, bool, "int | None", Labels]


def _parse_header_rest(rest: str) -> _HeaderInfo:
    m = _HEADER_REST_126_RE.fullmatch(rest) if " labels:{" in rest else None
    if m is None:
        m = _HEADER_REST_RE.fullmatch(rest)
    if m is None:
        raise ValueError("not a goroutine header: expected 'goroutine ID [STATUS]:'")
    status, label_text = m.group(1), m.group(2)
    bubble: int | None = None
    if (b := _BUBBLE_RE.search(status)) is not None:
        bubble = int(b.group(1))
        status = status[: b.start()]
    locked = status.endswith(_LOCKED)
    if locked:
        status = status[: -len(_LOCKED)]
    minutes = 0
    if (w := _MINUTES_RE.search(status)) is not None:
        minutes = int(w.group(1))
        status = status[: w.start()]
    flags = {"leaked": False, "durable": False, "scan": False}
    stripped = True
    while stripped:
        stripped = False
        for suffix, flag in STATUS_MARKERS.items():
            if status.endswith(suffix) and len(status) > len(suffix):
                status = status[: -len(suffix)]
                flags[flag] = True
                stripped = True
    if not status:
        raise ValueError("empty goroutine status")
    labels = _parse_labels(label_text, _HEADER_LABEL_RE) if label_text else ()
    return (status, minutes, locked, flags["leaked"], flags["durable"], flags["scan"], bubble, labels)


# Parsed file lines and frames are shared across goroutines: dumps repeat the
# same few stacks thousands of times, and sharing saves both time and memory.
_FileLine = tuple[str, int, "int | None"]


def _parse_file_line(text: str, cache: dict[str, _FileLine]) -> _FileLine | None:
    hit = cache.get(text)
    if hit is not None:
        return hit
    m = _FILE_LINE_RE.match(text)
    if m is None:
        return None
    off = m.group(3)
    hit = (m.group(1), int(m.group(2)), int(off, 16) if off is not None else None)
    cache[text] = hit
    return hit


# (frames, elided, created_by, ancestors, stack_unavailable) of one block body.
_Body = tuple[tuple[Frame, ...], int, "Frame | None", tuple[Ancestor, ...], bool]

#: A frame's argument list at the end of its function line. Blanked before
#: parsing (arguments are pointers, different in every goroutine) so that
#: goroutines with the same stack have the same text.
_ARGS_RE: Final = re.compile(r"\([^()\n]*\)\n")


class _Parser:
    """Parses the blocks of one dump; holds the caches shared by its blocks."""

    __slots__ = ("bodies", "file_lines", "frames", "headers")

    def __init__(self) -> None:
        self.headers: dict[str, _HeaderInfo] = {}
        self.bodies: dict[str, _Body] = {}
        self.file_lines: dict[str, _FileLine] = {}
        self.frames: dict[tuple[str, str], Frame] = {}

    def frame(self, function: str, file_text: str, rel: int) -> Frame:
        key = (function, file_text)
        fr = self.frames.get(key)
        if fr is None:
            fl = _parse_file_line(file_text, self.file_lines)
            if fl is None:
                raise _LineError(rel, "expected a tab-indented 'FILE:LINE [+0xOFFSET]' line", file_text)
            fr = Frame(function, fl[0], fl[1], fl[2])
            self.frames[key] = fr
        return fr

    def frames_run(self, lines: list[str], i: int) -> tuple[list[Frame], int, int]:
        """Frames from ``lines[i]`` up to a "created by"/"[originating" line or the end.

        Returns (frames, elided count, index of the first line not consumed).
        """
        frames: list[Frame] = []
        elided = 0
        n = len(lines)
        while i < n:
            ln = lines[i]
            c = ln[:1]
            if c == "." and ln.startswith("..."):
                if ln == _ADDITIONAL_ELIDED:
                    elided = UNKNOWN_ELIDED
                elif (m := _ELIDED_RE.match(ln)) is not None:
                    elided = int(m.group(1))
                else:
                    raise _LineError(i, "unknown '...' line", ln)
                i += 1
                continue
            if c == "c" and ln.startswith("created by "):
                break
            if c == "[" and ln.startswith("[originating from goroutine "):
                break
            if c == "\t" or not ln:
                raise _LineError(i, "expected a function line 'pkg.func(args)'", ln)
            if c in _DIAGNOSTIC_FIRST and _DIAGNOSTIC_RE.match(ln):
                i += 1  # the runtime's own diagnostics inside a traceback (bad return PC, stack hex dump)
                continue
            paren = ln.rfind("(")
            if paren > 0 and ln[-1] == ")":
                if i + 1 >= n:
                    raise _LineError(i, "function line without its file line (dump truncated?)", ln)
                frames.append(self.frame(ln[:paren], lines[i + 1], i + 1))
                i += 2
                continue
            # cgo frames: "non-Go function at pc=0x..", or a symbolizer's name without "()".
            if _NON_GO_RE.match(ln):
                frames.append(Frame("non-Go function"))
                i += 1
                continue
            if i + 1 < n and (m := _CGO_FILE_LINE_RE.match(lines[i + 1])) is not None:
                frames.append(Frame(ln, m.group(1) or "", int(m.group(2) or 0)))
                i += 2
                continue
            raise _LineError(i, "expected a function line 'pkg.func(args)'", ln)
        return frames, elided, i

    def created_by(self, lines: list[str], i: int) -> tuple[Frame, int | None]:
        m = _CREATED_BY_RE.match(lines[i])
        if m is None:  # pragma: no cover - the caller checked the prefix
            raise _LineError(i, "malformed 'created by' line", lines[i])
        if i + 1 >= len(lines):
            raise _LineError(i, "'created by' line without its file line (dump truncated?)", lines[i])
        parent = m.group(2)
        return self.frame(m.group(1), lines[i + 1], i + 1), int(parent) if parent is not None else None

    def body(self, body: str) -> _Body:
        """Everything after the header: frames, creator, ancestors (parent ID already removed)."""
        lines = body.split("\n") if body else []
        unavailable = bool(lines) and lines[0] == _UNAVAILABLE
        frames, elided, i = self.frames_run(lines, 1 if unavailable else 0)
        created: Frame | None = None
        n = len(lines)
        if i < n and lines[i].startswith("created by "):
            created, _ = self.created_by(lines, i)
            i += 2
        ancestors: list[Ancestor] = []
        while i < n:
            m = _ORIGIN_RE.match(lines[i])
            if m is None:
                raise _LineError(i, "unexpected line after 'created by' (expected '[originating from goroutine N]:')",
                                 lines[i])
            afr, aelided, i = self.frames_run(lines, i + 1)
            acreated: Frame | None = None
            if i < n and lines[i].startswith("created by "):
                acreated, _ = self.created_by(lines, i)
                i += 2
            ancestors.append(Ancestor(int(m.group(1)), tuple(afr), acreated, aelided != 0))
        return (tuple(frames), elided, created, tuple(ancestors), unavailable)

    def blocks(self, blocks: list[str], out: list[Goroutine]) -> None:
        """Append a :class:`Goroutine` per block to ``out`` (blocks have no trailing newline).

        The loop is written out flat because it runs once per goroutine: a
        100,000-goroutine dump must parse in well under a second.
        """
        headers = self.headers
        bodies = self.bodies
        new = _new_goroutine
        for block in blocks:
            nl = block.find("\n")
            if nl < 0:
                header, body = block, ""
            else:
                header, body = block[:nl], block[nl + 1 :]
            sp = header.find(" ", 10)
            id_text = header[10:sp]
            if not (header.startswith("goroutine ") and id_text.isdigit() and id_text.isascii()):
                raise _LineError(0, "expected a goroutine header 'goroutine ID [STATUS]:'", header)
            rest = header[sp:]
            info = headers.get(rest)
            if info is None:
                try:
                    info = _parse_header_rest(rest)
                except ValueError as exc:
                    raise _LineError(0, str(exc), header) from None
                if " gp=" not in rest:  # crash headers carry addresses: not worth keeping
                    headers[rest] = info
            # Goroutines with the same stack have the same body text except for
            # the parent ID of "created by X in goroutine N" (arguments were
            # blanked by the caller): parse each distinct body once.
            parent: int | None = None
            cb = body.find("created by ")
            while cb > 0 and body[cb - 1] != "\n":  # "created by " inside a file path
                cb = body.find("created by ", cb + 1)
            if cb >= 0:
                eol = body.find("\n", cb)
                if eol < 0:
                    eol = len(body)
                k = body.rfind(" in goroutine ", cb, eol)
                if k >= 0 and body[k + 14 : eol].isdigit():
                    parent = int(body[k + 14 : eol])
                    body = body[:k] + body[eol:]
            parsed = bodies.get(body)
            if parsed is None:
                try:
                    parsed = self.body(body)
                except _LineError as exc:
                    exc.rel_line += 1
                    raise
                bodies[body] = parsed
            out.append(new(int(id_text), info, parsed, parent))


def _goroutine_factory() -> Callable[[int, _HeaderInfo, _Body, int | None], Goroutine]:
    """A constructor of :class:`Goroutine` from parsed parts that skips the dataclass ``__init__``.

    A frozen dataclass's ``__init__`` goes through ``object.__setattr__`` once
    per field; setting the slots directly is about twice as fast, which is
    a third of the parse time of a large dump. The field order is checked
    here, so adding a field to Goroutine without updating this fails at import.
    """
    names = tuple(f.name for f in fields(Goroutine))
    expected = ("id", "state", "frames", "wait_minutes", "locked_to_thread", "leaked", "durable", "scan", "bubble",
                "labels", "elided_frames", "created_by", "parent_id", "ancestors", "stack_unavailable")
    if names != expected:  # pragma: no cover - a guard for whoever edits Goroutine
        raise RuntimeError(f"update _goroutine_factory for Goroutine fields {names}")
    (s_id, s_state, s_frames, s_minutes, s_locked, s_leaked, s_durable, s_scan, s_bubble, s_labels, s_elided,
     s_created, s_parent, s_ancestors, s_unavailable) = (vars(Goroutine)[n].__set__ for n in names)
    new = object.__new__

    def make(gid: int, info: _HeaderInfo, parsed: _Body, parent: int | None) -> Goroutine:
        g = new(Goroutine)
        s_id(g, gid)
        s_state(g, info[0])
        s_minutes(g, info[1])
        s_locked(g, info[2])
        s_leaked(g, info[3])
        s_durable(g, info[4])
        s_scan(g, info[5])
        s_bubble(g, info[6])
        s_labels(g, info[7])
        s_frames(g, parsed[0])
        s_elided(g, parsed[1])
        s_created(g, parsed[2])
        s_ancestors(g, parsed[3])
        s_unavailable(g, parsed[4])
        s_parent(g, parent)
        return g

    return make


_new_goroutine = _goroutine_factory()


def _normalise(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return text


def _line_of_block(blocks: list[str], k: int, first_line: int) -> int:
    """1-based line number of the first line of ``blocks[k]`` (blocks were split on a blank line)."""
    return first_line + sum(b.count("\n") + 2 for b in blocks[:k])


def _parse_blocks(
    blocks: list[str], first_line: int, what: str, original: str, only: list[int] | None = None
) -> list[Goroutine]:
    """Parse ``blocks`` (or those at the indices ``only``) with one shared parser.

    ``original`` is the text before arguments were blanked, for error messages.
    """
    parser = _Parser()
    out: list[Goroutine] = []
    chosen = blocks if only is None else [blocks[k] for k in only]
    # The records form no reference cycles, but creating 100k of them would
    # trigger many cyclic-GC passes over everything allocated so far.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        parser.blocks(chosen, out)
    except _LineError as exc:
        k = len(out) if only is None else only[len(out)]
        line = _line_of_block(blocks, k, first_line) + exc.rel_line
        lines = original.split("\n")
        found = lines[line - 1] if 0 < line <= len(lines) else exc.text
        raise DumpParseError(f"{what}: {exc.message}, found {found[:120]!r}", where=f"line {line}") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    return out


def _split_blocks(text: str) -> tuple[list[str], int]:
    """Blocks of a dump and the line number of the first one (leading blank lines skipped)."""
    stripped = text.lstrip("\n")
    first_line = 1 + len(text) - len(stripped)
    stripped = stripped.rstrip("\n")
    if not stripped:
        return [], first_line
    return stripped.split("\n\n"), first_line


def parse_goroutines(text: str) -> list[Goroutine]:
    """Parse a ``debug=2`` goroutine dump (``runtime.Stack(buf, true)`` output).

    Returns the goroutines in dump order (the requesting goroutine first, not
    sorted by ID). An empty or blank text gives ``[]``: a dump always holds at
    least the goroutine that wrote it, so the caller can tell "nothing
    captured" apart without an exception.

    :raises DumpParseError: naming the 1-based line and its text when a line
        fits none of the runtime's forms (also when a debug=1 profile or a
        crash log is passed: use :func:`parse_goroutine_profile` or :func:`parse_crash`).
    """
    text = _normalise(text)
    blocks, first_line = _split_blocks(_ARGS_RE.sub("()\n", text))
    head = blocks[0].split("\n", 1)[0] if blocks else ""
    if blocks and (not head.startswith("goroutine ") or PROFILE_HEADER_RE.match(head)):
        hint = ""
        if PROFILE_HEADER_RE.match(head):
            hint = " (this is a debug=1 count profile: use parse_goroutine_profile)"
        elif _CRASH_MESSAGE_RE.match(head):
            hint = " (this is a crash log: use parse_crash)"
        raise DumpParseError(
            f"goroutine dump: expected 'goroutine ID [STATUS]:' as the first line, found {head[:120]!r}{hint}",
            where=f"line {first_line}",
        )
    return _parse_blocks(blocks, first_line, "goroutine dump", text)


def parse_crash(text: str) -> CrashReport:
    """Find the crash traceback in a Go program's output (e.g. a service log) and parse it.

    The message is the paragraph that starts with ``panic:``, ``fatal
    error:`` or a signal (``SIGSEGV: segmentation violation``) before the
    first goroutine header (``""`` if there is none).
    From the first goroutine header on, every paragraph that starts with a
    goroutine header is parsed and the others are skipped (the ``runtime
    stack:`` dumps of a throw, trailing output separated by a blank line); an
    ``exit status N`` line that ``go run`` appends without a blank line is dropped.

    :raises DumpParseError: when there is no goroutine header, or a goroutine
        block is malformed (naming the line).
    """
    text = _EXIT_STATUS_RE.sub("", _normalise(text))
    blocks, first_line = _split_blocks(_ARGS_RE.sub("()\n", text))
    start = next((k for k, b in enumerate(blocks) if _HEADER_ID_RE.match(b)), None)
    if start is None:
        raise DumpParseError("crash log: no goroutine traceback ('goroutine N [STATUS]:') found", where="whole text")
    message = ""
    # The message comes from the text as written: blanking arguments also blanks "(...)" at a line's end.
    original_blocks, _ = _split_blocks(text)
    for b in original_blocks[:start]:
        for k, ln in enumerate(lines := b.split("\n")):
            if _CRASH_MESSAGE_RE.match(ln):
                message = "\n".join(lines[k:])
                break
    # runtime.throw at GOTRACEBACK>=system prints "runtime stack:" paragraphs among the goroutines.
    only = [k for k in range(start, len(blocks)) if _HEADER_ID_RE.match(blocks[k])]
    goroutines = _parse_blocks(blocks, first_line, "crash log", text, only)
    return CrashReport(message, tuple(goroutines))


def parse_goroutine_profile(text: str) -> GoroutineProfile:
    """Parse a ``debug=1`` count profile (``goroutine`` or ``goroutineleak``).

    :raises DumpParseError: naming the line when the header, a ``N @ 0x..``
        line, a ``# labels:`` line or a ``#\\t0x..`` frame line is malformed,
        or when the group counts do not add up to the header's total.
    """
    lines = _normalise(text).split("\n")
    n = len(lines)
    i = 0
    while i < n and not lines[i].strip():
        i += 1
    if i == n:
        raise DumpParseError("goroutine profile: the text is empty; expected 'goroutine profile: total N'",
                             where="line 1")
    m = PROFILE_HEADER_RE.match(lines[i])
    if m is None:
        hint = " (this looks like a debug=2 dump: use parse_goroutines)" if lines[i].startswith("goroutine ") else ""
        raise DumpParseError(
            f"goroutine profile: expected 'goroutine profile: total N' or 'goroutineleak profile: total N', "
            f"found {lines[i][:120]!r}{hint}",
            where=f"line {i + 1}",
        )
    kind: Literal["goroutine", "goroutineleak"] = "goroutineleak" if m.group(1) == "goroutineleak" else "goroutine"
    total = int(m.group(2))
    i += 1
    groups: list[StackGroup] = []
    frame_cache: dict[str, Frame] = {}

    def fail(what: str, k: int) -> DumpParseError:
        return DumpParseError(f"goroutine profile: {what}, found {lines[k][:120]!r}", where=f"line {k + 1}")

    while i < n:
        ln = lines[i]
        if not ln:
            i += 1
            continue
        cm = _PROFILE_COUNT_RE.match(ln)
        if cm is None:
            raise fail("expected a stack group 'COUNT @ 0xPC ...'", i)
        count = int(cm.group(1))
        pcs = tuple(int(p, 16) for p in cm.group(2).split())
        i += 1
        labels: Labels = ()
        if i < n and lines[i].startswith("# labels: "):
            lt = lines[i][len("# labels: ") :]
            if not (lt.startswith("{") and lt.endswith("}")):
                raise fail("expected '# labels: {\"key\":\"value\", ...}'", i)
            try:
                labels = _parse_labels(lt[1:-1], _PROFILE_LABEL_RE)
            except ValueError as exc:
                raise fail(str(exc), i) from None
            i += 1
        frames: list[Frame] = []
        while i < n and lines[i]:
            ln = lines[i]
            fr = frame_cache.get(ln)
            if fr is None:
                fm = _PROFILE_FRAME_RE.match(ln)
                if fm is None:
                    raise fail("expected a frame line '#\\t0xPC\\tFUNC+0xOFF\\tFILE:LINE'", i)
                if fm.group(2) is None:
                    fr = Frame("")  # a PC the runtime could not symbolize
                else:
                    fr = Frame(fm.group(2), fm.group(4), int(fm.group(5)), int(fm.group(3), 16))
                frame_cache[ln] = fr
            frames.append(fr)
            i += 1
        groups.append(StackGroup(count, labels, tuple(frames), pcs))
    counted = sum(g.count for g in groups)
    if counted != total:
        raise DumpParseError(
            f"goroutine profile: the groups count {counted} goroutines but the header says total {total}; "
            "the profile is truncated or was edited",
            where=f"line {n}",
        )
    return GoroutineProfile(kind, total, tuple(groups))
