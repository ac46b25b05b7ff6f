"""PLO -> FHIR: golden Bundles for our own messages, base R4 validity for every message, and the
shape of what each part of a message becomes."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from adapter.fhir.errors import has_errors
from adapter.plo.fhir.assembly import Known, Prior, conditional_url
from adapter.plo.fhir.keys import SID
from adapter.plo.fhir.mapping import to_bundle
from adapter.plo.message import parse_message
from adapter.validation.validator import validate
from tests.fixtures_support import check_golden
from tests.plo.conftest import EXPECTED, MESSAGES, own_messages, shared_samples

Resource = dict[str, Any]
KITH = "urn:oid:2.16.578.1.12.4.1.1."


def _bundle(path: Path, prior: Prior | None = None) -> Resource:
    return to_bundle(parse_message(path.read_bytes()), prior).bundle


def _resources(bundle: Resource, rtype: str) -> list[Resource]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def _by_url(bundle: Resource) -> dict[str, Resource]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


@pytest.mark.parametrize("path", own_messages(), ids=lambda p: p.name)
def test_golden_bundles(path: Path) -> None:
    check_golden(_bundle(path), EXPECTED / f"{path.stem}.bundle.json")


@pytest.mark.parametrize("path", own_messages() + shared_samples(), ids=lambda p: p.name)
def test_every_bundle_is_valid_r4(path: Path) -> None:
    bundle = _bundle(path)
    issues = validate(bundle)
    assert not has_errors(issues), [i.diagnostics for i in issues if i.is_error]


@pytest.mark.parametrize("path", own_messages() + shared_samples(), ids=lambda p: p.name)
def test_every_entry_is_an_idempotent_put_that_refers_only_inside_the_bundle(path: Path) -> None:
    bundle = _bundle(path)
    assert bundle["type"] == "transaction"
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(urls) == len(bundle["entry"])
    requests = Counter(e["request"]["url"] for e in bundle["entry"])
    assert max(requests.values()) == 1
    for entry in bundle["entry"]:
        assert entry["request"]["method"] == "PUT"
        url = entry["request"]["url"]
        rtype = entry["resource"]["resourceType"]
        if "?" in url:
            system, _, value = unquote(url.partition("?identifier=")[2]).partition("|")
            identifiers = [entry["resource"].get("masterIdentifier")] + entry["resource"].get(
                "identifier", []
            )
            assert {"system": system, "value": value} in [
                {"system": i.get("system"), "value": i.get("value")} for i in identifiers if i
            ]
        else:
            assert url == f"{rtype}/{entry['resource']['id']}"
    for reference in _references(bundle):
        assert reference in urls


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [r for v in node.values() for r in _references(v)]
    if isinstance(node, list):
        return [r for v in node for r in _references(v)]
    return []


def test_the_same_message_always_gives_the_same_bundle() -> None:
    path = MESSAGES / "utskrivningsrapport-ny.xml"
    assert _bundle(path) == _bundle(path)


def test_the_document_reference_holds_the_original_and_the_document_key() -> None:
    path = MESSAGES / "innleggelsesrapport-ny.xml"
    bundle = _bundle(path)
    (document,) = _resources(bundle, "DocumentReference")
    assert document["masterIdentifier"] == {
        "system": SID.MSGID,
        "value": "6f0c1c52-9a1e-4d55-8a0e-0b1d2c3e4f01",
    }
    assert document["identifier"][0]["system"] == SID.DOCUMENT
    original, text = document["content"]
    assert base64.b64decode(original["attachment"]["data"]) == path.read_bytes()
    assert original["attachment"]["contentType"] == "application/xml"
    assert original["format"] == {"display": "MsgHead v1.2 2006-05-24"}
    kept = base64.b64decode(text["attachment"]["data"]).decode("utf-8")
    assert "Navn: Furosemid" in kept
    assert document["docStatus"] == "final"


def test_a_change_and_a_cancellation_name_the_same_document() -> None:
    keys = set()
    for name in ("ny", "endring", "kansellering"):
        (document,) = _resources(
            _bundle(MESSAGES / f"innleggelsesrapport-{name}.xml"), "DocumentReference"
        )
        keys.add(document["identifier"][0]["value"])
    assert len(keys) == 1


def test_items_keep_their_identifiers_across_a_change() -> None:
    first = _bundle(MESSAGES / "innleggelsesrapport-ny.xml")
    change = _bundle(MESSAGES / "innleggelsesrapport-endring.xml")

    def items(bundle: Resource) -> set[str]:
        return {
            i["value"]
            for e in bundle["entry"]
            for i in e["resource"].get("identifier", [])
            if i["system"] == SID.ITEM
        }

    removed = items(first) - items(change)
    assert len(removed) == 1  # the J44 diagnosis the change no longer has
    assert items(change) <= items(first)


def test_iplos_scores_are_observations_in_the_kith_code_system() -> None:
    bundle = _bundle(MESSAGES / "innleggelsesrapport-ny.xml")
    observations = _resources(bundle, "Observation")
    scores = {
        o["code"]["coding"][0]["code"]: o["valueInteger"]
        for o in observations
        if "valueInteger" in o
    }
    assert scores == {"5": 3, "7": 4, "15": 2}
    score = next(o for o in observations if "valueInteger" in o)
    assert score["code"]["coding"][0]["system"] == KITH + "9111"
    assert score["category"][0]["coding"][0]["code"] == "survey"
    assert score["effectiveDateTime"] == "2025-12-18T13:00:00+01:00"
    panel = next(o for o in observations if "hasMember" in o)
    assert len(panel["hasMember"]) == 3
    assert (
        panel["component"][0]["valueQuantity"]["value"] == 2.6
        or str(panel["component"][0]["valueQuantity"]["value"]) == "2.6"
    )
    assert panel["note"] == [{"text": "Kartlagt ved hjemmebesøk."}]


def test_goals_come_from_info_maal_forventet_res() -> None:
    (goal,) = _resources(_bundle(MESSAGES / "innleggelsesrapport-ny.xml"), "Goal")
    assert goal["description"]["text"] == "Gå til postkassen uten hvile"
    assert goal["lifecycleStatus"] == "active"
    assert goal["startDate"] == "2025-12-18"
    assert goal["target"] == [
        {
            "measure": {"text": "Forventet grad av måloppnåelse"},
            "detailCodeableConcept": {"coding": [{"code": "2", "display": "Delvis"}]},
            "dueDate": "2026-03-01",
        }
    ]
    notes = [n["text"] for n in goal["note"]]
    assert notes[0] == "Stikkord: mobilitet, utholdenhet"
    assert "Pasientens eget mål" in notes[1]


def test_next_of_kin_are_related_persons_with_mapped_and_original_kinship() -> None:
    bundle = _bundle(MESSAGES / "innleggelsesrapport-ny.xml")
    son, neighbour = _resources(bundle, "RelatedPerson")
    assert son["relationship"][0]["coding"] == [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "SONC"},
        {"code": "SO", "display": "Sønn"},
    ]
    assert son["telecom"][0]["system"] == "phone" and son["telecom"][0]["use"] == "mobile"
    # A kinship code without a mapping is kept as it came.
    assert neighbour["relationship"] == [{"coding": [{"code": "NA", "display": "Nabo"}]}]
    team = _resources(bundle, "CareTeam")[0]
    assert "Eva Strand: Har nøkkel til leiligheten." in [n["text"] for n in team["note"]]


def test_diagnoses_are_conditions_with_their_code_system() -> None:
    bundle = _bundle(MESSAGES / "innleggelsesrapport-ny.xml")
    main, other = _resources(bundle, "Condition")
    assert main["code"]["coding"][0] == {
        "system": KITH + "7110",
        "code": "I50",
        "display": "Hjertesvikt",
    }
    assert {"text": "Hoveddiagnose"} in main["category"]
    assert other["note"] == [{"text": "Bruker inhalator morgen og kveld"}]
    history = _resources(_bundle(MESSAGES / "medisinske-opplysninger-latin1.xml"), "Condition")
    statuses: dict[str, Any] = {
        c["code"].get("text") or c["code"]["coding"][0]["code"]: c.get("clinicalStatus")
        for c in history
    }
    assert statuses["L90"]["coding"][0]["code"] == "active"  # chronic
    assert statuses["Blindtarmsoperert 1962"]["coding"][0]["code"] == "resolved"
    flu = next(c for c in history if c["code"].get("coding", [{}])[0].get("code") == "R80")
    assert (flu["onsetDateTime"], flu["abatementDateTime"]) == ("2025-09-01", "2025-12-01")


def test_appointments_are_booked_only_with_time_and_duration() -> None:
    booked, self_booked = _resources(
        _bundle(MESSAGES / "utskrivningsrapport-ny.xml"), "Appointment"
    )
    assert booked["status"] == "booked"
    assert (booked["start"], booked["end"]) == (
        "2026-03-03T10:15:00+01:00",
        "2026-03-03T10:45:00+01:00",
    )
    assert booked["participant"][0]["status"] == "accepted"
    assert "Pårørende informert: nei" in booked["comment"]
    assert self_booked["status"] == "proposed" and "start" not in self_booked
    assert "bestiller" in self_booked["description"]


def test_services_are_care_plan_activities_coded_with_iplos_service_types() -> None:
    (plan,) = _resources(_bundle(MESSAGES / "innleggelsesrapport-ny.xml"), "CarePlan")
    assert (plan["intent"], plan["status"]) == ("plan", "active")
    first, second = (a["detail"] for a in plan["activity"])
    assert first["code"]["coding"][0]["system"] == KITH + "9151"
    assert first["code"]["text"] == "Hjemmesykepleie morgen og kveld"
    assert (
        first["quantity"] == {"value": 2, "unit": "besøk per dag"}
        or str(first["quantity"]["value"]) == "2"
    )
    assert second["description"].endswith("Middag levert hver dag kl 13.")
    (needed,) = _resources(_bundle(MESSAGES / "utskrivningsrapport-ny.xml"), "CarePlan")
    assert needed["intent"] == "proposal"
    assert needed["activity"][0]["detail"]["status"] == "not-started"


def test_organisations_keep_their_hierarchy_and_invalid_numbers_become_local() -> None:
    bundle = _bundle(MESSAGES / "innleggelsesrapport-ny.xml")
    by_url = _by_url(bundle)
    organisations = _resources(bundle, "Organization")
    department = next(o for o in organisations if o.get("name") == "Medisinsk avdeling")
    assert by_url[department["partOf"]["reference"]]["name"] == "Fjordvik sykehus HF"
    hospital = by_url[department["partOf"]["reference"]]
    assert {i["system"] for i in hospital["identifier"]} == {
        "urn:oid:2.16.578.1.12.4.1.2",
        "urn:oid:2.16.578.1.12.4.1.4.101",
    }
    samples = [p for p in shared_samples() if p.name.startswith("Innleggelsesrapport_v1-6_Ny")]
    if samples:
        mapped = to_bundle(parse_message(samples[0].read_bytes()))
        local = [
            i
            for o in _resources(mapped.bundle, "Organization")
            for i in o["identifier"]
            if i["system"] == SID.LOCAL
        ]
        assert any(i["value"].endswith(":ENH:999888777") for i in local)
        assert any("fails its check" in w for w in mapped.warnings)


def test_the_stay_is_an_encounter_folded_from_the_events() -> None:
    (encounter,) = _resources(_bundle(MESSAGES / "utskrivningsrapport-ny.xml"), "Encounter")
    assert encounter["status"] == "finished"
    assert encounter["period"] == {
        "start": "2026-02-02T14:20:00+01:00",
        "end": "2026-02-09T11:45:00+01:00",
    }
    assert encounter["class"]["code"] == "IMP"
    assert [h["status"] for h in encounter["statusHistory"]] == ["in-progress", "finished"]


def test_a_death_sets_the_patients_time_of_death() -> None:
    bundle = _bundle(MESSAGES / "log-dod.xml")
    (patient,) = _resources(bundle, "Patient")
    assert patient["deceasedDateTime"] == "2026-02-10T06:30:00+01:00"
    # Without a known stay the event is kept as text with the document.
    (document,) = _resources(bundle, "DocumentReference")
    text = base64.b64decode(document["content"][-1]["attachment"]["data"]).decode("utf-8")
    assert "Pasienten døde hjemme natt til 10. februar." in text


def test_a_dialogue_becomes_communications() -> None:
    (request,) = _resources(_bundle(MESSAGES / "dialog-foresporsel.xml"), "Communication")
    assert request["payload"] == [
        {
            "contentString": "Blodtrykket har vært lavt (95/60) tre morgener på rad. Skal dosen "
            "av Amlodipin endres?"
        }
    ]
    assert request["category"][0]["coding"][0]["code"] == "DIALOG_FORESPORSEL"
    assert request["category"][1]["coding"][0]["system"] == KITH + "9152"
    assert "Emne: Blodtrykksmedisin" in [n["text"] for n in request["note"]]
    (answer,) = _resources(_bundle(MESSAGES / "dialog-svar.xml"), "Communication")
    assert answer["payload"][0]["contentString"].startswith("Halver dosen")
    assert answer["payload"][1]["contentString"].startswith("Forespørsel: Blodtrykket")
    # Without the request in the store, the answer says which message it answers.
    assert any("9e8d7c6b-0001-4b00-a000-00000000c001" in n["text"] for n in answer["note"])


def test_a_known_patient_is_merged_not_overwritten() -> None:
    path = MESSAGES / "log-innlagt.xml"
    url = conditional_url("Patient", "urn:oid:2.16.578.1.12.4.1.4.1", "03893421032")
    stored = {
        "resourceType": "Patient",
        "id": "p1",
        "identifier": [
            {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "03893421032"},
            {"system": "http://example.org/mrn", "value": "42"},
        ],
        "telecom": [{"system": "phone", "value": "99999999"}],
        "name": [{"family": "Old"}],
    }
    prior = Prior(shared={url: Known("Patient", "p1", 3, stored)})
    bundle = _bundle(path, prior)
    entry = next(e for e in bundle["entry"] if e["request"]["url"] == url)
    patient = entry["resource"]
    assert entry["request"]["ifMatch"] == 'W/"3"'
    assert {"system": "http://example.org/mrn", "value": "42"} in patient["identifier"]
    assert patient["telecom"] == [{"system": "phone", "value": "99999999"}]
    assert patient["name"] == [{"family": "Lien", "given": ["Arne", "Johan"]}]
    assert "id" not in patient
