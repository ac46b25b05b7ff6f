"""The SQL repository (SQLite and PostgreSQL through SQLAlchemy Core).

One :class:`SqlTransaction` is one database transaction. Writes are buffered and flushed before
any query that must see them and at commit: new rows as one ``executemany`` per table on SQLite (a
C loop in sqlite3) and as one statement for every table on PostgreSQL, so a Bundle of N entries
costs a handful of round trips, not N per table. The read side is :mod:`adapter.store.sql_reads`.

Concurrency (several forlop processes on one database):
- an update or delete first reads the row ``FOR UPDATE`` (PostgreSQL; SQLite's ``BEGIN
  IMMEDIATE`` already excludes other writers), so versions are gap-free, If-Match is checked
  against the committed version, and no update is lost;
- create-on-update of an id that does not exist writes version 1 with the other rows at the
  flush; when a concurrent transaction created that id first, the insert fails and the
  transaction becomes a :class:`~adapter.store.repository.TransientConflict`: run again, it
  finds the row and updates it;
- ``prefetch(keys)`` reads (PostgreSQL: and locks) the rows a transaction is about to write in
  one statement, in one order, instead of one round trip per resource;
- ``lock(keys)`` takes ``pg_advisory_xact_lock`` per key (sorted, so two transactions cannot
  deadlock on each other's keys), released at commit or rollback;
- a deadlock or serialization failure reported by the database becomes a
  :class:`~adapter.store.repository.TransientConflict` (409): run the transaction again.

Round trips on PostgreSQL: a transaction opens its block (``BEGIN``) only at its first statement
that locks or must be undone with the rest, so a read-only transaction and one whose only write
is its final flush (an AuditEvent, a plain create) send no ``BEGIN`` and no ``COMMIT``. That
changes nothing they see: at READ COMMITTED every statement takes a snapshot of its own anyway,
and a single statement is atomic and durable by itself.

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

import orjson
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
            if self.postgres:
                # The transaction block opens at the first statement that needs it (see
                # SqlTransaction.open_block); commit and rollback end it when there is one.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            else:
                conn = conn.execution_options(
                    **{BEGIN_OPTION: "DEFERRED" if read_only else "IMMEDIATE"}
                )
            try:
                with conn.begin():
                    tx = SqlTransaction(self, conn, read_only=read_only)
                    yield tx
                    tx.flush(last=True)
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


_INSERTED_TABLES = (resources, resource_history, *_INDEX_TABLES)


def _from_json(table: sa.Table, position: int, column: str) -> str:
    """The SQL that reads ``column`` from element ``position`` of a JSON row ``x``."""
    value = f"x->>{position}"
    kind = table.c[column].type
    if isinstance(kind, sa.LargeBinary):
        return f"convert_to({value}, 'UTF8')"  # the body: UTF-8 JSON, sent as a string
    if isinstance(kind, sa.String):
        return value
    return f"CAST({value} AS {kind.compile(dialect=postgresql.dialect())})"  # type: ignore[no-untyped-call]


def _json_inserts() -> sa.TextClause:
    """PostgreSQL: every row of a flush, of every table, in one statement and one round trip.
    Each table's rows come as one JSON array of arrays (one parameter, made by orjson): psycopg
    sends arrays of arrays of column values element by element in Python, which cost three
    times the CPU of the whole statement. The inserts are independent of each other (no
    foreign keys), so one statement's CTEs may run them in any order."""
    parts = []
    for table in _INSERTED_TABLES:
        columns = _written_columns(table)
        values = ", ".join(_from_json(table, i, c) for i, c in enumerate(columns))
        parts.append(
            f"{table.name} AS (INSERT INTO {table.name} ({', '.join(columns)}) "
            f"SELECT {values} FROM jsonb_array_elements(CAST(:{table.name} AS jsonb)) AS x)"
        )
    return sa.text(f"WITH {', '.join(parts)} SELECT 1")


_JSON_INSERTS = _json_inserts()
# Where the body is in a row of the tables that hold one (bytes, sent to JSON as text).
_BODY_AT = {table: _written_columns(table).index("body") for table in (resources, resource_history)}


def _committed(
    key: Key, version: int, last_updated: int, deleted: bool, body: bytes | None
) -> _Pending:
    """The state of a resource as its ``resources`` row holds it."""
    resource = records.decode(body) if body is not None else None
    stored = records.stored(key[0], key[1], version, last_updated, deleted, resource)
    return _Pending(stored, body, last_updated, None, True, version, not deleted)


def _body_as_text(row: tuple[Any, ...], at: int) -> tuple[Any, ...]:
    body = row[at]
    return (*row[:at], body.decode() if body is not None else None, *row[at + 1 :])


def _index_rows(indexed: Sequence[_Pending]) -> dict[sa.Table, list[tuple[Any, ...]]]:
    """The index rows of ``indexed``, by table."""
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
    return {idx_token: tokens, idx_reference: refs, idx_date: dates, idx_string: strings}


class SqlTransaction:
    def __init__(self, repo: SqlRepository, conn: sa.Connection, *, read_only: bool) -> None:
        self.repo = repo
        self.conn = conn
        self.read_only = read_only
        self.pending: dict[Key, _Pending] = {}
        self._now: int | None = None
        self._open = not repo.postgres  # SQLite: the engine's BEGIN opened it already
        self._absent: set[Key] = set()  # read in this transaction and found missing
        self._claims = 0  # ids created by update: a concurrent creator may have been first

    # -- helpers ---------------------------------------------------------------------------------

    def open_block(self) -> None:
        """PostgreSQL: open the transaction block, before a statement that locks rows or keys or
        writes anything that must commit or roll back with later statements."""
        if not self._open:
            self.conn.exec_driver_sql("BEGIN")
            self._open = True

    def _timestamp(self, after: int | None) -> int:
        if self._now is None:
            self._now = records.now_us()
        return self._now if after is None else max(self._now, after)

    def _row_state(self, key: Key) -> _Pending | None:
        """The committed state of ``key``, locking its row against concurrent writers."""
        self.open_block()
        statement = sql_reads.CURRENT_FOR_UPDATE if self.repo.postgres else sql_reads.CURRENT
        row = self.conn.execute(statement, {"res_type": key[0], "id": key[1]}).first()
        if row is None:
            return None
        return _committed(key, row.version, row.last_updated, row.deleted, row.body)

    def _state(self, key: Key) -> _Pending | None:
        found = self.pending.get(key)
        if found is None and key not in self._absent:
            found = self._row_state(key)
            if found is not None:
                self.pending[key] = found
        return found

    def prefetch(self, keys: Iterable[Key]) -> None:
        """Read the committed state of ``keys`` (PostgreSQL: and lock their rows, in key
        order) in one statement, for the writes that follow."""
        wanted = sorted({key for key in keys if key not in self.pending} - self._absent)
        if not wanted:
            return
        self.open_block()
        statement = sql_reads.CURRENT_OF_MANY
        if self.repo.postgres:
            statement = statement.with_for_update()
        found = set()
        parts = {
            "keys": wanted,
            "types": sorted({t for t, _ in wanted}),
            "ids": sorted({i for _, i in wanted}),
        }
        for row in self.conn.execute(statement, parts):
            key = (row.res_type, row.id)
            found.add(key)
            self.pending[key] = _committed(
                key, row.version, row.last_updated, row.deleted, row.body
            )
        self._absent.update(set(wanted) - found)

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
        current = state.stored.version_id if state else None
        records.check_match(resource_type, id, current, if_match)
        if state is None:
            # Nothing locks an id that does not exist yet: a concurrent creator of the same id
            # makes the insert at the flush fail (see _insert_rows).
            self._claims += 1
            return UpdateResult(self._record(key, None, 1, None, resource).stored, created=True)
        if state.body is not None and records.content(resource) == records.content(
            records.decode(state.body)
        ):
            return UpdateResult(state.current(), created=False, changed=False)
        was_deleted = state.stored.deleted
        self._record(key, state, state.stored.version_id + 1, state.last_updated, resource)
        return UpdateResult(state.stored, created=was_deleted)

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
            self.open_block()
            self.conn.execute(_ADVISORY_LOCKS, {"keys": numbers})

    # -- flush -------------------------------------------------------------------------------

    def flush(self, *, last: bool = False) -> None:
        """Write buffered versions: stale index rows out, resource rows, history, new index rows.
        ``last``: nothing follows but the commit, so new rows alone need no transaction block
        (on PostgreSQL they are one statement)."""
        changed = [p for p in self.pending.values() if p.history]
        if not changed:
            return
        conn = self.conn
        reindex = [p for p in changed if p.db_indexed]
        if not last or reindex or any(p.in_db for p in changed):
            self.open_block()
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
        rows: dict[sa.Table, list[tuple[Any, ...]]] = {
            resources: [tuple(self._row(p).values()) for p in changed if not p.in_db]
        }
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
        rows[resource_history] = [
            (s.resource_type, s.id, s.version_id, lu, s.deleted, body)
            for p in changed
            for s, body, lu in p.history
        ]
        rows.update(_index_rows([p for p in changed if p.index is not None]))
        self._insert_rows(rows)
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

    def _insert_rows(self, rows: dict[sa.Table, list[tuple[Any, ...]]]) -> None:
        """On SQLite, one ``executemany`` per table through the bare driver: SQLAlchemy's
        per-row parameter processing costs twice what SQLite takes to insert the row (the values
        are plain str, int, bool, bytes and None, which sqlite3 takes as they are). On
        PostgreSQL, one statement for every table (:data:`_JSON_INSERTS`)."""
        if not any(rows.values()):
            return
        if not self.repo.postgres:
            for table, table_rows in rows.items():
                if table_rows:
                    self.conn.exec_driver_sql(_insert_sql(table), table_rows)
            return
        params: dict[str, str] = {}
        for table in _INSERTED_TABLES:
            table_rows = rows.get(table, [])
            at = _BODY_AT.get(table)
            if at is not None:
                table_rows = [_body_as_text(row, at) for row in table_rows]
            params[table.name] = orjson.dumps(table_rows).decode()
        try:
            self.conn.execute(_JSON_INSERTS, params)
        except DBAPIError as exc:
            if self._claims and getattr(exc.orig, "sqlstate", None) == _UNIQUE_VIOLATION:
                raise records.transient_conflict(
                    "A resource this transaction created by update was created at the same "
                    "time by another; the transaction was rolled back and can be retried."
                ) from exc
            raise

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
