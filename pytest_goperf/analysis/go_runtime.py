"""What the Go runtime's names mean: wait states, lock, allocation, GC and syscall frames, its own goroutines.

One table for each fact, used by the trace metrics, the profile's warning
signs, the leak check and the triage rules alike (they used to disagree).
Names are as the runtime prints them (``runtime/runtime2.go`` waitReason
strings, ``runtime/traceback.go``), patterns as :mod:`~pytest_goperf.analysis.patterns`
regular expressions that must match a whole function name.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ALLOC_FRAMES",
    "BLOCKED_STATES",
    "GC_FRAMES",
    "HTTP_CLIENT_CONN_CREATORS",
    "HTTP_CLIENT_CONN_PACKAGES",
    "HTTP_CLIENT_READ_LOOPS",
    "HTTP_CLIENT_WRITE_LOOPS",
    "HTTP_CONN_PACKAGES",
    "HTTP_IDLE_CONN_FUNCTIONS",
    "LOCK_FRAMES",
    "LOCK_STATES",
    "LOCK_WAIT_REASONS",
    "OBSERVER_FUNCTION_PREFIXES",
    "SIGNAL_FUNCTIONS",
    "SYSCALL_FRAMES",
    "WAIT_REASON_CATEGORIES",
    "go_minor",
    "is_lock_frame",
    "is_lock_handoff",
]

# ------------------------------------------------------------------------- wait states and reasons

#: Goroutine dump states of goroutines parked until someone else acts: the ones a leak is made of.
#: IO wait, sleep and syscall are left out: a server idles in them by design.
BLOCKED_STATES: Final = frozenset({
    "chan receive", "chan send", "chan receive (nil chan)", "chan send (nil chan)", "select",
    "select (no cases)", "sync.Cond.Wait", "sync.Mutex.Lock", "sync.RWMutex.Lock", "sync.RWMutex.RLock",
    "semacquire", "sync.WaitGroup.Wait",
})
#: Goroutine dump states of goroutines waiting on a lock.
LOCK_STATES: Final = frozenset({"sync.Mutex.Lock", "sync.RWMutex.Lock", "sync.RWMutex.RLock", "semacquire"})

#: Execution-trace wait reasons (the reason strings of GoBlock events) grouped into the blocking
#: categories of the trace metrics; any other reason counts as "other", a syscall as "syscall".
WAIT_REASON_CATEGORIES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("channel", ("chan send", "chan receive")),
    ("select", ("select",)),
    ("sync", ("sync", "sync.(*Cond).Wait", "synctest")),
    ("io", ("network",)),
    ("sleep", ("sleep",)),
    ("gc", ("GC mark assist wait for work", "GC background sweeper wait", "wait until GC ends",
            "GC weak to strong wait")),
)

#: The execution-trace wait reason of goroutines parked on a lock (sync.Mutex, sync.RWMutex: the runtime's
#: traceBlockSync). A WaitGroup waits with it too: tell them apart by the lock frames on the stack.
LOCK_WAIT_REASONS: Final = frozenset({"sync"})

# ------------------------------------------------------------------------------------ frames

#: Frames of goroutines contending for a sync lock. Bare runtime.futex is left out: the scheduler
#: uses it to park and wake threads in every busy server (11 % of a healthy example service's CPU
#: under load), so alone it says nothing about locks; runtime.lock2 is the runtime's own locks
#: (mheap under an allocation storm), which the allocation frames cover.
LOCK_FRAMES: Final = (
    r"(internal/)?sync\.\(\*(RW)?Mutex\)\.(Lock|Unlock|lockSlow|unlockSlow|rUnlockSlow|RLock|RUnlock)"
    r"|(internal/)?sync\.runtime_(Semacquire|SemacquireMutex|SemacquireRWMutex|SemacquireRWMutexR|Semrelease)"
    r"|runtime\.(semacquire1|semrelease1)"
)
#: The allocator.
ALLOC_FRAMES: Final = r"runtime\.mallocgc"
#: The collector's workers and assists.
GC_FRAMES: Final = r"runtime\.(gcBgMarkWorker|gcAssistAlloc|bgsweep)"
#: The system-call entry points (syscall.Syscall*, internal/runtime/syscall/linux.Syscall6, ...).
SYSCALL_FRAMES: Final = r"(syscall|internal/runtime/syscall(/linux)?|runtime/internal/syscall)\.\w*[Ss]yscall\w*"

_LOCK_RE: Final = re.compile(LOCK_FRAMES)
_GO_VERSION_RE: Final = re.compile(r"(?:go)?1\.(\d+)")


def go_minor(version: str | None) -> int | None:
    """The minor release of a Go version string: 27 for ``go1.27.3``, ``go1.27rc1`` or ``1.27``; None if unknown."""
    m = _GO_VERSION_RE.match(version or "")
    return int(m.group(1)) if m else None


def is_lock_frame(function: str) -> bool:
    """Whether ``function`` is lock code (:data:`LOCK_FRAMES`)."""
    return _LOCK_RE.fullmatch(function) is not None


def is_lock_handoff(function: str) -> bool:
    """Whether a goroutine made runnable by ``function`` was handed a lock (an unlock, a semaphore release)."""
    return ("Mutex)." in function and "nlock" in function) or function.startswith(
        ("sync.runtime_Semrelease", "internal/sync.runtime_Semrelease", "runtime.semrelease", "runtime.goyield"))


# ------------------------------------------------------------------------- the runtime's own goroutines

#: Functions of the goroutine that serves a pprof request (the dump's own handler): never a leak.
OBSERVER_FUNCTION_PREFIXES: Final = ("net/http/pprof.", "runtime/pprof.writeGoroutine")
#: Functions that mark a goroutine as an HTTP server connection waiting for its next request.
HTTP_IDLE_CONN_FUNCTIONS: Final = frozenset({"net/http.(*conn).serve", "net/http.(*connReader).backgroundRead"})
#: Packages whose frames alone make up an idle HTTP server connection's stack (net/textproto: a
#: connection that a client's pool dialed ahead and never used waits in its first request line).
HTTP_CONN_PACKAGES: Final = ("internal/poll.", "net.", "bufio.", "net/http.", "net/textproto.", "runtime.",
                             "crypto/tls.", "io.", "syscall.")

# ---------------------------------------------------------------- HTTP client connections (net/http.Transport)
#
# A pooled client connection is two goroutines started together by the transport's dial
# (transport.go: `go pconn.readLoop()`, `go pconn.writeLoop()`), so in a dump they share the
# "created by ... in goroutine N" creator. Idle in the pool, the read loop waits in a read of
# the socket ([IO wait], bufio.(*Reader).Peek) and the write loop in its select; with a response
# body that nobody closes or reads to the end, the read loop waits in its own select for the body
# instead: that connection can never be reused, a leak.

#: Functions that start a client connection's goroutines (the "created by" frame).
HTTP_CLIENT_CONN_CREATORS: Final = frozenset({
    "net/http.(*Transport).dialConn",
    "net/http.(*http2Transport).newClientConn",
    "golang.org/x/net/http2.(*Transport).newClientConn",
})
#: The read loop of a client connection (HTTP/1.1 and HTTP/2): idle when parked in a socket read.
HTTP_CLIENT_READ_LOOPS: Final = frozenset({
    "net/http.(*persistConn).readLoop",
    "net/http.(*http2ClientConn).readLoop",
    "golang.org/x/net/http2.(*ClientConn).readLoop",
})
#: The write loop of an HTTP/1.1 client connection: waits in a select whether busy or idle.
HTTP_CLIENT_WRITE_LOOPS: Final = frozenset({"net/http.(*persistConn).writeLoop"})
#: Packages whose frames alone make up an idle client connection's read loop.
HTTP_CLIENT_CONN_PACKAGES: Final = (*HTTP_CONN_PACKAGES, "golang.org/x/net/http2.")

# ------------------------------------------------------------------------------------ signals

#: The goroutine of os/signal that waits for the next signal: in every server that handles
#: SIGTERM it sits in [syscall] (or runs sigNote sleeps) for the whole window, by design.
SIGNAL_FUNCTIONS: Final = frozenset({"os/signal.signal_recv", "os/signal.loop", "runtime.sigNoteSleep",
                                     "os/signal.watchSignalLoop"})
