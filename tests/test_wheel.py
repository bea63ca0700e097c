"""A wheel built from the repository installs into a fresh virtual environment and registers the plugin.

Opt-in (``-m slow``): the wheel build fetches setuptools through pip's build isolation and the
fresh environment installs the dependencies from the package index, about 75 s on the
project's machine, over the default suite's budget. Nothing of the checkout is importable
inside: the commands run from another folder without PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_wheel_installs_and_registers_the_plugin(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "pytest_goperf", src / "pytest_goperf", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
                   check=True, env=env, cwd=tmp_path, timeout=600)
    [wheel] = dist.glob("pytest_goperf-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    bin_dir = venv / "bin"
    subprocess.run([bin_dir / "pip", "install", "-q", str(wheel)], check=True, env=env, cwd=tmp_path, timeout=900)
    where = subprocess.run([bin_dir / "python", "-c", "import pytest_goperf; print(pytest_goperf.__file__)"],
                           capture_output=True, text=True, check=True, env=env, cwd=tmp_path)
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    # The pytest11 entry point: the plugin's options and markers are there without -p.
    (tmp_path / "proj").mkdir()
    help_text = subprocess.run([bin_dir / "pytest", "--help"], capture_output=True, text=True, env=env,
                               cwd=tmp_path / "proj", timeout=120).stdout
    assert "--goperf-url" in help_text and "--goperf-binary" in help_text
    markers = subprocess.run([bin_dir / "pytest", "--markers"], capture_output=True, text=True, env=env,
                             cwd=tmp_path / "proj", timeout=120).stdout
    assert "no_goroutine_leak" in markers
    version = subprocess.run([bin_dir / "goperf", "--version"], capture_output=True, text=True, env=env,
                             timeout=60).stdout
    assert version.strip() == "goperf 0.1.0"
