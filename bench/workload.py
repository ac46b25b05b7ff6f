"""Synthetic discharge transaction Bundles, fully deterministic from a seed.

What an EHR vendor pushes when a frail elderly patient leaves hospital (DESIGN.md "Users"): one
transaction Bundle per discharge with

- the Patient (forlop-patient profile; a synthetic fødselsnummer, month + 80, valid mod-11
  digits), created with ``ifNoneExist`` on the fødselsnummer;
- the Encounter of the stay, the CareTeam (hospital and municipal members) and the transition
  CarePlan (transition-careplan profile), each a conditional update on its identifier;
- 3-5 PSFS Goals (psfs-goal) with one baseline score Observation each (psfs-score-observation);
- one PaTH discharge-call QuestionnaireResponse and, for half of the patients, a GP consultation
  response (path-questionnaireresponse), answered against the Questionnaires of the registry
  (required items, enableWhen, answer options).

Bundle ``n`` of seed ``s`` is always the same bytes, whatever else is generated, so the load
driver, the preloader and the checks agree on what patient ``n`` has. Nothing here is a real
person: names are drawn from common Norwegian names and every fødselsnummer is synthetic.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from adapter.domain.identifiers import K1_WEIGHTS, K2_WEIGHTS, SYNTHETIC_MONTH_OFFSET, mod11
from adapter.registry import default_registry

FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
HPR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.101"
ENCOUNTER_SYSTEM = "https://nidelv-sykehus.example/fhir/sid/innleggelse"
CARETEAM_SYSTEM = "https://nidelv-sykehus.example/fhir/sid/forlopsteam"
PLAN_SYSTEM = "http://forlop.no/fhir/sid/transition-plan"
GOAL_SYSTEM = "http://forlop.no/fhir/sid/psfs-activity"
SCORE_SYSTEM = "http://forlop.no/fhir/sid/psfs-score"
PATH_RESPONSE_SYSTEM = "http://forlop.no/fhir/sid/path-response"
PSFS_CS = "http://forlop.no/fhir/CodeSystem/psfs"
PATH_ANSWER_CS = "http://forlop.no/fhir/CodeSystem/path-answer"
_PROFILE = "http://forlop.no/fhir/StructureDefinition/"
_QUESTIONNAIRE = "http://forlop.no/fhir/Questionnaire/"
DISCHARGE_CALL = _QUESTIONNAIRE + "path-discharge-call"
GP_CONSULTATION = _QUESTIONNAIRE + "path-gp-consultation"
_NAMESPACE = uuid.UUID("6f1b8a52-4c0e-4d8e-9a57-2f0c1f3b7d10")  # of forlop's benchmark ids
_FIRST_BIRTH = date(1925, 1, 1)
_BIRTH_DAYS = 20 * 365  # born 1925-1944: aged 80-100 at discharge in 2026
_PATIENTS_PER_DAY = 150  # valid synthetic numbers per birth date used (fewer than exist)

_GIVEN_F = (
    "Astrid Ingrid Kari Anna Marit Solveig Gerd Bjørg Liv Randi Turid Ragnhild Sigrid Berit "
    "Aud Inger Eli Signe Margit Olga Johanne Elsa Borghild Gunvor Dagny"
).split()
_GIVEN_M = (
    "Kåre Olav Arne Per Johan Knut Odd Harald Nils Egil Leif Einar Sverre Magne Ivar Rolf "
    "Trygve Gunnar Alf Asbjørn Halvard Ottar Torleif Birger Sigurd"
).split()
_FAMILY = (
    "Hansen Johansen Olsen Larsen Andersen Pedersen Nilsen Kristiansen Jensen Karlsen Johnsen "
    "Pettersen Eriksen Berg Haugen Hagen Johannessen Andreassen Jacobsen Dahl Jørgensen Halvorsen "
    "Henriksen Lund Sørensen Jakobsen Moen Gundersen Iversen Strand Solberg Svendsen Eide Knutsen "
    "Martinsen Paulsen Bakken Kristoffersen Mathisen Lie Amundsen Nguyen Rasmussen Ali Lunde "
    "Solheim Berge Moe Nygård Bakke Kristensen Fredriksen Holm Lien Hauge Christensen Andresen "
    "Fjellheim Solvang Nordby Vik Myhre Aas Tangen Haugland Rønning Sæther Ruud Brekke Strøm"
).split()
_PLACES = (
    ("Orkanger", "Orkland", "5059", "7300"),
    ("Trondheim", "Trondheim", "5001", "7010"),
    ("Melhus", "Melhus", "5028", "7224"),
    ("Stjørdal", "Stjørdal", "5035", "7500"),
    ("Malvik", "Malvik", "5031", "7550"),
    ("Skaun", "Skaun", "5029", "7353"),
    ("Støren", "Midtre Gauldal", "5027", "7290"),
    ("Oppdal", "Oppdal", "5021", "7340"),
    ("Hommelvik", "Malvik", "5031", "7550"),
    ("Løkken Verk", "Orkland", "5059", "7332"),
)
_STREETS = (
    "Bakkeveien Storgata Kirkegata Skolegata Fjordveien Granveien Bjørkeveien Solbakken "
    "Elvegata Furulia Haugaveien Nordre gate Strandveien Lerkeveien Rognveien"
).split()
_ACTIVITIES = (
    ("ga-til-butikken", "Gå til butikken og handle selv"),
    ("dusje-selv", "Dusje uten hjelp"),
    ("strikke", "Strikke votter til barnebarna"),
    ("lage-middag", "Lage middag på kjøkkenet"),
    ("ga-trapper", "Gå trappen opp til soverommet"),
    ("kle-pa-seg", "Kle på meg om morgenen uten hjelp"),
    ("besoke-venner", "Besøke venninnene på eldresenteret"),
    ("hagearbeid", "Stelle blomstene i hagen"),
    ("ga-tur", "Gå tur med naboen rundt vannet"),
    ("ta-bussen", "Ta bussen til byen"),
    ("kirken", "Gå i kirken på søndager"),
    ("bake", "Bake brød til familien"),
    ("hente-posten", "Hente posten i postkassen"),
    ("fiske", "Fiske fra brygga om sommeren"),
    ("spille-kort", "Spille kort med venner"),
)
_REASONS = (
    "Lungebetennelse og fall i hjemmet",
    "Hjertesvikt med forverring",
    "Hoftebrudd etter fall",
    "Urinveisinfeksjon med akutt forvirring",
    "KOLS-forverring",
    "Dehydrering og svimmelhet",
    "Hjerneslag med lette utfall",
)
_SERVICES = (
    "Hjemmesykepleie morgen og kveld: legemidler, tilsyn og hjelp til personlig stell",
    "Hverdagsrehabilitering med fysioterapeut to ganger i uken i seks uker",
    "Trygghetsalarm og matombringing tre dager i uken",
    "Praktisk bistand i hjemmet annenhver uke",
    "Ergoterapeut vurderer hjelpemidler og tilrettelegging av badet",
    "Dagsenter to dager i uken",
)
_NOTES = (
    "Tilsyn ved hjemkomst og hjelp med kveldsmedisinene de første dagene.",
    "Pasienten ønsker å klare seg selv hjemme og er motivert for opptrening.",
    "Pårørende bor i nærheten og kan hjelpe med innkjøp i helgene.",
    "Hjemmetjenesten henter hjelpemidlene på lageret og leverer i morgen formiddag.",
    "Kontroll hos fastlegen om to uker, med blodprøver og vurdering av legemidlene.",
    "Følg med på vekt, væskeinntak og tegn på forvirring.",
    "Drosje fra sykehuset etter lunsj.",
    "Sykepleier på sengeposten kan nås på direktelinje via sentralbordet.",
)
_ROLES = (
    ("Sykepleier, medisinsk sengepost", "9144101"),
    ("Lege, medisinsk avdeling", "9144210"),
    ("Fastlege", "9144318"),
    ("Hjemmesykepleien, kommunens helse- og omsorgstjeneste", "9144426"),
    ("Fysioterapeut, kommunen", "9144534"),
)
_ENCOUNTER_CLASS = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
    "code": "IMP",
    "display": "inpatient encounter",
}


@dataclass(frozen=True)
class Discharge:
    """One generated discharge: the transaction Bundle and what a pull must find."""

    number: int
    bundle: dict[str, Any]
    fnr: str
    patient_id: str  # the id the preloader gives the Patient (the API assigns its own)
    goals: int
    resources: int


@cache
def _valid_individuals(birth: date) -> tuple[str, ...]:
    """The nine-digit stems plus control digits of every synthetic number born on ``birth``
    whose individual number fits the birth year (1900-1999: 000-499, and 900-999 from 1940)."""
    stem = f"{birth.day:02d}{birth.month + SYNTHETIC_MONTH_OFFSET:02d}{birth.year % 100:02d}"
    individuals = list(range(0, 500)) + (list(range(900, 1000)) if birth.year >= 1940 else [])
    found: list[str] = []
    for individual in individuals:
        nine = f"{stem}{individual:03d}"
        k1 = mod11(nine, K1_WEIGHTS)
        if k1 is None:
            continue
        k2 = mod11(f"{nine}{k1}", K2_WEIGHTS)
        if k2 is not None:
            found.append(f"{nine}{k1}{k2}")
    return tuple(found)


def synthetic_fnr(number: int) -> tuple[str, date]:
    """A distinct synthetic fødselsnummer (and birth date) for every patient number."""
    day, slot = divmod(number, _PATIENTS_PER_DAY)
    birth = _FIRST_BIRTH + timedelta(days=day % _BIRTH_DAYS)
    numbers = _valid_individuals(birth)
    return numbers[(slot + day // _BIRTH_DAYS * _PATIENTS_PER_DAY) % len(numbers)], birth


def stable_id(seed: int, number: int, role: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{seed}/{number}/{role}"))


def _text_answer(rng: random.Random) -> str:
    return rng.choice(_NOTES)


def _answers(item: dict[str, Any], rng: random.Random, day: date) -> list[dict[str, Any]]:
    kind = item["type"]
    if kind == "boolean":
        return [{"valueBoolean": rng.random() < 0.8}]
    if kind in ("text", "string"):
        return [{"valueString": _text_answer(rng)}]
    if kind == "choice":
        options = [o["valueCoding"] for o in item.get("answerOption", []) if "valueCoding" in o]
        coding = rng.choice(options)
        return [{"valueCoding": {"system": coding["system"], "code": coding["code"]}}]
    if kind == "date":
        return [{"valueDate": (day + timedelta(days=rng.randint(3, 20))).isoformat()}]
    if kind == "integer":
        return [{"valueInteger": rng.randint(0, 10)}]
    if kind == "decimal":
        return [{"valueDecimal": round(rng.uniform(45, 90), 1)}]
    raise ValueError(f"the generator answers no {kind} items")


def _enabled(item: dict[str, Any], given: dict[str, dict[str, Any]]) -> bool:
    conditions = item.get("enableWhen") or []
    if not conditions:
        return True
    results = []
    for condition in conditions:
        answer = given.get(condition["question"])
        expected = {k: v for k, v in condition.items() if k.startswith("answer")}
        hit = False
        if answer is not None and condition["operator"] == "=":
            for key, value in expected.items():
                got = answer.get("value" + key.removeprefix("answer"))
                if isinstance(value, dict):
                    hit = isinstance(got, dict) and got.get("code") == value.get("code")
                else:
                    hit = got == value
        results.append(hit)
    return any(results) if item.get("enableBehavior") == "any" else all(results)


def _fill(
    items: list[dict[str, Any]], rng: random.Random, day: date, given: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Answered items for a Questionnaire's ``items``: every required one, most optional ones,
    none whose enableWhen is false (answers earlier in the form decide)."""
    out: list[dict[str, Any]] = []
    for item in items:
        if item["type"] == "display" or not _enabled(item, given):
            continue
        if item["type"] != "group" and not item.get("required") and rng.random() < 0.3:
            continue
        if item["type"] == "reference":
            continue
        entry: dict[str, Any] = {"linkId": item["linkId"], "text": item["text"]}
        if item["type"] == "group":
            children = _fill(item.get("item", []), rng, day, given)
            if not children:
                continue
            entry["item"] = children
        else:
            entry["answer"] = _answers(item, rng, day)
            given[item["linkId"]] = entry["answer"][0]
        out.append(entry)
    return out


@cache
def _questionnaire(url: str) -> dict[str, Any]:
    return default_registry().require(url)


def _reference(full_url: str) -> dict[str, str]:
    return {"reference": full_url}


def _practitioner(role: int) -> dict[str, Any]:
    text, hpr = _ROLES[role]
    return {"identifier": {"system": HPR_SYSTEM, "value": hpr}, "display": text}


class _Builder:
    def __init__(self, seed: int, number: int) -> None:
        self.seed = seed
        self.number = number
        self.rng = random.Random(f"forlop-bench/{seed}/{number}")
        self.entries: list[dict[str, Any]] = []

    def urn(self, role: str) -> str:
        return f"urn:uuid:{stable_id(self.seed, self.number, role)}"

    def conditional(self, role: str, resource: dict[str, Any], system: str, value: str) -> str:
        full_url = self.urn(role)
        self.entries.append(
            {
                "fullUrl": full_url,
                "resource": resource,
                "request": {
                    "method": "PUT",
                    "url": f"{resource['resourceType']}?identifier={system}|{value}",
                },
            }
        )
        return full_url


def discharge(seed: int, number: int) -> Discharge:
    """Discharge ``number`` of the workload ``seed``."""
    b = _Builder(seed, number)
    rng = b.rng
    fnr, birth = synthetic_fnr(number)
    female = int(fnr[8]) % 2 == 0  # the third individual digit: even for women
    given = rng.choice(_GIVEN_F if female else _GIVEN_M)
    family = rng.choice(_FAMILY)
    city, municipality, municipality_code, postal = rng.choice(_PLACES)
    discharged = date(2026, 1, 1) + timedelta(days=number % 365)
    admitted = discharged - timedelta(days=rng.randint(2, 14))
    case = f"{discharged.year}-{number:07d}"

    patient_url = b.urn("Patient")
    b.entries.append(
        {
            "fullUrl": patient_url,
            "resource": {
                "resourceType": "Patient",
                "meta": {"profile": [_PROFILE + "forlop-patient"]},
                "identifier": [{"use": "official", "system": FNR_SYSTEM, "value": fnr}],
                "active": True,
                "name": [{"use": "official", "family": family, "given": [given]}],
                "telecom": [
                    {"system": "phone", "value": f"9{rng.randint(1000000, 9999999)}", "use": "home"}
                ],
                "gender": "female" if female else "male",
                "birthDate": birth.isoformat(),
                "address": [
                    {
                        "use": "home",
                        "type": "physical",
                        "line": [f"{rng.choice(_STREETS)} {rng.randint(1, 60)}"],
                        "city": city,
                        "district": municipality,
                        "_district": {
                            "extension": [
                                {
                                    "url": "http://hl7.no/fhir/StructureDefinition/"
                                    "no-basis-municipalitycode",
                                    "valueCoding": {
                                        "system": "urn:oid:2.16.578.1.12.4.1.1.3402",
                                        "code": municipality_code,
                                        "display": municipality,
                                    },
                                }
                            ]
                        },
                        "postalCode": postal,
                        "country": "NO",
                    }
                ],
            },
            "request": {
                "method": "POST",
                "url": "Patient",
                "ifNoneExist": f"identifier={FNR_SYSTEM}|{fnr}",
            },
        }
    )
    patient = _reference(patient_url)

    encounter = _reference(
        b.conditional(
            "Encounter",
            {
                "resourceType": "Encounter",
                "identifier": [{"use": "official", "system": ENCOUNTER_SYSTEM, "value": case}],
                "status": "finished",
                "class": _ENCOUNTER_CLASS,
                "subject": patient,
                "participant": [{"individual": _practitioner(1)}],
                "period": {
                    "start": f"{admitted.isoformat()}T{rng.randint(8, 22):02d}:20:00+01:00",
                    "end": f"{discharged.isoformat()}T12:30:00+01:00",
                },
                "reasonCode": [{"text": rng.choice(_REASONS)}],
                "hospitalization": {
                    "dischargeDisposition": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "discharge-disposition",
                                "code": "home",
                                "display": "Home",
                            }
                        ]
                    }
                },
            },
            ENCOUNTER_SYSTEM,
            case,
        )
    )

    team_value = f"forlop-{case}"
    care_team = _reference(
        b.conditional(
            "CareTeam",
            {
                "resourceType": "CareTeam",
                "identifier": [{"use": "official", "system": CARETEAM_SYSTEM, "value": team_value}],
                "status": "active",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://loinc.org",
                                "code": "LA28865-6",
                                "display": "Longitudinal care-coordination focused care team",
                            }
                        ]
                    }
                ],
                "name": f"Forløpsteam for {given} {family}: sykehus og kommune",
                "subject": patient,
                "encounter": encounter,
                "period": {"start": discharged.isoformat()},
                "participant": [
                    {"role": [{"text": _ROLES[r][0]}], "member": _practitioner(r)}
                    for r in range(len(_ROLES))
                ],
            },
            CARETEAM_SYSTEM,
            team_value,
        )
    )

    goals: list[dict[str, str]] = []
    day = discharged.isoformat()
    for g, (key, text) in enumerate(rng.sample(_ACTIVITIES, rng.randint(3, 5))):
        goal_value = stable_id(seed, number, f"goal-{g}")
        score_value = stable_id(seed, number, f"score-{g}")
        goal_url, score_url = b.urn(f"Goal-{g}"), b.urn(f"Observation-{g}")
        score = rng.randint(0, 6)
        b.conditional(
            f"Goal-{g}",
            {
                "resourceType": "Goal",
                "meta": {"profile": [_PROFILE + "psfs-goal"]},
                "extension": [{"url": _PROFILE + "psfs-activity-key", "valueString": key}],
                "identifier": [{"system": GOAL_SYSTEM, "value": goal_value}],
                "lifecycleStatus": "active",
                "achievementStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                            "code": "in-progress",
                        }
                    ]
                },
                "category": [{"coding": [{"system": PSFS_CS, "code": "psfs-activity"}]}],
                "description": {"text": text},
                "subject": patient,
                "startDate": day,
                "target": [
                    {
                        "measure": {"coding": [{"system": PSFS_CS, "code": "activity-score"}]},
                        "detailInteger": min(10, score + rng.randint(2, 5)),
                    }
                ],
                "expressedBy": patient,
                "outcomeReference": [_reference(score_url)],
            },
            GOAL_SYSTEM,
            goal_value,
        )
        b.conditional(
            f"Observation-{g}",
            {
                "resourceType": "Observation",
                "meta": {"profile": [_PROFILE + "psfs-score-observation"]},
                "identifier": [{"system": SCORE_SYSTEM, "value": score_value}],
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/"
                                "observation-category",
                                "code": "survey",
                            }
                        ]
                    }
                ],
                "code": {"coding": [{"system": PSFS_CS, "code": "activity-score"}], "text": text},
                "subject": patient,
                "focus": [_reference(goal_url)],
                "effectiveDateTime": day,
                "performer": [_practitioner(4)],
                "valueInteger": score,
                "component": [
                    {
                        "code": {"coding": [{"system": PSFS_CS, "code": "original-score"}]},
                        "valueInteger": score,
                    },
                    {
                        "code": {"coding": [{"system": PSFS_CS, "code": "direction"}]},
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://forlop.no/fhir/CodeSystem/psfs-direction",
                                    "code": "ability",
                                }
                            ]
                        },
                    },
                ],
            },
            SCORE_SYSTEM,
            score_value,
        )
        goals.append(_reference(goal_url))

    plan_url = b.urn("CarePlan")
    responses: list[dict[str, str]] = []
    forms = [DISCHARGE_CALL] + ([GP_CONSULTATION] if rng.random() < 0.5 else [])
    for q, url in enumerate(forms):
        questionnaire = _questionnaire(url)
        value = f"bench-{seed}-{number}-{questionnaire['id']}"
        responses.append(
            _reference(
                b.conditional(
                    f"QuestionnaireResponse-{q}",
                    {
                        "resourceType": "QuestionnaireResponse",
                        "meta": {"profile": [_PROFILE + "path-questionnaireresponse"]},
                        "identifier": {"system": PATH_RESPONSE_SYSTEM, "value": value},
                        "questionnaire": f"{url}|{questionnaire['version']}",
                        "basedOn": [_reference(plan_url)],
                        "status": "completed",
                        "subject": patient,
                        "encounter": encounter,
                        "authored": f"{day}T10:{rng.randint(10, 59)}:00+01:00",
                        "author": _practitioner(0),
                        "item": _fill(questionnaire["item"], rng, discharged, {}),
                    },
                    PATH_RESPONSE_SYSTEM,
                    value,
                )
            )
        )

    plan_value = f"bench-{seed}-{number}-overgang"
    activities = rng.sample(_SERVICES, rng.randint(2, 4))
    b.entries.append(
        {
            "fullUrl": plan_url,
            "resource": {
                "resourceType": "CarePlan",
                "meta": {"profile": [_PROFILE + "transition-careplan"]},
                "identifier": [{"system": PLAN_SYSTEM, "value": plan_value}],
                "status": "active",
                "intent": "plan",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://forlop.no/fhir/CodeSystem/care-transition",
                                "code": "transition-plan",
                            }
                        ]
                    }
                ],
                "title": f"Overgang fra Nidelv sykehus til hjemmet i {municipality}",
                "subject": patient,
                "encounter": encounter,
                "period": {"start": day},
                "author": care_team,
                "careTeam": [care_team],
                "goal": goals,
                "supportingInfo": responses,
                "activity": [
                    {"detail": {"status": "scheduled", "description": text, "goal": goals[:1]}}
                    for text in activities
                ],
            },
            "request": {"method": "PUT", "url": f"CarePlan?identifier={PLAN_SYSTEM}|{plan_value}"},
        }
    )
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": b.entries}
    return Discharge(
        number=number,
        bundle=bundle,
        fnr=fnr,
        patient_id=stable_id(seed, number, "Patient"),
        goals=len(goals),
        resources=len(b.entries),
    )


def stored_resources(item: Discharge) -> list[dict[str, Any]]:
    """The resources of a discharge as the server would store them: ids from the fullUrls,
    ``urn:uuid`` references rewritten to ``Type/id``. What the preloader writes in bulk."""
    ids: dict[str, str] = {}
    for entry in item.bundle["entry"]:
        rtype = entry["resource"]["resourceType"]
        ids[entry["fullUrl"]] = f"{rtype}/{entry['fullUrl'].removeprefix('urn:uuid:')}"
    out: list[dict[str, Any]] = []
    for entry in item.bundle["entry"]:
        resource = _rewrite(entry["resource"], ids)
        resource["id"] = entry["fullUrl"].removeprefix("urn:uuid:")
        out.append(resource)
    return out


def _rewrite(node: Any, ids: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: ids.get(v, v) if k == "reference" and isinstance(v, str) else _rewrite(v, ids)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(v, ids) for v in node]
    return node
