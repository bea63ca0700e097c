"""Log-linear latency histogram (HdrHistogram-like), mergeable, in pure Python.

Values are non-negative integers in nanoseconds. Values below 256 ns get a
bucket each; above that every power of two is split into 128 equal
sub-buckets, so a bucket is at most 1/128 (0.8 %) of its value wide and a
reported percentile (the bucket's midpoint) is within 0.4 % of a recorded
value. Values at or above ``2**40`` ns (about 18 minutes) share the last
bucket; the exact minimum, maximum and sum are kept beside the buckets.

``record`` takes one value (an ``int.bit_length`` and a list increment);
``record_array`` takes many at once with numpy, which is what the load engine
uses: its hot path only appends to an ``array('q')`` that is folded in here
every few tens of milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from ..errors import UsageError

#: Sub-buckets per power of two; the precision is 1 / SUB_BUCKETS.
SUB_BITS: Final = 7
SUB_BUCKETS: Final = 1 << SUB_BITS
#: Values below this have a bucket each (the linear part).
LINEAR_LIMIT: Final = SUB_BUCKETS << 1
#: Values at or above this share the last bucket.
MAX_TRACKABLE_NS: Final = 1 << 40
_TOP_SHIFT: Final = (MAX_TRACKABLE_NS - 1).bit_length() - (SUB_BITS + 1)
BUCKET_COUNT: Final = (_TOP_SHIFT << SUB_BITS) + LINEAR_LIMIT


def bucket_index(value_ns: int) -> int:
    """Index of the bucket holding ``value_ns`` (clamped into the trackable range)."""
    if value_ns < LINEAR_LIMIT:
        return max(0, value_ns)
    if value_ns >= MAX_TRACKABLE_NS:
        return BUCKET_COUNT - 1
    shift = value_ns.bit_length() - (SUB_BITS + 1)
    return (shift << SUB_BITS) + (value_ns >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """``(lowest, highest)`` value in nanoseconds, both inclusive, of bucket ``index``."""
    if not 0 <= index < BUCKET_COUNT:
        raise UsageError(f"bucket index {index} outside 0..{BUCKET_COUNT - 1}")
    if index < LINEAR_LIMIT:
        return index, index
    shift = (index >> SUB_BITS) - 1
    mantissa = index - (shift << SUB_BITS)
    return mantissa << shift, ((mantissa + 1) << shift) - 1


@dataclass(frozen=True, slots=True)
class Bucket:
    """One non-empty bucket: values in ``[low_ns, high_ns]`` were seen ``count`` times."""

    low_ns: int
    high_ns: int
    count: int


class LatencyHistogram:
    """Counts of latencies in log-linear buckets, with exact count, min, max and sum.

    ``percentile(q)`` follows the nearest-rank definition: the smallest
    recorded value (to bucket precision) such that at least ``q`` % of all
    values are at or below it. Two histograms merge exactly (``merge``).
    """

    __slots__ = ("_counts", "count", "max_ns", "min_ns", "total_ns")

    def __init__(self) -> None:
        self._counts: list[int] = [0] * BUCKET_COUNT
        self.count = 0
        self.total_ns = 0
        self.min_ns = 0
        self.max_ns = 0

    @classmethod
    def of(cls, values_ns: Iterable[int]) -> LatencyHistogram:
        """A histogram holding ``values_ns``."""
        h = cls()
        for v in values_ns:
            h.record(v)
        return h

    def record(self, value_ns: int, count: int = 1) -> None:
        """Add ``count`` observations of ``value_ns`` (negative values count as 0)."""
        value_ns = max(value_ns, 0)
        self._counts[bucket_index(value_ns)] += count
        if self.count == 0 or value_ns < self.min_ns:
            self.min_ns = value_ns
        self.max_ns = max(self.max_ns, value_ns)
        self.count += count
        self.total_ns += value_ns * count

    def record_array(self, values_ns: Sequence[int] | np.ndarray) -> None:
        """Add many observations at once (same result as ``record`` for each, faster)."""
        v = np.asarray(values_ns, dtype=np.int64)
        if v.size == 0:
            return
        v = np.maximum(v, 0)
        idx = np.empty(v.size, dtype=np.int64)
        small = v < LINEAR_LIMIT
        idx[small] = v[small]
        big = ~small
        if big.any():
            vb = np.minimum(v[big], MAX_TRACKABLE_NS - 1)
            # frexp's exponent is the bit length; exact, since values < 2**40 are exact in float64.
            _, bits = np.frexp(vb.astype(np.float64))
            shift = bits.astype(np.int64) - (SUB_BITS + 1)
            idx[big] = (shift << SUB_BITS) + (vb >> shift)
        counts = np.bincount(idx, minlength=BUCKET_COUNT)
        mine = self._counts
        for i in np.flatnonzero(counts).tolist():
            mine[i] += int(counts[i])
        lo, hi = int(v.min()), int(v.max())
        self.min_ns = lo if self.count == 0 else min(self.min_ns, lo)
        self.max_ns = max(self.max_ns, hi)
        self.count += int(v.size)
        self.total_ns += int(v.sum())

    def merge(self, other: LatencyHistogram) -> None:
        """Add every observation of ``other`` to this histogram."""
        if other.count == 0:
            return
        mine = self._counts
        for i, c in enumerate(other._counts):
            if c:
                mine[i] += c
        self.min_ns = other.min_ns if self.count == 0 else min(self.min_ns, other.min_ns)
        self.max_ns = max(self.max_ns, other.max_ns)
        self.count += other.count
        self.total_ns += other.total_ns

    def copy(self) -> LatencyHistogram:
        """An independent copy."""
        h = LatencyHistogram()
        h.merge(self)
        return h

    @property
    def mean_ns(self) -> float:
        """Exact mean of the recorded values (0.0 when empty)."""
        return self.total_ns / self.count if self.count else 0.0

    def percentile(self, q: float) -> int:
        """The ``q``-th percentile (0 < q <= 100) in nanoseconds; 0 when empty.

        The answer is the midpoint of the bucket holding the nearest-rank
        value, clamped to the exact minimum and maximum, so ``percentile(100)``
        is the exact maximum.
        """
        if not 0 < q <= 100:
            raise UsageError(f"percentile must be in (0, 100], got {q!r}")
        if self.count == 0:
            return 0
        if q == 100:
            return self.max_ns
        # Nearest rank, computed in integers where possible to avoid 99.9 * n rounding up.
        rank = max(1, -(-round(q * 1_000_000) * self.count // 100_000_000))
        seen = 0
        for i, c in enumerate(self._counts):
            if c:
                seen += c
                if seen >= rank:
                    low, high = bucket_bounds(i)
                    mid = (low + high) // 2
                    return min(max(mid, self.min_ns), self.max_ns)
        return self.max_ns  # pragma: no cover - counts always add up to count

    def buckets(self) -> Iterator[Bucket]:
        """The non-empty buckets, lowest first."""
        for i, c in enumerate(self._counts):
            if c:
                low, high = bucket_bounds(i)
                yield Bucket(low, high, c)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencyHistogram):
            return NotImplemented
        return (
            self.count == other.count
            and self.total_ns == other.total_ns
            and self.min_ns == other.min_ns
            and self.max_ns == other.max_ns
            and self._counts == other._counts
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        if not self.count:
            return "LatencyHistogram(count=0)"
        return (
            f"LatencyHistogram(count={self.count}, p50={self.percentile(50) / 1e6:.3f}ms, "
            f"p99={self.percentile(99) / 1e6:.3f}ms, max={self.max_ns / 1e6:.3f}ms)"
        )

    def to_json(self) -> dict[str, float | int]:
        """Summary in milliseconds: count, min, mean, p50, p90, p99, p99.9, max."""
        ms = 1e6
        return {
            "count": self.count,
            "min_ms": self.min_ns / ms,
            "mean_ms": self.mean_ns / ms,
            "p50_ms": self.percentile(50) / ms,
            "p90_ms": self.percentile(90) / ms,
            "p99_ms": self.percentile(99) / ms,
            "p999_ms": self.percentile(99.9) / ms,
            "max_ms": self.max_ns / ms,
        }


def histogram_from_sparse(
    buckets: Iterable[Sequence[int]], *, count: int, total_ns: int, min_ns: int, max_ns: int
) -> LatencyHistogram:
    """A histogram from ``(bucket index, count)`` pairs and its exact summary (the Go load worker's output).

    :raises UsageError: a bucket index out of range, or counts that do not add up to ``count``.
    """
    h = LatencyHistogram()
    counts = h._counts
    seen = 0
    for index, n in buckets:
        if not 0 <= index < BUCKET_COUNT or n < 0:
            raise UsageError(f"histogram bucket {index}: {n} is outside the bucket layout")
        counts[index] += n
        seen += n
    if seen != count:
        raise UsageError(f"histogram buckets hold {seen} values, its count says {count}")
    h.count, h.total_ns = count, total_ns
    h.min_ns, h.max_ns = (min_ns, max_ns) if count else (0, 0)
    return h
