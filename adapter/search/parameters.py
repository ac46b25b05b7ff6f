"""The search parameters this server supports (FHIR R4 §2.40 SearchParameter), read as data.

The definitions are the HL7 R4 SearchParameter resources under ``profiles/r4/search-parameters/``
(``code``, ``base``, ``type``, ``expression``, ``target`` exactly as in the R4 specification);
this module only indexes them by resource type and code. A parameter whose base is ``Resource``
or ``DomainResource`` applies to every resource type.

``_id`` and ``_lastUpdated`` are answered from the resource table's own columns, so the index
never holds rows for them (:data:`COLUMN_PARAMETERS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from adapter.fhir.errors import Code, invalid
from adapter.registry import Registry, default_registry

ParamType = Literal["token", "reference", "date", "string", "uri"]
SUPPORTED_TYPES: frozenset[str] = frozenset({"token", "reference", "date", "string", "uri"})
COLUMN_PARAMETERS: frozenset[str] = frozenset({"_id", "_lastUpdated"})
_ABSTRACT_BASES = ("Resource", "DomainResource")


@dataclass(frozen=True)
class SearchParameter:
    """One R4 SearchParameter as forlop uses it."""

    url: str
    code: str
    type: ParamType
    base: tuple[str, ...]
    expression: str
    target: tuple[str, ...] = ()

    @property
    def is_column(self) -> bool:
        return self.code in COLUMN_PARAMETERS


@dataclass
class SearchParameters:
    """Search parameters by resource type and code."""

    by_type: dict[str, dict[str, SearchParameter]] = field(default_factory=dict)

    def add(self, parameter: SearchParameter) -> None:
        for base in parameter.base:
            codes = self.by_type.setdefault(base, {})
            if parameter.code in codes:
                raise invalid(
                    f"Two search parameters define '{parameter.code}' for {base}: "
                    f"{codes[parameter.code].url} and {parameter.url}.",
                    forlop_code=Code.SEARCH_EXPRESSION_UNSUPPORTED,
                )
            codes[parameter.code] = parameter

    def for_type(self, resource_type: str) -> dict[str, SearchParameter]:
        """Every parameter that applies to ``resource_type`` (own and Resource-level), by code."""
        merged: dict[str, SearchParameter] = {}
        for base in (*_ABSTRACT_BASES, resource_type):
            merged.update(self.by_type.get(base, {}))
        return merged

    def get(self, resource_type: str, code: str) -> SearchParameter | None:
        for base in (resource_type, *_ABSTRACT_BASES):
            found = self.by_type.get(base, {}).get(code)
            if found is not None:
                return found
        return None

    def all(self) -> Iterable[SearchParameter]:
        seen: set[str] = set()
        for codes in self.by_type.values():
            for parameter in codes.values():
                if parameter.url not in seen:
                    seen.add(parameter.url)
                    yield parameter

    @classmethod
    def from_resources(cls, resources: Iterable[Mapping[str, Any]]) -> SearchParameters:
        parameters = cls()
        for resource in resources:
            parameters.add(_parse(resource))
        return parameters

    @classmethod
    def from_registry(cls, registry: Registry) -> SearchParameters:
        return cls.from_resources(registry.of_type("SearchParameter"))


def _parse(resource: Mapping[str, Any]) -> SearchParameter:
    url = str(resource.get("url", ""))
    kind = resource.get("type")
    code = resource.get("code")
    expression = resource.get("expression")
    base = resource.get("base")
    if kind not in SUPPORTED_TYPES:
        raise invalid(
            f"SearchParameter {url} has type '{kind}'; forlop indexes token, reference, date, "
            "string and uri parameters only.",
            expression="SearchParameter.type",
            forlop_code=Code.SEARCH_EXPRESSION_UNSUPPORTED,
        )
    if not isinstance(code, str) or not isinstance(expression, str) or not base:
        raise invalid(
            f"SearchParameter {url} needs a code, a base and an expression.",
            expression="SearchParameter",
            forlop_code=Code.SEARCH_EXPRESSION_UNSUPPORTED,
        )
    return SearchParameter(
        url=url,
        code=code,
        type=kind,
        base=tuple(str(b) for b in base),
        expression=expression,
        target=tuple(str(t) for t in resource.get("target", ())),
    )


@cache
def default_parameters() -> SearchParameters:
    """The parameters of the bundled registry, loaded once per process."""
    return SearchParameters.from_registry(default_registry())
