"""Push and pull cost must not grow with the store: every query they send seeks an index.

On SQLite, whose planner follows fixed rules, each SELECT a discharge push (new, then repeated)
and a care-plan pull send is explained, and no plan may read a whole table or every index row
of a search parameter. Two forms were caught this way: an OR of
several (code, system) pairs, and a row-value IN of (type, id) pairs.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from adapter.app import create_app
from adapter.config import Settings
from adapter.security.settings import AuthSettings
from adapter.store.sql import SqlRepository

ROOT = Path(__file__).resolve().parents[2]
DISCHARGE = ROOT / "fixtures/pathways/astrid-fjellheim/fhir/discharge-bundle.json"
# A whole table, or every index row of a search parameter (no value to seek).
FULL_SCAN = re.compile(
    r"^SCAN (resources|resource_history|idx_\w+)\b"
    r"|^SEARCH idx_\w+ USING (COVERING )?INDEX \w+ \(res_type=\? AND param=\?\)$"
)


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[TestClient, list[tuple[str, Any]], Path]:
    path = tmp_path / "plans.db"
    repository = SqlRepository.from_url(f"sqlite:///{path}")
    statements: list[tuple[str, Any]] = []

    @sa.event.listens_for(repository.engine, "before_cursor_execute")
    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, params))

    app = create_app(Settings(), repository=repository, auth=AuthSettings(insecure_dev=True))
    return TestClient(app), statements, path


def _full_scans(path: Path, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    with sqlite3.connect(path) as conn:
        for statement, params in statements:
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
            scans = [step for step in plan if FULL_SCAN.match(step)]
            if scans:
                found[statement] = scans
    return found


def test_a_discharge_push_and_its_pull_seek_every_row_they_read(
    recorded: tuple[TestClient, list[tuple[str, Any]], Path],
) -> None:
    client, statements, path = recorded
    bundle = json.loads(DISCHARGE.read_text())
    with client:
        client.post("/fhir", json={"resourceType": "Patient"})  # past start-up's statements
        statements.clear()
        for _ in range(2):  # creates, then the same Bundle matched and updated
            answer = client.post("/fhir", json=bundle)
            assert answer.status_code == 200, answer.text
        locations = [e["response"]["location"] for e in answer.json()["entry"]]
        patient = next(loc.split("/")[1] for loc in locations if loc.startswith("Patient/"))
        pulled = client.get(
            "/fhir/CarePlan", params={"patient": f"Patient/{patient}", "_include": "CarePlan:goal"}
        )
        assert pulled.status_code == 200 and len(pulled.json()["entry"]) >= 1
        several = client.get(
            "/fhir/Organization",
            params={"identifier": "urn:oid:2.16.578.1.12.4.1.4.101|995172038,x|1"},
        )
        assert several.status_code == 200
    assert len(statements) > 5
    assert _full_scans(path, statements) == {}
