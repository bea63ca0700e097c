"""One progress line on a terminal, for ``goperf triage`` and ``goperf load``.

Written to standard error and only when it is a terminal: the line is
rewritten in place (``\\r``) about twice a second with what is happening and
how long it has left, and cleared when done, so piped output and ``--json``
stay clean.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

__all__ = ["ProgressLine"]


class ProgressLine:
    """A self-updating status line: ``with ProgressLine() as line: line.phase("capturing", seconds=10)``."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.5) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self._label = ""
        self._until: float | None = None
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ProgressLine:
        if self.enabled:
            self._thread = threading.Thread(target=self._tick, name="goperf-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def phase(self, label: str, seconds: float | None = None) -> None:
        """Show ``label``; with ``seconds``, count down the time it has left."""
        with self._lock:
            self._label = label
            self._until = time.monotonic() + seconds if seconds is not None else None
        self._draw()

    def text(self) -> str:
        """The line as it reads now."""
        with self._lock:
            label, until = self._label, self._until
        now = time.monotonic()
        if until is not None:
            return f"goperf: {label} ({max(0.0, until - now):.0f} s left)"
        return f"goperf: {label} ({now - self._started:.0f} s)"

    def _draw(self) -> None:
        if not self.enabled or not self._label:
            return
        self.stream.write("\r\x1b[K" + self.text())
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def close(self) -> None:
        """Stop updating and clear the line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        if self.enabled and self._label:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._label = ""
