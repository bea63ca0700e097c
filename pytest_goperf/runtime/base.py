"""The base to compare with in the same run: a git revision (or a directory) materialised beside the working tree.

``--goperf-compare-to=REV`` names it. A directory is used as it is (a
checkout of the base). Anything else is a git revision of the project's
repository: it is checked out with ``git worktree add --detach`` into a
folder of the goperf cache named after its commit, and removed again at the
end of the run (also after Ctrl-C; a folder left by a killed run is replaced
by the next one). The working tree itself, uncommitted changes included, is
the head.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, GoperfError

__all__ = ["BaseCheckout", "materialise_base", "remove_base"]

_GIT_TIMEOUT = 300.0
_created: list[BaseCheckout] = []


@dataclass(frozen=True)
class BaseCheckout:
    """Where the base is: ``root`` mirrors the head's repository root; ``commit`` is None for a plain directory."""

    rev: str  # as the user gave it
    root: Path
    commit: str | None
    worktree: bool  # created by us: removed at the end
    repo: Path | None  # the repository a worktree belongs to

    def describe(self) -> str:
        """``origin/main (1a2b3c4d5e6f)``, or the directory."""
        if self.commit is None or self.commit.startswith(self.rev):
            return self.commit[:12] if self.commit else self.rev
        return f"{self.rev} ({self.commit[:12]})"


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT,
                              check=False)
    except FileNotFoundError:
        if shutil.which("git") is None:
            raise ConfigError("--goperf-compare-to needs git on PATH (or give a directory holding the base)") from None
        raise GoperfError(f"cannot run git in {cwd}: the directory does not exist") from None
    except subprocess.TimeoutExpired:
        raise GoperfError(f"`git {' '.join(args)}` did not finish within {_GIT_TIMEOUT:.0f} s") from None


def repository_root(path: Path) -> Path | None:
    """The top of the git working tree holding ``path``, or None outside a repository."""
    proc = _git(["rev-parse", "--show-toplevel"], path)
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def materialise_base(rev: str, *, project_root: Path, cache: Path) -> BaseCheckout:
    """Make the base ``rev`` available as a tree; see the module docstring.

    :raises ConfigError: ``rev`` is neither a directory nor a revision of the
        repository (the message says what to fetch, e.g. in a shallow clone).
    """
    as_dir = Path(rev) if Path(rev).is_absolute() else project_root / rev
    if as_dir.is_dir() and not _looks_like_a_revision(rev, project_root):
        top = repository_root(as_dir)
        commit = None
        if top is not None:
            proc = _git(["rev-parse", "HEAD"], top)
            commit = proc.stdout.strip() or None if proc.returncode == 0 else None
        return BaseCheckout(rev, (top or as_dir).resolve(), commit, worktree=False, repo=None)
    repo = repository_root(project_root)
    if repo is None:
        raise ConfigError(
            f"--goperf-compare-to {rev!r}: {project_root} is not in a git repository, so a revision cannot be "
            "checked out; give a directory holding the base instead"
        )
    proc = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], repo)
    commit = proc.stdout.strip()
    if proc.returncode != 0 or not commit:
        shallow = _git(["rev-parse", "--is-shallow-repository"], repo).stdout.strip() == "true"
        hint = (
            "this clone is shallow: fetch the history (`git fetch --unshallow`, or `fetch-depth: 0` in "
            "actions/checkout) or at least the base (`git fetch --depth=1 origin <base-branch>`)"
            if shallow else
            f"fetch it first (e.g. `git fetch origin {rev.split('/', 1)[-1]}`), or give a commit or a directory"
        )
        raise ConfigError(f"--goperf-compare-to {rev!r}: no such revision in {repo}; {hint}")
    target = cache / "base" / commit[:16]
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{commit[:16]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers and the controller share one checkout
        if _is_checkout_of(target, commit):
            return BaseCheckout(rev, target, commit, worktree=True, repo=repo)
        _discard(target, repo)
        proc = _git(["worktree", "add", "--detach", "--force", str(target), commit], repo)
        if proc.returncode != 0:
            raise GoperfError(f"cannot check out the base {rev} ({commit[:12]}) into {target}:\n{proc.stderr.strip()}")
    base = BaseCheckout(rev, target, commit, worktree=True, repo=repo)
    _created[:] = [b for b in _created if b.root != target]
    _created.append(base)
    return base


def _looks_like_a_revision(rev: str, root: Path) -> bool:
    """A name that is both a directory and a revision (``main``) is taken as the revision when git knows it."""
    if Path(rev).is_absolute() or rev.startswith(("./", "../")):
        return False
    repo = repository_root(root)
    return repo is not None and _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], repo).returncode == 0


def _is_checkout_of(path: Path, commit: str) -> bool:
    if not (path / ".git").exists():
        return False
    proc = _git(["rev-parse", "HEAD"], path)
    status = _git(["status", "--porcelain", "--untracked-files=no"], path)
    return proc.returncode == 0 and proc.stdout.strip() == commit and status.returncode == 0 and not status.stdout


def _discard(path: Path, repo: Path) -> None:
    if not repo.is_dir():  # the repository itself is gone: nothing to unregister
        shutil.rmtree(path, ignore_errors=True)
        return
    if path.exists():
        _git(["worktree", "remove", "--force", str(path)], repo)
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
    _git(["worktree", "prune"], repo)


def remove_base(base: BaseCheckout) -> None:
    """Remove a worktree this run created (a directory the user gave is left alone)."""
    if not base.worktree or base.repo is None:
        return
    _discard(base.root, base.repo)
    if base in _created:
        _created.remove(base)


@atexit.register
def _sweep() -> None:  # pragma: no cover - only when the run ends without unconfigure
    for base in list(_created):
        with contextlib.suppress(GoperfError):
            remove_base(base)
