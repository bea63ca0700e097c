"""The baseline store: every round's value per test and metric, in reviewable JSON.

One file per test module under the store's directory (default
``.goperf/baselines/`` in the project root)::

    {"format": "pytest-goperf-baseline", "version": 1,
     "tests": {NODEID: {"environment": {...}, "updated": "...Z",
                        "metrics": {NAME: {"unit": "...", "worse": "higher", "values": [...]}}}}}

written with sorted keys, two-space indent and a final newline, so writing
the same content twice gives the same bytes and a refresh reads as a diff.

Writes take an exclusive ``flock`` on the store directory (several pytest-xdist
workers may update tests of one module at once), re-read the module's file,
change only the tests given, and replace the file atomically (temporary file,
fsync, ``os.replace``): a writer killed at any moment leaves the old file
whole. A file that is corrupt, of another format or of a newer version raises
:class:`BaselineError` and is never overwritten.
"""

from __future__ import annotations

import builtins
import datetime as _dt
import errno
import json
import math
import numbers
import os
import re
import statistics
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from ..config import DEFAULT_BASELINES
from ..errors import BaselineError
from .environment import Environment

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_DIR",
    "FORMAT",
    "VERSION",
    "BaselineDiff",
    "BaselineEntry",
    "BaselineError",
    "BaselineStore",
    "MetricBaseline",
    "TestBaseline",
    "diff",
    "dumps",
    "file_name_for",
    "read_baseline_file",
]

FORMAT = "pytest-goperf-baseline"
VERSION = 1
DEFAULT_DIR = DEFAULT_BASELINES
# A writer waits this long for the store's lock before giving up (never hangs).
LOCK_TIMEOUT = 60.0

# os.fsync, as a module attribute so a test can stop a writer exactly between
# writing and renaming (to prove that a crash there leaves the old file whole).
_fsync = os.fsync


@dataclass(frozen=True, slots=True)
class MetricBaseline:
    """The recorded rounds of one metric of one test.

    ``values`` keeps integers as integers (goroutine counts read back as 12,
    not 12.0) and every other number as a float written with ``repr``, which
    reads back to the same float.
    """

    values: tuple[float, ...]
    unit: str = ""
    worse: Literal["higher", "lower"] = "higher"

    def __post_init__(self) -> None:
        clean: list[float] = []
        for i, v in enumerate(self.values):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise BaselineError(f"baseline round {i} is {v!r}, not a number")
            try:
                v = int(v) if isinstance(v, numbers.Integral) else float(v)
                float(v)  # a measurement is a float: an integer beyond float range is not one
            except (OverflowError, ValueError):
                raise BaselineError(f"baseline round {i} is out of the range of a float; not a measurement") from None
            if isinstance(v, float) and not math.isfinite(v):
                raise BaselineError(f"baseline round {i} is {v!r}; only finite values can be stored")
            clean.append(v)
        object.__setattr__(self, "values", tuple(clean))
        if self.worse not in ("higher", "lower"):
            raise BaselineError(f"worse must be 'higher' or 'lower', got {self.worse!r}")

    @property
    def median(self) -> float | None:
        return float(statistics.median(self.values)) if self.values else None


@dataclass(frozen=True, slots=True)
class TestBaseline:
    """Everything stored for one test: its metrics, where they were measured, and when."""

    __test__: ClassVar[bool] = False  # not a pytest test class, despite the name

    metrics: Mapping[str, MetricBaseline]
    environment: Environment | None = None
    updated: str | None = None  # UTC ISO 8601; set by the store when None

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", MappingProxyType(dict(sorted(self.metrics.items()))))

    def __reduce__(self) -> tuple[Any, ...]:
        # A mapping proxy does not pickle; multiprocessing and xdist may need to.
        return (TestBaseline, (dict(self.metrics), self.environment, self.updated))


@dataclass(frozen=True, slots=True)
class BaselineEntry:
    """One test as listed by :meth:`BaselineStore.list`."""

    nodeid: str
    file: Path
    baseline: TestBaseline

    @property
    def metrics(self) -> Mapping[str, MetricBaseline]:
        return self.baseline.metrics

    @property
    def environment(self) -> Environment | None:
        return self.baseline.environment


DiffStatus = Literal["changed", "unchanged", "only in a", "only in b"]


@dataclass(frozen=True, slots=True)
class BaselineDiff:
    """One test's metric compared across two stores (``metric`` None: the whole test is on one side)."""

    nodeid: str
    metric: str | None
    status: DiffStatus
    unit: str = ""
    n_a: int = 0
    n_b: int = 0
    median_a: float | None = None
    median_b: float | None = None
    relative_change: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid, "metric": self.metric, "status": self.status, "unit": self.unit,
            "n_a": self.n_a, "n_b": self.n_b, "median_a": self.median_a, "median_b": self.median_b,
            "relative_change": self.relative_change,
        }


# --------------------------------------------------------------------------
# file names

_SAFE = re.compile(r"[A-Za-z0-9._-]")


def file_name_for(nodeid: str) -> str:
    """The file holding ``nodeid``'s baseline: its module path, '/' as '__', plus '.json'.

    ``tests/test_api.py::test_get[1]`` -> ``tests__test_api.py.json``. Characters
    other than letters, digits, ``.``, ``_`` and ``-`` are written ``%XX`` (UTF-8),
    and so is a leading dot (dot-files are the store's temporary files).
    """
    module = nodeid.split("::", 1)[0].replace("\\", "/").strip("/")
    if not module:
        raise BaselineError(f"cannot derive a baseline file from node id {nodeid!r}")
    out = []
    for part in module.split("/"):
        out.append("".join(ch if _SAFE.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode()) for ch in part))
    name = "__".join(out)
    if name.startswith("."):
        name = "%2E" + name[1:]
    return name + ".json"


# --------------------------------------------------------------------------
# reading and writing one file


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_baseline_file(path: Path) -> dict[str, TestBaseline]:
    """All tests stored in one baseline file. Raises :class:`BaselineError` on
    anything but a well-formed file of this format and a known version."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _corrupt(path, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BaselineError(f"cannot read baseline file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        where = f"line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "somewhere"
        raise _corrupt(path, f"not valid JSON ({getattr(exc, 'msg', exc)} at {where})") from None
    except RecursionError:
        raise _corrupt(path, "its JSON is nested too deeply to be a baseline file") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise BaselineError(
            f"{path} is not a pytest-goperf baseline file (format {got!r}, expected {FORMAT!r}): "
            f"move it out of {path.parent}; pytest-goperf will not overwrite it"
        )
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _corrupt(path, f"its \"version\" is {version!r}, expected {VERSION}")
    if version > VERSION:
        raise BaselineError(
            f"{path} was written by a newer pytest-goperf (baseline format version {version}; this one "
            f"reads version {VERSION}): upgrade pytest-goperf; the file is left untouched"
        )
    tests = data.get("tests")
    if not isinstance(tests, dict):
        raise _corrupt(path, '"tests" is missing or not an object')
    return {nodeid: _test_from_json(path, nodeid, entry) for nodeid, entry in tests.items()}


def _fits_float(v: int) -> bool:
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _short(v: Any) -> str:
    text = repr(v) if not isinstance(v, (dict, list)) else f"a JSON {'object' if isinstance(v, dict) else 'array'}"
    return text if len(text) <= 60 else text[:57] + "..."


def _corrupt(path: Path, what: str) -> BaselineError:
    return BaselineError(
        f"baseline file {path} is corrupt: {what}. Restore it from version control or delete it, then "
        "record it again with pytest --goperf-update-baselines; pytest-goperf will not overwrite it"
    )


def _test_from_json(path: Path, nodeid: str, entry: Any) -> TestBaseline:
    at = f'tests["{nodeid}"]'
    if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
        raise _corrupt(path, f'{at} has no "metrics" object')
    metrics = {}
    for name, m in entry["metrics"].items():
        where = f'{at}.metrics["{name}"]'
        if not isinstance(m, dict) or not isinstance(m.get("values"), list):
            raise _corrupt(path, f'{where} has no "values" list')
        unit, worse = m.get("unit", ""), m.get("worse", "higher")
        if not isinstance(unit, str) or worse not in ("higher", "lower"):
            raise _corrupt(path, f'{where} has unit {unit!r} / worse {worse!r} (expected a string / "higher" or "lower")')
        for i, v in enumerate(m["values"]):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise _corrupt(path, f"{where}.values[{i}] is {_short(v)}, not a number")
            if isinstance(v, int) and not _fits_float(v):
                raise _corrupt(path, f"{where}.values[{i}] is an integer of {len(str(abs(v)))} digits, beyond any "
                               "measurement (and beyond a float)")
        metrics[name] = MetricBaseline(tuple(m["values"]), unit, worse)
    env = entry.get("environment")
    if env is not None and not isinstance(env, dict):
        raise _corrupt(path, f'{at}.environment is not an object')
    updated = entry.get("updated")
    if updated is not None and not isinstance(updated, str):
        raise _corrupt(path, f'{at}.updated is not a string')
    return TestBaseline(metrics, Environment.from_json(env) if env is not None else None, updated)


def _test_to_json(tb: TestBaseline) -> dict[str, Any]:
    return {
        "environment": tb.environment.to_json() if tb.environment is not None else None,
        "metrics": {
            name: {"unit": m.unit, "values": list(m.values), "worse": m.worse} for name, m in tb.metrics.items()
        },
        "updated": tb.updated,
    }


def dumps(tests: Mapping[str, TestBaseline]) -> str:
    """The exact text of a baseline file holding ``tests`` (stable: same content, same bytes)."""
    doc = {"format": FORMAT, "version": VERSION, "tests": {k: _test_to_json(v) for k, v in tests.items()}}
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------
# the store


class BaselineStore:
    """A directory of baseline files, one per test module.

    Reads need no lock (files are only ever replaced whole); every change takes
    the directory's exclusive lock for its read-modify-write.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"BaselineStore({str(self.root)!r})"

    def path_for(self, nodeid: str) -> Path:
        """The file that holds (or would hold) ``nodeid``."""
        return self.root / file_name_for(nodeid)

    def files(self) -> builtins.list[Path]:
        """The store's baseline files, sorted (temporary dot-files are skipped)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.suffix == ".json" and not p.name.startswith(".") and p.is_file())

    def load(self, nodeid: str) -> TestBaseline | None:
        """The stored baseline of ``nodeid``, or None when it has none."""
        path = self.path_for(nodeid)
        if not path.exists():
            return None
        return read_baseline_file(path).get(nodeid)

    def load_many(self, nodeids: Iterable[str]) -> dict[str, TestBaseline | None]:
        """The stored baselines of ``nodeids`` (None where a test has none), each file read once."""
        files: dict[Path, dict[str, TestBaseline]] = {}
        out: dict[str, TestBaseline | None] = {}
        for nodeid in nodeids:
            path = self.path_for(nodeid)
            if path not in files:
                files[path] = read_baseline_file(path) if path.exists() else {}
            out[nodeid] = files[path].get(nodeid)
        return out

    def list(self) -> builtins.list[BaselineEntry]:
        """Every stored test, sorted by node id."""
        out: builtins.list[BaselineEntry] = []
        for path in self.files():
            out.extend(BaselineEntry(n, path, tb) for n, tb in read_baseline_file(path).items())
        return sorted(out, key=lambda e: e.nodeid)

    def update(self, nodeid: str, baseline: TestBaseline) -> None:
        """Store ``baseline`` as ``nodeid``'s, replacing what it had; other tests are kept."""
        self.update_many({nodeid: baseline})

    def update_many(self, baselines: Mapping[str, TestBaseline]) -> None:
        """Store several tests' baselines, one locked read-modify-write per file.

        ``updated`` is set to now where it is None. Raises :class:`BaselineError`
        (and writes nothing to that file) when a file is corrupt or foreign.
        """
        by_file: dict[Path, dict[str, TestBaseline]] = {}
        now = _utc_now()
        for nodeid, tb in baselines.items():
            if not isinstance(tb, TestBaseline):
                raise BaselineError(f"baseline of {nodeid} must be a TestBaseline, got {type(tb).__name__}")
            if tb.updated is None:
                tb = TestBaseline(tb.metrics, tb.environment, now)
            by_file.setdefault(self.path_for(nodeid), {})[nodeid] = tb
        if not by_file:
            return
        with self._locked():
            for path, changes in sorted(by_file.items()):
                tests = read_baseline_file(path) if path.exists() else {}
                tests.update(changes)
                self._write(path, tests)
            self._sweep_temporaries()

    def remove(self, nodeids: Iterable[str]) -> builtins.list[str]:
        """Delete the given tests' baselines; returns those that existed."""
        wanted = set(nodeids)
        by_file: dict[Path, set[str]] = {}
        for n in wanted:
            by_file.setdefault(self.path_for(n), set()).add(n)
        removed: builtins.list[str] = []
        if not self.root.is_dir():
            return removed
        with self._locked():
            for path, names in sorted(by_file.items()):
                if not path.exists():
                    continue
                tests = read_baseline_file(path)
                gone = sorted(names & tests.keys())
                if gone:
                    self._write(path, {k: v for k, v in tests.items() if k not in names})
                    removed.extend(gone)
        return sorted(removed)

    def prune(self, existing_nodeids: Iterable[str], *, dry_run: bool = False) -> builtins.list[str]:
        """Remove the baselines of tests not in ``existing_nodeids``; returns their node ids.

        A file left without tests is deleted. Every file is read first, so one
        corrupt file stops the prune before anything changes.
        """
        keep = set(existing_nodeids)
        if not self.root.is_dir():
            return []
        if dry_run:
            return sorted(e.nodeid for e in self.list() if e.nodeid not in keep)
        with self._locked():
            contents = {path: read_baseline_file(path) for path in self.files()}
            removed = []
            for path, tests in contents.items():
                gone = [n for n in tests if n not in keep]
                if gone:
                    self._write(path, {k: v for k, v in tests.items() if k in keep})
                    removed.extend(gone)
            self._sweep_temporaries()
        return sorted(removed)

    # -- internals

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store's exclusive lock (a flock on the directory itself: no lock
        file to leave behind or commit). Released by the kernel if the holder dies."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BaselineError(f"cannot create the baseline directory {self.root}: {exc.strerror or exc}") from None
        if fcntl is None:  # pragma: no cover - Windows: single writer only
            yield
            return
        fd = os.open(self.root, os.O_RDONLY)
        try:
            deadline = time.monotonic() + LOCK_TIMEOUT
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise BaselineError(f"cannot lock the baseline directory {self.root}: {exc.strerror}") from None
                    if time.monotonic() > deadline:
                        raise BaselineError(
                            f"another process has held the lock on {self.root} for {LOCK_TIMEOUT:.0f} s; "
                            "if no pytest-goperf run is active, check for a stuck process"
                        ) from None
                    time.sleep(0.005)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _write(self, path: Path, tests: Mapping[str, TestBaseline]) -> None:
        """Replace ``path`` atomically with ``tests`` (delete it when empty). Caller holds the lock."""
        if not tests:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                raise BaselineError(f"cannot remove the emptied baseline file {path}: {exc.strerror or exc}") from None
            self._sync_dir()
            return
        data = dumps(dict(sorted(tests.items()))).encode("utf-8")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                _fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            _unlink_quietly(tmp)
            kept = "the previous file is unchanged" if path.exists() else "no file was written"
            raise BaselineError(
                f"cannot write the baseline file {path}: {exc.strerror or exc} ({kept}); free disk space or make "
                f"{self.root} writable, then run pytest --goperf-update-baselines again"
            ) from None
        except BaseException:
            _unlink_quietly(tmp)
            raise
        self._sync_dir()

    def _sync_dir(self) -> None:
        # Make the rename itself durable (POSIX: the directory entry needs its own fsync).
        try:
            fd = os.open(self.root, os.O_RDONLY)
        except OSError:  # pragma: no cover
            return
        try:
            os.fsync(fd)
        except OSError:  # pragma: no cover - some filesystems refuse
            pass
        finally:
            os.close(fd)

    def _sweep_temporaries(self) -> None:
        """Remove temporary files of writers that died; under the lock no live writer has one."""
        for p in self.root.glob(".*.tmp"):
            _unlink_quietly(p)


def _unlink_quietly(path: Path) -> None:
    """Remove a temporary file; one that cannot be removed now is swept by the next writer."""
    with suppress(OSError):
        path.unlink(missing_ok=True)


def diff(a: BaselineStore, b: BaselineStore) -> list[BaselineDiff]:
    """Per test and metric, how store ``b`` differs from store ``a`` (sorted by test, metric)."""
    ta = {e.nodeid: e.baseline for e in a.list()}
    tb = {e.nodeid: e.baseline for e in b.list()}
    out: list[BaselineDiff] = []
    for nodeid in sorted(ta.keys() | tb.keys()):
        if nodeid not in tb:
            out.append(BaselineDiff(nodeid, None, "only in a", n_a=len(ta[nodeid].metrics)))
            continue
        if nodeid not in ta:
            out.append(BaselineDiff(nodeid, None, "only in b", n_b=len(tb[nodeid].metrics)))
            continue
        ma, mb = ta[nodeid].metrics, tb[nodeid].metrics
        for name in sorted(ma.keys() | mb.keys()):
            x, y = ma.get(name), mb.get(name)
            if y is None:
                out.append(BaselineDiff(nodeid, name, "only in a", x.unit, len(x.values), 0, x.median))  # type: ignore[union-attr]
            elif x is None:
                out.append(BaselineDiff(nodeid, name, "only in b", y.unit, 0, len(y.values), None, y.median))
            else:
                med_a, med_b = x.median, y.median
                rel = (med_b / med_a - 1.0) if med_a and med_b is not None else None
                status: DiffStatus = "unchanged" if x.values == y.values else "changed"
                out.append(BaselineDiff(nodeid, name, status, y.unit or x.unit, len(x.values), len(y.values), med_a, med_b, rel))
    return out
