"""Stash keys shared by the plugin's modules: each piece of per-run or per-test state has one."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from ..config import GoperfConfig

if TYPE_CHECKING:
    from ..analysis.measurement import Measurement  # noqa: F401 - named in the keys' strings
    from ..comparison.verdict import RunEvaluation  # noqa: F401
    from ..runtime.leakcheck import LeakCheck  # noqa: F401
    from ..runtime.service import GoService  # noqa: F401
    from .base import BasePlugin  # noqa: F401
    from .services import ServicesPlugin  # noqa: F401

#: What a ``wrapper=True`` makereport hook is: it receives the report and returns it.
ReportWrapper = Generator[None, pytest.TestReport, pytest.TestReport]
#: A wrapper around any other hook whose result it passes on.
Wrapper = Generator[None, object, object]


CONFIG = pytest.StashKey[GoperfConfig]()
SERVICES = pytest.StashKey["ServicesPlugin"]()
LEAK_CHECK = pytest.StashKey["LeakCheck"]()  # the marker's check of a test
CALL_SERVICES = pytest.StashKey["list[GoService]"]()  # services a test body started with go_service_factory
MEASUREMENTS = pytest.StashKey["list[Measurement]"]()  # the measurements of a test
REPORTED = pytest.StashKey["set[int]"]()  # ids of our setup errors already shown in full
BASE = pytest.StashKey["BasePlugin"]()  # the same-run base (--goperf-compare-to)
EVALUATION = pytest.StashKey["RunEvaluation"]()  # the gate's verdict on a test's measurements
GATE_ERROR = pytest.StashKey[str]()  # why a test's measurements could not be judged (a corrupt baseline)
