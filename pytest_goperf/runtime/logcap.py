"""Keep a service's log file bounded while the service writes to it directly.

The service's stdout and stderr go to a file opened for appending (never a
pipe: a chatty service must not block on it). A :class:`LogCap` thread looks
at the file's size a few times a second; past ``limit`` bytes it frees all but
the last ``keep`` bytes in place (Linux ``fallocate`` PUNCH_HOLE: the file keeps
its length, its start reads as zeros and takes no disk, and nothing the
service writes meanwhile is lost). Where the file system cannot punch holes
it keeps the last ``keep`` bytes in ``NAME.1`` (replacing the previous one)
and truncates the file to zero. Because the service's descriptor is in append mode, its next
write lands at the new end, so the file keeps growing from there. The disk
holds at most about ``limit`` plus what the service writes between two looks,
plus ``keep``; :func:`read_tail` reads across both files, so failure reports
still show the last lines. What was written between the two steps of a
rotation (microseconds) may be lost; the rotation says so in ``NAME.1``.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["LogCap", "previous_part", "read_tail"]

#: Tail kept across a rotation: the 256 KiB that :func:`read_tail` reads.
KEEP_BYTES = 256 * 1024

_PUNCH_HOLE, _KEEP_SIZE = 0x02, 0x01  # linux/falloc.h


def _libc_fallocate() -> Any:
    if sys.platform != "linux":
        return None
    try:
        f = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    f.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    f.restype = ctypes.c_int
    return f


_fallocate = _libc_fallocate()


def previous_part(path: Path) -> Path:
    """Where the kept tail of a rotated log goes (``service.log`` -> ``service.log.1``)."""
    return path.with_name(path.name + ".1")


def read_tail(path: Path, max_bytes: int = KEEP_BYTES) -> bytes:
    """The last ``max_bytes`` of the log, reaching into the kept part when the file is short."""
    data = b""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except FileNotFoundError:
        pass
    if len(data) < max_bytes:
        try:
            with previous_part(path).open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - (max_bytes - len(data))))
                data = fh.read() + data
        except FileNotFoundError:
            pass
    return data


class LogCap:
    """A daemon thread that rotates ``path`` whenever it grows past ``limit`` bytes."""

    def __init__(self, path: Path, limit: int, *, keep: int = KEEP_BYTES, interval: float = 0.2) -> None:
        self.path = path
        self.limit = limit
        self.keep = min(keep, limit)
        self.interval = interval
        self.rotations = 0
        self.dropped = 0  # bytes removed from the log so far
        self._punched_to = 0  # the file's start up to here is a hole
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"goperf-logcap-{path.name}", daemon=True)

    def start(self) -> LogCap:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching and make a last check (the service may have written a burst before it exited)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.check()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.check()

    def _punch(self) -> bool:
        """Free the log's start in place (Linux ``fallocate`` PUNCH_HOLE): nothing the service writes meanwhile is lost.

        The file keeps its length (its start reads as zeros) but no longer holds
        those blocks on disk. False where the file system cannot do it.
        """
        if _fallocate is None:
            return False
        fd = os.open(self.path, os.O_WRONLY)
        try:
            size = os.fstat(fd).st_size
            upto = max(0, size - self.keep) - self._punched_to
            if upto <= 0:
                return True
            if _fallocate(fd, _PUNCH_HOLE | _KEEP_SIZE, self._punched_to, upto) != 0:
                return False
            self._punched_to += upto
            self.rotations += 1
            self.dropped += upto
            return True
        finally:
            os.close(fd)

    def check(self) -> None:
        """Rotate now if the file holds more than the limit (errors are ignored: the log is best effort)."""
        try:
            if self.path.stat().st_size - self._punched_to > self.limit:
                self._rotate()
        except OSError:
            pass

    def _rotate(self) -> None:
        if self._punch():
            return
        with self.path.open("r+b") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - self.keep))
            tail = fh.read()
            fh.truncate(0)  # the service appends (O_APPEND): its next write starts the file again
        self.rotations += 1
        self.dropped += size - len(tail)
        note = (f"--- goperf: the log reached {size} bytes (limit {self.limit}); {self.dropped} bytes dropped so "
                f"far, the last {len(tail)} kept here ---\n").encode()
        tmp = self.path.with_name(f".{self.path.name}.1.tmp")
        tmp.write_bytes(note + tail)
        os.replace(tmp, previous_part(self.path))
