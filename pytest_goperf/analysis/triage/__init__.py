"""``goperf triage``'s engine: rules as data (:mod:`.rules`) and the findings of one window (:mod:`.findings`).

:func:`~.findings.analyse` takes one window (its bytes, or its records with
the trace's timeline) and touches neither the network nor the disk; capture
is :func:`pytest_goperf.runtime.capture.capture_folder`. Keys and defaults:
docs/triage.md.
"""
