"""A QuestionnaireResponse checked against its Questionnaire (FHIR R4 §12.5 Questionnaire,
§12.6 QuestionnaireResponse, and the SDC extensions minValue, maxValue, questionnaire-minOccurs,
questionnaire-maxOccurs).

Rules, each with its stable code:

- every item's linkId is defined at that level of the Questionnaire (``QR_LINKID_UNKNOWN``);
- items keep the Questionnaire's order, a question appears in one item only, and items nested under
  a question sit under its ``answer``, not its ``item`` (``QR_STRUCTURE``);
- each ``answer.value[x]`` has the type the item type asks for; groups and display items carry no
  answers (``QR_ANSWER_TYPE``);
- enabled required items are answered, required groups appear with content (``QR_REQUIRED``);
- non-repeating questions have one answer, non-repeating groups appear once, repeating items respect
  minOccurs/maxOccurs (``QR_REPEATS``);
- disabled items carry no answers (``QR_ENABLE_WHEN``);
- choice answers are among ``answerOption`` or in ``answerValueSet`` (``QR_ANSWER_OPTION``);
- answers respect minValue, maxValue and maxLength (``QR_ANSWER_RANGE``).

``required`` and minOccurs bind a "completed" response (R4 ``Questionnaire.item.required``); in an
in-progress or stopped response a missing answer is reported as information, not as an error.
Malformed primitives (a string in ``valueInteger``) are left to base structure validation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from adapter.fhir.errors import Code, Issue, Severity
from adapter.registry import Registry
from adapter.validation.expansion import Concept, UnresolvableValueSet, expand

_MIN_OCCURS = "http://hl7.org/fhir/StructureDefinition/questionnaire-minOccurs"
_MAX_OCCURS = "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs"
_MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
_MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
_ROOT = "QuestionnaireResponse"

# R4 item type -> the answer.value[x] elements it accepts.
_ANSWER_TYPES: dict[str, frozenset[str]] = {
    "boolean": frozenset({"valueBoolean"}),
    "decimal": frozenset({"valueDecimal"}),
    "integer": frozenset({"valueInteger"}),
    "date": frozenset({"valueDate"}),
    "dateTime": frozenset({"valueDateTime"}),
    "time": frozenset({"valueTime"}),
    "string": frozenset({"valueString"}),
    "text": frozenset({"valueString"}),
    "url": frozenset({"valueUri"}),
    "choice": frozenset({"valueCoding"}),
    "open-choice": frozenset({"valueCoding", "valueString"}),
    "attachment": frozenset({"valueAttachment"}),
    "reference": frozenset({"valueReference"}),
    "quantity": frozenset({"valueQuantity"}),
}
_NO_ANSWERS = frozenset({"group", "display"})
_INCOMPLETE_STATUSES = frozenset({"in-progress", "stopped", "entered-in-error"})

# A value reduced to something comparable: (kind, payload).
_Value = tuple[str, Any]


def validate_response(
    response: dict[str, Any],
    questionnaire: dict[str, Any],
    *,
    registry: Registry | None = None,
) -> list[Issue]:
    """Every issue of ``response`` against ``questionnaire``; answerValueSet is checked only
    when a ``registry`` holding the ValueSet is given."""
    issues = _canonical_mismatch(response, questionnaire)
    checker = _Checker(questionnaire, registry, response.get("status") not in _INCOMPLETE_STATUSES)
    checker.run(response)
    return issues + checker.issues


def validate_against_registry(response: dict[str, Any], registry: Registry) -> list[Issue]:
    """Validate against the Questionnaire the response names (``url`` or ``url|version``)."""
    canonical = response.get("questionnaire")
    found = registry.get(canonical) if isinstance(canonical, str) else None
    if found is None or found.get("resourceType") != "Questionnaire":
        what = (
            f"Questionnaire {canonical}, which is not known to this server"
            if isinstance(canonical, str)
            else "no Questionnaire"
        )
        return [_unknown_questionnaire(f"The response names {what}.")]
    return validate_response(response, found, registry=registry)


def _unknown_questionnaire(text: str) -> Issue:
    return Issue(
        "error", "not-found", text, (f"{_ROOT}.questionnaire",), Code.QR_QUESTIONNAIRE_UNKNOWN
    )


def _canonical_mismatch(response: dict[str, Any], questionnaire: dict[str, Any]) -> list[Issue]:
    canonical = response.get("questionnaire")
    url = questionnaire.get("url")
    if not isinstance(canonical, str) or not isinstance(url, str):
        return []
    wanted_url, _, wanted_version = canonical.partition("|")
    version = questionnaire.get("version")
    if wanted_url == url and (not wanted_version or wanted_version == version):
        return []
    return [
        _unknown_questionnaire(
            f"The response answers Questionnaire {canonical} but was checked against "
            f"{url}|{version}."
        )
    ]


def _label(definition: dict[str, Any]) -> str:
    text = definition.get("text")
    return f"Item '{definition.get('linkId')}'" + (f" ({text})" if text else "")


def _list(owner: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = owner.get(key)
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _value_key(element: dict[str, Any], prefix: str) -> str | None:
    keys = [k for k in element if k.startswith(prefix) and len(k) > len(prefix)]
    return keys[0] if len(keys) == 1 else None


def _extension_value(definition: dict[str, Any], url: str) -> tuple[str, Any] | None:
    for ext in _list(definition, "extension"):
        key = _value_key(ext, "value") if ext.get("url") == url else None
        if key is not None:
            return key, ext[key]
    return None


def _extension_int(definition: dict[str, Any], url: str) -> int | None:
    found = _extension_value(definition, url)
    if found is None or isinstance(found[1], bool) or not isinstance(found[1], int):
        return None
    return found[1]


@dataclass(eq=False)
class _Container:
    """A list of response items checked against one list of Questionnaire items."""

    path: str  # where a missing child is reported
    owner: _Node | None
    definitions: list[dict[str, Any]]
    nodes: list[_Node] = field(default_factory=list)


@dataclass(eq=False)
class _Node:
    """One response item matched to its Questionnaire item."""

    data: dict[str, Any]
    definition: dict[str, Any]
    path: str
    parent: _Node | None
    children: list[_Node] = field(default_factory=list)
    containers: list[_Container] = field(default_factory=list)

    def answers(self) -> Iterator[tuple[int, str, Any]]:
        """(index, value[x] key, value) of the answers that carry a value."""
        for index, answer in enumerate(_list(self.data, "answer")):
            key = _value_key(answer, "value")
            if key is not None:
                yield index, key, answer[key]

    def subtree(self) -> Iterator[_Node]:
        yield self
        for child in self.children:
            yield from child.subtree()

    def has_content(self) -> bool:
        return any(next(n.answers(), None) is not None for n in self.subtree())


class _Checker:
    def __init__(
        self, questionnaire: dict[str, Any], registry: Registry | None, complete: bool
    ) -> None:
        self.questionnaire = questionnaire
        self.registry = registry
        self.missing_severity: Severity = "error" if complete else "information"
        self.issues: list[Issue] = []
        self.nodes: list[_Node] = []
        self.parents: dict[str, str | None] = {}
        self._index_parents(_list(questionnaire, "item"), None)
        self._conditions: dict[tuple[int, int], bool] = {}
        self._node_enabled: dict[int, bool] = {}
        self._busy: set[tuple[int, int]] = set()
        self._value_sets: dict[str, frozenset[Concept] | None] = {}

    def _index_parents(self, definitions: list[dict[str, Any]], parent: str | None) -> None:
        for definition in definitions:
            link_id = definition.get("linkId")
            if isinstance(link_id, str):
                self.parents[link_id] = parent
                self._index_parents(_list(definition, "item"), link_id)

    def _report(
        self, forlop_code: Code, code: str, text: str, path: str, severity: Severity = "error"
    ) -> None:
        self.issues.append(Issue(severity, code, text, (path,), forlop_code))

    def run(self, response: dict[str, Any]) -> None:
        root = self._build(None, _list(self.questionnaire, "item"), _list(response, "item"), _ROOT)
        self._check(root, active=True)

    # --- pass 1: match items to definitions; checks that need no enableWhen ------------------

    def _build(
        self,
        owner: _Node | None,
        definitions: list[dict[str, Any]],
        items: list[dict[str, Any]],
        path: str,
    ) -> _Container:
        container = _Container(path, owner, definitions)
        positions = {d.get("linkId"): i for i, d in enumerate(definitions)}
        furthest = -1
        questions_seen: set[str] = set()
        for index, item in enumerate(items):
            item_path = f"{path}.item[{index}]"
            link_id = item.get("linkId")
            position = positions.get(link_id)
            if position is None:
                self._unknown(item, item_path, owner)
                continue
            definition = definitions[position]
            if position < furthest:
                self._report(
                    Code.QR_STRUCTURE,
                    "structure",
                    f"{_label(definition)} is out of order: the Questionnaire puts it before "
                    f"'{definitions[furthest].get('linkId')}'.",
                    item_path,
                )
            furthest = max(furthest, position)
            if definition.get("type") != "group":
                if link_id in questions_seen:
                    self._report(
                        Code.QR_STRUCTURE,
                        "structure",
                        f"{_label(definition)} appears in more than one item; all answers to a "
                        "question belong in one item.",
                        item_path,
                    )
                questions_seen.add(str(link_id))
            node = _Node(item, definition, item_path, owner)
            self.nodes.append(node)
            container.nodes.append(node)
            if owner is not None:
                owner.children.append(node)
            self._build_node(node)
        return container

    def _unknown(self, item: dict[str, Any], path: str, owner: _Node | None) -> None:
        link_id = item.get("linkId")
        if not isinstance(link_id, str):
            text = "A response item has no linkId."
        elif link_id not in self.parents:
            text = f"{_label(item)} is not defined in the Questionnaire."
        else:
            home = self.parents[link_id]
            where = f"under '{home}'" if home else "at the top level"
            here = f"under '{owner.definition.get('linkId')}'" if owner else "at the top level"
            text = f"{_label(item)} is defined {where} in the Questionnaire, not {here}."
        self._report(Code.QR_LINKID_UNKNOWN, "structure", text, path)

    def _build_node(self, node: _Node) -> None:
        definition = node.definition
        children = _list(definition, "item")
        kind = definition.get("type")
        if kind in _NO_ANSWERS:
            if node.data.get("answer"):
                self._report(
                    Code.QR_ANSWER_TYPE,
                    "structure",
                    f"{_label(definition)} is a {kind} item and cannot have answers.",
                    f"{node.path}.answer[0]",
                )
            node.containers.append(self._build(node, children, _list(node.data, "item"), node.path))
            return
        if node.data.get("item"):
            self._report(
                Code.QR_STRUCTURE,
                "structure",
                f"Items nested under {_label(definition)} belong under its answer (answer.item), "
                "not under item.",
                f"{node.path}.item[0]",
            )
        for index, answer in enumerate(_list(node.data, "answer")):
            answer_path = f"{node.path}.answer[{index}]"
            self._check_answer(definition, answer, answer_path)
            node.containers.append(self._build(node, children, _list(answer, "item"), answer_path))

    def _check_answer(self, definition: dict[str, Any], answer: dict[str, Any], path: str) -> None:
        keys = [k for k in answer if k.startswith("value")]
        if len(keys) > 1:
            self._report(
                Code.QR_ANSWER_TYPE,
                "structure",
                f"{_label(definition)} has an answer with more than one value ({', '.join(keys)}).",
                path,
            )
            return
        if not keys:
            return
        key = keys[0]
        allowed = _allowed_types(definition)
        if allowed is not None and key not in allowed:
            self._report(
                Code.QR_ANSWER_TYPE,
                "structure",
                f"{_label(definition)} is of type {definition.get('type')}; its answers are "
                f"{' or '.join(sorted(allowed))}, not {key}.",
                f"{path}.{key}",
            )
            return
        self._check_option(definition, key, answer[key], f"{path}.{key}")
        self._check_range(definition, key, answer[key], f"{path}.{key}")

    def _check_option(self, definition: dict[str, Any], key: str, value: Any, path: str) -> None:
        kind = definition.get("type")
        if kind not in ("choice", "open-choice") or (kind, key) == ("open-choice", "valueString"):
            return  # open-choice takes free text as valueString
        answer = _comparable(key, value)
        if answer is None:
            return
        options = [
            _comparable(k, o[k])
            for o in _list(definition, "answerOption")
            if (k := _value_key(o, "value"))
        ]
        if options:
            if not any(o is not None and _equal(answer, o) for o in options):
                allowed = ", ".join(_show(o) for o in options if o is not None)
                self._report(
                    Code.QR_ANSWER_OPTION,
                    "code-invalid",
                    f"{_label(definition)} answer {_show(answer)} is not one of the answer options "
                    f"({allowed}).",
                    path,
                )
            return
        value_set = definition.get("answerValueSet")
        if not isinstance(value_set, str) or self.registry is None or answer[0] != "coding":
            return
        codes = self._codes(self.registry, value_set)
        if codes is None:
            self._report(
                Code.QR_ANSWER_OPTION,
                "not-supported",
                f"{_label(definition)} answer {_show(answer)} was not checked: ValueSet "
                f"{value_set} is not known here or cannot be expanded.",
                path,
                "warning",
            )
        elif answer[1] not in codes:
            self._report(
                Code.QR_ANSWER_OPTION,
                "code-invalid",
                f"{_label(definition)} answer {_show(answer)} is not in ValueSet {value_set}.",
                path,
            )

    def _check_range(self, definition: dict[str, Any], key: str, value: Any, path: str) -> None:
        answer = _comparable(key, value)
        if answer is None:
            return
        for url, sign, word in (
            (_MIN_VALUE, -1, "below the minimum"),
            (_MAX_VALUE, 1, "above the maximum"),
        ):
            found = _extension_value(definition, url)
            bound = _comparable(*found) if found else None
            if bound is not None and _order(answer, bound) == sign:
                self._report(
                    Code.QR_ANSWER_RANGE,
                    "value",
                    f"{_label(definition)} answer {_show(answer)} is {word} {_show(bound)}.",
                    path,
                )
        max_length = definition.get("maxLength")
        if answer[0] == "string" and isinstance(max_length, int) and len(value) > max_length:
            self._report(
                Code.QR_ANSWER_RANGE,
                "value",
                f"{_label(definition)} answer is {len(value)} characters long; at most "
                f"{max_length} are allowed.",
                path,
            )

    # --- pass 2: enableWhen, required, repeats ---------------------------------------------------

    def _check(self, container: _Container, active: bool) -> None:
        for definition in container.definitions:
            instances = [n for n in container.nodes if n.definition is definition]
            enabled = active and self._enabled(definition, container.owner)
            if active and not enabled:
                for node in instances:
                    if node.has_content():
                        self._report(
                            Code.QR_ENABLE_WHEN,
                            "business-rule",
                            f"{_label(definition)} is disabled by its enableWhen conditions but "
                            "has answers.",
                            node.path,
                        )
            if enabled:
                self._check_counts(definition, instances, container)
            for node in instances:
                for child in node.containers:
                    self._check(child, enabled)

    def _check_counts(
        self, definition: dict[str, Any], instances: list[_Node], container: _Container
    ) -> None:
        if definition.get("type") == "display":
            return
        label = _label(definition)
        repeats = definition.get("repeats") is True
        max_occurs = _extension_int(definition, _MAX_OCCURS) if repeats else 1
        min_occurs = _extension_int(definition, _MIN_OCCURS)
        if definition.get("type") == "group":
            paths = [n.path for n in instances]
            answered = any(n.has_content() for n in instances)
            has = f"appears {len(paths)} time{'s' * (len(paths) != 1)}"
        else:
            paths = [f"{n.path}.answer[{i}]" for n in instances for i, _, _ in n.answers()]
            answered = bool(paths)
            has = f"has {len(paths)} answer{'s' * (len(paths) != 1)}"
        count = len(paths)
        if max_occurs is not None and count > max_occurs:
            limit = f"at most {max_occurs} are allowed" if repeats else "it does not repeat"
            self._report(
                Code.QR_REPEATS, "structure", f"{label} {has}; {limit}.", paths[max_occurs]
            )
        if min_occurs is not None and 0 < count < min_occurs:
            self._report(
                Code.QR_REPEATS,
                "required",
                f"{label} {has}; at least {min_occurs} are required.",
                container.path,
                self.missing_severity,
            )
        if definition.get("required") is True and not answered:
            missing = (
                "has no answered items" if definition.get("type") == "group" else "has no answer"
            )
            self._report(
                Code.QR_REQUIRED,
                "required",
                f"{label} is required but {missing}.",
                instances[0].path if instances else container.path,
                self.missing_severity,
            )

    def _enabled(self, definition: dict[str, Any], owner: _Node | None) -> bool:
        if owner is not None and not self._is_enabled(owner):
            return False
        key = (id(definition), id(owner))
        if key not in self._conditions:
            if key in self._busy:  # a cycle of enableWhen: the item can never be shown
                return False
            self._busy.add(key)
            conditions = [self._condition(c, owner) for c in _list(definition, "enableWhen")]
            self._busy.discard(key)
            if definition.get("enableBehavior") == "any":
                self._conditions[key] = any(conditions) or not conditions
            else:
                self._conditions[key] = all(conditions)
        return self._conditions[key]

    def _is_enabled(self, node: _Node) -> bool:
        if id(node) not in self._node_enabled:
            self._node_enabled[id(node)] = self._enabled(node.definition, node.parent)
        return self._node_enabled[id(node)]

    def _condition(self, condition: dict[str, Any], owner: _Node | None) -> bool:
        answers = self._answers_to(condition.get("question"), owner)
        operator = condition.get("operator")
        if operator == "exists":
            return bool(answers) == (condition.get("answerBoolean") is True)
        key = _value_key(condition, "answer")
        expected = _comparable(key, condition[key]) if key else None
        if expected is None:
            return False
        if operator == "=":
            return any(_equal(a, expected) for a in answers)
        if operator == "!=":
            return not any(_equal(a, expected) for a in answers)
        wanted = {">": (1,), "<": (-1,), ">=": (0, 1), "<=": (-1, 0)}.get(str(operator), ())
        return any(_order(a, expected) in wanted for a in answers)

    def _answers_to(self, link_id: Any, owner: _Node | None) -> list[_Value]:
        """Answers of the question occurrence nearest ``owner`` (R4 enableWhen.question): when the
        question sits inside a group that also encloses ``owner``, only the occurrence inside the
        same instance of that group counts; disabled items count as unanswered."""
        enclosing = set()
        parent = self.parents.get(link_id) if isinstance(link_id, str) else None
        while parent is not None:
            enclosing.add(parent)
            parent = self.parents.get(parent)
        scope = owner
        while scope is not None and scope.definition.get("linkId") not in enclosing:
            scope = scope.parent
        pool = scope.subtree() if scope is not None else iter(self.nodes)
        matches = [n for n in pool if n.definition.get("linkId") == link_id]
        values: list[_Value] = []
        for node in matches:
            if self._is_enabled(node):
                values.extend(v for _, k, raw in node.answers() if (v := _comparable(k, raw)))
        return values

    def _codes(self, registry: Registry, canonical: str) -> frozenset[Concept] | None:
        """The ValueSet's codes, or None when the registry cannot expand it."""
        if canonical not in self._value_sets:
            try:
                self._value_sets[canonical] = expand(canonical, registry)
            except UnresolvableValueSet:
                self._value_sets[canonical] = None
        return self._value_sets[canonical]


def _allowed_types(definition: dict[str, Any]) -> frozenset[str] | None:
    allowed = _ANSWER_TYPES.get(str(definition.get("type")))
    if allowed is None:
        return None
    # R4 answerOption may hold integer, date, time, string or Reference options, not only Coding.
    option_keys = {k for o in _list(definition, "answerOption") if (k := _value_key(o, "value"))}
    return allowed | option_keys


# --- values ---------------------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _comparable(key: str, value: Any) -> _Value | None:
    """A value[x] / answer[x] / option value as (kind, payload); None if it cannot be compared."""
    suffix = key.removeprefix("value").removeprefix("answer")
    if suffix == "Boolean":
        return ("boolean", value) if isinstance(value, bool) else None
    if suffix in ("Integer", "Decimal"):
        number = _number(value)
        return ("number", number) if number is not None else None
    if suffix in ("Date", "DateTime", "Time", "String", "Uri"):
        kind = {"Date": "instant", "DateTime": "instant", "Time": "time"}.get(suffix, "string")
        return (kind, value) if isinstance(value, str) else None
    if not isinstance(value, dict):
        return None
    if suffix == "Coding":
        return ("coding", (value.get("system"), value.get("code")))
    if suffix == "Reference":
        return ("reference", value.get("reference"))
    if suffix == "Quantity":
        number = _number(value.get("value"))
        unit = value.get("code") or value.get("unit")
        return ("quantity", (number, value.get("system"), unit)) if number is not None else None
    return None


def _equal(a: _Value, b: _Value) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] in ("instant", "quantity"):
        return _order(a, b) == 0
    return bool(a[1] == b[1])


def _order(a: _Value, b: _Value) -> int | None:
    """-1, 0 or 1 when ``a`` and ``b`` are ordered; None when they are not comparable."""
    if a[0] != b[0]:
        return None
    kind, x, y = a[0], a[1], b[1]
    if kind == "instant":
        return _instant_order(x, y)
    if kind == "quantity":
        if x[1:] != y[1:]:  # different units: no conversion is attempted
            return None
        x, y = x[0], y[0]
    elif kind not in ("number", "time", "string"):
        return None
    return int(x > y) - int(x < y)


def _instant_order(a: str, b: str) -> int | None:
    """Dates compare at equal precision; dateTimes with a time compare as instants when both or
    neither carry a zone (FHIR leaves other pairs undetermined)."""
    if len(a) <= 10 or len(b) <= 10:
        return int(a > b) - int(a < b) if len(a) == len(b) else None
    try:
        x, y = datetime.fromisoformat(a), datetime.fromisoformat(b)
    except ValueError:
        return None
    if (x.tzinfo is None) != (y.tzinfo is None):
        return None
    return int(x > y) - int(x < y)


def _show(value: _Value) -> str:
    kind, payload = value
    if kind == "boolean":
        return "true" if payload else "false"
    if kind == "coding":
        system, code = payload
        return f"{system}|{code}" if system else str(code)
    if kind == "quantity":
        return f"{payload[0]} {payload[2] or ''}".rstrip()
    return str(payload)
