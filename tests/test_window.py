"""One window's data path on recorded samples: bytes -> folder -> bytes -> records, and its shared tables.

The same :func:`analyse_window` serves measurement rounds, ``goperf triage``
and ``goperf analyze DIR``; these tests pin the pieces the redesign made one:
the file-name table, the sniffer, the one Frame, the one grouping function.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from pytest_goperf import (
    Frame,
    RawWindow,
    analyse_window,
    group_goroutines,
    load_window,
    parse_goroutines,
    save_window,
)
from pytest_goperf.analysis.go_runtime import is_lock_frame
from pytest_goperf.analysis.groups import by_creation_site, by_stack, by_stack_prefix
from pytest_goperf.cli import main
from pytest_goperf.formats.sniff import sniff
from pytest_goperf.formats.window import FILE_NAMES

SAMPLES = Path(__file__).parent / "samples"
TRACE = SAMPLES / "traces" / "go1.26-p2.trace"
PROFILE = SAMPLES / "profiles" / "go1.26.8" / "cpu-work.pb.gz"
LEAK_DUMP = SAMPLES / "goroutines" / "go1.26-labels-leak-debug2.txt"
LOAD_DUMP = SAMPLES / "goroutines" / "go1.26-load-debug2.txt"
DEBUG1 = SAMPLES / "goroutines" / "go1.26-labels-leak-debug1.txt"
CRASH = SAMPLES / "goroutines" / "go1.27-crash.txt"


def _raw() -> RawWindow:
    return RawWindow(
        seconds=2.0,
        started_at=1_700_000_000.0,
        trace=TRACE.read_bytes(),
        cpu_profile=PROFILE.read_bytes(),
        goroutines_start=LOAD_DUMP.read_bytes(),
        goroutines_end=LEAK_DUMP.read_bytes(),
        leak_profile=DEBUG1.read_bytes(),
        end_dump_marked=True,
        source="http://127.0.0.1:1",
        errors={"heap": "not asked"},
    )


def test_a_saved_window_reads_back_byte_for_byte(tmp_path):
    raw = _raw()
    files = save_window(raw, tmp_path / "w")
    assert {p.name for p in files.all()} == {FILE_NAMES[r] for r in (
        "trace", "cpu_profile", "goroutines_start", "goroutines_end", "leak_profile", "meta")}
    back = load_window(tmp_path / "w")
    for role in ("trace", "cpu_profile", "goroutines_start", "goroutines_end", "leak_profile"):
        assert back.data(role) == raw.data(role), role
    assert (back.seconds, back.started_at, back.end_dump_marked) == (2.0, 1_700_000_000.0, True)
    assert back.errors == {"heap": "not asked"}
    assert any("heap was not captured: not asked" in n for n in back.notes)
    meta = json.loads((tmp_path / "w" / FILE_NAMES["meta"]).read_text())
    assert meta["files"]["trace"] == "trace.out" and meta["source"] == "http://127.0.0.1:1"


def test_the_same_analysis_for_live_and_saved_windows(tmp_path):
    raw = _raw()
    save_window(raw, tmp_path / "w")
    live, saved = analyse_window(raw), analyse_window(load_window(tmp_path / "w"))
    assert live.trace == saved.trace
    assert [f.name for f in live.cpu.top(10)] == [f.name for f in saved.cpu.top(10)]
    assert live.goroutines_end == saved.goroutines_end
    # The end dump came from the leak profile: its (leaked) markers are the proof.
    assert live.leaked_goroutines == sum(1 for g in live.goroutines_end if g.leaked) > 0


def test_earlier_folder_names_and_files_captured_by_hand(tmp_path):
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    (legacy / "goroutines.txt").write_bytes(LEAK_DUMP.read_bytes())
    (legacy / "goroutineleak.txt").write_bytes(DEBUG1.read_bytes())
    (legacy / "triage.json").write_text(json.dumps({"seconds": 3, "errors": {"cpu": "refused"}}))
    raw = load_window(legacy)
    assert raw.goroutines_end == LEAK_DUMP.read_bytes() and raw.seconds == 3.0
    assert raw.end_dump_marked, "a folder with the leak profile had a marked end dump"
    assert raw.file_name("goroutines_end") == "goroutines.txt"
    by_hand = tmp_path / "by-hand"
    by_hand.mkdir()
    (by_hand / "x.bin").write_bytes(TRACE.read_bytes())
    (by_hand / "p.raw").write_bytes(gzip.decompress(PROFILE.read_bytes()))  # plain protobuf
    (by_hand / "crash.log").write_bytes(CRASH.read_bytes())
    raw = load_window(by_hand)
    assert raw.trace is not None and raw.cpu_profile is not None and raw.goroutines_end is None
    assert any("crash log" in n for n in raw.notes)


def test_one_sniffer_knows_every_format():
    assert sniff(TRACE.read_bytes()) == "trace"
    assert sniff(PROFILE.read_bytes()) == "profile"
    assert sniff(gzip.decompress(PROFILE.read_bytes())) == "profile"
    assert sniff(LOAD_DUMP.read_bytes()) == "goroutines"
    assert sniff(DEBUG1.read_bytes()) == "leak_profile"
    assert sniff((SAMPLES / "goroutines" / "go1.26-quiet-debug1.txt").read_bytes()) == "goroutine_profile"
    assert sniff(CRASH.read_bytes()) == "crash"
    assert sniff(b"hello") is None and sniff(b"") is None


def test_goperf_analyze_reads_a_window_folder(tmp_path, capsys):
    save_window(_raw(), tmp_path / "w")
    assert main(["analyze", str(tmp_path / "w"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "window" and out["seconds"] == 2.0
    assert set(out["parts"]) == {"trace", "cpu_profile", "goroutines_start", "goroutines_end", "leak_profile"}
    assert out["parts"]["trace"]["kind"] == "trace" and out["parts"]["cpu_profile"]["kind"] == "profile"
    assert out["parts"]["goroutines_end"]["leaked"] > 0
    assert main(["analyze", str(tmp_path / "w")]) == 0
    assert "== trace" in capsys.readouterr().out


def test_parse_errors_name_the_file_they_came_from(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "goroutines-end.txt").write_text("goroutine 1 [running]:\nmain.main()\n\tnot a file line\n")
    with pytest.raises(Exception, match=r"goroutine dump at the end \(goroutines-end.txt\)"):
        analyse_window(load_window(bad))


def test_one_frame_and_its_package_for_generic_functions():
    f = Frame("example.com/svc/cache.(*LRU[go.shape.string,example.com/svc/x.Item]).Get", "/src/lru.go", 42)
    assert f.package == "example.com/svc/cache"
    assert f.location == "/src/lru.go:42" and str(f) == f"{f.function} /src/lru.go:42"
    assert Frame("gopkg.in/yaml%2ev3.Unmarshal").package == "gopkg.in/yaml.v3"


def test_one_grouping_function_with_its_keys():
    gs = parse_goroutines(LOAD_DUMP.read_text())
    for key in (by_stack, by_creation_site, by_stack_prefix):
        groups = group_goroutines(gs, key)
        assert sum(g.count for g in groups) == len(gs)
        assert [g.count for g in groups] == sorted((g.count for g in groups), reverse=True)
        assert all(key(next(x for x in gs if x.id == g.ids[0])) == g.key for g in groups)
    # A prefix key never splits what the full stack joins.
    assert len(group_goroutines(gs, by_stack_prefix)) <= len(group_goroutines(gs, by_stack))


def test_lock_frames_are_one_table():
    assert is_lock_frame("sync.(*Mutex).lockSlow") and is_lock_frame("internal/sync.(*Mutex).Lock")
    assert is_lock_frame("sync.runtime_SemacquireMutex") and is_lock_frame("runtime.semacquire1")
    assert not is_lock_frame("runtime.futex"), "the scheduler parks threads on futex in every busy server"


def test_goperf_baseline_uses_the_projects_baselines_setting(tmp_path, monkeypatch, capsys):
    from pytest_goperf import BaselineStore, MetricBaseline, TestBaseline

    (tmp_path / "pyproject.toml").write_text('[tool.goperf]\nbaselines = "perf/base"\n')
    BaselineStore(tmp_path / "perf" / "base").update(
        "tests/test_a.py::test_x", TestBaseline({"cpu_per_request": MetricBaseline((1.0, 1.1), "ms", "higher")}))
    monkeypatch.chdir(tmp_path)
    assert main(["baseline", "list"]) == 0
    assert "tests/test_a.py::test_x" in capsys.readouterr().out


@pytest.mark.parametrize("meta", [
    '{"seconds": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"seconds": 1e400, "started_at": ' + "9" * 400 + ', "errors": {"trace": {"deep": [1, 2]}}}',
])
def test_a_hostile_window_json_is_noted_not_a_traceback(tmp_path, meta):
    """window.json is input too: deep nesting, numbers beyond a float and non-text errors are ignored."""
    from pytest_goperf.runtime.files import load_window

    samples = Path(__file__).parent / "samples" / "goroutines"
    (tmp_path / "goroutines-end.txt").write_bytes((samples / "go1.26-quiet-debug2.txt").read_bytes())
    (tmp_path / "window.json").write_text(meta)
    raw = load_window(tmp_path)
    assert raw.seconds is None and raw.started_at is None
    assert all(isinstance(v, str) for v in raw.errors.values())
