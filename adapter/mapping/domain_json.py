"""The plain JSON form of the domain: what the CLI reads and writes, and the fixtures hold.

PSFS document::

    {"patient": "Patient/p1",
     "assessments": [{"id": "a1", "date": "2026-01-12", "direction": "ability",
                      "respondent": {"kind": "patient", "reference": "Patient/p1"},
                      "assessor": "Practitioner/x", "encounter": "Encounter/e1",
                      "activities": [{"key": "stairs", "text": "Gå i trapper", "score": 3,
                                      "target": 7}]}],
     "plan": {"id": "plan-1", "status": "active", "title": "...", "start": "2026-01-12",
              "end": null, "encounter": null, "author": null, "careTeams": [], "goals": ["stairs"],
              "services": [{"description": "...", "goals": ["stairs"], "performer": null}],
              "checklists": ["response-id"]}}

PaTH document: ``{"id", "checklist", "patient", "encounter", "authored", "author", "status",
"carePlan", "answers": {"<item id>": [values]}}``; values are JSON booleans, numbers and strings,
read as the checklist's item type says (a ``date`` item's "2026-01-12" is a date).
Every problem is reported at once, as issues whose expression is the JSON path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from adapter.domain.path import Answer, AnswerValue, ChecklistResponse, ResponseStatus
from adapter.domain.plan import PlannedService, PlanStatus, TransitionPlan
from adapter.domain.psfs import Activity, Assessment, Direction, Respondent, RespondentKind, Series
from adapter.fhir.errors import Code, FhirError, Issue, error_issue
from adapter.mapping.path_response import checklist_canonical
from adapter.registry import Registry, default_registry

T = TypeVar("T")


class _Reader:
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def fail(self, path: str, message: str, code: Code = Code.MAPPING_INPUT) -> None:
        self.issues.append(error_issue("invalid", code, message, path))

    def get(
        self,
        data: Any,
        key: str,
        path: str,
        convert: Callable[[Any], T],
        *,
        required: bool = True,
        code: Code = Code.MAPPING_INPUT,
    ) -> T | None:
        value = data.get(key) if isinstance(data, dict) else None
        if value is None:
            if required:
                self.fail(f"{path}{key}", f"'{key}' is required.")
            return None
        try:
            return convert(value)
        except (TypeError, ValueError) as exc:
            self.fail(f"{path}{key}", f"'{key}' is not valid: {exc}", code)
            return None

    def done(self) -> None:
        if self.issues:
            raise FhirError(422, self.issues)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected a whole number, got {value!r}")
    return value


def _date(value: Any) -> date:
    try:
        return date.fromisoformat(_text(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a date; write it as YYYY-MM-DD") from None


def _direction(value: Any) -> Direction:
    try:
        return Direction(_text(value))
    except ValueError:
        allowed = " or ".join(d.value for d in Direction)
        raise ValueError(f"{value!r} is not a PSFS direction; use {allowed}") from None


def _datetime(value: Any) -> datetime:
    moment = datetime.fromisoformat(_text(value))
    if moment.tzinfo is None:
        raise ValueError("a date and time needs a time zone, e.g. 2026-01-12T10:00:00+01:00")
    return moment


def _texts(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return tuple(_text(v) for v in value)


# --- PSFS ----------------------------------------------------------------------------------------


def series_from_json(data: dict[str, Any]) -> tuple[Series, TransitionPlan | None]:
    reader = _Reader()
    patient = reader.get(data, "patient", "", _text)
    assessments = []
    raw = data.get("assessments")
    if not isinstance(raw, list) or not raw:
        reader.fail("assessments", "'assessments' must list at least one assessment.")
        raw = []
    for i, item in enumerate(raw):
        path = f"assessments[{i}]."
        activities = []
        for j, act in enumerate(item.get("activities") or [] if isinstance(item, dict) else []):
            where = f"{path}activities[{j}]."
            text = reader.get(act, "text", where, _text)
            score = reader.get(act, "score", where, _integer)
            key = reader.get(act, "key", where, _text)
            target = reader.get(act, "target", where, _integer, required=False)
            if text is not None and score is not None and key is not None:
                activities.append(Activity(key, text, score, target))
        respondent = item.get("respondent") if isinstance(item, dict) else None
        kind = reader.get(respondent, "kind", f"{path}respondent.", RespondentKind)
        who = reader.get(respondent, "reference", f"{path}respondent.", _text)
        values = (
            reader.get(item, "id", path, _text),
            reader.get(item, "date", path, _date),
            reader.get(item, "direction", path, _direction, code=Code.PSFS_DIRECTION),
        )
        if kind is not None and who is not None and None not in values and patient is not None:
            aid, day, direction = values
            assert isinstance(aid, str) and isinstance(day, date)
            assert isinstance(direction, Direction)
            assessments.append(
                Assessment(
                    id=aid,
                    patient=reader.get(item, "patient", path, _text, required=False) or patient,
                    date=day,
                    direction=direction,
                    respondent=Respondent(kind, who),
                    activities=tuple(activities),
                    assessor=reader.get(item, "assessor", path, _text, required=False),
                    encounter=reader.get(item, "encounter", path, _text, required=False),
                )
            )
    plan = _plan_from_json(reader, data["plan"], patient or "") if data.get("plan") else None
    reader.done()
    return Series.of(assessments), plan


def _plan_from_json(reader: _Reader, data: Any, patient: str) -> TransitionPlan | None:
    path = "plan."
    services = []
    for i, raw in enumerate(data.get("services") or [] if isinstance(data, dict) else []):
        where = f"{path}services[{i}]."
        description = reader.get(raw, "description", where, _text)
        if description is not None:
            services.append(
                PlannedService(
                    description,
                    reader.get(raw, "goals", where, _texts, required=False) or (),
                    reader.get(raw, "performer", where, _text, required=False),
                )
            )
    pid = reader.get(data, "id", path, _text)
    status = reader.get(data, "status", path, PlanStatus)
    start = reader.get(data, "start", path, _date)
    title = reader.get(data, "title", path, _text)
    if pid is None or status is None or start is None or title is None:
        return None
    return TransitionPlan(
        id=pid,
        patient=patient,
        status=status,
        start=start,
        title=title,
        end=reader.get(data, "end", path, _date, required=False),
        encounter=reader.get(data, "encounter", path, _text, required=False),
        author=reader.get(data, "author", path, _text, required=False),
        care_teams=reader.get(data, "careTeams", path, _texts, required=False) or (),
        goals=reader.get(data, "goals", path, _texts, required=False) or (),
        services=tuple(services),
        checklists=reader.get(data, "checklists", path, _texts, required=False) or (),
    )


def series_to_json(series: Series, plan: TransitionPlan | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "patient": series.patient,
        "assessments": [
            {
                "id": a.id,
                **({"patient": a.patient} if a.patient != series.patient else {}),
                "date": a.date.isoformat(),
                "direction": a.direction.value,
                "respondent": {
                    "kind": a.respondent.kind.value,
                    "reference": a.respondent.reference,
                },
                "assessor": a.assessor,
                "encounter": a.encounter,
                "activities": [
                    {"key": x.key, "text": x.text, "score": x.score, "target": x.target}
                    for x in a.activities
                ],
            }
            for a in series.assessments
        ],
    }
    if plan is not None:
        out["plan"] = {
            "id": plan.id,
            "status": plan.status.value,
            "title": plan.title,
            "start": plan.start.isoformat(),
            "end": plan.end.isoformat() if plan.end else None,
            "encounter": plan.encounter,
            "author": plan.author,
            "careTeams": list(plan.care_teams),
            "goals": list(plan.goals),
            "services": [
                {"description": s.description, "goals": list(s.goals), "performer": s.performer}
                for s in plan.services
            ],
            "checklists": list(plan.checklists),
        }
    return out


# --- PaTH ----------------------------------------------------------------------------------------


def _item_types(questionnaire: dict[str, Any]) -> dict[str, str]:
    types: dict[str, str] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            types[item["linkId"]] = item["type"]
            walk(item.get("item") or [])

    walk(questionnaire.get("item") or [])
    return types


def _decode(kind: str, value: Any) -> AnswerValue:
    if kind == "boolean":
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if kind == "integer":
        return _integer(value)
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise TypeError(f"expected a number, got {value!r}")
        return Decimal(value)
    if kind == "date":
        return _date(value)
    if kind == "dateTime":
        return _datetime(value)
    return _text(value)


def _encode(value: AnswerValue) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def checklist_from_json(
    data: dict[str, Any], registry: Registry | None = None
) -> ChecklistResponse:
    reader = _Reader()
    key = reader.get(data, "checklist", "", _text)
    registry = registry or default_registry()
    questionnaire = registry.get(checklist_canonical(key)) if key else None
    if key is not None and questionnaire is None:
        reader.fail("checklist", f"There is no PaTH checklist '{key}'.")
    types = _item_types(questionnaire or {})
    answers = []
    raw = data.get("answers")
    if not isinstance(raw, dict):
        reader.fail("answers", "'answers' must map item ids to answers.")
        raw = {}
    for link, values in raw.items():
        path = f"answers.{link}"
        if questionnaire is not None and link not in types:
            reader.fail(path, f"The checklist '{key}' has no item '{link}'.")
            continue
        listed = values if isinstance(values, list) else [values]
        try:
            answers.append(Answer(link, tuple(_decode(types.get(link, ""), v) for v in listed)))
        except (TypeError, ValueError) as exc:
            reader.fail(path, f"The answer to '{link}' is not valid: {exc}")
    fields = (
        reader.get(data, "id", "", _text),
        reader.get(data, "patient", "", _text),
        reader.get(data, "encounter", "", _text),
        reader.get(data, "authored", "", _datetime),
        reader.get(data, "author", "", _text),
        reader.get(data, "status", "", ResponseStatus),
    )
    care_plan = reader.get(data, "carePlan", "", _text, required=False)
    reader.done()
    rid, patient, encounter, authored, author, status = fields
    assert isinstance(rid, str) and isinstance(patient, str) and isinstance(encounter, str)
    assert isinstance(authored, datetime) and isinstance(author, str) and key is not None
    assert isinstance(status, ResponseStatus)
    return ChecklistResponse(
        rid, key, patient, encounter, authored, author, status, tuple(answers), care_plan
    )


def checklist_to_json(response: ChecklistResponse) -> dict[str, Any]:
    return {
        "id": response.id,
        "checklist": response.checklist,
        "patient": response.patient,
        "encounter": response.encounter,
        "authored": response.authored.isoformat(),
        "author": response.author,
        "status": response.status.value,
        "carePlan": response.care_plan,
        "answers": {a.item: [_encode(v) for v in a.values] for a in response.answers},
    }
