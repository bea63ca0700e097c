"""Bytes -> typed records, pure: the Go runtime's formats, written once each.

- :mod:`.goroutines`: goroutine dumps (``debug=2``, ``debug=1``, crash logs);
- :mod:`.trace`: execution traces (Go 1.22-1.27 formats; tables as data in ``_format``);
- :mod:`.profile`: pprof protobuf profiles and Go build information;
- :mod:`.window`: one captured window's bytes and the table of its file names;
- :mod:`.sniff`: which format a file is, from its first bytes.
"""
