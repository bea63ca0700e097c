"""The same-run A/B gate as a pull request would meet it: a base commit, a head that changes the code.

Each test makes a throw-away git repository holding this service, commits a
base, changes the working tree (the head, as in a pull request) and runs
pytest there with ``--goperf-compare-to=<base commit>``, as CI would. The base
is checked out beside the tree, built and started next to the head; every
round pair measures both under the same load.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent

PYPROJECT = """
[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.goperf]
package = "."
args = ["-addr", "{addr}"]
ready_path = "/healthz"
"""

TEST = """
import pytest

@pytest.mark.goperf(load="/work?n=2000", concurrency=2, rounds=6, window=1, warmup=0.3,
                    gate=["cpu_per_request:main.hashPayload", "proc_cpu_per_request"])
def test_work(goperf):
    goperf.measure()
"""

HASH_LOOP = "rounds := int(float64(n*100) * (1 + extraCPU))"


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-c", "user.name=goperf", "-c", "user.email=goperf@example.com", *args],
                         cwd=repo, check=True, capture_output=True, text=True)
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A repository of the service with one commit (the base); returns (path, base commit)."""
    root = tmp_path / "service"
    (root / "tests").mkdir(parents=True)
    for path in (SERVICE / "go.mod", *sorted(SERVICE.glob("*.go"))):
        (root / path.name).write_bytes(path.read_bytes())
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "tests" / "test_perf.py").write_text(TEST)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "base")
    return root, _git(root, "rev-parse", "HEAD")


def _pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("GITHUB_ACTIONS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
                          cwd=root, capture_output=True, text=True, env=env, timeout=600)


def test_added_work_in_one_function_fails_against_the_base(repo):
    root, base = repo
    main = root / "main.go"
    assert HASH_LOOP in main.read_text()
    # The pull request doubles the loop of main.hashPayload: a code change, not a flag.
    main.write_text(main.read_text().replace(HASH_LOOP, "rounds := int(float64(n*200) * (1 + extraCPU))"))
    junit = root / "junit.xml"
    run = _pytest(root, f"--goperf-compare-to={base}", f"--junitxml={junit}")
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "1 failed" in out and "PerformanceRegressionError" in out
    assert f"same-run comparison with the base {base[:12]}" in out
    assert "cpu_per_request:main.hashPayload" in out and "regressed" in out
    case = ET.parse(junit).getroot().find(".//testcase")
    assert case is not None
    failure = case.find("failure")
    assert failure is not None and "regressed against the base" in (failure.get("message") or "")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["goperf.cpu_per_request:main.hashPayload.verdict"] == "regressed"
    assert float(props["goperf.cpu_per_request:main.hashPayload.change"]) > 0.4
    assert float(props["goperf.proc_cpu_per_request.median"]) > 0  # the promised goperf.<metric>.median
    # The base's checkout is gone; the head (the dirty tree) is as it was.
    assert _git(root, "worktree", "list").count("\n") == 0
    assert "n*200" in main.read_text()


def test_a_harmless_change_passes_against_the_base(repo):
    root, base = repo
    main = root / "main.go"
    main.write_text(main.read_text().replace("func spinCore(", "// spinCore is the base cost of /work.\nfunc spinCore("))
    # One look: a fixed 6 pairs (the sequential gate's extra pairs are the bench's subject, not this test's).
    with (root / "pyproject.toml").open("a") as fh:
        fh.write("\n[tool.goperf.gate]\nlooks = 1\n")
    _git(root, "commit", "-qam", "comment only")
    run = _pytest(root, f"--goperf-compare-to={base}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout and "0 regressed" in run.stdout
    assert "6 pairs" in run.stdout
