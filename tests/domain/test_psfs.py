"""PSFS domain rules: checks, direction normalisation, mean, and change classification."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given

from adapter.domain.findings import DomainError, Rule
from adapter.domain.psfs import (
    Achievement,
    Activity,
    Assessment,
    Direction,
    Lifecycle,
    Respondent,
    RespondentKind,
    Series,
    Thresholds,
    check_assessment,
    classify,
)
from tests.strategies import psfs_series

PATIENT = "Patient/p1"


def assessment(
    *scores: int,
    aid: str = "a1",
    day: date = date(2026, 1, 12),
    direction: Direction = Direction.ABILITY,
    targets: dict[int, int] | None = None,
    keys: list[str] | None = None,
) -> Assessment:
    keys = keys or [f"k{i}" for i in range(len(scores))]
    return Assessment(
        id=aid,
        patient=PATIENT,
        date=day,
        direction=direction,
        respondent=Respondent(RespondentKind.PATIENT, PATIENT),
        activities=tuple(
            Activity(key, f"Aktivitet {key}", score, (targets or {}).get(i))
            for i, (key, score) in enumerate(zip(keys, scores, strict=True))
        ),
    )


def rules(findings: list) -> list[tuple[str, Rule, str]]:  # type: ignore[type-arg]
    return [(f.severity, f.rule, f.path) for f in findings]


def test_three_to_five_activities_are_clean() -> None:
    assert check_assessment(assessment(1, 2, 3)) == []
    assert check_assessment(assessment(1, 2, 3, 4, 5)) == []


def test_fewer_than_three_is_a_warning_and_none_an_error() -> None:
    assert rules(check_assessment(assessment(4, 5))) == [
        ("warning", Rule.PSFS_TOO_FEW, "activities")
    ]
    assert rules(check_assessment(assessment())) == [("error", Rule.PSFS_TOO_FEW, "activities")]


def test_more_than_five_is_an_error() -> None:
    assert rules(check_assessment(assessment(1, 2, 3, 4, 5, 6))) == [
        ("error", Rule.PSFS_TOO_MANY, "activities")
    ]


def test_score_and_target_outside_0_to_10_are_errors() -> None:
    found = check_assessment(assessment(11, 2, -1, targets={1: 12}))
    assert rules(found) == [
        ("error", Rule.PSFS_SCORE_RANGE, "activities[0].score"),
        ("error", Rule.PSFS_SCORE_RANGE, "activities[1].target"),
        ("error", Rule.PSFS_SCORE_RANGE, "activities[2].score"),
    ]


def test_empty_text_and_duplicate_keys_are_errors() -> None:
    base = assessment(1, 2, 3, keys=["a", "a", "b"])
    blank = Activity("b", "  ", 3)
    changed = Assessment(**{**base.__dict__, "activities": (*base.activities[:2], blank)})
    assert rules(check_assessment(changed)) == [
        ("error", Rule.PSFS_DUPLICATE_ACTIVITY, "activities[1].key"),
        ("error", Rule.PSFS_EMPTY_ACTIVITY, "activities[2].text"),
    ]


def test_difficulty_scores_are_turned_to_ability() -> None:
    hard = assessment(0, 10, 3, direction=Direction.DIFFICULTY)
    assert hard.ability_scores() == {"k0": 10, "k1": 0, "k2": 7}
    assert hard.mean() == Decimal("5.67")


def test_mean_rounds_half_up() -> None:
    assert assessment(1, 2).mean() == Decimal("1.50")
    assert assessment(1, 1, 2).mean(places=1) == Decimal("1.3")
    assert assessment(0, 0, 1).mean(places=2) == Decimal("0.33")
    assert assessment(2, 2, 1).mean(places=2) == Decimal("1.67")


@pytest.mark.parametrize(
    ("scores", "target", "expected"),
    [
        ([4], None, Achievement.IN_PROGRESS),
        ([4], 2, Achievement.IN_PROGRESS),
        ([4, 7], None, Achievement.IMPROVING),
        ([4, 6], None, Achievement.NO_CHANGE),
        ([4, 1], None, Achievement.WORSENING),
        ([4, 2], None, Achievement.NO_CHANGE),
        ([3, 7], 7, Achievement.ACHIEVED),
        ([3, 7, 8], 7, Achievement.SUSTAINING),
        ([3, 7, 5], 7, Achievement.NO_CHANGE),
        ([3, 6], 7, Achievement.IMPROVING),
    ],
)
def test_classification_follows_the_domain_thresholds(
    scores: list[int], target: int | None, expected: Achievement
) -> None:
    assert classify(scores, target) is expected


def test_thresholds_are_data_not_constants() -> None:
    assert classify([4, 6], None, Thresholds(activity_change=2)) is Achievement.IMPROVING


def test_series_progress_and_lifecycle_of_dropped_activities() -> None:
    baseline = assessment(2, 3, 5, keys=["stairs", "walk", "cook"], targets={0: 7})
    later = assessment(
        7, 4, aid="a2", day=date(2026, 4, 10), keys=["stairs", "shop"], targets={0: 7}
    )
    progress = {p.key: p for p in Series.of([later, baseline]).progress()}
    assert progress["stairs"].achievement is Achievement.ACHIEVED
    assert progress["stairs"].lifecycle is Lifecycle.ACTIVE
    assert progress["walk"].lifecycle is Lifecycle.CANCELLED
    assert progress["shop"].achievement is Achievement.IN_PROGRESS
    assert progress["shop"].start == date(2026, 4, 10)
    assert [s for _, s in progress["stairs"].scores] == [2, 7]


def test_achieved_activity_no_longer_assessed_is_completed() -> None:
    baseline = assessment(2, 3, 5, keys=["stairs", "walk", "cook"], targets={0: 7})
    reached = assessment(8, 3, 5, aid="a2", day=date(2026, 3, 1), keys=["stairs", "walk", "cook"])
    dropped = assessment(3, 5, 4, aid="a3", day=date(2026, 5, 1), keys=["walk", "cook", "x"])
    progress = {p.key: p for p in Series.of([baseline, reached, dropped]).progress()}
    assert progress["stairs"].lifecycle is Lifecycle.COMPLETED


def test_series_of_several_patients_is_refused() -> None:
    other = Assessment(**{**assessment(1, 2, 3).__dict__, "patient": "Patient/p2", "id": "b"})
    with pytest.raises(DomainError) as caught:
        Series.of([assessment(1, 2, 3), other])
    assert caught.value.findings[0].rule is Rule.PSFS_SERIES


def test_mean_change_uses_the_mean_threshold() -> None:
    low = assessment(2, 2, 2)
    high = assessment(4, 4, 5, aid="a2", day=date(2026, 3, 1))
    assert Series.of([low, high]).mean_change() is Achievement.IMPROVING
    assert Series.of([low]).mean_change() is Achievement.IN_PROGRESS


@given(psfs_series())
def test_every_series_yields_a_consistent_achievement(series: Series) -> None:
    latest = series.assessments[-1]
    for progress in series.progress():
        scores = [s for _, s in progress.scores]
        status = progress.achievement
        assert all(0 <= s <= 10 for s in scores)
        if len(scores) == 1:
            assert status is Achievement.IN_PROGRESS
            continue
        reached = progress.target is not None and scores[-1] >= progress.target
        assert (status in (Achievement.ACHIEVED, Achievement.SUSTAINING)) == reached
        if not reached:
            change = scores[-1] - scores[0]
            assert (status is Achievement.IMPROVING) == (change >= 3)
            assert (status is Achievement.WORSENING) == (change <= -3)
        in_latest = any(a.key == progress.key for a in latest.activities)
        assert (progress.lifecycle is Lifecycle.ACTIVE) == in_latest
