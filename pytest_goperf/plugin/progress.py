"""Progress lines of the plugin, the pytest way: through the terminal reporter.

A line per build and per measurement round says what is happening and how
long it will take. Written as pytest's live logging writes (``log_cli``):
with output capture suspended for the line, so it shows while the test runs.
Nothing is written under ``-q`` (verbosity below 0), with no terminal
reporter (``-p no:terminal``), or in a pytest-xdist worker (its output is not
a terminal; the controller's lines stay intact).
"""

from __future__ import annotations

import contextlib

import pytest

__all__ = ["Progress"]


class Progress:
    """Writes ``goperf: ...`` lines to pytest's terminal, when it should."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    @property
    def enabled(self) -> bool:
        """Whether lines are shown: a terminal reporter, verbosity 0 or more, not an xdist worker."""
        if hasattr(self._config, "workerinput"):
            return False
        if self._config.get_verbosity() < 0:
            return False
        return self._config.pluginmanager.get_plugin("terminalreporter") is not None

    def __call__(self, message: str) -> None:
        """Show ``message`` on its own line (the reporter ends a line of progress dots first)."""
        if not self.enabled:
            return
        reporter = self._config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        capman = self._config.pluginmanager.get_plugin("capturemanager")
        suspended = capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()
        with suspended:
            reporter.write_line(f"goperf: {message}")
