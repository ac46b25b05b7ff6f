"""Group commit of the AuditEvents that are written outside the transaction they record.

A read, a search, a batch or a refused request has no writing transaction of its own to carry its
AuditEvent (:mod:`adapter.router.auditing`), yet its answer may not leave before the event is
durable: a crash must not lose the audit of an acknowledged request. One durable commit per
request made every read pay a flush to disk and, on SQLite, queue on the database's one write
lock. An :class:`AuditLog` writes the events of concurrent requests in one transaction instead.

:meth:`AuditLog.append` takes the work of building one event (a callable given the open
transaction, since building may look things up) and returns once that event is committed. There
is no background thread: callers queue their work under a condition variable. A caller that finds
no write in progress becomes the leader: it takes everything queued, writes it in one transaction,
hands every caller its outcome and wakes them. Callers that queued meanwhile find their event
written by the next leader, one of themselves, as soon as the current write ends. So a lone
request pays one commit as before, and under load a commit serves everyone who arrived during the
previous one, without any wait for a timer or a count.

Each caller's outcome is its own: a builder that raises fails its caller only (the others' events
are still written), a lost race (:class:`TransientConflict`) runs the whole transaction again, and
a transaction that cannot commit fails every caller whose event it held, each with that error.

Batches are per process, which is all group commit needs: several forlop processes on one
PostgreSQL each group their own callers, and their transactions are as independent as any others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapter.router.access import ATTEMPTS
from adapter.store.repository import Repository, StoredResource, Transaction, TransientConflict

# Builds one AuditEvent inside the transaction that will store it.
EventBuilder = Callable[[Transaction], dict[str, Any]]


class AuditEventNotWritten(RuntimeError):
    """The write that held this AuditEvent was interrupted before its outcome was known."""


@dataclass(eq=False)
class _Pending:
    """One caller's event, from queueing until its outcome is known (``done``)."""

    build: EventBuilder
    stored: StoredResource | None = None
    error: BaseException | None = None
    done: bool = False

    def outcome(self) -> StoredResource:
        if self.error is not None:
            raise self.error
        assert self.stored is not None
        return self.stored


class AuditLog:
    """The AuditEvents of one repository, written with group commit (see the module docstring).

    Make one per repository per process and share it between every thread that audits: callers of
    different instances are never grouped.
    """

    def __init__(self, repository: Repository, *, attempts: int = ATTEMPTS) -> None:
        self.repository = repository
        self.attempts = attempts
        self._changed = threading.Condition()
        self._queue: list[_Pending] = []
        self._writing = False

    @property
    def queued(self) -> int:
        """Events waiting for the next write (not those of a write in progress)."""
        with self._changed:
            return len(self._queue)

    def append(self, build: EventBuilder) -> StoredResource:
        """Store the AuditEvent ``build`` makes and return it once it is committed; raises what
        kept it from being stored (``build``'s own error, or that of the transaction)."""
        mine = _Pending(build)
        with self._changed:
            self._queue.append(mine)
            while self._writing and not mine.done:
                self._changed.wait()
            if mine.done:
                return mine.outcome()
            # No write in progress and this event still queued: this caller leads the next one.
            batch, self._queue = self._queue, []
            self._writing = True
        try:
            self._write(batch)
        finally:
            with self._changed:
                for item in batch:
                    if item.stored is None and item.error is None:
                        item.error = AuditEventNotWritten(
                            "The write of this AuditEvent was interrupted."
                        )
                    item.done = True
                # Set only now, with every outcome known, so that a caller who sees no write in
                # progress knows its event is either done or still queued.
                self._writing = False
                self._changed.notify_all()
        return mine.outcome()

    def _write(self, batch: list[_Pending]) -> None:
        """Store the events of ``batch`` in one transaction (again after a lost race, or
        without the events whose builders failed), giving each item its outcome."""
        pending = batch
        attempt = 0
        while True:
            attempt += 1
            for item in pending:
                item.error = None  # a builder that failed in a lost race gets another chance
            built: list[tuple[_Pending, dict[str, Any]]] = []
            try:
                with self.repository.transaction() as tx:
                    # Every event is built before any is created: the builders' lookups run
                    # before the transaction has written anything (no buffered write to flush
                    # for them), and a builder that fails has added nothing of its own.
                    for item in pending:
                        try:
                            built.append((item, item.build(tx)))
                        except TransientConflict:
                            raise  # the transaction itself is lost: everyone's turn again
                        except Exception as error:  # noqa: BLE001 - it is that caller's to raise
                            item.error = error
                    stored = [tx.create(event) for _, event in built]
            except TransientConflict as error:
                if attempt < self.attempts:
                    continue
                _fail(pending, error)
                return
            except Exception as error:  # noqa: BLE001 - every caller of the batch raises it
                survivors = [item for item, _ in built]
                if survivors and len(survivors) < len(pending) and attempt < self.attempts:
                    # A builder's failure may have left the transaction unusable (PostgreSQL
                    # refuses every statement after an error): write the others without it.
                    pending = survivors
                    continue
                _fail(pending, error)
                return
            for (item, _), resource in zip(built, stored, strict=True):
                item.stored = resource
            return


def _fail(items: list[_Pending], error: BaseException) -> None:
    """``error`` for every item that has no outcome of its own (a failed builder keeps its)."""
    for item in items:
        if item.error is None:
            item.error = error
