"""The HTML report: self-contained, and really drawn by a browser (Debian's chromium, headless).

The page is built from files the Go runtime wrote (committed samples: an
execution trace with CPU samples, a CPU profile of the /work route and a
goroutine dump with proven leaks). The browser test takes a screenshot and
finds each chart by its colour, in the order of the page.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from html import escape
from pathlib import Path

import numpy as np
import pytest

from pytest_goperf.analysis.triage.findings import analyse
from pytest_goperf.formats.window import RawWindow
from pytest_goperf.report.html import render_html, write_report
from pytest_goperf.report.svg import COLORS, FLAME_COLORS
from pytest_goperf.runtime.files import load_window, save_window

SAMPLES = Path(__file__).parent / "samples"
TRACE = SAMPLES / "traces" / "go1.24-p4-cpu.trace"
PROFILE = SAMPLES / "profiles" / "go1.26.8" / "cpu-work.pb.gz"
DUMP = SAMPLES / "goroutines" / "go1.26-labels-leak-debug2.txt"


@pytest.fixture(scope="module")
def triage():
    inp = RawWindow(
        trace=TRACE.read_bytes(),
        cpu_profile=PROFILE.read_bytes(),
        goroutines_end=DUMP.read_bytes(),
        end_dump_marked=True,
        source="samples",
    )
    return analyse(inp)


def test_page_is_self_contained(triage, tmp_path):
    path = write_report(tmp_path / "report.html", triage)
    html = path.read_text()
    # Nothing is fetched: no external script, stylesheet, image or font.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    for label in ("runnable goroutines over time", "scheduling latency histogram", "hot functions by class",
                  "flame graph of the CPU profile"):
        assert f'aria-label="{label}"' in html
    assert f"GOMAXPROCS = {triage.gomaxprocs}" in html
    # Every finding and every cluster of the dump's top is on the page.
    for f in triage.findings:
        assert escape(f.title) in html
    assert triage.findings[0].key == "leak_proven"
    for c in triage.clusters[:5]:
        assert c.top_function in html


def test_write_report_from_a_rounds_records(tmp_path):
    """The pytest side writes a round's files, reads them back and analyses them as triage does."""
    save_window(RawWindow(trace=TRACE.read_bytes(), cpu_profile=PROFILE.read_bytes(), goroutines_end=DUMP.read_bytes()),
                tmp_path / "round")
    path = write_report(tmp_path / "round.html", analyse(load_window(tmp_path / "round")), title="round 3 of test_x")
    html = path.read_text()
    assert "<title>round 3 of test_x</title>" in html
    assert "main.spinCore" in html  # the hot function of the /work profile, in the bar chart
    # Without a trace there is no runnable chart, and the page says what there is.
    html = render_html(analyse(RawWindow(cpu_profile=PROFILE.read_bytes(), source="cpu only")))
    assert 'aria-label="runnable goroutines over time"' not in html
    assert 'aria-label="flame graph of the CPU profile"' in html


# --- the browser ---------------------------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def read_png(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what chromium writes) to an (h, w, 3) array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, []
    width = height = channels = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    stride = width * channels
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        f, line = rows[y, 0], rows[y, 1:]
        if f == 0:
            cur = line.copy()
        elif f == 1:  # Sub: a running sum per channel, modulo 256
            cur = (np.cumsum(line.reshape(width, channels).astype(np.int64), axis=0) % 256).astype(np.uint8).ravel()
        elif f == 2:
            cur = (line.astype(np.int64) + prev) % 256
            cur = cur.astype(np.uint8)
        else:
            cur = bytearray(line.tobytes())
            up = prev.tobytes()
            for i in range(stride):
                a = cur[i - channels] if i >= channels else 0
                b = up[i]
                if f == 3:
                    cur[i] = (cur[i] + ((a + b) >> 1)) & 0xFF
                else:
                    c = up[i - channels] if i >= channels else 0
                    cur[i] = (cur[i] + _paeth(a, b, c)) & 0xFF
            cur = np.frombuffer(bytes(cur), dtype=np.uint8)
        out[y] = cur
        prev = cur
    return out.reshape(height, width, channels)[:, :, :3]


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])


def _where(img: np.ndarray, colour: str, tol: int = 6) -> np.ndarray:
    """Row indices of the pixels within ``tol`` of ``colour`` on every channel."""
    mask = (np.abs(img.astype(np.int16) - _rgb(colour)) <= tol).all(axis=2)
    return np.nonzero(mask)[0]


def test_report_renders_its_charts_in_headless_chromium(triage, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("GOPERF_SKIP_BROWSER") == "1":
            pytest.skip("GOPERF_SKIP_BROWSER=1 and no chromium: the report's rendering is not checked")
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (Debian), "
                    "or set GOPERF_SKIP_BROWSER=1 to skip the browser check")
    report = write_report(tmp_path / "report.html", triage)
    shot = tmp_path / "report.png"  # kept next to the report: CI uploads both as artifacts
    with tempfile.TemporaryDirectory() as profile_dir:
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile_dir}", f"--screenshot={shot}",
             "--window-size=1280,2400", report.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )
    assert shot.exists(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    img = read_png(shot.read_bytes())
    assert img.shape[:2] == (2400, 1280)
    print(f"screenshot: {shot}")

    def rows(colour: str, minimum: int) -> np.ndarray:
        r = _where(img, colour)
        assert r.size >= minimum, f"{colour}: only {r.size} pixels in the screenshot {shot}"
        return r

    runnable = rows(COLORS["runnable"], 2000)  # the area of runnable goroutines
    gomaxprocs = rows(COLORS["gomaxprocs"], 300)  # the dashed GOMAXPROCS line
    latency = rows(COLORS["latency"], 500)  # histogram bars
    classes = {c: _where(img, COLORS[c]) for c in ("user", "stdlib", "runtime", "module", "syscall")}
    cpu = triage.cpu
    assert cpu is not None
    present = {g.key for g in cpu.by_class() if g.flat_share >= 0.01}
    for c in present:  # each class with CPU has its coloured bars
        assert classes[c].size >= 100, f"no {c} bars in {shot}"
    flame = np.concatenate([_where(img, FLAME_COLORS[c]) for c in present])
    assert flame.size >= 3000, f"no flame graph in {shot}"
    # In the order of the page: runnable chart, latency histogram, hot-function bars, flame graph.
    bars = np.concatenate([classes[c] for c in present])
    assert np.median(runnable) < np.median(latency) < np.median(bars) < np.median(flame)
    # The GOMAXPROCS line is drawn within the runnable chart.
    assert runnable.min() - 30 <= np.median(gomaxprocs) <= runnable.max() + 30
