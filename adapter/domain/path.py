"""PaTH / HPH checklists (Røsstad et al., BMC Health Serv Res 2013 and 2017), in plain form.

A filled checklist is a set of answers keyed by the checklist's item ids. The items themselves
(text, type, required, follow-ups) are data: the Questionnaires in ``profiles/``. An answer value
is plain Python: ``bool``, ``int``, ``Decimal``, ``str`` (free text, a chosen option's code, or a
reference to another record), ``date`` or ``datetime``; the checklist's definition says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

AnswerValue = bool | int | Decimal | str | date | datetime


class ResponseStatus(StrEnum):
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    AMENDED = "amended"


@dataclass(frozen=True)
class Answer:
    item: str  # the checklist item id (the Questionnaire linkId)
    values: tuple[AnswerValue, ...]


@dataclass(frozen=True)
class ChecklistResponse:
    """One filled PaTH checklist for one transition of one patient."""

    id: str  # stable identity: re-mapping it changes nothing
    checklist: str  # checklist key, e.g. "discharge-call"
    patient: str
    encounter: str  # the transition the checklist belongs to
    authored: datetime
    author: str
    status: ResponseStatus
    answers: tuple[Answer, ...]
    care_plan: str | None = None

    def answer(self, item: str) -> tuple[AnswerValue, ...]:
        for answer in self.answers:
            if answer.item == item:
                return answer.values
        return ()
