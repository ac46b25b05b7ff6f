"""QuestionnaireResponse against Questionnaire: one small inline Questionnaire per R4/SDC rule."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapter.fhir.errors import Code, Issue
from adapter.fhir.json_codec import parse_json
from adapter.registry import Registry
from adapter.validation.questionnaire import validate_against_registry, validate_response

URL = "http://forlop.no/fhir/Questionnaire/test"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MIN_OCCURS = "http://hl7.org/fhir/StructureDefinition/questionnaire-minOccurs"
MAX_OCCURS = "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs"
HIDDEN = "http://hl7.org/fhir/StructureDefinition/questionnaire-hidden"
YES_NO = "http://forlop.no/fhir/CodeSystem/path-answer"
PSFS_FILE = Path(__file__).parents[2] / "profiles" / "Questionnaire-psfs.json"


def questionnaire(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "url": URL,
        "version": "1.0.0",
        "status": "active",
        "item": list(items),
    }


def response(*items: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|1.0.0",
        "status": status,
        "item": list(items),
    }


def q(link_id: str, kind: str, **more: Any) -> dict[str, Any]:
    return {"linkId": link_id, "type": kind, **more}


def a(link_id: str, *values: dict[str, Any]) -> dict[str, Any]:
    """A response item answering ``link_id`` with ``values`` (each e.g. {"valueInteger": 3})."""
    return {"linkId": link_id, "answer": list(values)}


def g(link_id: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "item": list(items)}


def ext(url: str, key: str, value: Any) -> dict[str, Any]:
    return {"url": url, key: value}


def coding(code: str, system: str = YES_NO) -> dict[str, Any]:
    return {"system": system, "code": code}


def found(issues: list[Issue]) -> list[tuple[Code | None, tuple[str, ...]]]:
    return [(i.forlop_code, i.expression) for i in issues]


def only(issues: list[Issue]) -> Issue:
    assert len(issues) == 1, issues
    return issues[0]


# --- linkId and structure ---------------------------------------------------------------------


def test_answers_in_questionnaire_order_are_clean() -> None:
    quest = questionnaire(q("a", "string"), q("b", "integer"))
    assert (
        validate_response(
            response(a("a", {"valueString": "x"}), a("b", {"valueInteger": 1})), quest
        )
        == []
    )


def test_unknown_linkid_is_reported() -> None:
    quest = questionnaire(q("a", "string"))
    issue = only(validate_response(response(a("zz", {"valueString": "x"})), quest))
    assert (issue.forlop_code, issue.expression) == (
        Code.QR_LINKID_UNKNOWN,
        ("QuestionnaireResponse.item[0]",),
    )
    assert "'zz'" in issue.diagnostics


def test_linkid_at_the_wrong_level_is_unknown_there() -> None:
    quest = questionnaire(q("g", "group", item=[q("g.a", "string")]))
    issue = only(validate_response(response(a("g.a", {"valueString": "x"})), quest))
    assert (issue.forlop_code, issue.expression) == (
        Code.QR_LINKID_UNKNOWN,
        ("QuestionnaireResponse.item[0]",),
    )
    assert "under 'g'" in issue.diagnostics


def test_items_out_of_order() -> None:
    quest = questionnaire(q("a", "string"), q("b", "string"))
    issues = validate_response(
        response(a("b", {"valueString": "x"}), a("a", {"valueString": "y"})), quest
    )
    assert found(issues) == [(Code.QR_STRUCTURE, ("QuestionnaireResponse.item[1]",))]


def test_repeating_group_instances_must_be_contiguous() -> None:
    quest = questionnaire(
        q("g", "group", repeats=True, item=[q("g.a", "string")]), q("b", "string")
    )
    resp = response(
        g("g", a("g.a", {"valueString": "1"})),
        a("b", {"valueString": "x"}),
        g("g", a("g.a", {"valueString": "2"})),
    )
    assert found(validate_response(resp, quest)) == [
        (Code.QR_STRUCTURE, ("QuestionnaireResponse.item[2]",))
    ]


def test_question_split_over_two_items() -> None:
    quest = questionnaire(q("a", "string", repeats=True))
    resp = response(a("a", {"valueString": "x"}), a("a", {"valueString": "y"}))
    assert found(validate_response(resp, quest)) == [
        (Code.QR_STRUCTURE, ("QuestionnaireResponse.item[1]",))
    ]


def test_children_of_a_question_nest_under_its_answer() -> None:
    quest = questionnaire(q("fall", "boolean", item=[q("fall.when", "date")]))
    good = response(
        {
            "linkId": "fall",
            "answer": [
                {"valueBoolean": True, "item": [a("fall.when", {"valueDate": "2024-03-01"})]}
            ],
        }
    )
    assert validate_response(good, quest) == []
    bad = response(
        {
            "linkId": "fall",
            "answer": [{"valueBoolean": True}],
            "item": [a("fall.when", {"valueDate": "2024-03-01"})],
        }
    )
    assert found(validate_response(bad, quest)) == [
        (Code.QR_STRUCTURE, ("QuestionnaireResponse.item[0].item[0]",))
    ]


def test_nested_groups_give_full_index_paths() -> None:
    quest = questionnaire(
        q("intro", "display", text="Les dette"),
        q(
            "outer",
            "group",
            item=[q("x", "string"), q("inner", "group", item=[q("n", "integer", text="Antall")])],
        ),
    )
    resp = response(
        g("outer", a("x", {"valueString": "s"}), g("inner", a("n", {"valueString": "3"})))
    )
    issue = only(validate_response(resp, quest))
    assert issue.forlop_code == Code.QR_ANSWER_TYPE
    assert issue.expression == (
        "QuestionnaireResponse.item[0].item[1].item[0].answer[0].valueString",
    )
    assert "Item 'n' (Antall)" in issue.diagnostics


# --- answer types -----------------------------------------------------------------------------

ANSWER_TYPES = [
    ("boolean", {"valueBoolean": True}, {"valueString": "true"}),
    ("decimal", {"valueDecimal": Decimal("1.5")}, {"valueInteger": 1}),
    ("integer", {"valueInteger": 2}, {"valueDecimal": Decimal("2.0")}),
    ("date", {"valueDate": "2024-02-29"}, {"valueDateTime": "2024-02-29T10:00:00Z"}),
    ("dateTime", {"valueDateTime": "2024-02-29T10:00:00+01:00"}, {"valueDate": "2024-02-29"}),
    ("time", {"valueTime": "10:30:00"}, {"valueString": "10:30"}),
    ("string", {"valueString": "hei"}, {"valueCoding": coding("yes")}),
    ("text", {"valueString": "lang tekst"}, {"valueUri": "http://x.no"}),
    ("url", {"valueUri": "http://x.no"}, {"valueString": "http://x.no"}),
    ("choice", {"valueCoding": coding("yes")}, {"valueString": "yes"}),
    ("open-choice", {"valueString": "annet"}, {"valueBoolean": True}),
    ("attachment", {"valueAttachment": {"contentType": "text/plain"}}, {"valueString": "x"}),
    ("reference", {"valueReference": {"reference": "Patient/p1"}}, {"valueString": "Patient/p1"}),
    ("quantity", {"valueQuantity": {"value": 70, "unit": "kg"}}, {"valueDecimal": Decimal("70")}),
]


@pytest.mark.parametrize(("kind", "good", "bad"), ANSWER_TYPES, ids=[t[0] for t in ANSWER_TYPES])
def test_answer_type_matches_item_type(
    kind: str, good: dict[str, Any], bad: dict[str, Any]
) -> None:
    quest = questionnaire(q("x", kind))
    assert validate_response(response(a("x", good)), quest) == []
    issue = only(validate_response(response(a("x", bad)), quest))
    (key,) = bad
    assert (issue.forlop_code, issue.expression) == (
        Code.QR_ANSWER_TYPE,
        (f"QuestionnaireResponse.item[0].answer[0].{key}",),
    )


def test_choice_with_string_options_takes_value_string() -> None:
    quest = questionnaire(
        q("x", "choice", answerOption=[{"valueString": "ja"}, {"valueString": "nei"}])
    )
    assert validate_response(response(a("x", {"valueString": "ja"})), quest) == []


def test_answer_with_two_values() -> None:
    quest = questionnaire(q("x", "integer"))
    issues = validate_response(response(a("x", {"valueInteger": 1, "valueString": "1"})), quest)
    assert found(issues) == [(Code.QR_ANSWER_TYPE, ("QuestionnaireResponse.item[0].answer[0]",))]


@pytest.mark.parametrize("kind", ["group", "display"])
def test_group_and_display_items_have_no_answers(kind: str) -> None:
    quest = questionnaire(
        q("x", kind, item=[q("y", "string")]) if kind == "group" else q("x", kind)
    )
    issues = validate_response(response(a("x", {"valueString": "s"})), quest)
    assert found(issues) == [(Code.QR_ANSWER_TYPE, ("QuestionnaireResponse.item[0].answer[0]",))]


# --- required ---------------------------------------------------------------------------------


def test_missing_required_top_level_item() -> None:
    quest = questionnaire(q("a", "string", required=True, text="Navn"), q("b", "string"))
    issue = only(validate_response(response(a("b", {"valueString": "x"})), quest))
    assert (issue.forlop_code, issue.expression, issue.severity) == (
        Code.QR_REQUIRED,
        ("QuestionnaireResponse",),
        "error",
    )
    assert "Item 'a' (Navn)" in issue.diagnostics


def test_required_item_present_without_answer_points_at_the_item() -> None:
    quest = questionnaire(q("a", "string", required=True))
    assert found(validate_response(response({"linkId": "a"}), quest)) == [
        (Code.QR_REQUIRED, ("QuestionnaireResponse.item[0]",))
    ]


def test_missing_required_in_an_in_progress_response_is_information() -> None:
    quest = questionnaire(q("a", "string", required=True))
    issue = only(validate_response(response(status="in-progress"), quest))
    assert (issue.forlop_code, issue.severity) == (Code.QR_REQUIRED, "information")


def test_required_group_needs_content() -> None:
    quest = questionnaire(q("g", "group", required=True, item=[q("g.a", "string")]))
    assert validate_response(response(g("g", a("g.a", {"valueString": "x"}))), quest) == []
    assert found(validate_response(response(), quest)) == [
        (Code.QR_REQUIRED, ("QuestionnaireResponse",))
    ]
    assert found(validate_response(response(g("g")), quest)) == [
        (Code.QR_REQUIRED, ("QuestionnaireResponse.item[0]",))
    ]


def test_required_child_of_an_absent_optional_group_is_not_required() -> None:
    quest = questionnaire(
        q("a", "string"),
        q("g", "group", item=[q("g.a", "string"), q("g.b", "string", required=True)]),
    )
    assert validate_response(response(a("a", {"valueString": "x"})), quest) == []
    resp = response(g("g", a("g.a", {"valueString": "x"})))
    assert found(validate_response(resp, quest)) == [
        (Code.QR_REQUIRED, ("QuestionnaireResponse.item[0]",))
    ]


def test_required_child_question_under_each_answer() -> None:
    quest = questionnaire(
        q("fall", "boolean", repeats=True, item=[q("when", "date", required=True)])
    )
    resp = response(
        {
            "linkId": "fall",
            "answer": [
                {"valueBoolean": True, "item": [a("when", {"valueDate": "2024-01-02"})]},
                {"valueBoolean": False},
            ],
        }
    )
    assert found(validate_response(resp, quest)) == [
        (Code.QR_REQUIRED, ("QuestionnaireResponse.item[0].answer[1]",))
    ]


def test_readonly_and_hidden_items_may_carry_answers() -> None:
    quest = questionnaire(
        q("key", "string", extension=[ext(HIDDEN, "valueBoolean", True)]),
        q("calc", "integer", readOnly=True),
    )
    assert (
        validate_response(
            response(a("key", {"valueString": "k1"}), a("calc", {"valueInteger": 4})), quest
        )
        == []
    )


# --- repeats ----------------------------------------------------------------------------------


def test_non_repeating_question_has_one_answer() -> None:
    quest = questionnaire(q("a", "integer"))
    resp = response(a("a", {"valueInteger": 1}, {"valueInteger": 2}))
    assert found(validate_response(resp, quest)) == [
        (Code.QR_REPEATS, ("QuestionnaireResponse.item[0].answer[1]",))
    ]
    quest["item"][0]["repeats"] = True
    assert validate_response(resp, quest) == []


def test_non_repeating_group_appears_once() -> None:
    quest = questionnaire(q("g", "group", item=[q("g.a", "string")]))
    resp = response(g("g", a("g.a", {"valueString": "1"})), g("g", a("g.a", {"valueString": "2"})))
    assert found(validate_response(resp, quest)) == [
        (Code.QR_REPEATS, ("QuestionnaireResponse.item[1]",))
    ]


def activity_questionnaire(min_occurs: int, max_occurs: int) -> dict[str, Any]:
    score = q(
        "activity.score",
        "integer",
        text="Poengsum",
        required=True,
        extension=[ext(MIN_VALUE, "valueInteger", 0), ext(MAX_VALUE, "valueInteger", 10)],
    )
    return questionnaire(
        q("intro", "display", text="PSFS"),
        q(
            "activity",
            "group",
            repeats=True,
            required=True,
            extension=[
                ext(MIN_OCCURS, "valueInteger", min_occurs),
                ext(MAX_OCCURS, "valueInteger", max_occurs),
            ],
            item=[q("activity.text", "string", required=True), score],
        ),
    )


def activity(text: str, score: int) -> dict[str, Any]:
    return g(
        "activity",
        a("activity.text", {"valueString": text}),
        a("activity.score", {"valueInteger": score}),
    )


def test_repeating_group_max_occurs() -> None:
    quest = activity_questionnaire(1, 2)
    assert validate_response(response(activity("gå", 3), activity("lese", 5)), quest) == []
    resp = response(activity("gå", 3), activity("lese", 5), activity("bake", 1))
    issue = only(validate_response(resp, quest))
    assert (issue.forlop_code, issue.expression) == (
        Code.QR_REPEATS,
        ("QuestionnaireResponse.item[2]",),
    )
    assert "appears 3 times; at most 2 are allowed" in issue.diagnostics


def test_repeating_group_min_occurs() -> None:
    quest = activity_questionnaire(2, 5)
    assert found(validate_response(response(activity("gå", 3)), quest)) == [
        (Code.QR_REPEATS, ("QuestionnaireResponse",))
    ]


def test_repeating_group_errors_carry_the_instance_index() -> None:
    quest = activity_questionnaire(1, 5)
    resp = response(
        activity("gå", 3),
        activity("lese", 12),
        g("activity", a("activity.text", {"valueString": "x"})),
    )
    issues = validate_response(resp, quest)
    assert found(issues) == [
        (Code.QR_ANSWER_RANGE, ("QuestionnaireResponse.item[1].item[1].answer[0].valueInteger",)),
        (Code.QR_REQUIRED, ("QuestionnaireResponse.item[2]",)),
    ]
    assert (
        issues[0].diagnostics
        == "Item 'activity.score' (Poengsum) answer 12 is above the maximum 10."
    )


# --- enableWhen -------------------------------------------------------------------------------


def when(question: str, operator: str, **answer: Any) -> dict[str, Any]:
    return {"question": question, "operator": operator, **answer}


def bool_questionnaire(required: bool = False) -> dict[str, Any]:
    return questionnaire(
        q("fall", "boolean"),
        q(
            "fall.count",
            "integer",
            required=required,
            enableWhen=[when("fall", "=", answerBoolean=True)],
        ),
    )


def test_enable_when_boolean_enabled() -> None:
    resp = response(a("fall", {"valueBoolean": True}), a("fall.count", {"valueInteger": 2}))
    assert validate_response(resp, bool_questionnaire()) == []


def test_answer_to_a_disabled_item() -> None:
    resp = response(a("fall", {"valueBoolean": False}), a("fall.count", {"valueInteger": 2}))
    assert found(validate_response(resp, bool_questionnaire())) == [
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[1]",))
    ]


def test_disabled_required_item_is_not_required() -> None:
    quest = bool_questionnaire(required=True)
    assert validate_response(response(a("fall", {"valueBoolean": False})), quest) == []
    assert validate_response(response(), quest) == []
    assert found(validate_response(response(a("fall", {"valueBoolean": True})), quest)) == [
        (Code.QR_REQUIRED, ("QuestionnaireResponse",))
    ]


def coding_questionnaire() -> dict[str, Any]:
    options = [{"valueCoding": coding(c)} for c in ("yes", "no", "not-needed")]
    return questionnaire(
        q("devices", "choice", answerOption=options),
        q(
            "devices.which",
            "string",
            required=True,
            enableWhen=[when("devices", "=", answerCoding=coding("yes"))],
        ),
    )


def test_enable_when_coding() -> None:
    quest = coding_questionnaire()
    assert found(
        validate_response(response(a("devices", {"valueCoding": coding("yes")})), quest)
    ) == [(Code.QR_REQUIRED, ("QuestionnaireResponse",))]
    assert validate_response(response(a("devices", {"valueCoding": coding("no")})), quest) == []


def test_enable_when_coding_compares_system_and_code() -> None:
    quest = coding_questionnaire()
    quest["item"][0]["answerOption"].append({"valueCoding": coding("yes", "http://other.no")})
    resp = response(
        a("devices", {"valueCoding": coding("yes", "http://other.no")}),
        a("devices.which", {"valueString": "x"}),
    )
    assert found(validate_response(resp, quest)) == [
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[1]",))
    ]


def any_all_questionnaire(behavior: str) -> dict[str, Any]:
    return questionnaire(
        q("a", "boolean"),
        q("b", "boolean"),
        q(
            "c",
            "string",
            enableBehavior=behavior,
            enableWhen=[when("a", "=", answerBoolean=True), when("b", "=", answerBoolean=True)],
        ),
    )


@pytest.mark.parametrize(
    ("behavior", "a_value", "b_value", "enabled"),
    [
        ("all", True, True, True),
        ("all", True, False, False),
        ("any", True, False, True),
        ("any", False, False, False),
    ],
)
def test_enable_behavior(behavior: str, a_value: bool, b_value: bool, enabled: bool) -> None:
    resp = response(
        a("a", {"valueBoolean": a_value}),
        a("b", {"valueBoolean": b_value}),
        a("c", {"valueString": "x"}),
    )
    expected = [] if enabled else [(Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[2]",))]
    assert found(validate_response(resp, any_all_questionnaire(behavior))) == expected


def test_enable_when_exists_false() -> None:
    quest = questionnaire(
        q("weight", "decimal"),
        q(
            "why-not",
            "string",
            required=True,
            enableWhen=[when("weight", "exists", answerBoolean=False)],
        ),
    )
    assert found(validate_response(response(), quest)) == [
        (Code.QR_REQUIRED, ("QuestionnaireResponse",))
    ]
    assert validate_response(response(a("why-not", {"valueString": "sengeliggende"})), quest) == []
    resp = response(
        a("weight", {"valueDecimal": Decimal("61.5")}), a("why-not", {"valueString": "x"})
    )
    assert found(validate_response(resp, quest)) == [
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[1]",))
    ]


@pytest.mark.parametrize(
    ("operator", "answers", "enabled"),
    [
        (">", [5], True),
        (">", [3], False),
        (">=", [3], True),
        ("<", [2], True),
        ("<=", [4], False),
        ("!=", [3], False),
        ("!=", [4], True),
        ("!=", [], True),
        ("=", [1, 3], True),
        (">", [], False),
    ],
)
def test_enable_when_comparisons(operator: str, answers: list[int], enabled: bool) -> None:
    quest = questionnaire(
        q("pain", "integer", repeats=True),
        q("pain.where", "string", enableWhen=[when("pain", operator, answerInteger=3)]),
    )
    items = [a("pain", *({"valueInteger": v} for v in answers))] if answers else []
    resp = response(*items, a("pain.where", {"valueString": "rygg"}))
    expected = (
        [] if enabled else [(Code.QR_ENABLE_WHEN, (f"QuestionnaireResponse.item[{len(items)}]",))]
    )
    assert found(validate_response(resp, quest)) == expected


def test_enable_when_resolves_the_enclosing_repeating_group_first() -> None:
    quest = questionnaire(
        q(
            "med",
            "group",
            repeats=True,
            item=[
                q("med.changed", "boolean"),
                q(
                    "med.why",
                    "string",
                    required=True,
                    enableWhen=[when("med.changed", "=", answerBoolean=True)],
                ),
            ],
        )
    )
    resp = response(
        g(
            "med",
            a("med.changed", {"valueBoolean": True}),
            a("med.why", {"valueString": "bivirkning"}),
        ),
        g("med", a("med.changed", {"valueBoolean": False}), a("med.why", {"valueString": "x"})),
        g("med", a("med.changed", {"valueBoolean": True})),
    )
    assert found(validate_response(resp, quest)) == [
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[1].item[1]",)),
        (Code.QR_REQUIRED, ("QuestionnaireResponse.item[2]",)),
    ]


def test_enable_when_does_not_borrow_an_answer_from_another_instance() -> None:
    quest = questionnaire(
        q(
            "med",
            "group",
            repeats=True,
            item=[
                q("med.name", "string"),
                q("med.changed", "boolean"),
                q(
                    "med.note",
                    "string",
                    enableWhen=[when("med.changed", "exists", answerBoolean=False)],
                ),
            ],
        )
    )
    resp = response(
        g(
            "med",
            a("med.name", {"valueString": "Paracet"}),
            a("med.changed", {"valueBoolean": True}),
        ),
        g(
            "med",
            a("med.name", {"valueString": "Albyl-E"}),
            a("med.note", {"valueString": "uendret"}),
        ),
    )
    assert validate_response(resp, quest) == []


def test_enable_when_on_an_earlier_item_outside_the_group() -> None:
    quest = questionnaire(
        q("home", "boolean"),
        q(
            "g",
            "group",
            item=[
                q("g.a", "string"),
                q("g.stairs", "boolean", enableWhen=[when("home", "=", answerBoolean=True)]),
            ],
        ),
    )
    resp = response(
        a("home", {"valueBoolean": False}),
        g("g", a("g.a", {"valueString": "x"}), a("g.stairs", {"valueBoolean": True})),
    )
    assert found(validate_response(resp, quest)) == [
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[1].item[1]",))
    ]


def test_a_disabled_question_counts_as_unanswered() -> None:
    quest = questionnaire(
        q("a", "boolean"),
        q("b", "boolean", enableWhen=[when("a", "=", answerBoolean=True)]),
        q("c", "string", enableWhen=[when("b", "exists", answerBoolean=True)]),
    )
    resp = response(
        a("a", {"valueBoolean": False}),
        a("b", {"valueBoolean": True}),
        a("c", {"valueString": "x"}),
    )
    # b is answered although disabled; c depends on b, which must count as unanswered.
    assert found(validate_response(resp, quest)) == [
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[1]",)),
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[2]",)),
    ]


def test_a_question_inside_a_disabled_group_counts_as_unanswered() -> None:
    quest = questionnaire(
        q("a", "boolean"),
        q(
            "g",
            "group",
            enableWhen=[when("a", "=", answerBoolean=True)],
            item=[q("g.b", "boolean")],
        ),
        q("c", "string", enableWhen=[when("g.b", "exists", answerBoolean=True)]),
    )
    resp = response(
        a("a", {"valueBoolean": False}),
        g("g", a("g.b", {"valueBoolean": True})),
        a("c", {"valueString": "x"}),
    )
    assert found(validate_response(resp, quest)) == [
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[1]",)),
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[2]",)),
    ]


def test_disabled_group_is_reported_once() -> None:
    quest = questionnaire(
        q("a", "boolean"),
        q(
            "g",
            "group",
            enableWhen=[when("a", "=", answerBoolean=True)],
            item=[q("g.x", "string", required=True)],
        ),
    )
    resp = response(a("a", {"valueBoolean": False}), g("g", a("g.x", {"valueString": "x"})))
    assert found(validate_response(resp, quest)) == [
        (Code.QR_ENABLE_WHEN, ("QuestionnaireResponse.item[1]",))
    ]
    assert validate_response(response(a("a", {"valueBoolean": False})), quest) == []


# --- answer options and value sets ------------------------------------------------------------


def test_choice_answer_must_be_an_option() -> None:
    quest = coding_questionnaire()
    issue = only(validate_response(response(a("devices", {"valueCoding": coding("maybe")})), quest))
    assert (issue.forlop_code, issue.expression) == (
        Code.QR_ANSWER_OPTION,
        ("QuestionnaireResponse.item[0].answer[0].valueCoding",),
    )
    other_system = response(a("devices", {"valueCoding": coding("no", "http://other.no")}))
    assert found(validate_response(other_system, quest)) == [
        (Code.QR_ANSWER_OPTION, ("QuestionnaireResponse.item[0].answer[0].valueCoding",))
    ]


def test_open_choice_takes_free_text_but_not_unknown_codes() -> None:
    quest = questionnaire(q("x", "open-choice", answerOption=[{"valueCoding": coding("yes")}]))
    assert validate_response(response(a("x", {"valueString": "kanskje"})), quest) == []
    assert found(validate_response(response(a("x", {"valueCoding": coding("maybe")})), quest)) == [
        (Code.QR_ANSWER_OPTION, ("QuestionnaireResponse.item[0].answer[0].valueCoding",))
    ]


VS_URL = "http://forlop.no/fhir/ValueSet/path-yes-no"


def terminology(compose: dict[str, Any]) -> Registry:
    registry = Registry()
    registry.add(
        {
            "resourceType": "CodeSystem",
            "url": YES_NO,
            "version": "1.0.0",
            "content": "complete",
            "concept": [
                {"code": "yes"},
                {"code": "no"},
                {"code": "partly", "concept": [{"code": "mostly"}]},
            ],
        }
    )
    registry.add(
        {"resourceType": "ValueSet", "url": VS_URL, "version": "1.0.0", "compose": compose}
    )
    return registry


@pytest.mark.parametrize(
    "compose",
    [
        {"include": [{"system": YES_NO, "concept": [{"code": "yes"}, {"code": "no"}]}]},
        {
            "include": [{"system": YES_NO}],
            "exclude": [{"system": YES_NO, "concept": [{"code": "partly"}, {"code": "mostly"}]}],
        },
    ],
    ids=["concepts", "whole-system-minus-exclude"],
)
def test_answer_value_set(compose: dict[str, Any]) -> None:
    quest = questionnaire(q("x", "choice", answerValueSet=VS_URL))
    registry = terminology(compose)
    assert (
        validate_response(response(a("x", {"valueCoding": coding("no")})), quest, registry=registry)
        == []
    )
    bad = response(a("x", {"valueCoding": coding("mostly")}))
    assert found(validate_response(bad, quest, registry=registry)) == [
        (Code.QR_ANSWER_OPTION, ("QuestionnaireResponse.item[0].answer[0].valueCoding",))
    ]
    assert validate_response(bad, quest) == []  # no registry given: nothing to check against


def test_unknown_answer_value_set_is_a_warning() -> None:
    quest = questionnaire(q("x", "choice", answerValueSet="http://forlop.no/fhir/ValueSet/nope"))
    issue = only(
        validate_response(
            response(a("x", {"valueCoding": coding("no")})), quest, registry=Registry()
        )
    )
    assert (issue.forlop_code, issue.severity) == (Code.QR_ANSWER_OPTION, "warning")


# --- ranges -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "key", "low", "high", "inside", "below", "above"),
    [
        ("integer", "valueInteger", 0, 10, 10, -1, 11),
        (
            "decimal",
            "valueDecimal",
            Decimal("0.5"),
            Decimal("2.5"),
            Decimal("2.5"),
            Decimal("0.49"),
            Decimal("2.51"),
        ),
        ("date", "valueDate", "2024-01-01", "2024-12-31", "2024-06-01", "2023-12-31", "2025-01-01"),
        (
            "dateTime",
            "valueDateTime",
            "2024-01-01T00:00:00Z",
            "2024-12-31T00:00:00Z",
            "2024-06-01T12:00:00+02:00",
            "2023-12-31T23:59:59Z",
            "2024-12-31T01:00:00Z",
        ),
        ("time", "valueTime", "08:00:00", "16:00:00", "12:00:00", "07:59:59", "16:00:01"),
    ],
)
def test_min_and_max_value(
    kind: str, key: str, low: Any, high: Any, inside: Any, below: Any, above: Any
) -> None:
    quest = questionnaire(
        q("x", kind, extension=[ext(MIN_VALUE, key, low), ext(MAX_VALUE, key, high)])
    )
    path = (f"QuestionnaireResponse.item[0].answer[0].{key}",)
    assert validate_response(response(a("x", {key: inside})), quest) == []
    below_issue = only(validate_response(response(a("x", {key: below})), quest))
    assert (below_issue.forlop_code, below_issue.expression) == (Code.QR_ANSWER_RANGE, path)
    assert f"is below the minimum {low}" in below_issue.diagnostics
    above_issue = only(validate_response(response(a("x", {key: above})), quest))
    assert (above_issue.forlop_code, above_issue.expression) == (Code.QR_ANSWER_RANGE, path)


def test_quantity_range_in_the_same_unit() -> None:
    kg = {"system": "http://unitsofmeasure.org", "code": "kg", "unit": "kg"}
    quest = questionnaire(
        q("w", "quantity", extension=[ext(MAX_VALUE, "valueQuantity", {**kg, "value": 300})])
    )
    assert validate_response(response(a("w", {"valueQuantity": {**kg, "value": 80}})), quest) == []
    assert found(
        validate_response(response(a("w", {"valueQuantity": {**kg, "value": 301}})), quest)
    ) == [(Code.QR_ANSWER_RANGE, ("QuestionnaireResponse.item[0].answer[0].valueQuantity",))]


def test_max_length() -> None:
    quest = questionnaire(q("s", "string", maxLength=5))
    assert validate_response(response(a("s", {"valueString": "fem!!"})), quest) == []
    assert found(validate_response(response(a("s", {"valueString": "seks!!"})), quest)) == [
        (Code.QR_ANSWER_RANGE, ("QuestionnaireResponse.item[0].answer[0].valueString",))
    ]


# --- the canonical ----------------------------------------------------------------------------


def registry_with(*resources: dict[str, Any]) -> Registry:
    registry = Registry()
    for resource in resources:
        registry.add(resource)
    return registry


def test_registry_lookup_with_and_without_version() -> None:
    v1 = questionnaire(q("a", "string", required=True))
    v2 = {**questionnaire(q("b", "string", required=True)), "version": "2.0.0"}
    registry = registry_with(v1, v2)
    answered_a = response(a("a", {"valueString": "x"}))
    assert validate_against_registry(answered_a, registry) == []
    bare = {**response(a("b", {"valueString": "x"})), "questionnaire": URL}
    assert validate_against_registry(bare, registry) == []  # the newest version


@pytest.mark.parametrize(
    "canonical", [f"{URL}|9.9.9", "http://forlop.no/fhir/Questionnaire/nope", None]
)
def test_unknown_questionnaire(canonical: str | None) -> None:
    resp = response()
    if canonical is None:
        del resp["questionnaire"]
    else:
        resp["questionnaire"] = canonical
    issue = only(validate_against_registry(resp, registry_with(questionnaire())))
    assert (issue.forlop_code, issue.expression) == (
        Code.QR_QUESTIONNAIRE_UNKNOWN,
        ("QuestionnaireResponse.questionnaire",),
    )


def test_response_for_another_version_than_the_one_given() -> None:
    resp = {**response(), "questionnaire": f"{URL}|2.0.0"}
    assert found(validate_response(resp, questionnaire())) == [
        (Code.QR_QUESTIONNAIRE_UNKNOWN, ("QuestionnaireResponse.questionnaire",))
    ]


# --- PSFS -------------------------------------------------------------------------------------


def psfs_response(psfs: dict[str, Any], scores: list[int]) -> dict[str, Any]:
    """A filled PSFS response built from the Questionnaire's own items, in its order."""

    def answer(definition: dict[str, Any], number: int, score: int) -> list[dict[str, Any]]:
        link_id = definition["linkId"]
        if link_id == "direction":
            return [a(link_id, {"valueCoding": definition["answerOption"][0]["valueCoding"]})]
        if link_id == "activity":
            return [
                {
                    "linkId": link_id,
                    "item": [i for d in definition["item"] for i in answer(d, n, s)],
                }
                for n, s in enumerate(scores)
            ]
        values = {
            "activity.key": {"valueString": f"key-{number}"},
            "activity.text": {"valueString": f"Aktivitet {number}"},
            "activity.score": {"valueInteger": score},
            "activity.target": {"valueInteger": 10},
        }
        return [a(link_id, values[link_id])] if link_id in values else []

    items = [i for d in psfs["item"] for i in answer(d, 0, 0)]
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{psfs['url']}|{psfs['version']}",
        "status": "completed",
        "item": items,
    }


@pytest.mark.skipif(
    not PSFS_FILE.exists(), reason="profiles/Questionnaire-psfs.json is not written yet"
)
def test_psfs_questionnaire() -> None:
    psfs = parse_json(PSFS_FILE.read_bytes())
    registry = registry_with(psfs)
    assert validate_against_registry(psfs_response(psfs, [3, 7, 10]), registry) == []
    assert [
        i.forlop_code for i in validate_against_registry(psfs_response(psfs, [1] * 6), registry)
    ] == [Code.QR_REPEATS]
    assert [
        i.forlop_code for i in validate_against_registry(psfs_response(psfs, [3, 11, 4]), registry)
    ] == [Code.QR_ANSWER_RANGE]


# --- property: a faithfully filled response is clean; dropping a required answer is one issue -

TYPES = [
    "boolean",
    "decimal",
    "integer",
    "date",
    "dateTime",
    "time",
    "string",
    "text",
    "url",
    "choice",
    "open-choice",
    "quantity",
    "reference",
]
KG = {"system": "http://unitsofmeasure.org", "code": "kg", "unit": "kg"}


@st.composite
def question(draw: st.DrawFn, link_id: str) -> dict[str, Any]:
    # Half the questions can steer enableWhen, so conditions are common.
    kind = draw(st.sampled_from(["boolean", "choice"]) | st.sampled_from(TYPES))
    item: dict[str, Any] = {"linkId": link_id, "type": kind, "text": f"Spørsmål {link_id}"}
    low, high = draw(st.integers(-5, 5)), draw(st.integers(5, 20))
    bounds = {
        "integer": ("valueInteger", low, high),
        "decimal": ("valueDecimal", Decimal(low) / 2, Decimal(high) / 2),
        "date": (
            "valueDate",
            date(2020, 1, 1 + low + 5).isoformat(),
            date(2024, 1, high).isoformat(),
        ),
        "quantity": ("valueQuantity", {**KG, "value": low}, {**KG, "value": high}),
    }
    if kind in bounds and draw(st.booleans()):
        key, lower, upper = bounds[kind]
        item["extension"] = [ext(MIN_VALUE, key, lower), ext(MAX_VALUE, key, upper)]
    if kind in ("string", "text") and draw(st.booleans()):
        item["maxLength"] = draw(st.integers(1, 20))
    if kind in ("choice", "open-choice"):
        codes = draw(
            st.lists(
                st.sampled_from(["yes", "no", "partly", "not-needed"]), min_size=1, unique=True
            )
        )
        item["answerOption"] = [{"valueCoding": coding(c)} for c in codes]
    return item


def answer_value(draw: st.DrawFn, item: dict[str, Any]) -> dict[str, Any]:
    kind = item["type"]
    bounds = {
        e["url"]: next(v for k, v in e.items() if k.startswith("value"))
        for e in item.get("extension", [])
    }
    low, high = bounds.get(MIN_VALUE), bounds.get(MAX_VALUE)
    if kind == "boolean":
        return {"valueBoolean": draw(st.booleans())}
    if kind == "integer":
        return {
            "valueInteger": draw(
                st.integers(low if low is not None else -1000, high if high is not None else 1000)
            )
        }
    if kind == "decimal":
        lo, hi = (low, high) if low is not None else (Decimal(-100), Decimal(100))
        return {"valueDecimal": draw(st.decimals(lo, hi, places=2))}
    if kind == "quantity":
        lo, hi = (low["value"], high["value"]) if low is not None else (0, 500)
        return {"valueQuantity": {**KG, "value": draw(st.decimals(lo, hi, places=1))}}
    if kind == "date":
        lo_d, hi_d = (
            (date.fromisoformat(low), date.fromisoformat(high))
            if low
            else (date(1900, 1, 1), date(2100, 1, 1))
        )
        return {"valueDate": draw(st.dates(lo_d, hi_d)).isoformat()}
    if kind == "dateTime":
        return {
            "valueDateTime": draw(st.datetimes(timezones=st.just(UTC))).isoformat(
                timespec="seconds"
            )
        }
    if kind == "time":
        return {"valueTime": draw(st.times()).strftime("%H:%M:%S")}
    if kind in ("string", "text"):
        return {"valueString": draw(st.text(min_size=1, max_size=item.get("maxLength", 30)))}
    if kind == "url":
        return {"valueUri": f"https://example.org/{draw(st.integers(0, 99))}"}
    if kind == "reference":
        return {"valueReference": {"reference": f"Patient/p{draw(st.integers(0, 99))}"}}
    option = draw(st.sampled_from(item["answerOption"]))["valueCoding"]
    if kind == "open-choice" and draw(st.booleans()):
        return {"valueString": draw(st.text(min_size=1, max_size=10))}
    return {"valueCoding": option}


@st.composite
def random_questionnaire(draw: st.DrawFn) -> dict[str, Any]:
    counter = itertools.count()

    def items(depth: int, triggers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        visible = list(triggers)  # boolean/choice questions earlier in scope
        out: list[dict[str, Any]] = []
        for position in range(draw(st.integers(1, 4))):
            link_id = f"i{next(counter)}"
            anchor = depth > 0 and position == 0  # a group's first question keeps it non-empty
            if not anchor and depth < 2 and draw(st.integers(0, 3)) == 0:
                item: dict[str, Any] = {
                    "linkId": link_id,
                    "type": "group",
                    "text": f"Gruppe {link_id}",
                }
                if draw(st.booleans()):
                    item["repeats"] = True
                    lowest = draw(st.integers(1, 2))
                    item["extension"] = [
                        ext(MIN_OCCURS, "valueInteger", lowest),
                        ext(MAX_OCCURS, "valueInteger", draw(st.integers(lowest, 3))),
                    ]
                item["item"] = items(depth + 1, visible)
            else:
                item = draw(question(link_id))
            if not anchor:
                item["required"] = draw(st.booleans())
                if visible and draw(st.booleans()):
                    conditions = []
                    for source in draw(st.lists(st.sampled_from(visible), min_size=1, max_size=2)):
                        operator = draw(st.sampled_from(["=", "!=", "exists"]))
                        if operator == "exists":
                            expected: dict[str, Any] = {"answerBoolean": draw(st.booleans())}
                        elif source["type"] == "boolean":
                            expected = {"answerBoolean": draw(st.booleans())}
                        else:
                            expected = {
                                "answerCoding": draw(st.sampled_from(source["answerOption"]))[
                                    "valueCoding"
                                ]
                            }
                        conditions.append(
                            {"question": source["linkId"], "operator": operator, **expected}
                        )
                    item["enableWhen"] = conditions
                    item["enableBehavior"] = draw(st.sampled_from(["all", "any"]))
            if item["type"] in ("boolean", "choice"):
                visible.append(item)
            out.append(item)
        return out

    return questionnaire(*items(0, []))


def oracle_enabled(item: dict[str, Any], scope: dict[str, Any]) -> bool:
    """enableWhen for single-answer booleans and codings, written independently of the validator."""
    results = []
    for condition in item.get("enableWhen", []):
        value = scope.get(condition["question"])
        if condition["operator"] == "exists":
            results.append((value is not None) == condition["answerBoolean"])
            continue
        expected = condition.get("answerBoolean", condition.get("answerCoding"))
        results.append((value == expected) == (condition["operator"] == "="))
    if not results:
        return True
    return any(results) if item.get("enableBehavior") == "any" else all(results)


def fill(
    draw: st.DrawFn, definitions: list[dict[str, Any]], outer: dict[str, Any]
) -> list[dict[str, Any]]:
    scope = dict(outer)  # linkId -> the one answer value, for questions visible from here
    out: list[dict[str, Any]] = []
    for item in definitions:
        if not oracle_enabled(item, scope):
            continue
        if item["type"] == "group":
            occurs = {e["url"]: e["valueInteger"] for e in item.get("extension", [])}
            count = draw(st.integers(occurs.get(MIN_OCCURS, 1), occurs.get(MAX_OCCURS, 1)))
            out.extend(g(item["linkId"], *fill(draw, item["item"], scope)) for _ in range(count))
            continue
        value = answer_value(draw, item)
        out.append(a(item["linkId"], value))
        scope[item["linkId"]] = value.get("valueBoolean", value.get("valueCoding"))
    return out


def required_answered(
    items: list[dict[str, Any]], definitions: dict[str, dict[str, Any]]
) -> list[list[int]]:
    """Index routes to response items answering a required question that no enableWhen reads."""
    read = {c["question"] for d in definitions.values() for c in d.get("enableWhen", [])}
    routes = []
    for index, item in enumerate(items):
        definition = definitions[item["linkId"]]
        if "item" in item:
            routes.extend([index, *r] for r in required_answered(item["item"], definitions))
        elif definition.get("required") and item["linkId"] not in read:
            routes.append([index])
    return routes


def flatten(definitions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for item in definitions:
        out[item["linkId"]] = item
        out.update(flatten(item.get("item", [])))
    return out


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(random_questionnaire(), st.data())
def test_filled_response_is_clean_and_a_dropped_required_answer_is_one_issue(
    quest: dict[str, Any], data: st.DataObject
) -> None:
    resp = response(*fill(data.draw, quest["item"], {}))
    assert validate_response(resp, quest) == []

    routes = required_answered(resp["item"], flatten(quest["item"]))
    if not routes:
        return
    route = data.draw(st.sampled_from(routes))
    broken = copy.deepcopy(resp)
    target, path = broken, "QuestionnaireResponse"
    for index in route:
        target, path = target["item"][index], f"{path}.item[{index}]"
    del target["answer"]
    assert found(validate_response(broken, quest)) == [(Code.QR_REQUIRED, (path,))]
