"""The baseline store, the environment fingerprint and `goperf baseline`."""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from pytest_goperf import cli
from pytest_goperf.baseline import store as _store
from pytest_goperf.baseline.environment import (
    Environment,
    _cpu_model,
    capture_environment,
    mismatches,
)
from pytest_goperf.baseline.store import (
    FORMAT,
    VERSION,
    BaselineError,
    BaselineStore,
    MetricBaseline,
    TestBaseline,
    diff,
    dumps,
    file_name_for,
    read_baseline_file,
)
from pytest_goperf.cli.baseline import parse_nodeids

REPO = Path(__file__).resolve().parent.parent
MOD = "tests/test_api.py"


def _tb(values=(0.25, 0.5, 1 / 3), goroutines=(12, 12, 12), env=None, updated="2026-11-26T10:00:00Z"):
    return TestBaseline(
        {
            "cpu.share:main.spinCore": MetricBaseline(tuple(values), "share", "higher"),
            "goroutines": MetricBaseline(tuple(goroutines), "goroutines", "higher"),
        },
        env,
        updated,
    )


ENV = Environment(
    go_version="go1.26.8", gomaxprocs=2, build_flags=("-trimpath",), cpu_model="AMD EPYC 7B13", cpu_count=2,
    os="Linux x86_64", kernel="6.1.0", commit="0" * 40, date="2026-11-26T10:00:00Z",
    plugin_version="0.1.0", python_version="3.11.7",
)


# --------------------------------------------------------------------------
# file names and format


@pytest.mark.parametrize(
    ("nodeid", "name"),
    [
        ("tests/test_api.py::test_get", "tests__test_api.py.json"),
        ("tests/test_api.py::TestX::test_y[a/b-1]", "tests__test_api.py.json"),
        ("test_top.py::t", "test_top.py.json"),
        ("tests\\win\\test_w.py::t", "tests__win__test_w.py.json"),
        ("tests/sub dir/test_ü.py::t", "tests__sub%20dir__test_%C3%BC.py.json"),
        (".hidden/test_h.py::t", "%2Ehidden__test_h.py.json"),
    ],
)
def test_file_name_rule(nodeid, name):
    assert file_name_for(nodeid) == name


def test_round_trip_keeps_every_value_exactly(tmp_path):
    store = BaselineStore(tmp_path / "b")
    awkward = (0.1 + 0.2, 1e-300, 123456789.12345679, 2.0**-1074, 5e-324 * 3, 0.3)
    tb = _tb(values=awkward, env=ENV)
    store.update(f"{MOD}::test_a[x-1]", tb)
    back = store.load(f"{MOD}::test_a[x-1]")
    assert back == tb
    assert back.metrics["cpu.share:main.spinCore"].values == awkward
    assert [type(v) for v in back.metrics["goroutines"].values] == [int, int, int]
    assert store.load(f"{MOD}::other") is None
    assert store.load("tests/test_none.py::t") is None


def test_file_layout_and_stable_bytes(tmp_path):
    a, b = BaselineStore(tmp_path / "a"), BaselineStore(tmp_path / "b")
    tests = {f"{MOD}::test_{i}": _tb(values=(i / 7, i / 3, 1.5), env=ENV) for i in range(3)}
    a.update_many(tests)
    # Same content in the other order, one test at a time, written twice: same bytes.
    for nodeid in reversed(list(tests)):
        b.update(nodeid, tests[nodeid])
    b.update(f"{MOD}::test_1", tests[f"{MOD}::test_1"])
    data = a.path_for(MOD).read_bytes()
    assert data == b.path_for(MOD).read_bytes()
    text = data.decode()
    assert text.endswith("}\n") and not text.endswith("\n\n")
    doc = json.loads(text)
    assert doc["format"] == FORMAT and doc["version"] == VERSION
    entry = doc["tests"][f"{MOD}::test_2"]
    assert set(entry) == {"environment", "metrics", "updated"}
    assert entry["metrics"]["goroutines"] == {"unit": "goroutines", "values": [12, 12, 12], "worse": "higher"}
    assert entry["environment"]["go_version"] == "go1.26.8"
    assert text == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert text == dumps(tests)


def test_updated_is_filled_in_and_other_tests_are_kept(tmp_path):
    store = BaselineStore(tmp_path)
    store.update(f"{MOD}::a", _tb())
    store.update(f"{MOD}::b", _tb(updated=None))
    stamp = store.load(f"{MOD}::b").updated
    assert dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None
    store.update(f"{MOD}::a", _tb(values=(9.0,)))
    assert store.load(f"{MOD}::a").metrics["cpu.share:main.spinCore"].values == (9.0,)
    assert store.load(f"{MOD}::b").updated == stamp
    assert [e.nodeid for e in store.list()] == [f"{MOD}::a", f"{MOD}::b"]


def test_values_that_cannot_be_stored():
    with pytest.raises(BaselineError, match="finite"):
        MetricBaseline((1.0, float("inf")))
    with pytest.raises(BaselineError, match="not a number"):
        MetricBaseline((1.0, True))
    with pytest.raises(BaselineError, match="worse"):
        MetricBaseline((1.0,), worse="up")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# bad files are refused and never overwritten


def _write(path: Path, text: str) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format": "pytest-goperf-baseline", "version": 1, "tests": {"a": ', r"is corrupt: not valid JSON .* line 1 column"),
        ("", r"is corrupt: not valid JSON"),
        ('{"format": "pytest-benchmark", "version": 1}', r"is not a pytest-goperf baseline file \(format 'pytest-benchmark'"),
        ('[1, 2]', r"is not a pytest-goperf baseline file"),
        ('{"format": "pytest-goperf-baseline", "version": 2, "tests": {}}', r"written by a newer pytest-goperf \(baseline format version 2"),
        ('{"format": "pytest-goperf-baseline", "version": "1", "tests": {}}', r'corrupt: its "version" is \'1\''),
        ('{"format": "pytest-goperf-baseline", "version": 1}', r'"tests" is missing'),
        ('{"format": "pytest-goperf-baseline", "version": 1, "tests": {"tests/test_api.py::t": {"metrics": {"m": {"values": [1, "x"]}}}}}',
         r'tests\["tests/test_api.py::t"\]\.metrics\["m"\]\.values\[1\] is \'x\''),
        ('{"format": "pytest-goperf-baseline", "version": 1, "tests": {"tests/test_api.py::t": {"metrics": {"m": {"values": [NaN]}}}}}',
         r"not valid JSON"),
    ],
)
def test_bad_files_are_reported_and_left_alone(tmp_path, content, message):
    store = BaselineStore(tmp_path)
    path = store.path_for(MOD)
    before = _write(path, content)
    with pytest.raises(BaselineError, match=message) as info:
        store.load(f"{MOD}::t")
    assert str(path) in str(info.value)
    assert "will not overwrite" in str(info.value) or "left untouched" in str(info.value) or "upgrade" in str(info.value)
    with pytest.raises(BaselineError):
        store.update(f"{MOD}::t", _tb())
    with pytest.raises(BaselineError):
        store.prune([f"{MOD}::t"])
    with pytest.raises(BaselineError):
        store.list()
    assert path.read_bytes() == before


def test_a_corrupt_file_does_not_block_other_modules(tmp_path):
    store = BaselineStore(tmp_path)
    _write(store.path_for(MOD), "{oops")
    store.update("tests/test_other.py::t", _tb())
    assert store.load("tests/test_other.py::t") == _tb()


# --------------------------------------------------------------------------
# atomicity and concurrency (separate processes, as pytest-xdist workers are)


def _writer(root: str, nodeids: list[str], rounds: int) -> None:
    store = BaselineStore(root)
    for r in range(rounds):
        for i, n in enumerate(nodeids):
            store.update(n, _tb(values=(float(r), float(i), 0.5)))


def test_parallel_writers_lose_nothing(tmp_path):
    ctx = mp.get_context("spawn")
    workers = 4
    ids = [[f"{MOD}::test_w{w}_{i}" for i in range(8)] for w in range(workers)]
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), ids[w], 3)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    tests = read_baseline_file(BaselineStore(tmp_path).path_for(MOD))
    assert sorted(tests) == sorted(n for group in ids for n in group)
    for group in ids:
        for i, n in enumerate(group):
            assert tests[n].metrics["cpu.share:main.spinCore"].values == (2.0, float(i), 0.5)
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def _stalled_writer(root: str, ready) -> None:
    # Stop between writing the temporary file and renaming it, like a crash there.
    def stall(fd: int) -> None:
        os.fsync(fd)
        ready.set()
        time.sleep(60)

    _store._fsync = stall
    BaselineStore(root).update(f"{MOD}::a", _tb(values=(99.0,) * 1000))


def test_a_writer_killed_mid_write_leaves_the_old_file(tmp_path):
    store = BaselineStore(tmp_path)
    store.update(f"{MOD}::a", _tb())
    before = store.path_for(MOD).read_bytes()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_stalled_writer, args=(str(tmp_path), ready))
    proc.start()
    try:
        assert ready.wait(30), "the writer never reached the rename"
        temps = list(tmp_path.glob(".*.tmp"))
        assert len(temps) == 1 and temps[0].stat().st_size > len(before)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    assert store.path_for(MOD).read_bytes() == before
    assert store.load(f"{MOD}::a") == _tb()
    # The dead writer's lock went with it; the next write works and sweeps its leftovers.
    store.update(f"{MOD}::b", _tb())
    assert {e.nodeid for e in store.list()} == {f"{MOD}::a", f"{MOD}::b"}
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_held_lock_times_out_instead_of_hanging(tmp_path, monkeypatch):
    store = BaselineStore(tmp_path)
    monkeypatch.setattr(_store, "LOCK_TIMEOUT", 0.2)
    with store._locked():
        start = time.monotonic()
        with pytest.raises(BaselineError, match="held the lock"):
            BaselineStore(tmp_path).update(f"{MOD}::a", _tb())
        assert time.monotonic() - start < 5
    BaselineStore(tmp_path).update(f"{MOD}::a", _tb())


# --------------------------------------------------------------------------
# prune, remove, diff


def test_prune_and_remove(tmp_path):
    store = BaselineStore(tmp_path)
    store.update_many({f"{MOD}::a": _tb(), f"{MOD}::b": _tb(), "tests/test_gone.py::x": _tb()})
    keep = [f"{MOD}::a", "tests/test_new.py::n"]
    before = sorted(p.name for p in store.files())
    assert store.prune(keep, dry_run=True) == [f"{MOD}::b", "tests/test_gone.py::x"]
    assert sorted(p.name for p in store.files()) == before
    assert store.prune(keep) == [f"{MOD}::b", "tests/test_gone.py::x"]
    assert [p.name for p in store.files()] == ["tests__test_api.py.json"]  # the emptied file is gone
    assert [e.nodeid for e in store.list()] == [f"{MOD}::a"]
    assert store.remove([f"{MOD}::a", f"{MOD}::zzz"]) == [f"{MOD}::a"]
    assert store.files() == []
    assert BaselineStore(tmp_path / "missing").prune(["x"]) == []


def test_diff_between_two_stores(tmp_path):
    a, b = BaselineStore(tmp_path / "a"), BaselineStore(tmp_path / "b")
    a.update_many({f"{MOD}::same": _tb(), f"{MOD}::moved": _tb(values=(1.0, 2.0, 3.0)), f"{MOD}::old": _tb()})
    b_tb = TestBaseline({"cpu.share:main.spinCore": MetricBaseline((2.0, 2.2, 2.4), "share"),
                         "new.metric": MetricBaseline((1.0,), "s")})
    b.update_many({f"{MOD}::same": _tb(updated="2026-12-01T00:00:00Z"), f"{MOD}::moved": b_tb, f"{MOD}::fresh": _tb()})
    records = {(r.nodeid.split("::")[1], r.metric): r for r in diff(a, b)}
    assert records[("old", None)].status == "only in a"
    assert records[("fresh", None)].status == "only in b"
    assert records[("same", "goroutines")].status == "unchanged"
    moved = records[("moved", "cpu.share:main.spinCore")]
    assert moved.status == "changed" and moved.median_a == 2.0 and moved.median_b == 2.2
    assert moved.relative_change == pytest.approx(0.1)
    assert records[("moved", "goroutines")].status == "only in a"
    assert records[("moved", "new.metric")].status == "only in b"


# --------------------------------------------------------------------------
# environment


def test_environment_capture(tmp_path):
    now = dt.datetime(2026, 11, 26, 12, 30, 5, 123, tzinfo=dt.timezone.utc)
    env = capture_environment(go_version="go1.26.8", gomaxprocs=2, build_flags=["-trimpath"], root=REPO, now=now)
    from pytest_goperf import __version__

    assert env.date == "2026-11-26T12:30:05Z" and env.plugin_version == __version__
    assert env.cpu_count >= 1 and env.os.split()[0] == os.uname().sysname
    assert env.build_flags == ("-trimpath",) and env.gomaxprocs == 2
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    assert env.commit == head
    assert capture_environment(root=tmp_path).commit is None  # not a repository: no commit, no failure
    assert Environment.from_json(json.loads(json.dumps(env.to_json()))) == env
    assert Environment.from_json({**env.to_json(), "new_field_of_a_later_version": 1}) == env


def test_cpu_model_from_cpuinfo_text():
    x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 1\nmodel name\t: AMD EPYC 7B13\n"
    assert _cpu_model(x86) == "AMD EPYC 7B13"
    arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n"
    assert _cpu_model(arm) == "0x41/0xd0c"
    pi = "processor\t: 0\nHardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    assert _cpu_model(pi) == "Raspberry Pi 4 Model B Rev 1.4"


def test_mismatches_name_what_matters_only():
    other = Environment(**{**ENV.to_json(), "build_flags": (), "commit": "1" * 40, "date": "2027-01-01T00:00:00Z",
                           "kernel": "6.9", "python_version": "3.12.1", "go_version": "go1.27.3", "gomaxprocs": 4})
    assert mismatches(ENV, other) == [
        "Go version: go1.26.8 in the baseline, go1.27.3 now",
        "GOMAXPROCS: 2 in the baseline, 4 now",
        "build flags: -trimpath in the baseline, (none) now",
    ]
    assert mismatches(ENV, ENV) == []
    assert mismatches(ENV, Environment()) == []  # unknown is not different
    assert mismatches(ENV, Environment(cpu_model="Intel Xeon", cpu_count=8)) == [
        "CPU model: AMD EPYC 7B13 in the baseline, Intel Xeon now",
        "CPU count: 2 in the baseline, 8 now",
    ]


# --------------------------------------------------------------------------
# goperf baseline


def _run(capsys, *argv):
    code = cli.main(["baseline", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_list_show_diff(tmp_path, capsys):
    a, b = BaselineStore(tmp_path / "a"), BaselineStore(tmp_path / "b")
    a.update_many({f"{MOD}::t1": _tb(env=ENV), "tests/test_z.py::t": _tb()})
    b.update_many({f"{MOD}::t1": _tb(values=(0.5, 0.55, 0.6), env=ENV)})

    code, out, _ = _run(capsys, "list", "--dir", a.root)
    assert code == 0
    assert f"{MOD}::t1" in out and "tests__test_api.py.json" in out and "2 test(s) in 2 file(s)" in out
    code, out, _ = _run(capsys, "list", "--dir", a.root, "--json")
    assert {e["nodeid"]: e["metrics"] for e in json.loads(out)}[f"{MOD}::t1"] == {"cpu.share:main.spinCore": 3, "goroutines": 3}

    code, out, _ = _run(capsys, "show", f"{MOD}::t1", "--dir", a.root)
    assert code == 0 and "Go go1.26.8" in out and "GOMAXPROCS 2" in out
    assert "cpu.share:main.spinCore  share       higher  3       0.333333" in out
    code, out, _ = _run(capsys, "show", a.path_for(MOD), "--json")
    shown = json.loads(out)
    assert shown[0]["metrics"]["cpu.share:main.spinCore"]["values"] == [0.25, 0.5, 1 / 3]
    code, _, err = _run(capsys, "show", f"{MOD}::missing", "--dir", a.root)
    assert code == 2 and err.count("\n") == 1 and f"no baseline for '{MOD}::missing'" in err

    code, out, _ = _run(capsys, "diff", a.root, b.root)
    assert code == 0
    row = next(line for line in out.splitlines() if "cpu.share" in line)
    assert "0.333333" in row and "0.55" in row and "+65.0%" in row
    assert any("tests/test_z.py::t" in line and "only in a" in line for line in out.splitlines())
    code, out, _ = _run(capsys, "diff", a.root, b.root, "--json")
    assert {r["status"] for r in json.loads(out)} == {"changed", "unchanged", "only in a"}


def test_cli_refuses_a_corrupt_file_in_one_line(tmp_path, capsys):
    store = BaselineStore(tmp_path)
    _write(store.path_for(MOD), '{"format": "pytest-goperf-baseline", "version": 7, "tests": {}}')
    code, out, err = _run(capsys, "list", "--dir", tmp_path)
    assert code == 2 and out == "" and err.count("\n") == 1 and "newer pytest-goperf" in err


def test_cli_prune_from_a_collect_only_listing(tmp_path, capsys):
    store = BaselineStore(tmp_path / "b")
    store.update_many({f"{MOD}::keep[1]": _tb(), f"{MOD}::drop": _tb(), "tests/test_gone.py::x": _tb()})
    listing = tmp_path / "ids.txt"
    listing.write_text(f"{MOD}::keep[1]\n{MOD}::other\n\n3 tests collected in 0.02s\n")
    code, out, _ = _run(capsys, "prune", "--dir", store.root, "--tests-file", listing, "--dry-run")
    assert code == 0 and "would remove 2 baseline(s)" in out
    assert len(store.list()) == 3
    code, out, _ = _run(capsys, "prune", "--dir", store.root, "--keep-from", listing)
    assert code == 0 and f"removed {MOD}::drop" in out and "removed tests/test_gone.py::x" in out
    assert [e.nodeid for e in store.list()] == [f"{MOD}::keep[1]"]
    empty = tmp_path / "empty.txt"
    empty.write_text("no tests ran in 0.01s\n")
    code, _, err = _run(capsys, "prune", "--dir", store.root, "--tests-file", empty)
    assert code == 2 and "refusing to remove every baseline" in err
    assert len(store.list()) == 1


def test_parse_nodeids_skips_summary_and_indented_lines():
    text = "a.py::t1\na.py::T::t2[x::y]\n  <Function t>\n\n2 tests collected in 0.01s\n"
    assert parse_nodeids(text) == ["a.py::t1", "a.py::T::t2[x::y]"]


def test_cli_prune_by_collecting(tmp_path, capsys, monkeypatch):
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (project / "tests" / "test_a.py").write_text(textwrap.dedent("""
        import pytest
        @pytest.mark.parametrize("n", [1, 2])
        def test_p(n): pass
        def test_q(): pass
    """))
    store = BaselineStore(project / ".goperf" / "baselines")
    store.update_many({"tests/test_a.py::test_p[1]": _tb(), "tests/test_a.py::test_p[3]": _tb(),
                       "tests/test_a.py::test_q": _tb(), "tests/test_b.py::test_old": _tb()})
    monkeypatch.chdir(project / "tests")  # the project root is found upwards; the default store with it
    code, out, _ = _run(capsys, "prune", "--collect")
    assert code == 0, out
    assert [e.nodeid for e in store.list()] == ["tests/test_a.py::test_p[1]", "tests/test_a.py::test_q"]
    # A collection error prunes nothing.
    (project / "tests" / "test_c.py").write_text("def broken(:\n")
    store.update("tests/test_b.py::test_old", _tb())
    code, _, err = _run(capsys, "prune", "--collect")
    assert code == 2 and "test collection" in err and "nothing pruned" in err
    assert len(store.list()) == 3


def test_environment_from_json_tolerates_odd_values():
    env = Environment.from_json({"gomaxprocs": "2", "cpu_count": 4, "build_flags": ["-race", 1], "os": "Linux x86_64"})
    assert env.gomaxprocs is None and env.cpu_count == 4 and env.build_flags == ("-race", "1")


# --------------------------------------------------------------------------
# hardening (issue 13): each reproducer, a BaselineError naming the file or a verdict


def _file_with_values(tmp_path, values, name="tests__test_api.py.json"):
    doc = json.loads(dumps({f"{MOD}::test_get": _tb()}))
    doc["tests"][f"{MOD}::test_get"]["metrics"]["goroutines"]["values"] = values
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_deeply_nested_json_is_a_corrupt_file_not_a_recursion_error(tmp_path):
    path = tmp_path / "tests__test_api.py.json"
    path.write_text('{"format": "pytest-goperf-baseline", "tests": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001)
    with pytest.raises(BaselineError, match=rf"baseline file {path} is corrupt: its JSON is nested too deeply"):
        read_baseline_file(path)
    path.write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(BaselineError, match="nested too deeply"):
        BaselineStore(tmp_path).load(f"{MOD}::test_get")


def test_a_400_digit_integer_is_a_corrupt_file_not_an_overflow(tmp_path):
    path = _file_with_values(tmp_path, [12, 10**400, 12])
    with pytest.raises(BaselineError, match=r"corrupt: .*values\[1\] is an integer of 401 digits"):
        read_baseline_file(path)
    with pytest.raises(BaselineError, match="out of the range of a float"):
        MetricBaseline((1, 10**400))


def _gate(baseline_values, current, name="goroutines.delta"):
    from pytest_goperf.comparison.metrics import get_metric
    from pytest_goperf.comparison.stats import ComparisonPolicy
    from pytest_goperf.comparison.verdict import MetricSample, TestMeasurement, evaluate

    nodeid = f"{MOD}::test_get"
    base = TestBaseline({name: MetricBaseline(tuple(baseline_values))})
    policy = ComparisonPolicy.of(get_metric(name))
    t = TestMeasurement(nodeid, {name: MetricSample(policy, tuple(current))})
    return evaluate([t], {nodeid: base}).result.verdicts[0]


@pytest.mark.parametrize("name", ["runnable.p99", "latency.p99", "throughput"])
@pytest.mark.parametrize("current", [(0.0,) * 5, (3.0,) * 5, (1.0, 2.0, 3.0, 4.0, 5.0)])
def test_one_baseline_round_against_more_gives_a_verdict(name, current):
    """Issue 13: 1 stored round vs 5 with ties made scipy raise ValueError at session end."""
    from pytest_goperf.comparison.status import Status

    cmp = _gate([3.0], current, name)
    assert cmp.status is Status.NOT_ENOUGH_DATA
    assert "need at least" in cmp.reason and "have 1+5" in cmp.reason


@pytest.mark.parametrize("values", [(1.7e308, 1.79e308, 1.6e308), (-1.7e308, 1.7e308, 0.0), (5e-324, 0.0, 1e-320)])
def test_values_near_the_float_limits_give_a_verdict(values):
    cmp = _gate(values, (1.0, 2.0, 3.0, 4.0, 5.0), "latency.p99")
    assert str(cmp.status) in ("regressed", "improved", "unchanged", "not enough data")


def test_huge_integers_handed_to_the_comparison_are_a_stats_error():
    from pytest_goperf.comparison.stats import ComparisonPolicy, compare
    from pytest_goperf.errors import StatsError

    with pytest.raises(StatsError, match="beyond the range of a float"):
        compare([1, 10**400], [1.0, 2.0], ComparisonPolicy("m"))


def test_enumerated_permutation_p_equals_scipys():
    """The p for one-round samples is counted by hand; on samples scipy accepts both agree exactly."""
    import numpy as np
    import scipy.stats as st

    from pytest_goperf.comparison.stats import _mwu_p_enumerated

    rng = np.random.default_rng(13)
    for _ in range(40):
        x = rng.integers(0, 3, rng.integers(2, 5)).astype(float)
        y = rng.integers(0, 3, rng.integers(2, 5)).astype(float)
        for alt in ("greater", "less"):
            want = st.mannwhitneyu(x, y, alternative=alt, method=st.PermutationMethod(n_resamples=np.inf)).pvalue
            assert _mwu_p_enumerated(x, y, alt) == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("err", [28, 30])  # ENOSPC (disk full), EROFS (read-only file system)
def test_a_failed_write_is_a_baseline_error_and_the_old_file_survives(tmp_path, monkeypatch, err):
    store = BaselineStore(tmp_path)
    store.update(f"{MOD}::test_get", _tb())
    path = store.path_for(f"{MOD}::test_get")
    before = path.read_bytes()

    def full(fd):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(_store, "_fsync", full)
    with pytest.raises(BaselineError, match=rf"cannot write the baseline file {path}: {os.strerror(err)} "
                                            r"\(the previous file is unchanged\)"):
        store.update(f"{MOD}::test_get", _tb(values=(9, 9, 9)))
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


_CONFTEST = '''
import json, os, errno
import pytest
from pytest_goperf.baseline import store
from pytest_goperf.plugin.measuring import MEASUREMENT_ATTRIBUTE

if os.environ.get("FAIL_FSYNC"):
    def _full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    store._fsync = _full

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        m = {"values": [10.0, 11.0, 10.5, 12.0, 9.5], "gated": True, "unit": "ms", "worse": "higher",
             "min_effect_rel": 0.05, "min_effect_abs": None, "log_scale": True, "exact": False}
        payload = {"nodeid": item.nodeid, "passed": True, "file": None, "line": None, "environment": None,
                   "metrics": {"latency.p99": m}}
        setattr(report, MEASUREMENT_ATTRIBUTE, json.dumps(payload))
        if not item.config.getoption("goperf_update_baselines"):
            # What the plugin's in-test judge attaches: this test's verdict against its stored baseline.
            from pytest_goperf.baseline.store import BaselineStore
            from pytest_goperf.comparison.verdict import evaluate, measurement_from_json
            from pytest_goperf.plugin.gating import EVALUATION_ATTRIBUTE

            baseline = BaselineStore(item.config.rootpath / ".goperf" / "baselines").load(item.nodeid)
            ev = evaluate([measurement_from_json(payload)], {item.nodeid: baseline})
            setattr(report, EVALUATION_ATTRIBUTE, json.dumps(ev.to_json()))
    return report
'''


def test_session_end_write_failures_are_our_error_and_keep_the_verdicts(pytester, monkeypatch):
    """Issue 13: a full disk at session end was a raw OSError traceback from pytest_sessionfinish."""
    pytester.makefile(".toml", pyproject="[tool.goperf]\n")
    pytester.makeconftest(_CONFTEST)
    pytester.makepyfile(test_api="def test_get():\n    pass\n")
    ok = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--goperf-update-baselines")
    assert ok.ret == 0
    stored = pytester.path / ".goperf" / "baselines" / "test_api.py.json"
    before = stored.read_bytes()

    monkeypatch.setenv("FAIL_FSYNC", "1")
    full = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--goperf-update-baselines")
    assert full.ret == pytest.ExitCode.TESTS_FAILED
    full.stdout.fnmatch_lines(["*goperf gate error: cannot write the baseline file *test_api.py.json: "
                               "No space left on device (the previous file is unchanged)*"])
    assert "Traceback" not in full.stdout.str() + full.stderr.str()
    assert stored.read_bytes() == before

    # Comparing: the report cannot be written (a directory is in the way), the verdict is still printed.
    monkeypatch.delenv("FAIL_FSYNC")
    (pytester.path / "report.json").mkdir()
    compared = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--goperf-report=report.json")
    assert compared.ret == pytest.ExitCode.TESTS_FAILED
    compared.stdout.fnmatch_lines(["*goperf gate error: cannot write the --goperf-report file report.json*",
                                   "*latency.p99*"])
    assert "Traceback" not in compared.stdout.str() + compared.stderr.str()


@pytest.fixture
def small_fs(tmp_path):
    """A real 256 KiB tmpfs (root may mount one here; skipped where that is not allowed)."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_really_full_disk_and_a_really_read_only_store(small_fs):
    """The same as above on a real file system: ENOSPC from a full tmpfs, EROFS after remounting it read-only."""
    store = BaselineStore(small_fs / "baselines")
    nodeid = f"{MOD}::test_get"
    store.update(nodeid, _tb())
    path = store.path_for(nodeid)
    before = path.read_bytes()
    filler = small_fs / "filler"
    with open(filler, "wb", buffering=0) as fh:  # fill the file system to the last block
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError:
            pass
    big = _tb(values=tuple(float(i) for i in range(2000)))
    with pytest.raises(BaselineError, match=rf"cannot write the baseline file {path}: No space left on device "
                                            r"\(the previous file is unchanged\)"):
        store.update(nodeid, big)
    assert path.read_bytes() == before and not list(path.parent.glob(".*.tmp"))
    filler.unlink()
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    with pytest.raises(BaselineError, match=rf"{path}: Read-only file system"):
        store.update(nodeid, big)
    assert path.read_bytes() == before
