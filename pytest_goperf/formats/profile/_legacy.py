"""Recognise the profile formats Go wrote before pprof's protobuf, to refuse them by name.

Go's ``runtime/pprof`` and ``net/http/pprof`` served text (``heap profile:``,
``--- contention:``, ``--- mutex:``) and a binary CPU format of native words
(header ``0, 3, 0, period, 0``) until Go 1.9 (1.11 for the mutex and block
endpoints); a current endpoint still writes the text forms for ``?debug=1``.
google/pprof reads them through ``legacy_profile.go``; goperf does not, and
says so instead of reporting protobuf-level nonsense.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["legacy_kind"]

# google/pprof profile/legacy_profile.go: heapHeaderRE, contentionSampleRE's headers, threadz, growthz.
_TEXT_STARTS: Final = re.compile(
    rb"\s*(?:heap profile: |heap_v2/|heapz_v2/|--- contention|--- mutex|--- threadz|growthz |"
    rb"threadcreate profile: total )"
)


def _words(data: bytes, size: int, n: int) -> list[int]:
    return [int.from_bytes(data[k * size : (k + 1) * size], "little") for k in range(n)]


def legacy_kind(data: bytes) -> str | None:
    """``"text"`` or ``"binary CPU"`` when ``data`` is a legacy profile, else None."""
    if _TEXT_STARTS.match(data[:64]):
        return "text"
    # The legacy CPU profile: header words 0 (count), 3 (header words), 0 (version), period, 0.
    for size in (8, 4):
        if len(data) >= 5 * size:
            w = _words(data, size, 5)
            if w[0] == 0 and w[1] == 3 and w[2] == 0 and w[3] > 0 and w[4] == 0:
                return "binary CPU"
    return None
