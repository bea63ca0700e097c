"""Materialising the base of a same-run comparison: revisions, directories, shallow clones, cleanup."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_goperf import ConfigError
from pytest_goperf.runtime.base import materialise_base, remove_base


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "svc").mkdir()
    (root / "svc" / "main.go").write_text("package main\n\nfunc main() {}\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    (root / "svc" / "main.go").write_text("package main\n\nfunc main() { println() }\n")
    git(root, "commit", "-qam", "head")
    return root


def test_a_revision_is_checked_out_beside_the_tree_and_removed(repo, tmp_path):
    cache = tmp_path / "cache"
    base = materialise_base("main~1", project_root=repo, cache=cache)
    assert base.commit == git(repo, "rev-parse", "main~1") and base.worktree
    assert "println" not in (base.root / "svc" / "main.go").read_text()
    assert str(base.root) in git(repo, "worktree", "list")
    again = materialise_base(base.commit, project_root=repo, cache=cache)  # another xdist worker
    assert again.root == base.root
    remove_base(base)
    assert not base.root.exists() and str(base.root) not in git(repo, "worktree", "list")
    # The working tree, uncommitted changes included, is never touched.
    assert "println" in (repo / "svc" / "main.go").read_text()


def test_a_checkout_left_by_a_killed_run_is_replaced(repo, tmp_path):
    cache = tmp_path / "cache"
    base = materialise_base("main~1", project_root=repo, cache=cache)
    (base.root / "svc" / "main.go").write_text("garbage")  # dirty: not a clean checkout of the commit
    fresh = materialise_base("main~1", project_root=repo, cache=cache)
    assert (fresh.root / "svc" / "main.go").read_text().startswith("package main")
    remove_base(fresh)


def test_an_unknown_revision_is_a_usage_error_that_says_what_to_fetch(repo, tmp_path):
    with pytest.raises(ConfigError, match=r"'origin/nope': no such revision .*`git fetch origin nope`"):
        materialise_base("origin/nope", project_root=repo, cache=tmp_path / "c")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth=1", f"file://{repo}", str(shallow))
    with pytest.raises(ConfigError, match=r"shallow: fetch the history .*fetch-depth: 0"):
        materialise_base("HEAD~1", project_root=shallow, cache=tmp_path / "c")


def test_a_directory_is_used_as_it_is(repo, tmp_path):
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(repo), str(other))
    base = materialise_base(str(other), project_root=repo, cache=tmp_path / "c")
    assert base.root == other.resolve() and not base.worktree and base.commit == git(other, "rev-parse", "HEAD")
    remove_base(base)
    assert other.exists(), "a directory the user gave is never removed"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert materialise_base(str(plain), project_root=repo, cache=tmp_path / "c").commit is None


def test_outside_a_repository_only_a_directory_will_do(tmp_path):
    with pytest.raises(ConfigError, match="not in a git repository"):
        materialise_base("main", project_root=tmp_path, cache=tmp_path / "c")
