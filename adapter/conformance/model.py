"""The part of FHIR R4 TestScript (§ testscript.html) the conformance runner executes.

A loaded script is plain data: operations and asserts in setup, tests and teardown, fixtures with
their content, profiles by id and variables. What the runner cannot execute never becomes part of
this model: the loader reports it as a problem instead (see :mod:`adapter.conformance.loader`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter.fhir.errors import Issue

OPERATION_CODES = "http://terminology.hl7.org/CodeSystem/testscript-operation-codes"

# assert.response codes (R4 ValueSet assert-response-code-types) and the status each names.
RESPONSE_CODES: Mapping[str, int] = {
    "okay": 200,
    "created": 201,
    "noContent": 204,
    "notModified": 304,
    "bad": 400,
    "forbidden": 403,
    "notFound": 404,
    "methodNotAllowed": 405,
    "conflict": 409,
    "gone": 410,
    "preconditionFailed": 412,
    "unprocessable": 422,
}

# assert.operator (R4 ValueSet assert-operator-codes): all of them are supported.
OPERATORS = frozenset(
    (
        "equals notEquals in notIn greaterThan lessThan empty notEmpty contains notContains eval"
    ).split()
)

# operation.type codes that are RESTful interactions, with the HTTP method each implies.
INTERACTIONS: Mapping[str, str] = {
    "read": "get",
    "vread": "get",
    "search": "get",
    "history": "get",
    "capabilities": "get",
    "create": "post",
    "batch": "post",
    "transaction": "post",
    "update": "put",
    "updateCreate": "put",
    "patch": "patch",
    "delete": "delete",
    "deleteCondSingle": "delete",
}

# operation.type codes naming a FHIR $operation of the R4 code system: sent as [type]/$code.
DOLLAR_OPERATIONS = frozenset(
    (
        "apply closure data-requirements document evaluate-measure everything expand find "
        "lastn lookup match meta meta-add meta-delete populate process-message questionnaire "
        "stats subsumes transform translate validate validate-code snapshot"
    ).split()
)

METHODS = frozenset({"delete", "get", "options", "patch", "post", "put", "head"})


@dataclass(frozen=True)
class Fixture:
    """TestScript.fixture: a resource from a file beside the script (or contained in it).

    ``resource`` is the parsed FHIR resource; a file that is not FHIR JSON or XML (a deliberately
    broken body for the robustness suite) keeps its bytes in ``raw`` and says why in ``note``.
    """

    id: str
    source: str
    resource: dict[str, Any] | None = None
    raw: bytes | None = None
    media_type: str | None = None
    note: str = ""
    autocreate: bool = False
    autodelete: bool = False


@dataclass(frozen=True)
class Variable:
    """TestScript.variable: a value from a response header, a FHIRPath expression or a default."""

    name: str
    default_value: str | None = None
    expression: str | None = None
    header_field: str | None = None
    source_id: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Operation:
    """TestScript.setup.action.operation (also used in test and teardown)."""

    where: str
    type: str | None = None
    resource: str | None = None
    label: str = ""
    description: str = ""
    accept: str | None = None
    content_type: str | None = None
    encode_request_url: bool = True
    method: str | None = None
    params: str | None = None
    url: str | None = None
    request_headers: tuple[tuple[str, str], ...] = ()
    request_id: str | None = None
    response_id: str | None = None
    source_id: str | None = None
    target_id: str | None = None

    @property
    def title(self) -> str:
        return self.description or self.label or (self.type or self.method or "operation")


@dataclass(frozen=True)
class Assert:
    """TestScript.setup.action.assert: exactly one assertion (``kind``) and how to compare."""

    where: str
    kind: str  # response, responseCode, contentType, resource, headerField, expression, ...
    label: str = ""
    description: str = ""
    direction: str = "response"
    operator: str | None = None
    value: str | None = None
    source_id: str | None = None
    expression: str | None = None
    header_field: str | None = None
    response: str | None = None
    response_code: str | None = None
    content_type: str | None = None
    resource: str | None = None
    minimum_id: str | None = None
    validate_profile_id: str | None = None
    request_method: str | None = None
    request_url: str | None = None
    compare_to_source_id: str | None = None
    compare_to_source_expression: str | None = None
    warning_only: bool = False

    @property
    def title(self) -> str:
        return self.description or self.label or f"assert {self.kind}"


Action = Operation | Assert


@dataclass(frozen=True)
class Test:
    """TestScript.test: a named series of actions."""

    __test__ = False  # not a pytest test class

    name: str
    description: str
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class TestScript:
    """A TestScript the runner can execute in full."""

    __test__ = False  # not a pytest test class

    id: str
    url: str
    version: str
    name: str
    title: str
    description: str
    fixtures: Mapping[str, Fixture]
    profiles: Mapping[str, str]  # TestScript.profile id -> canonical URL
    variables: tuple[Variable, ...]
    setup: tuple[Action, ...]
    tests: tuple[Test, ...]
    teardown: tuple[Operation, ...]


@dataclass(frozen=True)
class LoadedScript:
    """One TestScript file: the script when it can run, else the problems that stop it."""

    suite: str
    path: Path
    script: TestScript | None
    problems: tuple[Issue, ...] = ()

    @property
    def id(self) -> str:
        return self.script.id if self.script else self.path.stem

    @property
    def title(self) -> str:
        return (self.script.title or self.script.name) if self.script else self.path.stem


@dataclass(frozen=True)
class Suite:
    """A folder of TestScripts run together."""

    name: str
    directory: Path
    scripts: tuple[LoadedScript, ...] = field(default_factory=tuple)
