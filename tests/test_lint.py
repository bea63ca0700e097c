"""The package is typed and linted: mypy --strict and ruff check, both clean (run by the suite, so by CI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_mypy_strict_is_clean():
    proc = _run("mypy", "--strict", "pytest_goperf")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_is_clean():
    proc = _run("ruff", "check", "pytest_goperf")
    assert proc.returncode == 0, proc.stdout + proc.stderr
