"""The repository interface: versioned FHIR resources, history and search (FHIR R4 §3.1.0 RESTful
API, the storage side of create, read, vread, update, delete, history and search).

Everything runs inside a :class:`Transaction`: a whole Bundle is one database transaction, so a
``transaction`` Bundle is all or nothing. Leaving the ``with`` block normally commits; an
exception rolls back and nothing of the transaction remains.

Semantics shared by every backend (the contract tests hold them to it):

- version ids are integers from 1, gap-free per resource; ``meta.versionId`` and
  ``meta.lastUpdated`` of a stored resource are set by the store;
- ``update`` of an unknown id creates the resource (create-on-update with a client id); of a
  deleted one revives it with the next version; an update that changes nothing but ``meta``
  version and time keeps the current version (no new history entry);
- ``if_match`` makes a write conditional on the current version (412 when it differs);
- ``delete`` writes a tombstone version; ``read`` of a deleted resource is 410 Gone, so is
  ``vread`` of the tombstone version;
- ``lock(keys)`` serialises concurrent conditional operations on the same criteria across
  threads and processes until the transaction ends (take all keys in one call);
- a :class:`TransientConflict` (409) means a concurrent transaction won a race the database
  could not serialise (deadlock, unique-key race): run the whole transaction again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from adapter.fhir.errors import FhirError
from adapter.search.query import SearchQuery


@dataclass(frozen=True)
class StoredResource:
    """One version of a resource as stored. For a tombstone (``deleted``), ``resource`` holds
    only resourceType, id and meta."""

    resource_type: str
    id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    resource: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return self.resource_type, self.id


@dataclass(frozen=True)
class UpdateResult:
    """``created``: the update created (or revived) the resource (201 rather than 200).
    ``changed``: a new version was written (False for an update that changed nothing)."""

    stored: StoredResource
    created: bool
    changed: bool = True


@dataclass(frozen=True)
class SearchPage:
    """One page of search results. ``total`` is None unless asked for (or free to know).
    ``included_truncated``: more resources were to be included than the store's limit."""

    matches: list[StoredResource]
    included: list[StoredResource] = field(default_factory=list)
    total: int | None = None
    next_cursor: str | None = None
    included_truncated: bool = False


@dataclass(frozen=True)
class HistoryPage:
    """Versions, newest first; ``next_cursor`` continues where this page ended."""

    entries: list[StoredResource]
    next_cursor: str | None = None


class TransientConflict(FhirError):
    """409: a race with a concurrent transaction; the same transaction may simply be retried."""


class Transaction(Protocol):
    """The unit of work: every call sees the writes made before it in the same transaction."""

    def create(self, resource: dict[str, Any], *, id: str | None = None) -> StoredResource:
        """Store version 1. ``id`` lets a Bundle engine assign ids up front (urn:uuid entries);
        otherwise the store assigns a UUID. 409 when the id is taken."""
        ...

    def update(
        self,
        resource_type: str,
        id: str,
        resource: dict[str, Any],
        *,
        if_match: int | None = None,
    ) -> UpdateResult: ...

    def delete(
        self, resource_type: str, id: str, *, if_match: int | None = None
    ) -> StoredResource | None:
        """Write a tombstone; None when there was nothing to delete (unknown or deleted)."""
        ...

    def read(self, resource_type: str, id: str) -> StoredResource:
        """The current version; 404 when unknown, 410 when deleted."""
        ...

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredResource:
        """One version; 404 when unknown, 410 for the tombstone version."""
        ...

    def search(self, query: SearchQuery) -> SearchPage: ...

    def lock(self, keys: Iterable[str]) -> None: ...

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        """The (type, id) of resources about to be updated or deleted: a store may read (and
        lock) them in one go. Changes nothing that later calls see."""
        ...

    def history(
        self,
        resource_type: str | None = None,
        id: str | None = None,
        *,
        since: datetime | None = None,
        count: int = 20,
        cursor: str | None = None,
    ) -> HistoryPage:
        """Instance (type and id), type (type only) or system (neither) history, newest first;
        ``since`` keeps versions written at or after that instant."""
        ...


class Repository(Protocol):
    def transaction(self, *, read_only: bool = False) -> AbstractContextManager[Transaction]:
        """A unit of work; ``read_only`` ones may run beside writers and must not write."""
        ...

    def bulk_load(
        self, resources: Iterable[dict[str, Any]], *, batch_size: int = 1000
    ) -> Sequence[StoredResource]:
        """Create many resources (one transaction per batch), exactly as ``create`` would."""
        ...

    def close(self) -> None: ...
