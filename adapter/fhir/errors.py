"""OperationOutcome issues and the one error type that carries them (FHIR R4 OperationOutcome).

Every problem forlop reports, from the JSON parser to the REST layer, is an :class:`Issue`.
Validation collects issues and raises :class:`FhirError` once at the boundary; the REST layer and
the CLI render ``FhirError.outcome()`` and never invent a status from message text.

Exception tree::

    Exception
     └── FhirError   (status: int, issues: tuple[Issue, ...])

Each issue carries a stable forlop code (:class:`Code`) in ``details.coding`` so users can look a
diagnostic up, the FHIR ``issue-type`` code, and a FHIRPath ``expression`` to the offending element.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]

ISSUE_CODE_SYSTEM = "http://forlop.no/fhir/CodeSystem/issue"


class Code(StrEnum):
    """Stable forlop diagnostic codes: the one table. Never renumber; add at the end of a group."""

    # Wire format
    JSON_SYNTAX = "FORLOP-WIRE-001"
    JSON_DUPLICATE_KEY = "FORLOP-WIRE-002"
    JSON_TOO_DEEP = "FORLOP-WIRE-003"
    JSON_NOT_OBJECT = "FORLOP-WIRE-004"
    XML_SYNTAX = "FORLOP-WIRE-005"
    XML_FORBIDDEN = "FORLOP-WIRE-006"
    XML_TOO_DEEP = "FORLOP-WIRE-007"
    TOO_LARGE = "FORLOP-WIRE-008"
    UNKNOWN_FORMAT = "FORLOP-WIRE-009"
    XML_STRUCTURE = "FORLOP-WIRE-010"
    # Structure (base R4)
    UNKNOWN_RESOURCE_TYPE = "FORLOP-STRUCT-001"
    UNKNOWN_ELEMENT = "FORLOP-STRUCT-002"
    WRONG_JSON_TYPE = "FORLOP-STRUCT-003"
    REQUIRED_MISSING = "FORLOP-STRUCT-004"
    INVALID_VALUE = "FORLOP-STRUCT-005"
    CHOICE_CONFLICT = "FORLOP-STRUCT-006"
    EMPTY_ELEMENT = "FORLOP-STRUCT-007"
    NOT_A_LIST = "FORLOP-STRUCT-008"
    # Terminology and invariants (base R4)
    CODE_NOT_IN_VALUESET = "FORLOP-TERM-001"
    INVARIANT = "FORLOP-INV-001"
    # Profiles
    PROFILE_UNKNOWN = "FORLOP-PROF-001"
    PROFILE_CARDINALITY = "FORLOP-PROF-002"
    PROFILE_FIXED = "FORLOP-PROF-003"
    PROFILE_PATTERN = "FORLOP-PROF-004"
    PROFILE_BINDING = "FORLOP-PROF-005"
    PROFILE_INVARIANT = "FORLOP-PROF-006"
    PROFILE_TYPE = "FORLOP-PROF-007"
    PROFILE_SLICING = "FORLOP-PROF-008"
    PROFILE_UNSUPPORTED = "FORLOP-PROF-009"
    # Questionnaire responses
    QR_QUESTIONNAIRE_UNKNOWN = "FORLOP-QR-001"
    QR_LINKID_UNKNOWN = "FORLOP-QR-002"
    QR_ANSWER_TYPE = "FORLOP-QR-003"
    QR_REQUIRED = "FORLOP-QR-004"
    QR_REPEATS = "FORLOP-QR-005"
    QR_ENABLE_WHEN = "FORLOP-QR-006"
    QR_ANSWER_OPTION = "FORLOP-QR-007"
    QR_ANSWER_RANGE = "FORLOP-QR-008"
    QR_STRUCTURE = "FORLOP-QR-009"
    # Norwegian identifiers
    FNR_INVALID = "FORLOP-ID-001"
    DNR_INVALID = "FORLOP-ID-002"
    ORGNR_INVALID = "FORLOP-ID-003"
    HPR_INVALID = "FORLOP-ID-004"
    # PSFS and PaTH domain rules
    PSFS_TOO_FEW = "FORLOP-PSFS-001"
    PSFS_TOO_MANY = "FORLOP-PSFS-002"
    PSFS_SCORE_RANGE = "FORLOP-PSFS-003"
    PSFS_EMPTY_ACTIVITY = "FORLOP-PSFS-004"
    PSFS_DIRECTION = "FORLOP-PSFS-005"
    PSFS_DUPLICATE_ACTIVITY = "FORLOP-PSFS-006"
    PSFS_SERIES = "FORLOP-PSFS-007"
    PATH_CHECKLIST_UNKNOWN = "FORLOP-PATH-001"
    MAPPING_INPUT = "FORLOP-MAP-001"
    EXTRACT_UNSUPPORTED = "FORLOP-MAP-002"
    # Interaction level
    NOT_FOUND = "FORLOP-REST-001"
    GONE = "FORLOP-REST-002"
    CONFLICT = "FORLOP-REST-003"
    PRECONDITION_FAILED = "FORLOP-REST-004"
    METHOD_NOT_ALLOWED = "FORLOP-REST-005"
    UNSUPPORTED_MEDIA_TYPE = "FORLOP-REST-006"
    NOT_SUPPORTED = "FORLOP-REST-007"
    INTERNAL = "FORLOP-REST-999"
    SEARCH_INVALID = "FORLOP-SEARCH-001"
    SEARCH_EXPRESSION_UNSUPPORTED = "FORLOP-SEARCH-002"
    UNAUTHENTICATED = "FORLOP-AUTH-001"
    SCOPE_MISSING = "FORLOP-AUTH-002"
    SIGNING_KEYS_UNAVAILABLE = "FORLOP-AUTH-003"
    ACCESS_DENIED = "FORLOP-AUTH-004"
    TESTSCRIPT_UNSUPPORTED = "FORLOP-CONF-001"
    TESTSCRIPT_INVALID = "FORLOP-CONF-002"


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: what went wrong, where (FHIRPath), and how bad."""

    severity: Severity
    code: str  # FHIR issue-type code: invalid, structure, required, value, invariant, ...
    diagnostics: str
    expression: tuple[str, ...] = ()
    forlop_code: Code | None = None

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    def to_fhir(self) -> dict[str, Any]:
        issue: dict[str, Any] = {"severity": self.severity, "code": self.code}
        if self.forlop_code is not None:
            issue["details"] = {
                "coding": [{"system": ISSUE_CODE_SYSTEM, "code": self.forlop_code.value}]
            }
        issue["diagnostics"] = self.diagnostics
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource (JSON form) for the issues; 'all OK' when there are none."""
    rendered = [i.to_fhir() for i in issues]
    if not rendered:
        rendered = [{"severity": "information", "code": "informational", "diagnostics": "All OK"}]
    return {"resourceType": "OperationOutcome", "issue": rendered}


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(i.is_error for i in issues)


@dataclass
class FhirError(Exception):
    """The one error type: an HTTP status and the OperationOutcome issues that explain it."""

    status: int
    issues: Sequence[Issue] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.issues = tuple(self.issues)
        super().__init__(self.status, "; ".join(i.diagnostics for i in self.issues))

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues) or f"HTTP {self.status}"

    def outcome(self) -> dict[str, Any]:
        return outcome(self.issues)


# --- factories: one per kind of failure -------------------------------------------------------


def error_issue(
    code: str, forlop_code: Code, diagnostics: str, expression: str | Sequence[str] = ()
) -> Issue:
    expr = (expression,) if isinstance(expression, str) else tuple(expression)
    return Issue("error", code, diagnostics, expr, forlop_code)


def invalid(
    diagnostics: str,
    *,
    expression: str | Sequence[str] = (),
    forlop_code: Code = Code.INVALID_VALUE,
    code: str = "invalid",
    status: int = 400,
) -> FhirError:
    return FhirError(status, [error_issue(code, forlop_code, diagnostics, expression)])


def unprocessable(issues: Iterable[Issue]) -> FhirError:
    """Content that parsed but breaks a rule (FHIR answers 422 Unprocessable Entity)."""
    return FhirError(422, tuple(issues))


def not_found(diagnostics: str) -> FhirError:
    return FhirError(404, [error_issue("not-found", Code.NOT_FOUND, diagnostics)])


def gone(diagnostics: str) -> FhirError:
    return FhirError(410, [error_issue("deleted", Code.GONE, diagnostics)])


def conflict(diagnostics: str) -> FhirError:
    return FhirError(409, [error_issue("conflict", Code.CONFLICT, diagnostics)])


def precondition_failed(diagnostics: str) -> FhirError:
    return FhirError(412, [error_issue("conflict", Code.PRECONDITION_FAILED, diagnostics)])


def method_not_allowed(diagnostics: str) -> FhirError:
    return FhirError(405, [error_issue("not-supported", Code.METHOD_NOT_ALLOWED, diagnostics)])


def unsupported_media_type(diagnostics: str) -> FhirError:
    return FhirError(415, [error_issue("not-supported", Code.UNSUPPORTED_MEDIA_TYPE, diagnostics)])


def too_large(diagnostics: str) -> FhirError:
    return FhirError(413, [error_issue("too-costly", Code.TOO_LARGE, diagnostics)])


def not_supported(diagnostics: str, status: int = 400) -> FhirError:
    return FhirError(status, [error_issue("not-supported", Code.NOT_SUPPORTED, diagnostics)])
