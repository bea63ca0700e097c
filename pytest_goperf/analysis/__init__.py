"""Records -> metrics and findings, pure: no network, no files, no pytest.

- :mod:`.window`: one analysis of one window's bytes (rounds, triage and saved folders alike);
- :mod:`.trace_metrics`, :mod:`.timeline`: scheduler metrics and per-goroutine timelines of a trace;
- :mod:`.functions`, :mod:`.classify`: per-function CPU shares, user/stdlib/runtime/module code;
- :mod:`.go_runtime`: the runtime's tables (wait states, lock, allocation and syscall frames);
- :mod:`.groups`: one grouping of goroutines, by a key;
- :mod:`.leaks`: which goroutines leaked, the leak policy and report;
- :mod:`.measurement`: measurement records and their assertions;
- :mod:`.triage`: the triage rules and findings;
- :mod:`.trace_summary`, :mod:`.profile_summary`: what ``goperf analyze`` prints.
"""
