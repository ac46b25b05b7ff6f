"""Concurrent writers: no lost update, If-Match races, conditional creates from threads and from
separate OS processes (forlop may run as several processes on one database)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from adapter.fhir.errors import FhirError
from adapter.search.parser import parse_search
from adapter.store.repository import Repository, TransientConflict
from adapter.store.sql import SqlRepository
from tests.store.workers import (
    FNR_SYSTEM,
    clear,
    conditional_create,
    create_all,
    patient,
    synthetic_fnr,
)

THREADS = 6


def run_threads(work: Callable[[int], Any], count: int = THREADS) -> list[Any]:
    """Run ``work(i)`` in ``count`` threads released together; results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def retrying(repo: Repository, work: Callable[[Any], Any]) -> Any:
    """Run ``work(tx)`` in a transaction, again after a transient conflict (as callers should)."""
    for _ in range(20):
        try:
            with repo.transaction() as tx:
                return work(tx)
        except TransientConflict:
            continue
    raise AssertionError("kept conflicting")


def test_if_match_races_have_exactly_one_winner(repository: Repository) -> None:
    with repository.transaction() as tx:
        created = tx.create(patient(synthetic_fnr(0)))

    def update(i: int) -> int:
        with repository.transaction() as tx:
            body = patient(synthetic_fnr(0), gender="other", birthDate=f"19{10 + i}")
            return tx.update("Patient", created.id, body, if_match=1).stored.version_id

    results = run_threads(update)
    winners = [r for r in results if r == 2]
    losers = [r for r in results if isinstance(r, FhirError) and r.status == 412]
    assert len(winners) == 1 and len(losers) == THREADS - 1, results
    with repository.transaction() as tx:
        assert tx.read("Patient", created.id).version_id == 2


def test_concurrent_updates_lose_nothing(repository: Repository) -> None:
    with repository.transaction() as tx:
        created = tx.create(patient(synthetic_fnr(0)))
    rounds = 4

    def update(i: int) -> list[int]:
        versions = []
        for n in range(rounds):
            body = patient(synthetic_fnr(0), birthDate=f"19{10 + i}-0{n + 1}-01")
            result = retrying(repository, lambda tx, b=body: tx.update("Patient", created.id, b))
            versions.append(result.stored.version_id)
        return versions

    results = run_threads(update)
    written = sorted(v for versions in results for v in versions)
    assert written == list(range(2, 2 + THREADS * rounds))
    with repository.transaction() as tx:
        history = tx.history("Patient", created.id, count=1000).entries
        assert sorted(e.version_id for e in history) == list(range(1, 2 + THREADS * rounds))
        births = {e.resource.get("birthDate") for e in history if e.version_id > 1}
        assert len(births) == THREADS * rounds  # every write is in the history


def test_concurrent_conditional_creates_make_one_resource(repository: Repository) -> None:
    fnr = synthetic_fnr(7)
    results = run_threads(lambda i: conditional_create(repository, fnr))
    assert sorted(results) == [False] * (THREADS - 1) + [True], results
    query = parse_search("Patient", [("identifier", f"{FNR_SYSTEM}|{fnr}")]).query
    with repository.transaction() as tx:
        assert len(tx.search(query).matches) == 1


def test_concurrent_create_on_update_of_one_new_id(repository: Repository) -> None:
    def put(i: int) -> bool:
        body = patient(synthetic_fnr(0), birthDate=f"19{10 + i}")
        return bool(retrying(repository, lambda tx: tx.update("Patient", "shared", body).created))

    results = run_threads(put)
    assert sorted(results) == [False] * (THREADS - 1) + [True], results
    with repository.transaction() as tx:
        assert tx.read("Patient", "shared").version_id == THREADS


def test_a_prefetched_resource_is_not_updated_underneath(repository: Repository) -> None:
    with repository.transaction() as tx:
        tx.create(patient(synthetic_fnr(0)), id="p1")
    prefetched = threading.Event()
    other: list[Any] = []

    def update_meanwhile() -> None:
        prefetched.wait(10)
        body = patient(synthetic_fnr(0), birthDate="1920")
        other.append(retrying(repository, lambda tx: tx.update("Patient", "p1", body)))

    thread = threading.Thread(target=update_meanwhile)
    thread.start()
    with repository.transaction() as tx:
        tx.prefetch([("Patient", "p1")])
        prefetched.set()
        time.sleep(0.3)  # the other writer's chance to slip in, were the row not held
        mine = tx.update("Patient", "p1", patient(synthetic_fnr(0), birthDate="1910"))
    thread.join(30)
    assert mine.stored.version_id == 2
    assert [r.stored.version_id for r in other] == [3]
    with repository.transaction() as tx:
        history = tx.history("Patient", "p1").entries
        assert sorted(e.version_id for e in history) == [1, 2, 3]
        assert tx.read("Patient", "p1").resource["birthDate"] == "1920"


def test_a_create_on_update_beaten_by_another_creator_is_transient(
    postgres_repository: SqlRepository,
) -> None:
    # PostgreSQL only: on SQLite the second writer would wait for the first to commit.
    repo = postgres_repository
    clear(repo)
    with pytest.raises(TransientConflict), repo.transaction() as first:
        first.update("Patient", "contested", patient(synthetic_fnr(0), birthDate="1910"))
        with repo.transaction() as second:
            second.update("Patient", "contested", patient(synthetic_fnr(0), birthDate="1920"))
    result = retrying(
        repo,
        lambda tx: tx.update("Patient", "contested", patient(synthetic_fnr(0), birthDate="1910")),
    )
    assert (result.stored.version_id, result.created) == (2, False)
    with repo.transaction() as tx:
        assert len(tx.history("Patient", "contested").entries) == 2


@pytest.mark.slow
def test_conditional_creates_from_two_processes(sql_url: str) -> None:
    numbers = list(range(30))
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 4  # after both have imported forlop and opened the database
    processes = [
        context.Process(target=create_all, args=(sql_url, numbers, seed, start_at))
        for seed in (1, 2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    repo = SqlRepository.from_url(sql_url)
    try:
        with repo.transaction() as tx:
            for n in numbers:
                query = parse_search(
                    "Patient", [("identifier", f"{FNR_SYSTEM}|{synthetic_fnr(n)}")]
                ).query
                assert len(tx.search(query).matches) == 1, n
            total = tx.search(parse_search("Patient", [("_total", "accurate")]).query).total
            assert total == len(numbers)
    finally:
        repo.close()
