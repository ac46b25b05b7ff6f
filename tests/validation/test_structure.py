"""Base R4 structure: JSON rules, element definitions and primitive formats (whose verdicts
must agree with the R4B model of fhir.resources)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhir.errors import Code, Issue
from adapter.validation.structure import validate_structure
from tests.strategies import bundles, resources

XHTML = "http://www.w3.org/1999/xhtml"


def goal(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Goal",
        "lifecycleStatus": "active",
        "description": {"text": "Gå tur til butikken"},
        "subject": {"reference": "Patient/p1"},
    }
    base.update(extra)
    return base


def observation(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    base.update(extra)
    return base


def found(issues: list[Issue]) -> set[tuple[Code | None, tuple[str, ...]]]:
    return {(i.forlop_code, i.expression) for i in issues}


def only(resource: dict[str, Any]) -> Issue:
    issues = validate_structure(resource)
    assert len(issues) == 1, [i.diagnostics for i in issues]
    return issues[0]


def test_valid_resources_pass() -> None:
    assert validate_structure(goal(target=[{"measure": {"text": "x"}, "detailInteger": 7}])) == []
    assert validate_structure(observation(valueInteger=5, effectiveDateTime="2024-01-31")) == []


# -- resourceType ---------------------------------------------------------------------------


def test_missing_resource_type() -> None:
    issue = only({"status": "final"})
    assert issue.forlop_code is Code.UNKNOWN_RESOURCE_TYPE
    assert "no resourceType" in issue.diagnostics


def test_unknown_resource_type_suggests() -> None:
    issue = only({"resourceType": "Goals"})
    assert issue.forlop_code is Code.UNKNOWN_RESOURCE_TYPE
    assert "Did you mean 'Goal'?" in issue.diagnostics


def test_r4b_only_resource_type_refused() -> None:
    assert only({"resourceType": "SubscriptionTopic"}).forlop_code is Code.UNKNOWN_RESOURCE_TYPE


def test_nested_resource_type() -> None:
    issue = only(goal(contained=[{"id": "x"}]))
    assert (issue.forlop_code, issue.expression) == (
        Code.UNKNOWN_RESOURCE_TYPE,
        ("Goal.contained[0]",),
    )


# -- unknown elements -----------------------------------------------------------------------


def test_typo_names_closest_element() -> None:
    resource = goal()
    resource["lifecycleStatuss"] = resource.pop("lifecycleStatus")
    issues = validate_structure(resource)
    assert found(issues) == {
        (Code.UNKNOWN_ELEMENT, ("Goal.lifecycleStatuss",)),
        (Code.REQUIRED_MISSING, ("Goal.lifecycleStatus",)),
    }
    unknown = next(i for i in issues if i.forlop_code is Code.UNKNOWN_ELEMENT)
    assert "Did you mean 'lifecycleStatus'?" in unknown.diagnostics
    assert unknown.code == "structure"


@pytest.mark.parametrize(
    ("resource", "expression", "words"),
    [
        (observation(value=5), "Observation.value", "choice element"),
        (goal(fhir_comments=["x"]), "Goal.fhir_comments", "no comment"),
        (
            observation(extension=[{"url": "u", "valueCodeableReference": {}}]),
            "Observation.extension[0].valueCodeableReference",
            "R4B",
        ),
        (
            observation(valueRatioRange={"lowNumerator": {"value": 1}}),
            "Observation.valueRatioRange",
            "not an element",
        ),
        (goal(target=[{"measure": {"text": "x"}, "detailInt": 5}]), "Goal.target[0].detailInt", ""),
        (goal(_foo={"id": "x"}), "Goal._foo", "companion"),
        (goal(_target=[{"id": "x"}]), "Goal._target", "companion"),
        (goal(_lifecycleStatus={"url": "x"}), "Goal.lifecycleStatus.url", "only id and extension"),
        (goal(subject={"reference": "Patient/1", "foo": 1}), "Goal.subject.foo", ""),
    ],
)
def test_unknown_elements(resource: dict[str, Any], expression: str, words: str) -> None:
    issue = only(resource)
    assert (issue.forlop_code, issue.expression) == (Code.UNKNOWN_ELEMENT, (expression,))
    assert words in issue.diagnostics


# -- JSON kinds -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        (observation(valueInteger="5"), "Observation.valueInteger"),
        (observation(valueInteger=Decimal("5.0")), "Observation.valueInteger"),
        (observation(valueInteger=True), "Observation.valueInteger"),
        (observation(valueString=True), "Observation.valueString"),
        (observation(valueBoolean="true"), "Observation.valueBoolean"),
        (observation(valueQuantity={"value": "1.5"}), "Observation.valueQuantity.value"),
        (observation(valueQuantity={"value": False}), "Observation.valueQuantity.value"),
        (observation(status=1), "Observation.status"),
        (observation(status={"code": "final"}), "Observation.status"),
        (observation(subject="Patient/1"), "Observation.subject"),
        (observation(issued=20240101), "Observation.issued"),
        (goal(contained=["Patient/1"]), "Goal.contained[0]"),
        (
            observation(component=[{"code": {"text": "a"}, "valueInteger": 1.5}]),
            "Observation.component[0].valueInteger",
        ),
    ],
)
def test_wrong_json_kind(resource: dict[str, Any], expression: str) -> None:
    issue = only(resource)
    assert (issue.forlop_code, issue.expression) == (Code.WRONG_JSON_TYPE, (expression,))


def test_wrong_kind_message_says_what_was_expected() -> None:
    issue = only(observation(valueInteger="5"))
    assert issue.diagnostics == (
        "Observation.valueInteger is a FHIR integer, so it must be a JSON integer, "
        "but found the string '5'."
    )


# -- arrays ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        (observation(identifier={"value": "1"}), "Observation.identifier"),
        (observation(subject=[{"reference": "Patient/1"}]), "Observation.subject"),
        (observation(status=["final"]), "Observation.status"),
        ({"resourceType": "Patient", "name": [{"given": "Kari"}]}, "Patient.name[0].given"),
        (
            {"resourceType": "Patient", "name": [{"given": ["a", "b"], "_given": [None]}]},
            "Patient.name[0].given",
        ),
        ({"resourceType": "Patient", "birthDate": "2000", "_birthDate": [{}]}, "Patient.birthDate"),
    ],
)
def test_list_or_single(resource: dict[str, Any], expression: str) -> None:
    assert (Code.NOT_A_LIST, (expression,)) in found(validate_structure(resource))


# -- empties and nulls ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        (observation(code={}), "Observation.code"),
        (observation(note=[]), "Observation.note"),
        (observation(valueString=""), "Observation.valueString"),
        (observation(category=None), "Observation.category"),
        (observation(category=[None]), "Observation.category[0]"),
        ({"resourceType": "Patient", "name": [{"given": ["a", None]}]}, "Patient.name[0].given[1]"),
        ({"resourceType": "Patient", "_birthDate": {"id": "b"}}, "Patient.birthDate"),
        ({"resourceType": "Patient", "_birthDate": {}}, "Patient.birthDate"),
        ({"resourceType": "Patient", "_active": None}, "Patient.active"),
        (
            {"resourceType": "Patient", "name": [{"given": ["a"], "_given": [None]}]},
            "Patient.name[0].given",
        ),
        ({"resourceType": "Bundle", "type": "collection", "entry": [{}]}, "Bundle.entry[0]"),
    ],
)
def test_empty_elements(resource: dict[str, Any], expression: str) -> None:
    issue = only(resource)
    assert (issue.forlop_code, issue.expression) == (Code.EMPTY_ELEMENT, (expression,))


def test_primitive_companions_that_are_valid() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"given": ["Kari", None], "_given": [None, {"extension": [_dar()]}]}],
        "_birthDate": {"id": "bd", "extension": [_dar()]},
        "gender": "female",
        "_gender": {"id": "g"},
    }
    assert validate_structure(patient) == []


def _dar() -> dict[str, Any]:
    return {
        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
        "valueCode": "unknown",
    }


# -- choices and required -------------------------------------------------------------------


def test_two_choices_at_once() -> None:
    issue = only(observation(valueString="a", valueInteger=3))
    assert issue.forlop_code is Code.CHOICE_CONFLICT
    assert issue.expression == ("Observation.valueInteger", "Observation.valueString")
    assert "value[x]" in issue.diagnostics


def test_choice_conflict_through_companion() -> None:
    issue = only(observation(valueString="a", _valueBoolean={"extension": [_dar()]}))
    assert issue.forlop_code is Code.CHOICE_CONFLICT


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        ({"resourceType": "Observation", "code": {"text": "x"}}, "Observation.status"),
        ({"resourceType": "Observation", "status": "final"}, "Observation.code"),
        (
            observation(component=[{"code": {"text": "a"}}, {"valueInteger": 2}]),
            "Observation.component[1].code",
        ),
        (
            {
                "resourceType": "Questionnaire",
                "status": "active",
                "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "2"}]}],
            },
            "Questionnaire.item[0].item[0].type",
        ),
        (
            {
                "resourceType": "Questionnaire",
                "status": "active",
                "item": [
                    {
                        "linkId": "1",
                        "type": "boolean",
                        "enableWhen": [{"question": "0", "operator": "exists"}],
                    }
                ],
            },
            "Questionnaire.item[0].enableWhen[0]",
        ),
        (
            {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"url": "Patient"}}]},
            "Bundle.entry[0].request.method",
        ),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {
                        "resource": goal(subject=None)
                        | {"subject": {"reference": "x"}, "description": None}
                    }
                ],
            },
            "Bundle.entry[0].resource.description",
        ),
    ],
)
def test_required_missing(resource: dict[str, Any], expression: str) -> None:
    issues = validate_structure(resource)
    assert (Code.REQUIRED_MISSING, (expression,)) in found(issues) or (
        Code.EMPTY_ELEMENT,
        (expression,),
    ) in found(issues)


def test_required_primitive_satisfied_by_extension() -> None:
    resource = goal()
    del resource["lifecycleStatus"]
    resource["_lifecycleStatus"] = {"extension": [_dar()]}
    assert validate_structure(resource) == []


def test_required_choice_message() -> None:
    q = {
        "resourceType": "Questionnaire",
        "status": "active",
        "item": [
            {"linkId": "1", "type": "boolean", "enableWhen": [{"question": "0", "operator": "="}]}
        ],
    }
    issue = only(q)
    assert issue.forlop_code is Code.REQUIRED_MISSING
    assert "Questionnaire.item.enableWhen.answer[x]" in issue.diagnostics
    assert issue.code == "required"


# -- nested resources -----------------------------------------------------------------------


def test_contained_and_bundle_entries_checked_as_their_type() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": goal(), "request": {"method": "POST", "url": "Goal"}},
            {
                "resource": {
                    "resourceType": "Patient",
                    "gender": 5,
                    "contained": [{"resourceType": "Observation", "status": "final"}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {"resource": observation(startDate="2024"), "request": {"method": "POST", "url": "x"}},
        ],
    }
    assert found(validate_structure(bundle)) == {
        (Code.WRONG_JSON_TYPE, ("Bundle.entry[1].resource.gender",)),
        (Code.REQUIRED_MISSING, ("Bundle.entry[1].resource.contained[0].code",)),
        (Code.UNKNOWN_ELEMENT, ("Bundle.entry[2].resource.startDate",)),
    }


# -- primitive formats (walk and model) -----------------------------------------------------


def test_invalid_date_message() -> None:
    issue = only(goal(startDate="2024-13-01"))
    assert issue.forlop_code is Code.INVALID_VALUE
    assert issue.expression == ("Goal.startDate",)
    assert issue.diagnostics.startswith("Goal.startDate '2024-13-01' is not a valid FHIR date")


@pytest.mark.parametrize(
    ("resource", "expression", "words"),
    [
        (
            goal(target=[{"measure": {"text": "m"}, "dueDate": "2024-02-30"}]),
            "Goal.target[0].dueDate",
            "FHIR date",
        ),
        (observation(issued="2024-01-31T10:00:00"), "Observation.issued", "FHIR instant"),
        (
            observation(effectiveDateTime="2024-01-31T10:00"),
            "Observation.effectiveDateTime",
            "FHIR dateTime",
        ),
        (
            observation(effectiveDateTime="2024-01-31T10:00:00"),
            "Observation.effectiveDateTime",
            "timezone",
        ),
        (observation(valueTime="25:00:00"), "Observation.valueTime", "FHIR time"),
        (observation(valueInteger=2147483648), "Observation.valueInteger", "FHIR integer"),
        (observation(valueInteger=-2147483649), "Observation.valueInteger", "FHIR integer"),
        (
            {"resourceType": "Patient", "photo": [{"size": -1}]},
            "Patient.photo[0].size",
            "FHIR unsignedInt",
        ),
        (observation(status="final "), "Observation.status", "FHIR code"),
        (observation(status="fi  nal"), "Observation.status", "FHIR code"),
        (observation(id="a b"), "Observation.id", "FHIR id"),
        (observation(id="x" * 65), "Observation.id", "FHIR id"),
        (observation(implicitRules="http://x y"), "Observation.implicitRules", "FHIR uri"),
        (
            {"resourceType": "Patient", "photo": [{"data": "!!!!"}]},
            "Patient.photo[0].data",
            "FHIR base64Binary",
        ),
        (
            observation(extension=[{"url": "u", "valueOid": "1.2.3"}]),
            "Observation.extension[0].valueOid",
            "FHIR oid",
        ),
        (
            observation(
                extension=[{"url": "u", "valueUuid": "c757873d-ec9a-4326-a141-556f43239520"}]
            ),
            "Observation.extension[0].valueUuid",
            "FHIR uuid",
        ),
        (
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": goal(startDate="2024-00")}],
            },
            "Bundle.entry[0].resource.startDate",
            "FHIR date",
        ),
    ],
)
def test_invalid_primitive_values(resource: dict[str, Any], expression: str, words: str) -> None:
    issue = only(resource)
    assert (issue.forlop_code, issue.expression) == (Code.INVALID_VALUE, (expression,))
    assert words in issue.diagnostics


@pytest.mark.parametrize(
    "resource",
    [
        observation(effectiveDateTime="2024"),
        observation(effectiveDateTime="2024-02-29T23:59:60+01:00"),
        observation(issued="2024-01-31T10:00:00.123Z"),
        observation(valueInteger=-2147483648),
        observation(valueQuantity={"value": Decimal("1.50E+3")}),
        observation(extension=[{"url": "u", "valueOid": "urn:oid:2.16.578.1.12.4.1.4.1"}]),
        observation(
            extension=[{"url": "u", "valueUuid": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"}]
        ),
        observation(id="A-1.b"),
        observation(valueString=" "),  # R4 string is [ \r\n\t\S]+
    ],
)
def test_valid_primitive_values(resource: dict[str, Any]) -> None:
    assert validate_structure(resource) == []


def test_one_issue_per_problem() -> None:
    """The walk and the model both see a bad date in a contained resource: reported once."""
    resource = goal(contained=[goal(id="g2", startDate="2024-13-01"), {"resourceType": "Nope"}])
    assert found(validate_structure(resource)) == {
        (Code.INVALID_VALUE, ("Goal.contained[0].startDate",)),
        (Code.UNKNOWN_RESOURCE_TYPE, ("Goal.contained[1]",)),
    }


# -- narrative ------------------------------------------------------------------------------


def _text(div: str) -> dict[str, Any]:
    return goal(text={"status": "generated", "div": div})


def test_valid_narrative() -> None:
    div = f'<div xmlns="{XHTML}"><p>Gå <b>tur</b></p><table><tr><td>1</td></tr></table></div>'
    assert validate_structure(_text(div)) == []


@pytest.mark.parametrize(
    ("div", "words"),
    [
        ("<div>no namespace</div>", "<div"),
        (f'<p xmlns="{XHTML}">x</p>', "<div"),
        (f'<div xmlns="{XHTML}"><script>alert(1)</script></div>', "<script>"),
        (f'<div xmlns="{XHTML}"><p onclick="x()">x</p></div>', "onclick"),
        (f'<div xmlns="{XHTML}"><a href="javascript:x()">x</a></div>', "script"),
        (f'<div xmlns="{XHTML}"><form>x</form></div>', "<form>"),
        (f'<div xmlns="{XHTML}">   </div>', "txt-2"),
        (f'<div xmlns="{XHTML}"><p>unclosed</div>', "well-formed"),
        (f'<div xmlns="{XHTML}">&nbsp;</div>', "well-formed"),
    ],
)
def test_invalid_narrative(div: str, words: str) -> None:
    issue = only(_text(div))
    assert (issue.forlop_code, issue.expression) == (Code.INVALID_VALUE, ("Goal.text.div",))
    assert words in issue.diagnostics


# -- properties -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(resources(), bundles()))
def test_generated_valid_resources_pass(resource: dict[str, Any]) -> None:
    assert validate_structure(resource) == []


_KEYS = st.sampled_from(
    [
        "id", "status", "code", "valueInteger", "valueString", "_status", "extension", "url",
        "contained", "entry", "resource", "item", "linkId", "text", "div", "given", "_given",
        "name", "coding", "system", "identifier", "value", "type", "subject", "reference",
        "target", "detailInteger", "answer", "meta", "resourceType", "fhir_comments", "x",
    ]
) | st.text(max_size=6)  # fmt: skip
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["Goal", "Patient", "Bundle", "2024-01-01", "#p", "<div/>"])
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["Goal", "Observation", "Questionnaire", "Bundle", "Patient", "Nope", ""]),
    st.dictionaries(_KEYS, _JSON, max_size=6),
)
def test_arbitrary_json_never_raises(resource_type: str, body: dict[str, Any]) -> None:
    resource = {**body, "resourceType": resource_type}
    issues = validate_structure(resource)
    assert all(isinstance(i, Issue) for i in issues)
    assert all(i.forlop_code is not None for i in issues)


# -- the walk's primitive verdicts agree with the R4B model ------------------------------------

_DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=4)
_DATE_PARTS = st.tuples(
    st.sampled_from(["2024", "2023", "1900", "0000", "0001", "999", "20245"]),
    st.sampled_from(["", "-01", "-02", "-12", "-13", "-00", "-1"]),
    st.sampled_from(["", "-01", "-28", "-29", "-30", "-31", "-32", "-1"]),
    st.sampled_from(
        ["", "T10:00:00", "T23:59:60", "T24:00:00", "T10:00", "T10:00:00.5", "T9:00:00"]
    ),
    st.sampled_from(["", "Z", "+01:00", "-14:00", "+14:00", "+14:30", "+15:00", "+1:00"]),
)
_TEMPORAL = _DATE_PARTS.map("".join) | st.text(alphabet="0123456789-T:Z+.", min_size=1, max_size=25)
_TIMES = st.tuples(
    st.sampled_from(["00", "09", "23", "24", "9"]),
    st.sampled_from([":00", ":59", ":60", ":5"]),
    st.sampled_from([":00", ":59", ":60", ":61", ""]),
    st.sampled_from(["", ".1", ".123456", "."]),
).map("".join)
_CODES = st.text(alphabet="ab \t\n", min_size=1, max_size=8)
_INTEGERS = st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1]) | st.integers()


def _model_accepts(resource: dict[str, Any]) -> bool:
    from pydantic import ValidationError

    from adapter.fhir.models import model_class

    try:
        model_class(resource["resourceType"]).model_validate(resource)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    ("make", "values"),
    [
        (lambda v: goal(startDate=v), _TEMPORAL),
        (lambda v: observation(effectiveDateTime=v), _TEMPORAL),
        (lambda v: observation(issued=v), _TEMPORAL),
        (lambda v: observation(valueTime=v), _TIMES),
        (
            lambda v: observation(status="final", valueCodeableConcept={"coding": [{"code": v}]}),
            _CODES,
        ),
        (lambda v: observation(valueInteger=v), _INTEGERS),
        (lambda v: {"resourceType": "Patient", "photo": [{"size": v}]}, _INTEGERS),
        (lambda v: {"resourceType": "Patient", "multipleBirthInteger": v}, _INTEGERS),
    ],
    ids=["date", "dateTime", "instant", "time", "code", "integer", "unsignedInt", "integer-choice"],
)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_primitive_verdicts_agree_with_the_r4b_model(make: Any, values: Any, data: Any) -> None:
    resource = make(data.draw(values))
    assert (not validate_structure(resource)) == _model_accepts(resource), resource
