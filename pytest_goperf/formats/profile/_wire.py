"""Protobuf wire primitives: just what ``profile.proto`` needs, nothing more.

Hot functions have the shape ``(buf, pos) -> (value, new_pos)`` as in
protobuf's own pure-Python decoder. They raise :class:`WireError` with the
byte offset; the caller turns it into a :class:`ProfileParseError` that also
names the message being read. Running off the end of ``buf`` surfaces as
``IndexError``, which the caller converts the same way (one ``try`` per
top-level field, not one per value).
"""

from __future__ import annotations

from collections.abc import Iterator

from ...errors import ProfileParseError
from ._format import WIRE_TYPE_NAMES, WT_I32, WT_I64, WT_LEN, WT_VARINT

_U64 = 1 << 64
_I64_SIGN = 1 << 63


class WireError(ProfileParseError):
    """The bytes are not valid protobuf at ``offset`` (the decoder adds which message it was reading)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message, where=f"byte {offset}")
        self.offset = offset

    def __str__(self) -> str:
        return self.message


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode one base-128 varint at ``pos``; return ``(value, new_pos)``."""
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    start = pos
    result = b & 0x7F
    shift = 7
    pos += 1
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:  # a uint64 takes at most 10 bytes
            raise WireError("varint longer than 10 bytes", start)


def to_int64(value: int) -> int:
    """Reinterpret a decoded uint64 varint as the int64 it encodes (two's complement)."""
    return value - _U64 if value >= _I64_SIGN else value


def iter_fields(buf: bytes, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field_number, wire_type, a, b)`` for each field in ``buf[pos:end]``.

    For varint and fixed fields ``a`` is the value and ``b`` the offset after
    it; for length-delimited fields ``a:b`` is the payload's slice.
    """
    while pos < end:
        field_start = pos
        key, pos = read_varint(buf, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0 is not allowed", field_start)
        if wire_type == WT_VARINT:
            value, pos = read_varint(buf, pos)
            if pos > end:
                raise WireError(f"field {number} runs past the end of its message", field_start)
            yield number, wire_type, value, pos
        elif wire_type == WT_LEN:
            length, pos = read_varint(buf, pos)
            stop = pos + length
            if stop > end:
                raise WireError(
                    f"field {number} claims {length} bytes but only {end - pos} remain in its message",
                    field_start,
                )
            yield number, wire_type, pos, stop
            pos = stop
        elif wire_type in (WT_I64, WT_I32):
            size = 8 if wire_type == WT_I64 else 4
            if pos + size > end:
                raise WireError(f"fixed-size field {number} runs past the end of its message", field_start)
            value = int.from_bytes(buf[pos : pos + size], "little")
            pos += size
            yield number, wire_type, value, pos
        else:
            name = WIRE_TYPE_NAMES.get(wire_type, "invalid")
            raise WireError(f"field {number} has wire type {wire_type} ({name}), not used by profile.proto", field_start)


def read_packed(buf: bytes, pos: int, end: int) -> list[int]:
    """Decode a packed run of varints ``buf[pos:end]`` (inlined: the hottest loop of a big profile)."""
    out: list[int] = []
    append = out.append
    while pos < end:
        b = buf[pos]
        pos += 1
        if b < 0x80:  # ids and small counts fit in one byte
            append(b)
            continue
        result = b & 0x7F
        shift = 7
        while True:
            b = buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift >= 70:
                raise WireError("varint longer than 10 bytes", pos)
        append(result)
    if pos != end:
        raise WireError("packed varints run past the end of their field", end)
    return out


def repeated_ints(wire_type: int, a: int, b: int, buf: bytes, into: list[int], where: int) -> None:
    """Append one occurrence of a repeated integer field to ``into``.

    Go writes repeated integers packed only when there are more than two
    (runtime/pprof/protobuf.go ``uint64s``), so both encodings must be read.
    """
    if wire_type == WT_VARINT:
        into.append(a)
    elif wire_type == WT_LEN:
        into.extend(read_packed(buf, a, b))
    else:
        raise WireError(f"a repeated integer has wire type {wire_type}", where)
