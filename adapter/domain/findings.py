"""Findings about domain input: what breaks a PSFS or PaTH rule, said without FHIR.

The mapping layer turns findings into OperationOutcome issues; ``Rule`` names match the stable
diagnostic codes of ``adapter.fhir.errors.Code`` one to one (a test keeps them in step).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Literal


class Rule(Enum):
    PSFS_TOO_FEW = "fewer activities than the programme asks for"
    PSFS_TOO_MANY = "more activities than the form allows"
    PSFS_SCORE_RANGE = "score outside 0-10"
    PSFS_EMPTY_ACTIVITY = "activity without text"
    PSFS_DIRECTION = "unknown scoring direction"
    PSFS_DUPLICATE_ACTIVITY = "the same activity twice in one assessment"
    PSFS_SERIES = "assessments that do not form one series"
    PATH_CHECKLIST_UNKNOWN = "unknown PaTH checklist"
    MAPPING_INPUT = "input that cannot be mapped"


@dataclass(frozen=True)
class Finding:
    """One broken rule: how bad, which rule, where (a dotted path in the domain form), and why."""

    severity: Literal["error", "warning"]
    rule: Rule
    path: str
    message: str


class DomainError(ValueError):
    """Raised when domain input has at least one error-severity finding; carries all findings."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("; ".join(f.message for f in self.findings))


def error(rule: Rule, path: str, message: str) -> Finding:
    return Finding("error", rule, path, message)


def warning(rule: Rule, path: str, message: str) -> Finding:
    return Finding("warning", rule, path, message)


def raise_on_errors(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Return the findings when none is an error; otherwise raise them all together."""
    collected = tuple(findings)
    if any(f.severity == "error" for f in collected):
        raise DomainError(collected)
    return collected
