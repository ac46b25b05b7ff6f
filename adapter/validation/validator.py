"""All validation passes in order, every issue collected (FHIR R4 §2.21 validation).

1. structure: the resource against base R4 (elements, JSON types, cardinality, primitives);
2. required bindings of base R4, and base invariants;
3. Norwegian identifiers (fødselsnummer, D-number, organisation number, HPR);
4. the profiles the resource claims in ``meta.profile`` (ours are known to the registry);
5. a QuestionnaireResponse against its Questionnaire: ours must be known; another publisher's
   that the registry does not hold only gives a warning.

Entries of a Bundle and contained resources go through passes 4 and 5 one by one; passes 1-3 walk
them already. A resource whose structure is broken skips passes 4-5: their findings would only
repeat the same fault in other words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from adapter.fhir.errors import Code, Issue, has_errors
from adapter.registry import Registry, default_registry
from adapter.validation.identifiers import validate_identifiers
from adapter.validation.invariants import validate_invariants
from adapter.validation.profile import OWN_CANONICAL_PREFIX, validate_claimed_profiles
from adapter.validation.questionnaire import validate_against_registry
from adapter.validation.structure import validate_structure
from adapter.validation.terminology import validate_required_bindings
from adapter.validation.walk import walk


def _rebase(issues: list[Issue], resource_type: str, prefix: str) -> list[Issue]:
    """Issues found on a nested resource, with expressions from the outer resource."""
    out = []
    for issue in issues:
        expressions = tuple(
            prefix + e[len(resource_type) :] if e.startswith(resource_type) else e
            for e in issue.expression
        )
        out.append(
            Issue(issue.severity, issue.code, issue.diagnostics, expressions, issue.forlop_code)
        )
    return out


def _nested(resource: dict[str, Any], path: str) -> list[tuple[dict[str, Any], str]]:
    """(resource, path) for the resource itself, its Bundle entries and contained resources."""
    found = [(resource, path)]
    for i, entry in enumerate(
        resource.get("entry") or [] if resource.get("resourceType") == "Bundle" else []
    ):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            found += _nested(entry["resource"], f"{path}.entry[{i}].resource")
    for i, contained in enumerate(resource.get("contained") or []):
        if isinstance(contained, dict):
            found += _nested(contained, f"{path}.contained[{i}]")
    return found


def _foreign_questionnaire_as_warning(issues: list[Issue], canonical: str) -> list[Issue]:
    """A response to another publisher's Questionnaire that we do not hold cannot be checked:
    say so as a warning (plain FHIR clients are accepted when base-valid)."""
    if canonical.startswith(OWN_CANONICAL_PREFIX):
        return issues
    return [
        replace(i, severity="warning") if i.forlop_code is Code.QR_QUESTIONNAIRE_UNKNOWN else i
        for i in issues
    ]


def validate_conformance(resource: dict[str, Any], registry: Registry) -> list[Issue]:
    """Passes 4 and 5 over the resource and every resource nested in it."""
    issues: list[Issue] = []
    root = str(resource.get("resourceType"))
    for nested, path in _nested(resource, root):
        rtype = str(nested.get("resourceType"))
        found = validate_claimed_profiles(nested, registry)
        if rtype == "QuestionnaireResponse" and nested.get("questionnaire"):
            found += _foreign_questionnaire_as_warning(
                validate_against_registry(nested, registry), str(nested["questionnaire"])
            )
        issues += found if path == root else _rebase(found, rtype, path)
    return issues


def validate(resource: dict[str, Any], registry: Registry | None = None) -> list[Issue]:
    """Every issue with the resource, errors and warnings; an empty list means valid."""
    registry = registry or default_registry()
    issues = validate_structure(resource)
    if has_errors(issues):
        return issues
    walked = walk(resource)  # one traversal shared by the three passes below
    # The bundled tables are built once per process; another registry builds its own.
    tables = None if registry is default_registry() else registry
    issues += validate_required_bindings(resource, walked=walked, registry=tables)
    issues += validate_invariants(resource, walked=walked, registry=tables)
    issues += validate_identifiers(resource, walked=walked)
    issues += validate_conformance(resource, registry)
    return issues


def warm_up(registry: Registry, resources: Iterable[dict[str, Any]]) -> None:
    """Build the validation tables now: invariants and bindings compiled, the element tables of
    the given resources' types. A server calls it at start-up with its conformance resources,
    so the first request does not wait for them (and they live with what start-up built)."""
    for resource in resources:
        validate(resource, registry)
