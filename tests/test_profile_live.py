"""The engine on a profile fetched from the running example service."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from pytest_goperf.errors import GoperfAssertionError
from pytest_goperf.profile import (
    assert_hot_share,
    profile_table,
    read_build_info_file,
    read_profile,
)

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
