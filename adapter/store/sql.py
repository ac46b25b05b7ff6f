"""The SQL repository (SQLite and PostgreSQL through SQLAlchemy Core).

One :class:`SqlTransaction` is one database transaction. Writes are buffered and flushed as one
``executemany`` per table (pipelined by psycopg, a C loop in sqlite3) before any query that must
see them and at commit, so a Bundle of N entries costs a handful of round trips, not N per
table. The read side is :mod:`adapter.store.sql_reads`.

Concurrency (several forlop processes on one database):
- an update or delete first reads the row ``FOR UPDATE`` (PostgreSQL; SQLite's ``BEGIN
  IMMEDIATE`` already excludes other writers), so versions are gap-free, If-Match is checked
  against the committed version, and no update is lost;
- create-on-update of a new id inserts the row at once with ``ON CONFLICT DO NOTHING``; losing
  that race turns the call into an ordinary update of the winner's row;
- ``lock(keys)`` takes ``pg_advisory_xact_lock`` per key (sorted, so two transactions cannot
  deadlock on each other's keys), released at commit or rollback;
- a deadlock or serialization failure reported by the database becomes a
  :class:`~adapter.store.repository.TransientConflict` (409): run the transaction again.

Timestamps come from the writing process's clock at its first write in the transaction (never
earlier than the resource's previous version). A poller using ``_since`` should overlap its
windows by a little, since transactions commit in a different order than they start.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError

from adapter.fhir.errors import conflict, not_found, precondition_failed
from adapter.search.index import ResourceIndex
from adapter.search.query import SearchQuery
from adapter.store import records, sql_reads
from adapter.store.engine import BEGIN_OPTION, create_engine_from_url
from adapter.store.indexing import Indexer, default_indexer
from adapter.store.migrations import migrate
from adapter.store.repository import HistoryPage, SearchPage, StoredResource, UpdateResult
from adapter.store.schema import (
    idx_date,
    idx_reference,
    idx_string,
    idx_token,
    resource_history,
    resources,
)

Key = tuple[str, str]
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
_UNIQUE_VIOLATION = "23505"
_INDEX_TABLES = (idx_token, idx_reference, idx_date, idx_string)


class SqlRepository:
    """Resources in a SQL database; the schema is migrated when the repository is made."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        indexer: Indexer | None = None,
        max_includes: int = records.DEFAULT_MAX_INCLUDES,
        run_migrations: bool = True,
    ) -> None:
        self.engine = engine
        self.indexer = indexer or default_indexer()
        self.max_includes = max_includes
        self.postgres = engine.dialect.name == "postgresql"
        # Writers of this process queue here. SQLite has one writer at a time: a lock of our own
        # rather than SQLite's busy handler, which polls with sleeps of up to 100 ms. On
        # PostgreSQL, two: a process runs Python one thread at a time, so more concurrent
        # writing transactions only interleave their turns and their lock waits (a discharge
        # push at concurrency 8 took 38 ms of CPU with eight at once, 29 ms with two).
        self._writers = threading.BoundedSemaphore(POSTGRES_WRITERS if self.postgres else 1)
        if run_migrations:
            migrate(engine)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SqlRepository:
        return cls(create_engine_from_url(url), **options)

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[SqlTransaction]:
        queue = nullcontext() if read_only else self._writers
        with queue, self.engine.connect() as conn:
            if not self.postgres:
                conn = conn.execution_options(
                    **{BEGIN_OPTION: "DEFERRED" if read_only else "IMMEDIATE"}
                )
            try:
                with conn.begin():
                    tx = SqlTransaction(self, conn, read_only=read_only)
                    yield tx
                    tx.flush()
            except DBAPIError as exc:
                translated = _translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

    def bulk_load(
        self, resources: Iterable[dict[str, Any]], *, batch_size: int = 1000, analyze: bool = True
    ) -> list[StoredResource]:
        """Create many resources, one transaction per batch. ``analyze=False`` leaves the
        planner statistics to the caller (:meth:`analyze`), for loads made of many calls."""
        out: list[StoredResource] = []
        batch: list[dict[str, Any]] = []
        for resource in resources:
            batch.append(resource)
            if len(batch) >= batch_size:
                out.extend(self._load(batch))
                batch = []
        out.extend(self._load(batch))
        if analyze:
            self.analyze()
        return out

    def analyze(self) -> None:
        """Refresh planner statistics after a bulk load, so searches pick the right indexes."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.commit()

    def _load(self, batch: list[dict[str, Any]]) -> list[StoredResource]:
        if not batch:
            return []
        with self.transaction() as tx:
            return [tx.create(r, id=r.get("id")) for r in batch]

    def close(self) -> None:
        self.engine.dispose()


def _translate(exc: DBAPIError) -> Exception:
    state = getattr(exc.orig, "sqlstate", None)
    if state in _TRANSIENT_SQLSTATES:
        return records.transient_conflict(
            "A concurrent transaction touched the same resources; the transaction was rolled "
            "back and can be retried."
        )
    if state == _UNIQUE_VIOLATION or "UNIQUE constraint failed" in str(exc.orig):
        return conflict("A resource with one of the given ids already exists.")
    return exc


@dataclass
class _Pending:
    """A resource written in this transaction: its newest state and what the database holds.

    ``body`` (the encoded resource, None for a tombstone) is the truth; ``stored.resource`` may
    have been handed to the caller, so it is never read back here."""

    stored: StoredResource
    body: bytes | None
    last_updated: int
    index: ResourceIndex | None
    in_db: bool  # a resources row exists
    db_version: int | None  # the version in that row
    db_indexed: bool  # index rows exist for that row
    history: list[tuple[StoredResource, bytes | None, int]] = field(default_factory=list)

    def current(self) -> StoredResource:
        """The newest state, as a fresh copy."""
        s = self.stored
        resource = records.decode(self.body) if self.body is not None else None
        return records.stored(
            s.resource_type, s.id, s.version_id, self.last_updated, s.deleted, resource
        )


# Statements of every conditional write on PostgreSQL, built once: building one costs more than
# the round trip that runs it.
_CLAIM = (
    postgresql.insert(resources)
    .values(
        res_type=sa.bindparam("res_type"),
        id=sa.bindparam("id"),
        version=1,
        last_updated=sa.bindparam("last_updated"),
        deleted=False,
        body=sa.bindparam("body"),
    )
    .on_conflict_do_nothing(index_elements=["res_type", "id"])
    .returning(resources.c.version)
)
# Every key in one round trip, in the order of the array (sorted by the caller: two
# transactions that want the same keys take them in the same order and cannot deadlock).
_ADVISORY_LOCKS = sa.text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"
)


def _lock_number(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


POSTGRES_WRITERS = 2  # writing transactions at once per process (see SqlRepository.__init__)


def _written_columns(table: sa.Table) -> list[str]:
    """Every column but a generated key, in table order."""
    return [c.name for c in table.columns if not (c.primary_key and c.autoincrement is True)]


@cache
def _insert_sql(table: sa.Table) -> str:
    """INSERT of the written columns in sqlite3's parameter style."""
    columns = _written_columns(table)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )


def _array_type(column: sa.Column[Any]) -> str:
    """The PostgreSQL array type a column's values are sent as: strings as text (the column's
    own length and collation apply on insert), anything else as the column's type."""
    if isinstance(column.type, sa.String):
        return "text[]"
    return f"{column.type.compile(dialect=postgresql.dialect())}[]"  # type: ignore[no-untyped-call]


@cache
def _unnest_insert(table: sa.Table) -> sa.TextClause:
    """PostgreSQL: every row in one statement, one array per column (one round trip, where an
    executemany sends a statement per row)."""
    columns = _written_columns(table)
    arrays = ", ".join(f"CAST(:{c} AS {_array_type(table.c[c])})" for c in columns)
    names = ", ".join(columns)
    return sa.text(f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays})")


class SqlTransaction:
    def __init__(self, repo: SqlRepository, conn: sa.Connection, *, read_only: bool) -> None:
        self.repo = repo
        self.conn = conn
        self.read_only = read_only
        self.pending: dict[Key, _Pending] = {}
        self._now: int | None = None

    # -- helpers ---------------------------------------------------------------------------------

    def _timestamp(self, after: int | None) -> int:
        if self._now is None:
            self._now = records.now_us()
        return self._now if after is None else max(self._now, after)

    def _row_state(self, key: Key) -> _Pending | None:
        """The committed state of ``key``, locking its row against concurrent writers."""
        statement = sql_reads.CURRENT_FOR_UPDATE if self.repo.postgres else sql_reads.CURRENT
        row = self.conn.execute(statement, {"res_type": key[0], "id": key[1]}).first()
        if row is None:
            return None
        body = records.decode(row.body) if row.body is not None else None
        stored = records.stored(key[0], key[1], row.version, row.last_updated, row.deleted, body)
        return _Pending(
            stored, row.body, row.last_updated, None, True, row.version, not row.deleted
        )

    def _state(self, key: Key) -> _Pending | None:
        found = self.pending.get(key)
        if found is None:
            found = self._row_state(key)
            if found is not None:
                self.pending[key] = found
        return found

    def _new_version(
        self, key: Key, version: int, after: int | None, resource: dict[str, Any] | None
    ) -> tuple[StoredResource, bytes | None, int, ResourceIndex | None]:
        last_updated = self._timestamp(after)
        body = index = encoded = None
        if resource is not None:
            body = records.stamp(resource, key[1], version, last_updated)
            index = self.repo.indexer.index(body)
            encoded = records.encode(body)
        stored = records.stored(key[0], key[1], version, last_updated, resource is None, body)
        return stored, encoded, last_updated, index

    def _record(
        self,
        key: Key,
        state: _Pending | None,
        version: int,
        after: int | None,
        resource: dict[str, Any] | None,
    ) -> _Pending:
        stored, body, last_updated, index = self._new_version(key, version, after, resource)
        if state is None:
            state = _Pending(stored, body, last_updated, index, False, None, False)
            self.pending[key] = state
        else:
            state.stored, state.body = stored, body
            state.last_updated, state.index = last_updated, index
        state.history.append((stored, body, last_updated))
        return state

    # -- writes ----------------------------------------------------------------------------------

    def create(self, resource: dict[str, Any], *, id: str | None = None) -> StoredResource:
        records.check_writable(self.read_only)
        resource_type = records.check_body(resource, None, None)
        resource_id = id or records.new_id()
        records.check_id(resource_id)
        key = (resource_type, resource_id)
        if key in self.pending:
            raise conflict(f"{resource_type}/{resource_id} already exists.")
        return self._record(key, None, 1, None, resource).stored

    def update(
        self, resource_type: str, id: str, resource: dict[str, Any], *, if_match: int | None = None
    ) -> UpdateResult:
        records.check_writable(self.read_only)
        records.check_type(resource_type)
        records.check_id(id)
        records.check_body(resource, resource_type, id)
        key = (resource_type, id)
        state = self._state(key)
        if state is None and self.repo.postgres:
            state = self._claim(key, resource, if_match)
            if state.history:
                return UpdateResult(state.stored, created=True)
        current = state.stored.version_id if state else None
        records.check_match(resource_type, id, current, if_match)
        if state is None:
            return UpdateResult(self._record(key, None, 1, None, resource).stored, created=True)
        if state.body is not None and records.content(resource) == records.content(
            records.decode(state.body)
        ):
            return UpdateResult(state.current(), created=False, changed=False)
        was_deleted = state.stored.deleted
        self._record(key, state, state.stored.version_id + 1, state.last_updated, resource)
        return UpdateResult(state.stored, created=was_deleted)

    def _claim(self, key: Key, resource: dict[str, Any], if_match: int | None) -> _Pending:
        """PostgreSQL create-on-update: insert version 1 now, or find who was faster."""
        records.check_match(key[0], key[1], None, if_match)
        stored, body, last_updated, index = self._new_version(key, 1, None, resource)
        inserted = self.conn.execute(
            _CLAIM,
            {"res_type": key[0], "id": key[1], "last_updated": last_updated, "body": body},
        ).first()
        if inserted is not None:
            history = [(stored, body, last_updated)]
            state = _Pending(stored, body, last_updated, index, True, 1, False, history)
        else:
            winner = self._row_state(key)  # waits for the other transaction, then locks its row
            if winner is None:
                raise records.transient_conflict(f"{key[0]}/{key[1]} changed while being created.")
            state = winner
        self.pending[key] = state
        return state

    def delete(
        self, resource_type: str, id: str, *, if_match: int | None = None
    ) -> StoredResource | None:
        records.check_writable(self.read_only)
        records.check_type(resource_type)
        key = (resource_type, id)
        state = self._state(key)
        if state is None or state.stored.deleted:
            if if_match is not None:
                raise precondition_failed(
                    f"{resource_type}/{id} does not exist; If-Match asked for version {if_match}."
                )
            return None
        records.check_match(resource_type, id, state.stored.version_id, if_match)
        self._record(key, state, state.stored.version_id + 1, state.last_updated, None)
        return state.stored

    def lock(self, keys: Iterable[str]) -> None:
        if not self.repo.postgres:
            return  # BEGIN IMMEDIATE holds the database write lock already
        numbers = sorted({_lock_number(key) for key in keys})
        if numbers:
            self.conn.execute(_ADVISORY_LOCKS, {"keys": numbers})

    # -- flush -------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write buffered versions: stale index rows out, resource rows, history, new index rows."""
        changed = [p for p in self.pending.values() if p.history]
        if not changed:
            return
        conn = self.conn
        reindex = [p for p in changed if p.db_indexed]
        if reindex:
            owners = [{"b_type": p.stored.resource_type, "b_id": p.stored.id} for p in reindex]
            for table in _INDEX_TABLES:
                conn.execute(
                    sa.delete(table).where(
                        table.c.res_type == sa.bindparam("b_type"),
                        table.c.res_id == sa.bindparam("b_id"),
                    ),
                    owners,
                )
        inserts = [self._row(p) for p in changed if not p.in_db]
        if inserts:
            self._insert_rows(resources, [tuple(row.values()) for row in inserts])
        updates = [
            {"b_type": p.stored.resource_type, "b_id": p.stored.id, **self._row(p)}
            for p in changed
            if p.in_db and p.db_version != p.stored.version_id
        ]
        if updates:
            r = resources.c
            conn.execute(
                sa.update(resources)
                .where(r.res_type == sa.bindparam("b_type"), r.id == sa.bindparam("b_id"))
                .values(
                    version=sa.bindparam("version"),
                    last_updated=sa.bindparam("last_updated"),
                    deleted=sa.bindparam("deleted"),
                    body=sa.bindparam("body"),
                ),
                [{k: v for k, v in u.items() if k not in ("res_type", "id")} for u in updates],
            )
        history = [
            (s.resource_type, s.id, s.version_id, lu, s.deleted, body)
            for p in changed
            for s, body, lu in p.history
        ]
        self._insert_rows(resource_history, history)
        self._insert_index([p for p in changed if p.index is not None])
        for p in changed:
            p.in_db, p.db_version = True, p.stored.version_id
            p.db_indexed, p.history = p.index is not None, []

    @staticmethod
    def _row(p: _Pending) -> dict[str, Any]:
        s = p.stored
        return {
            "res_type": s.resource_type,
            "id": s.id,
            "version": s.version_id,
            "last_updated": p.last_updated,
            "deleted": s.deleted,
            "body": p.body,
        }

    def _insert_index(self, indexed: Sequence[_Pending]) -> None:
        tokens: list[tuple[Any, ...]] = []
        refs: list[tuple[Any, ...]] = []
        dates: list[tuple[Any, ...]] = []
        strings: list[tuple[Any, ...]] = []
        for p in indexed:
            assert p.index is not None
            rtype, rid = p.stored.resource_type, p.stored.id
            tokens += [(rtype, rid, t.param, t.system, t.code, t.text) for t in p.index.tokens]
            refs += [
                (rtype, rid, x.param, x.target_type, x.target_id, x.reference)
                for x in p.index.references
            ]
            dates += [(rtype, rid, d.param, d.low, d.high) for d in p.index.dates]
            strings += [(rtype, rid, s.param, s.norm, s.exact) for s in p.index.strings]
        for table, rows in (
            (idx_token, tokens),
            (idx_reference, refs),
            (idx_date, dates),
            (idx_string, strings),
        ):
            self._insert_rows(table, rows)

    def _insert_rows(self, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
        """On SQLite, one ``executemany`` through the bare driver: SQLAlchemy's per-row
        parameter processing costs twice what SQLite takes to insert the row (the values are
        plain str, int, bool, bytes and None, which sqlite3 takes as they are). On PostgreSQL,
        one INSERT of arrays (:func:`_unnest_insert`)."""
        if not rows:
            return
        if self.repo.postgres:
            columns = _written_columns(table)
            arrays = {c: [row[i] for row in rows] for i, c in enumerate(columns)}
            self.conn.execute(_unnest_insert(table), arrays)
        else:
            self.conn.exec_driver_sql(_insert_sql(table), rows)

    # -- reads -------------------------------------------------------------------------------

    def read(self, resource_type: str, id: str) -> StoredResource:
        records.check_type(resource_type)
        state = self.pending.get((resource_type, id))
        stored = (
            state.current()
            if state is not None
            else sql_reads.select_current(self.conn, resource_type, id)
        )
        if stored is None:
            raise not_found(f"{resource_type}/{id} is not known.")
        if stored.deleted:
            raise records.gone_error(resource_type, id, stored.version_id)
        return stored

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredResource:
        records.check_type(resource_type)
        self.flush()
        return sql_reads.select_version(self.conn, resource_type, id, version_id)

    def history(
        self,
        resource_type: str | None = None,
        id: str | None = None,
        *,
        since: datetime | None = None,
        count: int = 20,
        cursor: str | None = None,
    ) -> HistoryPage:
        if resource_type is not None:
            records.check_type(resource_type)
        after = records.decode_history_cursor(cursor)
        self.flush()
        return sql_reads.select_history(self.conn, resource_type, id, since, max(count, 0), after)

    def search(self, query: SearchQuery) -> SearchPage:
        self.flush()
        return sql_reads.run_search(self.conn, query, self.repo.max_includes)
