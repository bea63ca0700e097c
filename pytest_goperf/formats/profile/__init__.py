"""pprof profiles: an own protobuf decoder (``_wire``, ``_decode``) into typed records (``_model``).

Any profile a Go service serves under ``/debug/pprof/`` (CPU, heap, allocs,
mutex, block, goroutine; gzipped or not), and the Go build information of a
binary (``_buildinfo``). Tables over the samples are in
:mod:`pytest_goperf.analysis.functions`.
"""
