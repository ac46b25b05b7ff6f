"""What a conformance run found (the information of an R4 TestReport, kept as plain data).

Every action gets a result: an operation the request it sent and what came back, an assert what
it expected and what it found. Results roll up into tests, scripts and the run; the reports in
:mod:`adapter.conformance.reports` render them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from adapter.fhir.errors import Issue

Status = Literal["pass", "warning", "fail", "error", "skip"]
PhaseKind = Literal["setup", "test", "teardown"]

_SEVERITY: dict[Status, int] = {"skip": 0, "pass": 1, "warning": 2, "fail": 3, "error": 4}


def worst(statuses: Iterable[Status]) -> Status:
    """The status that sums up several: error > fail > warning > pass > skip (skip if none)."""
    return max(statuses, key=_SEVERITY.__getitem__, default="skip")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]  # as sent, with credentials masked
    body: bytes | None = None
    note: str = ""  # e.g. why a fixture body was sent as written


@dataclass(frozen=True)
class HttpResponse:
    status: int
    reason: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes
    resource: dict[str, Any] | None
    parse_error: str | None
    elapsed_ms: float

    @property
    def media_type(self) -> str:
        return media_type(self.headers.get("content-type"))


@dataclass(frozen=True)
class Exchange:
    """One operation on the wire: the request and the response, or why there is none."""

    request: HttpRequest
    response: HttpResponse | None = None
    error: str | None = None


@dataclass(frozen=True)
class Source:
    """What an assert or a variable reads: a fixture, a request or a response (TestScript's
    sourceId), with its body, headers and, for a response, its status."""

    name: str
    resource: dict[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    status: int | None = None
    reason: str = ""
    content_type: str | None = None
    parse_error: str | None = None
    request: HttpRequest | None = None
    raw: bytes | None = None  # a fixture body that is not FHIR, sent as written
    note: str = ""


@dataclass(frozen=True)
class ActionResult:
    kind: Literal["operation", "assert"]
    title: str
    where: str
    status: Status
    message: str = ""
    label: str = ""
    expected: str = ""
    actual: str = ""
    exchange: Exchange | None = None


@dataclass
class PhaseResult:
    kind: PhaseKind
    name: str
    description: str = ""
    actions: list[ActionResult] = field(default_factory=list)
    note: str = ""  # why it did not run, when it did not
    elapsed_s: float = 0.0

    @property
    def status(self) -> Status:
        if not self.actions:
            return "skip" if self.note else "pass"
        statuses = [a.status for a in self.actions]
        if all(s == "skip" for s in statuses):
            return "skip"
        return worst(s for s in statuses if s != "skip")

    @property
    def problems(self) -> list[ActionResult]:
        return [a for a in self.actions if a.status in ("fail", "error")]


@dataclass
class ScriptResult:
    suite: str
    script_id: str
    title: str
    path: Path
    description: str = ""
    problems: tuple[Issue, ...] = ()  # why the script could not be run at all
    phases: list[PhaseResult] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def status(self) -> Status:
        if self.problems:
            return "error"
        return worst(p.status for p in self.phases)

    @property
    def tests(self) -> list[PhaseResult]:
        return [p for p in self.phases if p.kind == "test"]


@dataclass
class RunResult:
    base_url: str
    started: datetime
    scripts: list[ScriptResult] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing could not be run (warnings allowed)."""
        return all(s.status in ("pass", "warning", "skip") for s in self.scripts)

    def counts(self) -> dict[Status, int]:
        """How many tests (and setup/teardown phases that went wrong) ended in each status."""
        counts: dict[Status, int] = {s: 0 for s in _SEVERITY}
        for script in self.scripts:
            if script.problems:
                counts["error"] += 1
            for phase in script.phases:
                if phase.kind == "test" or phase.status in ("fail", "error", "warning"):
                    counts[phase.status] += 1
        return counts
