"""Fixtures of the reliability tests: pairs of empty databases of one kind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.support import pg_role_schema


def _pair(kind: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.sqlite3'}", f"sqlite:///{tmp_path / 'b.sqlite3'}"
        return
    with contextlib.ExitStack() as stack:
        a, _, _ = stack.enter_context(pg_role_schema())
        b, _, _ = stack.enter_context(pg_role_schema())
        yield a, b


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases of the same kind (a reference and one under test)."""
    yield from _pair(request.param, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql",
                                               marks=[pytest.mark.postgres, pytest.mark.slow])])
def db_pair_pg_slow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`db_pair` whose PostgreSQL variant only runs with `-m slow` (long tests whose
    database-specific part another default test already covers on PostgreSQL)."""
    yield from _pair(request.param, tmp_path)
