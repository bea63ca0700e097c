"""The pprof wire format as data: field numbers of ``profile.proto``, written once.

Source: google/pprof ``proto/profile.proto`` (package ``perftools.profiles``)
and Go's own hand-written encoder ``src/runtime/pprof/protobuf.go`` /
``proto.go``, which is what every Go service emits. Fields not listed here
(newer additions such as ``tick_unit`` or ``Sample.breakdown``) are skipped.
"""

from __future__ import annotations

from typing import Final

# Protobuf wire types (https://protobuf.dev/programming-guides/encoding/).
WT_VARINT: Final = 0
WT_I64: Final = 1
WT_LEN: Final = 2
WT_I32: Final = 5
WIRE_TYPE_NAMES: Final = {0: "varint", 1: "fixed64", 2: "length-delimited", 3: "group start", 4: "group end", 5: "fixed32"}

# message Profile
PROFILE_SAMPLE_TYPE: Final = 1  # repeated ValueType
PROFILE_SAMPLE: Final = 2  # repeated Sample
PROFILE_MAPPING: Final = 3  # repeated Mapping
PROFILE_LOCATION: Final = 4  # repeated Location
PROFILE_FUNCTION: Final = 5  # repeated Function
PROFILE_STRING_TABLE: Final = 6  # repeated string; [0] must be ""
PROFILE_DROP_FRAMES: Final = 7  # string index
PROFILE_KEEP_FRAMES: Final = 8  # string index
PROFILE_TIME_NANOS: Final = 9
PROFILE_DURATION_NANOS: Final = 10
PROFILE_PERIOD_TYPE: Final = 11  # ValueType
PROFILE_PERIOD: Final = 12
PROFILE_COMMENT: Final = 13  # repeated string index
PROFILE_DEFAULT_SAMPLE_TYPE: Final = 14  # string index; unset means the last sample type
PROFILE_DOC_URL: Final = 15  # string index

# message ValueType
VALUE_TYPE_TYPE: Final = 1
VALUE_TYPE_UNIT: Final = 2

# message Sample
SAMPLE_LOCATION_ID: Final = 1  # repeated uint64, leaf first
SAMPLE_VALUE: Final = 2  # repeated int64, one per sample type
SAMPLE_LABEL: Final = 3  # repeated Label

# message Label
LABEL_KEY: Final = 1
LABEL_STR: Final = 2
LABEL_NUM: Final = 3
LABEL_NUM_UNIT: Final = 4

# message Mapping
MAPPING_ID: Final = 1
MAPPING_MEMORY_START: Final = 2
MAPPING_MEMORY_LIMIT: Final = 3
MAPPING_FILE_OFFSET: Final = 4
MAPPING_FILENAME: Final = 5
MAPPING_BUILD_ID: Final = 6
MAPPING_HAS_FUNCTIONS: Final = 7
MAPPING_HAS_FILENAMES: Final = 8
MAPPING_HAS_LINE_NUMBERS: Final = 9
MAPPING_HAS_INLINE_FRAMES: Final = 10

# message Location
LOCATION_ID: Final = 1
LOCATION_MAPPING_ID: Final = 2
LOCATION_ADDRESS: Final = 3
LOCATION_LINE: Final = 4  # repeated Line; several = inlined frames, the last is the caller
LOCATION_IS_FOLDED: Final = 5

# message Line
LINE_FUNCTION_ID: Final = 1
LINE_LINE: Final = 2
LINE_COLUMN: Final = 3

# message Function
FUNCTION_ID: Final = 1
FUNCTION_NAME: Final = 2
FUNCTION_SYSTEM_NAME: Final = 3
FUNCTION_FILENAME: Final = 4
FUNCTION_START_LINE: Final = 5

GZIP_MAGIC: Final = b"\x1f\x8b"
