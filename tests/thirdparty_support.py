"""Support of the opt-in third-party tests (``-m thirdparty``): a Go module that requires a real server.

The module directory lives under the repository's ``.goperf/thirdparty/`` (ignored by git), so
its go.sum, and through the Go build cache the compiled packages, are kept between runs: only the
first run downloads through the Go module proxy and compiles (minutes); later ones reuse the
plugin's cached binary. Nothing of the server's source is kept in the repository.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "go-service"


def require_module(name: str, module: str, version: str, command: str) -> Path:
    """A module directory ``.goperf/thirdparty/NAME`` whose go.mod requires ``module@version`` for ``command``."""
    root = REPO / ".goperf" / "thirdparty" / name
    root.mkdir(parents=True, exist_ok=True)
    gomod = f"module goperf.thirdparty/{name}\n\ngo 1.26\n"
    if not (root / "go.mod").is_file() or f"{module} {version}" not in (root / "go.mod").read_text():
        (root / "go.mod").write_text(gomod)
        (root / "go.sum").unlink(missing_ok=True)
    (root / "tools.go").write_text(f'//go:build tools\n\npackage tools\n\nimport _ "{command}"\n')
    if not (root / "go.sum").is_file():
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
        subprocess.run(["go", "get", f"{module}@{version}"], cwd=root, env=env, check=True, timeout=1800)
        subprocess.run(["go", "mod", "tidy"], cwd=root, env=env, check=True, timeout=1800)
    return root


def toml_string(value: object) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


#: A helper module written into each inner project: ``goperf triage`` of a live service, and the
#: assertions that say a triage of a healthy server has no false finding.
INNER_TRIAGE = '''
import json
import subprocess
import sys


def triage(url, seconds=3):
    """goperf triage URL --json: the exit status (1 when a finding reaches warning) and the JSON."""
    out = subprocess.run([sys.executable, "-m", "pytest_goperf.cli", "triage", url, "--seconds", str(seconds),
                          "--json", "--fail-on", "warning", "--out", "triage-out"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode, json.loads(out.stdout)


def summary(t, **extra):
    """What a triage said, as one JSON line for the report."""
    return json.dumps({"findings": [(f["key"], f["level"], f["advice"]) for f in t["findings"]],
                       "measures": {k: round(v["value"], 3) for k, v in t["measures"].items()},
                       "gomaxprocs": t["gomaxprocs"], "cpu": (t["cpu"] or {}).get("by_class"), **extra})


def assert_no_false_finding_under_load(t):
    """No pile-up of system calls, no leak, no worker-pool advice for the library's own goroutines."""
    keys = {f["key"] for f in t["findings"]}
    assert "syscall_pileup" not in keys and "leak_suspected" not in keys and "leak_proven" not in keys, keys
    assert not any("worker pool" in f["advice"] for f in t["findings"])
'''
