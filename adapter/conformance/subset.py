"""The TestScript subset the conformance runner executes (FHIR R4 TestScript), read into
:mod:`adapter.conformance.model`.

Every element is either executed, shown for information, or reported: an element, a code or a
combination the runner does not execute becomes a problem with a FHIRPath location
(``TestScript.test[0].action[2].assert.path``) and a stable code (``FORLOP-CONF-001`` not
supported, ``FORLOP-CONF-002`` invalid), never a silent skip. References between parts of the
script (fixture, response and profile ids) and FHIRPath syntax are checked before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from adapter.conformance.model import (
    DOLLAR_OPERATIONS,
    INTERACTIONS,
    METHODS,
    OPERATION_CODES,
    OPERATORS,
    RESPONSE_CODES,
    Action,
    Assert,
    Fixture,
    Operation,
    Test,
    TestScript,
    Variable,
)
from adapter.conformance.variables import PLACEHOLDER
from adapter.fhir.errors import Code, Issue, error_issue
from adapter.validation.fhirpath import FhirPathSyntaxError, check_syntax


class FixtureLoader(Protocol):
    """Reads a fixture file (:func:`adapter.conformance.loader.load_fixture`)."""

    def __call__(
        self, path: Path, fixture_id: str, *, autocreate: bool = ..., autodelete: bool = ...
    ) -> Fixture: ...


# Elements read for information only (shown in reports, never change what runs).
_INFORMATIONAL = frozenset(
    (
        "resourceType id meta language text contained extension url identifier version name "
        "title status experimental date publisher contact description useContext jurisdiction "
        "purpose copyright"
    ).split()
)
_EXECUTED = frozenset(
    ("origin destination metadata fixture profile variable setup test teardown").split()
)
_OPERATION_KEYS = frozenset(
    (
        "id extension type resource label description accept contentType destination "
        "encodeRequestUrl method origin params requestHeader requestId responseId sourceId "
        "targetId url"
    ).split()
)
_ASSERT_KEYS = frozenset(
    (
        "id extension label description direction compareToSourceId compareToSourceExpression "
        "contentType expression headerField minimumId operator requestMethod requestURL "
        "resource response responseCode sourceId validateProfileId value warningOnly"
    ).split()
)
# Each assert checks exactly one of these (an R4 invariant of TestScript asserts).
_ASSERTION_KINDS = tuple(
    (
        "response responseCode contentType resource headerField expression minimumId "
        "validateProfileId requestMethod requestURL"
    ).split()
)
_OPERATORS_OF: dict[str, frozenset[str]] = {
    "response": frozenset({"equals", "notEquals"}),
    "responseCode": frozenset({"equals", "notEquals", "in", "notIn", "greaterThan", "lessThan"}),
    "contentType": frozenset({"equals", "notEquals"}),
    "resource": frozenset({"equals", "notEquals"}),
    "requestMethod": frozenset({"equals", "notEquals", "in", "notIn"}),
    "minimumId": frozenset({"equals"}),
    "validateProfileId": frozenset({"equals"}),
    "headerField": OPERATORS - {"eval"},
    "requestURL": OPERATORS - {"eval"},
    "expression": OPERATORS,
}
_NEEDS_NO_VALUE = frozenset({"empty", "notEmpty", "eval"})
_UNSUPPORTED_WHY = {
    "path": "XPath/JSONPath is not supported; use a FHIRPath 'expression'",
    "compareToSourcePath": "XPath/JSONPath is not supported; use 'compareToSourceExpression'",
    "navigationLinks": "navigation link checks are not supported; assert on Bundle.link with "
    "an expression",
    "implicitRules": "a script under implicit rules cannot be run safely",
    "modifierExtension": "modifier extensions change meaning and none is known to the runner",
}


def read_testscript(
    data: dict[str, Any], path: Path, load_fixture: FixtureLoader
) -> tuple[TestScript | None, list[Issue]]:
    """The script in ``data`` (from ``path``), or None and the problems that stop it."""
    reader = _Reader(path, load_fixture)
    script = reader.script(data)
    return (None if reader.problems else script), reader.problems


def _unsupported(where: str, message: str) -> Issue:
    return error_issue("not-supported", Code.TESTSCRIPT_UNSUPPORTED, message, where)


def _invalid(where: str, message: str) -> Issue:
    return error_issue("invalid", Code.TESTSCRIPT_INVALID, message, where)


def _text(node: dict[str, Any], key: str) -> str | None:
    value = node.get(key)
    return value if isinstance(value, str) else None


class _Reader:
    """Reads one TestScript's JSON into the model, collecting every problem on the way."""

    def __init__(self, path: Path, load_fixture: FixtureLoader) -> None:
        self.path = path
        self.load_fixture = load_fixture
        self.problems: list[Issue] = []
        self.fixture_ids: set[str] = set()
        self.dynamic_ids: set[str] = set()
        self.profile_ids: set[str] = set()
        self.origins: set[int] = set()
        self.destinations: set[int] = set()
        self.references: list[tuple[str, str]] = []  # (fixture id, where) checked at the end

    def unsupported(self, where: str, message: str) -> None:
        self.problems.append(_unsupported(where, message))

    def invalid(self, where: str, message: str) -> None:
        self.problems.append(_invalid(where, message))

    def known(self, node: dict[str, Any], allowed: Iterable[str], where: str) -> None:
        allowed = set(allowed)
        for key in node:
            if key in allowed or (key.startswith("_") and key[1:] in allowed):
                continue
            why = _UNSUPPORTED_WHY.get(key, "the runner does not know this element")
            self.unsupported(f"{where}.{key}", f"{where}.{key}: {why}.")

    # -- the script -------------------------------------------------------------------------

    def script(self, data: dict[str, Any]) -> TestScript:
        self.known(data, _INFORMATIONAL | _EXECUTED, "TestScript")
        self.participants(data)
        self.metadata(data.get("metadata"))
        contained = {
            c.get("id"): c for c in data.get("contained") or [] if isinstance(c.get("id"), str)
        }
        fixtures = self.fixtures(data.get("fixture") or [], contained)
        profiles = self.profiles(data.get("profile") or [])
        self.collect_dynamic_ids(data)
        variables = tuple(self.variable(v, i) for i, v in enumerate(data.get("variable") or []))
        names = [v.name for v in variables]
        for name in {n for n in names if names.count(n) > 1}:
            self.invalid("TestScript.variable", f"Two variables are named '{name}'.")
        setup = self.actions((data.get("setup") or {}).get("action") or [], "TestScript.setup")
        tests = tuple(self.test(t, i) for i, t in enumerate(data.get("test") or []))
        teardown_actions = (data.get("teardown") or {}).get("action") or []
        teardown = tuple(self.teardown(a, i) for i, a in enumerate(teardown_actions))
        for fixture_id, where in self.references:
            if fixture_id not in self.fixture_ids | self.dynamic_ids:
                self.invalid(
                    where,
                    f"'{fixture_id}' names no fixture, requestId or responseId of this script.",
                )
        return TestScript(
            id=str(data.get("id") or self.path.stem),
            url=str(data.get("url", "")),
            version=str(data.get("version", "")),
            name=str(data.get("name", "")),
            title=str(data.get("title", "")),
            description=str(data.get("description", "")),
            fixtures=fixtures,
            profiles=profiles,
            variables=variables,
            setup=setup,
            tests=tests,
            teardown=tuple(op for op in teardown if op is not None),
        )

    def participants(self, data: dict[str, Any]) -> None:
        """One origin (this runner) and one destination (the server under test) at most."""
        for key, indexes in (("origin", self.origins), ("destination", self.destinations)):
            entries = data.get(key) or []
            if len(entries) > 1:
                self.unsupported(
                    f"TestScript.{key}",
                    f"The runner plays one client against one server; {len(entries)} {key}s "
                    "are declared.",
                )
            indexes.update(int(e["index"]) for e in entries if isinstance(e.get("index"), int))

    def metadata(self, metadata: Any) -> None:
        if not isinstance(metadata, dict):
            return
        for i, capability in enumerate(metadata.get("capability") or []):
            if capability.get("validated") is True:
                self.unsupported(
                    f"TestScript.metadata.capability[{i}].validated",
                    "The runner does not validate a server's capabilities against the script's "
                    "metadata; assert on GET metadata instead.",
                )

    def fixtures(self, entries: list[Any], contained: dict[str, Any]) -> dict[str, Fixture]:
        found: dict[str, Fixture] = {}
        for i, entry in enumerate(entries):
            where = f"TestScript.fixture[{i}]"
            self.known(entry, {"id", "extension", "autocreate", "autodelete", "resource"}, where)
            fixture_id = _text(entry, "id")
            reference = _text(entry.get("resource") or {}, "reference")
            if not fixture_id or not reference:
                self.invalid(where, "A fixture needs an id and a resource.reference.")
                continue
            self.fixture_ids.add(fixture_id)
            flags = {
                "autocreate": entry.get("autocreate") is True,
                "autodelete": entry.get("autodelete") is True,
            }
            fixture = self.fixture(fixture_id, reference, contained, where, **flags)
            if fixture is not None:
                found[fixture_id] = fixture
        return found

    def fixture(
        self,
        fixture_id: str,
        reference: str,
        contained: dict[str, Any],
        where: str,
        *,
        autocreate: bool,
        autodelete: bool,
    ) -> Fixture | None:
        where = f"{where}.resource.reference"
        if reference.startswith("#"):
            resource = contained.get(reference[1:])
            if resource is None:
                self.invalid(where, f"No contained resource has id '{reference[1:]}'.")
                return None
            return Fixture(
                fixture_id, reference, resource, autocreate=autocreate, autodelete=autodelete
            )
        if urlsplit(reference).scheme:
            self.unsupported(
                where,
                f"Fixture '{reference}' is not a file beside the script; the runner reads "
                "fixtures from files and never downloads them.",
            )
            return None
        folder = self.path.parent.resolve()
        path = (folder / reference).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            self.invalid(where, f"No fixture file {reference} beside {self.path.name}.")
            return None
        return self.load_fixture(path, fixture_id, autocreate=autocreate, autodelete=autodelete)

    def profiles(self, entries: list[Any]) -> dict[str, str]:
        found: dict[str, str] = {}
        for i, entry in enumerate(entries):
            profile_id, reference = _text(entry, "id"), _text(entry, "reference")
            if not profile_id or not reference:
                self.invalid(
                    f"TestScript.profile[{i}]",
                    "A profile needs an id (for validateProfileId) and a reference (its "
                    "canonical URL).",
                )
                continue
            found[profile_id] = reference
            self.profile_ids.add(profile_id)
        return found

    def collect_dynamic_ids(self, data: dict[str, Any]) -> None:
        """requestId and responseId of every operation: fixtures that exist once it has run."""
        phases = [data.get("setup") or {}, *(data.get("test") or []), data.get("teardown") or {}]
        for phase in phases:
            for action in phase.get("action") or []:
                operation = action.get("operation") or {}
                for key in ("requestId", "responseId"):
                    if isinstance(operation.get(key), str):
                        self.dynamic_ids.add(operation[key])

    def variable(self, node: dict[str, Any], index: int) -> Variable:
        where = f"TestScript.variable[{index}]"
        allowed = {"id", "extension", "name", "defaultValue", "description", "expression"}
        self.known(node, allowed | {"headerField", "hint", "sourceId"}, where)
        name = _text(node, "name") or ""
        expression, header = _text(node, "expression"), _text(node, "headerField")
        if expression is not None and header is not None:
            self.invalid(where, "A variable takes its value from an expression or a header.")
        if expression is not None:
            self.fhirpath(expression, f"{where}.expression")
        source = _text(node, "sourceId")
        if source is not None:
            self.references.append((source, f"{where}.sourceId"))
        return Variable(
            name=name,
            default_value=_text(node, "defaultValue"),
            expression=expression,
            header_field=header,
            source_id=source,
            description=_text(node, "description") or "",
        )

    def fhirpath(self, expression: str, where: str) -> None:
        # ${name} is replaced by text before evaluation; check the syntax around it.
        try:
            check_syntax(PLACEHOLDER.sub("v", expression))
        except FhirPathSyntaxError as exc:
            self.invalid(where, f"The FHIRPath expression does not parse: {exc}.")

    # -- actions ----------------------------------------------------------------------------

    def test(self, node: dict[str, Any], index: int) -> Test:
        where = f"TestScript.test[{index}]"
        self.known(node, {"id", "extension", "name", "description", "action"}, where)
        actions = self.actions(node.get("action") or [], where)
        name = _text(node, "name") or f"test {index + 1}"
        return Test(name, _text(node, "description") or "", actions)

    def actions(self, nodes: list[Any], where: str) -> tuple[Action, ...]:
        found: list[Action] = []
        for i, node in enumerate(nodes):
            here = f"{where}.action[{i}]"
            self.known(node, {"id", "extension", "operation", "assert"}, here)
            if "operation" in node and "assert" not in node:
                found.append(self.operation(node["operation"], f"{here}.operation"))
            elif "assert" in node and "operation" not in node:
                parsed = self.assertion(node["assert"], f"{here}.assert")
                if parsed is not None:
                    found.append(parsed)
            else:
                self.invalid(here, "An action is either an operation or an assert.")
        return tuple(found)

    def teardown(self, node: dict[str, Any], index: int) -> Operation | None:
        where = f"TestScript.teardown.action[{index}]"
        self.known(node, {"id", "extension", "operation"}, where)
        if "operation" not in node:
            self.invalid(where, "A teardown action is an operation.")
            return None
        return self.operation(node["operation"], f"{where}.operation")

    def operation(self, node: dict[str, Any], where: str) -> Operation:
        self.known(node, _OPERATION_KEYS, where)
        code = self.operation_type(node.get("type"), where)
        method = _text(node, "method")
        if method is not None and method not in METHODS:
            self.invalid(f"{where}.method", f"'{method}' is not an HTTP method of TestScript.")
        if code is None and method is None and _text(node, "url") is None:
            self.invalid(where, "The operation needs a type, a method or a url.")
        if code == "deleteCondSingle" and not (node.get("params") or node.get("url")):
            self.invalid(where, "A conditional delete needs its search criteria in params.")
        for key, indexes in (("origin", self.origins), ("destination", self.destinations)):
            value = node.get(key)
            if isinstance(value, int) and value not in (indexes or {1}):
                self.unsupported(
                    f"{where}.{key}",
                    f"{key} {value} is not this script's only {key}; the runner plays one "
                    "client against one server.",
                )
        for key in ("sourceId", "targetId"):
            if isinstance(node.get(key), str):
                self.references.append((node[key], f"{where}.{key}"))
        headers = []
        for i, header in enumerate(node.get("requestHeader") or []):
            field, value = _text(header, "field"), _text(header, "value")
            if not field or value is None:
                self.invalid(f"{where}.requestHeader[{i}]", "A request header needs a field.")
                continue
            headers.append((field, value))
        return Operation(
            where=where,
            type=code,
            resource=_text(node, "resource"),
            label=_text(node, "label") or "",
            description=_text(node, "description") or "",
            accept=_text(node, "accept"),
            content_type=_text(node, "contentType"),
            encode_request_url=node.get("encodeRequestUrl") is not False,
            method=method,
            params=_text(node, "params"),
            url=_text(node, "url"),
            request_headers=tuple(headers),
            request_id=_text(node, "requestId"),
            response_id=_text(node, "responseId"),
            source_id=_text(node, "sourceId"),
            target_id=_text(node, "targetId"),
        )

    def operation_type(self, coding: Any, where: str) -> str | None:
        if not isinstance(coding, dict):
            return None
        code, system = _text(coding, "code"), _text(coding, "system")
        if system not in (None, OPERATION_CODES):
            self.unsupported(
                f"{where}.type", f"Operation types come from {OPERATION_CODES}, not {system}."
            )
            return None
        if code not in INTERACTIONS and code not in DOLLAR_OPERATIONS:
            self.unsupported(
                f"{where}.type",
                f"The runner does not execute operation type '{code}'; give the method and "
                "params (or url) instead.",
            )
            return None
        return code

    def assertion(self, node: dict[str, Any], where: str) -> Assert | None:
        self.known(node, _ASSERT_KEYS, where)
        kinds = [k for k in _ASSERTION_KINDS if k in node]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "nothing"
            self.invalid(where, f"An assert checks exactly one thing; this one checks {found}.")
            return None
        kind = kinds[0]
        operator, value = _text(node, "operator"), _text(node, "value")
        direction = _text(node, "direction") or "response"
        if direction not in ("response", "request"):
            self.invalid(f"{where}.direction", f"'{direction}' is not response or request.")
        if direction == "request" and kind in ("response", "responseCode"):
            self.invalid(where, f"A request has no {kind}; use direction 'response'.")
        if operator is not None and operator not in _OPERATORS_OF[kind]:
            self.unsupported(
                f"{where}.operator", f"Operator '{operator}' does not apply to a {kind} assert."
            )
        if value is None and kind in ("headerField", "expression", "requestURL"):
            # Without operator and value a header must be present, an expression true.
            bare = operator is None and kind != "requestURL"
            if not bare and operator not in _NEEDS_NO_VALUE:
                self.invalid(where, f"Operator '{operator or 'equals'}' needs a value.")
        if kind == "response" and node["response"] not in RESPONSE_CODES:
            self.invalid(f"{where}.response", f"'{node['response']}' is not a response code.")
        compare_id = _text(node, "compareToSourceId")
        compare_expression = _text(node, "compareToSourceExpression")
        if (compare_id is None) != (compare_expression is None) or (
            compare_id is not None and (kind != "expression" or value is not None)
        ):
            self.invalid(
                where,
                "compareToSourceId and compareToSourceExpression go together, with an "
                "expression and no value.",
            )
        for key in ("expression", "compareToSourceExpression"):
            if isinstance(node.get(key), str):
                self.fhirpath(node[key], f"{where}.{key}")
        for key in ("sourceId", "minimumId", "compareToSourceId"):
            if isinstance(node.get(key), str):
                self.references.append((node[key], f"{where}.{key}"))
        profile = _text(node, "validateProfileId")
        if profile is not None and profile not in self.profile_ids:
            self.invalid(f"{where}.validateProfileId", f"No TestScript.profile has id {profile}.")
        return Assert(
            where=where,
            kind=kind,
            label=_text(node, "label") or "",
            description=_text(node, "description") or "",
            direction=direction,
            operator=operator,
            value=value,
            source_id=_text(node, "sourceId"),
            expression=_text(node, "expression"),
            header_field=_text(node, "headerField"),
            response=_text(node, "response"),
            response_code=_text(node, "responseCode"),
            content_type=_text(node, "contentType"),
            resource=_text(node, "resource"),
            minimum_id=_text(node, "minimumId"),
            validate_profile_id=profile,
            request_method=_text(node, "requestMethod"),
            request_url=_text(node, "requestURL"),
            compare_to_source_id=compare_id,
            compare_to_source_expression=compare_expression,
            warning_only=node.get("warningOnly") is True,
        )
