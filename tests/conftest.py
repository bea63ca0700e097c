"""Shared setup of the repository's own tests.

The engines import numpy and scipy, whose C extensions cannot be loaded twice
in one process. pytester's in-process runs snapshot and restore sys.modules,
so they must find these already imported by the outer run. httpx imports
httpcore lazily, on its first request: imported inside an inner run, httpcore
would be imported again afterwards, and httpx would no longer recognise its
exceptions (a raw httpcore.ReadTimeout instead of httpx.ReadTimeout).
"""

import subprocess

import httpcore  # noqa: F401
import pytest

import pytest_goperf.comparison.verdict  # noqa: F401
import pytest_goperf.runtime.measure  # noqa: F401


@pytest.fixture(scope="session")
def _outer_go_caches():
    out = subprocess.run(["go", "env", "GOCACHE", "GOMODCACHE", "GOPATH"], capture_output=True, text=True, check=True)
    return dict(zip(("GOCACHE", "GOMODCACHE", "GOPATH"), out.stdout.split()))


@pytest.fixture
def inner_go_env(tmp_path_factory, monkeypatch, _outer_go_caches):
    """Environment for pytester runs that build Go: the outer run's Go caches (pytester
    points HOME elsewhere, which would hide them) and one goperf build cache for the session."""
    for key, value in _outer_go_caches.items():
        monkeypatch.setenv(key, value)
    cache = tmp_path_factory.getbasetemp() / "goperf-build-cache"
    monkeypatch.setenv("GOPERF_CACHE_DIR", str(cache))
    return cache


#: Markers of tests outside the default suite: each runs only when ``-m`` names it.
OPT_IN = {
    "slow": "a long-running check (a wheel in a fresh virtual environment, long measurements)",
    "thirdparty": "builds a real third-party server (Caddy, nats-server) through the Go module proxy",
}


def pytest_collection_modifyitems(config, items):
    """Skip opt-in tests unless the ``-m`` expression names their marker (``-m slow``, ``-m thirdparty``)."""
    chosen = config.getoption("markexpr") or ""
    for item in items:
        for name, what in OPT_IN.items():
            if item.get_closest_marker(name) is not None and name not in chosen:
                item.add_marker(pytest.mark.skip(reason=f"opt-in, {what}: run with -m {name}"))
