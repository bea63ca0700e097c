"""Shared setup of the repository's own tests.

The engines import numpy and scipy, whose C extensions cannot be loaded twice
in one process. pytester's in-process runs snapshot and restore sys.modules,
so they must find these already imported by the outer run. httpx imports
httpcore lazily, on its first request: imported inside an inner run, httpcore
would be imported again afterwards, and httpx would no longer recognise its
exceptions (a raw httpcore.ReadTimeout instead of httpx.ReadTimeout).
"""

import httpcore  # noqa: F401

import pytest_goperf.gate  # noqa: F401
import pytest_goperf.measure  # noqa: F401
