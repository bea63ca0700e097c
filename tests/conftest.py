"""Shared setup of the repository's own tests.

The engines import numpy and scipy, whose C extensions cannot be loaded twice
in one process. pytester's in-process runs snapshot and restore sys.modules,
so they must find these already imported by the outer run.
"""

import pytest_goperf.gate  # noqa: F401
import pytest_goperf.measure  # noqa: F401
