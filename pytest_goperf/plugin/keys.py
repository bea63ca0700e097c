"""Stash keys shared by the plugin's modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ..config import GoperfConfig

if TYPE_CHECKING:
    pass

CONFIG = pytest.StashKey[GoperfConfig]()
STATE = pytest.StashKey["PluginState"]()
LEAK_CHECK = pytest.StashKey["LeakCheck"]()
CALL_SERVICES = pytest.StashKey[list]()  # services a test body started with go_service_factory
MEASUREMENTS = pytest.StashKey[list]()  # Measurement objects of a test
