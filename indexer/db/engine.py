"""Opening the database: SQLite by default, PostgreSQL through psycopg 3.

Connection failures become one-line `StorageError`s with the URL's password removed.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from indexer.errors import StorageError, redact

_logger = logging.getLogger(__name__)

DEFAULT_DB = "sqlite:///lockedbtc.sqlite3"


def normalise_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` as psycopg 3 URLs (psycopg2 is not used)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


#: How long an SQLite write waits for another process's lock before failing.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # NOTE: WAL keeps readers (dashboards, `locked`) unblocked while the daemon writes;
    # synchronous=NORMAL in WAL mode loses no committed transaction on a process crash.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
    cur.close()
    # NOTE: Python's sqlite3 module only opens a transaction before INSERT/UPDATE/DELETE:
    # DDL (a migration's CREATE VIEW) ran in autocommit, so a crash mid-migration left it
    # half applied and every later start failed on "already exists". Turning the module's
    # own transaction handling off and sending BEGIN ourselves (below) makes every
    # `engine.begin()` block one real transaction, DDL included.
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    """An engine for `url`, checked with one round trip so failures surface here."""
    url = normalise_url(url)
    safe = redact(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(f"not a database URL: {safe}",
                           "use sqlite:///FILE or postgresql+psycopg://USER@HOST/DB") from None
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(url)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        elif parsed.get_backend_name() == "postgresql":
            engine = create_engine(url, pool_pre_ping=True)
        else:
            raise StorageError(f"unsupported database {parsed.get_backend_name()!r} in {safe}",
                               "lockedbtc supports SQLite and PostgreSQL")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StorageError(f"no driver for {safe}: {exc}",
                           "use postgresql+psycopg:// (psycopg 3 is installed)") from None
    except DBAPIError as exc:
        reason = redact(str(exc.orig).strip().splitlines()[0]) if exc.orig else "unknown error"
        raise StorageError(f"cannot open the database {safe}: {reason}",
                           "check --db / LOCKEDBTC_DB and that the server is running") from None
    _logger.debug("database %s open", safe)
    return engine
