"""The in-memory repository: the test double and the oracle for the SQL backends.

Same contract as :mod:`adapter.store.repository` describes, kept in dictionaries. Transactions
are serialised by one lock (as SQLite serialises writers), so ``lock()`` has nothing left to do.
Writes go to an overlay that is applied on commit and dropped on rollback. Search evaluates the
typed query with :mod:`adapter.search.matcher` over index rows computed at write time, exactly
the rows the SQL backends store.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cmp_to_key
from typing import Any

from adapter.fhir.errors import conflict, not_found, precondition_failed
from adapter.search.index import ResourceIndex
from adapter.search.matcher import matches, sort_position
from adapter.search.paging import SortValue, decode_cursor, directions, encode_cursor, is_after
from adapter.search.query import Include, SearchQuery
from adapter.search.values import to_microseconds
from adapter.store import records
from adapter.store.includes import INCLUDE_ROUNDS, include_keys
from adapter.store.indexing import Indexer, default_indexer
from adapter.store.repository import HistoryPage, SearchPage, StoredResource, UpdateResult

Key = tuple[str, str]


@dataclass(frozen=True)
class _Entry:
    stored: StoredResource
    last_updated: int
    index: ResourceIndex | None  # None for a tombstone


@dataclass(frozen=True)
class _Version:
    seq: int
    last_updated: int
    stored: StoredResource


def _detached(stored: StoredResource) -> StoredResource:
    """A copy the caller may change without changing the store."""
    return replace(stored, resource=copy.deepcopy(stored.resource))


class MemoryRepository:
    """A repository in process memory (nothing survives the process)."""

    def __init__(
        self, *, indexer: Indexer | None = None, max_includes: int = records.DEFAULT_MAX_INCLUDES
    ) -> None:
        self.indexer = indexer or default_indexer()
        self.max_includes = max_includes
        self._lock = threading.RLock()
        self._current: dict[Key, _Entry] = {}
        self._history: list[_Version] = []

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[_MemoryTransaction]:
        with self._lock:
            tx = _MemoryTransaction(self, read_only=read_only)
            yield tx
            self._current.update(tx.changes)
            self._history.extend(tx.new_history)

    def bulk_load(
        self, resources: Iterable[dict[str, Any]], *, batch_size: int = 1000
    ) -> list[StoredResource]:
        out: list[StoredResource] = []
        batch: list[dict[str, Any]] = []
        for resource in resources:
            batch.append(resource)
            if len(batch) >= batch_size:
                out.extend(self._load(batch))
                batch = []
        out.extend(self._load(batch))
        return out

    def _load(self, batch: list[dict[str, Any]]) -> list[StoredResource]:
        with self.transaction() as tx:
            return [tx.create(r, id=r.get("id")) for r in batch]

    def close(self) -> None:
        """Nothing to release."""


class _MemoryTransaction:
    def __init__(self, repo: MemoryRepository, *, read_only: bool) -> None:
        self.repo = repo
        self.read_only = read_only
        self.changes: dict[Key, _Entry] = {}
        self.new_history: list[_Version] = []
        self._seq = len(repo._history)
        self._now: int | None = None

    # -- state ---------------------------------------------------------------------------------

    def _entry(self, key: Key) -> _Entry | None:
        return self.changes.get(key) or self.repo._current.get(key)

    def _entries(self) -> Iterator[_Entry]:
        for key, entry in self.repo._current.items():
            if key not in self.changes:
                yield entry
        yield from self.changes.values()

    def _timestamp(self, after: int | None) -> int:
        if self._now is None:
            self._now = records.now_us()
        return self._now if after is None else max(self._now, after)

    def _write(
        self,
        resource_type: str,
        resource_id: str,
        version: int,
        after: int | None,
        resource: dict[str, Any] | None,
    ) -> StoredResource:
        last_updated = self._timestamp(after)
        body = None
        index = None
        if resource is not None:
            # Through the stored form, as the SQL backends do: decimals, copies, no aliasing.
            body = records.decode(
                records.encode(records.stamp(resource, resource_id, version, last_updated))
            )
            index = self.repo.indexer.index(body)
        stored = records.stored(
            resource_type, resource_id, version, last_updated, resource is None, body
        )
        self.changes[(resource_type, resource_id)] = _Entry(stored, last_updated, index)
        self._seq += 1
        self.new_history.append(_Version(self._seq, last_updated, stored))
        return _detached(stored)

    # -- writes --------------------------------------------------------------------------------

    def create(self, resource: dict[str, Any], *, id: str | None = None) -> StoredResource:
        records.check_writable(self.read_only)
        resource_type = records.check_body(resource, None, None)
        resource_id = id or records.new_id()
        records.check_id(resource_id)
        if self._entry((resource_type, resource_id)) is not None:
            raise conflict(f"{resource_type}/{resource_id} already exists.")
        return self._write(resource_type, resource_id, 1, None, resource)

    def update(
        self, resource_type: str, id: str, resource: dict[str, Any], *, if_match: int | None = None
    ) -> UpdateResult:
        records.check_writable(self.read_only)
        records.check_type(resource_type)
        records.check_id(id)
        records.check_body(resource, resource_type, id)
        entry = self._entry((resource_type, id))
        current = entry.stored.version_id if entry else None
        records.check_match(resource_type, id, current, if_match)
        if entry is None:
            return UpdateResult(self._write(resource_type, id, 1, None, resource), created=True)
        if not entry.stored.deleted and records.content(resource) == records.content(
            entry.stored.resource
        ):
            return UpdateResult(_detached(entry.stored), created=False, changed=False)
        stored = self._write(
            resource_type, id, entry.stored.version_id + 1, entry.last_updated, resource
        )
        return UpdateResult(stored, created=entry.stored.deleted)

    def delete(
        self, resource_type: str, id: str, *, if_match: int | None = None
    ) -> StoredResource | None:
        records.check_writable(self.read_only)
        records.check_type(resource_type)
        entry = self._entry((resource_type, id))
        if entry is None or entry.stored.deleted:
            if if_match is not None:
                raise precondition_failed(
                    f"{resource_type}/{id} does not exist; If-Match asked for version {if_match}."
                )
            return None
        records.check_match(resource_type, id, entry.stored.version_id, if_match)
        return self._write(resource_type, id, entry.stored.version_id + 1, entry.last_updated, None)

    def lock(self, keys: Iterable[str]) -> None:
        """Transactions already run one at a time."""

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """Everything is at hand already."""

    # -- reads ---------------------------------------------------------------------------------

    def read(self, resource_type: str, id: str) -> StoredResource:
        records.check_type(resource_type)
        entry = self._entry((resource_type, id))
        if entry is None:
            raise not_found(f"{resource_type}/{id} is not known.")
        if entry.stored.deleted:
            raise records.gone_error(resource_type, id, entry.stored.version_id)
        return _detached(entry.stored)

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredResource:
        records.check_type(resource_type)
        for version in self._versions():
            stored = version.stored
            if stored.key == (resource_type, id) and stored.version_id == version_id:
                if stored.deleted:
                    raise records.gone_error(resource_type, id, version_id)
                return _detached(stored)
        raise not_found(f"{resource_type}/{id} has no version {version_id}.")

    def _versions(self) -> list[_Version]:
        return [*self.repo._history, *self.new_history]

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
        count = max(count, 0)
        since_us = to_microseconds(since) if since is not None else None
        selected = [
            v
            for v in self._versions()
            if (resource_type is None or v.stored.resource_type == resource_type)
            and (id is None or v.stored.id == id)
            and (since_us is None or v.last_updated >= since_us)
            and (after is None or (v.last_updated, v.seq) < after)
        ]
        selected.sort(key=lambda v: (v.last_updated, v.seq), reverse=True)
        page = selected[:count]
        next_cursor = None
        if len(selected) > count and page:
            next_cursor = records.encode_history_cursor(page[-1].last_updated, page[-1].seq)
        return HistoryPage([_detached(v.stored) for v in page], next_cursor)

    # -- search --------------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchPage:
        position = decode_cursor(query)
        desc = directions(query)
        found: list[tuple[tuple[SortValue, ...], _Entry]] = []
        for entry in self._entries():
            stored = entry.stored
            if stored.deleted or entry.index is None:
                continue
            if query.types and stored.resource_type not in query.types:
                continue
            if matches(query, stored.id, entry.last_updated, entry.index):
                key = sort_position(
                    query, stored.resource_type, stored.id, entry.last_updated, entry.index
                )
                found.append((key, entry))

        def compare(
            a: tuple[tuple[SortValue, ...], _Entry], b: tuple[tuple[SortValue, ...], _Entry]
        ) -> int:
            if is_after(a[0], b[0], desc):
                return 1
            return -1 if is_after(b[0], a[0], desc) else 0

        found.sort(key=cmp_to_key(compare))
        total = len(found)
        if position is not None:
            found = [item for item in found if is_after(item[0], position, desc)]
        page = found[: query.count]
        next_cursor = None
        if len(found) > query.count and page:
            next_cursor = encode_cursor(query, page[-1][0])
        report_total: int | None = None
        if query.total in ("estimate", "accurate") or query.count == 0:
            report_total = total
        elif query.total is None and position is None and next_cursor is None:
            report_total = total
        matched = [_detached(entry.stored) for _, entry in page]
        included, truncated = self._included(query, matched)
        return SearchPage(matched, included, report_total, next_cursor, truncated)

    def _included(
        self, query: SearchQuery, matched: list[StoredResource]
    ) -> tuple[list[StoredResource], bool]:
        if not matched or not (query.includes or query.revincludes):
            return [], False
        live = {e.stored.key: e for e in self._entries() if not e.stored.deleted and e.index}
        seen: set[Key] = {s.key for s in matched}
        included: dict[Key, StoredResource] = {}
        frontier = [s.key for s in matched]
        for round_number in range(INCLUDE_ROUNDS):
            specs = [
                (spec, reverse)
                for reverse, group in ((False, query.includes), (True, query.revincludes))
                for spec in group
                if round_number == 0 or spec.iterate
            ]
            found: set[Key] = set()
            for spec, reverse in specs:
                found |= self._include_once(spec, reverse, frontier, live)
            fresh = sorted(k for k in found if k not in seen and k in live)
            if not fresh:
                break
            for key in fresh:
                seen.add(key)
                included[key] = _detached(live[key].stored)
            frontier = fresh
        ordered = [included[k] for k in sorted(included)]
        return ordered[: self.repo.max_includes], len(ordered) > self.repo.max_includes

    @staticmethod
    def _include_once(
        spec: Include, reverse: bool, frontier: list[Key], live: dict[Key, _Entry]
    ) -> set[Key]:
        found: set[Key] = set()
        if not reverse:
            for key in frontier:
                entry = live.get(key)
                if entry is not None and entry.index is not None and key[0] == spec.source_type:
                    found |= include_keys(spec, entry.index.references)
            return found
        targets = set(frontier)
        for key, entry in live.items():
            if key[0] != spec.source_type or entry.index is None:
                continue
            if include_keys(spec, entry.index.references) & targets:
                found.add(key)
        return found
