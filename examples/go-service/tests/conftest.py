"""Helpers shared by the example tests: where things are in the Go source."""

from __future__ import annotations

from pathlib import Path

import pytest

SERVICE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def source_line():
    """``source_line(statement, file)``: ``file:line`` of ``statement`` in the service's source.

    Leak reports name the creation site as file:line; reading the line from
    the source keeps the tests right when the source moves.
    """

    def find(statement: str, file: str = "defects.go") -> str:
        for number, line in enumerate((SERVICE_DIR / file).read_text().splitlines(), 1):
            if statement in line:
                return f"{file}:{number}"
        raise LookupError(f"{statement!r} not found in {file}")

    return find


@pytest.fixture(scope="module")
def fresh_service(go_service_factory):
    """A private copy of the service for tests that leak on purpose."""
    return go_service_factory(name="defects")
