"""The outcome words of a comparison, apart from the statistics so renderers can use them cheaply."""

from __future__ import annotations

from enum import Enum

__all__ = ["Status"]


class Status(str, Enum):
    """Outcome of one metric's comparison; the value is the word shown in reports."""

    REGRESSED = "regressed"
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    NOT_ENOUGH_DATA = "not enough data"
    NO_BASELINE = "no baseline"

    def __str__(self) -> str:
        return self.value
