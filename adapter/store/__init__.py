"""Storage: versioned resources, history and search index on SQLite, PostgreSQL or in memory.

:func:`open_repository` picks the backend from a URL. The interface is
:class:`~adapter.store.repository.Repository`; every operation runs in a
:class:`~adapter.store.repository.Transaction` (one database transaction).
"""

from adapter.store.memory import MemoryRepository
from adapter.store.repository import (
    HistoryPage,
    Repository,
    SearchPage,
    StoredResource,
    Transaction,
    TransientConflict,
    UpdateResult,
)
from adapter.store.sql import SqlRepository


def open_repository(url: str) -> Repository:
    """``memory:`` for a process-local store, else a SQLite or PostgreSQL URL (migrated)."""
    if url == "memory:":
        return MemoryRepository()
    return SqlRepository.from_url(url)


__all__ = [
    "HistoryPage",
    "MemoryRepository",
    "Repository",
    "SearchPage",
    "SqlRepository",
    "StoredResource",
    "Transaction",
    "TransientConflict",
    "UpdateResult",
    "open_repository",
]
