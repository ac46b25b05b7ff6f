"""Tables of the SQL backends (SQLAlchemy Core; SQLite and PostgreSQL from one definition).

- ``resources``: the current version of every resource (tombstone rows for deleted ones);
- ``resource_history``: every version, with ``seq`` giving a total order for history paging;
- ``idx_token``, ``idx_reference``, ``idx_date``, ``idx_string``: search index rows
  (:mod:`adapter.search.index`), keyed by resource type, resource id and parameter code, replaced
  in the same transaction as the resource;
- ``schema_version``: applied migration steps (:mod:`adapter.store.migrations`).

Choices:
- The body is compact JSON in a binary column (BYTEA on PostgreSQL, BLOB on SQLite), not JSONB:
  search never looks inside it (the index tables answer every query), bytes keep exactly what was
  received (decimal scale, key order) and cost no JSON parsing on write; PostgreSQL still
  compresses large values (TOAST).
- Times are BIGINT microseconds since the epoch (UTC): exact, equal on both engines, and able to
  hold the unbounded ends of a Period.
- On PostgreSQL text columns use collation "C" so ordering is by code point, as in SQLite and
  in Python: sorting and paging agree across backends and prefix ranges can use the B-tree.
- Every composite index starts with the columns the planner filters on and ends with the resource
  id, so searches on a parameter are index-only lookups followed by primary-key reads.
"""

from __future__ import annotations

import sqlalchemy as sa

from adapter.search.sql import IndexTables

metadata = sa.MetaData()


def _text(length: int | None = None) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite: alias of the rowid

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("res_type", _text(64), primary_key=True),
    sa.Column("id", _text(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_updated", sa.BigInteger, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Index("ix_resources_updated", "res_type", "last_updated", "id"),
)

resource_history = sa.Table(
    "resource_history",
    metadata,
    sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
    sa.Column("res_type", _text(64), nullable=False),
    sa.Column("id", _text(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_updated", sa.BigInteger, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.UniqueConstraint("res_type", "id", "version", name="uq_history_version"),
    sa.Index("ix_history_system", "last_updated", "seq"),
    sa.Index("ix_history_type", "res_type", "last_updated", "seq"),
    implicit_returning=False,  # nobody reads the generated seq back on insert
)


def _owner_columns() -> list[sa.Column[str]]:
    return [
        sa.Column("res_type", _text(64), nullable=False),
        sa.Column("res_id", _text(64), nullable=False),
        sa.Column("param", _text(64), nullable=False),
    ]


idx_token = sa.Table(
    "idx_token",
    metadata,
    *_owner_columns(),
    sa.Column("system", _text(), nullable=True),
    sa.Column("code", _text(), nullable=True),
    sa.Column("text", _text(), nullable=True),
    sa.Index("ix_token_search", "res_type", "param", "code", "system", "res_id"),
    sa.Index("ix_token_owner", "res_type", "res_id"),
)

idx_reference = sa.Table(
    "idx_reference",
    metadata,
    *_owner_columns(),
    sa.Column("target_type", _text(64), nullable=True),
    sa.Column("target_id", _text(64), nullable=True),
    sa.Column("reference", _text(), nullable=False),
    sa.Index("ix_reference_target", "res_type", "param", "target_id", "target_type", "res_id"),
    # Covering for _include (the targets of given resources): without the target columns SQLite's
    # planner, lacking statistics, read every row of the parameter through ix_reference_target.
    sa.Index("ix_reference_owner", "res_type", "res_id", "param", "target_type", "target_id"),
    # Only absolute URLs and canonicals are searched by literal; relative ones by type and id.
    sa.Index(
        "ix_reference_literal",
        "res_type",
        "param",
        "reference",
        postgresql_where=sa.text("target_id IS NULL"),
        sqlite_where=sa.text("target_id IS NULL"),
    ),
)

idx_date = sa.Table(
    "idx_date",
    metadata,
    *_owner_columns(),
    sa.Column("low", sa.BigInteger, nullable=False),
    sa.Column("high", sa.BigInteger, nullable=False),
    sa.Index("ix_date_search", "res_type", "param", "low", "high", "res_id"),
    sa.Index("ix_date_owner", "res_type", "res_id"),
)

idx_string = sa.Table(
    "idx_string",
    metadata,
    *_owner_columns(),
    sa.Column("norm", _text(), nullable=False),
    sa.Column("exact", _text(), nullable=False),
    sa.Index("ix_string_search", "res_type", "param", "norm", "res_id"),
    sa.Index("ix_string_owner", "res_type", "res_id"),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", sa.BigInteger, nullable=False),
)

INDEX_TABLES = IndexTables(
    resources=resources,
    token=idx_token,
    reference=idx_reference,
    date=idx_date,
    string=idx_string,
)
