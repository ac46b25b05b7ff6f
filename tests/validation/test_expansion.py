"""ValueSet expansion from the registry: what is in, what is out, what cannot be expanded."""

from __future__ import annotations

from typing import Any

import pytest

from adapter.registry import Registry, default_dirs
from adapter.validation.expansion import UnresolvableValueSet, expand

PSFS = "http://forlop.no/fhir/CodeSystem/psfs"
CS = "http://example.org/cs"


def valueset(name: str, **content: Any) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "url": f"http://example.org/vs/{name}", **content}


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    registry.add(
        {
            "resourceType": "CodeSystem",
            "url": CS,
            "content": "complete",
            "concept": [{"code": "a", "concept": [{"code": "a1"}, {"code": "a2"}]}, {"code": "b"}],
        }
    )
    registry.add(
        {"resourceType": "CodeSystem", "url": "http://example.org/part", "content": "fragment"}
    )
    registry.add(valueset("all", compose={"include": [{"system": CS}]}))
    registry.add(
        valueset(
            "most",
            compose={
                "include": [{"valueSet": ["http://example.org/vs/all"]}],
                "exclude": [{"system": CS, "concept": [{"code": "a1"}]}],
            },
        )
    )
    registry.add(
        valueset(
            "both",
            compose={
                "include": [
                    {
                        "system": CS,
                        "concept": [{"code": "b"}, {"code": "z"}],
                        "valueSet": ["http://example.org/vs/most"],
                    }
                ]
            },
        )
    )
    registry.add(
        valueset(
            "expanded",
            expansion={
                "contains": [
                    {
                        "abstract": True,
                        "system": CS,
                        "code": "a",
                        "contains": [{"system": CS, "code": "a2"}],
                    }
                ]
            },
        )
    )
    registry.add(
        valueset("loop", compose={"include": [{"valueSet": ["http://example.org/vs/loop"]}]})
    )
    registry.add(
        valueset(
            "filtered",
            compose={
                "include": [
                    {"system": CS, "filter": [{"property": "concept", "op": "is-a", "value": "a"}]}
                ]
            },
        )
    )
    registry.add(
        valueset("unknown-cs", compose={"include": [{"system": "http://example.org/none"}]})
    )
    registry.add(valueset("fragment", compose={"include": [{"system": "http://example.org/part"}]}))
    registry.add(valueset("empty"))
    return registry


def test_whole_code_system_includes_nested_concepts(registry: Registry) -> None:
    assert expand("http://example.org/vs/all", registry) == {
        (CS, c) for c in ("a", "a1", "a2", "b")
    }


def test_imported_valueset_minus_exclude(registry: Registry) -> None:
    assert expand("http://example.org/vs/most", registry) == {(CS, c) for c in ("a", "a2", "b")}


def test_system_and_valueset_in_one_include_intersect(registry: Registry) -> None:
    assert expand("http://example.org/vs/both", registry) == {(CS, "b")}


def test_stored_expansion_without_abstract_entries(registry: Registry) -> None:
    assert expand("http://example.org/vs/expanded", registry) == {(CS, "a2")}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("missing", "not known"),
        ("loop", "includes itself"),
        ("filtered", "filters"),
        ("unknown-cs", "http://example.org/none"),
        ("fragment", "does not list all its codes"),
        ("empty", "neither compose nor expansion"),
    ],
)
def test_unresolvable(name: str, reason: str, registry: Registry) -> None:
    with pytest.raises(UnresolvableValueSet, match=reason):
        expand(f"http://example.org/vs/{name}", registry)


def test_forlop_valuesets() -> None:
    registry = Registry.load(default_dirs()[0])
    assert expand("http://forlop.no/fhir/ValueSet/psfs-score-codes", registry) == {
        (PSFS, "activity-score"),
        (PSFS, "mean-score"),
    }
    direction = "http://forlop.no/fhir/CodeSystem/psfs-direction"
    assert expand("http://forlop.no/fhir/ValueSet/psfs-direction|1.0.0", registry) == {
        (direction, "ability"),
        (direction, "difficulty"),
    }
