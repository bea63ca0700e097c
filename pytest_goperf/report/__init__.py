"""Reports of a window: one self-contained HTML page with pictures.

``write_report(path, triage)`` or ``write_report(path, trace=..., cpu=..., goroutines=...)``
writes a page with the findings, runnable goroutines over time (GOMAXPROCS
marked), the scheduling-latency histogram, hot functions coloured by class,
a flame graph and the goroutine clusters. Charts are inline SVG drawn in
Python; the page opens without a network.
"""

from .html import render_html, write_report
from .svg import COLORS, FLAME_COLORS

__all__ = ["COLORS", "FLAME_COLORS", "render_html", "write_report"]
