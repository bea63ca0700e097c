"""The public API: one list (kept sorted by ruff), every name resolves, no submodule shadows a name, returned types are exported."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
import typing

import pytest_goperf
from pytest_goperf import errors


def _all_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(pytest_goperf.__path__, "pytest_goperf.")]


def test_all_is_sorted_and_every_name_resolves():
    assert len(set(pytest_goperf.__all__)) == len(pytest_goperf.__all__)
    for name in pytest_goperf.__all__:
        assert getattr(pytest_goperf, name) is not None, name


def test_no_submodule_shadows_a_public_name():
    """`from pytest_goperf import gate` is the function even after every submodule was imported."""
    for name in _all_modules():
        importlib.import_module(name)
    shadowed = [n for n in pytest_goperf.__all__ if isinstance(getattr(pytest_goperf, n), types.ModuleType)]
    assert not shadowed
    assert callable(pytest_goperf.gate) and callable(pytest_goperf.compare)


def test_every_exception_is_ours_and_in_the_tree():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.GoperfError), name
        assert getattr(pytest_goperf, name) is cls
        assert cls.__doc__, f"{name} says when it is raised"
    assert issubclass(errors.GoroutineLeakError, AssertionError)
    assert issubclass(errors.PerformanceRegressionError, AssertionError)
    assert issubclass(errors.UsageError, ValueError) and issubclass(errors.UsageError, TypeError)


def _classes_in(annotation: object) -> set[type]:
    out: set[type] = set()
    if isinstance(annotation, type):
        out.add(annotation)
    for arg in typing.get_args(annotation):
        out |= _classes_in(arg)
    origin = typing.get_origin(annotation)
    if isinstance(origin, type):
        out.add(origin)
    return out


def test_every_type_a_public_function_returns_is_exported():
    exported = {id(getattr(pytest_goperf, n)) for n in pytest_goperf.__all__}
    namespace = {n: getattr(pytest_goperf, n) for n in pytest_goperf.__all__}
    missing = {}
    for name in pytest_goperf.__all__:
        obj = getattr(pytest_goperf, name)
        if not inspect.isfunction(obj):
            continue
        module = importlib.import_module(obj.__module__)
        hints = typing.get_type_hints(obj, {**namespace, **vars(module)})
        for cls in _classes_in(hints.get("return")):
            if cls.__module__.startswith("pytest_goperf") and id(cls) not in exported:
                missing.setdefault(name, []).append(cls.__name__)
    assert not missing, missing
