"""Shared fixtures: the real vectors in ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LOCKEDBTC_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; skips the calling test when it is not there."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared test data not found at {p} (set LOCKEDBTC_SHARED_DATA or "
                    "check out the project beside ../shared)")
    return p


def load_json(*parts: str) -> Any:
    return json.loads(shared_path(*parts).read_text())


@pytest.fixture
def shared_data() -> Path:
    return shared_path()


# ---------------------------------------------------------------------------- databases

PG_URL = os.environ.get("LOCKEDBTC_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("LOCKEDBTC_REQUIRE_PG", "") not in ("", "0", "false")


def _pg_schema_url() -> Any:
    """A fresh schema in the test database; yields its URL, drops it afterwards."""
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # any failure to reach the server
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (LOCKEDBTC_REQUIRE_PG) but {PG_URL} failed: "
                        f"{str(exc).splitlines()[0]}")
        pytest.skip(f"no PostgreSQL server at {PG_URL} (set LOCKEDBTC_TEST_PG to run these)")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Each test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
    else:
        yield from _pg_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"
