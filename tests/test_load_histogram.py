"""The latency histogram: bucket layout, precision against exact percentiles, merging."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from pytest_goperf.load.histogram import (
    BUCKET_COUNT,
    MAX_TRACKABLE_NS,
    SUB_BUCKETS,
    LatencyHistogram,
    bucket_bounds,
    bucket_index,
)


def test_buckets_tile_the_range_without_gaps_and_within_precision():
    prev_high = -1
    for i in range(BUCKET_COUNT):
        low, high = bucket_bounds(i)
        assert low == prev_high + 1, i
        assert bucket_index(low) == i
        assert bucket_index(high) == i
        # Width relative to the bucket's lowest value: at most 1/SUB_BUCKETS.
        assert (high - low + 1) <= max(1, low / SUB_BUCKETS)
        prev_high = high
    assert prev_high == MAX_TRACKABLE_NS - 1
    with pytest.raises(ValueError, match="bucket index"):
        bucket_bounds(BUCKET_COUNT)


def test_values_beyond_the_range_clamp_but_keep_exact_extremes():
    h = LatencyHistogram.of([-5, 3, MAX_TRACKABLE_NS * 4])
    assert h.count == 3
    assert h.min_ns == 0
    assert h.max_ns == MAX_TRACKABLE_NS * 4
    assert h.percentile(100) == MAX_TRACKABLE_NS * 4
    assert h.percentile(1) == 0


def nearest_rank(values, q):
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_within_half_a_percent_of_exact_nearest_rank(seed):
    rng = np.random.default_rng(seed)
    # Latency-like: lognormal around 200 us with a long tail, plus a few seconds-long outliers.
    values = [int(v) for v in rng.lognormal(mean=math.log(200_000), sigma=1.2, size=20_000)]
    values += [int(v) for v in rng.uniform(1e9, 5e9, size=20)]
    h = LatencyHistogram.of(values)
    assert h.count == len(values)
    assert h.total_ns == sum(values)
    assert h.min_ns == min(values)
    assert h.max_ns == max(values)
    for q in (1, 10, 50, 90, 99, 99.9, 99.99):
        exact = nearest_rank(values, q)
        got = h.percentile(q)
        assert abs(got - exact) <= exact * 0.005 + 1, (q, got, exact)
    # numpy's "inverted_cdf" method is the nearest-rank definition: a second, independent oracle.
    for q in (50, 90, 99):
        ref = float(np.percentile(values, q, method="inverted_cdf"))
        assert abs(h.percentile(q) - ref) <= ref * 0.005 + 1


def test_percentiles_of_small_exact_values_are_exact():
    h = LatencyHistogram.of(range(1, 101))  # 1..100 ns: linear buckets, one value each
    assert h.percentile(50) == 50
    assert h.percentile(90) == 90
    assert h.percentile(99) == 99
    assert h.percentile(99.9) == 100
    assert h.mean_ns == pytest.approx(50.5)


def test_merge_equals_recording_everything_into_one():
    rnd = random.Random(7)
    a_vals = [rnd.randrange(0, 10**9) for _ in range(3000)]
    b_vals = [rnd.randrange(10**6, 10**11) for _ in range(2000)]
    a, b = LatencyHistogram.of(a_vals), LatencyHistogram.of(b_vals)
    merged = a.copy()
    merged.merge(b)
    assert merged == LatencyHistogram.of(a_vals + b_vals)
    assert a == LatencyHistogram.of(a_vals), "merge must not change its argument or the copy's source"
    empty = LatencyHistogram()
    empty.merge(b)
    assert empty == b
    b.merge(LatencyHistogram())
    assert b == LatencyHistogram.of(b_vals)


def test_empty_histogram_and_bad_percentiles():
    h = LatencyHistogram()
    assert h.percentile(99) == 0
    assert h.mean_ns == 0.0
    assert h.to_json()["count"] == 0
    assert list(h.buckets()) == []
    for bad in (0, -1, 100.5):
        with pytest.raises(ValueError, match="percentile"):
            h.percentile(bad)


def test_buckets_and_json_summary():
    h = LatencyHistogram.of([1_000_000] * 9 + [50_000_000])
    buckets = list(h.buckets())
    assert [b.count for b in buckets] == [9, 1]
    assert buckets[0].low_ns <= 1_000_000 <= buckets[0].high_ns
    j = h.to_json()
    assert set(j) == {"count", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"}
    assert j["p50_ms"] == pytest.approx(1.0, rel=0.005)
    assert j["p90_ms"] == pytest.approx(1.0, rel=0.005)
    assert j["p99_ms"] == pytest.approx(50.0, rel=0.005)
    assert j["max_ms"] == 50.0
    assert j["mean_ms"] == pytest.approx(5.9)


def test_record_array_equals_recording_one_by_one():
    rng = np.random.default_rng(11)
    values = np.concatenate(
        [
            rng.integers(0, 300, 500),  # the linear part and its edge
            rng.lognormal(math.log(2e5), 2.0, 5000).astype(np.int64),
            np.array([-3, 255, 256, 257, 2**33 - 1, 2**33, MAX_TRACKABLE_NS - 1, MAX_TRACKABLE_NS, 2**50]),
        ]
    )
    one = LatencyHistogram.of(int(v) for v in values)
    bulk = LatencyHistogram()
    bulk.record_array(values[:1000])
    bulk.record_array(values[1000:])
    bulk.record_array([])
    assert bulk == one
