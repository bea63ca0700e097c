"""Performance tests of the example service: what each defect looks like under load.

Each ``goperf.measure`` call runs rounds of load, and in each round captures an
execution trace, a CPU profile and goroutine dumps of the same window. Windows
are short here to keep the suite fast; real gates use 5 rounds of 2-5 s.
"""

from __future__ import annotations

import pytest

from pytest_goperf import GoperfAssertionError, UnknownNameError

FAST = {"rounds": 2, "window": 1, "warmup": 0.3}


def test_goroutine_storm_raises_runnable_pressure(goperf):
    calm = goperf.measure("/items", concurrency=2, **FAST)
    storm = goperf.measure("/defect/storm?n=2000&work=20", concurrency=2, **FAST)
    # thousands of goroutines queue for two processors
    assert storm.runnable.p99 > 20 * max(calm.runnable.p99, 1)
    assert storm.runnable_per_p.p99 > 10
    assert storm.sched_latency.p99 > calm.sched_latency.p99  # nanoseconds, median across rounds
    assert storm.latency.p99 > calm.latency.p99  # milliseconds
    storm.assert_hot_share_below("main.spinCore", 1.0)  # the share is there, and within 100 %
    with pytest.raises(GoperfAssertionError, match=r"runnable.p99 = .* exceeds the limit 8 .*traces: .*trace.out"):
        storm.assert_runnable_below(8)
    calm.assert_runnable_below(8)


@pytest.mark.goperf(load="/work?n=2000", concurrency=2, track=["hot_share:main.hashPayload"], **FAST)
def test_cpu_route_dominates_the_hot_functions(goperf):
    result = goperf.measure()
    top_two = result.hot_share(["main.spinCore", "main.hashPayload"])
    assert top_two > 0.5
    assert result.class_share("user") > 0.5
    assert result.values("hot_share:main.hashPayload") and len(result.values("runnable.p99")) == 2
    with pytest.raises(GoperfAssertionError, match=r"(?s)CPU share of main\.spinCore = .* exceeds the limit 10\.0%.*main\.hashPayload"):
        result.assert_hot_share_below("main.spinCore", 0.10)


def test_contention_route_shows_lock_frames(goperf):
    result = goperf.measure("/defect/contention?n=32&iters=2000", concurrency=4, **FAST)
    # Go 1.24+ implements sync.Mutex in internal/sync; match both.
    lock_share = result.hot_share(["*sync.(*Mutex).Lock", "*sync.(*Mutex).Unlock"], cum=True)
    assert lock_share > 0.3
    blocked_sync = result.rounds[-1].trace.blocked_ns.sync  # goroutines waited in sync.Mutex.Lock
    assert blocked_sync > 0


def test_extra_work_knob_raises_the_named_functions_share(goperf, go_service_factory):
    base = goperf.measure("/work?n=2000", concurrency=2, **FAST)
    heavier = go_service_factory(args=["-addr", "{addr}", "-extra-cpu", "1.0"])
    slow = goperf.measure("/work?n=2000", concurrency=2, service=heavier, **FAST)
    assert slow.hot_share("main.hashPayload") > base.hot_share("main.hashPayload") + 0.05


@pytest.mark.goperf(limits={"runnable.p99": 1000, "errors": 0})
def test_marker_limits_are_checked(goperf):
    goperf.measure("/items/missing", concurrency=2, **FAST)  # 404s are answers, not errors


@pytest.mark.goperf(load="/checkout?items=3&db_ms=2", concurrency=2, track=["region_p50:db.query"],
                    limits={"region_p99:db.query": 200, "log_count:cache": 10**6}, **FAST)
def test_checkout_regions_measure_the_code_path(goperf):
    """db.query sleeps 2 ms: its region time says so directly, whatever else the request does."""
    result = goperf.measure()
    p50 = result.values("region_p50:db.query")
    assert len(p50) == 2 and all(2.0 <= v < 25.0 for v in p50), p50  # ms: 2 ms of sleep, plus wake-up delay
    result.assert_metric("region_p50:db.*", min=2.0)
    # a checkout holds three db.query regions: its task takes at least 6 ms
    assert result.median("task_p50:checkout") >= 6.0
    counts = result.values("region_count:db.query")
    assert all(c >= 3 * t for c, t in zip(counts, result.values("task_count:checkout"), strict=True))
    assert result.median("log_count:cache") > 0
    # the region is less diluted than the request: CPU-only stages are far shorter than the request
    assert result.median("region_p50:price") < result.latency.p50
    with pytest.raises(UnknownNameError, match=r"no region named 'db.qeury' occurred .*db\.query \("):
        result.values("region_p50:db.qeury")


def test_a_misspelt_region_in_limits_fails_with_the_names_that_occurred(goperf):
    with pytest.raises(UnknownNameError, match=r"region_p99:chekout.*the regions that did .*validate"):
        goperf.measure("/checkout?items=1&db_ms=0", concurrency=2, limits={"region_p99:chekout": 5}, **FAST)


def test_pipeline_wakeups_name_the_producer(goperf):
    result = goperf.measure("/pipeline?n=200&work=20&consumers=2", concurrency=2, wakeups=True, **FAST)
    for r in result.rounds:
        w = r.wakeups
        pairs = [p for p in w.pairs if p.blocked_at == "main.consume" and p.reason == "chan receive"
                 and p.woken_by == "main.produce"]
        assert pairs and pairs[0].share > 0.9, [p.describe() for p in w.pairs]
        assert r.trace is not None and r.trace.wakeups is w
        # every wake-up of a consumer by a goroutine came from a goroutine that ran main.produce
        g = pairs[0].goroutines[0]
        woken = [e for e in w.episodes(g) if e.waker >= 0 and not e.since_start]
        assert woken and all(any(f.function == "main.produce" for f in e.waker_stack) for e in woken
                             if e.reason == "chan receive")
