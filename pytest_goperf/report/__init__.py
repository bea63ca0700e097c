"""The only renderers: records -> text for people and machines.

- :mod:`.text`: terminal tables and messages (gate, leaks, triage, summaries, load);
- :mod:`.markdown`: the gate's table for GitHub's job summary;
- :mod:`.github`: ``::error`` annotations;
- :mod:`.junit`: JUnit XML properties;
- :mod:`.html`, :mod:`.svg`: the self-contained HTML report with inline charts;
- :mod:`.export`: folded stacks and speedscope flame graphs.
"""
