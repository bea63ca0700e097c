"""Shared fixtures of the repository's own tests.

INTERIM: ``go_service`` here builds and runs the example service with the
machine's Go through scripts/samplekit.py. It will be replaced by the plugin's
own ``go_service`` fixture (same attributes: ``url``, ``pprof_url``, ``pid``).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import samplekit  # noqa: E402


@dataclass
class _Svc:
    url: str
    pprof_url: str


@pytest.fixture(scope="session")
def go_service(tmp_path_factory):
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain is required")
    binary = tmp_path_factory.mktemp("bin") / "goperf-demo"
    samplekit.build_service(Path(go).resolve(), binary)
    with samplekit.run_service(binary) as url:
        yield _Svc(url=url, pprof_url=url)
