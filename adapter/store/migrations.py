"""Schema migrations: ordered, idempotent steps recorded in ``schema_version``.

Applied at start-up by every forlop process. Several processes may start at once against one
database, so the whole check-and-apply runs in one transaction holding an exclusive lock:
``pg_advisory_xact_lock`` on PostgreSQL, the write lock of ``BEGIN IMMEDIATE`` on SQLite. Both
engines run DDL transactionally, so a failed step leaves nothing half done. A step only ever
moves the schema forward; a database newer than this code is refused rather than touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from adapter.store import schema
from adapter.store.records import now_us

# Fixed key of the migration lock ("forlop-migrations" in ASCII, cut to 63 bits).
_MIGRATION_LOCK = 0x666F726C6F702D6D & 0x7FFFFFFFFFFFFFFF


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _initial_schema(conn: sa.Connection) -> None:
    tables = [t for t in schema.metadata.sorted_tables if t is not schema.schema_version]
    schema.metadata.create_all(conn, tables=tables, checkfirst=True)


def _covering_reference_owner(conn: sa.Connection) -> None:
    """Rebuild ix_reference_owner with the target columns (see adapter.store.schema)."""
    owner = next(i for i in schema.idx_reference.indexes if i.name == "ix_reference_owner")
    conn.execute(sa.text(f"DROP INDEX IF EXISTS {owner.name}"))
    owner.create(conn)


STEPS: tuple[Step, ...] = (
    Step(1, "resources, history and search index tables", _initial_schema),
    Step(2, "the owner index of references covers their targets", _covering_reference_owner),
)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer forlop than this one."""


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    found = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
    return int(found or 0)


def migrate(engine: sa.Engine) -> list[int]:
    """Apply every pending step; returns the versions applied by this call (often none)."""
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        schema.schema_version.create(conn, checkfirst=True)
        version = current_version(conn)
        latest = STEPS[-1].version
        if version > latest:
            raise SchemaTooNew(
                f"The database schema is at version {version}; this forlop knows up to {latest}."
            )
        applied: list[int] = []
        for step in STEPS:
            if step.version <= version:
                continue
            step.apply(conn)
            conn.execute(
                sa.insert(schema.schema_version).values(
                    version=step.version, description=step.description, applied_at=now_us()
                )
            )
            applied.append(step.version)
        return applied
