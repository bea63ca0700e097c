"""The load engine against the live example Go service (the ``go_service`` fixture).

Every load here is short (0.3-1 s). Rates and bounds are chosen well inside
what two shared cores sustain, so the assertions hold on a busy CI machine.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from pytest_goperf.cli.main import main
from pytest_goperf.load.engine import arun_load, run_load
from pytest_goperf.load.scenario import ClosedModel, OpenModel, Request, Scenario


def ordered_percentiles(r) -> None:
    lat = r.latency
    p50, p90, p99 = lat.percentile(50), lat.percentile(90), lat.percentile(99)
    assert 0 < lat.min_ns <= p50 <= p90 <= p99 <= lat.max_ns


def test_closed_model_on_a_cheap_handler(go_service):
    t0 = time.monotonic()
    r = run_load(go_service.url, "/items", model=ClosedModel(8), duration=0.6)
    wall = time.monotonic() - t0
    assert r.model == "closed" and r.concurrency == 8
    assert r.failed == 0 and r.dropped == 0 and r.errors == {}
    assert r.completed == r.sent > 200  # even a slow CI machine does hundreds per second here
    assert dict(r.status_counts) == {200: r.completed}
    assert r.duration == pytest.approx(0.6, abs=0.02)
    assert r.requests_per_second == pytest.approx(r.completed / r.elapsed)
    assert r.stopped_by == "duration"
    ordered_percentiles(r)
    assert wall < 0.6 + 1.0


def test_open_model_holds_a_modest_rate_on_the_cpu_endpoint(go_service):
    r = run_load(go_service.url, "/work?n=10", model=OpenModel(400), duration=1.0)
    assert r.model == "open" and r.target_rate == 400
    # Request i is due at i/400 s: exactly 400 fall inside a 1 s window.
    assert r.sent == 400
    assert r.completed == 400 and r.failed == 0 and r.dropped == 0
    # Completions per second of elapsed time; a stall of a busy CI machine at the very end
    # stretches `elapsed`, so the 2 % target is the bench's job, not this test's.
    assert 0.8 < r.achieved_ratio <= 1.01
    assert r.send_lag.count == 400
    ordered_percentiles(r)


def test_missing_items_are_completed_with_their_status(go_service):
    scenario = Scenario([Request("GET", "/items", weight=3), Request("GET", "/items/missing", weight=1)])
    r = run_load(go_service.url, scenario, model=ClosedModel(4), duration=5, max_requests=2000)
    assert r.stopped_by == "max_requests"
    assert r.sent == r.completed == 2000 and r.failed == 0
    # The mix is a fixed smooth cycle, so the 3:1 share is exact over 2000 sends.
    assert dict(r.status_counts) == {200: 1500, 404: 500}
    items, missing = r.by_request
    assert (items.name, items.completed, dict(items.status_counts)) == ("GET /items", 1500, {200: 1500})
    assert (missing.name, missing.completed, dict(missing.status_counts)) == ("GET /items/missing", 500, {404: 500})
    assert r.request("GET /items/missing") is missing
    assert "404: 500" in r.to_text()


def test_fractional_weights_in_an_open_model_mix(go_service):
    scenario = Scenario(
        [
            Request("PUT", "/items/k1", body=b'{"v": 1}', headers={"Content-Type": "application/json"}, weight=0.5),
            Request("GET", "/items/k1", weight=0.3),
            Request("DELETE", "/items/zz", weight=0.2),
        ]
    )
    r = run_load(go_service.url, scenario, model=OpenModel(600), duration=0.5, warmup=0.1)
    put, get, delete = r.by_request
    assert r.sent == 300 and r.failed == 0
    for stats, share in ((put, 0.5), (get, 0.3), (delete, 0.2)):
        assert abs(stats.sent - 300 * share) <= 2, (stats.name, stats.sent)
    assert set(put.status_counts) == {200}
    assert set(delete.status_counts) == {204}
    # The first GETs of the warm-up may precede the first PUT; measured ones find the item.
    assert set(get.status_counts) == {200}


def test_warmup_is_not_measured(go_service):
    t0 = time.monotonic()
    r = run_load(go_service.url, "/items", model=OpenModel(500), duration=0.4, warmup=0.4)
    wall = time.monotonic() - t0
    assert wall >= 0.8, "the warm-up must really send for its whole length"
    assert r.warmup == pytest.approx(0.4)
    assert r.sent == 200  # only the 0.4 s window at 500/s, not the 0.8 s of sending
    assert r.completed == 200


def test_max_requests_bounds_a_long_duration(go_service):
    t0 = time.monotonic()
    r = run_load(go_service.url, "/items", model=ClosedModel(16), duration=60, max_requests=300)
    assert time.monotonic() - t0 < 5
    assert r.stopped_by == "max_requests"
    assert r.sent == 300 and r.completed == 300
    assert r.duration < 5


def test_open_model_at_overload_shows_latency_and_drops_not_a_hidden_backlog(go_service):
    url = go_service.url
    # One at a time, the storm endpoint's service time:
    base = run_load(url, "/defect/storm?n=3000", model=ClosedModel(1), duration=0.4)
    service_p50 = base.latency.percentile(50)
    capacity = base.requests_per_second
    assert base.completed >= 2
    # Ask for twenty times what it did one at a time, with room for only 8 outstanding requests.
    rate = max(200.0, 20 * capacity)
    r = run_load(url, "/defect/storm?n=3000", model=OpenModel(rate, max_in_flight=8), duration=0.5, timeout=8)
    why = f"base: {base.to_text()}\noverload: {r.to_text()}"
    due = r.sent + r.dropped
    assert abs(due - rate * 0.5) <= 1, why
    assert r.dropped > 0, "requests that cannot be sent are counted as dropped\n" + why
    assert r.achieved_ratio is not None and r.achieved_ratio < 0.6, why
    assert r.completed + r.failed == r.sent, why
    # Latency counts from the due time, so queueing behind the service shows up in full.
    assert r.latency.percentile(90) > 2 * service_p50, why
    # 8 requests queue behind each other: the slowest waited several service times (not a fixed
    # 0.2 s, which a fast machine undercuts: 128 ms seen at a 9 ms service time).
    assert r.latency.max_ns > 5 * service_p50, why


def test_open_model_latency_counts_from_due_time_when_the_client_stalls(go_service):
    # Stall the client's own event loop for 0.25 s in the middle of the window: the
    # requests due meanwhile go out late, and their latency must include the wait
    # (a closed-loop client would silently send fewer requests instead). The Python engine:
    # the Go worker runs in its own process, which this stall does not reach (its due-time
    # latency is checked behind a busy pool in test_load_protocol.py, on both engines).
    async def scenario():
        async def stall():
            await asyncio.sleep(0.3)
            time.sleep(0.25)  # noqa: ASYNC251 - blocking the loop is the point

        staller = asyncio.ensure_future(stall())
        result = await arun_load(go_service.url, "/items", model=OpenModel(200), duration=0.8, engine="python")
        await staller
        return result

    r = asyncio.run(scenario())
    assert r.sent == 160 and r.completed == 160
    assert r.late >= 40  # 200/s for 0.25 s, sent more than 5 ms late
    assert r.send_lag.max_ns >= 0.2e9
    assert r.latency.max_ns >= 0.2e9
    # Requests due in the stall each waited part of it: at least ~45 had latency above 10 ms.
    slow = sum(b.count for b in r.latency.buckets() if b.low_ns > 10_000_000)
    assert slow >= 40


def test_run_load_from_worker_threads_while_the_main_thread_is_busy(go_service):
    results: list = []

    def worker(path: str) -> None:
        results.append(run_load(go_service.url, path, model=ClosedModel(2), duration=0.3))

    threads = [threading.Thread(target=worker, args=(p,)) for p in ("/items", "/work?n=10")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 2
    assert all(r.completed > 0 and r.failed == 0 for r in results)


def test_chunked_responses_from_go(go_service):
    import http.client
    from urllib.parse import urlsplit

    # Enough keys that /items outgrows Go's response buffer and goes out chunked.
    host = urlsplit(go_service.url).netloc
    conn = http.client.HTTPConnection(host, timeout=10)
    for i in range(150):
        conn.request("PUT", f"/items/chunked-key-{i:04d}-padding-padding-padding", body=b"1")
        conn.getresponse().read()
    conn.request("GET", "/items")
    resp = conn.getresponse()
    body = resp.read()
    assert resp.getheader("Transfer-Encoding") == "chunked", "precondition: Go answers /items chunked"
    try:
        r = run_load(go_service.url, "/items", model=ClosedModel(4), duration=0.3)
        assert r.completed > 0 and r.failed == 0 and dict(r.status_counts) == {200: r.completed}
        assert len(body) > 4096
    finally:
        for i in range(150):
            conn.request("DELETE", f"/items/chunked-key-{i:04d}-padding-padding-padding")
            conn.getresponse().read()
        conn.close()


def test_goperf_load_json(go_service, capsys):
    code = main(["load", go_service.url + "/items/missing", "--concurrency", "2", "--duration", "0.3", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "load"
    assert data["model"] == "closed"
    assert data["completed"] > 0
    assert data["failed"] == 0
    assert data["requests_per_second"] == pytest.approx(data["completed"] / data["elapsed_s"])
    assert data["status_counts"] == {"404": data["completed"]}
    assert set(data["latency"]) >= {"p50_ms", "p90_ms", "p99_ms", "max_ms"}
    assert 0 < data["latency"]["p50_ms"] <= data["latency"]["p99_ms"] <= data["latency"]["max_ms"]


def test_goperf_load_text_and_errors(go_service, capsys):
    assert main(["load", go_service.url + "/items", "--rate", "200", "--duration", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "open model, target 200 req/s" in out and "p99" in out and "200: 60" in out
    assert main(["load", "http://192.0.2.1:80/", "--rate", "10", "--duration", "0.3"]) == 2
    assert "not a loopback address" in capsys.readouterr().err
    assert main(["load", go_service.url, "--rate", "10", "--duration", "0.3", "-H", "no-colon"]) == 2
    assert "--header" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["load", go_service.url, "--duration", "1"])  # neither --rate nor --concurrency


def test_every_json_key_is_documented(go_service):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "load.md").read_text()
    table = doc.split("## JSON keys", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", table, flags=re.MULTILINE))
    r = run_load(go_service.url, "/items", model=OpenModel(100), duration=0.2)
    data = r.to_json()
    assert set(data) == documented
    assert set(data["latency"]) == {"count", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"}
    assert set(data["requests"][0]) == {"name", "sent", "completed", "failed", "dropped", "status_counts", "latency"}
    json.dumps(data)  # plain JSON types only
