"""Organisation-scoped access through the real app with real tokens: two municipalities and one
hospital each see exactly their own patients, and no read, search, include, ``$everything``,
history, Bundle or write gets one of them to another's patient (issue: access control, point 3
and point 6).

The world (tests/security/conftest.py) is the three discharge Bundles of fixtures/pathways: Nidelv
hospital follows Astrid and Ingrid, Orkland municipality Astrid and Kåre, Bodø municipality
Ingrid, Bjørgvin hospital Kåre. Tests that change care relations do so on patients of their own.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from httpx import Response

from adapter.security.policy import patients_of
from tests.security.conftest import (
    BJORGVIN,
    BODO,
    NIDELV,
    ORGNR,
    ORKLAND,
    Caller,
    Secured,
    World,
)

ORGANISATIONS = (NIDELV, ORKLAND, BODO, BJORGVIN)
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
ASTRID_FNR = "14833641221"
SID = "http://forlop.no/fhir/sid/security-test"


def resources(response: Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry", [])]


def patient_ids(found: list[dict[str, Any]]) -> set[str]:
    """The patients the resources belong to (Patient ids)."""
    return {key.split("/")[1] for r in found for key in patients_of(r)}


def refused_like_unknown(response: Response, key: str) -> None:
    """A 404 that says no more than an unknown id would."""
    assert response.status_code == 404, response.text
    issue = response.json()["issue"][0]
    assert issue["code"] == "not-found"
    assert issue["diagnostics"] == f"{key} is not known."


def new_patient(caller: Caller, *, manager: str | None) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": SID, "value": uuid.uuid4().hex}],
        "name": [{"family": "Testesen"}],
    }
    if manager is not None:
        patient["managingOrganization"] = {"reference": f"Organization/{manager}"}
    answer = caller.post("/fhir/Patient", patient)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


# --- reading and searching ------------------------------------------------------------------------


@pytest.mark.parametrize("organisation", ORGANISATIONS)
def test_each_organisation_sees_exactly_its_own_patients(
    secured: Secured, world: World, organisation: str
) -> None:
    caller = secured.caller(organisation)
    found = resources(caller.get("/fhir/Patient", params={"_count": "1000"}))
    pathway_patients = {p["id"] for p in found} & set(world.patients.values())
    assert pathway_patients == world.own(organisation)
    for rtype in ("CarePlan", "CareTeam", "Encounter", "QuestionnaireResponse"):
        found = resources(caller.get(f"/fhir/{rtype}", params={"_count": "1000"}))
        assert patient_ids(found) & world.others(organisation) == set(), rtype
    for patient in world.own(organisation):
        assert caller.get(f"/fhir/Patient/{patient}").status_code == 200
        plans = resources(caller.get("/fhir/CarePlan", params={"subject": f"Patient/{patient}"}))
        assert len(plans) == 1


@pytest.mark.parametrize("organisation", ORGANISATIONS)
def test_another_organisations_patient_reads_like_a_missing_one(
    secured: Secured, world: World, organisation: str
) -> None:
    caller = secured.caller(organisation)
    for patient in world.others(organisation):
        refused_like_unknown(caller.get(f"/fhir/Patient/{patient}"), f"Patient/{patient}")
        refused_like_unknown(
            caller.get(f"/fhir/Patient/{patient}/_history/1"), f"Patient/{patient}"
        )
        history = caller.get(f"/fhir/Patient/{patient}/_history")
        assert history.status_code == 404
        assert caller.get("/fhir/Patient", params={"_id": patient}).json().get("entry") is None
    unknown = str(uuid.uuid4())
    refused_like_unknown(caller.get(f"/fhir/Patient/{unknown}"), f"Patient/{unknown}")


def test_a_search_by_person_number_finds_nothing_outside_the_care(
    secured: Secured, world: World
) -> None:
    query = {"identifier": f"{FNR}|{ASTRID_FNR}"}
    assert [
        p["id"] for p in resources(secured.caller(ORKLAND).get("/fhir/Patient", params=query))
    ] == [world.patients["astrid-fjellheim"]]
    assert resources(secured.caller(BODO).get("/fhir/Patient", params=query)) == []
    plans = {"subject:Patient.identifier": f"{FNR}|{ASTRID_FNR}"}
    answer = secured.caller(BODO).get("/fhir/CarePlan", params=plans)
    assert answer.status_code in (200, 400)
    if answer.status_code == 200:
        assert resources(answer) == []


def test_includes_and_revincludes_leave_out_other_patients(secured: Secured, world: World) -> None:
    bodo = secured.caller(BODO)
    # Orkland's Organization is named by Astrid's and Kåre's care teams, not by Ingrid's.
    orkland = world.organizations[ORKLAND]
    found = resources(
        bodo.get(
            "/fhir/Organization", params={"_id": orkland, "_revinclude": "CareTeam:participant"}
        )
    )
    assert [r["resourceType"] for r in found] == ["Organization"]
    nidelv = secured.caller(NIDELV)
    found = resources(
        nidelv.get(
            "/fhir/Organization", params={"_id": orkland, "_revinclude": "CareTeam:participant"}
        )
    )
    teams = [r for r in found if r["resourceType"] == "CareTeam"]
    assert patient_ids(teams) == {world.patients["astrid-fjellheim"]}
    found = resources(
        bodo.get(
            "/fhir/CarePlan",
            params={
                "_include": ["CarePlan:subject", "CarePlan:care-team"],
                "_revinclude": "Provenance:target",
            },
        )
    )
    assert patient_ids(found) & world.others(BODO) == set()
    assert {r["id"] for r in found if r["resourceType"] == "Patient"} <= world.own(BODO)


def test_a_restricted_caller_gets_no_total(secured: Secured, world: World) -> None:
    answer = secured.caller(BODO).get("/fhir/Patient", params={"_total": "accurate"})
    assert "total" not in answer.json()
    count = secured.caller(BODO).get("/fhir/Patient", params={"_summary": "count"})
    assert count.status_code == 200 and "total" not in count.json()


def test_everything_of_another_patient_is_404_and_of_its_own_is_its_own(
    secured: Secured, world: World
) -> None:
    bodo = secured.caller(BODO)
    astrid = world.patients["astrid-fjellheim"]
    refused_like_unknown(bodo.get(f"/fhir/Patient/{astrid}/$everything"), f"Patient/{astrid}")
    ingrid = world.patients["ingrid-solvang"]
    found = resources(bodo.get(f"/fhir/Patient/{ingrid}/$everything", params={"_count": "1000"}))
    assert {r["resourceType"] for r in found} >= {"Patient", "CarePlan", "CareTeam", "Encounter"}
    assert patient_ids(found) == {ingrid}


def test_histories_leave_out_other_patients(secured: Secured, world: World) -> None:
    bodo = secured.caller(BODO)
    for url in ("/fhir/Patient/_history", "/fhir/CareTeam/_history", "/fhir/_history"):
        answer = bodo.get(url, params={"_count": "1000"})
        assert answer.status_code == 200, answer.text
        versions = [e["resource"] for e in answer.json().get("entry", []) if "resource" in e]
        assert patient_ids(versions) & world.others(BODO) == set(), url
        assert "AuditEvent" not in {v["resourceType"] for v in versions}


# --- Bundles ------------------------------------------------------------------------------------


def test_a_transaction_cannot_read_another_organisations_patient(
    secured: Secured, world: World
) -> None:
    astrid = world.patients["astrid-fjellheim"]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"request": {"method": "GET", "url": f"Patient/{astrid}"}},
            {"request": {"method": "GET", "url": f"Patient/{astrid}/$everything"}},
        ],
    }
    answer = secured.caller(BODO).post("/fhir", bundle)
    assert answer.status_code == 404
    assert f"Patient/{astrid} is not known" in answer.text
    batch = {**bundle, "type": "batch"}
    answer = secured.caller(BODO).post("/fhir", batch)
    assert answer.status_code == 200
    statuses = [e["response"]["status"] for e in answer.json()["entry"]]
    assert statuses == ["404 Not Found", "404 Not Found"]
    assert "resource" not in answer.json()["entry"][0]


def test_a_transaction_cannot_write_its_way_into_another_patients_care(
    secured: Secured, world: World
) -> None:
    astrid = world.patients["astrid-fjellheim"]
    team = {
        "resourceType": "CareTeam",
        "identifier": [{"system": SID, "value": uuid.uuid4().hex}],
        "status": "active",
        "subject": {"reference": f"Patient/{astrid}"},
        "managingOrganization": [{"reference": f"Organization/{world.organizations[BODO]}"}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": team, "request": {"method": "POST", "url": "CareTeam"}}],
    }
    bodo = secured.caller(BODO)
    answer = bodo.post("/fhir", bundle)
    # The reference names a patient that, for Bodø, does not exist.
    assert answer.status_code == 400, answer.text
    assert "does not exist" in answer.text
    # By person number: a conditional reference finds nothing Bodø may see ...
    team["subject"] = {"reference": f"Patient?identifier={FNR}|{ASTRID_FNR}"}
    answer = bodo.post("/fhir", bundle)
    assert answer.status_code == 412, answer.text
    # ... and a conditional create of the person registers Bodø's own patient, apart from
    # Orkland's and Nidelv's Astrid.
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": FNR, "value": ASTRID_FNR}],
        "managingOrganization": {"reference": f"Organization/{world.organizations[BODO]}"},
    }
    bundle["entry"] = [
        {
            "fullUrl": "urn:uuid:6b0d8c3e-5a5e-4f5e-9d0b-0d6c2b1e3f4a",
            "resource": patient,
            "request": {
                "method": "POST",
                "url": "Patient",
                "ifNoneExist": f"identifier={FNR}|{ASTRID_FNR}",
            },
        },
        {
            **bundle["entry"][0],
            "resource": {
                **team,
                "subject": {"reference": "urn:uuid:6b0d8c3e-5a5e-4f5e-9d0b-0d6c2b1e3f4a"},
            },
        },
    ]
    answer = bodo.post("/fhir", bundle)
    assert answer.status_code == 200, answer.text
    own = answer.json()["entry"][0]["response"]["location"].split("/")[1]
    assert own != astrid
    assert bodo.get(f"/fhir/Patient/{astrid}").status_code == 404
    everything = resources(bodo.get(f"/fhir/Patient/{own}/$everything"))
    assert patient_ids(everything) == {own}


# --- writes -------------------------------------------------------------------------------------


def test_writes_to_another_organisations_patient_are_404(secured: Secured, world: World) -> None:
    bodo = secured.caller(BODO)
    astrid = world.patients["astrid-fjellheim"]
    current = secured.caller(ORKLAND).get(f"/fhir/Patient/{astrid}").json()
    changed = {
        **current,
        "managingOrganization": {"reference": f"Organization/{world.organizations[BODO]}"},
    }
    refused_like_unknown(bodo.put(f"/fhir/Patient/{astrid}", changed), f"Patient/{astrid}")
    patch = [{"op": "replace", "path": "/active", "value": False}]
    answer = bodo.send(
        "PATCH",
        f"/fhir/Patient/{astrid}",
        patch,
        headers={"content-type": "application/json-patch+json"},
    )
    refused_like_unknown(answer, f"Patient/{astrid}")
    refused_like_unknown(bodo.delete(f"/fhir/Patient/{astrid}"), f"Patient/{astrid}")
    team = resources(
        secured.caller(ORKLAND).get("/fhir/CareTeam", params={"subject": f"Patient/{astrid}"})
    )[0]
    joined = {
        **team,
        "participant": [
            *team["participant"],
            {"member": {"reference": f"Organization/{world.organizations[BODO]}"}},
        ],
    }
    # Its references name resources Bodø cannot see, so the write fails as it would for a new
    # team; either way nothing of Astrid's changes.
    answer = bodo.put(f"/fhir/CareTeam/{team['id']}", joined)
    assert answer.status_code in (400, 404), answer.text
    assert "Patient/" not in answer.text or "does not exist" in answer.text
    # Nothing changed: Orkland still reads the same versions, Bodø still sees nothing.
    orkland = secured.caller(ORKLAND)
    assert orkland.get(f"/fhir/Patient/{astrid}").json()["meta"] == current["meta"]
    assert orkland.get(f"/fhir/CareTeam/{team['id']}").json()["meta"] == team["meta"]
    assert bodo.get(f"/fhir/Patient/{astrid}").status_code == 404


def test_nobody_takes_over_an_organisation_number(secured: Secured, world: World) -> None:
    nidelv = world.organizations[NIDELV]
    current = secured.caller(NIDELV).get(f"/fhir/Organization/{nidelv}").json()
    claimed = {**current, "identifier": [{"system": ORGNR, "value": BODO}]}
    answer = secured.caller(BODO).put(f"/fhir/Organization/{nidelv}", claimed)
    assert answer.status_code == 403, answer.text
    assert answer.json()["issue"][0]["details"]["coding"][0]["code"] == "FORLOP-AUTH-004"
    assert secured.caller(BODO).delete(f"/fhir/Organization/{nidelv}").status_code == 403
    renamed = {**current, "alias": ["Nidelv"]}
    assert secured.caller(BODO).put(f"/fhir/Organization/{nidelv}", renamed).status_code == 200
    assert (
        secured.caller(BODO).get(f"/fhir/Patient/{world.patients['astrid-fjellheim']}").status_code
        == 404
    )


def test_a_new_patient_must_be_in_the_callers_care(secured: Secured, world: World) -> None:
    bodo = secured.caller(BODO)
    orphan = {
        "resourceType": "Patient",
        "identifier": [{"system": SID, "value": uuid.uuid4().hex}],
    }
    answer = bodo.post("/fhir/Patient", orphan)
    assert answer.status_code == 403, answer.text
    assert "managingOrganization" in answer.text
    assert (
        resources(
            bodo.get(
                "/fhir/Patient", params={"identifier": f"{SID}|{orphan['identifier'][0]['value']}"}
            )
        )
        == []
    )
    mine = new_patient(bodo, manager=world.organizations[BODO])
    assert bodo.get(f"/fhir/Patient/{mine['id']}").status_code == 200
    assert secured.caller(NIDELV).get(f"/fhir/Patient/{mine['id']}").status_code == 404


def test_a_deleted_resource_of_another_patient_is_404_not_410(
    secured: Secured, world: World
) -> None:
    orkland = secured.caller(ORKLAND)
    mine = new_patient(orkland, manager=world.organizations[ORKLAND])
    assert orkland.delete(f"/fhir/Patient/{mine['id']}").status_code == 204
    assert orkland.get(f"/fhir/Patient/{mine['id']}").status_code == 410
    refused_like_unknown(
        secured.caller(BODO).get(f"/fhir/Patient/{mine['id']}"), f"Patient/{mine['id']}"
    )
    history = secured.caller(BODO).get("/fhir/Patient/_history", params={"_count": "1000"})
    assert mine["id"] not in {e["fullUrl"].rsplit("/", 1)[1] for e in history.json()["entry"]}


def test_a_referral_brings_the_next_organisation_in(secured: Secured, world: World) -> None:
    orkland, bodo = secured.caller(ORKLAND), secured.caller(BODO)
    patient = new_patient(orkland, manager=world.organizations[ORKLAND])
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "subject": {"reference": f"Patient/{patient['id']}"},
        "participant": [{"member": {"reference": f"Organization/{world.organizations[ORKLAND]}"}}],
    }
    created = orkland.post("/fhir/CareTeam", team)
    assert created.status_code == 201, created.text
    assert bodo.get(f"/fhir/Patient/{patient['id']}").status_code == 404
    referral = {
        **created.json(),
        "participant": [
            *team["participant"],
            {"member": {"reference": f"Organization/{world.organizations[BODO]}"}},
        ],
    }
    assert orkland.put(f"/fhir/CareTeam/{referral['id']}", referral).status_code == 200
    assert bodo.get(f"/fhir/Patient/{patient['id']}").status_code == 200
    # An ended team ends the access again.
    ended = bodo.get(f"/fhir/CareTeam/{referral['id']}").json()
    ended["status"] = "inactive"
    assert bodo.put(f"/fhir/CareTeam/{referral['id']}", ended).status_code == 200
    assert bodo.get(f"/fhir/Patient/{patient['id']}").status_code == 404
    assert orkland.get(f"/fhir/Patient/{patient['id']}").status_code == 200


def test_data_naming_a_patient_by_identifier_only_follows_that_patients_care(
    secured: Secured, world: World
) -> None:
    orkland, bodo = secured.caller(ORKLAND), secured.caller(BODO)
    patient = new_patient(orkland, manager=world.organizations[ORKLAND])
    identifier = patient["identifier"][0]
    observation = {
        "resourceType": "Observation",
        "identifier": [{"system": SID, "value": uuid.uuid4().hex}],
        "status": "final",
        "code": {"text": "Gangfunksjon"},
        "subject": {"type": "Patient", "identifier": identifier},
        "valueString": "går med rullator",
    }
    created = orkland.post("/fhir/Observation", observation)
    assert created.status_code == 201, created.text
    query = {"identifier": f"{SID}|{observation['identifier'][0]['value']}"}
    assert len(resources(orkland.get("/fhir/Observation", params=query))) == 1
    assert resources(bodo.get("/fhir/Observation", params=query)) == []
    refused_like_unknown(
        bodo.get(f"/fhir/Observation/{created.json()['id']}"),
        f"Observation/{created.json()['id']}",
    )
    copy = {k: v for k, v in observation.items() if k != "identifier"}
    answer = bodo.post("/fhir/Observation", copy)
    assert answer.status_code == 403, answer.text
