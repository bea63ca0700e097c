"""Function table semantics, classification, warning signs and build info, on captured samples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_goperf.analysis.classify import CLASSES, classify, package_of
from pytest_goperf.analysis.functions import (
    function_table,
    profile_stacks,
    profile_table,
)
from pytest_goperf.errors import ParseError
from pytest_goperf.formats.profile._buildinfo import read_build_info
from pytest_goperf.formats.profile._decode import read_profile

SAMPLES = Path(__file__).parent / "samples" / "profiles"
RELEASES = sorted(p.name for p in SAMPLES.glob("go1.*"))
MAIN_MODULE = "example.com/goperf-demo"


def table_of(release: str, name: str, **kw):
    return profile_table(read_profile((SAMPLES / release / f"{name}.pb.gz").read_bytes()), **kw)


# -- hot_share --------------------------------------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_hot_share_by_name_pattern_and_union(release):
    t = table_of(release, "cpu-work")
    spin = t.get("main.spinCore")
    assert spin is not None
    assert t.hot_share("main.spinCore") == spin.flat / t.total
    assert t.hot_share("main.spinCore", cum=True) == spin.cum / t.total
    # The /work load spends most of its CPU in the two checksum halves.
    assert t.hot_share(["main.spinCore", "main.hashPayload"]) > 0.7
    assert t.hot_share("main.noSuchFunction") == 0.0
    # A pattern sums flat over all matches: here, package main as a whole.
    main_rows = [f for f in t.functions if f.package == "main"]
    assert t.hot_share(re.compile(r"^main\.")) == pytest.approx(sum(f.flat for f in main_rows) / t.total)
    by_pkg = {g.key: g for g in t.by_package()}
    assert t.value(re.compile(r"^main\.")) == by_pkg["main"].flat
    assert t.value(re.compile(r"^main\."), cum=True) == by_pkg["main"].cum
    # Union cum counts a stack once: spinCore only runs under checksum here.
    assert t.value(["main.checksum", "main.spinCore"], cum=True) == t.get("main.checksum").cum
    assert t.value(["main.checksum", "main.spinCore"], cum=True) < (
        t.get("main.checksum").cum + t.get("main.spinCore").cum)


def test_selector_type_is_checked():
    t = table_of("go1.26.8", "cpu-work")
    with pytest.raises(TypeError, match="compiled pattern"):
        t.hot_share([42])  # type: ignore[list-item]


def test_top_by_flat_and_cum():
    t = table_of("go1.27.3", "cpu-work")
    assert {f.name for f in t.top(2)} == {"main.spinCore", "main.hashPayload"}
    cums = [f.cum for f in t.top(10, cum=True)]
    assert cums == sorted(cums, reverse=True) and cums[0] <= t.total


# -- generic stacks (the path execution-trace CPU samples take) ------------------------------


def test_generic_stacks_give_the_same_table_as_the_profile():
    p = read_profile((SAMPLES / "go1.26.8" / "cpu-contention.pb.gz").read_bytes())
    from_profile = profile_table(p)
    names_only = [([fr.function for fr in s.frames], s.weight) for s in profile_stacks(p)]
    generic = function_table(names_only, sample_type="cpu", unit="nanoseconds")
    assert [(f.name, f.flat, f.cum) for f in generic.functions] == [
        (f.name, f.flat, f.cum) for f in from_profile.functions]
    # Weights in sample counts instead of nanoseconds: the same shares.
    counts = function_table([(n, w // p.period) for n, w in names_only])
    assert counts.hot_share("main.spinCore") == pytest.approx(from_profile.hot_share("main.spinCore"))


def test_recursion_counts_once_per_stack():
    t = function_table([(["f", "f", "f", "main.main"], 3), (["g", "f", "main.main"], 1)])
    f = t.get("f")
    assert (f.flat, f.cum) == (3, 4) and t.total == 4
    assert t.get("main.main").cum_share == 1.0
    assert t.hot_share(["f", "g"], cum=True) == 1.0


def test_empty_and_zero_weight_input():
    t = function_table([(["f"], 0)])
    assert t.total == 0 and len(t) == 0 and t.hot_share("f") == 0.0
    assert [g.flat_share for g in t.by_class()] == [0.0] * 5


# -- classification ---------------------------------------------------------------------------

CLASS_CASES = [
    ("main.spinCore", None, "user"),
    ("main.(*api).register.labelled.func4.1", None, "user"),
    (f"{MAIN_MODULE}/internal/store.(*Store).Get", MAIN_MODULE, "user"),
    (f"{MAIN_MODULE}/internal/store.(*Store).Get", None, "module"),
    (f"{MAIN_MODULE}-other/x.F", MAIN_MODULE, "module"),  # a prefix, but another module
    ("runtime.mallocgc", MAIN_MODULE, "runtime"),
    ("runtime.gcBgMarkWorker", None, "runtime"),
    # System calls are a class of their own (issue 12: an I/O-bound Caddy read 80 % "runtime").
    ("internal/runtime/syscall/linux.Syscall6", None, "syscall"),
    ("runtime/internal/syscall.Syscall6", None, "syscall"),  # Go 1.21-1.22 name
    ("syscall.Syscall6", None, "syscall"),
    ("syscall.RawSyscall6", MAIN_MODULE, "syscall"),
    ("syscall.read", None, "stdlib"),
    ("runtime.futex", None, "runtime"),
    ("sync.runtime_SemacquireMutex", None, "runtime"),
    ("internal/poll.runtime_pollWait", None, "runtime"),
    ("type:.eq.[2]interface {}", None, "runtime"),
    ("gcWriteBarrier", None, "runtime"),  # assembly, no package
    ("runtime/pprof.Do", None, "stdlib"),
    ("net/http.(*conn).serve", None, "stdlib"),
    ("sync.(*Mutex).lockSlow", None, "stdlib"),
    ("vendor/golang.org/x/net/http2/hpack.(*Encoder).WriteField", None, "stdlib"),
    ("slices.SortFunc[go.shape.[]*example.com/x/y.T,go.shape.*uint8]", None, "stdlib"),
    ("github.com/jackc/pgx/v5.(*Conn).Query", MAIN_MODULE, "module"),
    ("gopkg.in/yaml%2ev3.(*parser).parse", None, "module"),
    ("golang.org/x/sync/errgroup.(*Group).Go.func1", None, "module"),
]


@pytest.mark.parametrize(("name", "main_module", "expected"), CLASS_CASES)
def test_classify(name, main_module, expected):
    assert classify(name, main_module) == expected


def test_package_of():
    assert package_of("gopkg.in/yaml%2ev3.(*parser).parse") == "gopkg.in/yaml.v3"
    assert package_of("example.com/a/b.(*T).M.func1") == "example.com/a/b"
    assert package_of("slices.SortFunc[go.shape.[]*example.com/x/y.T]") == "slices"


@pytest.mark.parametrize("release", RELEASES)
def test_class_split_of_real_profiles(release):
    work = table_of(release, "cpu-work", main_module=MAIN_MODULE)
    alloc = table_of(release, "cpu-alloc", main_module=MAIN_MODULE)
    for t in (work, alloc):
        assert [g.key for g in t.by_class()] == list(CLASSES)
        assert sum(g.flat for g in t.by_class()) == t.total
        assert sum(g.flat for g in t.by_package()) == t.total
        assert sum(g.flat for g in t.by_file()) == t.total
    assert work.class_share("user") > 0.8
    assert alloc.class_share("runtime") > 0.8
    # The allocation storm is user code calling into the allocator: most of the
    # runtime time sits under main.churn, the rest in GC workers and the scheduler.
    assert alloc.hot_share("main.churn", cum=True) > 0.1
    assert alloc.class_share("user", cum=True) < alloc.class_share("runtime", cum=True)
    # A file's flat is the flat of the functions defined in it.
    files = {g.key: g for g in work.by_file()}
    main_go = next(k for k in files if k.endswith("/main.go"))
    assert files[main_go].flat == sum(f.flat for f in work.functions if f.file == main_go)


# -- warning signs --------------------------------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_warning_signs_on_real_profiles(release):
    work = table_of(release, "cpu-work")
    alloc = table_of(release, "cpu-alloc")
    contention = table_of(release, "cpu-contention")
    assert work.warning_signs() == ()
    fired = {s.key for s in alloc.warning_signs()}
    assert {"allocation", "gc"} <= fired and "locks" not in fired
    sign = next(s for s in alloc.warning_signs() if s.key == "allocation")
    assert sign.functions[0] == "runtime.mallocgc"
    assert sign.share == alloc.hot_share("runtime.mallocgc", cum=True)
    # Many goroutines taking one mutex for a tiny critical section: lockSlow and futex.
    assert [s.key for s in contention.warning_signs()] == ["locks"]
    locks = next(s for s in contention.signals() if s.key == "locks")
    assert locks.share > 0.1 and any("Mutex" in f for f in locks.functions)


# -- build info ---------------------------------------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_build_info_matches_go_version_m(release):
    info = read_build_info((SAMPLES / release / "buildinfo.bin").read_bytes())
    # buildinfo.txt is `go version -m` on the same binary (the toolchain's reading).
    lines = (SAMPLES / release / "buildinfo.txt").read_text().splitlines()
    assert lines[0] == f"goperf-demo: {info.go_version}"
    expected = [ln.strip("\t").split("\t") for ln in lines[1:]]
    ours = [["path", info.path], ["mod", info.main.path, info.main.version, *([info.main.sum] if info.main.sum else [])]]
    ours += [["build", f"{k}={v}"] for k, v in info.settings]
    assert ours == [e for e in expected if e[0] in ("path", "mod", "build")]
    assert info.main_module == MAIN_MODULE
    assert info.go_version == f"go{release.removeprefix('go')}"


def test_build_info_errors():
    data = (SAMPLES / "go1.26.8" / "buildinfo.bin").read_bytes()
    with pytest.raises(ParseError, match="cut short"):
        read_build_info(data[:40])
    with pytest.raises(ParseError, match="no Go build information"):
        read_build_info(b"\x7fELF" + bytes(100))
    old = bytearray(data)
    old[15] = 0  # pre-1.18 layout: strings held by pointers
    with pytest.raises(ParseError, match="before Go 1.18.*main_module="):
        read_build_info(bytes(old))


def test_glob_and_re_strings_select_like_patterns():
    t = table_of("go1.26.8", "cpu-work")
    main_rows = [f for f in t.functions if f.package == "main"]
    expected = sum(f.flat for f in main_rows)
    assert t.value("main.*") == expected
    assert t.value(r"re:main\..*") == expected
    assert t.value(re.compile(r"^main\.")) == expected
    # A method name with "*" in it still selects itself.
    row = max((f for f in t.functions if "(*" in f.name), key=lambda f: f.cum)
    assert row.cum > 0 and t.value(row.name, cum=True) >= row.cum
    assert t.value(["main.spinCore", "main.hash*"], cum=True) == t.value(
        ["main.spinCore", "main.hashPayload"], cum=True)


def test_build_info_damage_is_a_plain_parse_error_naming_the_place():
    """Issue 13: a bad varint escaped as the protobuf decoder's WireError; lengths ran past the data silently."""
    from pytest_goperf.errors import ParseError, ProfileParseError

    data = (SAMPLES / "go1.26.8" / "buildinfo.bin").read_bytes()
    at = data.find(b"\xff Go buildinf:")
    bad_varint = data[: at + 32] + b"\xff" * 11 + data[at + 43 :]
    with pytest.raises(ParseError, match=r"build information is malformed: varint longer than 10 bytes") as info:
        read_build_info(bad_varint)
    assert not isinstance(info.value, ProfileParseError)  # not a profile's error
    assert info.value.where == f"byte offset {at + 32}"
    long_version = data[: at + 32] + b"\xff\xff\x03" + data[at + 35 :]  # version length 65535 > the data
    with pytest.raises(ParseError, match="cut short"):
        read_build_info(long_version[: at + 200])
