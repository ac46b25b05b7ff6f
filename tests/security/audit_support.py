"""A repository wrapper that makes group commit observable and deterministic for the tests of
:class:`adapter.router.audit_log.AuditLog`: it counts the writing transactions opened through it,
can hold the first one open until the test lets it go (so that every other writer queues behind
it), and can make a chosen transaction fail where it would commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from adapter.store.repository import Repository, StoredResource, Transaction

# Bounds every wait of these tests; they assert on what happened, never on how long it took.
PATIENCE_S = 60.0


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Return once ``condition`` holds; fail the test if it never does."""
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.001)


class WriteProbe:
    """``inner`` with its writing transactions counted, the first one optionally held at its
    start (``hold_first``) until :meth:`release`, and those numbered in ``failing`` (from 0, in
    the order they are opened) raising their error instead of committing."""

    def __init__(self, inner: Repository, *, hold_first: bool = False) -> None:
        self.inner = inner
        self.failing: dict[int, Exception] = {}
        self.opened = 0
        self.holding = threading.Event()  # the first transaction is open and held
        self._release = threading.Event()
        if not hold_first:
            self._release.set()
        self._lock = threading.Lock()

    def release(self) -> None:
        self._release.set()

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Transaction]:
        if read_only:
            with self.inner.transaction(read_only=True) as tx:
                yield tx
            return
        with self._lock:
            number = self.opened
            self.opened += 1
        if number == 0:
            self.holding.set()
            assert self._release.wait(PATIENCE_S), "the held transaction was never released"
        with self.inner.transaction() as tx:
            yield tx
            error = self.failing.get(number)
            if error is not None:
                raise error  # inside the inner block: it rolls back, as a failed commit does

    def fail_current(self, error: Exception) -> None:
        """Make the transaction open now fail at its end (an error that left it unusable)."""
        with self._lock:
            self.failing[self.opened - 1] = error

    def bulk_load(self, resources: Any, *, batch_size: int = 1000) -> list[StoredResource]:
        raise NotImplementedError

    def close(self) -> None:
        self.inner.close()
