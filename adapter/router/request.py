"""A FHIR interaction as data (FHIR R4 §3.1.0 RESTful API): what was asked, and what to answer.

HTTP routes and Bundle entries both become a :class:`FhirRequest`; handlers return an
:class:`Outcome` that the REST layer renders as a response and the Bundle engine as an
``entry.response``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from adapter.fhir.errors import Code, Issue, invalid
from adapter.security.tokens import Principal
from adapter.store.repository import StoredResource

if TYPE_CHECKING:
    from adapter.router.auditing import AuditTrail

ReturnPreference = Literal["minimal", "representation", "OperationOutcome"]


@dataclass(frozen=True)
class FhirRequest:
    method: str
    resource_type: str | None = None
    id: str | None = None
    version_id: str | None = None
    query: Sequence[tuple[str, str]] = ()
    body: Any = None
    if_match: str | None = None
    if_none_exist: str | None = None
    prefer_return: ReturnPreference | None = None
    prefer_handling: Literal["strict", "lenient"] | None = None
    base_url: str = ""
    # "Type/id" of resources a transaction writes: references to them are valid before they exist.
    pending: frozenset[str] = frozenset()
    # Who asks (from the bearer token, or the stand-in of --insecure-dev). None only for callers
    # inside this process (the PLO importer): they are trusted and not audited.
    principal: Principal | None = None
    # The AuditEvent of the HTTP interaction this request belongs to (one per interaction, a
    # Bundle's entries included).
    trail: AuditTrail | None = None
    # The body's validation issues when they were found before the write transaction (a
    # transaction Bundle's entries are validated before any lock is taken); None: validate it.
    validated: tuple[Issue, ...] | None = None

    @property
    def conditional(self) -> bool:
        """A type-level write with search criteria (conditional update/delete)."""
        return self.id is None and bool(self.query)


@dataclass
class Outcome:
    status: int
    resource: dict[str, Any] | None = None
    stored: StoredResource | None = None
    issues: list[Issue] = field(default_factory=list)

    def headers(self, base_url: str) -> dict[str, str]:
        if self.stored is None:
            return {}
        stored = self.stored
        headers = {
            "ETag": etag(stored.version_id),
            "Last-Modified": _http_date(stored.last_updated),
        }
        if self.status == 201:
            headers["Location"] = location(base_url, stored)
        return headers


def etag(version_id: int) -> str:
    return f'W/"{version_id}"'


def location(base_url: str, stored: StoredResource) -> str:
    return f"{base_url}/{stored.resource_type}/{stored.id}/_history/{stored.version_id}"


def last_modified(stored: StoredResource) -> str:
    """FHIR ``instant`` text of when the version was written (UTC, milliseconds)."""
    moment = stored.last_updated.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


_ETAG = re.compile(r'^(?:W/)?"?(\d+)"?$')


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match: W/"n"`` header names; 400 when it names none."""
    if value is None:
        return None
    match = _ETAG.match(value.strip())
    if not match:
        raise invalid(
            f'If-Match must be a version ETag like W/"3", not {value!r}.',
            forlop_code=Code.PRECONDITION_FAILED,
        )
    return int(match[1])


def parse_prefer(value: str | None) -> tuple[ReturnPreference | None, str | None]:
    """(return, handling) from a ``Prefer`` header; unknown values are ignored (RFC 7240)."""
    wanted: ReturnPreference | None = None
    handling: str | None = None
    for part in (value or "").split(","):
        key, _, raw = part.strip().partition("=")
        raw = raw.strip().strip('"')
        if key.strip() == "return" and raw in ("minimal", "representation", "OperationOutcome"):
            wanted = raw  # type: ignore[assignment]
        elif key.strip() == "handling" and raw in ("strict", "lenient"):
            handling = raw
    return wanted, handling
