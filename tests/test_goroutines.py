"""Tests of the goroutine dump parser on dumps really written by Go 1.21 ... 1.27.

The samples (tests/samples/goroutines, see its README) were captured by
scripts/capture_dumps.py. Where a second reading of the same goroutines
exists, the tests use it as the oracle: the debug=1 count profile fetched
back to back with a debug=2 dump (totals, stacks, labels, file:line as Go's
own runtime/pprof symbolised them), the goroutineleak profile against the
"(leaked)" markers, and the Go source of the programs that produced them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import httpx
import pytest

from pytest_goperf.analysis.goroutine_summary import summarize
from pytest_goperf.analysis.groups import group_goroutines
from pytest_goperf.cli.main import main as goperf_main
from pytest_goperf.errors import DumpParseError
from pytest_goperf.formats.goroutines import (
    UNKNOWN_ELIDED,
    Goroutine,
    parse_crash,
    parse_goroutine_profile,
    parse_goroutines,
)

SAMPLES = Path(__file__).parent / "samples" / "goroutines"
RELEASES = ["1.21", "1.22", "1.23", "1.24", "1.25", "1.26", "1.27"]
DEBUG2 = sorted(p.name for p in SAMPLES.glob("*.txt") if "debug1" not in p.name and "crash" not in p.name
                and p.name != "defects.go.txt")
DEBUG1 = sorted(p.name for p in SAMPLES.glob("*debug1.txt"))
CRASH = sorted(p.name for p in SAMPLES.glob("*crash*.txt"))
QUIET = sorted(p.name for p in SAMPLES.glob("*quiet-debug2.txt"))
LABELLED = {"go1.26-labels", "go1.27-labels"}  # runs whose debug=2 headers carry labels
DEEPSTACK_SRC = Path(__file__).parent.parent / "scripts" / "deepstack" / "main.go"


def read(name: str) -> str:
    return (SAMPLES / name).read_text()


def dump(name: str) -> list[Goroutine]:
    return parse_goroutines(read(name))


def source_line(source: str, statement: str) -> int:
    """1-based line of the only line of ``source`` whose stripped text starts with ``statement``."""
    hits = [i + 1 for i, ln in enumerate(source.splitlines()) if ln.strip().startswith(statement)]
    assert len(hits) == 1, (statement, hits)
    return hits[0]


DEFECTS_SRC = (SAMPLES / "defects.go.txt").read_text()


def test_sample_inventory():
    # The capture script ran for every release; a missing file would silently shrink the matrix.
    for minor in RELEASES:
        for kind in ("quiet-debug1", "quiet-debug2", "load-debug1", "load-debug2"):
            assert (SAMPLES / f"go{minor}-{kind}.txt").is_file()
    assert sum(p.stat().st_size for p in SAMPLES.iterdir()) < 2_000_000


# ---------------------------------------------------------------------------------------------
# Every sample parses, and the records are consistent with the text.


@pytest.mark.parametrize("name", DEBUG2)
def test_every_debug2_sample_parses(name):
    text = read(name)
    gs = parse_goroutines(text)
    headers = re.findall(r"^goroutine (\d+) ", text, flags=re.M)
    assert [g.id for g in gs] == [int(h) for h in headers]
    assert len({g.id for g in gs}) == len(gs)
    for g in gs:
        assert g.state and "(" not in g.state.replace("(nil chan)", "").replace("(idle)", "")
        # Goroutine 1 (main) is the only one without a creator.
        assert (g.created_by is None) == (g.id == 1), g
        assert (g.parent_id is None) == (g.id == 1), g
        assert g.frames, g
        for f in g.frames:
            assert f.function and f.file and f.line > 0, f
    # The dumping goroutine comes first in a runtime.Stack dump, running.
    assert gs[0].state == "running"
    # Frame lines in the text = frames + created-by lines + ancestor frames parsed.
    file_lines = len(re.findall(r"^\t\S.*:\d+", text, flags=re.M))
    parsed = sum(len(g.frames) + (g.created_by is not None) for g in gs)
    parsed += sum(len(a.frames) + (a.created_by is not None) for g in gs for a in g.ancestors)
    assert parsed == file_lines


@pytest.mark.parametrize("name", DEBUG1)
def test_every_debug1_sample_parses(name):
    text = read(name)
    p = parse_goroutine_profile(text)
    assert p.kind == ("goroutineleak" if "leak-debug1" in name else "goroutine")
    assert p.total == int(re.match(r"\w+ profile: total (\d+)", text).group(1))
    assert sum(g.count for g in p.groups) == p.total
    assert len(p.groups) == text.count(" @ ")
    counts = [g.count for g in p.groups]
    assert counts == sorted(counts, reverse=True)  # runtime/pprof sorts groups by count
    for g in p.groups:
        assert g.pcs
        for f in g.frames:
            assert f.function and f.file.endswith((".go", ".s")) and f.line > 0 and f.offset is not None


# ---------------------------------------------------------------------------------------------
# debug=2 against debug=1 of the same moment.


def stack_key(functions, labels, with_labels):
    # runtime/pprof's debug=1 hides only the leading runtime frames, tracebacks hide all of them.
    kept = tuple(f for f in functions if not f.startswith(("runtime.", "internal/runtime")))
    return kept, tuple(sorted(labels)) if with_labels else ()


@pytest.mark.parametrize("name", QUIET)
def test_quiet_pair_agrees_with_count_profile(name):
    gs = dump(name)
    prof = parse_goroutine_profile(read(name.replace("debug2", "debug1")))
    # Fetched back to back on one connection with no other traffic: the same goroutines.
    assert len(gs) == prof.total
    with_labels = name.rsplit("-quiet", 1)[0] in LABELLED
    a = Counter(stack_key([f.function for f in g.frames], g.labels, with_labels) for g in gs)
    b: Counter = Counter()
    for sg in prof.groups:
        b[stack_key([f.function for f in sg.frames], sg.labels, with_labels)] += sg.count
    # Only the two request-bound goroutines differ: the handler (writeGoroutineStacks vs
    # writeRuntimeProfile) and the connection's background reader, caught at another point.
    assert sum((a - b).values()) <= 2, a - b
    assert sum((b - a).values()) <= 2, b - a


@pytest.mark.parametrize("minor", RELEASES)
def test_load_pair_totals_close(minor):
    gs = dump(f"go{minor}-load-debug2.txt")
    prof = parse_goroutine_profile(read(f"go{minor}-load-debug1.txt"))
    # Not captured together: 4 clients (a conn, handler and reader goroutine each) plus
    # /background?ms=50 sleepers come and go between the two fetches.
    assert abs(len(gs) - prof.total) <= 16
    assert len({g.state for g in gs}) >= 5


@pytest.mark.parametrize("name", QUIET)
def test_defect_frames_match_runtime_pprof_symbolisation(name):
    # debug=1 file:line come from runtime.CallersFrames, debug=2 from the traceback printer.
    gs = dump(name)
    prof = parse_goroutine_profile(read(name.replace("debug2", "debug1")))
    for fn in ("main.orphanReceiver", "main.globalWaiter", "main.nilSender", "main.tickerLoop"):
        from_dump = {(f.file, f.line) for g in gs for f in g.frames if f.function == fn}
        from_prof = {(f.file, f.line) for sg in prof.groups for f in sg.frames if f.function == fn}
        assert from_dump == from_prof and len(from_dump) == 1, fn


# ---------------------------------------------------------------------------------------------
# The example service's defects, found with their exact state, top function and creator.

DEFECTS = [
    # top function, state, count, creator, creating statement in defects.go
    ("main.orphanReceiver", "chan receive", 3, "main.leakOrphan", "go orphanReceiver(ch)"),
    ("main.globalWaiter", "chan receive", 2, "main.leakGlobal", "go globalWaiter(ch)"),
    ("main.tickerLoop", "chan receive", 1, "main.leakTicker", "go tickerLoop("),
    ("main.nilSender", "chan send (nil chan)", 1, "main.leakNilSend", "go nilSender()"),
]


@pytest.mark.parametrize("name", QUIET)
def test_defect_goroutines_found(name):
    gs = dump(name)
    for top, state, count, creator, statement in DEFECTS:
        found = [g for g in gs if g.top_function == top]
        assert len(found) == count, top
        blocking = source_line(DEFECTS_SRC, {"main.orphanReceiver": "<-ch // defect: no sender",
                                             "main.globalWaiter": "<-ch // defect: ch is remembered",
                                             "main.tickerLoop": "for range t.C",
                                             "main.nilSender": "results <- 1"}[top])
        for g in found:
            assert g.state == state
            assert g.created_by is not None and g.created_by.function == creator
            assert g.created_by.file.endswith("/defects.go")
            assert g.created_by.line == source_line(DEFECTS_SRC, statement)
            assert g.frames[0].line == blocking and g.frames[0].file.endswith("/defects.go")
            assert g.parent_id is not None and g.parent_id != g.id
            assert not g.leaked  # only the goroutineleak profile marks them
        # Started by one request each: all of one defect share the parent (handler) goroutine.
        assert len({g.parent_id for g in found}) == 1
    sleeper = [g for g in gs if g.has_function("main.finishLater")]
    assert len(sleeper) == 1 and sleeper[0].state == "sleep" and sleeper[0].top_function == "time.Sleep"
    main = next(g for g in gs if g.id == 1)
    assert main.top_function == "main.main" and main.state == "chan receive" and main.created_by is None
    assert gs[0].top_function == "runtime/pprof.writeGoroutineStacks"
    assert gs[0].has_function("net/http.(*conn).serve") and not gs[0].has_function("net/http.(*Server).Serve")


def test_grouping_of_a_dump():
    gs = dump("go1.27-quiet-debug2.txt")
    groups = group_goroutines(gs)
    assert sum(g.count for g in groups) == len(gs)
    assert [g.count for g in groups] == sorted((g.count for g in groups), reverse=True)
    orphans = next(g for g in groups if g.top_function == "main.orphanReceiver")
    assert orphans.count == 3 and orphans.state == "chan receive"
    assert orphans.created_by is not None and orphans.created_by.function == "main.leakOrphan"
    assert orphans.ids == tuple(sorted(g.id for g in gs if g.top_function == "main.orphanReceiver"))
    assert orphans.leaked == 0 and orphans.max_wait_minutes == 0


# ---------------------------------------------------------------------------------------------
# Version-specific header features.


@pytest.mark.parametrize("run", sorted(LABELLED))
def test_labels_in_headers(run):
    gs = dump(f"{run}-quiet-debug2.txt")
    routes = {g.top_function: g.label("route") for g in gs}
    assert routes["main.orphanReceiver"] == "leak-orphan"
    assert routes["main.globalWaiter"] == "leak-global"
    assert routes["main.nilSender"] == "leak-nil-send"
    assert routes["time.Sleep"] == "background"
    assert routes["main.main"] is None
    # The same labels as runtime/pprof's "# labels:" lines of the same moment.
    prof = parse_goroutine_profile(read(f"{run}-quiet-debug1.txt"))
    assert Counter(g.labels for g in gs if g.labels) == Counter(
        {sg.labels: sg.count for sg in prof.groups if sg.labels}
    )


def test_no_labels_without_tracebacklabels():
    for minor in RELEASES:
        assert not any(g.labels for g in dump(f"go{minor}-quiet-debug2.txt"))


@pytest.mark.parametrize("minor", ["1.26", "1.27"])
def test_quoted_labels_both_styles(minor):
    # 1.26 prints `[state labels:{"k": "v"}]`, 1.27 `[state] {k: "v"}` (quoted only when needed);
    # runtime/pprof's debug=1 uses fmt %q. All three must give the values set in deepstack/main.go.
    expected = (
        ("odd", 'quote" back\\ tab\t nl\n'),
        ("plain", "a.b/c_d"),
        ("route", "GET /items/{key}"),
        ("unicode", "é ✓ 日本"),
    )
    src = DEEPSTACK_SRC.read_text()
    assert '"quote\\" back\\\\ tab\\t nl\\n"' in src and '"é ✓ 日本"' in src
    labelled = [g for g in dump(f"go{minor}-deepstack.txt") if g.labels]
    assert len(labelled) == 1 and labelled[0].labels == expected and labelled[0].state == "chan receive"
    prof = parse_goroutine_profile(read(f"go{minor}-deepstack-debug1.txt"))
    assert [sg.labels for sg in prof.groups if sg.labels] == [expected]
    raw = next(ln for ln in read(f"go{minor}-deepstack.txt").splitlines() if "plain" in ln)
    assert ("labels:{" in raw) == (minor == "1.26")


@pytest.mark.parametrize("minor", ["1.26", "1.27"])
def test_leaked_markers_match_leak_profile(minor):
    gs = dump(f"go{minor}-labels-leak-debug2.txt")
    leak = parse_goroutine_profile(read(f"go{minor}-labels-leak-debug1.txt"))
    assert leak.kind == "goroutineleak" and leak.total == 4
    leaked = [g for g in gs if g.leaked]
    # The orphaned receivers and the nil-channel sender are provably leaked; the receivers
    # on a channel reachable from a global and the ticker loop are not.
    assert sorted(g.top_function for g in leaked) == ["main.nilSender"] + ["main.orphanReceiver"] * 3
    assert {g.state for g in leaked} == {"chan receive", "chan send (nil chan)"}
    assert Counter(g.top_function for g in leaked) == Counter(
        {sg.top_function: sg.count for sg in leak.groups}
    )
    assert not any(g.leaked for g in gs if g.top_function in ("main.globalWaiter", "main.tickerLoop"))
    assert len(gs) > leak.total  # debug=2 of goroutine lists everyone


def test_ancestors():
    gs = dump("go1.27-ancestors-quiet-debug2.txt")
    by_id = {g.id: g for g in gs}
    assert by_id[1].ancestors == ()
    orphans = [g for g in gs if g.top_function == "main.orphanReceiver"]
    for g in gs:
        if g.id == 1:
            continue
        assert g.ancestors, g
        # The first ancestor is the creator, the chain ends at main; at most 5 (tracebackancestors=5).
        assert g.ancestors[0].id == g.parent_id
        assert g.ancestors[-1].id == 1 and len(g.ancestors) <= 5
        for a in g.ancestors:
            assert a.frames and all(f.file and f.line > 0 and f.offset is not None for f in a.frames)
    for g in orphans:
        assert g.ancestors[0].frames[0].function == "main.leakOrphan"
        # Ancestor frames are printed from the saved return PC without backing it up to the
        # call (runtime/traceback.go printAncestorTracebackFuncInfo), so the line is that of
        # the next instruction after `go orphanReceiver(ch)`: the loop's `i++`, two lines up.
        assert g.ancestors[0].frames[0].line == source_line(DEFECTS_SRC, "go orphanReceiver(ch)") - 2


@pytest.mark.parametrize("minor", ["1.21", "1.26", "1.27"])
def test_elided_frames_and_names(minor):
    gs = {g.top_function: g for g in dump(f"go{minor}-deepstack.txt")}
    deep = gs["main.main.func1"]
    # 151 recurse frames (depth 150..0) + the closure: the runtime prints 50 + 50.
    assert len(deep.frames) == 100 and deep.elided_frames == 52
    assert [f.function for f in deep.frames[1:]] == ["main.recurse"] * 99
    assert deep.frames[1].line == source_line(DEEPSTACK_SRC.read_text(), "atBottom()")
    assert deep.frames[-1].line == source_line(DEEPSTACK_SRC.read_text(), "return recurse(depth-1, atBottom) + 1")
    assert gs["main.(*worker).wait"].frames[0].function == "main.(*worker).wait"
    assert gs["main.waitFor[...]"].frames[1].function == "main.main.func4.1"
    spawned = gs["main.main.func2.1"]
    # Its creator was 70+ frames deep: the ancestor keeps 50 and says so.
    assert spawned.ancestors[0].elided and len(spawned.ancestors[0].frames) <= 50
    assert spawned.ancestors[0].created_by is not None
    assert spawned.ancestors[0].created_by.function == "main.main"
    assert spawned.ancestors[-1].id == 1 and not spawned.ancestors[-1].elided
    assert all(g.elided_frames == 0 for g in gs.values() if g is not deep)
    assert UNKNOWN_ELIDED not in {g.elided_frames for g in gs.values()}  # Go 1.21+ always counts


@pytest.mark.parametrize("minor", ["1.25", "1.27"])
def test_synctest_bubble(minor):
    gs = {g.id: g for g in dump(f"go{minor}-synctest.txt")}
    in_bubble = [g for g in gs.values() if g.bubble is not None]
    assert len(in_bubble) == 4 and {g.bubble for g in in_bubble} == {1}
    states = Counter((g.state, g.durable) for g in in_bubble)
    # "chan receive (durable)" and "sync.WaitGroup.Wait (durable)" are durable wait reasons;
    # "synctest.Run (durable)" is the marker. All read as durable, state without the suffix.
    assert states == Counter({("running", False): 1, ("synctest.Run", True): 1, ("chan receive", True): 1,
                              ("sync.WaitGroup.Wait", True): 1})
    assert gs[1].bubble is None and not gs[1].durable


def test_crash_system_headers():
    crash = parse_crash(read("go1.27-crash-system.txt"))
    assert crash.message == "panic: goperf-demo: deliberate crash requested by /defect/crash"
    first = crash.goroutines[0]
    assert first.state == "running"
    assert [f.function for f in first.frames] == ["panic", "main.crash.func1", "runtime.goexit"]
    assert first.frames[1].line == source_line(DEFECTS_SRC, 'panic("goperf-demo: deliberate crash')
    assert first.created_by is not None and first.created_by.function == "main.crash"
    # GOTRACEBACK=system shows the runtime's own goroutines and frames.
    assert any(g.state == "force gc (idle)" for g in crash.goroutines)
    assert any(f.function == "runtime.gopark" for g in crash.goroutines for f in g.frames)
    header_count = read("go1.27-crash-system.txt").count(" gp=0x")
    assert header_count == len(crash.goroutines)


def test_crash_message_kept_as_written():
    text = read("go1.27-crash.txt").replace("by /defect/crash", "by f(x)")
    assert parse_crash(text).message == "panic: goperf-demo: deliberate crash requested by f(x)"


def test_crash_from_go_run_output():
    text = read("go1.27-crash.txt")
    assert parse_crash(text + "exit status 2\n") == parse_crash(text)


def test_crash_signal_in_cgo():
    text = read("go1.27-crash-cgo-signal.txt")
    crash = parse_crash(text)
    first, pc, cgo = crash.message.split("\n")
    assert first == "SIGSEGV: segmentation violation" and cgo == "signal arrived during cgo execution"
    assert re.fullmatch(r"PC=0x[0-9a-f]+ m=\d+ sigcode=\d+ addr=0x0", pc)
    main = crash.goroutines[0]
    assert main.id == 1 and main.state == "syscall"
    assert [f.function for f in main.frames[:3]] == ["runtime.cgocall", "main._Cfunc_crash", "main.main"]
    assert main.frames[1].file == "_cgo_gotypes.go"  # a generated file: no directory
    # The register dump after the goroutines ("rax 0x..") is not a goroutine paragraph.
    assert len(crash.goroutines) == text.count("\ngoroutine ") and "\nrip " in text
    with pytest.raises(DumpParseError, match="crash log"):
        parse_goroutines(text)


def test_crash_all_while_busy():
    text = read("go1.27-crash-all-busy.txt")
    crash = parse_crash(text)
    assert len(crash.goroutines) == text.count("\ngoroutine ")
    # GOTRACEBACK=all: user goroutines only (no runtime frames); a CPU-bound request that
    # could not be stopped (asyncpreemptoff=1) has no stack, only its creator.
    assert not any(f.function.startswith("runtime.gopark") for g in crash.goroutines for f in g.frames)
    busy = [g for g in crash.goroutines if g.stack_unavailable]
    assert len(busy) == text.count("goroutine running on other thread; stack unavailable") >= 1
    for g in busy:
        assert g.state == "running" and g.frames == () and g.top_function == ""
        assert g.created_by is not None and g.created_by.function == "net/http.(*Server).Serve"
    assert all(g.frames for g in crash.goroutines if not g.stack_unavailable)


def test_crash_default_and_old_release():
    crash = parse_crash(read("go1.27-crash.txt"))
    assert len(crash.goroutines) == 1 and crash.goroutines[0].top_function == "main.crash.func1"
    old = parse_crash(read("go1.21-crash-system.txt"))  # 1.21 has no gp=/m= in headers
    assert old.message.startswith("panic: goperf-demo")
    assert old.goroutines[0].frames[0].function == "panic"
    with pytest.raises(DumpParseError, match="parse_crash"):
        parse_goroutines(read("go1.27-crash.txt"))


# ---------------------------------------------------------------------------------------------
# Malformed input: our error, naming the line and the text.


def lines_of(name):
    return read(name).split("\n")


def test_inserted_garbage_line_is_named():
    lines = lines_of("go1.27-quiet-debug2.txt")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("main.orphanReceiver("))
    bad = [*lines[: k + 2], "this is not a frame", *lines[k + 2 :]]
    with pytest.raises(DumpParseError) as err:
        parse_goroutines("\n".join(bad))
    assert err.value.where == f"line {k + 3}"
    assert "this is not a frame" in str(err.value)


def test_truncated_dump_is_named():
    lines = lines_of("go1.27-quiet-debug2.txt")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("main.globalWaiter("))
    with pytest.raises(DumpParseError, match="truncated") as err:
        parse_goroutines("\n".join(lines[: k + 1]))
    assert err.value.where == f"line {k + 1}"
    assert "main.globalWaiter(" in str(err.value)


def test_file_line_without_number():
    text = read("go1.27-quiet-debug2.txt")
    lines = text.split("\n")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("\t") and "defects.go" in ln)
    lines[k] = lines[k].split(":")[0]
    with pytest.raises(DumpParseError, match="FILE:LINE") as err:
        parse_goroutines("\n".join(lines))
    assert err.value.where == f"line {k + 1}"


@pytest.mark.parametrize(
    "header",
    ["goroutine x [running]:", "goroutine 7 running:", "goroutine 7 [chan receive]", "goroutine 7 [, 3 minutes]:",
     "goroutine 7 [sleep] {route: }bad:", 'goroutine 7 [sleep] {"unterminated: x}:'],
)
def test_bad_headers(header):
    lines = lines_of("go1.27-quiet-debug2.txt")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("goroutine ") and i > 0)
    lines[k] = header
    with pytest.raises(DumpParseError) as err:
        parse_goroutines("\n".join(lines))
    assert err.value.where == f"line {k + 1}" and header[:30] in str(err.value)


def test_unknown_line_after_created_by():
    lines = lines_of("go1.27-quiet-debug2.txt")
    k = next(i for i, ln in enumerate(lines) if ln.startswith("created by "))
    lines.insert(k + 2, "extra text")
    with pytest.raises(DumpParseError, match="originating") as err:
        parse_goroutines("\n".join(lines))
    assert err.value.where == f"line {k + 3}"


def test_wrong_kind_and_empty():
    assert parse_goroutines("") == [] and parse_goroutines("\n\n") == []
    with pytest.raises(DumpParseError, match="parse_goroutine_profile"):
        parse_goroutines(read("go1.27-quiet-debug1.txt"))
    with pytest.raises(DumpParseError, match="debug=2"):
        parse_goroutine_profile(read("go1.27-quiet-debug2.txt"))
    with pytest.raises(DumpParseError, match="empty"):
        parse_goroutine_profile("")
    with pytest.raises(DumpParseError, match="no goroutine traceback"):
        parse_crash("panic: nothing follows\n")


def test_profile_truncated_and_corrupt():
    lines = lines_of("go1.27-quiet-debug1.txt")
    # Cut after the first group: the counts no longer add up to the header's total.
    cut = lines.index("", 2)
    with pytest.raises(DumpParseError, match="total") as err:
        parse_goroutine_profile("\n".join(lines[:cut]))
    assert err.value.where is not None
    k = next(i for i, ln in enumerate(lines) if ln.startswith("#\t"))
    bad = lines.copy()
    bad[k] = "#\tnot-a-pc\tmain.x+0x1\tx.go:1"
    with pytest.raises(DumpParseError, match="frame line") as err:
        parse_goroutine_profile("\n".join(bad))
    assert err.value.where == f"line {k + 1}"
    bad = lines.copy()
    bad[1] = "3 @ zz"
    with pytest.raises(DumpParseError, match="COUNT @") as err:
        parse_goroutine_profile("\n".join(bad))
    assert err.value.where == "line 2"
    labelled = lines_of("go1.27-labels-quiet-debug1.txt")
    k = next(i for i, ln in enumerate(labelled) if ln.startswith("# labels: "))
    labelled[k] = '# labels: {"route":"leak-orphan}'
    with pytest.raises(DumpParseError, match="labels") as err:
        parse_goroutine_profile("\n".join(labelled))
    assert err.value.where == f"line {k + 1}"


def test_crlf_and_leading_blank_lines():
    text = read("go1.24-quiet-debug2.txt")
    plain = parse_goroutines(text)
    assert parse_goroutines("\n\n" + text.replace("\n", "\r\n")) == plain


# ---------------------------------------------------------------------------------------------
# goperf analyze


def run_cli(capsys, *args):
    code = goperf_main(["analyze", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_debug2_json(capsys):
    path = SAMPLES / "go1.27-labels-leak-debug2.txt"
    code, out, _ = run_cli(capsys, str(path), "--json")
    assert code == 0
    doc = json.loads(out)
    gs = dump(path.name)
    assert doc["kind"] == "goroutines" and doc["format"] == "debug=2" and doc["profile"] is None
    assert doc["total"] == len(gs)
    assert doc["by_state"] == dict(Counter(g.state for g in gs))
    assert doc["leaked"] == 4
    assert sum(g["count"] for g in doc["groups"]) == len(gs)
    orphans = next(g for g in doc["groups"] if g["top_function"] == "main.orphanReceiver")
    assert orphans["count"] == 3 and orphans["leaked"] == 3 and orphans["state"] == "chan receive"
    assert orphans["labels"] == {"route": "leak-orphan"}
    cb = orphans["created_by"]
    assert cb["function"] == "main.leakOrphan" and cb["location"] == f"{cb['file']}:{cb['line']}"
    assert cb["line"] == source_line(DEFECTS_SRC, "go orphanReceiver(ch)")
    assert sorted(orphans["ids"]) == sorted(g.id for g in gs if g.top_function == "main.orphanReceiver")
    assert orphans["stack"][0]["function"] == "main.orphanReceiver"
    assert set(orphans) == {"count", "state", "top_function", "created_by", "stack", "ids", "labels", "leaked",
                            "max_wait_minutes"}


def test_analyze_debug1_and_text(capsys):
    code, out, _ = run_cli(capsys, str(SAMPLES / "go1.27-labels-leak-debug1.txt"), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["format"] == "debug=1" and doc["profile"] == "goroutineleak"
    assert doc["total"] == 4 and doc["leaked"] == 4 and doc["by_state"] == {}
    assert {g["top_function"]: g["count"] for g in doc["groups"]} == {"main.orphanReceiver": 3, "main.nilSender": 1}
    assert all(g["state"] is None and g["created_by"] is None for g in doc["groups"])
    code, out, _ = run_cli(capsys, str(SAMPLES / "go1.27-quiet-debug2.txt"))
    assert code == 0
    assert re.search(r"^\s*3\s+chan receive\s+main\.orphanReceiver\s+main\.leakOrphan \(defects\.go:\d+\)$", out,
                     flags=re.M), out
    assert out.startswith("14 goroutines (debug=2)")


def test_analyze_crash_and_errors(capsys, tmp_path):
    code, out, _ = run_cli(capsys, str(SAMPLES / "go1.27-crash-system.txt"), "--json", "--kind", "goroutines")
    doc = json.loads(out)
    assert code == 0 and doc["format"] == "crash" and doc["message"].startswith("panic: goperf-demo")
    bad = tmp_path / "bad.txt"
    bad.write_text("goroutine 1 [running]:\nmain.main()\n")
    code, _, err = run_cli(capsys, str(bad))
    assert code == 2 and "line 2" in err and "goperf: error:" in err


def test_summarize_text_for_profile():
    s = summarize((SAMPLES / "go1.27-labels-quiet-debug1.txt").read_bytes())
    text = s.to_text()
    assert "route=leak-orphan" in text and text.startswith("14 goroutines (debug=1, goroutine profile)")


# ---------------------------------------------------------------------------------------------
# Live: the example service over HTTP.


def test_live_dump(go_service):
    with httpx.Client(base_url=go_service.url, timeout=30) as client:
        client.get("/defect/leak-orphan", params={"n": 5}).raise_for_status()
        text = client.get("/debug/pprof/goroutine", params={"debug": 2}).text
        prof_text = client.get("/debug/pprof/goroutine", params={"debug": 1}).text
    gs = parse_goroutines(text)
    assert gs[0].top_function == "runtime/pprof.writeGoroutineStacks"
    orphans = [g for g in gs if g.top_function == "main.orphanReceiver"]
    # Other tests of the session may have started orphans too: at least ours, all alike.
    assert len(orphans) >= 5
    assert {(g.state, g.created_by.function if g.created_by else None) for g in orphans} == {
        ("chan receive", "main.leakOrphan")
    }
    prof = parse_goroutine_profile(prof_text)
    assert sum(sg.count for sg in prof.groups if sg.top_function == "main.orphanReceiver") >= len(orphans)


def test_crash_with_the_runtimes_unwinding_diagnostics_keeps_every_goroutine():
    """Issue 13: Go's TestBadTraceback output (bad return PC, stack hex dump) was refused whole."""
    text = read("go1.26-crash-badtraceback.txt")
    assert "unexpected return pc for main.badLR2 called from 0xbad" in text and "stack: frame={sp:" in text
    crash = parse_crash(text)
    assert crash.message == "fatal error: unknown caller pc"
    assert len(crash.goroutines) == text.count(" gp=0x")
    bad = crash.goroutines[0]
    assert bad.state == "running"
    # The frames printed before and after the diagnostics, none taken from the hex dump.
    assert [f.function for f in bad.frames][-2:] == ["panic", "main.badLR2"]
    assert bad.created_by is not None and bad.created_by.function == "main.BadTraceback"
    assert {g.state for g in crash.goroutines} >= {"select (no cases)", "force gc (idle)"}
    # A frame line after a diagnostic is still checked: damage there is still an error.
    broken = text.replace("main.badLR2(0x0)\n\tbadtraceback/badtraceback.go", "main.badLR2(0x0)\nbadtraceback.go", 1)
    assert broken != text
    with pytest.raises(DumpParseError):
        parse_crash(broken)
