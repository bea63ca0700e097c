"""Inline SVG charts drawn in Python: no JavaScript library, no network, no fonts to fetch.

Each function returns one ``<svg>`` element as text. Colours are data
(:data:`COLORS`), one per meaning, so the page reads the same everywhere and
the browser test can find each chart by its colour in a screenshot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any, Final

from ..analysis.functions import FunctionTable
from ..analysis.wakeups import duration_text

__all__ = ["COLORS", "FLAME_COLORS", "bar_chart", "flame_graph", "latency_histogram", "runnable_chart"]

#: One colour per meaning. Bars of hot functions take their class colour; the flame graph
#: takes the lighter shade of the same class.
COLORS: Final[dict[str, str]] = {
    "runnable": "#3b6fd4",
    "gomaxprocs": "#d42a2a",
    "latency": "#7b3fc4",
    "user": "#1f9e4a",
    "stdlib": "#0b8fb0",
    "runtime": "#e0701b",
    "module": "#a8841c",
    "syscall": "#8a8a8a",
    "axis": "#555555",
    "grid": "#e4e4e4",
}
FLAME_COLORS: Final[dict[str, str]] = {
    "user": "#8fd9a6",
    "stdlib": "#8fd3e6",
    "runtime": "#f7bf8c",
    "module": "#e9d48c",
    "syscall": "#cfcfcf",
}

_FONT = 'font-family="sans-serif" font-size="11"'


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">' + "".join(body) + "</svg>")


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if v <= m * e:
            return float(m * e)
    return float(10 * e)


def runnable_chart(times_ns: Sequence[int], mean: Sequence[float], peak: Sequence[int], gomaxprocs: int,
                   *, width: int = 900, height: int = 240) -> str:
    """Runnable goroutines over the window (peak per bin as an area, mean as a line), GOMAXPROCS marked."""
    left, right, top, bottom = 52, 12, 12, 30
    w, h = width - left - right, height - top - bottom
    ymax = _nice_max(max([*peak, gomaxprocs, 1]) * 1.05)
    n = max(1, len(times_ns))
    end_ns = (times_ns[-1] + (times_ns[-1] - times_ns[-2] if n > 1 else 1)) if times_ns else 1

    def x(i: int) -> float:
        return left + w * i / n

    def y(v: float) -> float:
        return top + h * (1 - v / ymax)

    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for k in range(5):
        v = ymax * k / 4
        body.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="{COLORS["grid"]}"/>')
        body.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" {_FONT}>{v:g}</text>')
    if peak:
        pts = [f"{x(0):.1f},{y(0):.1f}"]
        for i, v in enumerate(peak):
            pts.append(f"{x(i):.1f},{y(v):.1f}")
            pts.append(f"{x(i + 1):.1f},{y(v):.1f}")
        pts.append(f"{x(n):.1f},{y(0):.1f}")
        body.append(f'<polygon points="{" ".join(pts)}" fill="{COLORS["runnable"]}" fill-opacity="1">'
                    "<title>runnable goroutines, peak per bin</title></polygon>")
        line = " ".join(f"{x(i) + w / n / 2:.1f},{y(v):.1f}" for i, v in enumerate(mean))
        body.append(f'<polyline points="{line}" fill="none" stroke="#0c2a66" stroke-width="1.2">'
                    "<title>time-weighted mean per bin</title></polyline>")
    gy = y(gomaxprocs)
    body.append(f'<line x1="{left}" x2="{left + w}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="{COLORS["gomaxprocs"]}" '
                f'stroke-width="3" stroke-dasharray="8 4"><title>GOMAXPROCS = {gomaxprocs}</title></line>')
    body.append(f'<text x="{left + w - 4}" y="{gy - 5:.1f}" text-anchor="end" fill="{COLORS["gomaxprocs"]}" '
                f'{_FONT}>GOMAXPROCS {gomaxprocs}</text>')
    for k in range(6):
        t = end_ns * k / 5
        xx = left + w * k / 5
        anchor = "start" if k == 0 else "end" if k == 5 else "middle"
        body.append(f'<text x="{xx:.1f}" y="{height - 10}" text-anchor="{anchor}" {_FONT}>{t / 1e9:.2f} s</text>')
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + h}" stroke="{COLORS["axis"]}"/>')
    body.append(f'<line x1="{left}" x2="{left + w}" y1="{top + h}" y2="{top + h}" stroke="{COLORS["axis"]}"/>')
    return _svg(width, height, body, "runnable goroutines over time")


def latency_histogram(edges_ns: Sequence[int], counts: Sequence[int], *, width: int = 900, height: int = 220) -> str:
    """Scheduling latency (runnable -> running) as bars on log-spaced buckets."""
    left, right, top, bottom = 52, 12, 12, 34
    w, h = width - left - right, height - top - bottom
    ymax = _nice_max(max([*counts, 1]))
    n = len(counts)
    bw = w / max(1, n)
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for k in range(5):
        v = ymax * k / 4
        yy = top + h * (1 - v / ymax)
        body.append(f'<line x1="{left}" x2="{left + w}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{COLORS["grid"]}"/>')
        body.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end" {_FONT}>{v:g}</text>')
    for i, c in enumerate(counts):
        label = (f"≤ {duration_text(edges_ns[i], micro='µs')}" if i < len(edges_ns)
                 else f"> {duration_text(edges_ns[-1], micro='µs')}")
        bh = h * c / ymax
        if c:
            bh = max(bh, 2.0)  # a bucket with waits stays visible next to a tall one
        body.append(f'<rect x="{left + i * bw + 1:.1f}" y="{top + h - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                    f'fill="{COLORS["latency"]}"><title>{escape(label)}: {c} waits</title></rect>')
        if i % 2 == 0 or n <= 10:
            body.append(f'<text x="{left + i * bw + bw / 2:.1f}" y="{height - 18}" text-anchor="middle" '
                        f'font-family="sans-serif" font-size="9">{escape(label.replace("≤ ", ""))}</text>')
    body.append(f'<line x1="{left}" x2="{left + w}" y1="{top + h}" y2="{top + h}" stroke="{COLORS["axis"]}"/>')
    body.append(f'<text x="{left + w / 2:.1f}" y="{height - 3}" text-anchor="middle" {_FONT}>'
                "wait from runnable to running (bucket upper edge)</text>")
    return _svg(width, height, body, "scheduling latency histogram")


def bar_chart(table: FunctionTable, *, n: int = 15, width: int = 900) -> str:
    """The hottest functions by flat share, one bar each, coloured by class (user/stdlib/runtime/module)."""
    rows = [f for f in table.functions if f.flat][:n]
    label_w, top, row_h = 330, 6, 20
    height = top * 2 + row_h * max(1, len(rows))
    w = width - label_w - 70
    vmax = max([f.flat_share for f in rows] + [0.01])
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for i, f in enumerate(rows):
        yy = top + i * row_h
        name = f.name if len(f.name) <= 52 else "…" + f.name[-51:]
        bw = max(2.0, w * f.flat_share / vmax)
        body.append(f'<text x="{label_w - 6}" y="{yy + 14}" text-anchor="end" {_FONT}>{escape(name)}</text>')
        body.append(f'<rect x="{label_w}" y="{yy + 3}" width="{bw:.1f}" height="{row_h - 6}" fill="{COLORS[f.cls]}">'
                    f'<title>{escape(f.name)} ({f.cls}): flat {f.flat_share:.1%}, cum {f.cum_share:.1%}</title></rect>')
        body.append(f'<text x="{label_w + bw + 5:.1f}" y="{yy + 14}" {_FONT}>{f.flat_share:.1%}</text>')
    return _svg(width, height, body, "hot functions by class")


def flame_graph(table: FunctionTable, *, width: int = 1100, row_h: int = 17, max_depth: int = 40,
                min_width_px: float = 0.4) -> str:
    """A flame graph of the table's stacks (root at the bottom), frames coloured by class."""
    root: dict[str, Any] = {"name": "all", "value": 0, "children": {}}
    for st in table.stacks:
        wgt = abs(st.weight)
        if not wgt:
            continue
        root["value"] += wgt
        node = root
        for fr in list(st.frames)[::-1][:max_depth]:  # root first; frames are leaf first
            name = fr if isinstance(fr, str) else fr.function
            child = node["children"].get(name)
            if child is None:
                child = node["children"][name] = {"name": name, "value": 0, "children": {}}
            child["value"] += wgt
            node = child
    total = root["value"] or 1
    depth_max = [0]
    rects: list[tuple[int, float, float, str, int]] = []

    def walk(node: dict[str, Any], depth: int, x0: float) -> None:
        depth_max[0] = max(depth_max[0], depth)
        rects.append((depth, x0, width * node["value"] / total, node["name"], node["value"]))
        x = x0
        for child in sorted(node["children"].values(), key=lambda c: c["name"]):
            cw = width * child["value"] / total
            if cw >= min_width_px:
                walk(child, depth + 1, x)
            x += cw

    walk(root, 0, 0.0)
    height = (depth_max[0] + 1) * row_h + 4
    body = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for depth, x0, w, name, value in rects:
        y = height - (depth + 1) * row_h - 2
        cls = "runtime" if depth == 0 else _class_of(table, name)
        fill = "#d9d9d9" if depth == 0 else FLAME_COLORS[cls]
        short = name.rsplit("/", 1)[-1]
        label = ""
        if w > 40:
            chars = int((w - 6) / 6.2)
            label = short if len(short) <= chars else short[: max(0, chars - 1)] + "…"
        body.append(
            f'<g><title>{escape(name)}: {value / total:.1%}</title>'
            f'<rect x="{x0:.2f}" y="{y}" width="{max(w - 0.5, 0.3):.2f}" height="{row_h - 1}" fill="{fill}" '
            f'stroke="#ffffff" stroke-width="0.5"/>'
            + (f'<text x="{x0 + 3:.1f}" y="{y + row_h - 5}" font-family="monospace" font-size="10">{escape(label)}</text>'
               if label else "") + "</g>"
        )
    return _svg(width, height, body, "flame graph of the CPU profile")


def _class_of(table: FunctionTable, name: str) -> str:
    row = table.get(name)
    if row is not None:
        return row.cls
    from ..analysis.classify import classify

    return classify(name, table.main_module)
