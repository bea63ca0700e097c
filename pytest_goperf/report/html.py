"""One self-contained HTML page for one window: findings, charts, flame graph, goroutine clusters.

Everything is inline (CSS, SVG, a few lines of script to filter the cluster
table); opening the file needs no network.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from pathlib import Path

from .. import __version__
from ..analysis.triage.findings import STORIES, GoroutineStory, Triage
from ..analysis.wakeups import Wakeup, duration_text
from .svg import COLORS, bar_chart, flame_graph, latency_histogram, runnable_chart
from .text import finding_value, story_parts

__all__ = ["render_html", "write_report"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#1d1d1d;max-width:1160px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:13px} table{border-collapse:collapse;font-size:12.5px;width:100%}
td,th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6} .lvl{font-weight:bold;padding:1px 6px;border-radius:3px;color:#fff}
.error{background:#b3261e} .warning{background:#b26a00} .info{background:#5f6b7a}
.ev{color:#333;font-size:12px;margin:2px 0 0 0} code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11.5px}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px}
.note{color:#7a4b00;font-size:12.5px} details{margin:3px 0} summary{cursor:pointer}
"""

_SCRIPT = """
document.getElementById('cluster-filter').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('#clusters tbody tr').forEach(function (tr) {
    tr.style.display = tr.textContent.toLowerCase().indexOf(q) >= 0 ? '' : 'none';
  });
});
"""


def _story_html(s: GoroutineStory) -> str:
    parts = [f"<b>goroutine {s.id}</b>", *story_parts(s, text=escape, code=lambda x: f"<code>{escape(x)}</code>")]
    out = "; ".join(parts)
    if s.changes:
        steps = ", ".join(f"{t / 1e6:.3g} ms {escape(st)}{' (' + escape(r) + ')' if r else ''}" for t, st, r in s.changes)
        out += f'<div class="ev">states: {steps}</div>'
    if s.stack:
        out += '<div class="ev mono">' + "<br>".join(escape(f) for f in s.stack[:6]) + "</div>"
    return f"<li>{out}</li>"


def _wakeups_html(t: Triage) -> list[str]:
    """The blocker -> waker table, and the wake-up chains of the top finding's goroutines."""
    assert t.metrics is not None and t.metrics.wakeups is not None
    w = t.metrics.wakeups
    out = ["<h2 id='wakeups'>Wake-ups: who woke whom</h2>",
           f"<div class='meta'>{w.count} blocking episodes began and ended in the window, "
           f"{escape(duration_text(w.total_ns))} of waiting in all ({w.open_at_start} already blocked at the start, "
           f"{w.still_blocked} still blocked at the end, not counted). A blocker is the code a goroutine waited "
           "in, its waker the code that made it runnable (or the runtime's timer, netpoller or scheduler).</div>"]
    if not w.pairs:
        return [*out, "<p>No goroutine blocked and woke up in the window.</p>"]
    out.append("<table id='wakeup-pairs'><thead><tr><th>waits</th><th>reason</th><th>blocked in</th><th>woken by</th>"
               "<th>share</th><th>total</th><th>longest</th><th>goroutines</th></tr></thead><tbody>")
    for p in w.pairs:
        by = escape(p.woken_by) if p.waker_kind == "goroutine" else f"<i>{escape(p.woken_by)}</i>"
        if p.via:
            by += f" <span style='color:#666'>({escape(p.via)})</span>"
        out.append(
            f"<tr><td>{p.count}</td><td>{escape(p.reason)}</td>"
            f"<td class='mono'><details><summary>{escape(p.blocked_at)}</summary>"
            + "<br>".join(escape(str(f)) for f in p.stack[:8]) + "</details></td>"
            f"<td class='mono'><details><summary>{by}</summary>"
            + "<br>".join(escape(str(f)) for f in p.waker_stack[:8]) + "</details></td>"
            f"<td>{p.share:.0%}</td><td>{escape(duration_text(p.total_ns))}</td>"
            f"<td>{escape(duration_text(p.max_ns))}</td>"
            f"<td class='mono'>{escape(' '.join(map(str, p.goroutines)))}</td></tr>")
    out.append("</tbody></table>")
    top = t.findings[0] if t.findings else None
    chains = [(g, w.chain(g)) for g in (top.goroutine_ids[:STORIES] if top else ())]
    chains = [(g, c) for g, c in chains if c]
    if top is not None and chains:
        out.append(f"<h3 style='font-size:14px'>Wake-up chains of the goroutines of the top finding "
                   f"({escape(top.title)})</h3><ul id='wakeup-chains'>")
        for g, chain in chains:
            out.append(f"<li><b>goroutine {g}</b>: " + " &larr; ".join(_step_html(e) for e in chain) + "</li>")
        out.append("</ul>")
    return out


def _step_html(e: Wakeup) -> str:
    by = (f"woken by goroutine {e.waker} in <code>{escape(e.woken_by)}</code>" if e.waker >= 0
          else f"woken by the <i>{escape(e.waker_kind)}</i>")
    return (f"G{e.goroutine} waited {escape(duration_text(e.duration_ns))} on {escape(e.reason or '?')} "
            f"in <code>{escape(e.blocked_at)}</code>, {by}")


def render_html(triage: Triage, *, title: str | None = None) -> str:
    """The report page of ``triage`` as one HTML string."""
    t = triage
    title = title or f"goperf triage: {t.source}"
    head = []
    if t.seconds:
        head.append(f"window {t.seconds:g} s")
    if t.gomaxprocs:
        head.append(f"GOMAXPROCS {t.gomaxprocs}")
    if t.cpu_utilisation is not None:
        head.append(f"CPU {t.cpu_utilisation:.0%} of the processors")
    head.append(f"{t.goroutine_count} goroutines in the end dump")
    if t.metrics is not None:
        head.append(f"trace format go {escape(t.metrics.go_version)}")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1><div class='meta'>{escape(', '.join(head))}. Made by goperf {__version__} on {stamp}.</div>",
    ]
    # Findings.
    out.append("<h2 id='findings'>Findings, most likely cause first</h2>")
    if not t.findings:
        out.append("<p>No finding: nothing above its threshold in this window.</p>")
    else:
        out.append("<table><thead><tr><th>#</th><th>level</th><th>finding</th><th>value</th><th>evidence</th></tr></thead><tbody>")
        for i, f in enumerate(t.findings, 1):
            ev = "".join(f"<div class='ev'><b>{escape(e.label)}</b>: {escape(e.value)}</div>" for e in f.evidence)
            stories = ""
            if f.stories:
                stories = ("<details><summary>goroutines, dump and trace aligned by id</summary><ul>"
                           + "".join(_story_html(s) for s in f.stories) + "</ul></details>")
            stacks = ""
            if f.stacks:
                stacks = ("<details><summary>stacks</summary>" + "".join(
                    "<div class='ev mono'>" + "<br>".join(escape(x) for x in st[:8]) + "</div><hr>" for st in f.stacks)
                    + "</details>")
            out.append(
                f"<tr><td>{i}</td><td><span class='lvl {f.level}'>{f.level}</span></td><td><b>{escape(f.title)}</b></td>"
                f"<td>{finding_value(f.value)}<div class='ev'>warning ≥ {f.warning:g}, error ≥ {f.error:g}</div></td>"
                f"<td>{escape(f.summary)}{ev}<div class='ev'><i>what to do:</i> {escape(f.advice)}</div>"
                f"{stories}{stacks}</td></tr>"
            )
        out.append("</tbody></table>")
    for n in t.notes:
        out.append(f"<p class='note'>note: {escape(n)}</p>")
    # Charts.
    if t.timeline is not None and t.gomaxprocs:
        s = t.timeline.runnable
        out.append("<h2 id='runnable'>Runnable goroutines over time</h2>")
        out.append(f"<div class='legend'><span><i style='background:{COLORS['runnable']}'></i>peak runnable per "
                   f"{s.bin_ns / 1e6:.3g} ms</span><span><i style='background:{COLORS['gomaxprocs']}'></i>GOMAXPROCS "
                   f"({t.gomaxprocs}): more runnable than this wait for a processor</span></div>")
        out.append(f"<div id='chart-runnable'>{runnable_chart(s.times_ns, s.mean, s.peak, t.gomaxprocs)}</div>")
        h = t.timeline.latency
        out.append("<h2 id='latency'>Scheduling latency</h2>")
        if t.metrics is not None:
            sl = t.metrics.sched_latency
            out.append(f"<div class='meta'>{sl.count} waits; p50 {sl.p50_ns / 1e6:.3g} ms, p90 {sl.p90_ns / 1e6:.3g} ms, "
                       f"p99 {sl.p99_ns / 1e6:.3g} ms, max {sl.max_ns / 1e6:.3g} ms</div>")
        out.append(f"<div id='chart-latency'>{latency_histogram(h.edges_ns, h.counts)}</div>")
    if t.cpu is not None and t.cpu.total:
        out.append("<h2 id='hot'>Hot functions (flat share of CPU)</h2>")
        split = ", ".join(f"{g.key} {g.flat_share:.0%}" for g in t.cpu.by_class())
        out.append("<div class='legend'>" + "".join(
            f"<span><i style='background:{COLORS[c]}'></i>{c}</span>" for c in ("user", "stdlib", "runtime", "module", "syscall"))
            + f" <span>split: {escape(split)}</span></div>")
        out.append(f"<div id='chart-hot'>{bar_chart(t.cpu)}</div>")
        out.append("<h2 id='flame'>Flame graph of the CPU profile</h2>")
        out.append("<div class='meta'>Root at the bottom; width is the share of CPU; hover a frame for its name and share.</div>")
        out.append(f"<div id='chart-flame' style='overflow-x:auto'>{flame_graph(t.cpu)}</div>")
    if t.metrics is not None and t.metrics.wakeups is not None:
        out += _wakeups_html(t)
    # Clusters.
    out.append("<h2 id='clusters-h'>Goroutine clusters (end dump)</h2>")
    if not t.clusters:
        out.append("<p>No goroutine dump.</p>")
    else:
        out.append("<input id='cluster-filter' placeholder='filter clusters' style='margin-bottom:6px;width:260px'>")
        out.append("<table id='clusters'><thead><tr><th>count</th><th>state</th><th>top of stack</th><th>created by</th>"
                   "<th>grew in window</th><th>ran in window</th><th>leaked</th><th>ids</th></tr></thead><tbody>")
        for c in t.clusters[:60]:
            ran = "" if c.ran_ns is None else f"{c.ran_ns / 1e6:.3g} ms"
            wait = f", {c.max_wait_minutes} min" if c.max_wait_minutes else ""
            out.append(
                f"<tr><td>{c.count}</td><td>{escape(c.state)}{wait}</td>"
                f"<td class='mono'><details><summary>{escape(c.top_function)}</summary>"
                + "<br>".join(escape(x) for x in c.stack) + "</details></td>"
                f"<td class='mono'>{escape(c.created_by or '')}</td><td>{'' if c.grew is None else c.grew}</td>"
                f"<td>{ran}</td><td>{c.leaked or ''}</td>"
                f"<td class='mono'>{escape(' '.join(map(str, c.ids[:8])))}{' …' if len(c.ids) > 8 else ''}</td></tr>"
            )
        out.append("</tbody></table>")
        out.append(f"<script>{_SCRIPT}</script>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(path: str | Path, triage: Triage, *, title: str | None = None) -> Path:
    """Write the HTML report of ``triage`` (one analysed window) to ``path`` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(triage, title=title), encoding="utf-8")
    return path
