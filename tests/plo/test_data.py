"""The PLO mapping data (``mappings/plo-*.json``, ``profiles/ConceptMap-plo-*.json``) checked as
data: valid R4, our canonical metadata, and consistent with each other and with the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adapter.fhir.errors import has_errors
from adapter.fhir.models import model_class
from adapter.plo.terminology import Terminology
from adapter.validation.validator import validate
from tests.plo.conftest import REPO

FILES = sorted((REPO / "mappings").glob("plo-*.json")) + sorted(
    (REPO / "profiles").glob("ConceptMap-plo-*.json")
)
RESOURCES = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in FILES}
CONFORMANCE = {n: r for n, r in RESOURCES.items() if "resourceType" in r}
# Target codes each ConceptMap may use: the R4 code systems' codes (FHIR R4 value sets).
TARGETS = {
    "http://hl7.org/fhir/administrative-gender": {"male", "female", "other", "unknown"},
    "http://hl7.org/fhir/encounter-status": {
        "planned", "arrived", "triaged", "in-progress", "onleave", "finished", "cancelled",
        "entered-in-error", "unknown",
    },
    "http://hl7.org/fhir/contact-point-use": {"home", "work", "temp", "old", "mobile"},
    "http://terminology.hl7.org/CodeSystem/v3-DataOperation": {"CREATE", "UPDATE", "NULLIFY"},
    "http://terminology.hl7.org/CodeSystem/v3-RoleCode": {"SONC", "DAUC", "SPS", "CHILD"},
    "urn:ietf:rfc:3986": {
        "urn:oid:2.16.578.1.12.4.1.2", "urn:oid:2.16.578.1.12.4.1.4.1",
        "urn:oid:2.16.578.1.12.4.1.4.2", "urn:oid:2.16.578.1.12.4.1.4.3",
        "urn:oid:2.16.578.1.12.4.1.4.4", "urn:oid:2.16.578.1.12.4.1.4.101",
        "urn:oid:2.16.578.1.12.4.1.4.102",
    },
}  # fmt: skip


@pytest.mark.parametrize("name", list(CONFORMANCE))
def test_each_resource_is_valid_r4_with_our_metadata(name: str) -> None:
    resource = CONFORMANCE[name]
    model_class(resource["resourceType"]).model_validate(resource)
    assert not has_errors(validate(resource))
    rid = resource["id"]
    assert resource["url"] == f"http://forlop.no/fhir/{resource['resourceType']}/{rid}"
    assert (resource["version"], resource["status"], resource["publisher"]) == (
        "1.0.0",
        "active",
        "forlop",
    )
    assert name in (f"{rid}.json", f"{resource['resourceType']}-{rid}.json")
    assert resource["title"] and resource["description"]


@pytest.mark.parametrize(
    "name", [n for n, r in CONFORMANCE.items() if r["resourceType"] == "ConceptMap"]
)
def test_concept_maps_target_real_codes(name: str) -> None:
    for group in CONFORMANCE[name]["group"]:
        allowed = TARGETS[group["target"]]
        for element in group["element"]:
            for target in element["target"]:
                assert target["code"] in allowed, (name, element["code"], target["code"])


def test_the_iplos_supplement_has_the_17_functional_variables() -> None:
    supplement = RESOURCES["plo-kith-9111.json"]
    assert supplement["supplements"] == "urn:oid:2.16.578.1.12.4.1.1.9111"
    assert [c["code"] for c in supplement["concept"]] == [str(n) for n in range(1, 18)]
    assert all(c["designation"][0]["language"] == "en" for c in supplement["concept"])


def test_every_content_namespace_has_a_schema_file() -> None:
    terminology = Terminology()
    schemas = terminology.settings["schemas"]
    for kind in terminology.message_types.values():
        for content in kind.contents:
            namespace = content[1 : content.index("}")]
            assert namespace in schemas, (kind.code, namespace)


def _error_codes_in(source: Path) -> set[str]:
    text = source.read_text(encoding="utf-8")
    return set(re.findall(r'(?:reject|Problem)\(\s*"([A-Z]\d\d)"', text))


def test_every_receipt_error_the_code_raises_is_described() -> None:
    terminology = Terminology()
    described = {
        c["code"]
        for c in terminology.registry.require("http://forlop.no/fhir/CodeSystem/plo-kith-8221")[
            "concept"
        ]
    }
    used: set[str] = set()
    for source in (REPO / "adapter" / "plo").rglob("*.py"):
        used |= _error_codes_in(source)
    assert used and used <= described
    assert set(terminology.settings["httpStatus"]) <= described


def test_the_forsendelsesstatus_codes_map_to_provenance_activities() -> None:
    terminology = Terminology()
    system = "http://forlop.no/fhir/CodeSystem/plo-forsendelsesstatus"
    activities = {
        code: terminology.translate("plo-forsendelsesstatus-activity", system, code)
        for code in ("N", "M", "C")
    }
    assert activities == {"N": "CREATE", "M": "UPDATE", "C": "NULLIFY"}


def test_settings_name_a_time_zone_and_http_statuses() -> None:
    settings = RESOURCES["plo-settings.json"]
    assert settings["timeZone"] == "Europe/Oslo"
    assert all(400 <= status < 500 for status in settings["httpStatus"].values())
