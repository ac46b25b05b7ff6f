"""Organisation-scoped access inside a database transaction (the rules of
:mod:`adapter.security.policy`, applied to what a request reads and writes).

Every transaction a request opens runs through :func:`transact`, which wraps it for the caller:

- a caller inside this process (no principal, no trail) gets the plain transaction;
- the unrestricted stand-in of ``--insecure-dev`` gets a :class:`Recorder`, which only notes what
  is written (for the AuditEvent): no extra query;
- any other caller gets a :class:`Guard`. A read or vread of a resource it may not see is the
  same 404 as an unknown one (410 Gone of such a resource too); searches and histories leave such
  resources out and report no ``total`` (a count would tell that hidden ones exist); a write is
  refused on the version it replaces (404) or on the new version (403), see
  :func:`adapter.security.policy.may_write`.

The care relations of a patient come from searches in the same transaction (the Patient, its
open CareTeams, EpisodesOfCare and CarePlans, and the Organizations, PractitionerRoles and
CareTeams they name), once per request: a snapshot taken before the request's own writes change
them. A patient the request itself creates, and a patient named by identifier only, are judged on
the state at the end of the transaction, just before it commits (:meth:`Guard.finish`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from adapter.fhir.errors import FhirError
from adapter.fhir.models import is_resource_type
from adapter.router.request import FhirRequest, Outcome
from adapter.search.parser import parse_search
from adapter.search.query import SearchQuery
from adapter.search.values import FHIR_ID
from adapter.security.errors import access_denied, hidden
from adapter.security.policy import (
    CARE_RELATION_SEARCHES,
    OPEN_STATUSES,
    Resource,
    care_organisations,
    may_read,
    may_write,
    patients_of,
)
from adapter.security.tokens import Principal
from adapter.store.repository import (
    HistoryPage,
    Repository,
    SearchPage,
    StoredResource,
    Transaction,
    TransientConflict,
    UpdateResult,
)

ATTEMPTS = 5
_IDENTIFIER_KEY = "Patient?identifier="
_RELATION_PAGE = 1000
# Care relations of one patient beyond this many pages of each kind are not looked at.
_RELATION_PAGES = 10


def _by_parameter(searches: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Resource types by the search parameter that finds them for a patient."""
    grouped: dict[str, tuple[str, ...]] = {}
    for rtype, param in searches.items():
        grouped[param] = (*grouped.get(param, ()), rtype)
    return grouped


# The searches that find a patient's care relations: one per search parameter.
_RELATION_QUERIES = _by_parameter(CARE_RELATION_SEARCHES)


def _escape(value: str) -> str:
    """A search parameter value that means exactly ``value`` (FHIR R4 §3.1.1.5.7 escaping)."""
    for char in ("\\", ",", "$", "|"):
        value = value.replace(char, "\\" + char)
    return value


def version_reference(stored: StoredResource) -> str:
    return f"{stored.resource_type}/{stored.id}/_history/{stored.version_id}"


class Recorder:
    """A transaction that notes what it writes, and the patients it is about, for the
    AuditEvent of the interaction."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.written: list[str] = []
        self.patients: set[str] = set()

    def _note(self, stored: StoredResource, resource: Resource | None) -> None:
        self.written.append(version_reference(stored))
        if resource is not None:
            self.patients |= patients_of(resource)

    def create(self, resource: dict[str, Any], *, id: str | None = None) -> StoredResource:
        stored = self.tx.create(resource, id=id)
        self._note(stored, stored.resource)
        return stored

    def update(
        self,
        resource_type: str,
        id: str,
        resource: dict[str, Any],
        *,
        if_match: int | None = None,
    ) -> UpdateResult:
        result = self.tx.update(resource_type, id, resource, if_match=if_match)
        self._note(result.stored, result.stored.resource)
        return result

    def delete(
        self, resource_type: str, id: str, *, if_match: int | None = None
    ) -> StoredResource | None:
        stored = self.tx.delete(resource_type, id, if_match=if_match)
        if stored is not None:
            self._note(stored, None)
        return stored

    def read(self, resource_type: str, id: str) -> StoredResource:
        return self.tx.read(resource_type, id)

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredResource:
        return self.tx.vread(resource_type, id, version_id)

    def search(self, query: SearchQuery) -> SearchPage:
        return self.tx.search(query)

    def lock(self, keys: Iterable[str]) -> None:
        self.tx.lock(keys)

    def prefetch(self, keys: Iterable[tuple[str, str]]) -> None:
        self.tx.prefetch(keys)

    def history(
        self,
        resource_type: str | None = None,
        id: str | None = None,
        *,
        since: datetime | None = None,
        count: int = 20,
        cursor: str | None = None,
    ) -> HistoryPage:
        return self.tx.history(resource_type, id, since=since, count=count, cursor=cursor)


class Guard(Recorder):
    """A transaction as one restricted caller may use it (see the module docstring)."""

    def __init__(self, tx: Transaction, principal: Principal, now: datetime) -> None:
        super().__init__(tx)
        self.principal = principal
        self.now = now
        self._care: dict[str, frozenset[str]] = {}
        # By identifier: until this transaction writes anything (which patients carry it, and
        # the care of those it created, may change with each write).
        self._by_identifier: dict[str, frozenset[str]] = {}
        self._resources: dict[str, Resource | None] = {}
        self._created: set[str] = set()  # "Patient/id" this transaction brought into being
        self._deferred: list[Resource] = []  # written resources about such patients

    # --- what the policy needs --------------------------------------------------------------

    def resolve(self, key: str) -> Resource | None:
        """The current resource ``Type/id`` (None when unknown or deleted), once per request;
        kept up to date with this transaction's own writes."""
        if key not in self._resources:
            rtype, _, rid = key.partition("/")
            found: Resource | None = None
            # A reference may name anything; only a possible resource is looked up.
            if is_resource_type(rtype) and FHIR_ID.fullmatch(rid):
                try:
                    found = self.tx.read(rtype, rid).resource
                except FhirError:
                    found = None
            self._resources[key] = found
        return self._resources[key]

    def care(self, patient: str) -> frozenset[str]:
        """The organisations taking part in ``patient``'s care: a snapshot for a patient that
        existed before this request, the current state for one it created or one named by
        identifier only."""
        if patient.startswith(_IDENTIFIER_KEY):
            if patient not in self._by_identifier:
                found = self._care_by_identifier(patient.removeprefix(_IDENTIFIER_KEY))
                self._by_identifier[patient] = found
            return self._by_identifier[patient]
        if not FHIR_ID.fullmatch(patient.removeprefix("Patient/")):
            return frozenset()  # no patient can have that id: nobody cares for it
        if patient in self._created:
            return self._care_of(patient)
        if patient not in self._care:
            self._care[patient] = self._care_of(patient)
        return self._care[patient]

    def _care_of(self, patient: str) -> frozenset[str]:
        related: list[Resource] = []
        found = self.resolve(patient)
        if found is not None:
            related.append(found)
        for param, types in _RELATION_QUERIES.items():
            # One search over the types that share the parameter; the statuses are those open
            # in any of them, care_organisations checks each against its own type.
            statuses = ",".join(sorted({s for t in types for s in OPEN_STATUSES[t]}))
            params = [("_type", ",".join(types)), (param, patient), ("status", statuses)]
            related += self._all(None, params)
        return care_organisations(patient, related, self.resolve, on=self.now)

    def _care_by_identifier(self, identifier: str) -> frozenset[str]:
        """Organisations in the care of *every* patient with the identifier: two patients may
        carry one person number (each organisation may register its own), and data naming the
        person by number alone must not open to the organisations of either."""
        system, _, value = identifier.partition("|")
        try:
            found = self._all("Patient", [("identifier", f"{_escape(system)}|{_escape(value)}")])
        except FhirError:
            return frozenset()  # not a searchable identifier: no patient carries it
        patients = [f"Patient/{p['id']}" for p in found]
        if not patients:
            return frozenset()
        shared = self.care(patients[0])
        for patient in patients[1:]:
            shared &= self.care(patient)
        return shared

    def _all(self, resource_type: str | None, params: list[tuple[str, str]]) -> list[Resource]:
        query = parse_search(
            resource_type,
            [*params, ("_count", str(_RELATION_PAGE))],
            max_count=_RELATION_PAGE,
        ).query
        found: list[Resource] = []
        for _ in range(_RELATION_PAGES):
            page = self.tx.search(query)
            found += [m.resource for m in page.matches]
            if page.next_cursor is None:
                break
            query = replace(query, cursor=page.next_cursor)
        return found

    def _deferred_care(self, patient: str) -> frozenset[str]:
        """Care as seen while the write happens: a patient judged at the end counts as the
        caller's for now (:meth:`finish` checks it)."""
        if patient in self._created or patient.startswith(_IDENTIFIER_KEY):
            return frozenset({self.principal.organisation or ""})
        return self.care(patient)

    def visible(self, resource: Resource, interaction: str = "read") -> bool:
        return bool(
            may_read(self.principal, resource, self.care, self.resolve, interaction=interaction)
        )

    # --- reads ----------------------------------------------------------------------------------

    def read(self, resource_type: str, id: str) -> StoredResource:
        try:
            stored = self.tx.read(resource_type, id)
        except FhirError as error:
            if error.status == 410:
                self._gone(resource_type, id)
            raise
        if not self.visible(stored.resource):
            raise hidden(resource_type, id)
        return stored

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredResource:
        try:
            stored = self.tx.vread(resource_type, id, version_id)
        except FhirError as error:
            if error.status == 410:
                self._gone(resource_type, id)
            raise
        if not self.visible(stored.resource):
            raise hidden(resource_type, id)
        return stored

    def _gone(self, resource_type: str, id: str) -> None:
        """Raise 404 instead of 410 Gone when the deleted resource was hidden."""
        versions = self.tx.history(resource_type, id, count=2).entries
        before = next((v for v in versions if not v.deleted), None)
        if before is None or not self.visible(before.resource):
            raise hidden(resource_type, id) from None

    def search(self, query: SearchQuery) -> SearchPage:
        page = self.tx.search(query)
        return SearchPage(
            matches=[m for m in page.matches if self.visible(m.resource, "search")],
            included=[i for i in page.included if self.visible(i.resource, "search")],
            total=None,
            next_cursor=page.next_cursor,
            included_truncated=page.included_truncated,
        )

    def history(
        self,
        resource_type: str | None = None,
        id: str | None = None,
        *,
        since: datetime | None = None,
        count: int = 20,
        cursor: str | None = None,
    ) -> HistoryPage:
        page = self.tx.history(resource_type, id, since=since, count=count, cursor=cursor)
        # Versions of types the scopes do not reach at all (AuditEvents through a wildcard) are
        # left out before anything is looked up for them.
        allows = self.principal.scopes.allows
        readable = [v for v in page.entries if allows(v.resource_type, "read")]
        return HistoryPage([v for v in readable if self._version_visible(v)], page.next_cursor)

    def _version_visible(self, version: StoredResource) -> bool:
        if not version.deleted:
            return self.visible(version.resource, "search")
        # A tombstone holds nothing to judge: the version it ended does.
        if version.version_id <= 1:
            return False
        try:
            before = self.tx.vread(version.resource_type, version.id, version.version_id - 1)
        except FhirError:
            return False
        return self.visible(before.resource, "search")

    # --- writes ---------------------------------------------------------------------------------

    def _current(self, resource_type: str, id: str) -> tuple[Resource | None, bool]:
        """The version a write replaces (None when there is none) and whether the resource ever
        existed (a deleted one did)."""
        try:
            return self.tx.read(resource_type, id).resource, True
        except FhirError as error:
            return None, error.status == 410

    def _check(self, current: Resource | None, proposed: Resource | None) -> None:
        if current is not None and not self.visible(current):
            raise hidden(str(current.get("resourceType")), str(current.get("id")))
        decision = may_write(self.principal, current, proposed, self._deferred_care, self.resolve)
        if not decision:
            raise access_denied(f"This write is not allowed: {decision.reason}.")

    def _written(self, stored: StoredResource) -> None:
        key = f"{stored.resource_type}/{stored.id}"
        self._resources[key] = None if stored.deleted else stored.resource
        self._by_identifier.clear()
        if stored.resource_type == "Patient" and not stored.deleted:
            if key not in self._care and key not in self._created:
                # Created by this request (an update of an existing one was cached before).
                self._created.add(key)
        if not stored.deleted and any(
            p in self._created or p.startswith(_IDENTIFIER_KEY)
            for p in patients_of(stored.resource)
        ):
            self._deferred.append(stored.resource)

    def create(self, resource: dict[str, Any], *, id: str | None = None) -> StoredResource:
        if resource.get("resourceType") == "Patient" and id is not None:
            self._created.add(f"Patient/{id}")
        self._check(None, resource)
        stored = super().create(resource, id=id)
        self._written(stored)
        return stored

    def update(
        self,
        resource_type: str,
        id: str,
        resource: dict[str, Any],
        *,
        if_match: int | None = None,
    ) -> UpdateResult:
        current, existed = self._current(resource_type, id)
        key = f"{resource_type}/{id}"
        if resource_type == "Patient":
            if existed:
                self.care(key)  # the snapshot before this write changes the patient
            else:
                self._created.add(key)
        self._check(current, resource)
        result = super().update(resource_type, id, resource, if_match=if_match)
        self._written(result.stored)
        return result

    def delete(
        self, resource_type: str, id: str, *, if_match: int | None = None
    ) -> StoredResource | None:
        current, _ = self._current(resource_type, id)
        if current is not None:
            self._check(current, None)
            self.patients |= patients_of(current)
        stored = super().delete(resource_type, id, if_match=if_match)
        if stored is not None:
            self._written(stored)
        return stored

    def finish(self) -> None:
        """Check the writes about patients this request created (or named by identifier only)
        against the state it leaves: each must end up in the caller's care."""
        final: dict[str, frozenset[str]] = {}

        def care(patient: str) -> frozenset[str]:
            if patient not in final:
                final[patient] = self.care(patient)
            return final[patient]

        for resource in self._deferred:
            decision = may_write(self.principal, None, resource, care, self.resolve)
            if not decision:
                raise access_denied(
                    f"This write is not allowed: {decision.reason} once the request is done. "
                    "Whoever registers a patient names its own organisation in the patient's care "
                    "(managingOrganization, an active CareTeam, an open EpisodeOfCare or "
                    "CarePlan) in the same request."
                )


def guard(tx: Transaction, req: FhirRequest) -> Transaction:
    """``tx`` as the caller of ``req`` may use it (see the module docstring)."""
    principal = req.principal
    if principal is None and req.trail is None:
        return tx
    if principal is None or principal.unrestricted:
        return Recorder(tx)
    return Guard(tx, principal, datetime.now(UTC))


def transact(
    repository: Repository,
    req: FhirRequest,
    work: Callable[[Transaction], Outcome],
    *,
    read_only: bool = False,
    audited: bool = True,
) -> Outcome:
    """Run ``work`` in one database transaction under the caller's guard, again when it loses
    a race (:class:`TransientConflict`).

    When ``audited`` and the transaction writes, the interaction's AuditEvent is created in it,
    so that it commits, or rolls back, with the change it records; otherwise what was written is
    handed to the trail, which records it in a transaction of its own afterwards.
    """
    trail = req.trail
    for attempt in range(ATTEMPTS):
        try:
            with repository.transaction(read_only=read_only) as raw:
                tx = guard(raw, req)
                outcome = work(tx)
                if isinstance(tx, Guard):
                    tx.finish()
                inside = trail is not None and audited and not read_only
                if trail is not None and inside:
                    trail.record(raw, outcome, tx)
        except TransientConflict:
            if attempt == ATTEMPTS - 1:
                raise
            continue
        if trail is not None:
            trail.absorb(tx, recorded=inside)
        return outcome
    raise AssertionError("unreachable")
