"""A filled PaTH checklist <-> a QuestionnaireResponse (profile path-questionnaireresponse).

The checklist's Questionnaire (``profiles/Questionnaire-path-<key>.json``) drives both directions:
its groups give the response its nesting, its item types say which ``answer[x]`` carries a value,
and its answer options give the coding system of a chosen code. Only answered items are written.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from adapter.domain.path import Answer, AnswerValue, ChecklistResponse, ResponseStatus
from adapter.fhir.errors import Code, FhirError, Issue, error_issue
from adapter.mapping.codes import PATH_QUESTIONNAIRE_PREFIX, coding, profile
from adapter.mapping.identity import PATH_RESPONSE, identifier
from adapter.registry import Registry, default_registry

QR = "QuestionnaireResponse"
RESPONSE_PROFILE = profile("path-questionnaireresponse")


def checklist_canonical(key: str) -> str:
    return PATH_QUESTIONNAIRE_PREFIX + key


def is_path_response(resource: dict[str, Any]) -> bool:
    questionnaire = resource.get("questionnaire")
    return (
        resource.get("resourceType") == QR
        and isinstance(questionnaire, str)
        and questionnaire.startswith(PATH_QUESTIONNAIRE_PREFIX)
    )


def _option_system(item: dict[str, Any], code: str) -> str | None:
    for option in item.get("answerOption") or []:
        value = option.get("valueCoding") or {}
        if value.get("code") == code:
            return str(value.get("system"))
    return None


def _answer(item: dict[str, Any], value: AnswerValue) -> dict[str, Any]:
    """One answer[x] for a domain value, by the item's type (FHIR R4 Questionnaire item-type)."""
    kind = item["type"]
    if kind == "boolean" and isinstance(value, bool):
        return {"valueBoolean": value}
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return {"valueInteger": value}
    if kind == "decimal" and isinstance(value, Decimal | int) and not isinstance(value, bool):
        return {"valueDecimal": Decimal(value)}
    if kind == "date" and isinstance(value, date) and not isinstance(value, datetime):
        return {"valueDate": value.isoformat()}
    if kind == "dateTime" and isinstance(value, datetime):
        return {"valueDateTime": value.isoformat()}
    if kind in ("string", "text") and isinstance(value, str):
        return {"valueString": value}
    if kind == "url" and isinstance(value, str):
        return {"valueUri": value}
    if kind == "reference" and isinstance(value, str):
        return {"valueReference": {"reference": value}}
    if kind in ("choice", "open-choice") and isinstance(value, str):
        system = _option_system(item, value)
        if system is not None:
            return {"valueCoding": coding(system, value)}
        if kind == "open-choice":
            return {"valueString": value}
    raise ValueError(f"{value!r} does not fit the {kind} item '{item['linkId']}'")


def _value(answer: dict[str, Any]) -> AnswerValue:
    for key, value in answer.items():
        if key == "valueDate":
            return date.fromisoformat(value)
        if key == "valueDateTime":
            return datetime.fromisoformat(value)
        if key == "valueDecimal":
            return Decimal(str(value))
        if key == "valueCoding":
            return str(value["code"])
        if key == "valueReference":
            return str(value["reference"])
        if key in ("valueBoolean", "valueInteger", "valueString", "valueUri"):
            return value  # type: ignore[no-any-return]
    raise ValueError("an answer without a supported value[x]")


def checklist_to_response(
    response: ChecklistResponse, registry: Registry | None = None
) -> dict[str, Any]:
    """Domain -> FHIR: the QuestionnaireResponse for a filled checklist."""
    questionnaire = (registry or default_registry()).require(
        checklist_canonical(response.checklist)
    )
    answers = {a.item: a.values for a in response.answers}
    issues: list[Issue] = []

    def build(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for item in items:
            link = item["linkId"]
            node: dict[str, Any] = {"linkId": link}
            if "text" in item:
                node["text"] = item["text"]
            if item["type"] == "group":
                children = build(item.get("item") or [])
                if children:
                    node["item"] = children
                    out.append(node)
                continue
            values = answers.pop(link, ())
            if values:
                try:
                    node["answer"] = [_answer(item, v) for v in values]
                except ValueError as exc:
                    issues.append(
                        error_issue("value", Code.MAPPING_INPUT, str(exc), f"answers.{link}")
                    )
                    continue
                out.append(node)
        return out

    items = build(questionnaire.get("item") or [])
    issues += [
        error_issue(
            "value",
            Code.QR_LINKID_UNKNOWN,
            f"The checklist {response.checklist} has no item '{link}'.",
            f"answers.{link}",
        )
        for link in answers
    ]
    if issues:
        raise FhirError(422, issues)
    resource: dict[str, Any] = {
        "resourceType": QR,
        "meta": {"profile": [RESPONSE_PROFILE]},
        "identifier": identifier(PATH_RESPONSE, response.id),
        "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
    }
    if response.care_plan:
        resource["basedOn"] = [{"reference": response.care_plan}]
    resource.update(
        {
            "status": response.status.value,
            "subject": {"reference": response.patient},
            "encounter": {"reference": response.encounter},
            "authored": response.authored.isoformat(),
            "author": {"reference": response.author},
            "item": items,
        }
    )
    return resource


def response_to_checklist(
    resource: dict[str, Any], registry: Registry | None = None
) -> ChecklistResponse:
    """FHIR -> domain: the filled checklist a PaTH QuestionnaireResponse records."""
    canonical = str(resource.get("questionnaire", "")).partition("|")[0]
    if not is_path_response(resource):
        raise FhirError(
            422,
            [
                error_issue(
                    "value",
                    Code.PATH_CHECKLIST_UNKNOWN,
                    f"{canonical or 'No questionnaire'} is not a PaTH checklist of this server.",
                    f"{QR}.questionnaire",
                )
            ],
        )
    (registry or default_registry()).require(canonical, f"{QR}.questionnaire")
    answers: list[Answer] = []

    def collect(items: list[dict[str, Any]]) -> None:
        for item in items:
            values = tuple(_value(a) for a in item.get("answer") or [])
            if values:
                answers.append(Answer(item["linkId"], values))
            collect(item.get("item") or [])

    collect(resource.get("item") or [])
    ident = resource.get("identifier") or {}
    based_on = resource.get("basedOn") or []
    return ChecklistResponse(
        id=str(ident.get("value") or resource.get("id", "")),
        checklist=canonical.removeprefix(PATH_QUESTIONNAIRE_PREFIX),
        patient=str(resource["subject"]["reference"]),
        encounter=str(resource["encounter"]["reference"]),
        authored=datetime.fromisoformat(resource["authored"]),
        author=str(resource["author"]["reference"]),
        status=ResponseStatus(resource["status"]),
        answers=tuple(answers),
        care_plan=based_on[0]["reference"] if based_on else None,
    )
