"""``python -m pytest_goperf.cli``: the ``goperf`` command without its console script."""

import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())
