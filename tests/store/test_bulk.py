"""The bulk path stores exactly what ordinary creates store (rows, history and index)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from adapter.search.parser import parse_search
from adapter.store.repository import Repository
from adapter.store.schema import idx_date, idx_reference, idx_string, idx_token
from adapter.store.sql import SqlRepository
from tests.store.workers import patient, synthetic_fnr

COUNT = 3000


def _resource(n: int, prefix: str) -> dict[str, Any]:
    if n % 3 == 0:
        return patient(synthetic_fnr(n % 800), family=f"Familie{n}", id=f"{prefix}-{n}")
    return {
        "resourceType": "Observation",
        "id": f"{prefix}-{n}",
        "status": "final",
        "code": {
            "coding": [
                {"system": "http://forlop.no/fhir/CodeSystem/psfs", "code": "activity-score"}
            ]
        },
        "subject": {"reference": f"Patient/{prefix}-{n - n % 3}"},
        "effectiveDateTime": f"2024-0{1 + n % 9}-1{n % 10}",
        "valueInteger": n % 11,
    }


def _index_rows(repo: SqlRepository, prefix: str) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    with repo.engine.connect() as conn:
        for table in (idx_token, idx_reference, idx_date, idx_string):
            columns = [c for c in table.c if c.name not in ("res_type",)]
            for row in conn.execute(sa.select(*columns).where(table.c.res_id.startswith(prefix))):
                values = [v.replace(prefix, "X") if isinstance(v, str) else v for v in row]
                rows.append((table.name, *values))
    return sorted(rows, key=repr)


def test_bulk_load_matches_ordinary_creates(repository: Repository) -> None:
    bulk = repository.bulk_load((_resource(n, "bulk") for n in range(COUNT)), batch_size=700)
    with repository.transaction() as tx:
        single = [tx.create(_resource(n, "one"), id=f"one-{n}") for n in range(COUNT)]
    assert len(bulk) == COUNT
    with repository.transaction() as tx:
        for a, b in zip(bulk[::97], single[::97], strict=True):
            stored = tx.read(a.resource_type, a.id).resource
            other = tx.read(b.resource_type, b.id).resource
            for body in (stored, other):
                body.pop("meta")
                body.pop("id")
            assert stored == {k: v for k, v in a.resource.items() if k not in ("meta", "id")}
            assert repr(stored).replace("bulk", "one") == repr(other)
        found = tx.search(
            parse_search("Observation", [("patient", "bulk-300"), ("_total", "accurate")]).query
        )
        assert found.total == 2
        history = tx.history(count=10_000).entries
        assert len(history) == 2 * COUNT
    if isinstance(repository, SqlRepository):
        assert _index_rows(repository, "bulk") == _index_rows(repository, "one")
