"""Fill the store to a number of resources through the repository's bulk path.

The preloader writes what the server would store for the same discharges (ids from the
fullUrls, references resolved: :func:`bench.workload.stored_resources`) with
:meth:`adapter.store.sql.SqlRepository.bulk_load`: the same rows, history and index entries as
ordinary creates, without HTTP and validation, so the large sizes are reached in minutes. The
server is stopped while it runs; statistics are refreshed once at the end of each step.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from adapter.store.schema import resources
from adapter.store.sql import SqlRepository
from bench.workload import Discharge, discharge, stored_resources

CHUNK = 20_000  # resources per bulk_load call: bounds the memory of one call
BATCH = 2_000  # resources per transaction


@dataclass
class PreloadStep:
    target: int
    reached: int
    loaded: int
    seconds: float
    discharges: range
    stopped_early: bool

    @property
    def rate(self) -> float:
        return self.loaded / self.seconds if self.seconds else 0.0


def stored_count(repo: SqlRepository) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(resources)).scalar_one())


def _chunks(seed: int, first: int, budget: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Resources of discharges ``first``, ``first + 1``, ... in chunks, until ``budget``
    resources were given; yields the chunk and the next discharge number."""
    number = first
    given = 0
    while given < budget:
        chunk: list[dict[str, Any]] = []
        while len(chunk) < CHUNK and given + len(chunk) < budget:
            item: Discharge = discharge(seed, number)
            chunk.extend(stored_resources(item))
            number += 1
        given += len(chunk)
        yield chunk, number


def preload(
    url: str, seed: int, target: int, first_discharge: int, deadline_s: float
) -> PreloadStep:
    """Add whole discharges from ``first_discharge`` on until the store holds ``target``
    resources or the deadline passes."""
    repo = SqlRepository.from_url(url)
    try:
        before = stored_count(repo)
        started = time.perf_counter()
        number = first_discharge
        stopped_early = False
        for chunk, following in _chunks(seed, first_discharge, max(0, target - before)):
            repo.bulk_load(chunk, batch_size=BATCH, analyze=False)
            number = following
            if time.perf_counter() - started > deadline_s:
                stopped_early = True
                break
        repo.analyze()
        seconds = time.perf_counter() - started
        reached = stored_count(repo)
    finally:
        repo.close()
    return PreloadStep(
        target=target,
        reached=reached,
        loaded=reached - before,
        seconds=seconds,
        discharges=range(first_discharge, number),
        stopped_early=stopped_early,
    )
