"""The pytest side of pytest-goperf, split by concern; ``pytest_goperf.plugin`` holds the hooks and fixtures."""
