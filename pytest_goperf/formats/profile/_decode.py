"""pprof bytes -> :class:`Profile`: gunzip, walk the protobuf, resolve ids.

A small decoder of our own rather than generated ``protobuf`` code: the
messages are simple (Go's runtime and google/pprof both hand-write theirs for
that reason), it adds no dependency and no runtime-version floor, and it
reports *where* a file is broken, which generated code does not.
"""

from __future__ import annotations

import zlib
from typing import Final

from ...errors import ProfileParseError
from . import _format as F
from ._legacy import legacy_kind
from ._model import NO_FUNCTION, Function, Label, Line, Location, Mapping, Profile, Sample, ValueType
from ._wire import (
    WireError,
    iter_fields,
    read_packed,
    read_varint,
    repeated_ints,
    to_int64,
)

_I64_SIGN = 1 << 63
# One-byte keys of the Sample fields Go writes (field << 3 | wire type).
_KEY_LOCATION = (F.SAMPLE_LOCATION_ID << 3) | F.WT_VARINT
_KEY_LOCATION_PACKED = (F.SAMPLE_LOCATION_ID << 3) | F.WT_LEN
_KEY_VALUE = (F.SAMPLE_VALUE << 3) | F.WT_VARINT
_KEY_VALUE_PACKED = (F.SAMPLE_VALUE << 3) | F.WT_LEN
_KEY_LABEL = (F.SAMPLE_LABEL << 3) | F.WT_LEN
_ADVICE = "capture the profile again (was the download cut off?) or check that the file is a pprof profile"
#: The most a profile may expand to when gunzipped. Real profiles are far smaller (a busy
#: service's heap profile is a few MB): a file that expands beyond this is refused
#: while it is being decompressed, so a gzip bomb costs at most this much memory.
MAX_DECOMPRESSED: Final = 256 * 1024 * 1024
_CHUNK = 1024 * 1024

Span = tuple[int, int]


def read_profile(data: bytes) -> Profile:
    """Decode a pprof profile, gzipped (as ``/debug/pprof/*`` serves it) or not.

    :raises ProfileParseError: when the bytes are not a complete pprof
        profile; the message names the message being read and the byte offset
        (of the uncompressed protobuf).
    """
    return _Decoder(decompress(data)).decode()


# The first key of a Go profile: Go's encoder writes fields out of number order
# (CPU profiles start with time_nanos, field 9; heap profiles with period_type,
# field 11), so any Profile field with its proper wire type may come first.
_FIRST_KEYS = frozenset(
    [(n << 3) | F.WT_LEN for n in (F.PROFILE_SAMPLE_TYPE, F.PROFILE_SAMPLE, F.PROFILE_MAPPING, F.PROFILE_LOCATION,
                                    F.PROFILE_FUNCTION, F.PROFILE_STRING_TABLE, F.PROFILE_PERIOD_TYPE)]
    + [(n << 3) | F.WT_VARINT for n in (F.PROFILE_DROP_FRAMES, F.PROFILE_KEEP_FRAMES, F.PROFILE_TIME_NANOS,
                                         F.PROFILE_DURATION_NANOS, F.PROFILE_PERIOD, F.PROFILE_COMMENT,
                                         F.PROFILE_DEFAULT_SAMPLE_TYPE, F.PROFILE_DOC_URL)]
)


def looks_like_profile(data: bytes) -> bool:
    """Whether ``data`` starts like a pprof profile: gzip, or a protobuf key of a ``Profile`` field.

    A cheap sniff for dispatch (``goperf analyze``); only decoding proves it.
    """
    if data.startswith(F.GZIP_MAGIC):
        return True
    if len(data) < 2 or data[0] not in _FIRST_KEYS:
        return False
    # Text formats start with letters; a profile's second byte is a length or a varint.
    return not data[:8].isascii() or not data[:8].decode("ascii").isprintable()


def decompress(data: bytes, limit: int = MAX_DECOMPRESSED) -> bytes:
    """The protobuf bytes of ``data``: gunzipped (in chunks, at most ``limit`` bytes) when it starts with the gzip magic.

    :raises ProfileParseError: for an empty, truncated or corrupt gzip stream,
        one that expands beyond ``limit``, or a legacy (pre-protobuf) profile.
    """
    if not data:
        raise ProfileParseError(f"the profile is empty (0 bytes); {_ADVICE}")
    raw = _gunzip(data, limit) if data.startswith(F.GZIP_MAGIC) else bytes(data)
    if raw.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise ProfileParseError(
            "this is an HTML page, not a pprof profile: the URL it came from reached another handler "
            "(a catch-all route, a login or proxy page, the pprof index); fetch /debug/pprof/profile itself"
        )
    legacy = legacy_kind(raw)
    if legacy is not None:
        raise ProfileParseError(
            f"legacy {legacy} profile format, not supported; capture with a current Go, from a /debug/pprof/ "
            "endpoint without ?debug= (Go writes protobuf profiles since 1.9; ?debug=1 still serves the legacy text)"
        )
    return raw


def _gunzip(data: bytes, limit: int) -> bytes:
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # one gzip member (Go writes one; others may concatenate)
        pending = rest
        try:
            while True:
                chunk = d.decompress(pending, _CHUNK)
                size += len(chunk)
                if size > limit:
                    raise ProfileParseError(
                        f"the gzip stream expands beyond {limit // (1024 * 1024)} MiB, more than any real profile "
                        "holds (a gzip bomb, or not a profile); goperf stops reading it there",
                        where=f"gzip file of {len(data)} bytes",
                    )
                out.append(chunk)
                pending = d.unconsumed_tail
                if d.eof or (not pending and not chunk):
                    break
        except zlib.error as exc:
            raise ProfileParseError(f"the gzip stream is corrupt ({exc}); {_ADVICE}") from None
        if not d.eof:
            raise ProfileParseError(
                f"the gzip stream ends before its end marker: the file is truncated; {_ADVICE}",
                where=f"after byte {len(data)} of the gzip file",
            )
        rest = d.unused_data
        if rest and not rest.startswith(F.GZIP_MAGIC):
            break  # trailing bytes after the last member, as gzip(1) ignores them
    raw = b"".join(out)
    if not raw:
        raise ProfileParseError(f"the gzip stream holds no data; {_ADVICE}")
    return raw


class _Decoder:
    """One decoding pass; holds the buffer and the tables being resolved."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.strings: list[str] = []

    def fail(self, message: str, offset: int) -> ProfileParseError:
        offset = min(max(offset, 0), len(self.buf))  # an offset is a place in the data, never beyond it
        return ProfileParseError(f"{message}; {_ADVICE}", where=f"byte offset {offset} of the uncompressed profile")

    def decode(self) -> Profile:
        buf = self.buf
        spans: dict[int, list[Span]] = {
            F.PROFILE_SAMPLE_TYPE: [],
            F.PROFILE_SAMPLE: [],
            F.PROFILE_MAPPING: [],
            F.PROFILE_LOCATION: [],
            F.PROFILE_FUNCTION: [],
            F.PROFILE_STRING_TABLE: [],
            F.PROFILE_PERIOD_TYPE: [],
        }
        scalars: dict[int, int] = {}
        comments: list[int] = []
        field_start = 0  # each field starts where the one before it ended
        try:
            for number, wt, a, b in iter_fields(buf, 0, len(buf)):
                if number in spans:
                    if wt != F.WT_LEN:
                        raise WireError(f"Profile field {number} should be length-delimited, has wire type {wt}",
                                        field_start)
                    spans[number].append((a, b))
                elif number == F.PROFILE_COMMENT:
                    repeated_ints(wt, a, b, buf, comments, a)
                elif wt == F.WT_VARINT:
                    scalars[number] = a
                field_start = b
        except WireError as exc:
            raise self.fail(f"malformed Profile message: {exc}", exc.offset) from None
        except IndexError:
            raise self.fail("the profile ends in the middle of a field: it is truncated", len(buf)) from None

        self.strings = self._strings(spans[F.PROFILE_STRING_TABLE])
        functions = self._each(spans[F.PROFILE_FUNCTION], "Function", self._function)
        mappings = self._each(spans[F.PROFILE_MAPPING], "Mapping", self._mapping)
        self.function_by_id = {f.id: f for f in functions}
        self.mapping_by_id = {m.id: m for m in mappings}
        locations = self._each(spans[F.PROFILE_LOCATION], "Location", self._location)
        self.location_by_id = {loc.id: loc for loc in locations}
        sample_types = self._each(spans[F.PROFILE_SAMPLE_TYPE], "ValueType", self._value_type)
        if not sample_types:
            # google/pprof's CheckValid refuses it too ("missing sample type information").
            raise self.fail("the profile declares no sample types (Profile field 1), so its samples measure nothing",
                            0)
        self.n_values = len(sample_types)
        samples = self._samples(spans[F.PROFILE_SAMPLE])
        period_types = self._each(spans[F.PROFILE_PERIOD_TYPE], "ValueType", self._value_type)

        def string_at(field: int) -> str:
            return self._string(scalars.get(field, 0), f"Profile field {field}", 0)

        try:
            texts = [string_at(f) for f in (F.PROFILE_DEFAULT_SAMPLE_TYPE, F.PROFILE_DROP_FRAMES,
                                            F.PROFILE_KEEP_FRAMES, F.PROFILE_DOC_URL)]
            comment_texts = tuple(self._string(i, "Profile comment", 0) for i in comments)
        except WireError as exc:
            raise self.fail(f"malformed Profile message: {exc}", exc.offset) from None
        return Profile(
            sample_types=tuple(sample_types),
            samples=tuple(samples),
            mappings=tuple(mappings),
            locations=tuple(locations),
            functions=tuple(functions),
            period_type=period_types[-1] if period_types else None,
            period=to_int64(scalars.get(F.PROFILE_PERIOD, 0)),
            time_nanos=to_int64(scalars.get(F.PROFILE_TIME_NANOS, 0)),
            duration_nanos=to_int64(scalars.get(F.PROFILE_DURATION_NANOS, 0)),
            comments=comment_texts,
            default_sample_type=texts[0],
            drop_frames=texts[1],
            keep_frames=texts[2],
            doc_url=texts[3],
        )

    # -- helpers -------------------------------------------------------------------------

    def _each(self, spans: list[Span], what: str, decode_one):  # type: ignore[no-untyped-def]
        """Decode every span with ``decode_one``, turning low-level failures into one clear error."""
        out: list = []  # type: ignore[type-arg]
        append = out.append
        start = 0
        i = 0
        try:
            for i, (start, end) in enumerate(spans):  # noqa: B007 - i is named in the error below
                append(decode_one(start, end))
        except WireError as exc:
            raise self.fail(f"malformed {what} message #{i}: {exc}", exc.offset) from None
        except IndexError:
            raise self.fail(f"{what} message #{i} is cut short", start) from None
        return out

    def _strings(self, spans: list[Span]) -> list[str]:
        buf = self.buf
        strings = [buf[a:b].decode("utf-8", "replace") for a, b in spans]
        if strings and strings[0] != "":
            raise self.fail(f"the string table must start with an empty string, starts with {strings[0][:40]!r}",
                            spans[0][0])
        return strings

    def _string(self, index: int, what: str, offset: int) -> str:
        if 0 <= index < len(self.strings):
            return self.strings[index]
        raise WireError(f"{what} refers to string #{index}, but the string table has {len(self.strings)} entries",
                        offset)

    def _value_type(self, start: int, end: int) -> ValueType:
        t = u = 0
        for number, wt, a, _ in iter_fields(self.buf, start, end):
            if wt == F.WT_VARINT:
                if number == F.VALUE_TYPE_TYPE:
                    t = a
                elif number == F.VALUE_TYPE_UNIT:
                    u = a
        return ValueType(self._string(t, "ValueType.type", start), self._string(u, "ValueType.unit", start))

    def _function(self, start: int, end: int) -> Function:
        v = [0, 0, 0, 0, 0, 0]  # indexed by field number 1..5
        for number, wt, a, _ in iter_fields(self.buf, start, end):
            if wt == F.WT_VARINT and number <= F.FUNCTION_START_LINE:
                v[number] = a
        s = self._string
        return Function(
            id=v[F.FUNCTION_ID],
            name=s(v[F.FUNCTION_NAME], "Function.name", start),
            system_name=s(v[F.FUNCTION_SYSTEM_NAME], "Function.system_name", start),
            filename=s(v[F.FUNCTION_FILENAME], "Function.filename", start),
            start_line=to_int64(v[F.FUNCTION_START_LINE]),
        )

    def _mapping(self, start: int, end: int) -> Mapping:
        v = [0] * 11  # indexed by field number 1..10
        for number, wt, a, _ in iter_fields(self.buf, start, end):
            if wt == F.WT_VARINT and number <= F.MAPPING_HAS_INLINE_FRAMES:
                v[number] = a
        s = self._string
        return Mapping(
            id=v[F.MAPPING_ID],
            memory_start=v[F.MAPPING_MEMORY_START],
            memory_limit=v[F.MAPPING_MEMORY_LIMIT],
            file_offset=v[F.MAPPING_FILE_OFFSET],
            filename=s(v[F.MAPPING_FILENAME], "Mapping.filename", start),
            build_id=s(v[F.MAPPING_BUILD_ID], "Mapping.build_id", start),
            has_functions=bool(v[F.MAPPING_HAS_FUNCTIONS]),
            has_filenames=bool(v[F.MAPPING_HAS_FILENAMES]),
            has_line_numbers=bool(v[F.MAPPING_HAS_LINE_NUMBERS]),
            has_inline_frames=bool(v[F.MAPPING_HAS_INLINE_FRAMES]),
        )

    def _location(self, start: int, end: int) -> Location:
        buf = self.buf
        loc_id = mapping_id = address = folded = 0
        lines: list[Line] = []
        for number, wt, a, b in iter_fields(buf, start, end):
            if number == F.LOCATION_LINE and wt == F.WT_LEN:
                lines.append(self._line(a, b))
            elif wt == F.WT_VARINT:
                if number == F.LOCATION_ID:
                    loc_id = a
                elif number == F.LOCATION_MAPPING_ID:
                    mapping_id = a
                elif number == F.LOCATION_ADDRESS:
                    address = a
                elif number == F.LOCATION_IS_FOLDED:
                    folded = a
        mapping = None
        if mapping_id:
            mapping = self.mapping_by_id.get(mapping_id)
            if mapping is None:
                raise WireError(f"location {loc_id} refers to mapping {mapping_id}, which is not defined", start)
        return Location(id=loc_id, mapping=mapping, address=address, lines=tuple(lines), is_folded=bool(folded))

    def _line(self, start: int, end: int) -> Line:
        fid = line = column = 0
        for number, wt, a, _ in iter_fields(self.buf, start, end):
            if wt == F.WT_VARINT:
                if number == F.LINE_FUNCTION_ID:
                    fid = a
                elif number == F.LINE_LINE:
                    line = a
                elif number == F.LINE_COLUMN:
                    column = a
        if fid == 0:
            # No function (an unsymbolized frame): pprof keeps the line, named after the binary or "<unknown>".
            return Line(NO_FUNCTION, to_int64(line), to_int64(column))
        function = self.function_by_id.get(fid)
        if function is None:
            raise WireError(f"a line refers to function {fid}, which is not defined", start)
        return Line(function, to_int64(line), to_int64(column))

    def _label(self, start: int, end: int) -> Label:
        key = str_index = num_unit = 0
        num: int | None = None
        has_str = False
        for number, wt, a, _ in iter_fields(self.buf, start, end):
            if wt == F.WT_VARINT:
                if number == F.LABEL_KEY:
                    key = a
                elif number == F.LABEL_STR:
                    str_index, has_str = a, True
                elif number == F.LABEL_NUM:
                    num = to_int64(a)
                elif number == F.LABEL_NUM_UNIT:
                    num_unit = a
        s = self._string
        return Label(
            key=s(key, "Label.key", start),
            value=s(str_index, "Label.str", start) if has_str or num is None else None,
            num=num,
            num_unit=s(num_unit, "Label.num_unit", start),
        )

    def _samples(self, spans: list[Span]) -> list[Sample]:
        """All samples: the hot loop of a large profile, so the common keys are read inline.

        Identical location lists share one tuple and identical labels one
        :class:`Label` (a heap profile repeats both across thousands of samples).
        """
        buf = self.buf
        n_values = self.n_values
        stack_cache: dict[object, tuple[Location, ...]] = {}
        label_cache: dict[bytes, Label] = {}
        by_id = self.location_by_id
        out: list[Sample] = []
        append = out.append
        i = start = 0
        try:
            for i, (start, end) in enumerate(spans):  # noqa: B007 - i is named in the error below
                loc_ids: list[int] = []
                loc_packed = b""
                values: list[int] = []
                labels: list[Label] = []
                pos = start
                while pos < end:
                    key = buf[pos]
                    pos += 1
                    if key in (_KEY_LOCATION_PACKED, _KEY_VALUE_PACKED, _KEY_LABEL):
                        length = buf[pos]
                        if length < 0x80:
                            pos += 1
                        else:
                            length, pos = read_varint(buf, pos)
                        stop = pos + length
                        if stop > end:
                            raise WireError(f"a sample field claims {length} bytes but only {end - pos} remain", pos)
                        if key == _KEY_LOCATION_PACKED:
                            loc_packed += buf[pos:stop]
                        elif key == _KEY_VALUE_PACKED:
                            values += read_packed(buf, pos, stop)
                        else:
                            raw = buf[pos:stop]
                            label = label_cache.get(raw)
                            if label is None:
                                label = label_cache[raw] = self._label(pos, stop)
                            labels.append(label)
                        pos = stop
                    elif key == _KEY_LOCATION:
                        v, pos = read_varint(buf, pos)
                        loc_ids.append(v)
                    elif key == _KEY_VALUE:
                        v, pos = read_varint(buf, pos)
                        values.append(v)
                    else:  # another field or a multi-byte key: the general reader
                        sample = self._sample(start, end)
                        break
                else:
                    if pos != end:
                        raise WireError("a sample's last field runs past its end", end)
                    if len(values) != n_values:
                        raise WireError(
                            f"a sample has {len(values)} values but the profile declares {n_values} sample types",
                            start,
                        )
                    if values and max(values) >= _I64_SIGN:
                        values = [to_int64(v) for v in values]
                    cache_key: object = loc_packed if not loc_ids else (loc_packed, tuple(loc_ids))
                    locations = stack_cache.get(cache_key)
                    if locations is None:
                        ids = read_packed(loc_packed, 0, len(loc_packed)) + loc_ids if loc_packed else loc_ids
                        try:
                            locations = tuple([by_id[x] for x in ids])
                        except KeyError as exc:
                            raise WireError(f"a sample refers to location {exc.args[0]}, which is not defined",
                                            start) from None
                        stack_cache[cache_key] = locations
                    sample = Sample(locations, tuple(values), tuple(labels))
                append(sample)
        except WireError as exc:
            raise self.fail(f"malformed Sample message #{i}: {exc}", exc.offset) from None
        except IndexError:
            raise self.fail(f"Sample message #{i} is cut short", start) from None
        return out

    def _sample(self, start: int, end: int) -> Sample:
        buf = self.buf
        loc_ids: list[int] = []
        values: list[int] = []
        labels: list[Label] = []
        for number, wt, a, b in iter_fields(buf, start, end):
            if number == F.SAMPLE_LOCATION_ID:
                if wt == F.WT_LEN:
                    loc_ids.extend(read_packed(buf, a, b))
                else:
                    repeated_ints(wt, a, b, buf, loc_ids, start)
            elif number == F.SAMPLE_VALUE:
                if wt == F.WT_LEN:
                    values.extend(read_packed(buf, a, b))
                else:
                    repeated_ints(wt, a, b, buf, values, start)
            elif number == F.SAMPLE_LABEL and wt == F.WT_LEN:
                labels.append(self._label(a, b))
        if len(values) != self.n_values:
            raise WireError(
                f"a sample has {len(values)} values but the profile declares {self.n_values} sample types", start
            )
        if values and max(values) >= _I64_SIGN:
            values = [to_int64(v) for v in values]
        by_id = self.location_by_id
        try:
            locations = tuple([by_id[i] for i in loc_ids])
        except KeyError as exc:
            raise WireError(f"a sample refers to location {exc.args[0]}, which is not defined", start) from None
        return Sample(locations, tuple(values), tuple(labels))
