"""A PSFS assessment <-> a QuestionnaireResponse to the PSFS Questionnaire (profiles/).

The response is the record of what the respondent said: direction, and per activity its key, text,
score and optional target, exactly as answered. ``subject`` is the patient, ``source`` the
respondent (Patient, or RelatedPerson for a caregiver), ``author`` the assessor, ``authored`` the
assessment date. Goals and score Observations are derived from it (:mod:`psfs_resources`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from adapter.domain.findings import Finding
from adapter.domain.psfs import (
    Activity,
    Assessment,
    Direction,
    Respondent,
    RespondentKind,
)
from adapter.fhir.errors import Code, FhirError, Issue, error_issue
from adapter.mapping.codes import PSFS_DIRECTION_CS, PSFS_QUESTIONNAIRE, coding
from adapter.mapping.identity import PSFS_ASSESSMENT, activity_key, identifier

QR = "QuestionnaireResponse"


def _texts(questionnaire: dict[str, Any]) -> dict[str, str]:
    texts: dict[str, str] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "text" in item:
                texts[item["linkId"]] = item["text"]
            walk(item.get("item") or [])

    walk(questionnaire.get("item") or [])
    return texts


def _question(link_id: str, texts: dict[str, str], answer: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": link_id}
    if link_id in texts:
        item["text"] = texts[link_id]
    item["answer"] = [answer]
    return item


def assessment_to_response(assessment: Assessment, questionnaire: dict[str, Any]) -> dict[str, Any]:
    """The QuestionnaireResponse that records this assessment."""
    texts = _texts(questionnaire)
    items: list[dict[str, Any]] = [
        _question(
            "direction",
            texts,
            {"valueCoding": coding(PSFS_DIRECTION_CS, assessment.direction.value)},
        )
    ]
    for activity in assessment.activities:
        children = [
            _question("activity.key", texts, {"valueString": activity.key}),
            _question("activity.text", texts, {"valueString": activity.text}),
            _question("activity.score", texts, {"valueInteger": activity.score}),
        ]
        if activity.target is not None:
            children.append(_question("activity.target", texts, {"valueInteger": activity.target}))
        group: dict[str, Any] = {"linkId": "activity"}
        if "activity" in texts:
            group["text"] = texts["activity"]
        group["item"] = children
        items.append(group)
    response: dict[str, Any] = {
        "resourceType": QR,
        "identifier": identifier(PSFS_ASSESSMENT, assessment.id),
        "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
        "status": "completed",
        "subject": {"reference": assessment.patient},
    }
    if assessment.encounter:
        response["encounter"] = {"reference": assessment.encounter}
    response["authored"] = assessment.date.isoformat()
    if assessment.assessor:
        response["author"] = {"reference": assessment.assessor}
    response["source"] = {"reference": assessment.respondent.reference}
    response["item"] = items
    return response


def is_psfs_response(resource: dict[str, Any]) -> bool:
    questionnaire = resource.get("questionnaire")
    return (
        resource.get("resourceType") == QR
        and isinstance(questionnaire, str)
        and questionnaire.partition("|")[0] == PSFS_QUESTIONNAIRE
    )


class _Reader:
    """Collects every problem of one response before giving up (issues, not exceptions)."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def fail(self, expression: str, message: str) -> None:
        self.issues.append(error_issue("required", Code.MAPPING_INPUT, message, expression))

    def reference(self, qr: dict[str, Any], name: str, required: bool) -> str | None:
        value = qr.get(name)
        ref = value.get("reference") if isinstance(value, dict) else None
        if isinstance(ref, str) and ref:
            return ref
        if required:
            self.fail(f"{QR}.{name}", f"A PSFS response needs {name}.reference to map it.")
        return None

    @staticmethod
    def answer(item: dict[str, Any], key: str) -> Any:
        answers = item.get("answer") or []
        return answers[0].get(key) if answers and isinstance(answers[0], dict) else None


def assessment_id(qr: dict[str, Any]) -> str | None:
    """The assessment's stable id: our identifier, else the server id."""
    # QuestionnaireResponse.identifier is a single Identifier in R4, not a list.
    ident = qr.get("identifier")
    if isinstance(ident, dict) and ident.get("system") == PSFS_ASSESSMENT:
        value = ident.get("value")
        if isinstance(value, str) and value:
            return value
    rid = qr.get("id")
    return rid if isinstance(rid, str) and rid else None


def response_to_assessment(qr: dict[str, Any]) -> Assessment:
    """The assessment a PSFS response records; raises 422 with every problem found."""
    reader = _Reader()
    if not is_psfs_response(qr):
        reader.fail(f"{QR}.questionnaire", f"This is not a response to {PSFS_QUESTIONNAIRE}.")
        raise FhirError(422, reader.issues)
    rid = assessment_id(qr)
    if rid is None:
        reader.fail(
            f"{QR}.identifier",
            f"A PSFS response needs an id or an identifier with system {PSFS_ASSESSMENT} "
            "so that extracting it twice changes nothing.",
        )
    patient = reader.reference(qr, "subject", required=True)
    source = reader.reference(qr, "source", required=True)
    assessor = reader.reference(qr, "author", required=False)
    encounter = reader.reference(qr, "encounter", required=False)
    authored = qr.get("authored")
    day: date | None = None
    if isinstance(authored, str) and len(authored) >= 10:
        try:
            day = date.fromisoformat(authored[:10])
        except ValueError:
            day = None
    if day is None:
        reader.fail(f"{QR}.authored", "A PSFS response needs authored: the assessment date.")
    direction: Direction | None = None
    activities: list[Activity] = []
    for i, item in enumerate(qr.get("item") or []):
        where = f"{QR}.item[{i}]"
        if item.get("linkId") == "direction":
            code = (reader.answer(item, "valueCoding") or {}).get("code")
            if code in {d.value for d in Direction}:
                direction = Direction(code)
            else:
                reader.fail(where, f"Unknown PSFS direction {code!r}: use ability or difficulty.")
        elif item.get("linkId") == "activity":
            activity = _activity(reader, item, where)
            if activity is not None:
                activities.append(activity)
    if direction is None and not any("direction" in i.diagnostics for i in reader.issues):
        reader.fail(f"{QR}.item", "A PSFS response needs the 'direction' item.")
    if reader.issues or rid is None or patient is None or source is None or day is None:
        raise FhirError(422, reader.issues)
    assert direction is not None
    kind = (
        RespondentKind.CAREGIVER if source.startswith("RelatedPerson/") else RespondentKind.PATIENT
    )
    return Assessment(
        id=rid,
        patient=patient,
        date=day,
        direction=direction,
        respondent=Respondent(kind, source),
        activities=tuple(activities),
        assessor=assessor,
        encounter=encounter,
    )


def _activity(reader: _Reader, group: dict[str, Any], where: str) -> Activity | None:
    values: dict[str, Any] = {}
    for child in group.get("item") or []:
        link = child.get("linkId")
        kind = "valueString" if link in ("activity.key", "activity.text") else "valueInteger"
        values[link] = reader.answer(child, kind)
    text = values.get("activity.text")
    score = values.get("activity.score")
    if not isinstance(text, str):
        reader.fail(f"{where}.item", "Each PSFS activity needs 'activity.text'.")
        return None
    if not isinstance(score, int) or isinstance(score, bool):
        reader.fail(f"{where}.item", f"The activity '{text}' needs an integer 'activity.score'.")
        return None
    key = values.get("activity.key")
    target = values.get("activity.target")
    return Activity(
        key=key if isinstance(key, str) and key else activity_key(text),
        text=text,
        score=score,
        target=target if isinstance(target, int) and not isinstance(target, bool) else None,
    )


def findings_as_issues(findings: list[Finding], qr: dict[str, Any] | None = None) -> list[Issue]:
    """Domain findings as OperationOutcome issues; paths point into the response when given."""
    activity_items = (
        [i for i, item in enumerate(qr.get("item") or []) if item.get("linkId") == "activity"]
        if qr
        else []
    )
    issues = []
    for finding in findings:
        expression = finding.path
        if qr is not None:
            expression = _response_path(finding.path, activity_items)
        issues.append(
            Issue(
                finding.severity,
                "business-rule" if finding.severity == "error" else "informational",
                finding.message,
                (expression,),
                Code[finding.rule.name],
            )
        )
    return issues


def _response_path(path: str, activity_items: list[int]) -> str:
    """Domain path ``activities[2].score`` -> ``QuestionnaireResponse.item[3]`` and so on."""
    if path.startswith("activities[") and activity_items:
        index = int(path[len("activities[") : path.index("]")])
        if index < len(activity_items):
            return f"{QR}.item[{activity_items[index]}]"
    return f"{QR}.item"
