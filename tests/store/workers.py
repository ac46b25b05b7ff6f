"""Synthetic resources and the conditional-create routine the concurrency tests share.

Separate from the test modules so a spawned OS process can import it cheaply.
"""

from __future__ import annotations

import random
import time
from typing import Any

import sqlalchemy as sa

from adapter.search.parser import parse_search
from adapter.store.repository import Repository
from adapter.store.schema import metadata
from adapter.store.sql import SqlRepository

FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
_W1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_W2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _control(digits: list[int], weights: tuple[int, ...]) -> int | None:
    rest = 11 - sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if rest == 11 else None if rest == 10 else rest


def _valid_fnrs() -> list[str]:
    found: list[str] = []
    for individual in range(1000):
        digits = [int(c) for c in f"158338{individual:03d}"]
        k1 = _control(digits, _W1)
        k2 = _control([*digits, k1], _W2) if k1 is not None else None
        if k1 is not None and k2 is not None:
            found.append("".join(map(str, [*digits, k1, k2])))
    return found


_FNRS = _valid_fnrs()


def synthetic_fnr(n: int) -> str:
    """The n-th synthetic fødselsnummer born 15 Mar 1938 (month + 80), valid mod-11 digits."""
    return _FNRS[n]


def patient(fnr: str, family: str = "Nordmann", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": FNR_SYSTEM, "value": fnr}],
        "name": [{"family": family, "given": ["Kari"]}],
        **extra,
    }


def conditional_create(repo: Repository, fnr: str) -> bool:
    """POST Patient with If-None-Exist: identifier=fnr; True when this call created it."""
    with repo.transaction() as tx:
        tx.lock([f"Patient?identifier={FNR_SYSTEM}|{fnr}"])
        query = parse_search("Patient", [("identifier", f"{FNR_SYSTEM}|{fnr}")]).query
        if tx.search(query).matches:
            return False
        tx.create(patient(fnr))
        return True


def create_all(url: str, numbers: list[int], seed: int, start_at: float) -> None:
    """Process entry point: conditionally create the patients ``numbers`` in a shuffled order,
    starting at the wall-clock time ``start_at`` so that both processes really overlap."""
    repo = SqlRepository.from_url(url)
    order = list(numbers)
    random.Random(seed).shuffle(order)
    time.sleep(max(0.0, start_at - time.time()))
    for n in order:
        conditional_create(repo, synthetic_fnr(n))
    repo.close()


def clear(repo: SqlRepository) -> None:
    """Empty every data table of a SQL repository (the schema and its version stay)."""
    tables = [t for t in metadata.sorted_tables if t.name != "schema_version"]
    with repo.engine.begin() as conn:
        if repo.postgres:
            conn.execute(sa.text("TRUNCATE " + ", ".join(t.name for t in tables)))
        else:
            for table in tables:
                conn.execute(sa.delete(table))
