"""Which code a Go function belongs to: the service, the standard library, the runtime, or a module.

The split is the on-call triage rule: time in *user* code points at your
loop, in the *stdlib* at how you use a library, in the *runtime* at GC,
scheduling or locks, in a *module* at a dependency.

The rule, in order (first match wins):

0. a system-call entry point (:data:`~.go_runtime.SYSCALL_FRAMES`:
   ``syscall.Syscall6``, ``internal/runtime/syscall/linux.Syscall6``) -> ``syscall``:
   the time a goroutine spends in the kernel is neither the runtime's work nor the
   library's (an I/O-bound server otherwise reads as mostly "runtime")
1. no package at all (a C symbol from cgo or the system) -> ``runtime``
2. the package is one of :data:`RUNTIME_PACKAGES` or under one of
   :data:`RUNTIME_PREFIXES` (``runtime``, ``internal/runtime/...``, the
   helpers only the runtime uses, compiler-generated ``type:`` functions) -> ``runtime``
3. a function named ``PKG.runtime_*`` (implemented by the runtime for a
   library: ``sync.runtime_Semacquire``) -> ``runtime``
4. the package is ``main``, or the main module's path or below it -> ``user``
5. the first element of the package path has no dot (``net/http``,
   ``encoding/json``, ``vendor/golang.org/x/net/...``) -> ``stdlib``
6. anything else (``github.com/...``, ``golang.org/x/...``) -> ``module``

Without the main module's path (``main_module=None``) only package ``main``
is user code; read the path from the binary with :func:`read_build_info`.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from ..formats.symbols import package_of
from .go_runtime import SYSCALL_FRAMES

FunctionClass = Literal["user", "stdlib", "runtime", "module", "syscall"]
CLASSES: Final[tuple[FunctionClass, ...]] = ("user", "stdlib", "runtime", "module", "syscall")
_SYSCALL_RE: Final = re.compile(SYSCALL_FRAMES)

# Packages owned by the runtime: what it runs on its own behalf, not on a
# library's request. internal/bytealg and internal/sync stay stdlib: they
# implement strings, bytes and sync.Map for their callers.
RUNTIME_PACKAGES: Final = frozenset(
    {
        "runtime",
        "runtime/cgo",
        "type:",  # compiler-generated equality/hash functions ("type:.eq.main.T", Go 1.21+)
        "internal/abi",
        "internal/chacha8rand",
        "internal/cpu",
        "internal/goarch",
        "internal/goos",
    }
)
RUNTIME_PREFIXES: Final = ("runtime/internal/", "internal/runtime/")


def is_stdlib_path(package: str) -> bool:
    """Go's own rule: standard-library import paths have no dot in their first element."""
    first = package.split("/", 1)[0]
    return "." not in first


def classify_package(package: str, main_module: str | None = None) -> FunctionClass:
    """Class of a package path (see the module docstring for the rule)."""
    if not package or package in RUNTIME_PACKAGES or package.startswith(RUNTIME_PREFIXES):
        return "runtime"
    if package == "main":
        return "user"
    if main_module and (package == main_module or package.startswith(main_module + "/")):
        return "user"
    if is_stdlib_path(package):
        return "stdlib"
    return "module"


def classify(name: str, main_module: str | None = None) -> FunctionClass:
    """Class of a Go function symbol, e.g. ``classify("runtime.mallocgc") == "runtime"``."""
    if _SYSCALL_RE.fullmatch(name):
        return "syscall"
    package = package_of(name)
    if is_runtime_helper(name, package):
        return "runtime"
    return classify_package(package, main_module)


def is_runtime_helper(name: str, package: str) -> bool:
    """``sync.runtime_Semacquire``, ``internal/poll.runtime_pollWait``: declared in a
    library but implemented by the runtime (go:linkname), named ``runtime_*`` by convention."""
    return bool(package) and name.startswith("runtime_", len(package) + 1)
