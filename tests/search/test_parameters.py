"""The shipped R4 SearchParameters: complete for forlop's resources, HL7 canonical, compilable."""

from __future__ import annotations

import pytest

from adapter.registry import default_registry
from adapter.search.parameters import SearchParameters, default_parameters
from adapter.store.indexing import Indexer

REQUIRED: dict[str, set[str]] = {
    "Patient": {"identifier", "name", "family", "given", "birthdate", "gender"},
    "Encounter": {
        "identifier",
        "patient",
        "subject",
        "status",
        "date",
        "class",
        "type",
        "episode-of-care",
        "participant",
        "service-provider",
    },
    "EpisodeOfCare": {
        "identifier",
        "patient",
        "status",
        "date",
        "type",
        "organization",
        "care-manager",
    },
    "Goal": {
        "identifier",
        "patient",
        "subject",
        "lifecycle-status",
        "achievement-status",
        "category",
        "start-date",
        "target-date",
    },
    "CarePlan": {
        "identifier",
        "patient",
        "subject",
        "status",
        "category",
        "date",
        "encounter",
        "goal",
        "care-team",
        "intent",
        "based-on",
    },
    "CareTeam": {
        "identifier",
        "patient",
        "subject",
        "status",
        "category",
        "date",
        "encounter",
        "participant",
    },
    "Observation": {
        "identifier",
        "patient",
        "subject",
        "status",
        "category",
        "code",
        "date",
        "encounter",
        "focus",
        "derived-from",
        "performer",
        "based-on",
    },
    "Questionnaire": {"identifier", "url", "status", "name", "title", "version", "date", "code"},
    "QuestionnaireResponse": {
        "identifier",
        "patient",
        "subject",
        "status",
        "questionnaire",
        "authored",
        "encounter",
        "based-on",
        "author",
        "source",
    },
    "Organization": {"identifier", "name", "active", "type", "partof"},
    "Practitioner": {"identifier", "name", "family", "given", "active", "gender"},
    "PractitionerRole": {"identifier", "practitioner", "organization", "role", "specialty"},
    "RelatedPerson": {"identifier", "patient", "name", "relationship", "gender", "birthdate"},
    "Provenance": {"target", "patient", "agent", "recorded", "when", "entity"},
    "StructureDefinition": {"url", "version", "status", "title"},
    "CodeSystem": {"url", "version", "status", "title"},
    "ValueSet": {"url", "version", "status", "title"},
    "SearchParameter": {"url", "version", "status"},
}
COMMON = {"_id", "_lastUpdated", "_profile", "_tag", "_security"}


@pytest.mark.parametrize("resource_type", sorted(REQUIRED))
def test_each_resource_has_its_parameters(resource_type: str) -> None:
    codes = set(default_parameters().for_type(resource_type))
    assert REQUIRED[resource_type] | COMMON <= codes


def test_every_shipped_parameter_is_an_hl7_r4_definition() -> None:
    shipped = list(default_registry().of_type("SearchParameter"))
    assert len(shipped) >= 100
    for resource in shipped:
        assert resource["url"] == f"http://hl7.org/fhir/SearchParameter/{resource['id']}"
        assert resource["version"] == "4.0.1"
        assert resource["type"] in {"token", "reference", "date", "string", "uri"}
        assert resource["expression"] and resource["base"] and resource["code"]
        assert ("target" in resource) == (resource["type"] == "reference"), resource["id"]


def test_every_shipped_parameter_compiles_for_every_base() -> None:
    indexer = Indexer(default_parameters())
    for parameter in default_parameters().all():
        for base in parameter.base:
            if base in ("Resource", "DomainResource"):
                continue
            compiled = {c.code: c for c in indexer.for_type(base)}
            if not parameter.is_column:
                assert compiled[parameter.code].paths, (parameter.url, base)


def test_patient_parameters_only_index_patients() -> None:
    compiled = {c.code: c for c in Indexer(default_parameters()).for_type("Observation")}
    (path,) = compiled["patient"].paths
    assert path.keys == ("subject",) and path.resolve_is == "Patient"


def test_two_definitions_of_one_code_for_a_type_are_refused() -> None:
    base = {"resourceType": "SearchParameter", "type": "token", "expression": "Goal.id"}
    with pytest.raises(Exception, match="Two search parameters"):
        SearchParameters.from_resources(
            [
                {**base, "url": "http://a", "code": "x", "base": ["Goal"]},
                {**base, "url": "http://b", "code": "x", "base": ["Goal"]},
            ]
        )


def test_unsupported_parameter_types_are_refused_at_load() -> None:
    with pytest.raises(Exception, match="quantity"):
        SearchParameters.from_resources(
            [
                {
                    "resourceType": "SearchParameter",
                    "url": "http://x",
                    "code": "value-quantity",
                    "base": ["Observation"],
                    "type": "quantity",
                    "expression": "Observation.value",
                }
            ]
        )
