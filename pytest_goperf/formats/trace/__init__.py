"""Execution traces: an independent reader of the Go 1.22-1.27 trace format.

:class:`~.reader.TraceReader` yields typed events (goroutine and processor
transitions, CPU samples, tasks, regions, logs, ...) in the toolchain's
order; ``_format`` holds the format tables, ``_wire`` the batch decoder and
``_order`` the ordering of events across processors. Metrics over the events
are in :mod:`pytest_goperf.analysis.trace_metrics`.
"""
