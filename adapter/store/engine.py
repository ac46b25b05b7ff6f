"""Database engines from a URL: ``sqlite:///path/to/file.db`` or ``postgresql://...``.

SQLite (the embedded default) is opened in WAL mode with ``synchronous=FULL`` so an acknowledged
write survives a power cut, a ``busy_timeout`` so writers queue instead of failing, and foreign
keys on. forlop issues ``BEGIN IMMEDIATE`` for every writing transaction: the write lock is taken
at the start, which serialises writers (also across processes) and makes ``lock()`` a no-op.
Read-only transactions use ``BEGIN DEFERRED`` and run beside the writer.

PostgreSQL URLs use psycopg 3 (``postgresql://`` becomes ``postgresql+psycopg://``); transactions
run at READ COMMITTED with row locks and advisory locks where a race matters.

Engines are only made by :func:`create_engine_from_url`, never at import time.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

SQLITE_BUSY_TIMEOUT_MS = 30_000
BEGIN_OPTION = "forlop_sqlite_begin"


def create_engine_from_url(url: str, *, pool_size: int = 10) -> sa.Engine:
    """An engine for ``url``; ``ValueError`` for a URL forlop cannot store into."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            raise ValueError("PostgreSQL is reached through psycopg 3 (postgresql+psycopg://).")
        return sa.create_engine(parsed, pool_size=pool_size, max_overflow=pool_size)
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("SQLite needs a file path: sqlite:///path/to/forlop.db")
        engine = sa.create_engine(
            parsed,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    raise ValueError(
        f"Unsupported database URL scheme '{backend}': use sqlite:/// or postgresql://"
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let forlop emit BEGIN itself (the sqlite3 module would otherwise begin lazily, DEFERRED).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous = FULL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Turn on WAL. On a new file several connections may race to do it; SQLite answers the loser
    "database is locked" at once, without waiting on busy_timeout, so try again briefly."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(conn: sa.Connection) -> None:
    mode = conn.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")
    conn.exec_driver_sql(f"BEGIN {'DEFERRED' if mode == 'DEFERRED' else 'IMMEDIATE'}")
