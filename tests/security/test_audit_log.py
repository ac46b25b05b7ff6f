"""Group commit of AuditEvents (:class:`adapter.router.audit_log.AuditLog`) on the memory store,
a SQLite file and PostgreSQL.

Overlap is made certain rather than hoped for: a first event's write is held open
(:class:`WriteProbe`) until every thread of the test has queued its own behind it, so those must
all go in the one transaction that follows. What is asserted is the outcome each caller gets, what
the store holds afterwards and how many transactions were opened, never how long anything took.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adapter.router.audit_log import AuditEventNotWritten, AuditLog, EventBuilder
from adapter.store.repository import Repository, StoredResource, Transaction, TransientConflict
from adapter.store.sql import SqlTransaction
from tests.security.audit_support import WriteProbe, wait_until
from tests.store.conftest import (  # noqa: F401 - fixtures
    make_repository,
    postgres_repository,
    postgres_url,
)

THREADS = 16
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
Result = StoredResource | BaseException


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Repository:
    return make_repository(request.param, request, tmp_path)


def audit_event(marker: str) -> dict[str, Any]:
    return {
        "resourceType": "AuditEvent",
        "type": {"system": AUDIT_EVENT_TYPE, "code": "rest"},
        "recorded": "2026-01-01T00:00:00Z",
        "outcome": "0",
        "outcomeDesc": marker,
        "agent": [{"requestor": True, "who": {"display": marker}}],
        "source": {"observer": {"display": "audit-log-test"}},
    }


class Builders:
    """Event builders that note every call (by marker) and the transaction it was given."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.transactions: dict[str, Transaction] = {}
        self._lock = threading.Lock()

    def event(self, marker: str) -> EventBuilder:
        def build(tx: Transaction) -> dict[str, Any]:
            with self._lock:
                self.calls[marker] += 1
                self.transactions[marker] = tx
            return audit_event(marker)

        return build

    def failing(self, marker: str, error: BaseException) -> EventBuilder:
        def build(tx: Transaction) -> dict[str, Any]:
            with self._lock:
                self.calls[marker] += 1
            raise error

        return build


def stored_markers(repository: Repository) -> list[str]:
    """The markers of every AuditEvent in the store, sorted."""
    with repository.transaction(read_only=True) as tx:
        entries = tx.history("AuditEvent", count=1000).entries
    return sorted(str(e.resource["outcomeDesc"]) for e in entries)


def append_behind_a_held_write(
    log: AuditLog, probe: WriteProbe, builders: Sequence[EventBuilder], first: EventBuilder
) -> tuple[Result, list[Result]]:
    """Append ``first`` and hold its write open; append every builder from a thread of its own;
    let the first write go once all of them are queued behind it. Returns the outcome of each
    append: the stored event, read back in a transaction of its own as soon as the append
    returned, or what it raised."""
    outcomes: list[Result | None] = [None] * (len(builders) + 1)

    def run(slot: int, build: EventBuilder) -> None:
        try:
            stored = log.append(build)
            with probe.inner.transaction(read_only=True) as tx:
                outcomes[slot] = tx.read("AuditEvent", stored.id)
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            outcomes[slot] = error

    threads = [threading.Thread(target=run, args=(0, first))]
    threads[0].start()
    wait_until(probe.holding.is_set, "the first write is open")
    threads += [threading.Thread(target=run, args=(i + 1, b)) for i, b in enumerate(builders)]
    for thread in threads[1:]:
        thread.start()
    try:
        wait_until(lambda: log.queued == len(builders), "every thread has queued its event")
        # Nothing is committed yet, so no append may have returned.
        assert outcomes == [None] * len(outcomes)
    finally:
        probe.release()
        for thread in threads:
            thread.join()
    done = [o for o in outcomes if o is not None]
    assert len(done) == len(outcomes)
    return done[0], done[1:]


def marker_of(result: Result) -> str:
    assert isinstance(result, StoredResource), result
    return str(result.resource["outcomeDesc"])


def test_a_lone_append_returns_its_event_once_stored(store: Repository) -> None:
    probe = WriteProbe(store)
    stored = AuditLog(probe).append(lambda tx: audit_event("alone"))
    with store.transaction(read_only=True) as tx:
        assert tx.read("AuditEvent", stored.id).resource["outcomeDesc"] == "alone"
    assert probe.opened == 1


def test_concurrent_appends_share_one_transaction(store: Repository) -> None:
    probe = WriteProbe(store, hold_first=True)
    log = AuditLog(probe)
    builders = Builders()
    markers = [f"event-{i}" for i in range(THREADS)]
    first, results = append_behind_a_held_write(
        log, probe, [builders.event(m) for m in markers], builders.event("first")
    )
    # Each caller got its own event, readable the moment it returned.
    assert [marker_of(r) for r in results] == markers
    assert marker_of(first) == "first"
    assert stored_markers(store) == sorted([*markers, "first"])
    # The first write, then one for all the events that queued behind it.
    assert probe.opened == 2
    assert len({id(builders.transactions[m]) for m in markers}) == 1
    assert builders.calls == Counter(dict.fromkeys([*markers, "first"], 1))
    assert log.queued == 0


def test_a_failing_builder_fails_only_its_caller(store: Repository) -> None:
    probe = WriteProbe(store, hold_first=True)
    log = AuditLog(probe)
    builders = Builders()
    broken = ValueError("this event cannot be built")
    markers = [f"event-{i}" for i in range(THREADS)]
    chosen = [
        builders.failing(m, broken) if i == 5 else builders.event(m) for i, m in enumerate(markers)
    ]
    _, results = append_behind_a_held_write(log, probe, chosen, builders.event("first"))
    assert results[5] is broken
    others = [m for i, m in enumerate(markers) if i != 5]
    assert [marker_of(r) for i, r in enumerate(results) if i != 5] == others
    assert stored_markers(store) == sorted([*others, "first"])
    assert probe.opened == 2


def test_a_builder_that_spoils_the_transaction_fails_only_its_caller(store: Repository) -> None:
    """After an error inside it, a PostgreSQL transaction refuses to commit: the other events
    are written in a transaction of their own."""
    probe = WriteProbe(store, hold_first=True)
    log = AuditLog(probe)
    builders = Builders()
    spoiled = RuntimeError("current transaction is aborted")

    def spoiling(tx: Transaction) -> dict[str, Any]:
        probe.fail_current(spoiled)
        raise LookupError("the lookup of this event failed")

    markers = [f"event-{i}" for i in range(THREADS)]
    chosen = [spoiling if i == 0 else builders.event(m) for i, m in enumerate(markers)]
    _, results = append_behind_a_held_write(log, probe, chosen, builders.event("first"))
    assert isinstance(results[0], LookupError)
    assert [marker_of(r) for r in results[1:]] == markers[1:]
    assert stored_markers(store) == sorted([*markers[1:], "first"])
    assert probe.opened == 3
    assert builders.calls == Counter(dict.fromkeys(markers[1:], 2)) + Counter(first=1)


@pytest.mark.parametrize("store", ["sqlite", "postgres"], indirect=True)
def test_a_failing_statement_in_a_builder_fails_only_its_caller(store: Repository) -> None:
    probe = WriteProbe(store, hold_first=True)
    log = AuditLog(probe)
    builders = Builders()

    def bad_statement(tx: Transaction) -> dict[str, Any]:
        assert isinstance(tx, SqlTransaction)
        tx.conn.execute(sa.text("SELECT * FROM no_such_table"))
        raise AssertionError("unreachable")

    markers = [f"event-{i}" for i in range(THREADS)]
    chosen = [bad_statement if i == 3 else builders.event(m) for i, m in enumerate(markers)]
    _, results = append_behind_a_held_write(log, probe, chosen, builders.event("first"))
    assert isinstance(results[3], sa.exc.DBAPIError)
    others = [m for i, m in enumerate(markers) if i != 3]
    assert [marker_of(r) for i, r in enumerate(results) if i != 3] == others
    assert stored_markers(store) == sorted([*others, "first"])


def test_a_failed_commit_fails_every_caller_of_its_batch_and_the_log_goes_on(
    store: Repository,
) -> None:
    probe = WriteProbe(store, hold_first=True)
    log = AuditLog(probe)
    builders = Builders()
    full = OSError("the disk is full")
    probe.failing[1] = full  # the transaction after the held one
    markers = [f"event-{i}" for i in range(THREADS)]
    first, results = append_behind_a_held_write(
        log, probe, [builders.event(m) for m in markers], builders.event("first")
    )
    assert marker_of(first) == "first"
    assert all(r is full for r in results)
    assert stored_markers(store) == ["first"]
    later = log.append(builders.event("later"))
    assert marker_of(later) == "later"
    assert stored_markers(store) == ["first", "later"]


def test_a_lost_race_writes_the_whole_batch_again(store: Repository) -> None:
    probe = WriteProbe(store, hold_first=True)
    log = AuditLog(probe)
    builders = Builders()
    probe.failing[1] = TransientConflict(409)
    markers = [f"event-{i}" for i in range(THREADS)]
    _, results = append_behind_a_held_write(
        log, probe, [builders.event(m) for m in markers], builders.event("first")
    )
    assert [marker_of(r) for r in results] == markers
    assert stored_markers(store) == sorted([*markers, "first"])
    assert probe.opened == 3
    assert builders.calls == Counter(dict.fromkeys(markers, 2)) + Counter(first=1)


def test_a_race_lost_on_every_attempt_reaches_every_caller(store: Repository) -> None:
    probe = WriteProbe(store, hold_first=True)
    log = AuditLog(probe, attempts=3)
    conflict = TransientConflict(409)
    probe.failing.update({1: conflict, 2: conflict, 3: conflict})
    builders = Builders()
    markers = [f"event-{i}" for i in range(THREADS)]
    _, results = append_behind_a_held_write(
        log, probe, [builders.event(m) for m in markers], builders.event("first")
    )
    assert all(r is conflict for r in results)
    assert probe.opened == 4
    assert stored_markers(store) == ["first"]


class Interrupted(BaseException):
    """Stands for KeyboardInterrupt or SystemExit in the thread that writes."""


def test_an_interrupted_write_leaves_no_caller_waiting(store: Repository) -> None:
    probe = WriteProbe(store, hold_first=True)
    log = AuditLog(probe)
    builders = Builders()
    markers = [f"event-{i}" for i in range(THREADS)]
    chosen = [
        builders.failing(m, Interrupted()) if i == 7 else builders.event(m)
        for i, m in enumerate(markers)
    ]
    _, results = append_behind_a_held_write(log, probe, chosen, builders.event("first"))
    # The thread that was writing is interrupted; everyone else learns that nothing was written.
    kinds = Counter(type(r) for r in results)
    assert kinds == Counter({Interrupted: 1, AuditEventNotWritten: THREADS - 1})
    assert stored_markers(store) == ["first"]
    assert marker_of(log.append(builders.event("later"))) == "later"
