"""One way to name Go functions (and states) everywhere: exact, glob or regular expression.

- a plain name matches exactly: ``main.spinCore``;
- a name with ``*``, ``?`` or ``[`` is a shell glob: ``main.worker*``,
  ``*sync.(*Mutex).Lock`` (``*`` matches any text, itself included, so a
  method name such as ``sync.(*Mutex).Lock`` still matches itself);
- ``re:`` starts a regular expression that must match the whole name:
  ``re:main\\.(spin|hash).*``;
- a compiled ``re.Pattern`` is searched anywhere in the name.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from ..errors import UsageError

__all__ = ["NamePattern", "Selector", "name_matcher"]

NamePattern = str | re.Pattern[str]
Selector = NamePattern | Iterable[NamePattern]


@lru_cache(maxsize=1024)
def _string_matcher(pattern: str) -> Callable[[str], bool]:
    if pattern.startswith("re:"):
        try:
            rx = re.compile(pattern[3:])
        except re.error as exc:
            raise UsageError(f"invalid regular expression in the name pattern {pattern!r}: {exc}") from None
        return lambda s: rx.fullmatch(s) is not None
    if any(c in pattern for c in "*?["):
        rx = re.compile(fnmatch.translate(pattern))
        return lambda s: s == pattern or rx.match(s) is not None
    return lambda s: s == pattern


def name_matcher(which: Selector) -> Callable[[str], bool]:
    """A predicate for names matching ``which`` (one pattern or any of several)."""
    if isinstance(which, str):
        return _string_matcher(which)
    if isinstance(which, re.Pattern):
        return lambda s: which.search(s) is not None
    try:
        matchers = [name_matcher(w) for w in which if isinstance(w, (str, re.Pattern)) or _bad(w)]
    except TypeError:
        raise UsageError("select names with a string (exact, glob or 're:' regex), a compiled pattern (re.Pattern), "
                        "or a list of these") from None
    return lambda s: any(m(s) for m in matchers)


def _bad(w: object) -> bool:
    raise UsageError(f"not a name pattern: {w!r}")
