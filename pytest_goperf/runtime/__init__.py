"""Talks to processes and HTTP: everything between the Go service and the bytes it gives.

- :mod:`.build`: ``go build`` with a cache key;
- :mod:`.service`: start on free loopback ports, readiness, stop by PID;
- :mod:`.pprof`: the one client of ``/debug/pprof/*`` (errors carry the HTTP status);
- :mod:`.capture`: one window as raw bytes (:class:`~pytest_goperf.formats.window.RawWindow`);
- :mod:`.files`: a window's folder on disk, written and read back;
- :mod:`.leakcheck`: the leak check's snapshots and settle loop;
- :mod:`.measure`: measurement rounds under load.
"""
