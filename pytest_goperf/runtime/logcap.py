"""Keep a service's log file bounded while the service writes to it directly.

The service's stdout and stderr go to a file opened for appending (never a
pipe: a chatty service must not block on it). A :class:`LogCap` thread looks
at the file's size a few times a second; past ``limit`` bytes it keeps the
last ``keep`` bytes in ``NAME.1`` (replacing the previous one) and truncates
the file to zero. Because the service's descriptor is in append mode, its next
write lands at the new end, so the file keeps growing from there. The disk
holds at most about ``limit`` plus what the service writes between two looks,
plus ``keep``; :func:`read_tail` reads across both files, so failure reports
still show the last lines. What was written between the two steps of a
rotation (microseconds) may be lost; the rotation says so in ``NAME.1``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

__all__ = ["LogCap", "previous_part", "read_tail"]

#: Tail kept across a rotation: the 256 KiB that :func:`read_tail` reads.
KEEP_BYTES = 256 * 1024


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

    def check(self) -> None:
        """Rotate now if the file is over the limit (errors are ignored: the log is best effort)."""
        try:
            if self.path.stat().st_size > self.limit:
                self._rotate()
        except OSError:
            pass

    def _rotate(self) -> None:
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
