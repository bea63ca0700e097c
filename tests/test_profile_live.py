"""The engine on a profile fetched from the running example service."""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path

import pytest

from pytest_goperf.analysis.functions import profile_table
from pytest_goperf.analysis.profile_checks import assert_hot_share
from pytest_goperf.errors import GoperfAssertionError
from pytest_goperf.formats.profile._buildinfo import read_build_info_file
from pytest_goperf.formats.profile._decode import read_profile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import samplekit

SECONDS = 2


def test_cpu_profile_of_the_running_service(go_service):
    result: dict[str, bytes] = {}

    def fetch() -> None:
        result["data"] = samplekit.fetch(f"{go_service.pprof_url}/debug/pprof/profile?seconds={SECONDS}", timeout=30)

    with samplekit.load(go_service.url, ["/work?n=2000"], clients=3, max_seconds=SECONDS + 10):
        t = threading.Thread(target=fetch)
        t.start()
        t.join(timeout=SECONDS + 25)
    profile = read_profile(result["data"])
    assert profile.kind == "cpu"

    # The main module comes from the binary the profile names in its first mapping.
    binary = profile.mappings[0].filename
    info = read_build_info_file(binary)
    assert info.main_module == "example.com/goperf-demo"

    table = profile_table(profile, main_module=info.main_module)
    assert table.total >= 20 * profile.period, "too few samples: was the load running?"
    hot = table.hot_share(["main.spinCore", "main.hashPayload"])
    assert hot > 0.5
    assert table.class_share("user") >= hot
    assert {f.name for f in table.top(2)} == {"main.spinCore", "main.hashPayload"}
    assert_hot_share(table, "main.spinCore", max_share=0.99)
    with pytest.raises(GoperfAssertionError, match="main.spinCore took"):
        assert_hot_share(table, "main.spinCore", max_share=0.01)


def test_trace_cpu_samples_give_the_profile_shares(go_service):
    """One window for both: CPU samples in an execution trace, fed to the same table, match the profile."""
    from pytest_goperf.analysis.functions import function_table
    from pytest_goperf.analysis.trace_metrics import compute_metrics

    result: dict[str, bytes] = {}

    def profile() -> None:
        result["profile"] = samplekit.fetch(f"{go_service.pprof_url}/debug/pprof/profile?seconds=4", timeout=30)

    with samplekit.load(go_service.url, ["/work?n=2000"], clients=3, max_seconds=15):
        t = threading.Thread(target=profile)
        t.start()
        time.sleep(0.5)  # the trace only holds CPU samples while the profile runs
        result["trace"] = samplekit.fetch(f"{go_service.pprof_url}/debug/pprof/trace?seconds=2", timeout=30)
        t.join(timeout=30)
    from_profile = profile_table(read_profile(result["profile"]))
    samples = compute_metrics(result["trace"]).cpu_samples
    assert len(samples) >= 30, "too few CPU samples in the trace"
    from_trace = function_table([([f.function for f in s.stack], 1) for s in samples])
    # The trace's samples are a subset of the profile's (same signal, shorter
    # window): shares agree within sampling noise (about 0.04 for 150 samples).
    both = ["main.spinCore", "main.hashPayload"]
    for cum in (False, True):
        assert from_trace.hot_share(both, cum=cum) == pytest.approx(from_profile.hot_share(both, cum=cum), abs=0.1)
        for name in both:
            assert from_trace.hot_share(name, cum=cum) == pytest.approx(
                from_profile.hot_share(name, cum=cum), abs=0.15), (name, cum)
    user = re.compile(r"^main\.")
    assert from_trace.hot_share(user) == pytest.approx(from_profile.hot_share(user), abs=0.1)
    assert from_trace.hot_share(user) > 0.5
