"""Norwegian identifiers in FHIR ``Identifier`` elements (HL7 Norway no-basis systems).

Every Identifier in a resource, wherever it sits (``Patient.identifier``, ``Reference.identifier``,
contained resources, Bundle entries), whose ``system`` is the fødselsnummer, D-number, HPR or
organisation-number OID is checked with :mod:`adapter.domain.identifiers`. The diagnostics say which
check failed and never repeat the number: it may be a real person's, so only its last two digits
are shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapter.domain.identifiers import (
    Problem,
    dnr_problem,
    fnr_problem,
    hpr_problem,
    orgnr_problem,
)
from adapter.fhir.errors import Code, Issue, error_issue
from adapter.validation.walk import Walked, walk

__all__ = ["FNR_SYSTEM", "DNR_SYSTEM", "HPR_SYSTEM", "ORGNR_SYSTEM", "validate_identifiers", "mask"]

FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
DNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.2"
HPR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.4"
ORGNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.101"

_CHECKS: dict[str, tuple[Callable[[str], Problem | None], Code, str]] = {
    FNR_SYSTEM: (fnr_problem, Code.FNR_INVALID, "fødselsnummer (11 digits)"),
    DNR_SYSTEM: (dnr_problem, Code.DNR_INVALID, "D-number (11 digits)"),
    HPR_SYSTEM: (hpr_problem, Code.HPR_INVALID, "HPR number (1-9 digits)"),
    ORGNR_SYSTEM: (orgnr_problem, Code.ORGNR_INVALID, "organisation number (9 digits)"),
}

_HINTS = {
    (FNR_SYSTEM, Problem.DATE): f" A D-number (day + 40) belongs in system {DNR_SYSTEM}.",
}


def mask(value: str) -> str:
    """All but the last two characters hidden: ``15833800024`` -> ``*********24``."""
    if len(value) <= 2:
        return "*" * len(value)
    return "*" * (len(value) - 2) + value[-2:]


def validate_identifiers(resource: dict[str, Any], *, walked: Walked | None = None) -> list[Issue]:
    """An issue for every Norwegian identifier in the resource that fails its check."""
    issues: list[Issue] = []
    for node in (walked or walk(resource)).of_type("Identifier"):
        system = node.data.get("system")
        value = node.data.get("value")
        if not isinstance(system, str) or not isinstance(value, str):
            continue
        check = _CHECKS.get(system)
        if check is None:
            continue
        problem_of, code, label = check
        problem = problem_of(value)
        if problem is None:
            continue
        hint = _HINTS.get((system, problem), "")
        issues.append(
            error_issue(
                "value",
                code,
                f"{node.expression}.value {mask(value)} is not a valid {label}: {problem}." + hint,
                f"{node.expression}.value",
            )
        )
    return issues
