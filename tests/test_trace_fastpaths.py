"""The trace engine's fast paths give exactly what their plain numpy counterparts give."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_goperf.analysis.trace_metrics import (
    _Accumulator,
    _group_order,
    _int64_column,
    _uint64_column,
)


@pytest.mark.parametrize("span", [1, 900, 65535, 65536, 1 << 40])
def test_group_order_is_the_stable_argsort(span: int) -> None:
    rng = np.random.default_rng(span)
    gid = rng.integers(0, span, size=5000, dtype=np.int64) + 12345
    assert np.array_equal(_group_order(gid), np.argsort(gid, kind="stable"))
    assert _group_order(np.zeros(0, dtype=np.int64)).size == 0


@pytest.mark.parametrize("high", [50, 10_000, 1 << 40])
def test_map_unique_calls_f_once_per_value_in_order(high: int) -> None:
    rng = np.random.default_rng(high)
    values = rng.integers(0, high, size=3000, dtype=np.int64)
    calls: list[int] = []

    def f(v: int) -> int:
        calls.append(v)
        return v * 3 + 1

    out = _Accumulator._map_unique(values, f)
    assert calls == sorted(set(values.tolist()))
    assert out.tolist() == [v * 3 + 1 for v in values.tolist()]
    neg = np.array([-1, 5, -1], dtype=np.int64)
    assert _Accumulator._map_unique(neg, lambda v: v + 10).tolist() == [9, 15, 9]


def test_columns() -> None:
    vals = [0, 1, 255, 1 << 40, (1 << 64) - 1]
    assert _uint64_column(vals).tolist() == vals
    assert _uint64_column([]).size == 0
    assert _int64_column([-1, 0, 7, 1 << 62]).tolist() == [-1, 0, 7, 1 << 62]
