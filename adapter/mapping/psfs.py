"""PSFS both ways: a series (and its plan) <-> a transaction Bundle; SDC-style ``$extract``.

``series_to_bundle`` writes every assessment as its QuestionnaireResponse plus derived Goals, score
Observations and Provenance; ``extract`` does the same for one response, with the earlier responses
of the series as history so Goals get the right achievementStatus. All entries are conditional on
stable identifiers: extracting the same response twice changes nothing, a reassessment appends
Observations and updates Goals (SDC "Observation-based extraction"; DESIGN.md "The translations").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from adapter.domain.findings import DomainError
from adapter.domain.plan import TransitionPlan
from adapter.domain.psfs import Series, Thresholds, check_assessment
from adapter.fhir.errors import Code, FhirError, Issue, invalid
from adapter.mapping.bundle import TransactionBuilder, full_url_for
from adapter.mapping.codes import PSFS_QUESTIONNAIRE
from adapter.mapping.identity import (
    PSFS_ACTIVITY,
    PSFS_ASSESSMENT,
    TRANSITION_PLAN,
    Resolver,
    conditional_reference,
)
from adapter.mapping.plan import careplan_to_plan, is_transition_careplan, plan_to_careplan
from adapter.mapping.psfs_resources import (
    goal_for,
    goal_identifier,
    observation_reference,
    observations_for,
    provenance_for,
)
from adapter.mapping.psfs_response import (
    assessment_to_response,
    findings_as_issues,
    is_psfs_response,
    response_to_assessment,
)
from adapter.mapping.tables import psfs_thresholds
from adapter.registry import Registry, default_registry


def _response_reference(response: dict[str, Any]) -> str:
    ident = response.get("identifier")
    if isinstance(ident, dict) and ident.get("system") == PSFS_ASSESSMENT:
        return conditional_reference("QuestionnaireResponse", PSFS_ASSESSMENT, str(ident["value"]))
    return f"QuestionnaireResponse/{response['id']}"


def _put_response(builder: TransactionBuilder, response: dict[str, Any]) -> str:
    ident = response.get("identifier")
    if isinstance(ident, dict) and ident.get("system") == PSFS_ASSESSMENT:
        return builder.put_by_identifier(response, PSFS_ASSESSMENT, str(ident["value"]))
    return builder.put_by_id(response)


def _build(
    series: Series,
    responses: dict[str, dict[str, Any]],
    emitted: set[str],
    thresholds: Thresholds,
    plan: TransitionPlan | None = None,
) -> dict[str, Any]:
    builder = TransactionBuilder()
    response_refs = {
        a.id: _put_response(builder, responses[a.id])
        if a.id in emitted
        else _response_reference(responses[a.id])
        for a in series.assessments
    }

    def goal_ref(key: str) -> str:
        return full_url_for("Goal", PSFS_ACTIVITY, goal_identifier(series.patient, key))

    outcome_refs: dict[str, list[str]] = defaultdict(list)
    targets: dict[str, list[str]] = defaultdict(list)
    for assessment in series.assessments:
        for key, derived in observations_for(
            assessment, response_refs[assessment.id], goal_ref, thresholds
        ):
            if assessment.id in emitted:
                ref = builder.put_by_identifier(derived.resource, derived.system, derived.value)
                targets[assessment.id].append(ref)
            else:
                ref = observation_reference(derived)
            if key is not None:
                outcome_refs[key].append(ref)
    for progress in series.progress(thresholds):
        goal = goal_for(series, progress, outcome_refs[progress.key])
        ref = builder.put_by_identifier(goal.resource, goal.system, goal.value)
        for assessment in series.assessments:
            if assessment.id in emitted and any(
                a.key == progress.key for a in assessment.activities
            ):
                targets[assessment.id].append(ref)
    if plan is not None:
        careplan = plan_to_careplan(plan, goal_ref)
        builder.put_by_identifier(careplan, TRANSITION_PLAN, plan.id)
    for assessment in series.assessments:
        if assessment.id in emitted:
            builder.put_by_id(
                provenance_for(assessment, response_refs[assessment.id], targets[assessment.id])
            )
    return builder.bundle()


def _checked(series: Series, thresholds: Thresholds) -> Series:
    findings = series.check(thresholds)
    if any(f.severity == "error" for f in findings):
        raise FhirError(422, findings_as_issues(findings))
    return series


def series_to_bundle(
    series: Series, plan: TransitionPlan | None = None, registry: Registry | None = None
) -> dict[str, Any]:
    """Domain -> FHIR: a transaction Bundle for the whole series (and the plan, when given)."""
    registry = registry or default_registry()
    thresholds = psfs_thresholds(registry)
    _checked(series, thresholds)
    questionnaire = registry.require(PSFS_QUESTIONNAIRE)
    responses = {a.id: assessment_to_response(a, questionnaire) for a in series.assessments}
    return _build(series, responses, set(responses), thresholds, plan)


def extract(
    response: dict[str, Any],
    previous: Sequence[dict[str, Any]] = (),
    registry: Registry | None = None,
) -> tuple[dict[str, Any], list[Issue]]:
    """QuestionnaireResponse -> transaction Bundle; ``previous``: earlier responses of the series.

    Returns the Bundle and the warnings found (e.g. fewer than three activities).
    """
    registry = registry or default_registry()
    thresholds = psfs_thresholds(registry)
    if not is_psfs_response(response):
        raise invalid(
            "Only responses to the PSFS Questionnaire can be extracted to Goals and Observations.",
            expression="QuestionnaireResponse.questionnaire",
            forlop_code=Code.EXTRACT_UNSUPPORTED,
            code="not-supported",
            status=422,
        )
    current = response_to_assessment(response)
    issues = findings_as_issues(check_assessment(current, thresholds), response)
    if any(i.is_error for i in issues):
        raise FhirError(422, issues)
    earlier = [response_to_assessment(r) for r in previous]
    try:
        series = Series.of([*earlier, current])
    except DomainError as exc:
        raise FhirError(422, findings_as_issues(list(exc.findings))) from None
    responses = {r_id: r for r_id, r in zip([a.id for a in earlier], previous, strict=True)}
    responses[current.id] = response
    return _build(series, responses, {current.id}, thresholds), issues


def bundle_to_series(bundle: dict[str, Any]) -> tuple[Series, TransitionPlan | None]:
    """FHIR -> domain: the PSFS series recorded by the Bundle's responses, and its plan."""
    resources = Resolver.of_bundle(bundle)
    responses = [r for r in resources if is_psfs_response(r)]
    if not responses:
        raise invalid(
            "The Bundle holds no response to the PSFS Questionnaire.",
            expression="Bundle.entry",
            forlop_code=Code.MAPPING_INPUT,
            status=422,
        )
    try:
        series = Series.of(response_to_assessment(r) for r in responses)
    except DomainError as exc:
        raise FhirError(422, findings_as_issues(list(exc.findings))) from None
    careplans = [c for c in resources if is_transition_careplan(c)]
    plan = careplan_to_plan(careplans[0], resources) if careplans else None
    return series, plan
