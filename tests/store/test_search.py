"""Search through the repository contract: parameters, modifiers, prefixes, sorting, paging,
totals and includes, on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.fhir.errors import FhirError
from adapter.search.parser import parse_search
from adapter.store.repository import Repository, SearchPage, StoredResource
from tests.store.workers import FNR_SYSTEM, patient, synthetic_fnr

PSFS = "http://forlop.no/fhir/CodeSystem/psfs"
QUESTIONNAIRE = "http://forlop.no/fhir/Questionnaire/psfs"


def search(repo: Repository, resource_type: str | None, *params: tuple[str, str]) -> SearchPage:
    with repo.transaction(read_only=True) as tx:
        return tx.search(parse_search(resource_type, list(params)).query)


def ids(page: SearchPage) -> set[str]:
    return {s.id for s in page.matches}


def observation(subject: str, code: str, effective: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "survey",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": PSFS, "code": code, "display": "PSFS aktivitetsskår"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": effective,
        **extra,
    }


@pytest.fixture
def care(repository: Repository) -> dict[str, StoredResource]:
    """Two patients; one with a care plan, two goals, scores and a PaTH response."""
    with repository.transaction() as tx:
        kari = tx.create(patient(synthetic_fnr(0), family="Ås", gender="female"), id="kari")
        ola = tx.create(patient(synthetic_fnr(1), family="Øvrebø", gender="male"), id="ola")
        walk = tx.create(
            {
                "resourceType": "Goal",
                "lifecycleStatus": "active",
                "achievementStatus": {"coding": [{"code": "improving"}]},
                "description": {"text": "Gå til butikken"},
                "subject": {"reference": "Patient/kari"},
                "startDate": "2024-03-01",
            },
            id="walk",
        )
        cook = tx.create(
            {
                "resourceType": "Goal",
                "lifecycleStatus": "cancelled",
                "description": {"text": "Lage middag"},
                "subject": {"reference": "Patient/kari"},
                "startDate": "2024-05-20",
            },
            id="cook",
        )
        plan = tx.create(
            {
                "resourceType": "CarePlan",
                "status": "active",
                "intent": "plan",
                "subject": {"reference": "Patient/kari"},
                "period": {"start": "2024-03-01", "end": "2024-06-30"},
                "goal": [{"reference": "Goal/walk"}, {"reference": "Goal/cook"}],
            },
            id="plan",
        )
        score1 = tx.create(
            observation(
                "Patient/kari",
                "activity-score",
                "2024-03-01T10:00:00+01:00",
                focus=[{"reference": "Goal/walk"}],
            ),
            id="score1",
        )
        score2 = tx.create(
            observation(
                "Patient/kari", "activity-score", "2024-04-15", focus=[{"reference": "Goal/walk"}]
            ),
            id="score2",
        )
        mean = tx.create(
            observation("Patient/ola", "mean-score", "2023-12-31T23:30:00Z"), id="mean"
        )
        response = tx.create(
            {
                "resourceType": "QuestionnaireResponse",
                "questionnaire": f"{QUESTIONNAIRE}|1.0.0",
                "status": "completed",
                "subject": {"reference": "Patient/kari"},
                "authored": "2024-03-02T09:00:00Z",
                "basedOn": [{"reference": "CarePlan/plan"}],
            },
            id="qr",
        )
    return {s.id: s for s in (kari, ola, walk, cook, plan, score1, score2, mean, response)}


def test_reference_forms(repository: Repository, care: dict[str, StoredResource]) -> None:
    assert ids(search(repository, "CarePlan", ("patient", "kari"))) == {"plan"}
    assert ids(search(repository, "CarePlan", ("patient", "Patient/kari"))) == {"plan"}
    assert ids(search(repository, "CarePlan", ("subject:Patient", "kari"))) == {"plan"}
    assert ids(search(repository, "CarePlan", ("subject:Group", "kari"))) == set()
    assert ids(search(repository, "Observation", ("patient", "kari,ola"))) == {
        "score1",
        "score2",
        "mean",
    }
    assert ids(search(repository, "Observation", ("focus", "Goal/walk"))) == {"score1", "score2"}
    assert ids(search(repository, "CarePlan", ("goal", "cook"))) == {"plan"}
    assert ids(search(repository, "Observation", ("focus:missing", "true"))) == {"mean"}


def test_canonical_reference(repository: Repository, care: dict[str, StoredResource]) -> None:
    for value in (QUESTIONNAIRE, f"{QUESTIONNAIRE}|1.0.0"):
        assert ids(search(repository, "QuestionnaireResponse", ("questionnaire", value))) == {"qr"}
    assert (
        ids(search(repository, "QuestionnaireResponse", ("questionnaire", f"{QUESTIONNAIRE}|2")))
        == set()
    )
    assert ids(search(repository, "QuestionnaireResponse", ("based-on", "CarePlan/plan"))) == {"qr"}


def test_token_forms(repository: Repository, care: dict[str, StoredResource]) -> None:
    assert ids(search(repository, "Observation", ("code", "activity-score"))) == {
        "score1",
        "score2",
    }
    assert ids(search(repository, "Observation", ("code", f"{PSFS}|mean-score"))) == {"mean"}
    assert ids(search(repository, "Observation", ("code", f"{PSFS}|"))) == {
        "score1",
        "score2",
        "mean",
    }
    assert ids(search(repository, "Observation", ("code", "|mean-score"))) == set()
    assert ids(search(repository, "Goal", ("achievement-status", "|improving"))) == {"walk"}
    assert ids(search(repository, "Goal", ("lifecycle-status:not", "active"))) == {"cook"}
    assert ids(search(repository, "Goal", ("achievement-status:missing", "true"))) == {"cook"}
    assert ids(search(repository, "Observation", ("code:text", "psfs akt"))) == {
        "score1",
        "score2",
        "mean",
    }
    assert ids(
        search(repository, "Patient", ("identifier", f"{FNR_SYSTEM}|{synthetic_fnr(1)}"))
    ) == {"ola"}
    assert ids(search(repository, "Patient", ("gender", "male,female"))) == {"kari", "ola"}
    assert ids(search(repository, None, ("_id", "kari,walk"))) == {"kari", "walk"}
    assert ids(search(repository, "Goal", ("_id:not", "walk"))) == {"cook"}


def test_date_prefixes(repository: Repository, care: dict[str, StoredResource]) -> None:
    def on(value: str) -> set[str]:
        return ids(search(repository, "Observation", ("date", value)))

    assert on("2024-03-01") == {"score1"}
    assert on("2024-03") == {"score1"}
    assert on("2024") == {"score1", "score2"}
    assert on("gt2024-03-01") == {"score2"}
    assert on("ge2024-03-01") == {"score1", "score2"}
    assert on("lt2024-01-01") == {"mean"}
    assert on("le2024-03-01T09:00:00Z") == {"mean", "score1"}
    assert on("sa2024-03-01") == {"score2"}
    assert on("eb2024-03-01") == {"mean"}
    assert on("ne2024-03-01") == {"score2", "mean"}
    assert ids(search(repository, "Observation", ("date", "ge2024"), ("date", "lt2024-04"))) == {
        "score1"
    }
    plan_dates = search(repository, "CarePlan", ("date", "2024-05-15"))
    assert ids(plan_dates) == set()  # eq needs the whole period inside the search range
    assert ids(search(repository, "CarePlan", ("date", "ap2024-05-15"))) == {"plan"}
    assert ids(search(repository, "CarePlan", ("date", "eq2024"))) == {"plan"}
    assert ids(search(repository, "QuestionnaireResponse", ("authored", "ge2024-03-02"))) == {"qr"}
    assert ids(search(repository, "Goal", ("start-date", "lt2024-04"))) == {"walk"}


def test_strings(repository: Repository, care: dict[str, StoredResource]) -> None:
    assert ids(search(repository, "Patient", ("name", "as"))) == {"kari"}
    assert ids(search(repository, "Patient", ("family", "ØVRE"))) == {"ola"}
    assert ids(search(repository, "Patient", ("name:exact", "Ås"))) == {"kari"}
    assert ids(search(repository, "Patient", ("name:exact", "ås"))) == set()
    assert ids(search(repository, "Patient", ("name:contains", "rebø"))) == {"ola"}
    assert ids(search(repository, "Patient", ("given", "kar"), ("family", "ås"))) == {"kari"}
    assert ids(search(repository, "Patient", ("name", "a%"))) == set()
    assert ids(search(repository, "Patient", ("name:contains", "_"))) == set()


def test_last_updated(repository: Repository, care: dict[str, StoredResource]) -> None:
    stamp = care["kari"].resource["meta"]["lastUpdated"]
    assert "kari" in ids(search(repository, "Patient", ("_lastUpdated", stamp)))
    assert ids(search(repository, "Patient", ("_lastUpdated", f"gt{stamp}"))) == set()
    assert ids(search(repository, "Patient", ("_lastUpdated", "lt2000"))) == set()


def test_sorting_and_paging(repository: Repository, care: dict[str, StoredResource]) -> None:
    ordered = search(repository, "Observation", ("_sort", "-date"))
    assert [s.id for s in ordered.matches] == ["score2", "score1", "mean"]
    ordered = search(repository, "Goal", ("_sort", "start-date"))
    assert [s.id for s in ordered.matches] == ["walk", "cook"]
    by_status = search(repository, "Goal", ("_sort", "achievement-status,-_id"))
    assert [s.id for s in by_status.matches] == ["walk", "cook"]  # missing sorts last
    everything = search(repository, None, ("_sort", "_id"))
    assert [s.id for s in everything.matches] == sorted(care)
    pages: list[str] = []
    cursor: tuple[str, str] | None = None
    while True:
        params: list[tuple[str, str]] = [("_count", "2"), ("_sort", "-_lastUpdated,_id")]
        if cursor:
            params.append(cursor)
        page = search(repository, None, *params)
        assert len(page.matches) <= 2
        pages.extend(s.id for s in page.matches)
        if page.next_cursor is None:
            break
        cursor = ("_cursor", page.next_cursor)
    assert sorted(pages) == sorted(care) and len(pages) == len(care)
    with pytest.raises(FhirError) as excinfo:
        search(repository, "Goal", ("_count", "2"), cursor)  # type: ignore[arg-type]
    assert excinfo.value.status == 400


def test_totals(repository: Repository, care: dict[str, StoredResource]) -> None:
    assert search(repository, "Observation").total == 3  # free: everything on one page
    assert search(repository, "Observation", ("_count", "1")).total is None
    assert search(repository, "Observation", ("_count", "1"), ("_total", "accurate")).total == 3
    assert search(repository, "Observation", ("_count", "1"), ("_total", "estimate")).total == 3
    count_only = search(repository, "Observation", ("_count", "0"))
    assert count_only.total == 3 and count_only.matches == []


def test_includes(repository: Repository, care: dict[str, StoredResource]) -> None:
    page = search(repository, "CarePlan", ("patient", "kari"), ("_include", "CarePlan:goal"))
    assert ids(page) == {"plan"}
    assert [(s.resource_type, s.id) for s in page.included] == [("Goal", "cook"), ("Goal", "walk")]
    page = search(repository, "Goal", ("_id", "walk"), ("_revinclude", "Observation:focus"))
    assert {s.id for s in page.included} == {"score1", "score2"}
    page = search(
        repository,
        "CarePlan",
        ("_include", "CarePlan:goal"),
        ("_revinclude:iterate", "Observation:focus"),
    )
    assert {s.id for s in page.included} == {"walk", "cook", "score1", "score2"}
    page = search(repository, "CarePlan", ("_include", "CarePlan:*"))
    assert {s.id for s in page.included} == {"walk", "cook", "kari"}
    page = search(repository, "CarePlan", ("_include", "CarePlan:subject:Group"))
    assert page.included == []
    page = search(repository, "Goal", ("_id", "walk"), ("_include", "Goal:patient"))
    assert [s.id for s in page.included] == ["kari"]
    with repository.transaction() as tx:
        tx.delete("Goal", "cook")
    page = search(repository, "CarePlan", ("_include", "CarePlan:goal"))
    assert [s.id for s in page.included] == ["walk"]


def test_system_search_with_type(repository: Repository, care: dict[str, StoredResource]) -> None:
    page = search(repository, None, ("_type", "Observation,CarePlan"), ("patient", "kari"))
    assert ids(page) == {"score1", "score2", "plan"}
    with pytest.raises(FhirError):
        search(repository, "Patient", ("_type", "Goal"))


def test_unknown_parameters_are_reported(repository: Repository) -> None:
    parsed = parse_search("Patient", [("shoe-size", "42"), ("_format", "json"), ("name", "x")])
    assert parsed.unknown == ("shoe-size", "_format")
    with repository.transaction() as tx:
        assert tx.search(parsed.query).matches == []


def test_paging_is_stable_while_resources_are_written(repository: Repository) -> None:
    with repository.transaction() as tx:
        originals = [tx.create(patient(synthetic_fnr(n))).id for n in range(25)]
    seen: list[str] = []
    cursor: list[tuple[str, str]] = []
    writes = 0
    while True:
        page = search(repository, "Patient", ("_count", "7"), *cursor)
        seen.extend(s.id for s in page.matches)
        with repository.transaction() as tx:  # new resources and new versions between pages
            tx.create(patient(synthetic_fnr(100 + writes)))
            tx.update("Patient", originals[writes], patient(synthetic_fnr(writes), gender="other"))
        writes += 1
        if page.next_cursor is None:
            break
        cursor = [("_cursor", page.next_cursor)]
    assert len(seen) == len(set(seen))
    assert set(originals) <= set(seen)
