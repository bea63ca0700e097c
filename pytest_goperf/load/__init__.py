"""Built-in HTTP/1.1 keep-alive load: open (constant rate) and closed (N clients) models.

Typical use, blocking (from a test or a worker thread)::

    from pytest_goperf import ClosedModel, OpenModel, Request, Scenario, run_load

    result = run_load(
        "http://127.0.0.1:8080",
        Scenario([Request("GET", "/items", weight=3), Request("GET", "/work?n=10")]),
        model=OpenModel(rate=2000),
        duration=5.0,
        warmup=1.0,
    )
    print(result.requests_per_second, result.latency.percentile(99) / 1e6, "ms")

``await arun_load(...)`` does the same on a running event loop. Only loopback
targets are loaded unless ``allow_remote=True``. JSON keys: docs/load.md.
The engine is :mod:`.engine`; models and requests :mod:`.scenario`; results
:mod:`.result` and :mod:`.histogram`.
"""
