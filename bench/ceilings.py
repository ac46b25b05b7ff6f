"""The ceilings every figure is divided by: what the same work costs without forlop.

- JSON: ``orjson.loads`` + ``orjson.dumps`` of the very Bundles the push phase sends, one
  thread: no Python HTTP server can take Bundles in faster than it can read and write them.
- raw insert: the rows forlop writes for those Bundles (resource, history and index rows, as the
  indexer computes them), inserted with the bare DBAPI driver (``sqlite3``/psycopg
  ``executemany``) into copies of forlop's tables, indexes included, in the same database, one
  durable transaction per Bundle, at the push phase's concurrency.
- raw pull: the two index lookups and body reads a care-plan pull needs, with the bare driver
  against the real tables, ``orjson`` for the bodies, at the pull phase's concurrency.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa

from adapter.store.engine import SQLITE_BUSY_TIMEOUT_MS
from adapter.store.indexing import default_indexer
from adapter.store.records import encode, now_us, stamp
from adapter.store.schema import metadata
from bench.driver import Timings
from bench.server import Database
from bench.workload import Discharge, stored_resources

_PREFIX = "bench_ceiling_"
_TABLES = ("resources", "resource_history", "idx_token", "idx_reference", "idx_date", "idx_string")
_COLUMNS = {
    "resources": ("res_type", "id", "version", "last_updated", "deleted", "body"),
    "resource_history": ("res_type", "id", "version", "last_updated", "deleted", "body"),
    "idx_token": ("res_type", "res_id", "param", "system", "code", "text"),
    "idx_reference": ("res_type", "res_id", "param", "target_type", "target_id", "reference"),
    "idx_date": ("res_type", "res_id", "param", "low", "high"),
    "idx_string": ("res_type", "res_id", "param", "norm", "exact"),
}


def json_ceiling(bodies: Sequence[bytes]) -> dict[str, Any]:
    """orjson parse + dump of each Bundle, one after the other."""
    timings = Timings()
    start = time.perf_counter()
    for body in bodies:
        began = time.perf_counter()
        orjson.dumps(orjson.loads(body))
        timings.latencies.append(time.perf_counter() - began)
    timings.wall = time.perf_counter() - start
    return timings.summary()


Rows = dict[str, list[tuple[Any, ...]]]


def rows_of(item: Discharge) -> Rows:
    """The rows forlop writes for one discharge, table by table."""
    out: Rows = {name: [] for name in _TABLES}
    indexer = default_indexer()
    now = now_us()
    for resource in stored_resources(item):
        rtype, rid = resource["resourceType"], resource["id"]
        body = stamp(resource, rid, 1, now)
        raw = encode(body)
        out["resources"].append((rtype, rid, 1, now, False, raw))
        out["resource_history"].append((rtype, rid, 1, now, False, raw))
        index = indexer.index(body)
        out["idx_token"] += [(rtype, rid, t.param, t.system, t.code, t.text) for t in index.tokens]
        out["idx_reference"] += [
            (rtype, rid, x.param, x.target_type, x.target_id, x.reference) for x in index.references
        ]
        out["idx_date"] += [(rtype, rid, d.param, d.low, d.high) for d in index.dates]
        out["idx_string"] += [(rtype, rid, s.param, s.norm, s.exact) for s in index.strings]
    return out


@contextmanager
def ceiling_tables(db: Database) -> Iterator[None]:
    """Copies of forlop's tables and indexes, prefixed, created and dropped around the block."""
    copy = sa.MetaData()
    for name in _TABLES:
        table = metadata.tables[name].to_metadata(copy, name=_PREFIX + name)
        for index in table.indexes:
            index.name = sa.sql.elements.quoted_name(_PREFIX + str(index.name), None)
        for constraint in table.constraints:
            if constraint.name:
                constraint.name = sa.sql.elements.quoted_name(_PREFIX + str(constraint.name), None)
    engine = sa.create_engine(_sa_url(db))
    try:
        copy.create_all(engine)
        yield
    finally:
        copy.drop_all(engine)
        engine.dispose()


def _sa_url(db: Database) -> str:
    if db.kind == "sqlite":
        return db.url
    return "postgresql+psycopg://" + db.url.removeprefix("postgresql://")


def _connect(db: Database) -> Any:
    if db.kind == "sqlite":
        assert db.path is not None
        conn = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        return conn
    return psycopg.connect(db.url)


def _insert_sql(db: Database, table: str) -> str:
    columns = _COLUMNS[table]
    marks = ", ".join("?" if db.kind == "sqlite" else "%s" for _ in columns)
    return f"INSERT INTO {_PREFIX}{table} ({', '.join(columns)}) VALUES ({marks})"


def _threads(
    concurrency: int, jobs: list[Any], work: Callable[[Any, Any], None], connect: Callable[[], Any]
) -> Timings:
    timings = Timings()
    lock = threading.Lock()
    queue = list(reversed(jobs))

    def run() -> None:
        conn = connect()
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    job = queue.pop()
                began = time.perf_counter()
                work(conn, job)
                elapsed = time.perf_counter() - began
                with lock:
                    timings.latencies.append(elapsed)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    timings.wall = time.perf_counter() - start
    return timings


def insert_ceiling(db: Database, rows: Sequence[Rows], concurrency: int) -> Timings:
    """One durable transaction per Bundle's rows, ``concurrency`` connections at once."""
    statements = {table: _insert_sql(db, table) for table in _TABLES}

    def work(conn: Any, bundle_rows: Rows) -> None:
        if db.kind == "sqlite":
            conn.execute("BEGIN IMMEDIATE")
            for table, values in bundle_rows.items():
                if values:
                    conn.executemany(statements[table], values)
            conn.execute("COMMIT")
            return
        with conn.transaction(), conn.cursor() as cursor:
            for table, values in bundle_rows.items():
                if values:
                    cursor.executemany(statements[table], values)

    return _threads(concurrency, list(rows), work, lambda: _connect(db))


def pull_ceiling(db: Database, patient_ids: Sequence[str], concurrency: int) -> Timings:
    """The care-plan pull as bare SQL: plans by patient, their goals, bodies through orjson."""
    mark = "?" if db.kind == "sqlite" else "%s"
    plans_sql = (
        "SELECT r.id, r.body FROM resources r WHERE r.res_type = 'CarePlan' AND NOT r.deleted "
        "AND r.id IN (SELECT res_id FROM idx_reference WHERE res_type = 'CarePlan' "
        f"AND param = 'patient' AND target_id = {mark} AND target_type = 'Patient')"
    )

    def goals_sql(count: int) -> str:
        marks = ", ".join(mark for _ in range(count))
        return (
            "SELECT r.id, r.body FROM resources r WHERE r.res_type = 'Goal' AND NOT r.deleted "
            "AND r.id IN (SELECT target_id FROM idx_reference WHERE res_type = 'CarePlan' "
            f"AND param = 'goal' AND target_type = 'Goal' AND res_id IN ({marks}))"
        )

    def work(conn: Any, patient_id: str) -> None:
        plans = conn.execute(plans_sql, (patient_id,)).fetchall()
        goals = (
            conn.execute(goals_sql(len(plans)), [p[0] for p in plans]).fetchall() if plans else []
        )
        entries = [{"resource": orjson.loads(bytes(body))} for _, body in [*plans, *goals]]
        orjson.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries})

    return _threads(concurrency, list(patient_ids), work, lambda: _connect(db))
