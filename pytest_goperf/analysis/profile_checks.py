"""The hot-function assertion: a plain function raising :class:`GoperfAssertionError`.

The pytest wiring (fixtures, markers) calls this; tests may call it directly.
"""

from __future__ import annotations

from ..errors import GoperfAssertionError, UsageError
from ..formats.profile._model import Profile
from .functions import FunctionTable, Selector, profile_table


def _describe(which: Selector) -> str:
    if isinstance(which, str):
        return which
    if hasattr(which, "pattern"):
        return f"/{which.pattern}/"
    return " | ".join(_describe(w) for w in which)


def assert_hot_share(
    source: FunctionTable | Profile,
    which: Selector,
    *,
    max_share: float | None = None,
    min_share: float | None = None,
    cum: bool = False,
    top: int = 8,
) -> float:
    """Check that the share of the selected functions lies within the limits; return the share.

    ``which`` selects functions as :meth:`FunctionTable.hot_share` does;
    shares and limits are fractions (0.3 = 30 %). Flat by default, ``cum=True``
    for the share including callees.

    :raises GoperfAssertionError: with the measured share, the limit and the
        hottest functions of the profile.
    :raises ValueError: when neither limit is given or a limit is outside [0, 1].
    """
    __tracebackhide__ = True
    if max_share is None and min_share is None:
        raise UsageError("give max_share= and/or min_share= (fractions of the total, e.g. 0.3 for 30 %)")
    for limit in (max_share, min_share):
        if limit is not None and not 0.0 <= limit <= 1.0:
            raise UsageError(f"a share limit is a fraction between 0 and 1, got {limit!r}")
    table = source if isinstance(source, FunctionTable) else profile_table(source)
    share = table.hot_share(which, cum=cum)
    measure = "cum" if cum else "flat"
    what = table.sample_type or "the profile"
    problem = None
    if max_share is not None and share > max_share:
        problem = f"above the limit of {max_share * 100:.2f}%"
    elif min_share is not None and share < min_share:
        problem = f"below the minimum of {min_share * 100:.2f}%"
    if problem is None:
        return share
    from ..report.text import format_top, format_value

    absent = "" if table.matching(which) else " (no sample has it: check the function name)"
    raise GoperfAssertionError(
        f"{_describe(which)} took {share * 100:.2f}% of {what} ({measure}), {problem}{absent}\n"
        f"total {format_value(table.total, table.unit)}; flat split: "
        + ", ".join(f"{g.key} {g.flat_share * 100:.1f}%" for g in table.by_class())
        + f"\nhottest functions by {measure}:\n"
        f"{format_top(table, top, cum=cum)}"
    )
