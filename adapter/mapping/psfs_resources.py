"""PSFS series <-> Goal + score Observation + Provenance (DESIGN.md "The translations").

One Goal per activity (identified by patient and activity key, so a reassessment finds it), one
Observation per activity per assessment plus one for the mean (identified by assessment and
activity), and one Provenance per extracted assessment. Goals carry the series' verdict:
``achievementStatus`` from the thresholds in ``mappings/psfs.json`` and ``lifecycleStatus`` active,
or completed/cancelled once an activity is no longer assessed. Nothing is ever deleted.

The inverse, :func:`progress_from_resources`, gives a municipal system the plain progress table
from the Goals and Observations it pulled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from adapter.domain.psfs import (
    Achievement,
    ActivityProgress,
    Assessment,
    Lifecycle,
    Series,
    Thresholds,
)
from adapter.mapping.codes import (
    ACTIVITY_KEY_EXTENSION,
    GOAL_ACHIEVEMENT_CS,
    OBSERVATION_CATEGORY_CS,
    PROVENANCE_PARTICIPANT_CS,
    PSFS_CS,
    PSFS_DIRECTION_CS,
    UCUM,
    coding,
    concept,
    has_coding,
    profile,
)
from adapter.mapping.identity import (
    PSFS_ACTIVITY,
    PSFS_SCORE,
    Resolver,
    conditional_reference,
    identifier,
    stable_uuid,
)

GOAL_PROFILE = profile("psfs-goal")
SCORE_PROFILE = profile("psfs-score-observation")


@dataclass(frozen=True)
class Derived:
    """A resource derived from a series, with the identifier it is matched on."""

    resource: dict[str, Any]
    system: str
    value: str

    @property
    def resource_type(self) -> str:
        return str(self.resource["resourceType"])


def goal_identifier(patient: str, key: str) -> str:
    return stable_uuid("psfs-goal", patient, key)


def score_identifier(assessment_id: str, key: str) -> str:
    return stable_uuid("psfs-score", assessment_id, key)


def mean_identifier(assessment_id: str) -> str:
    return stable_uuid("psfs-mean", assessment_id)


def _direction(assessment: Assessment) -> dict[str, Any]:
    return {
        "code": concept(PSFS_CS, "direction"),
        "valueCodeableConcept": concept(PSFS_DIRECTION_CS, assessment.direction.value),
    }


def _score_base(assessment: Assessment, ident: str, code: str, text: str) -> dict[str, Any]:
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "meta": {"profile": [SCORE_PROFILE]},
        "identifier": [identifier(PSFS_SCORE, ident)],
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY_CS, "survey")],
        "code": {"coding": [coding(PSFS_CS, code)], "text": text},
        "subject": {"reference": assessment.patient},
    }
    if assessment.encounter:
        observation["encounter"] = {"reference": assessment.encounter}
    return observation


def observations_for(
    assessment: Assessment,
    response_ref: str,
    goal_ref: Callable[[str], str],
    thresholds: Thresholds,
) -> list[tuple[str | None, Derived]]:
    """(activity key, Observation) for one assessment: one per activity, then the mean (None)."""
    derived: list[tuple[str | None, Derived]] = []
    performer = [{"reference": assessment.assessor}] if assessment.assessor else []
    for activity in assessment.activities:
        ident = score_identifier(assessment.id, activity.key)
        observation = _score_base(assessment, ident, "activity-score", activity.text)
        observation["focus"] = [{"reference": goal_ref(activity.key)}]
        observation["effectiveDateTime"] = assessment.date.isoformat()
        if performer:
            observation["performer"] = performer
        observation["valueInteger"] = assessment.ability(activity.score)
        observation["derivedFrom"] = [{"reference": response_ref}]
        observation["component"] = [
            {"code": concept(PSFS_CS, "original-score"), "valueInteger": activity.score},
            _direction(assessment),
        ]
        derived.append((activity.key, Derived(observation, PSFS_SCORE, ident)))
    ident = mean_identifier(assessment.id)
    mean = _score_base(assessment, ident, "mean-score", "PSFS")
    mean["effectiveDateTime"] = assessment.date.isoformat()
    if performer:
        mean["performer"] = performer
    mean["valueQuantity"] = {
        "value": assessment.mean(thresholds.mean_places),
        "unit": "{score}",
        "system": UCUM,
        "code": "{score}",
    }
    mean["derivedFrom"] = [{"reference": response_ref}]
    mean["component"] = [_direction(assessment)]
    derived.append((None, Derived(mean, PSFS_SCORE, ident)))
    return derived


def goal_for(series: Series, progress: ActivityProgress, observation_refs: list[str]) -> Derived:
    """The Goal of one activity, carrying the series' verdict on it."""
    first = next(a for a in series.assessments if any(x.key == progress.key for x in a.activities))
    ident = goal_identifier(series.patient, progress.key)
    goal: dict[str, Any] = {
        "resourceType": "Goal",
        "meta": {"profile": [GOAL_PROFILE]},
        "extension": [{"url": ACTIVITY_KEY_EXTENSION, "valueString": progress.key}],
        "identifier": [identifier(PSFS_ACTIVITY, ident)],
        "lifecycleStatus": progress.lifecycle.value,
        "achievementStatus": concept(GOAL_ACHIEVEMENT_CS, progress.achievement.value),
        "category": [concept(PSFS_CS, "psfs-activity")],
        "description": {"text": progress.text},
        "subject": {"reference": series.patient},
        "startDate": progress.start.isoformat(),
    }
    if progress.target is not None:
        goal["target"] = [
            {"measure": concept(PSFS_CS, "activity-score"), "detailInteger": progress.target}
        ]
    goal["expressedBy"] = {"reference": first.respondent.reference}
    if observation_refs:
        goal["outcomeReference"] = [{"reference": ref} for ref in observation_refs]
    return Derived(goal, PSFS_ACTIVITY, ident)


def provenance_for(
    assessment: Assessment, response_ref: str, target_refs: list[str]
) -> dict[str, Any]:
    """Who said what, when: links every derived resource to the response it came from.

    ``recorded`` is the assessment day (not the wall clock) so re-extraction changes nothing.
    """
    who = assessment.assessor or assessment.respondent.reference
    return {
        "resourceType": "Provenance",
        "id": stable_uuid("psfs-provenance", assessment.id),
        "target": [{"reference": ref} for ref in target_refs],
        "occurredDateTime": assessment.date.isoformat(),
        "recorded": f"{assessment.date.isoformat()}T00:00:00Z",
        "agent": [
            {"type": concept(PROVENANCE_PARTICIPANT_CS, "author"), "who": {"reference": who}}
        ],
        "entity": [{"role": "source", "what": {"reference": response_ref}}],
    }


def observation_reference(derived: Derived) -> str:
    return conditional_reference(derived.resource_type, derived.system, derived.value)


# --- inverse -------------------------------------------------------------------------------------


def _extension(resource: dict[str, Any], url: str) -> Any:
    for ext in resource.get("extension") or []:
        if ext.get("url") == url:
            return ext.get("valueString")
    return None


def _achievement_code(goal: dict[str, Any]) -> str:
    for code in Achievement:
        if has_coding(goal.get("achievementStatus"), GOAL_ACHIEVEMENT_CS, code.value):
            return code.value
    return Achievement.IN_PROGRESS.value


def progress_from_resources(resources: Resolver) -> list[ActivityProgress]:
    """Each PSFS Goal with its score series, as a municipal system pulled them."""
    goals = [
        g
        for g in resources.of_type("Goal")
        if any(has_coding(c, PSFS_CS, "psfs-activity") for c in g.get("category") or [])
    ]
    scores: dict[int, list[tuple[date, int]]] = {id(g): [] for g in goals}
    for observation in resources.of_type("Observation"):
        if not has_coding(observation.get("code"), PSFS_CS, "activity-score"):
            continue
        for focus in observation.get("focus") or []:
            goal = resources.resolve(focus.get("reference", ""))
            if goal is not None and id(goal) in scores:
                day = date.fromisoformat(str(observation["effectiveDateTime"])[:10])
                scores[id(goal)].append((day, int(observation["valueInteger"])))
    out = []
    for goal in goals:
        targets = goal.get("target") or []
        target = targets[0].get("detailInteger") if targets else None
        out.append(
            ActivityProgress(
                key=str(_extension(goal, ACTIVITY_KEY_EXTENSION)),
                text=str(goal["description"]["text"]),
                start=date.fromisoformat(str(goal["startDate"])),
                scores=tuple(sorted(scores[id(goal)])),
                target=target if isinstance(target, int) else None,
                achievement=Achievement(_achievement_code(goal)),
                lifecycle=Lifecycle(goal["lifecycleStatus"]),
            )
        )
    return out


def mean_scores(resources: Resolver) -> list[tuple[date, Decimal]]:
    """The mean-score series from pulled Observations, oldest first."""
    return sorted(
        (
            date.fromisoformat(str(o["effectiveDateTime"])[:10]),
            Decimal(str(o["valueQuantity"]["value"])),
        )
        for o in resources.of_type("Observation")
        if has_coding(o.get("code"), PSFS_CS, "mean-score")
    )
