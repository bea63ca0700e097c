"""The GitHub workflows a user copies pass actionlint (built from the Go module proxy, pinned)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ACTIONLINT = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"


def test_workflows_pass_actionlint(tmp_path_factory):
    gobin = tmp_path_factory.mktemp("gobin")
    env = {**os.environ, "GOBIN": str(gobin), "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    subprocess.run(["go", "install", ACTIONLINT], env=env, check=True, capture_output=True, timeout=600)
    workflows = sorted(str(p) for p in (REPO / ".github" / "workflows").glob("*.yml"))
    assert any(w.endswith("goperf-gate.yml") for w in workflows)
    proc = subprocess.run([str(gobin / "actionlint"), *workflows], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gate = (REPO / ".github" / "workflows" / "goperf-gate.yml").read_text()
    assert "fetch-depth: 0" in gate and "GOPERF_COMPARE_TO: ${{ github.event.pull_request.base.sha }}" in gate
