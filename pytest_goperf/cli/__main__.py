"""``python -m pytest_goperf.cli``: the ``goperf`` command without its console script."""

import sys

from .main import main

sys.exit(main())
