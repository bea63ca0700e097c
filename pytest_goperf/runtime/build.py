"""``go build`` of the service under test, cached by what goes into the binary.

The binary is reused when the module's sources, the build flags, the relevant
environment and the Go toolchain are unchanged: a content hash of those is the
cache key. Builds are atomic (temporary name, then rename) and serialised by a
file lock, so pytest-xdist workers that start together build once and share
the result.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError, ConfigError

__all__ = ["BuildResult", "build_binary", "find_module_root", "go_env_for_build"]

# Directories never read for the cache key: they hold no Go build inputs.
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".pytest_cache", ".goperf", "node_modules", ".venv", "venv"}
# Files that cannot be inputs of go build (tests and docs of the Python side).
_SKIP_SUFFIXES = (".py", ".pyc", ".md", ".log")
# Environment that changes what go build produces.
_GO_ENV_KEYS = ("GOVERSION", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "CGO_ENABLED", "GOEXPERIMENT", "GOFLAGS", "CC")


@dataclass(frozen=True)
class BuildResult:
    """A built (or reused) service binary."""

    path: Path
    key: str
    go_version: str
    reused: bool


def find_module_root(package_dir: Path) -> Path:
    """The directory of the ``go.mod`` that owns ``package_dir``."""
    if not package_dir.is_dir():
        raise ConfigError(
            f"[tool.goperf] package {package_dir} is not a directory: set it to the directory "
            "of the service's main package (relative to pyproject.toml)"
        )
    for d in (package_dir, *package_dir.parents):
        if (d / "go.mod").is_file():
            return d
    raise ConfigError(f"no go.mod found in {package_dir} or above: the service must be a Go module")


def go_env_for_build(go: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Go toolchain's view of the environment (``go env``) for the cache key."""
    try:
        out = subprocess.run(
            [go, "env", *_GO_ENV_KEYS],
            capture_output=True,
            text=True,
            timeout=60,
            env=_build_env(env),
            check=False,
        )
    except FileNotFoundError:
        raise BuildError(
            f"the Go toolchain was not found ({go!r}): install Go (https://go.dev/dl) or set "
            "`go` in [tool.goperf] to the go binary"
        ) from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{go} env` did not answer within 60 s") from None
    if out.returncode != 0:
        raise BuildError(f"`{go} env` failed:\n{out.stderr.strip()}")
    return dict(zip(_GO_ENV_KEYS, out.stdout.splitlines(), strict=False))


def _build_env(env: Mapping[str, str] | None) -> dict[str, str]:
    full = dict(os.environ)
    full.setdefault("GOFLAGS", "-buildvcs=false")  # no git metadata: CI checkouts often lack safe.directory
    full.setdefault("GOTOOLCHAIN", "local")  # never download another toolchain during a test run
    full.update(env or {})
    return full


def _source_digest(module_root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(module_root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(_SKIP_SUFFIXES) or name.startswith("."):
                continue
            path = Path(dirpath, name)
            rel = path.relative_to(module_root).as_posix()
            try:
                st = path.stat()
                h.update(f"{rel}\0{st.st_size}\0".encode())
                if st.st_size <= 8 << 20:
                    h.update(path.read_bytes())
                else:  # large assets: size and mtime are enough
                    h.update(str(st.st_mtime_ns).encode())
            except OSError:
                continue  # vanished while walking: not an input any more
    return h.hexdigest()


def build_binary(
    package_dir: Path,
    cache_dir: Path,
    *,
    go: str = "go",
    flags: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    import_path: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build the main package in ``package_dir`` into ``cache_dir``, or reuse a cached build.

    With ``import_path`` (``github.com/caddyserver/caddy/v2/cmd/caddy``),
    that package is built inside the module of ``package_dir`` (whose
    go.mod requires it), so a dependency's command needs no wrapper main.

    ``progress`` is told when a real build starts (not for a cached one).

    Raises :class:`BuildError` with the compiler's output when ``go build`` fails.
    """
    module_root = find_module_root(package_dir)
    go_env = go_env_for_build(go, env)
    key_src = "\0".join(
        [
            str(module_root),
            import_path or package_dir.relative_to(module_root).as_posix(),
            " ".join(flags),
            repr(sorted(go_env.items())),
            shutil.which(go) or go,
            _source_digest(module_root),
        ]
    )
    key = hashlib.sha256(key_src.encode()).hexdigest()[:20]
    if import_path is not None:
        parts = [p for p in import_path.split("/") if not (p.startswith("v") and p[1:].isdigit())]
        name = parts[-1] if parts else "service"
    else:
        name = package_dir.name if package_dir != module_root else module_root.name
    out_dir = cache_dir / key
    binary = out_dir / (name or "service")
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another xdist worker may be building the same key
        if binary.is_file() and os.access(binary, os.X_OK):
            return BuildResult(binary, key, go_env.get("GOVERSION", ""), reused=True)
        tmp = out_dir / f".{binary.name}.{os.getpid()}.tmp"
        rel = package_dir.relative_to(module_root).as_posix()
        target = import_path or ("." if rel == "." else f"./{rel}")
        cmd = [go, "build", *flags, "-o", str(tmp), target]
        if progress is not None:
            progress(f"building {target} in {module_root} with {go_env.get('GOVERSION', go)} (not cached: a first "
                     f"build compiles every dependency and can take minutes; build_timeout {timeout:.0f} s)")
        try:
            proc = subprocess.run(
                cmd,
                cwd=module_root,
                env=_build_env(env),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            tmp.unlink(missing_ok=True)
            raise BuildError(
                f"`{' '.join(cmd)}` did not finish within {timeout:.0f} s: raise build_timeout in [tool.goperf]"
            ) from None
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            output = (proc.stderr + proc.stdout).strip()
            raise BuildError(f"go build failed in {module_root} (`{' '.join(cmd)}`):\n{output}")
        os.replace(tmp, binary)
    return BuildResult(binary, key, go_env.get("GOVERSION", ""), reused=False)
