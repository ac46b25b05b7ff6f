"""Organisation-scoped access on a small synthetic world: two municipalities and one hospital.

Kommune A manages Anna and works with the hospital through an active CareTeam; Kommune B manages
Bjørn, whose CarePlan names a hospital team. Each test asks who may see or write what.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter.fhir.json_codec import dump_json
from adapter.fhir.models import is_resource_type
from adapter.security.policy import (
    PATIENT_COMPARTMENT,
    Resource,
    _patients_by_text,
    _patients_by_walk,
    authors_of,
    care_organisations,
    may_read,
    may_write,
    organisation_number,
    patients_of,
    reference_key,
    visible,
)
from adapter.security.scopes import ScopeSet
from adapter.security.tokens import Principal, insecure_dev_principal

from .conftest import KOMMUNE_A, KOMMUNE_B, SYKEHUS

ORGNR = "urn:oid:2.16.578.1.12.4.1.4.101"
FNR = "urn:oid:2.16.578.1.12.4.1.4.1"
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
GP_OFFICE = "950000048"


def org(id: str, number: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": id,
        "identifier": [{"system": ORGNR, "value": number}],
    }


def ref(key: str) -> dict[str, str]:
    return {"reference": key}


def build_world() -> dict[str, dict[str, Any]]:
    resources = [
        org("kommune-a", KOMMUNE_A),
        org("kommune-b", KOMMUNE_B),
        org("sykehus", SYKEHUS),
        org("legekontor", GP_OFFICE),
        {
            "resourceType": "PractitionerRole",
            "id": "sykepleier-a",
            "organization": ref("Organization/kommune-a"),
        },
        {
            "resourceType": "Patient",
            "id": "anna",
            "managingOrganization": ref("Organization/kommune-a"),
        },
        {
            "resourceType": "Patient",
            "id": "bjorn",
            "managingOrganization": ref("Organization/kommune-b"),
            "generalPractitioner": [ref("Organization/legekontor")],
        },
        {
            "resourceType": "CareTeam",
            "id": "anna-transition",
            "status": "active",
            "subject": ref("Patient/anna"),
            "period": {"start": "2026-03-01"},
            "participant": [
                {"member": ref("Organization/sykehus"), "period": {"start": "2026-03-01"}},
                {"member": ref("PractitionerRole/sykepleier-a")},
            ],
        },
        {
            "resourceType": "EpisodeOfCare",
            "id": "bjorn-hospital",
            "status": "finished",
            "patient": ref("Patient/bjorn"),
            "managingOrganization": ref("Organization/sykehus"),
        },
        {
            "resourceType": "CareTeam",
            "id": "hospital-geriatrics",
            "status": "active",
            "managingOrganization": [ref("Organization/sykehus")],
        },
        {
            "resourceType": "CarePlan",
            "id": "bjorn-plan",
            "status": "completed",
            "intent": "plan",
            "subject": ref("Patient/bjorn"),
            "author": ref("Organization/kommune-b"),
            "careTeam": [ref("CareTeam/hospital-geriatrics")],
        },
    ]
    return {f"{r['resourceType']}/{r['id']}": r for r in resources}


class World:
    def __init__(self) -> None:
        self.resources = build_world()

    def resolve(self, key: str) -> Resource | None:
        return self.resources.get(key)

    def put(self, resource: dict[str, Any]) -> None:
        self.resources[f"{resource['resourceType']}/{resource['id']}"] = resource

    def care(self, patient: str) -> frozenset[str]:
        if patient.startswith("Patient?identifier="):
            system, _, value = patient.removeprefix("Patient?identifier=").partition("|")
            matches = [
                f"Patient/{r['id']}"
                for r in self.resources.values()
                if r["resourceType"] == "Patient"
                and {"system": system, "value": value} in r.get("identifier", [])
            ]
            return self.care(matches[0]) if matches else frozenset()
        return care_organisations(patient, self.resources.values(), self.resolve, on=NOW)


@pytest.fixture
def world() -> World:
    return World()


def caller(organisation: str | None, scopes: str = "system/*.cruds", **kw: Any) -> Principal:
    return Principal(client_id="c", organisation=organisation, scopes=ScopeSet.parse(scopes), **kw)


def observation(patient: str, performer: str | None = None) -> dict[str, Any]:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "subject": ref(patient),
    }
    if performer:
        obs["performer"] = [ref(performer)]
    return obs


# --- care relations -----------------------------------------------------------------------------


def test_annas_care_involves_her_municipality_and_the_hospital(world: World) -> None:
    assert world.care("Patient/anna") == {KOMMUNE_A, SYKEHUS}


def test_closed_episodes_and_plans_do_not_count(world: World) -> None:
    # Bjørn's hospital episode is finished and his plan completed: only his municipality and GP.
    assert world.care("Patient/bjorn") == {KOMMUNE_B, GP_OFFICE}
    world.resources["EpisodeOfCare/bjorn-hospital"]["status"] = "active"
    assert world.care("Patient/bjorn") == {KOMMUNE_B, GP_OFFICE, SYKEHUS}


def test_a_care_plan_brings_its_author_contributors_performers_and_teams(world: World) -> None:
    plan = world.resources["CarePlan/bjorn-plan"]
    plan["status"] = "active"
    assert SYKEHUS in world.care("Patient/bjorn")  # through the hospital's care team
    plan["careTeam"] = []
    plan["author"] = ref("Organization/kommune-a")
    plan["activity"] = [
        {
            "detail": {
                "status": "scheduled",
                "performer": [{"identifier": {"system": ORGNR, "value": SYKEHUS}}],
            }
        }
    ]
    assert world.care("Patient/bjorn") == {KOMMUNE_B, GP_OFFICE, KOMMUNE_A, SYKEHUS}


def test_an_episode_team_counts_while_the_team_is_active(world: World) -> None:
    episode = world.resources["EpisodeOfCare/bjorn-hospital"]
    episode.update(status="active", managingOrganization=ref("Organization/kommune-b"))
    episode["team"] = [ref("CareTeam/hospital-geriatrics")]
    assert SYKEHUS in world.care("Patient/bjorn")
    world.resources["CareTeam/hospital-geriatrics"]["status"] = "inactive"
    assert SYKEHUS not in world.care("Patient/bjorn")


@pytest.mark.parametrize(
    "change",
    [
        {"status": "inactive"},
        {"status": "proposed"},
        {"period": {"start": "2026-01-01", "end": "2026-02"}},
        {"period": {"start": "2026-04-01"}},
        {"period": {"start": "not a date"}},
    ],
)
def test_a_care_team_counts_only_while_active(world: World, change: dict[str, Any]) -> None:
    world.resources["CareTeam/anna-transition"].update(change)
    assert world.care("Patient/anna") == {KOMMUNE_A}


def test_a_participant_whose_period_ended_takes_no_part(world: World) -> None:
    team = world.resources["CareTeam/anna-transition"]
    team["participant"][0]["period"] = {"start": "2026-03-01", "end": "2026-03-14T23:59:59Z"}
    assert world.care("Patient/anna") == {KOMMUNE_A}
    team["participant"][0]["period"] = {"start": "2026-03-01", "end": "2026-03-15"}
    assert world.care("Patient/anna") == {KOMMUNE_A, SYKEHUS}


def test_a_care_team_about_another_patient_does_not_count(world: World) -> None:
    team = world.resources["CareTeam/anna-transition"]
    team["subject"] = ref("Patient/bjorn")
    assert world.care("Patient/anna") == {KOMMUNE_A}


def test_organisations_by_identifier_and_through_roles(world: World) -> None:
    by_identifier = {"identifier": {"system": ORGNR, "value": KOMMUNE_B}}
    assert organisation_number(by_identifier, world.resolve) == KOMMUNE_B
    assert organisation_number(ref("Organization/sykehus"), world.resolve) == SYKEHUS
    assert organisation_number(ref("PractitionerRole/sykepleier-a"), world.resolve) == KOMMUNE_A
    assert organisation_number(ref("Organization/unknown"), world.resolve) is None
    assert organisation_number(ref("Practitioner/p1"), world.resolve) is None
    assert organisation_number({"display": "Sykehuset"}, world.resolve) is None


# --- reads ---------------------------------------------------------------------------------------


def test_only_organisations_in_the_care_read_a_patients_data(world: World) -> None:
    obs = observation("Patient/anna")
    assert may_read(caller(KOMMUNE_A), obs, world.care, world.resolve)
    assert may_read(caller(SYKEHUS), obs, world.care, world.resolve)
    decision = may_read(caller(KOMMUNE_B), obs, world.care, world.resolve)
    assert not decision
    assert "Patient/anna" in decision.reason


def test_the_patient_resource_itself_is_patient_data(world: World) -> None:
    anna = world.resources["Patient/anna"]
    assert may_read(caller(KOMMUNE_A), anna, world.care, world.resolve)
    assert not may_read(caller(KOMMUNE_B), anna, world.care, world.resolve)


def test_the_author_keeps_access_after_its_part_in_the_care_ends(world: World) -> None:
    world.resources["CareTeam/anna-transition"]["status"] = "inactive"
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr1",
        "status": "completed",
        "subject": ref("Patient/anna"),
        "author": ref("Organization/sykehus"),
    }
    assert authors_of(response, world.resolve) == {SYKEHUS}
    decision = may_read(caller(SYKEHUS), response, world.care, world.resolve)
    assert decision and "author" in decision.reason
    assert not may_read(caller(SYKEHUS), observation("Patient/anna"), world.care, world.resolve)


def test_an_observation_performed_by_the_caller_is_its_own(world: World) -> None:
    obs = observation("Patient/bjorn", performer="PractitionerRole/sykepleier-a")
    assert may_read(caller(KOMMUNE_A), obs, world.care, world.resolve)


def test_data_about_no_patient_is_open_to_every_caller(world: World) -> None:
    for resource in (
        world.resources["Organization/sykehus"],
        world.resources["CareTeam/hospital-geriatrics"],
        {"resourceType": "Questionnaire", "id": "q", "status": "active"},
    ):
        assert may_read(caller(None), resource, world.care, world.resolve)


def test_a_caller_without_organisation_sees_no_patient_data(world: World) -> None:
    decision = may_read(caller(None), observation("Patient/anna"), world.care, world.resolve)
    assert not decision and "no organisation" in decision.reason


def test_insecure_dev_sees_everything(world: World) -> None:
    assert may_read(
        insecure_dev_principal(), observation("Patient/anna"), world.care, world.resolve
    )


def test_data_about_two_patients_needs_both(world: World) -> None:
    group = {
        "resourceType": "Communication",
        "id": "c1",
        "status": "completed",
        "subject": ref("Patient/anna"),
        "recipient": [ref("Patient/bjorn")],
    }
    assert patients_of(group) == {"Patient/anna", "Patient/bjorn"}
    assert not may_read(caller(KOMMUNE_A), group, world.care, world.resolve)
    assert not may_read(caller(KOMMUNE_B), group, world.care, world.resolve)


def test_a_patient_named_only_by_person_number_is_still_protected(world: World) -> None:
    world.resources["Patient/anna"]["identifier"] = [{"system": FNR, "value": "15833812340"}]
    obs = observation("Patient/anna")
    obs["subject"] = {"identifier": {"system": FNR, "value": "15833812340"}}
    assert patients_of(obs) == {f"Patient?identifier={FNR}|15833812340"}
    assert may_read(caller(KOMMUNE_A), obs, world.care, world.resolve)
    assert not may_read(caller(KOMMUNE_B), obs, world.care, world.resolve)


def test_a_practitioner_named_by_person_number_is_no_patient() -> None:
    response = {
        "resourceType": "QuestionnaireResponse",
        "subject": ref("Patient/anna"),
        "author": {"type": "Practitioner", "identifier": {"system": FNR, "value": "15833812340"}},
    }
    assert patients_of(response) == {"Patient/anna"}


def test_patients_in_contained_resources_and_absolute_references_count() -> None:
    resource = {
        "resourceType": "Provenance",
        "contained": [{"resourceType": "Observation", "subject": ref("Patient/anna")}],
        "target": [ref("http://forlop.example/fhir/Patient/bjorn/_history/3")],
        "agent": [{"who": ref("#contained")}],
    }
    assert patients_of(resource) == {"Patient/anna", "Patient/bjorn"}


@pytest.mark.parametrize(
    ("literal", "key"),
    [
        ("Patient/anna", "Patient/anna"),
        ("Patient/anna/_history/2", "Patient/anna"),
        ("https://fhir.example/base/Organization/x-1", "Organization/x-1"),
        ("#contained", None),
        ("urn:uuid:2b1e6a8e-6d3c-4c0e-9b9e-2f1f1d3c4b5a", None),
        ("patient/anna", None),
        ("", None),
    ],
)
def test_reference_keys(literal: str, key: str | None) -> None:
    assert reference_key(literal) == key


def test_patient_scopes_reach_the_launch_patient_only(world: World) -> None:
    principal = caller(KOMMUNE_A, "patient/Observation.rs", patient="anna")
    assert may_read(principal, observation("Patient/anna"), world.care, world.resolve)
    other = caller(KOMMUNE_B, "patient/Observation.rs", patient="anna")
    assert not may_read(other, observation("Patient/bjorn"), world.care, world.resolve)
    stray = caller(KOMMUNE_B, "patient/Observation.rs", patient="bjorn")
    assert not may_read(stray, observation("Patient/anna"), world.care, world.resolve)


def test_searches_leave_out_what_the_caller_may_not_see(world: World) -> None:
    results = [
        observation("Patient/anna"),
        observation("Patient/bjorn"),
        world.resources["Organization/sykehus"],
    ]
    seen = visible(caller(KOMMUNE_B), results, world.care, world.resolve)
    assert [r["resourceType"] for r in seen] == ["Observation", "Organization"]
    assert seen[0]["subject"] == ref("Patient/bjorn")


# --- writes --------------------------------------------------------------------------------------


def test_writes_about_a_patient_follow_the_same_rule(world: World) -> None:
    new = observation("Patient/anna")
    assert may_write(caller(SYKEHUS), None, new, world.care, world.resolve)
    assert not may_write(caller(KOMMUNE_B), None, new, world.care, world.resolve)


def test_an_update_of_a_resource_the_caller_cannot_see_is_denied_on_the_current(
    world: World,
) -> None:
    current = observation("Patient/anna")
    moved = observation("Patient/bjorn")
    decision = may_write(caller(KOMMUNE_B), current, moved, world.care, world.resolve)
    assert not decision and "Patient/anna" in decision.reason
    # Moving data to a patient the caller does not care for is refused on the new version.
    decision = may_write(caller(KOMMUNE_A), current, moved, world.care, world.resolve)
    assert not decision and "Patient/bjorn" in decision.reason


def test_a_delete_needs_access_to_the_current_version(world: World) -> None:
    current = observation("Patient/anna")
    assert may_write(caller(KOMMUNE_A), current, None, world.care, world.resolve)
    assert not may_write(caller(KOMMUNE_B), current, None, world.care, world.resolve)


def test_no_organisation_writes_itself_into_a_patients_care(world: World) -> None:
    team = {
        "resourceType": "CareTeam",
        "id": "anna-home",
        "status": "active",
        "subject": ref("Patient/anna"),
        "managingOrganization": [ref("Organization/kommune-b")],
    }
    # Kommune B would manage the team it writes, but takes no part in Anna's care before the
    # write: being the author of the new version is not enough.
    decision = may_write(caller(KOMMUNE_B), None, team, world.care, world.resolve)
    assert not decision and "Patient/anna" in decision.reason
    # Kommune A, which follows Anna, may bring Kommune B in (a referral) ...
    assert may_write(caller(KOMMUNE_A), None, team, world.care, world.resolve)
    # ... and from then on Kommune B takes part.
    world.put(team)
    assert may_read(caller(KOMMUNE_B), observation("Patient/anna"), world.care, world.resolve)


def test_a_new_patient_is_judged_by_its_care_after_the_request(world: World) -> None:
    carl = {"resourceType": "Patient", "id": "carl", "managingOrganization": ref("Organization/x")}
    nobody: frozenset[str] = frozenset()

    def after(patient: str) -> frozenset[str]:
        return frozenset({KOMMUNE_B}) if patient == "Patient/carl" else world.care(patient)

    assert may_write(caller(KOMMUNE_B), None, carl, after, world.resolve)
    decision = may_write(caller(KOMMUNE_B), None, carl, lambda p: nobody, world.resolve)
    assert not decision and "Patient/carl" in decision.reason


def test_an_author_outside_the_care_may_not_change_its_data(world: World) -> None:
    world.resources["CareTeam/anna-transition"]["status"] = "inactive"
    response = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr1",
        "status": "completed",
        "subject": ref("Patient/anna"),
        "author": ref("Organization/sykehus"),
    }
    changed = {**response, "status": "amended"}
    assert may_read(caller(SYKEHUS), response, world.care, world.resolve)
    assert not may_write(caller(SYKEHUS), response, changed, world.care, world.resolve)
    assert may_write(caller(SYKEHUS), response, None, world.care, world.resolve)


def test_an_organisation_number_changes_only_by_its_own_hand(world: World) -> None:
    hospital = world.resources["Organization/sykehus"]
    claimed = {**hospital, "identifier": [{"system": ORGNR, "value": KOMMUNE_B}]}
    renamed = {**hospital, "name": "Sykehuset i Vest"}
    decision = may_write(caller(KOMMUNE_B), hospital, claimed, world.care, world.resolve)
    assert not decision and SYKEHUS in decision.reason
    assert not may_write(caller(KOMMUNE_B), hospital, None, world.care, world.resolve)
    assert may_write(caller(KOMMUNE_B), hospital, renamed, world.care, world.resolve)
    assert may_write(caller(SYKEHUS), hospital, claimed, world.care, world.resolve)
    # A new Organization is referred to by nothing yet: anybody may register one.
    assert may_write(caller(KOMMUNE_B), None, claimed, world.care, world.resolve)


def test_roles_and_teams_without_patient_keep_their_organisations(world: World) -> None:
    role = world.resources["PractitionerRole/sykepleier-a"]
    moved = {**role, "organization": ref("Organization/kommune-b")}
    assert not may_write(caller(KOMMUNE_B), role, moved, world.care, world.resolve)
    assert may_write(caller(KOMMUNE_A), role, moved, world.care, world.resolve)
    team = world.resources["CareTeam/hospital-geriatrics"]
    joined = {**team, "participant": [{"member": ref("Organization/kommune-b")}]}
    assert not may_write(caller(KOMMUNE_B), team, joined, world.care, world.resolve)
    assert may_write(caller(SYKEHUS), team, joined, world.care, world.resolve)
    bare = {"resourceType": "CareTeam", "id": "t", "status": "active"}
    assert may_write(caller(KOMMUNE_B), bare, {**bare, "name": "x"}, world.care, world.resolve)


def test_audit_events_about_no_patient_are_their_organisations_own(world: World) -> None:
    event = {
        "resourceType": "AuditEvent",
        "id": "e1",
        "agent": [{"who": {"identifier": {"system": ORGNR, "value": KOMMUNE_A}}}],
    }
    assert may_read(caller(KOMMUNE_A), event, world.care, world.resolve)
    decision = may_read(caller(KOMMUNE_B), event, world.care, world.resolve)
    assert not decision and "AuditEvent" in decision.reason
    about_anna = {**event, "entity": [{"what": ref("Patient/anna")}]}
    assert may_read(caller(SYKEHUS), about_anna, world.care, world.resolve)
    assert not may_read(caller(KOMMUNE_B), about_anna, world.care, world.resolve)


def test_the_patient_compartment_names_r4_types() -> None:
    assert all(is_resource_type(name) for name in PATIENT_COMPARTMENT)
    assert PATIENT_COMPARTMENT["CarePlan"] == ("patient", "performer")
    assert PATIENT_COMPARTMENT["QuestionnaireResponse"] == ("subject", "author")


# --- the patients of a resource, read off its JSON text ---------------------------------------

_KEYS = st.sampled_from(
    ["reference", "identifier", "type", "system", "value", "subject", "contained", 'x"reference']
)
_TEXT = st.sampled_from(
    [
        "Patient/anna",
        "Patient/anna/_history/2",
        "https://fhir.example/base/Patient/bj\u00f8rn",
        'Patient/"q"',
        "Patient/back\\slash",
        '","reference":"Patient/smuggled',
        "#contained",
        "Observation/o-1",
        "Patient",
        FNR,
        "15833812340",
    ]
)
# Reference-shaped objects, literal or by identifier, among arbitrary JSON around them.
_REFERENCE = st.fixed_dictionaries({"reference": _TEXT}, optional={"type": _TEXT, "display": _TEXT})
_BY_IDENTIFIER = st.fixed_dictionaries(
    {"identifier": st.fixed_dictionaries({"system": _TEXT, "value": _TEXT})},
    optional={"type": st.sampled_from(["Patient", "Practitioner"])},
)
_SCALAR = _TEXT | st.integers(-(2**63), 2**63 - 1) | st.booleans() | st.none()


def _json(leaves: st.SearchStrategy[Any], keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
        max_leaves=25,
    )


_LITERAL_KEYS = _KEYS.filter(lambda key: key != "identifier")


@settings(max_examples=300)
@given(st.dictionaries(_LITERAL_KEYS, _json(_SCALAR | _REFERENCE, _LITERAL_KEYS), max_size=6))
def test_reading_patients_off_the_text_finds_what_the_walk_finds(resource: dict[str, Any]) -> None:
    assert _patients_by_text(resource) == _patients_by_walk(resource)


@settings(max_examples=300)
@given(st.dictionaries(_KEYS, _json(_SCALAR | _REFERENCE | _BY_IDENTIFIER, _KEYS), max_size=6))
def test_references_by_identifier_are_left_to_the_walk(resource: dict[str, Any]) -> None:
    by_text = _patients_by_text(resource)
    if by_text is None:
        assert b'"identifier":{' in dump_json(resource)
    else:
        assert by_text == _patients_by_walk(resource)
    assert patients_of(resource) == _patients_by_walk(resource)


def test_the_text_answers_for_the_resources_a_pull_returns() -> None:
    for path in sorted(Path("fixtures/pathways").glob("*/fhir/discharge-bundle.json")):
        text = path.read_text(encoding="utf-8")
        for entry in json.loads(text)["entry"]:  # as stored: urn:uuid references made Type/id
            stored_as = f"{entry['resource']['resourceType']}/{entry['fullUrl'][9:]}"
            text = text.replace(f'"{entry["fullUrl"]}"', f'"{stored_as}"')
        for entry in json.loads(text)["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] in ("CarePlan", "Goal", "Observation", "Encounter"):
                assert _patients_by_text(resource) == _patients_by_walk(resource), path
                assert _patients_by_walk(resource), path  # every one names its patient


def test_a_reference_by_identifier_is_left_to_the_walk() -> None:
    obs = observation("Patient/anna")
    obs["performer"] = [{"identifier": {"system": FNR, "value": "15833812340"}}]
    assert _patients_by_text(obs) is None
    assert patients_of(obs) == {"Patient/anna", f"Patient?identifier={FNR}|15833812340"}


def test_a_malformed_identifier_names_no_patient() -> None:
    subject = {"identifier": {"system": [FNR], "value": "15833812340"}}
    assert patients_of({"resourceType": "Observation", "subject": subject}) == frozenset()
