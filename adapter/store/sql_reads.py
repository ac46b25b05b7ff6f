"""Read side of the SQL repository: current versions, versions, history pages and searches.

History is ordered newest first by (last_updated, seq) and paged by keyset on that pair; search
statements come from :mod:`adapter.search.prepared` for the common shapes (built once, bound per
call) and from :class:`adapter.search.sql.Planner` for the rest; includes follow
:mod:`adapter.store.includes` with one statement per include and round.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from adapter.fhir.errors import not_found
from adapter.search import prepared
from adapter.search.paging import SortValue, decode_cursor, encode_cursor
from adapter.search.query import Include, SearchQuery
from adapter.search.sql import ESTIMATE_LIMIT, Planner
from adapter.search.values import to_microseconds
from adapter.store import records
from adapter.store.includes import INCLUDE_ROUNDS
from adapter.store.repository import HistoryPage, SearchPage, StoredResource
from adapter.store.schema import INDEX_TABLES, resource_history, resources

Key = tuple[str, str]


# The current row of one resource: built once (building costs more than running it).
CURRENT = sa.select(
    resources.c.version, resources.c.last_updated, resources.c.deleted, resources.c.body
).where(resources.c.res_type == sa.bindparam("res_type"), resources.c.id == sa.bindparam("id"))
CURRENT_FOR_UPDATE = CURRENT.with_for_update()
# The current rows of many resources (``keys``: a list of (type, id); ``types`` and ``ids``:
# their parts), in key order. The lists of parts let SQLite seek the primary key: for a row-value
# IN alone it reads the whole table.
CURRENT_OF_MANY = (
    sa.select(
        resources.c.res_type,
        resources.c.id,
        resources.c.version,
        resources.c.last_updated,
        resources.c.deleted,
        resources.c.body,
    )
    .where(
        resources.c.res_type.in_(sa.bindparam("types", expanding=True)),
        resources.c.id.in_(sa.bindparam("ids", expanding=True)),
        sa.tuple_(resources.c.res_type, resources.c.id).in_(sa.bindparam("keys", expanding=True)),
    )
    .order_by(resources.c.res_type, resources.c.id)
)


def select_current(conn: sa.Connection, resource_type: str, id: str) -> StoredResource | None:
    row = conn.execute(CURRENT, {"res_type": resource_type, "id": id}).first()
    if row is None:
        return None
    body = records.decode(row.body) if row.body is not None else None
    return records.stored(resource_type, id, row.version, row.last_updated, row.deleted, body)


def select_version(
    conn: sa.Connection, resource_type: str, id: str, version_id: int
) -> StoredResource:
    h = resource_history.c
    row = conn.execute(
        sa.select(h.last_updated, h.deleted, h.body).where(
            h.res_type == resource_type, h.id == id, h.version == version_id
        )
    ).first()
    if row is None:
        raise not_found(f"{resource_type}/{id} has no version {version_id}.")
    if row.deleted:
        raise records.gone_error(resource_type, id, version_id)
    return records.stored(
        resource_type, id, version_id, row.last_updated, False, records.decode(row.body)
    )


def select_history(
    conn: sa.Connection,
    resource_type: str | None,
    id: str | None,
    since: datetime | None,
    count: int,
    after: tuple[int, int] | None,
) -> HistoryPage:
    h = resource_history.c
    statement = sa.select(h.seq, h.res_type, h.id, h.version, h.last_updated, h.deleted, h.body)
    if resource_type is not None:
        statement = statement.where(h.res_type == resource_type)
    if id is not None:
        statement = statement.where(h.id == id)
    if since is not None:
        statement = statement.where(h.last_updated >= to_microseconds(since))
    if after is not None:
        statement = statement.where(
            sa.or_(
                h.last_updated < after[0],
                sa.and_(h.last_updated == after[0], h.seq < after[1]),
            )
        )
    statement = statement.order_by(h.last_updated.desc(), h.seq.desc()).limit(count + 1)
    rows = conn.execute(statement).all()
    page = rows[:count]
    entries = [
        records.stored(
            row.res_type,
            row.id,
            row.version,
            row.last_updated,
            row.deleted,
            records.decode(row.body) if row.body is not None else None,
        )
        for row in page
    ]
    next_cursor = None
    if len(rows) > count and page:
        next_cursor = records.encode_history_cursor(page[-1].last_updated, page[-1].seq)
    return HistoryPage(entries, next_cursor)


def run_search(conn: sa.Connection, query: SearchQuery, max_includes: int) -> SearchPage:
    position = decode_cursor(query)
    planner = Planner(INDEX_TABLES, query)
    matched: list[StoredResource] = []
    next_cursor = None
    if query.count > 0:
        prepared_page = prepared.page(INDEX_TABLES, query, position)
        if prepared_page is not None:
            rows = conn.execute(*prepared_page).all()
        else:
            rows = conn.execute(planner.page(position)).all()
        page = rows[: query.count]
        matched = [_stored(row) for row in page]
        if len(rows) > query.count and page:
            last = page[-1]
            keys = [cast(SortValue, last[5 + i]) for i in range(len(query.sort))]
            next_cursor = encode_cursor(query, [*keys, last.id, last.res_type])
    total: int | None = None
    if query.total == "accurate" or query.count == 0:
        total = conn.execute(planner.count()).scalar_one()
    elif query.total == "estimate":
        total = conn.execute(planner.count(ESTIMATE_LIMIT)).scalar_one()
    elif query.total is None and position is None and next_cursor is None:
        total = len(matched)
    included, truncated = _included(conn, planner, query, matched, max_includes)
    return SearchPage(matched, included, total, next_cursor, truncated)


def _included(
    conn: sa.Connection,
    planner: Planner,
    query: SearchQuery,
    matched: list[StoredResource],
    max_includes: int,
) -> tuple[list[StoredResource], bool]:
    if not matched or not (query.includes or query.revincludes):
        return [], False
    limit = max_includes + 1
    seen: set[Key] = {s.key for s in matched}
    included: dict[Key, StoredResource] = {}
    frontier: list[Key] = [s.key for s in matched]
    truncated = False
    for round_number in range(INCLUDE_ROUNDS):
        found: dict[Key, StoredResource] = {}
        for spec in query.includes:
            sources = _ids(spec, frontier)
            if (round_number == 0 or spec.iterate) and sources:
                statement = prepared.include(INDEX_TABLES, spec, sources, limit)
                truncated |= _fetch(conn, statement, found, limit)
        for spec in query.revincludes:
            if round_number == 0 or spec.iterate:
                truncated |= _fetch(conn, planner.revinclude(spec, frontier, limit), found, limit)
        fresh = sorted(k for k in found if k not in seen)
        if not fresh:
            break
        for key in fresh:
            seen.add(key)
            included[key] = found[key]
        frontier = fresh
    ordered = [included[k] for k in sorted(included)]
    return ordered[:max_includes], truncated or len(ordered) > max_includes


def _fetch(
    conn: sa.Connection,
    statement: sa.Select[Any] | prepared.Bound,
    into: dict[Key, StoredResource],
    limit: int,
) -> bool:
    if isinstance(statement, tuple):
        rows = conn.execute(*statement).all()
    else:
        rows = conn.execute(statement).all()
    for row in rows:
        stored = _stored(row)
        into[stored.key] = stored
    return len(rows) >= limit


def _ids(spec: Include, frontier: Sequence[Key]) -> list[str]:
    return [rid for rtype, rid in frontier if rtype == spec.source_type]


def _stored(row: sa.Row[Any]) -> StoredResource:
    return records.stored(
        row.res_type, row.id, row.version, row.last_updated, False, records.decode(row.body)
    )
