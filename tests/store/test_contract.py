"""The repository contract (adapter/store/repository.py), on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapter.fhir.errors import FhirError
from adapter.search.parser import parse_search
from adapter.store.repository import Repository
from tests.store.workers import FNR_SYSTEM, patient, synthetic_fnr


def _status(excinfo: pytest.ExceptionInfo[FhirError]) -> int:
    return excinfo.value.status


def goal(subject: str, text: str = "Gå til butikken", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": text},
        "subject": {"reference": subject},
        **extra,
    }


# --- create, read, vread, update ------------------------------------------------------------


def test_create_sets_id_and_meta_and_reads_back(repository: Repository) -> None:
    with repository.transaction() as tx:
        created = tx.create(patient(synthetic_fnr(0), meta={"profile": ["http://x/p"]}))
    assert created.version_id == 1 and not created.deleted
    assert created.resource["id"] == created.id
    assert created.resource["meta"]["versionId"] == "1"
    assert created.resource["meta"]["profile"] == ["http://x/p"]
    assert created.resource["meta"]["lastUpdated"].endswith("Z")
    with repository.transaction(read_only=True) as tx:
        read = tx.read("Patient", created.id)
    assert read.resource == created.resource
    assert read.last_updated == created.last_updated
    assert read.last_updated.tzinfo is not None


def test_decimals_are_stored_exactly(repository: Repository) -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "mean score"},
        "valueQuantity": {"value": Decimal("4.50"), "unit": "{score}"},
    }
    with repository.transaction() as tx:
        created = tx.create(observation)
    with repository.transaction() as tx:
        value = tx.read("Observation", created.id).resource["valueQuantity"]["value"]
    assert isinstance(value, Decimal) and str(value) == "4.50"


def test_create_with_taken_id_is_a_conflict(repository: Repository) -> None:
    with repository.transaction() as tx:
        tx.create(patient(synthetic_fnr(0)), id="p1")
    with pytest.raises(FhirError) as excinfo, repository.transaction() as tx:
        tx.create(patient(synthetic_fnr(1)), id="p1")
    assert _status(excinfo) == 409
    with repository.transaction() as tx:
        assert tx.read("Patient", "p1").resource["identifier"][0]["value"] == synthetic_fnr(0)


def test_update_adds_versions_and_vread_returns_each(repository: Repository) -> None:
    with repository.transaction() as tx:
        v1 = tx.create(patient(synthetic_fnr(0)))
    with repository.transaction() as tx:
        v2 = tx.update("Patient", v1.id, patient(synthetic_fnr(0), gender="female"))
    with repository.transaction() as tx:
        v3 = tx.update("Patient", v1.id, patient(synthetic_fnr(0), gender="other"))
    assert (v2.stored.version_id, v3.stored.version_id) == (2, 3)
    assert not v2.created and v2.changed
    assert v3.stored.last_updated >= v2.stored.last_updated >= v1.last_updated
    with repository.transaction() as tx:
        assert "gender" not in tx.vread("Patient", v1.id, 1).resource
        assert tx.vread("Patient", v1.id, 2).resource["gender"] == "female"
        assert tx.read("Patient", v1.id).resource["meta"]["versionId"] == "3"
        with pytest.raises(FhirError) as excinfo:
            tx.vread("Patient", v1.id, 4)
        assert _status(excinfo) == 404


def test_update_without_change_keeps_the_version(repository: Repository) -> None:
    with repository.transaction() as tx:
        created = tx.create(patient(synthetic_fnr(0)))
    with repository.transaction() as tx:
        result = tx.update("Patient", created.id, dict(created.resource))
    assert not result.changed and result.stored.version_id == 1
    with repository.transaction() as tx:
        assert len(tx.history("Patient", created.id).entries) == 1


def test_update_of_unknown_id_creates_it(repository: Repository) -> None:
    with repository.transaction() as tx:
        first = tx.update("Patient", "client-chosen", patient(synthetic_fnr(0)))
    with repository.transaction() as tx:
        second = tx.update("Patient", "client-chosen", patient(synthetic_fnr(0), gender="male"))
    assert first.created and first.stored.version_id == 1 and first.stored.id == "client-chosen"
    assert not second.created and second.stored.version_id == 2


def test_unknown_resource_is_404(repository: Repository) -> None:
    with repository.transaction() as tx, pytest.raises(FhirError) as excinfo:
        tx.read("Patient", "nobody")
    assert _status(excinfo) == 404


@pytest.mark.parametrize(
    ("resource_type", "rid", "body"),
    [
        ("Patient", "p1", {"resourceType": "Goal"}),
        ("Patient", "p1", {"resourceType": "Patient", "id": "p2"}),
        ("Patient", "not an id!", {"resourceType": "Patient"}),
        ("Nonsense", "p1", {"resourceType": "Nonsense"}),
    ],
)
def test_update_refuses_a_body_that_contradicts_the_target(
    repository: Repository, resource_type: str, rid: str, body: dict[str, Any]
) -> None:
    with pytest.raises(FhirError) as excinfo, repository.transaction() as tx:
        tx.update(resource_type, rid, body)
    assert _status(excinfo) == 400


# --- If-Match -------------------------------------------------------------------------------


def test_if_match(repository: Repository) -> None:
    with repository.transaction() as tx:
        created = tx.create(patient(synthetic_fnr(0)))
    with pytest.raises(FhirError) as excinfo, repository.transaction() as tx:
        tx.update("Patient", created.id, patient(synthetic_fnr(0), gender="male"), if_match=2)
    assert _status(excinfo) == 412
    with repository.transaction() as tx:
        ok = tx.update("Patient", created.id, patient(synthetic_fnr(0), gender="male"), if_match=1)
    assert ok.stored.version_id == 2
    with pytest.raises(FhirError) as excinfo, repository.transaction() as tx:
        tx.delete("Patient", created.id, if_match=1)
    assert _status(excinfo) == 412
    with pytest.raises(FhirError) as excinfo, repository.transaction() as tx:
        tx.update("Patient", "unknown", patient(synthetic_fnr(1)), if_match=1)
    assert _status(excinfo) == 412


# --- delete ---------------------------------------------------------------------------------


def test_delete_writes_a_tombstone(repository: Repository) -> None:
    with repository.transaction() as tx:
        created = tx.create(patient(synthetic_fnr(0)))
    with repository.transaction() as tx:
        tombstone = tx.delete("Patient", created.id)
        assert tx.delete("Patient", created.id) is None
    assert tombstone is not None and tombstone.deleted and tombstone.version_id == 2
    with repository.transaction() as tx:
        with pytest.raises(FhirError) as excinfo:
            tx.read("Patient", created.id)
        assert _status(excinfo) == 410
        with pytest.raises(FhirError) as excinfo:
            tx.vread("Patient", created.id, 2)
        assert _status(excinfo) == 410
        assert tx.vread("Patient", created.id, 1).resource["identifier"]
        history = tx.history("Patient", created.id).entries
        assert [(e.version_id, e.deleted) for e in history] == [(2, True), (1, False)]
        assert tx.delete("Patient", "never-existed") is None
        query = parse_search("Patient", [("identifier", f"{FNR_SYSTEM}|{synthetic_fnr(0)}")])
        assert tx.search(query.query).matches == []
    with repository.transaction() as tx:
        revived = tx.update("Patient", created.id, patient(synthetic_fnr(0)))
    assert revived.created and revived.stored.version_id == 3


# --- transactions ---------------------------------------------------------------------------


def test_a_taken_id_fails_the_whole_transaction(repository: Repository) -> None:
    with repository.transaction() as tx:
        tx.create(patient(synthetic_fnr(0)), id="p1")
    with pytest.raises(FhirError) as excinfo, repository.transaction() as tx:
        tx.create(patient(synthetic_fnr(1)), id="fresh")
        tx.create(goal("Patient/fresh"), id="g1")
        tx.create(patient(synthetic_fnr(2)), id="p1")
    assert _status(excinfo) == 409
    with repository.transaction() as tx:
        for rtype, rid in (("Patient", "fresh"), ("Goal", "g1")):
            with pytest.raises(FhirError) as missing:
                tx.read(rtype, rid)
            assert _status(missing) == 404
        assert len(tx.history().entries) == 1


def test_an_error_mid_transaction_leaves_nothing(repository: Repository) -> None:
    with repository.transaction() as tx:
        kept = tx.create(patient(synthetic_fnr(0)))
    with pytest.raises(FhirError), repository.transaction() as tx:
        tx.create(patient(synthetic_fnr(1)), id="half-written")
        tx.update("Patient", kept.id, patient(synthetic_fnr(0), gender="male"))
        tx.delete("Patient", kept.id)
        tx.update("Patient", "other", {"resourceType": "Goal"})  # 400: the bundle fails here
    with repository.transaction() as tx:
        with pytest.raises(FhirError):
            tx.read("Patient", "half-written")
        assert tx.read("Patient", kept.id).version_id == 1
        assert len(tx.history().entries) == 1
        everyone = tx.search(parse_search("Patient", [("_total", "accurate")]).query)
        assert everyone.total == 1


def test_a_transaction_sees_its_own_writes(repository: Repository) -> None:
    with repository.transaction() as tx:
        created = tx.create(patient(synthetic_fnr(0)))
        assert tx.read("Patient", created.id).version_id == 1
        updated = tx.update("Patient", created.id, patient(synthetic_fnr(0), gender="female"))
        assert updated.stored.version_id == 2
        assert tx.vread("Patient", created.id, 1).version_id == 1
        query = parse_search("Patient", [("gender", "female")]).query
        assert [s.id for s in tx.search(query).matches] == [created.id]


def test_prefetch_changes_nothing_later_calls_see(repository: Repository) -> None:
    with repository.transaction() as tx:
        tx.create(patient(synthetic_fnr(0)), id="kept")
        tx.create(patient(synthetic_fnr(1)), id="gone")
    with repository.transaction() as tx:
        tx.delete("Patient", "gone")
    with repository.transaction() as tx:
        tx.create(patient(synthetic_fnr(2)), id="mine")
        tx.prefetch(
            [("Patient", k) for k in ("kept", "gone", "new", "mine")] + [("Goal", "nothing")]
        )
        assert tx.read("Patient", "mine").version_id == 1  # its own write, not a stale read
        kept = tx.update("Patient", "kept", patient(synthetic_fnr(0), gender="female"))
        gone = tx.update("Patient", "gone", patient(synthetic_fnr(1)))
        new = tx.update("Patient", "new", patient(synthetic_fnr(3)))
        mine = tx.update("Patient", "mine", patient(synthetic_fnr(2), gender="male"))
        assert tx.delete("Goal", "nothing") is None
        assert (kept.stored.version_id, kept.created) == (2, False)
        assert (gone.stored.version_id, gone.created) == (3, True)
        assert (new.stored.version_id, new.created) == (1, True)
        assert (mine.stored.version_id, mine.created) == (2, False)
    with repository.transaction() as tx:
        versions = {k: tx.read("Patient", k).version_id for k in ("kept", "gone", "new", "mine")}
        assert versions == {"kept": 2, "gone": 3, "new": 1, "mine": 2}
        assert tx.read("Patient", "kept").resource["gender"] == "female"


# --- history --------------------------------------------------------------------------------


def test_history_levels_paging_and_since(repository: Repository) -> None:
    with repository.transaction() as tx:
        p = tx.create(patient(synthetic_fnr(0)))
    with repository.transaction() as tx:
        g = tx.create(goal(f"Patient/{p.id}"))
    middle = g.last_updated
    for n in range(3):
        with repository.transaction() as tx:
            tx.update(
                "Patient", p.id, patient(synthetic_fnr(0), gender=["male", "female", "other"][n])
            )
    with repository.transaction() as tx:
        instance = tx.history("Patient", p.id).entries
        assert [e.version_id for e in instance] == [4, 3, 2, 1]
        assert [e.resource_type for e in tx.history("Goal").entries] == ["Goal"]
        system = tx.history().entries
        assert len(system) == 5
        assert [e.last_updated for e in system] == sorted(
            (e.last_updated for e in system), reverse=True
        )
        seen = []
        cursor = None
        while True:
            page = tx.history(count=2, cursor=cursor)
            seen.extend((e.resource_type, e.id, e.version_id) for e in page.entries)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [(e.resource_type, e.id, e.version_id) for e in system]
        since = tx.history(since=middle).entries
        assert {(e.resource_type, e.version_id) for e in since} >= {("Goal", 1), ("Patient", 4)}
        assert all(e.last_updated >= middle for e in since)
        assert tx.history(since=system[0].last_updated + timedelta(seconds=1)).entries == []
        with pytest.raises(FhirError) as excinfo:
            tx.history(cursor="not-a-cursor")
        assert _status(excinfo) == 400


def test_a_read_only_transaction_refuses_writes(repository: Repository) -> None:
    with repository.transaction() as tx:
        created = tx.create(patient(synthetic_fnr(0)))
    with repository.transaction(read_only=True) as tx:
        for write in (
            lambda: tx.create(patient(synthetic_fnr(1))),
            lambda: tx.update("Patient", created.id, patient(synthetic_fnr(0), gender="male")),
            lambda: tx.delete("Patient", created.id),
        ):
            with pytest.raises(RuntimeError, match="read-only"):
                write()
    with repository.transaction() as tx:
        assert tx.read("Patient", created.id).version_id == 1


def test_stored_resources_are_detached_from_the_caller(repository: Repository) -> None:
    body = patient(synthetic_fnr(0))
    with repository.transaction() as tx:
        created = tx.create(body)
        body["name"][0]["family"] = "Changed by the caller"
        created.resource["gender"] = "unknown"
        assert "gender" not in tx.read("Patient", created.id).resource
    with repository.transaction() as tx:
        read = tx.read("Patient", created.id)
        read.resource["name"].clear()
        again = tx.read("Patient", created.id).resource
    assert again["name"][0]["family"] == "Nordmann" and "gender" not in again
