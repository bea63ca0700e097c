"""pytest hooks, options and fixtures of pytest-goperf (the only pytest-specific module)."""
