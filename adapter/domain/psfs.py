"""PSFS: the Patient-Specific Functional Scale (Stratford et al., Physiotherapy Canada 1995).

The respondent names the activities that matter to them and scores each 0-10. Norwegian versions
differ in direction, so every assessment records its direction and forlop computes on the *ability*
direction (0 = unable, 10 = able as before), keeping the answer as given (DOMAIN.md, "PSFS").

Change over a series is classified with thresholds the improvement teams may change
(``mappings/psfs.json``): the codes are FHIR's goal-achievement codes, but nothing here imports
FHIR.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from adapter.domain.findings import Finding, Rule, error, raise_on_errors, warning

MIN_SCORE = 0
MAX_SCORE = 10


class Direction(StrEnum):
    ABILITY = "ability"  # 0 = unable to perform, 10 = able as before the problem
    DIFFICULTY = "difficulty"  # 0 = no problem, 10 = cannot do it (Moseng 2013)


class RespondentKind(StrEnum):
    PATIENT = "patient"
    CAREGIVER = "caregiver"


class Achievement(StrEnum):
    """The subset of FHIR goal-achievement codes a PSFS series can yield."""

    IN_PROGRESS = "in-progress"
    IMPROVING = "improving"
    WORSENING = "worsening"
    NO_CHANGE = "no-change"
    ACHIEVED = "achieved"
    SUSTAINING = "sustaining"


class Lifecycle(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Thresholds:
    """Change thresholds (DOMAIN.md decision; data in mappings/psfs.json)."""

    activity_change: int = 3  # minimal detectable change for one activity (original form)
    mean_change: Decimal = Decimal("2")  # minimal detectable change for the mean score
    min_activities: int = 3
    max_activities: int = 5
    mean_places: int = 2


@dataclass(frozen=True)
class Respondent:
    kind: RespondentKind
    reference: str  # opaque reference to the person, e.g. "Patient/ola" or "RelatedPerson/kari"


@dataclass(frozen=True)
class Activity:
    key: str  # stable across assessments; the same key is the same activity
    text: str  # in the respondent's own words
    score: int  # as answered, in the assessment's direction
    target: int | None = None  # wanted score, in the assessment's direction


@dataclass(frozen=True)
class Assessment:
    id: str  # stable identity of this assessment: re-mapping it changes nothing
    patient: str
    date: date
    direction: Direction
    respondent: Respondent
    activities: tuple[Activity, ...]
    assessor: str | None = None
    encounter: str | None = None

    def ability(self, score: int) -> int:
        """A score of this assessment in the ability direction."""
        return score if self.direction is Direction.ABILITY else MAX_SCORE - score

    def ability_scores(self) -> dict[str, int]:
        return {a.key: self.ability(a.score) for a in self.activities}

    def ability_target(self, activity: Activity) -> int | None:
        return None if activity.target is None else self.ability(activity.target)

    def mean(self, places: int = 2) -> Decimal:
        """Summary score: mean of the activity scores (ability direction), rounded half up."""
        scores = list(self.ability_scores().values())
        mean = Decimal(sum(scores)) / Decimal(len(scores))
        return mean.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def check_assessment(
    assessment: Assessment, thresholds: Thresholds = Thresholds(), path: str = ""
) -> list[Finding]:
    """Every rule the assessment breaks; fewer than the programme's minimum is only a warning."""
    findings: list[Finding] = []
    count = len(assessment.activities)
    if count > thresholds.max_activities:
        findings.append(
            error(
                Rule.PSFS_TOO_MANY,
                f"{path}activities",
                f"PSFS allows at most {thresholds.max_activities} activities; "
                f"this assessment has {count}.",
            )
        )
    elif count < thresholds.min_activities:
        findings.append(
            (error if count == 0 else warning)(
                Rule.PSFS_TOO_FEW,
                f"{path}activities",
                f"The programme asks for {thresholds.min_activities}-{thresholds.max_activities} "
                f"activities; this assessment has {count}.",
            )
        )
    seen: set[str] = set()
    for i, activity in enumerate(assessment.activities):
        where = f"{path}activities[{i}]"
        if not activity.text.strip():
            findings.append(
                error(Rule.PSFS_EMPTY_ACTIVITY, f"{where}.text", "An activity needs a text.")
            )
        for name, value in (("score", activity.score), ("target", activity.target)):
            if value is not None and not (MIN_SCORE <= value <= MAX_SCORE):
                findings.append(
                    error(
                        Rule.PSFS_SCORE_RANGE,
                        f"{where}.{name}",
                        f"A PSFS {name} is a whole number from 0 to 10, not {value}.",
                    )
                )
        if activity.key in seen:
            findings.append(
                error(
                    Rule.PSFS_DUPLICATE_ACTIVITY,
                    f"{where}.key",
                    f"The activity '{activity.key}' appears twice in one assessment.",
                )
            )
        seen.add(activity.key)
    return findings


@dataclass(frozen=True)
class ActivityProgress:
    """One activity followed through the series, in the ability direction."""

    key: str
    text: str
    start: date
    scores: tuple[tuple[date, int], ...]
    target: int | None
    achievement: Achievement
    lifecycle: Lifecycle


@dataclass(frozen=True)
class Series:
    """One person's PSFS assessments, baseline first."""

    patient: str
    assessments: tuple[Assessment, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, assessments: Iterable[Assessment]) -> Series:
        ordered = tuple(sorted(assessments, key=lambda a: (a.date, a.id)))
        if not ordered:
            raise_on_errors(
                [error(Rule.PSFS_SERIES, "assessments", "A series needs one assessment.")]
            )
        patients = {a.patient for a in ordered}
        if len(patients) > 1:
            raise_on_errors(
                [
                    error(
                        Rule.PSFS_SERIES,
                        "assessments",
                        "All assessments of a series must be about the same patient; "
                        f"found {len(patients)} different patients.",
                    )
                ]
            )
        return cls(ordered[0].patient, ordered)

    def check(self, thresholds: Thresholds = Thresholds()) -> list[Finding]:
        findings: list[Finding] = []
        ids: set[str] = set()
        for i, assessment in enumerate(self.assessments):
            findings += check_assessment(assessment, thresholds, f"assessments[{i}].")
            if assessment.id in ids:
                findings.append(
                    error(
                        Rule.PSFS_SERIES,
                        f"assessments[{i}].id",
                        f"The assessment id '{assessment.id}' is used twice.",
                    )
                )
            ids.add(assessment.id)
        return findings

    def keys(self) -> list[str]:
        """Activity keys in order of first mention."""
        keys: list[str] = []
        for assessment in self.assessments:
            keys += [a.key for a in assessment.activities if a.key not in keys]
        return keys

    def progress(self, thresholds: Thresholds = Thresholds()) -> list[ActivityProgress]:
        return [self._progress_of(key, thresholds) for key in self.keys()]

    def _progress_of(self, key: str, thresholds: Thresholds) -> ActivityProgress:
        scores: list[tuple[date, int]] = []
        text = ""
        target: int | None = None
        for assessment in self.assessments:
            for activity in assessment.activities:
                if activity.key == key:
                    scores.append((assessment.date, assessment.ability(activity.score)))
                    text = activity.text
                    # A target, once set, holds until a later assessment sets another.
                    if activity.target is not None:
                        target = assessment.ability_target(activity)
        achievement = classify([s for _, s in scores], target, thresholds)
        latest = self.assessments[-1]
        if any(a.key == key for a in latest.activities):
            lifecycle = Lifecycle.ACTIVE
        elif achievement in (Achievement.ACHIEVED, Achievement.SUSTAINING):
            lifecycle = Lifecycle.COMPLETED
        else:
            lifecycle = Lifecycle.CANCELLED
        return ActivityProgress(
            key, text, scores[0][0], tuple(scores), target, achievement, lifecycle
        )

    def mean_change(self, thresholds: Thresholds = Thresholds()) -> Achievement:
        """The mean score's change from baseline, classified with the mean threshold."""
        means = [a.mean(thresholds.mean_places) for a in self.assessments]
        if len(means) < 2:
            return Achievement.IN_PROGRESS
        change = means[-1] - means[0]
        if change >= thresholds.mean_change:
            return Achievement.IMPROVING
        if change <= -thresholds.mean_change:
            return Achievement.WORSENING
        return Achievement.NO_CHANGE


def classify(
    scores: Sequence[int], target: int | None, thresholds: Thresholds = Thresholds()
) -> Achievement:
    """Achievement of one activity from its ability scores, baseline first (DOMAIN.md decision).

    Before any reassessment: in-progress. With a target: reaching it is achieved, staying at or
    above it at the next assessment sustaining. Otherwise the change from baseline: at least the
    threshold up is improving, down worsening, else no-change.
    """
    if len(scores) < 2:
        return Achievement.IN_PROGRESS
    latest = scores[-1]
    if target is not None and latest >= target:
        return Achievement.SUSTAINING if scores[-2] >= target else Achievement.ACHIEVED
    change = latest - scores[0]
    if change >= thresholds.activity_change:
        return Achievement.IMPROVING
    if change <= -thresholds.activity_change:
        return Achievement.WORSENING
    return Achievement.NO_CHANGE
