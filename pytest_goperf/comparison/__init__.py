"""Samples -> verdicts, pure: the metric catalogue, the statistics, and the gate over a run.

- :mod:`.metrics`: every number the gate can compare, with its floor and direction;
- :mod:`.samples`: a test's measurements as samples with their policies;
- :mod:`.stats`: two-sample comparison and the multiple-comparison control;
- :mod:`.verdict`: the gate over a run's tests and their baselines.
"""
