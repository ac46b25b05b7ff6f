"""The care plan of a transition (the HPH model's daily care plan, DESIGN.md "The translations").

It names the patient, the period, who takes part (hospital and municipal health and social care),
the PSFS activities it works towards (by activity key), the planned services, and the PaTH
checklists that support it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class PlanStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    COMPLETED = "completed"
    REVOKED = "revoked"


@dataclass(frozen=True)
class PlannedService:
    """A planned service or action step, e.g. home nursing twice daily, working towards goals."""

    description: str
    goals: tuple[str, ...] = ()  # PSFS activity keys
    performer: str | None = None  # who delivers it (an organisation or team reference)


@dataclass(frozen=True)
class TransitionPlan:
    id: str  # stable identity
    patient: str
    status: PlanStatus
    start: date
    title: str
    end: date | None = None
    encounter: str | None = None
    author: str | None = None
    care_teams: tuple[str, ...] = ()
    goals: tuple[str, ...] = ()  # PSFS activity keys the plan works towards
    services: tuple[PlannedService, ...] = ()
    checklists: tuple[str, ...] = ()  # ids of the supporting PaTH checklist responses
