"""A transition plan <-> the transition CarePlan (profile transition-careplan).

``goal`` lists the PSFS Goals (found by patient and activity key), ``activity`` the planned services
with ``detail.goal``, ``supportingInfo`` the PaTH checklist responses (by their identifier),
``careTeam`` the hospital and municipal teams, ``author`` who made the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from adapter.domain.plan import PlannedService, PlanStatus, TransitionPlan
from adapter.fhir.errors import Code, invalid
from adapter.mapping.codes import (
    ACTIVITY_KEY_EXTENSION,
    CARE_TRANSITION_CS,
    concept,
    has_coding,
    profile,
)
from adapter.mapping.identity import (
    PATH_RESPONSE,
    TRANSITION_PLAN,
    Resolver,
    conditional_reference,
    identifier,
    identifier_value,
)

CAREPLAN_PROFILE = profile("transition-careplan")


def checklist_reference(response_id: str) -> str:
    return conditional_reference("QuestionnaireResponse", PATH_RESPONSE, response_id)


def plan_to_careplan(plan: TransitionPlan, goal_ref: Callable[[str], str]) -> dict[str, Any]:
    careplan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "meta": {"profile": [CAREPLAN_PROFILE]},
        "identifier": [identifier(TRANSITION_PLAN, plan.id)],
        "status": plan.status.value,
        "intent": "plan",
        "category": [concept(CARE_TRANSITION_CS, "transition-plan")],
        "title": plan.title,
        "subject": {"reference": plan.patient},
    }
    if plan.encounter:
        careplan["encounter"] = {"reference": plan.encounter}
    period = {"start": plan.start.isoformat()}
    if plan.end:
        period["end"] = plan.end.isoformat()
    careplan["period"] = period
    if plan.author:
        careplan["author"] = {"reference": plan.author}
    if plan.care_teams:
        careplan["careTeam"] = [{"reference": ref} for ref in plan.care_teams]
    if plan.checklists:
        careplan["supportingInfo"] = [
            {"reference": checklist_reference(c)} for c in plan.checklists
        ]
    if plan.goals:
        careplan["goal"] = [{"reference": goal_ref(key)} for key in plan.goals]
    activities = []
    for service in plan.services:
        detail: dict[str, Any] = {"status": "scheduled", "description": service.description}
        if service.goals:
            detail["goal"] = [{"reference": goal_ref(key)} for key in service.goals]
        if service.performer:
            detail["performer"] = [{"reference": service.performer}]
        activities.append({"detail": detail})
    if activities:
        careplan["activity"] = activities
    return careplan


def is_transition_careplan(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "CarePlan" and any(
        has_coding(c, CARE_TRANSITION_CS, "transition-plan") for c in resource.get("category") or []
    )


def careplan_to_plan(careplan: dict[str, Any], resources: Resolver) -> TransitionPlan:
    """The plan a transition CarePlan records; Goals and checklists resolve in ``resources``."""

    def goal_key(reference: dict[str, Any], where: str) -> str:
        goal = resources.resolve(str(reference.get("reference", "")))
        key = None
        if goal is not None:
            key = next(
                (
                    e.get("valueString")
                    for e in goal.get("extension") or []
                    if e.get("url") == ACTIVITY_KEY_EXTENSION
                ),
                None,
            )
        if not isinstance(key, str):
            raise invalid(
                f"The goal {reference.get('reference')!r} is not a PSFS Goal in this Bundle.",
                expression=where,
                forlop_code=Code.MAPPING_INPUT,
                status=422,
            )
        return key

    def checklist_id(reference: dict[str, Any], where: str) -> str:
        ref = str(reference.get("reference", ""))
        found = resources.resolve(ref)
        value = identifier_value(found, PATH_RESPONSE) if found else None
        if value is None:
            _, _, tail = ref.partition(f"?identifier={PATH_RESPONSE}|")
            value = tail or None
        if value is None:
            raise invalid(
                f"The checklist response {ref!r} has no {PATH_RESPONSE} identifier.",
                expression=where,
                forlop_code=Code.MAPPING_INPUT,
                status=422,
            )
        return value

    ident = identifier_value(careplan, TRANSITION_PLAN) or str(careplan.get("id", ""))
    period = careplan.get("period") or {}
    services = []
    for i, activity in enumerate(careplan.get("activity") or []):
        detail = activity.get("detail") or {}
        performers = detail.get("performer") or []
        services.append(
            PlannedService(
                description=str(detail.get("description", "")),
                goals=tuple(
                    goal_key(g, f"CarePlan.activity[{i}].detail.goal[{j}]")
                    for j, g in enumerate(detail.get("goal") or [])
                ),
                performer=performers[0].get("reference") if performers else None,
            )
        )
    return TransitionPlan(
        id=ident,
        patient=str(careplan["subject"]["reference"]),
        status=PlanStatus(careplan["status"]),
        start=date.fromisoformat(str(period["start"])[:10]),
        title=str(careplan.get("title", "")),
        end=date.fromisoformat(str(period["end"])[:10]) if period.get("end") else None,
        encounter=(careplan.get("encounter") or {}).get("reference"),
        author=(careplan.get("author") or {}).get("reference"),
        care_teams=tuple(str(r["reference"]) for r in careplan.get("careTeam") or []),
        goals=tuple(
            goal_key(g, f"CarePlan.goal[{i}]") for i, g in enumerate(careplan.get("goal") or [])
        ),
        services=tuple(services),
        checklists=tuple(
            checklist_id(r, f"CarePlan.supportingInfo[{i}]")
            for i, r in enumerate(careplan.get("supportingInfo") or [])
        ),
    )
