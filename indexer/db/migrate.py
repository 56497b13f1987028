"""Applying the numbered SQL files in `sql/`, once each, in order.

`NNN_name.sql` runs on every database; `NNN_name.sqlite.sql` or `NNN_name.postgresql.sql`
replaces it on that dialect (views need dialect-specific JSON functions). Each file runs in
its own transaction together with its row in `schema_migrations`, so a crash mid-way leaves
it either applied or not.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from indexer.errors import InvariantError

_logger = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+?)(?:\.(sqlite|postgresql))?\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def migrations_for(dialect: str, sql_dir: Path = SQL_DIR) -> list[Migration]:
    if not sql_dir.is_dir():
        raise InvariantError(f"migrations folder {sql_dir} is missing (install with pip -e .)")
    chosen: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            continue
        version, name, only = int(m.group(1)), m.group(2), m.group(3)
        if only is not None and only != dialect:
            continue
        if version in chosen and only is None:
            continue  # a dialect-specific file of the same version wins
        chosen[version] = Migration(version, name, path)
    return [chosen[v] for v in sorted(chosen)]


def split_statements(sql: str) -> list[str]:
    """Statements of a migration file: `;` at the end of a line ends one."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    parts = re.split(r";\s*$", "\n".join(lines), flags=re.MULTILINE)
    return [p.strip() for p in parts if p.strip()]


def _applied(conn: Connection) -> set[int]:
    conn.execute(text("CREATE TABLE IF NOT EXISTS schema_migrations ("
                      "version INTEGER PRIMARY KEY, name TEXT NOT NULL)"))
    return {int(r[0]) for r in conn.execute(text("SELECT version FROM schema_migrations"))}


def migrate(engine: Engine, sql_dir: Path = SQL_DIR) -> list[int]:
    """Apply what is missing; returns the versions applied now (empty when up to date)."""
    with engine.begin() as conn:
        done = _applied(conn)
    applied: list[int] = []
    for mig in migrations_for(engine.dialect.name, sql_dir):
        if mig.version in done:
            continue
        try:
            with engine.begin() as conn:
                for stmt in split_statements(mig.path.read_text()):
                    conn.exec_driver_sql(stmt)
                conn.execute(text("INSERT INTO schema_migrations (version, name) "
                                  "VALUES (:v, :n)"), {"v": mig.version, "n": mig.name})
        except IntegrityError:
            # NOTE: another process applied it between our check and our insert.
            _logger.debug("migration %03d applied concurrently", mig.version)
            continue
        _logger.info("applied migration %03d_%s", mig.version, mig.name)
        applied.append(mig.version)
    return applied
